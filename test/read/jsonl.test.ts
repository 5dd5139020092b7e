/** JSON Lines (src/read/jsonl.ts): lines split on LF only, rejects that name the line, bounded lines, exact byte counts. */
import { describe, expect, it } from 'vitest';
import { JsonlDecoder, jsonlRows, normalizeJsonlOptions } from '../../src/read/jsonl.js';
import type { Reject, SourceItem } from '../../src/records/types.js';
import { brief, bytes, decode, splitAt, splitEvery, sumBytes, type Out } from './helpers.js';

function run(input: Buffer | string | Buffer[], options: ConstructorParameters<typeof JsonlDecoder>[0] = {}) {
  const out: Out[] = [];
  const d = new JsonlDecoder({ file: 'calls.jsonl', ...options }, (x) => out.push(x));
  for (const c of Array.isArray(input) ? input : [bytes(input)]) d.push(c);
  d.end();
  return { out, unattributed: d.unattributedBytes };
}
const rejects = (out: Out[]) => out.filter((x): x is Reject => x.kind === 'reject');

describe('JSONL: lines', () => {
  it('one item per line, with the file, the line and the line\'s bytes', () => {
    const { out } = run('{"call_id":"c1","text":"hi"}\n{"call_id":"c2","text":"yo"}\n');
    expect(out).toEqual([
      { kind: 'item', file: 'calls.jsonl', line: 1, value: { call_id: 'c1', text: 'hi' }, bytes: 29 },
      { kind: 'item', file: 'calls.jsonl', line: 2, value: { call_id: 'c2', text: 'yo' }, bytes: 29 },
    ]);
  });

  it('splits on LF only: U+2028, U+2029 and U+0085 inside a string stay in the value', () => {
    const text = 'a\u2028b\u2029c\u0085d';
    const { out } = run(`{"text":"${text}"}\n{"n":2}\n`);
    expect(brief(out)).toEqual([`item@1:${JSON.stringify({ text })}`, 'item@2:{"n":2}']);
    expect((out[0] as { value: { text: string } }).value.text).toBe(text);
  });

  it('a lone CR is not a line end; CRLF is, and the CR is dropped', () => {
    const { out } = run('{"a":1}\r\n{"b":2}\r{"c":3}\n{"d":"x\\r\\n"}\r\n');
    expect(brief(out)).toEqual(['item@1:{"a":1}', 'reject@2:E_BAD_JSON', 'item@3:{"d":"x\\r\\n"}']);
  });

  it('skips blank and white-space lines; their bytes go to the next item; the last line needs no LF', () => {
    const { out } = run('\n  \t\n\r\n{"a":1}\n\n{"b":2}');
    expect(out.map((x) => [x.line, x.bytes])).toEqual([
      [4, 15],
      [6, 8],
    ]);
  });

  it('strips a BOM on the first line only', () => {
    const { out } = run('\ufeff{"a":1}\n\ufeff{"b":2}\n');
    expect(brief(out)).toEqual(['item@1:{"a":1}', 'reject@2:E_BAD_JSON']);
    expect(out[0]!.bytes).toBe(8);
  });

  it('starts counting at firstLine (a piece from the middle of a file), and looks for no BOM there', () => {
    const { out } = run('{"a":1}\n\n{"b":2}\n', { firstLine: 100 });
    expect(brief(out)).toEqual(['item@100:{"a":1}', 'item@102:{"b":2}']);
  });
});

describe('JSONL: rejects', () => {
  it('a line that is not JSON: E_BAD_JSON with the line and the column, never the line\'s text', () => {
    const secret = '{"call_id":"c9","text":"card 4111-1111-1111-1111" "oops"}';
    const { out } = run(`{"ok":1}\n\n${secret}\n{"ok":2}\n`);
    expect(brief(out)).toEqual(['item@1:{"ok":1}', 'reject@3:E_BAD_JSON', 'item@4:{"ok":2}']);
    const r = rejects(out)[0]!;
    expect(r.reason).toMatch(/^the line is not valid JSON: .* at column \d+$/);
    expect(r.reason).toMatch(/column 51/);
    expect(JSON.stringify(r)).not.toMatch(/4111|oops|c9/);
    expect(r.bytes).toBe(secret.length + 2);
  });

  it.each([
    ['{"a": SSN-123-45-6789}', 'SSN'],
    ['{"a":"unterminated PRIVATE', 'PRIVATE'],
    ['{"a":1,}', '"a"'],
    ['{"a":1} {"b":2}', '"b"'],
    ['{"a\\q":1}', 'a\\q'],
    ['{"a":tru}', 'tru'],
    ['{' + '"k":"PRIVATE",'.repeat(20) + '}', 'PRIVATE'],
  ])('E_BAD_JSON for %j never quotes the line', (line, secret) => {
    const r = rejects(run(line + '\n').out)[0]!;
    expect(r.code).toBe('E_BAD_JSON');
    expect(r.line).toBe(1);
    expect(r.reason).not.toContain(secret);
    expect(r.reason.length).toBeLessThanOrEqual(160);
  });

  it.each([
    ['{"a": Zebediah Q}', 7],
    ['Zebediah', 1],
    ['{"call_id":"c1","text":"ok" Zebediah}', 29],
    ['{"a": "Zebediah\tQ"}', 16],
    ['{"a": [1, 2 Zebediah]}', 13],
  ])('E_BAD_JSON for %j names the spot in fixed words, never a character of the line', (line, column) => {
    const r = rejects(run(line + '\n').out)[0]!;
    expect(r.code).toBe('E_BAD_JSON');
    expect(r.reason).toMatch(new RegExp(`^the line is not valid JSON: [a-z][^"']*\\S at column ${column}$`));
    expect(r.reason).not.toMatch(/Zebediah|'Z'|"Z|Unexpected token/);
  });

  it.each([
    ['[1,2]', 'an array'],
    ['"text"', 'a string'],
    ['42', 'a number'],
    ['null', 'null'],
    ['true', 'a boolean'],
  ])('a line holding %s is E_NOT_AN_OBJECT naming its type', (line, type) => {
    const r = rejects(run(`${line}\n`).out)[0]!;
    expect(r).toMatchObject({ code: 'E_NOT_AN_OBJECT', line: 1, bytes: line.length + 1 });
    expect(r.reason).toContain(`holds ${type},`);
  });

  it('a line that is not UTF-8 is E_INVALID_UTF8, and the next line is read', () => {
    const input = Buffer.concat([bytes('{"a":"caf'), Buffer.from([0xe9]), bytes('"}\n{"a":"'), Buffer.from([0xf0, 0x9f, 0x98]), bytes('"}\n{"ok":1}\n')]);
    expect(brief(run(input).out)).toEqual(['reject@1:E_INVALID_UTF8', 'reject@2:E_INVALID_UTF8', 'item@3:{"ok":1}']);
  });

  it('a line over maxLineBytes is E_ROW_TOO_LARGE, counted, and the next line is read', () => {
    const long = `{"text":"${'x'.repeat(100)}"}`;
    const { out } = run(`{"a":1}\n${long}\n{"b":2}\n`, { maxLineBytes: 50 });
    expect(brief(out)).toEqual(['item@1:{"a":1}', 'reject@2:E_ROW_TOO_LARGE', 'item@3:{"b":2}']);
    expect(rejects(out)[0]!.reason).toMatch(/111 bytes, over the limit of 50/);
    expect(rejects(out)[0]!.bytes).toBe(long.length + 1);
  });

  it('bad options throw E_BAD_OPTION naming them', () => {
    expect(() => normalizeJsonlOptions({ maxLineBytes: 0 })).toThrow(/maxLineBytes 0/);
    expect(() => normalizeJsonlOptions({ firstLine: -1 })).toThrow(/firstLine -1/);
  });
});

describe('JSONL: chunking and counting', () => {
  // Every kind of line, a BOM, CRLF, a line of exactly the limit, one just over it.
  const max = 24;
  const exact = `{"t":"${'e'.repeat(max - 8)}"}`; // max bytes
  const over = `{"t":"${'o'.repeat(max - 7)}"}`; // max + 1
  const input = bytes(`\ufeff${exact}\r\n\r\n${exact}\r\n[1]\n${over}\n{"é":"😀"}\n{bad\n\n${exact}\r\n${over}\r\n{"z":1}`);

  it('gives the same items at every cut position, byte by byte and in small chunks', () => {
    const whole = run(input, { maxLineBytes: max });
    expect(brief(whole.out)).toEqual([
      `item@1:${exact}`,
      `item@3:${exact}`,
      'reject@4:E_NOT_AN_OBJECT',
      'reject@5:E_ROW_TOO_LARGE',
      'item@6:{"é":"😀"}',
      'reject@7:E_BAD_JSON',
      `item@9:${exact}`,
      'reject@10:E_ROW_TOO_LARGE',
      'item@11:{"z":1}',
    ]);
    const shown = (o: Out[]) => o.map((x) => `${brief([x])[0]}/${x.bytes}`);
    for (let cut = 1; cut < input.length; cut++) {
      expect(shown(run(splitAt(input, [cut]), { maxLineBytes: max }).out), `cut at ${cut}`).toEqual(shown(whole.out));
    }
    for (const n of [1, 2, 3, 5]) expect(shown(run(splitEvery(input, n), { maxLineBytes: max }).out)).toEqual(shown(whole.out));
  });

  it('the bytes of all items and rejects, plus the blank lines at the end, add up to the size less the BOM', () => {
    for (const tail of ['', '\n', '\n\n  \n']) {
      const data = Buffer.concat([input, bytes(tail)]);
      const { out, unattributed } = run(splitEvery(data, 7), { maxLineBytes: max });
      expect(sumBytes(out) + unattributed).toBe(data.length - 3);
    }
  });

  it('the real export (fixtures/calls.jsonl): 12 calls, lines 1 to 12, every byte counted', async () => {
    const { readFileSync } = await import('node:fs');
    const data = readFileSync(new URL('../../fixtures/calls.jsonl', import.meta.url));
    const out = await decode(jsonlRows({ file: 'calls.jsonl' }), splitEvery(data, 4096));
    expect(out.map((x) => x.line)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(out.every((x) => x.kind === 'item' && typeof (x.value as { contact_id: unknown }).contact_id === 'string')).toBe(true);
    expect(sumBytes(out)).toBe(data.length);
  });
});

describe('a line far over the limit is rejected without being held', () => {
  it('JSONL: a 64 MiB line in 1 MiB chunks, maxLineBytes 1 MiB', () => {
    const MiB = 1 << 20;
    const out: Out[] = [];
    const d = new JsonlDecoder({ maxLineBytes: MiB }, (x) => out.push(x));
    const state = (d as unknown as { lines: { pendingBytes: number; dropping: boolean } }).lines;
    const body = Buffer.alloc(MiB, 'abcd'); // one chunk pushed 64 times: the test allocates nothing per chunk
    const before = process.memoryUsage().arrayBuffers;
    let most = 0;
    d.push(bytes('{"call_id":"1"}\n{"call_id":"2","text":"'));
    for (let i = 0; i < 64; i++) {
      d.push(body);
      most = Math.max(most, state.pendingBytes);
      if (i > 0) expect(state.dropping).toBe(true);
    }
    d.push(bytes('"}\n{"call_id":"3"}\n'));
    d.end();
    const grown = process.memoryUsage().arrayBuffers - before;
    expect(brief(out)).toEqual(['item@1:{"call_id":"1"}', 'reject@2:E_ROW_TOO_LARGE', 'item@3:{"call_id":"3"}']);
    expect(out[1]!.bytes).toBe('{"call_id":"2","text":"'.length + 64 * MiB + 3);
    expect(most).toBeLessThanOrEqual(MiB);
    expect(grown).toBeLessThan(24 * MiB);
  });
});

describe('JSONL: numbers kept as written', () => {
  it('a call id a double cannot hold as written is read as its text: two ids never become one key', () => {
    const { out } = run(
      [
        '{"call_id":12345678901234567891,"text":"a"}',
        '{"call_id":12345678901234567892,"text":"b"}',
        '{"call_id":1.0,"text":"c"}',
        '{"call_id":1,"text":"d"}',
        '{"call_id":1e3,"text":"e"}',
        '{"call_id":-0,"text":"f"}',
        '{"call_id":9007199254740993,"duration":12.50,"ok":3.25,"n":-42,"text":"g \\" 1.0 \\\\","deep":{"x":1.0},"list":[1.0]}',
      ].join('\n') + '\n',
    );
    const values = out.map((x) => (x as SourceItem).value as Record<string, unknown>);
    expect(values.map((v) => v.call_id)).toEqual(['12345678901234567891', '12345678901234567892', '1.0', 1, '1e3', '-0', '9007199254740993']);
    expect(values[6]).toEqual({ call_id: '9007199254740993', duration: '12.50', ok: 3.25, n: -42, text: 'g " 1.0 \\', deep: { x: 1 }, list: [1] });
  });

  it('invalid numbers stay invalid (quoting them would make the line valid), and the error is where it was', () => {
    const { out } = run('{"a": 01, "b": 12345678901234567891}\n{"b": 12345678901234567891, "a": 1.}\n{"b": 12345678901234567891 "c": 2}\n');
    expect(brief(out)).toEqual(['reject@1:E_BAD_JSON', 'reject@2:E_BAD_JSON', 'reject@3:E_BAD_JSON']);
    expect((out[2] as Reject).reason).toMatch(/at column 28$/);
  });
});
