/**
 * Issue 14 against hostile input and leaks: `--schema` files built to break the loader (prototype
 * names, deep nesting, a transcript given by mistake), answers whose keys look like indexes, PII in
 * passthrough columns as spreadsheets write numbers, a run of digit groups long enough to stall the
 * phone detector, and schema names that JavaScript objects answer for themselves in the report.
 *
 * Real parts only: the loader reads real files, the validator is the run's ajv, the redactor is the
 * stage prepare runs, and the report is opened in Debian's headless Chromium.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { BatchError } from '../../src/errors.js';
import type { Call, PrepareItem } from '../../src/records/types.js';
import { AnswerValidator } from '../../src/results/structured.js';
import { renderReport, type ReportRow } from '../../src/results/report-html.js';
import { checkSchema, loadSchema } from '../../src/schema/load.js';
import { pinStages, rowRecipe } from '../../transforms/stages.js';
import { createRedactor, redactCalls } from '../../transforms/redact/index.js';
import { useTempDir } from '../support/temp.js';

const tmp = useTempDir('hostile-');

/** What a thrown error says (its message), or undefined when nothing was thrown. */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

/** Runs one call through the redaction step and returns it. */
function redactOne(call: Call): Call {
  const out: PrepareItem[] = [];
  redactCalls({}).write(call, (i) => void out.push(i));
  return out[0] as Call;
}

const call = (passthrough: Record<string, unknown>, turns = [{ text: 'hello' }]): Call => ({ kind: 'call', file: 'f.csv', line: 2, key: 'c-1', turns, passthrough });

describe('--schema files (src/schema/load.ts)', () => {
  const load = async (text: string) => {
    const file = join(tmp.dir, 'fields.json');
    await writeFile(file, text);
    return thrown(() => loadSchema(file));
  };

  it('a property named __proto__ is refused, not dropped without a word', async () => {
    // JSON.parse keeps "__proto__" as an own key; copying it into a plain object sets the prototype
    const e = await load('{"type":"object","properties":{"__proto__":{"type":"string","enum":["a"]},"ok":{"type":"string"}}}');
    expect(e).toBeInstanceOf(BatchError);
    expect((e as BatchError).code).toBe('E_BAD_OPTION');
    expect((e as Error).message).toContain('#/properties/__proto__');
    // a name that only looks like an Object.prototype member is a property as any other
    const ok = checkSchema(JSON.parse('{"type":"object","properties":{"constructor":{"type":"string"},"toString":{"type":"boolean"}},"required":["constructor"]}'));
    expect(Object.keys(ok.properties as object)).toEqual(['constructor', 'toString']);
  });

  it("keys named like Object.prototype members get the subset's words, not a function's source", async () => {
    const e = await load('{"type":"object","valueOf":1,"properties":{"a":{"type":"string","constructor":1,"toString":2,"items":{"hasOwnProperty":3}}}}');
    const message = (e as Error).message;
    expect(message).toContain('#/valueOf: "valueOf" is not in the supported subset');
    expect(message).toContain('#/properties/a/constructor: "constructor" is not supported on a string property');
    expect(message).toContain('#/properties/a/toString: "toString" is not supported on a string property');
    expect(message).not.toMatch(/native code|\[object Object\]/);
  });

  it('a value nested 100,000 deep is an E_BAD_OPTION naming its place, not a blown stack', async () => {
    const deep = '['.repeat(100_000) + '"x"' + ']'.repeat(100_000);
    for (const [place, text] of [
      ['#/properties/a/description', `{"type":"object","properties":{"a":{"type":"string","description":${deep}}}}`],
      ['#/properties/a/minimum', `{"type":"object","properties":{"a":{"type":"number","minimum":${deep}}}}`],
      ['#/properties/a/items/enum', `{"type":"object","properties":{"a":{"type":"array","items":{"type":"string","enum":${deep}}}}}`],
      ['#/properties/a/extra', `{"type":"object","properties":{"a":{"type":"string","extra":${deep}}}}`],
    ] as const) {
      const e = await load(text);
      expect(e, place).toBeInstanceOf(BatchError);
      expect((e as Error).message, place).toContain(place);
    }
  });

  it('a file that is not JSON (a transcript given by mistake) is named by line and column, never quoted', async () => {
    for (const text of [
      'Customer: my card is 4111 1111 1111 1111, mail maria.lopez@example.com',
      'call_id,text\nc1,"my card is 4111 1111 1111 1111"\n',
      '{"call_id":"c1","text":"maria.lopez@example.com"}\n{"call_id":"c2","text":"x"}\n',
    ]) {
      const e = await load(text);
      expect(e).toBeInstanceOf(BatchError);
      const message = (e as Error).message;
      expect(message).toMatch(/not valid JSON \(.* at line \d+, column \d+\)/);
      for (const piece of ['Customer', 'call_id', 'maria', '4111', 'c1']) expect(message).not.toContain(piece);
    }
  });

  it('names that would break a CSV header or the report are refused by their place', async () => {
    for (const name of ['a,b', 'a\nb', '</script>', '"q"', '=cmd()', '']) {
      const e = thrown(() => checkSchema({ type: 'object', properties: { [name]: { type: 'string' } } }));
      expect(e, JSON.stringify(name)).toBeInstanceOf(BatchError);
      expect((e as Error).message).toContain('property names are 1 to 64 of');
    }
  });
});

describe('invalid answers (src/results/structured.ts)', () => {
  it('digits the model wrote as a key are no array index: they never reach a reason', () => {
    // a schema handed to the library (or collect) that checks the values of keys it does not name
    const open = new AnswerValidator({ name: 'x', schema: { type: 'object', properties: { a: { type: 'string' } }, additionalProperties: { type: 'string' } } });
    const ssn = open.check({ toolInput: { a: 'x', '512483391': 5 } });
    expect(ssn).toEqual({ ok: false, reason: '#/*: must be string' });
    const patterned = new AnswerValidator({ name: 'x', schema: { type: 'object', properties: { a: { type: 'string' } }, patternProperties: { '^\\d+$': { type: 'string' } } } });
    expect(patterned.check({ text: 'Here: {"a": "x", "2125550": 1}' })).toEqual({ ok: false, reason: '#/*: must be string' });
    // an index of an array in the answer is still shown, and a declared name
    const list = new AnswerValidator({ name: 'x', schema: { type: 'object', properties: { topics: { type: 'array', items: { type: 'string' } } } } });
    expect(list.check({ toolInput: { topics: ['a', 'b', 7] } })).toEqual({ ok: false, reason: '#/topics/2: must be string' });
  });

  it('no value of the answer reaches a reason, whatever rule it breaks', () => {
    const SECRET = '4111 1111 1111 1111';
    const v = new AnswerValidator({
      name: 'x',
      schema: {
        type: 'object',
        properties: { reason: { type: 'string', enum: ['billing', 'other'] }, n: { type: 'integer', minimum: 0, maximum: 9 }, topics: { type: 'array', items: { type: 'string', enum: ['a'] }, maxItems: 2 } },
        required: ['reason'],
        additionalProperties: false,
      },
    });
    const answers: unknown[] = [
      { reason: SECRET },
      { reason: 'billing', n: SECRET },
      { reason: 'billing', n: 4111111111111111 },
      { reason: 'billing', topics: [SECRET] },
      { reason: 'billing', topics: ['a', 'a', SECRET] },
      { reason: 'billing', [SECRET]: 1 },
      { [SECRET]: { reason: 'billing' } },
      SECRET,
      [SECRET],
    ];
    for (const a of answers) {
      for (const output of [{ toolInput: a }, { text: `Sure! ${JSON.stringify(a)} (card ${SECRET})` }]) {
        const r = v.check(output);
        expect(r.ok).toBe(false);
        const reason = (r as { reason: string }).reason;
        expect(reason).toMatch(/^#(\/[^/ ]+)*: /);
        expect(reason.replace(/\D/g, '')).not.toContain('4111');
      }
    }
  });
});

describe('redaction (transforms/redact)', () => {
  it('a whole number written as a float in a passthrough column (as spreadsheets export one) is redacted', () => {
    const out = redactOne(call({ card_number: '4111111111111111.0', mobile: '2125550143.0', notes: '4111111111111111.00', order_id: '3348917502.0', amount: '1234567.50' }));
    expect(out.passthrough).toEqual({ card_number: '[CARD].0', mobile: '[PHONE].0', notes: '[CARD].00', order_id: '3348917502.0', amount: '1234567.50' });
    expect(out.redacted).toEqual({ card: 2, phone: 1 });
  });

  it('numbers, speakers and nested values are covered; the key never is', () => {
    const out = redactOne({
      kind: 'call',
      file: 'f.jsonl',
      line: 1,
      key: '2125550143',
      turns: [{ text: 'call me on 212 555 0143', speaker: 'maria.lopez@example.com' }],
      passthrough: { phone: 2125550143, card: 4111111111111111, small: 123456, tags: ['x', 'card 4111-1111-1111-1111'] },
    });
    expect(out.key).toBe('2125550143');
    expect(out.turns).toEqual([{ text: 'call me on [PHONE]', speaker: '[EMAIL]' }]);
    expect(out.passthrough).toEqual({ phone: '[PHONE]', card: '[CARD]', small: 123456, tags: ['x', 'card [CARD]'] });
  });

  it('with --redact the fused path (bytes copied from the input) never runs', () => {
    const first = { file: 'calls.csv', line: 2, value: { call_id: 'c1', transcript: 'hello', agent: 'a' } };
    const pinned = pinStages(first as never, { adapt: { format: 'rows' } })!;
    expect(rowRecipe(pinned.options)).toBeDefined();
    expect(rowRecipe({ ...pinned.options, redact: {} })).toBeUndefined();
    expect(rowRecipe({ ...pinned.options, redact: { types: ['card'] } })).toBeUndefined();
  });

  it('the phone detector takes linear time on a long run of digit groups (a hostile turn must not stall prepare)', () => {
    // "1 1 1 ..." is one run of phone-like characters; every start is tried against every end
    const redact = createRedactor({ types: ['phone'] });
    const time = (n: number) => {
      const text = '1 '.repeat(n);
      const t0 = performance.now();
      redact(text, {});
      return performance.now() - t0;
    };
    time(2000); // warm up
    // 120 KB: a few ms when linear; about 6 s on a shared 2-core machine when quadratic
    expect(time(60_000)).toBeLessThan(2000);
  });

  it.todo('a card or phone number split over two utterance rows (turns) is not found: each turn is redacted alone (say so in docs/redaction.md)');
});

describe('the report (src/results/report-html.ts) with field names JavaScript objects answer for', () => {
  it('a field named constructor or toString that an answer leaves out shows an empty cell, not a function', { timeout: 120_000 }, async () => {
    if (!existsSync('/usr/bin/chromium')) throw new Error('this test needs Chromium at /usr/bin/chromium: apt-get install -y chromium');
    const schema = {
      type: 'object',
      properties: { reason: { type: 'string', enum: ['billing', 'other'] }, constructor: { type: 'string' }, toString: { type: 'string', enum: ['yes', 'no'] } },
      required: ['reason'],
    };
    const rows: ReportRow[] = [
      { key: 'c-1', status: 'success', text: 'one', fields: { reason: 'billing' } },
      { key: 'c-2', status: 'success', text: 'two', fields: { reason: 'other', constructor: 'set', toString: 'no' } },
    ];
    const json = { submitted: 2, succeeded: 2, failed: 0, missing: 0, invalid: 0, fields: { reason: { type: 'enum', counts: { billing: 1, other: 1 } }, toString: { type: 'enum', counts: { yes: 0, no: 1 } } } };
    const file = join(tmp.dir, 'report.html');
    await writeFile(file, renderReport(json, rows, schema));
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
    try {
      const page = await browser.newPage();
      await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
      interface Cell {
        textContent: string | null;
        children: ArrayLike<Cell>;
      }
      const cells = await page.$$eval('#calls-body tr', (trs) => trs.map((tr) => Array.from((tr as unknown as Cell).children).map((c) => c.textContent ?? '')));
      const head = await page.$$eval('#calls-table thead th', (ths) => ths.map((th) => th.textContent ?? ''));
      const col = (name: string) => head.indexOf(name);
      expect(col('constructor')).toBeGreaterThan(0);
      expect(cells[0]![col('constructor')]).toBe('');
      expect(cells[0]![col('toString')]).toBe('');
      expect(cells[1]![col('constructor')]).toBe('set');
      expect(cells[1]![col('toString')]).toBe('no');
    } finally {
      await browser.close();
    }
  });
});
