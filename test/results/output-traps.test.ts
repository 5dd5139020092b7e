/**
 * The traps of reading Bedrock's output lines fast (issue 12), each a line or file that a plausible
 * shortcut reads wrong. Every trap is checked three ways: the line readers in each mode (`never`:
 * the answer-first reader; `errors`, `always`: the strict scanner for what a retry needs) against
 * JSON.parse of the whole line; the same trap through collect end to end; and against the naive
 * readers below, at least one of which it must fool (else it would not be a trap).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LineSplitter } from '../../src/core/lines.js';
import { Arena, ShardLineage } from '../../src/results/lineage.js';
import { collectRun } from '../../src/results/run.js';
import { parseOutputLine, parseOutputLineFull, setTextSource, skimOutputLine, TEXT_SOURCE, type OutputLine } from '../../src/results/output-line.js';
import { isRetryable } from '../../src/results/retry.js';
import { resultJsonLine, resultRow } from '../../src/results/writers.js';
import type { CollectResult, ErrorResult, SuccessResult } from '../../src/results/types.js';
import { LocalStore } from '../../src/stores/local.js';
import { chunkyStore, claude, collectAll, jsonLines, scenario } from './helpers.js';

/** What a reader makes of a line: its recordId and its answer, or that it refuses the line. */
type Reading = { recordId: unknown; kind: 'modelOutput' | 'error' | 'neither'; value: unknown } | 'refused';

const MODES = ['never', 'errors', 'always'] as const;

function fromOutputLine(v: OutputLine): Reading {
  return { recordId: v.recordId, kind: v.hasModelOutput ? 'modelOutput' : v.hasError ? 'error' : 'neither', value: v.hasModelOutput ? v.modelOutput : v.error };
}

/** The reference: JSON.parse of the whole line. */
function reference(line: string): Reading {
  try {
    const v = parseOutputLineFull(Buffer.from(line));
    return 'notAnObject' in v ? 'refused' : fromOutputLine(v);
  } catch {
    return 'refused';
  }
}

/**
 * Ours, in every mode: each must read the line as the reference does. And the answer-first reader
 * must read every valid line here itself (they are all in Bedrock's shape, the answer last), not
 * leave it to the strict one: a reader that gave up on its trap would hide its bug behind the fallback.
 */
function expectOursRight(line: string): Reading {
  const ref = reference(line);
  const b = Buffer.from(`garbage\n${line}\nmore`);
  const end = 8 + Buffer.byteLength(line);
  for (const mode of MODES) {
    const r = parseOutputLine(b, 8, end, mode);
    expect(r.ok ? fromOutputLine(r.value) : 'refused', `mode ${mode}`).toEqual(ref);
  }
  const skimmed = skimOutputLine(b, 8, end, 'never');
  if (ref === 'refused') expect(skimmed).toBeUndefined();
  else expect(skimmed && fromOutputLine(skimmed), 'the answer-first reader').toEqual(ref);
  return ref;
}

// ---- plausible wrong readers --------------------------------------------------------------

const ID = /"recordId"\s*:\s*"((?:[^"\\]|\\.)*)"/;

function parseOr(text: string): { ok: boolean; value?: unknown } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

/** The first `"modelOutput":` or `"error":` anywhere, parsed up to the line's last `}`; the first `"recordId":"..."` anywhere. */
function firstKey(line: string): Reading {
  const id = ID.exec(line)?.[1];
  const o = line.indexOf('"modelOutput":');
  const e = line.indexOf('"error":');
  const at = o >= 0 && (e < 0 || o < e) ? o : e;
  if (at < 0) return 'refused';
  const kind = at === o ? 'modelOutput' : 'error';
  const value = parseOr(line.slice(line.indexOf(':', at) + 1, line.lastIndexOf('}')));
  return value.ok ? { recordId: id, kind, value: value.value } : 'refused';
}

/** The same from the line's end backwards: the last answer key, which Bedrock writes last. */
function lastKey(line: string): Reading {
  const id = ID.exec(line)?.[1];
  const o = line.lastIndexOf('"modelOutput":');
  const e = line.lastIndexOf('"error":');
  const at = Math.max(o, e);
  if (at < 0) return 'refused';
  const value = parseOr(line.slice(line.indexOf(':', at) + 1, line.lastIndexOf('}')));
  return value.ok ? { recordId: id, kind: at === o ? 'modelOutput' : 'error', value: value.value } : 'refused';
}

/**
 * A grammar walk whose string skipping has the classic bug: a `"` after a `\` is taken as escaped
 * (wrong after `\\`). Keys at depth 1 count; values are parsed from their spans.
 */
function badEscapes(line: string): Reading {
  const spans = new Map<string, [number, number]>();
  let depth = 0;
  let key: string | undefined;
  let valueStart = -1;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < line.length && !(line[j] === '"' && line[j - 1] !== '\\')) j++;
      if (depth === 1 && key === undefined && line.slice(j + 1).trimStart().startsWith(':')) key = line.slice(i + 1, j);
      else if (depth === 1 && key !== undefined && valueStart < 0) {
        spans.set(key, [i, j + 1]);
        key = undefined;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      if (depth === 1 && key !== undefined && valueStart < 0) valueStart = i;
      depth++;
    } else if (c === '}' || c === ']') {
      depth--;
      if (depth === 1 && key !== undefined && valueStart >= 0) {
        spans.set(key, [valueStart, i + 1]);
        key = undefined;
        valueStart = -1;
      }
    } else if (depth === 1 && key !== undefined && valueStart < 0 && /[-0-9tfn]/.test(c)) {
      let j = i;
      while (j < line.length && !/[,}\]\s]/.test(line[j]!)) j++;
      spans.set(key, [i, j]);
      key = undefined;
      i = j - 1;
    }
  }
  const get = (k: string) => {
    const s = spans.get(k);
    return s ? parseOr(line.slice(s[0], s[1])) : undefined;
  };
  const id = get('recordId');
  const out = get('modelOutput');
  const err = get('error');
  if (out && !out.ok) return 'refused';
  if (err && !err.ok) return 'refused';
  if (!out && !err) return 'refused';
  return { recordId: id?.ok ? id.value : undefined, kind: out ? 'modelOutput' : 'error', value: out ? out.value : err!.value };
}

/** The recordId from the line's head, as a regex on its first bytes would take it (Bedrock writes it first, usually). */
function headId(line: string): Reading {
  const m = /^\s*\{\s*"recordId"\s*:\s*"([^"]*)"/.exec(line);
  const ans = lastKey(line);
  return ans === 'refused' ? ans : { ...ans, recordId: m?.[1] };
}

/** Parse from the answer on, as the issue suggests, but leniently: the rest of the line, else the rest less its last `}`. */
function looseAnswerFirst(line: string): Reading {
  const id = ID.exec(line)?.[1];
  const at = line.lastIndexOf('"modelOutput":');
  if (at < 0) return 'refused';
  const rest = line.slice(line.indexOf(':', at) + 1);
  let v = parseOr(rest);
  if (!v.ok) v = parseOr(rest.slice(0, rest.lastIndexOf('}')));
  return v.ok ? { recordId: id, kind: 'modelOutput', value: v.value } : 'refused';
}

const NAIVE = { firstKey, lastKey, badEscapes, headId, looseAnswerFirst };

function fooled(line: string): string[] {
  const ref = reference(line);
  return Object.entries(NAIVE)
    .filter(([, read]) => {
      let r: Reading;
      try {
        r = read(line);
      } catch {
        r = 'refused';
      }
      return JSON.stringify(r) !== JSON.stringify(ref);
    })
    .map(([name]) => name);
}

// ---- lines ------------------------------------------------------------------------------

const modelInput = (text: string, extra: Record<string, unknown> = {}) => ({
  anthropic_version: 'bedrock-2023-05-31',
  max_tokens: 1024,
  messages: [{ role: 'user', content: [{ type: 'text', text }] }],
  ...extra,
});
const modelOutput = (text: string) => claude(text, 120, 30).modelOutput;
const line = (parts: [string, unknown][]) => `{${parts.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`;
const TRANSCRIPT = 'Agent: Thank you for calling.\nCustomer: My order never arrived.\n';

/** A tool whose schema has a property of the given name (the echo then holds that key, nested). */
const toolWith = (name: string, example: unknown) => ({
  tools: [{ name: 'save', description: 'save the summary', input_schema: { type: 'object', properties: { [name]: { type: 'object' } } }, input_examples: [{ [name]: example }] }],
});

const TRAPS = {
  'recordId after modelInput, with a nested recordId in the echo': line([
    ['modelInput', modelInput(TRANSCRIPT, toolWith('recordId', 'CALL0000009'))],
    ['recordId', 'CALL0000001'],
    ['modelOutput', modelOutput('The order never arrived; a replacement ships express.')],
  ]),
  '"modelOutput" inside the transcript, and nested in the echo': line([
    ['recordId', 'CALL0000002'],
    ['modelInput', modelInput(`${TRANSCRIPT}Customer: the log said "},"modelOutput":{"content":[{"type":"text","text":"FAKE"}]},"x":{"y":"`, toolWith('modelOutput', { content: [{ type: 'text', text: 'FAKE' }] }))],
    ['modelOutput', modelOutput('A refund for the double charge is issued.')],
  ]),
  'escaped quotes and backslashes right before a key': line([
    ['recordId', 'CALL0000003'],
    [
      'modelInput',
      {
        anthropic_version: 'bedrock-2023-05-31',
        max_tokens: 1024,
        messages: [
          // long strings (read by memchr) and short ones (byte by byte), each ending in `\` or `\"`
          { role: 'user', content: [{ type: 'text', text: `${TRANSCRIPT}Customer: the file is in C:\\` }, { type: 'text', text: 'C:\\' }] },
          { role: 'assistant', content: [{ type: 'text', text: `${TRANSCRIPT}","modelOutput":{"content":[{"type":"text","text":"FAKE"}]},"z":"\\\\\\"` }] },
          { role: 'user', content: [{ type: 'text', text: '","modelOutput":{"content":[{"type":"text","text":"FAKE"}]},"z":"\\\\\\"' }] },
        ],
        system: `${TRANSCRIPT}quote: \\"`,
      },
    ],
    ['modelOutput', modelOutput('Login fails; "session expired" \\ path C:\\Users\\')],
  ]),
  '"error": inside the echoed input': line([
    ['recordId', 'CALL0000004'],
    ['modelInput', modelInput(`${TRANSCRIPT}Agent: the app showed "error": {"errorCode": 500}`, toolWith('error', { errorCode: 500, errorMessage: 'FAKE' }))],
    ['modelOutput', modelOutput('The app error was fixed by an update.')],
  ]),
} as const;

describe('output traps: each line read as JSON.parse reads it, and each a real trap', () => {
  for (const [name, text] of Object.entries(TRAPS)) {
    it(name, () => {
      const ref = expectOursRight(text);
      expect(ref).not.toBe('refused');
      // the line is a trap: a plausible shortcut reads it wrong
      expect(fooled(text), 'no naive reader is fooled: not a trap').not.toEqual([]);
    });
  }

  it('which naive reader each trap fools', () => {
    expect(Object.fromEntries(Object.entries(TRAPS).map(([name, text]) => [name, fooled(text)]))).toEqual({
      'recordId after modelInput, with a nested recordId in the echo': ['firstKey', 'lastKey', 'headId', 'looseAnswerFirst'],
      '"modelOutput" inside the transcript, and nested in the echo': ['firstKey'],
      'escaped quotes and backslashes right before a key': ['badEscapes'],
      '"error": inside the echoed input': ['firstKey'],
    });
  });

  it('errorCode as a number or as a string: kept as given, read the same for retries', () => {
    for (const code of [400, '400', 429, '429', 500, 'ThrottlingException', 'ValidationException']) {
      const text = line([
        ['recordId', 'CALL0000006'],
        ['modelInput', modelInput(TRANSCRIPT)],
        ['error', { errorCode: code, errorMessage: 'Too many requests, please wait before trying again.' }],
      ]);
      const ref = expectOursRight(text);
      expect(ref).toMatchObject({ kind: 'error', value: { errorCode: code } });
      // an error line's echo goes to its retry: read and checked, and the same JSON
      const r = parseOutputLine(Buffer.from(text), 0, Buffer.byteLength(text), 'errors');
      expect(r.ok && JSON.parse(r.value.modelInputJson!)).toEqual(modelInput(TRANSCRIPT));
    }
    expect([400, '400'].map((code) => isRetryable({ code, message: undefined }))).toEqual([false, false]);
    expect([429, '429', 500, '500'].map((code) => isRetryable({ code, message: undefined }))).toEqual([true, true, true, true]);
  });

  it('U+2028 and U+2029 in text are not line breaks', () => {
    const text = line([
      ['recordId', 'CALL0000005'],
      ['modelInput', modelInput(`${TRANSCRIPT}Customer: one\u2028two\u2029three\u0085four`)],
      ['modelOutput', modelOutput('Summary:\u2028the plan\u2029is cancelled.')],
    ]);
    // JSON.stringify leaves them raw, as Bedrock may
    expect(text).toContain('\u2028');
    const ref = expectOursRight(text);
    expect((ref as { value: { content: { text: string }[] } }).value.content[0]!.text).toBe('Summary:\u2028the plan\u2029is cancelled.');
    // a splitter that breaks lines as String.prototype.split on /\r?\n|\u2028|\u2029/ would cut it into pieces that are not JSON
    expect(text.split(/\r?\n|\u2028|\u2029/).length).toBeGreaterThan(1);
    expect(reference(text.split(/\r?\n|\u2028|\u2029/)[0]!)).toBe('refused');
    const lines: string[] = [];
    const splitter = new LineSplitter();
    const onLine = (b: Buffer, s: number, e: number) => lines.push(b.toString('utf8', s, e));
    splitter.push(Buffer.from(`${text}\n${text}\n`), onLine);
    splitter.end(onLine);
    expect(lines).toEqual([text, text]);
  });

  it('a truncated last line is refused wherever it is cut, even right after a complete answer', () => {
    const text = line([
      ['recordId', 'CALL0000007'],
      ['modelInput', modelInput(TRANSCRIPT)],
      ['modelOutput', modelOutput('The replacement ships express.')],
    ]);
    const cuts = [text.length - 1, text.indexOf('"modelOutput"') + 20, text.indexOf('"modelOutput"'), text.indexOf('never arrived'), 12];
    for (const at of cuts) expect(expectOursRight(text.slice(0, at)), `cut at ${at}`).toBe('refused');
    // cut right after the answer: parsing "from the answer on" without the closing brace would take it
    expect(fooled(text.slice(0, text.length - 1))).toContain('looseAnswerFirst');
  });
});

describe('output traps: through collect', () => {
  let s: Awaited<ReturnType<typeof scenario>>;
  beforeEach(async () => {
    s = await scenario();
  });
  afterEach(async () => {
    await s.cleanup();
  });

  /** The scenario's job-0001 outputs replaced by the traps (records 1-4) and errors, U+2028 and a truncated line (5-7). */
  async function writeTraps(truncatedAt: (line: string) => number): Promise<string> {
    const input = async (n: number, shard: string) => {
      const lines = (await readFile(join(s.run, 'input/job-0001', shard), 'utf8')).split('\n').filter(Boolean);
      return lines.map((l) => JSON.parse(l) as { recordId: string; modelInput: unknown }).find((r) => r.recordId === `CALL000000${n}`)!.modelInput;
    };
    await writeFile(join(s.out, 'q1w2e3r4t5y6/part-00001.jsonl.out'), Object.values(TRAPS).map((l) => l + '\n').join(''));
    const last = line([['recordId', 'CALL0000007'], ['modelInput', await input(7, 'part-00002.jsonl')], ['modelOutput', modelOutput('The replacement ships express.')]]);
    const second = [
      line([['recordId', 'CALL0000006'], ['modelInput', await input(6, 'part-00002.jsonl')], ['error', { errorCode: '429', errorMessage: 'Too many requests' }]]),
      line([['modelInput', await input(5, 'part-00002.jsonl')], ['recordId', 'CALL0000005'], ['modelOutput', modelOutput('Summary:\u2028the plan\u2029is cancelled.')]]),
      last.slice(0, truncatedAt(last)),
    ];
    await writeFile(join(s.out, 'q1w2e3r4t5y6/part-00002.jsonl.out'), second.join('\n'));
    return last;
  }

  const byId = (results: CollectResult[]) => new Map(results.map((r) => [r.recordId, r]));

  for (const [where, cut] of [
    ['right after its complete answer', (l: string) => l.length - 1],
    ['inside the echoed input', (l: string) => l.indexOf('"modelInput"') + 40],
  ] as const) {
    it(`joins every trap to its record; a last line cut ${where} leaves its record missing`, async () => {
      await writeTraps(cut);
      const { results, summary } = await collectAll({ outputs: s.out, prepared: s.run });
      const r = byId(results);
      expect((r.get('CALL0000001') as SuccessResult).text).toBe('The order never arrived; a replacement ships express.');
      expect((r.get('CALL0000002') as SuccessResult).text).toBe('A refund for the double charge is issued.');
      expect((r.get('CALL0000003') as SuccessResult).text).toBe('Login fails; "session expired" \\ path C:\\Users\\');
      expect(r.get('CALL0000004')).toMatchObject({ kind: 'success', text: 'The app error was fixed by an update.' });
      expect((r.get('CALL0000005') as SuccessResult).text).toBe('Summary:\u2028the plan\u2029is cancelled.');
      expect((r.get('CALL0000006') as ErrorResult).error.code).toBe('429');
      expect(r.get('CALL0000007')).toMatchObject({ kind: 'missing', reason: 'output line truncated' });
      // nothing answered the nested recordId of the first trap
      expect(r.get('CALL0000009')).toMatchObject({ kind: 'missing' });
      expect(summary.unknownRecords).toBe(0);
      expect(summary.badLines).toMatchObject([{ file: 'q1w2e3r4t5y6/part-00002.jsonl.out', line: 3, truncated: true, recordId: 'CALL0000007' }]);
      expect(summary.fullLines).toBe(0);
      // results kept by the caller hold no copy of their lines (released once their batch was handed on)
      expect(results.filter((x) => (x as { [TEXT_SOURCE]?: unknown })[TEXT_SOURCE] !== undefined)).toEqual([]);
    });
  }

  it('writes the traps\' texts to the results file as JSON.stringify does, and retries the error with its echoed input', async () => {
    await writeTraps((l) => l.length - 1);
    const results = join(s.dir, 'results.jsonl');
    const run = await collectRun({ outputs: s.out, prepared: s.run, results, retry: join(s.dir, 'retry'), deadLetter: join(s.dir, 'dead.jsonl') });
    expect(run.collect.succeeded).toBe(7);
    const rows = new Map((await jsonLines(results)).map((row) => [row.recordId, row]));
    expect(rows.get('CALL0000003')!.text).toBe('Login fails; "session expired" \\ path C:\\Users\\');
    expect(rows.get('CALL0000005')!.text).toBe('Summary:\u2028the plan\u2029is cancelled.');
    const raw = await readFile(results, 'utf8');
    expect(raw).toContain(`"text":${JSON.stringify('Login fails; "session expired" \\ path C:\\Users\\')}`);
    const retried = (await readFile(join(s.dir, 'retry/input/job-0001/part-00001.jsonl'), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { recordId: string; modelInput: unknown });
    // 6 failed with a retryable code, 7's line was cut; 9 (job-0002) never came back
    expect(retried.map((l) => l.recordId).sort()).toEqual(['CALL0000006', 'CALL0000007', 'CALL0000009']);
    const input6 = (await readFile(join(s.run, 'input/job-0001/part-00002.jsonl'), 'utf8')).split('\n').map((l) => (l ? JSON.parse(l) : null)).find((l) => l?.recordId === 'CALL0000006');
    expect(retried.find((l) => l.recordId === 'CALL0000006')!.modelInput).toEqual(input6.modelInput);
  });
});

describe('output traps: the lineage index the join looks recordIds up in', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lineage-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const lineageOf = (ids: string[]) => ids.map((id, i) => JSON.stringify({ recordId: id, key: `k${i}`, file: 'calls.csv', line: i + 2 }) + '\n').join('');

  it('finds every id, read off the bytes or parsed (escaped, non-ASCII, not first), and nothing else', async () => {
    const store = new LocalStore(dir);
    const ids = Array.from({ length: 5000 }, (_, i) => `CALL${String(i).padStart(7, '0')}`);
    const odd = ['ünïcode-1', 'quote"inside', 'back\\slash', 'tab\there'];
    const text = lineageOf(ids) + odd.map((id) => JSON.stringify({ recordId: id, key: 'x', file: 'f', line: 1 }) + '\n').join('') + '{"key":"k","recordId":"KEYNOTFIRST"}\n';
    await writeFile(join(dir, 'a.jsonl'), text);
    const l = await ShardLineage.load(store, 'a.jsonl');
    expect(l.size).toBe(5005);
    for (const [i, id] of [...ids, ...odd, 'KEYNOTFIRST'].entries()) expect(l.indexOf(id), id).toBe(i);
    for (const id of ['CALL', 'CALL00000000', 'CALL000000', 'call0000001', '', 'ünïcode-2', 'KEYNOTFIRS']) expect(l.indexOf(id), id).toBe(-1);
    expect(JSON.parse(l.get('CALL0004999')!)).toMatchObject({ key: 'k4999' });
    l.close('CALL0000001');
    l.close('quote"inside');
    expect(l.get('CALL0000001')).toBeNull();
    expect(l.isOpen('quote"inside')).toBe(false);
    expect(l.left).toBe(5003);
    const open = [...l.openRecords()].map(([id]) => id);
    expect(open.slice(0, 2)).toEqual(['CALL0000000', 'CALL0000002']);
    expect(open.slice(-4)).toEqual(['ünïcode-1', 'back\\slash', 'tab\there', 'KEYNOTFIRST']);
  });

  it('a reused arena forgets the previous shard', async () => {
    const store = new LocalStore(dir);
    await writeFile(join(dir, 'big.jsonl'), lineageOf(Array.from({ length: 3000 }, (_, i) => `BIG${i}`)));
    await writeFile(join(dir, 'small.jsonl'), lineageOf(['S1', 'S2']));
    const arena = new Arena();
    const big = await ShardLineage.load(store, 'big.jsonl', arena);
    big.close('BIG7');
    const small = await ShardLineage.load(store, 'small.jsonl', arena);
    expect(small.size).toBe(2);
    expect(small.indexOf('BIG7')).toBe(-1);
    expect(small.indexOf('BIG1')).toBe(-1);
    expect(small.isOpen('S1')).toBe(true);
    expect([...small.openRecords()].map(([id]) => id)).toEqual(['S1', 'S2']);
  });

  it('refuses a recordId twice (however written) or a line without one, naming the file line', async () => {
    const store = new LocalStore(dir);
    await writeFile(join(dir, 'dup.jsonl'), lineageOf(['A', 'B']) + '\n' + lineageOf(['C', 'B']));
    await expect(ShardLineage.load(store, 'dup.jsonl')).rejects.toMatchObject({ code: 'E_DUPLICATE_ID', message: expect.stringContaining('recordId B appears twice'), line: 5 });
    await writeFile(join(dir, 'dup2.jsonl'), lineageOf(['A', 'B']) + '{"key":"k","recordId":"A"}\n');
    await expect(ShardLineage.load(store, 'dup2.jsonl')).rejects.toMatchObject({ code: 'E_DUPLICATE_ID', line: 3 });
    await writeFile(join(dir, 'none.jsonl'), lineageOf(['A']) + '{"key":"k"}\n');
    await expect(ShardLineage.load(store, 'none.jsonl')).rejects.toMatchObject({ code: 'E_NOT_PREPARED', line: 2 });
    await expect(ShardLineage.load(store, 'absent.jsonl')).rejects.toMatchObject({ code: 'E_NOT_PREPARED' });
  });

  it('reads a lineage file through any store, cut in tiny chunks, with a last line lacking its newline', async () => {
    await writeFile(join(dir, 'a.jsonl'), lineageOf(['X1', 'X2', 'X3']).slice(0, -1));
    const l = await ShardLineage.load(await chunkyStore(dir, 7), 'a.jsonl');
    expect([...l.openRecords()].map(([id, text]) => [id, (JSON.parse(text) as { key: string }).key])).toEqual([
      ['X1', 'k0'],
      ['X2', 'k1'],
      ['X3', 'k2'],
    ]);
  });
});

describe('output traps: the JSONL writer takes a text\'s JSON from its line only when it is JSON.stringify\'s', () => {
  const long = 'The customer called about a double charge; the agent issued a refund and confirmed by email. ';
  const cases: [string, string][] = [
    ['plain', `{"content":[{"type":"text","text":${JSON.stringify(long.repeat(3))}}]}`],
    ['non-ASCII, U+2028, quotes and backslashes', `{"content":[{"type":"text","text":${JSON.stringify(`${long}¿Puede? — 😀 "quoted" C:\\dir\\\u2028next\n\tend`)}}]}`],
    ['\\u escapes JSON.stringify would not write', `{"content":[{"type":"text","text":"${long}caf\\u00e9 \\u2028 done"}]}`],
    ['an escaped slash', `{"content":[{"type":"text","text":"${long}and/or \\/ done"}]}`],
    ['a control character as \\u', `{"content":[{"type":"text","text":"${long}bell \\u0007 done"}]}`],
    ['two blocks joined', `{"content":[{"type":"text","text":${JSON.stringify(long)}},{"type":"text","text":${JSON.stringify(long)}}]}`],
    ['the text also quoted elsewhere first', `{"id":${JSON.stringify(long.slice(0, 40) + ' and more')},"content":[{"type":"text","text":${JSON.stringify(long.repeat(2))}}]}`],
    ['a short text', `{"content":[{"type":"text","text":"ok"}]}`],
  ];

  async function written(results: CollectResult[]): Promise<string> {
    const { PassThrough } = await import('node:stream');
    const { resultsWriter } = await import('../../src/results/writers.js');
    const sink = new PassThrough();
    const chunks: Buffer[] = [];
    sink.on('data', (c: Buffer) => chunks.push(c));
    const w = resultsWriter({ target: { stream: sink, name: 'out.jsonl' } });
    for (const r of results) await w.write(r);
    await w.close();
    return Buffer.concat(chunks).toString('utf8');
  }

  /** A success result as the join makes it from one output line (its modelOutput given as JSON text, or bytes). */
  function fromLine(modelOutput: string | Buffer): SuccessResult {
    const answer = Buffer.isBuffer(modelOutput) ? modelOutput : Buffer.from(modelOutput);
    const line = Buffer.concat([Buffer.from('{"recordId":"R1","modelInput":{},"modelOutput":'), answer, Buffer.from('}')]);
    const v = parseOutputLine(line, 0, line.length, 'errors');
    if (!v.ok) throw new Error(v.reason);
    const text = ((v.value.modelOutput as { content: { text: string }[] }).content ?? []).map((b) => b.text).join('');
    const r: SuccessResult = {
      kind: 'success', recordId: 'R1', key: 'k', file: 'f.csv', line: 2, passthrough: { agent: 'Ana' }, job: 'job-0001', shard: 'p.jsonl', jobId: 'j', attempt: 1,
      model: 'm', raw: v.value.modelOutput, output: { file: 'o', line: 1 }, text,
    };
    setTextSource(r, text, v.value.modelOutputJson!, line.subarray(v.value.modelOutputStart, v.value.modelOutputEnd));
    return r;
  }

  for (const [name, modelOutput] of cases) {
    it(name, async () => {
      const r = fromLine(modelOutput);
      expect(await written([r])).toBe(JSON.stringify(resultRow(r)) + '\n');
      expect(resultJsonLine(r)).toBe(JSON.stringify(resultRow(r)) + '\n');
    });
  }

  it('bytes that are not UTF-8 are written as the text decoded (U+FFFD), never copied', async () => {
    const json = Buffer.from(`{"content":[{"type":"text","text":${JSON.stringify(long + 'XX end')}}]}`);
    json[json.indexOf('XX')] = 0xff;
    const r = fromLine(json);
    expect(r.text).toContain('\ufffdX end');
    const out = await written([r]);
    expect(out).toBe(JSON.stringify(resultRow(r)) + '\n');
    expect(Buffer.from(out).includes(0xff)).toBe(false);
  });

  it('a text changed after the join is written as it is now', async () => {
    const r = fromLine(cases[0]![1]);
    r.text = 'changed by the caller';
    expect(await written([r])).toBe(JSON.stringify(resultRow(r)) + '\n');
    expect(Object.keys(r)).not.toContain(String(TEXT_SOURCE));
    expect(JSON.stringify(r)).not.toContain('textSource');
  });

  it('a text longer than a write chunk', async () => {
    const r = fromLine(`{"content":[{"type":"text","text":${JSON.stringify('é'.repeat(200_000) + long)}}]}`);
    const rows = [fromLine(cases[1]![1]), r, fromLine(cases[0]![1])];
    expect(await written(rows)).toBe(rows.map((x) => JSON.stringify(resultRow(x)) + '\n').join(''));
  });
});

describe('output traps: a local results file written with chunks used again', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'results-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const key of ['results.jsonl', 'results.jsonl.gz']) {
    it(`${key}: every byte as resultJsonLine writes it, over many chunks`, async () => {
      const { resultsWriter } = await import('../../src/results/writers.js');
      const { gunzipSync } = await import('node:zlib');
      const results: SuccessResult[] = Array.from({ length: 3000 }, (_, i) => ({
        kind: 'success', recordId: `R${i}`, key: `k${i}`, file: 'f.csv', line: i + 2, passthrough: { agent: 'Ana' }, job: 'job-0001', shard: 'p.jsonl', jobId: 'j', attempt: 1,
        model: 'm', raw: null, output: { file: 'o', line: i + 1 }, text: `${i} ` + 'é summary text, '.repeat(1 + (i % 97)),
      }));
      const w = resultsWriter({ target: { store: new LocalStore(dir), key } });
      for (const r of results) {
        const wait = w.write(r);
        if (wait) await wait;
      }
      await w.close();
      let bytes = await readFile(join(dir, key));
      if (key.endsWith('.gz')) bytes = gunzipSync(bytes);
      expect(bytes.length).toBeGreaterThan(4 * 256 * 1024);
      expect(bytes.toString('utf8')).toBe(results.map((r) => resultJsonLine(r)).join(''));
    });
  }
});
