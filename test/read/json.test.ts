/** JSON (src/read/json.ts): arrays streamed element by element, single documents, rejects and bounds. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { JsonDecoder, jsonItems, normalizeJsonOptions } from '../../src/read/json.js';
import type { Reject, SourceItem } from '../../src/records/types.js';
import { brief, bytes, decode, splitAt, splitEvery, type Out } from './helpers.js';

function run(input: string | Buffer | Buffer[], options: ConstructorParameters<typeof JsonDecoder>[0] = {}) {
  const out: Out[] = [];
  const d = new JsonDecoder({ file: 'calls.json', ...options }, (x) => out.push(x));
  for (const c of Array.isArray(input) ? input : [bytes(input)]) d.push(c);
  d.end();
  return out;
}
const rejects = (out: Out[]) => out.filter((x): x is Reject => x.kind === 'reject');

describe('JSON arrays: one item per element', () => {
  it('gives each element the line it starts on and its own bytes', () => {
    const input = '[\n  {"call_id": "c1", "turns": [{"s": "A"}, {"s": "B"}]},\n  {"call_id": "c2",\n   "text": "x"}\n]\n';
    expect(run(input)).toEqual([
      { kind: 'item', file: 'calls.json', line: 2, value: { call_id: 'c1', turns: [{ s: 'A' }, { s: 'B' }] }, bytes: '{"call_id": "c1", "turns": [{"s": "A"}, {"s": "B"}]}'.length },
      { kind: 'item', file: 'calls.json', line: 3, value: { call_id: 'c2', text: 'x' }, bytes: '{"call_id": "c2",\n   "text": "x"}'.length },
    ]);
  });

  it('follows strings: brackets, commas, escaped quotes, backslashes and line ends inside them', () => {
    const tricky = [{ t: 'a ] b } c , d [ {' }, { t: 'say \\"hi\\"' }, { t: 'ends in a backslash \\\\' }, { t: '\\\\\\"' }, { t: 'line\\nend \u2028 😀' }];
    const input = `[${tricky.map((o) => `{"t":"${o.t}"}`).join(',\n')}]`;
    const out = run(input);
    expect(out.map((x) => x.kind)).toEqual(['item', 'item', 'item', 'item', 'item']);
    expect(out.map((x) => x.line)).toEqual([1, 2, 3, 4, 5]);
    expect(out.map((x) => (x as SourceItem).value)).toEqual(JSON.parse(input));
  });

  it('gives the same items at every cut position and byte by byte', () => {
    const input = bytes('\ufeff [ {"a":"x\\"],"},\n{"b":[1,{"c":"\\\\"}]} , 3 ,\n {"é":"😀"} ]\n');
    const whole = run(input);
    expect(brief(whole)).toEqual(['item@1:{"a":"x\\"],"}', 'item@2:{"b":[1,{"c":"\\\\"}]}', 'reject@2:E_NOT_AN_OBJECT', 'item@3:{"é":"😀"}']);
    const shown = (o: Out[]) => o.map((x) => `${brief([x])[0]}/${x.bytes}`);
    for (let cut = 1; cut < input.length; cut++) expect(shown(run(splitAt(input, [cut]))), `cut at ${cut}`).toEqual(shown(whole));
    expect(shown(run(splitEvery(input, 1)))).toEqual(shown(whole));
  });

  it('rejects a bad element on its own line, and goes on with the next ones', () => {
    const out = run('[\n{"a":1},\n{"b": PRIVATE},\n"text",\nnull,\n[1],\n{"c":\n\n 2 3},\n{"d":4}\n]');
    expect(brief(out)).toEqual([
      'item@2:{"a":1}',
      'reject@3:E_BAD_JSON',
      'reject@4:E_NOT_AN_OBJECT',
      'reject@5:E_NOT_AN_OBJECT',
      'reject@6:E_NOT_AN_OBJECT',
      'reject@9:E_BAD_JSON',
      'item@10:{"d":4}',
    ]);
    const [bad, str, nul, arr, bad2] = rejects(out);
    expect(bad!.reason).not.toContain('PRIVATE');
    expect(str!.reason).toMatch(/is a string, not a JSON object/);
    expect(nul!.reason).toMatch(/is null/);
    expect(arr!.reason).toMatch(/is an array/);
    expect(bad2!.reason).toMatch(/at line 9, column 4/);
  });

  it.each([
    ['a missing comma', '[{"a":1}\n{"b":2}]', 2, /comma is missing/],
    ['a trailing comma', '[{"a":1},\n]', 2, /trailing comma/],
    ['a comma where an element should be', '[{"a":1},,{"b":2}]', 1, /comma where an element should be/],
    ['text after the array', '[{"a":1}]\n\nmore', 3, /more text after the closing \]/],
    ['an array that never closes', '[{"a":1},\n{"b":2}', 2, /not closed: the input ends before its \]/],
    ['an element that never closes', '[{"a":1},\n{"b":"open\n\n', 4, /ends inside the element that starts on line 2/],
  ])('a broken structure (%s) ends the file with one E_BAD_JSON naming the line; the elements before it stay', (_what, input, line, reason) => {
    const out = run(input);
    expect(out[0]).toMatchObject({ kind: 'item', value: { a: 1 } });
    const last = out.at(-1) as Reject;
    expect(last).toMatchObject({ kind: 'reject', code: 'E_BAD_JSON', line });
    expect(last.reason).toMatch(reason);
    expect(last.reason).toMatch(/rest of the file was skipped/);
    expect(rejects(out)).toHaveLength(1);
  });

  it('an element over maxElementBytes is E_ROW_TOO_LARGE and not held; the next element is read', () => {
    const out: Out[] = [];
    const d = new JsonDecoder({ maxElementBytes: 1024 }, (x) => out.push(x));
    const state = d as unknown as { parts: Buffer[] };
    const chunk = Buffer.alloc(64 * 1024, 'x');
    d.push(bytes('[{"a":1},{"text":"'));
    let held = 0;
    for (let i = 0; i < 32; i++) {
      d.push(chunk);
      held = Math.max(held, state.parts.reduce((n, b) => n + b.length, 0));
    }
    d.push(bytes('"},{"b":2}]'));
    d.end();
    expect(brief(out)).toEqual(['item@1:{"a":1}', 'reject@1:E_ROW_TOO_LARGE', 'item@1:{"b":2}']);
    expect(out[1]!.bytes).toBe(32 * 64 * 1024 + 11);
    expect(held).toBeLessThanOrEqual(1024);
  });

  it('an empty array gives nothing; an empty or blank input is one E_EMPTY_INPUT', () => {
    expect(run('[]')).toEqual([]);
    expect(run(' [ \n ] \n')).toEqual([]);
    expect(run('')).toEqual([expect.objectContaining({ code: 'E_EMPTY_INPUT', bytes: 0 })]);
    expect(run(' \n\t')).toEqual([expect.objectContaining({ code: 'E_EMPTY_INPUT', bytes: 3 })]);
  });
});

describe('JSON documents: one item for the whole file', () => {
  it('an object is one item on line 1 whose bytes are the file\'s size, less a BOM', () => {
    const input = '\ufeff\n{"jobName":"j1",\n "results":{}}\n';
    expect(run(input)).toEqual([{ kind: 'item', file: 'calls.json', line: 1, value: { jobName: 'j1', results: {} }, bytes: Buffer.byteLength(input) - 3 }]);
  });

  it('a real Transcribe output, in small chunks', () => {
    const data = readFileSync(new URL('../../fixtures/transcribe/diarization-output-batch.json', import.meta.url));
    const out = run(splitEvery(data, 100));
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ kind: 'item', line: 1, bytes: data.length, value: { jobName: 'my-first-transcription-job' } });
  });

  it('invalid JSON is one E_BAD_JSON naming the line and column in the file, never the text', () => {
    const out = run('\n\n{"a": 1,\n "secret": "PRIVATE"\n "b": 2}');
    expect(out).toEqual([expect.objectContaining({ kind: 'reject', code: 'E_BAD_JSON', line: 5 })]);
    expect((out[0] as Reject).reason).toMatch(/^the document is not valid JSON: .*at line 5, column 2$/);
    expect((out[0] as Reject).reason).not.toContain('PRIVATE');
  });

  it('a document that is not an object is E_NOT_AN_OBJECT; bytes that are not UTF-8 are E_INVALID_UTF8', () => {
    expect(brief(run('"just text"'))).toEqual(['reject@1:E_NOT_AN_OBJECT']);
    expect(brief(run('42'))).toEqual(['reject@1:E_NOT_AN_OBJECT']);
    expect(brief(run(Buffer.concat([bytes('{"a":"'), Buffer.from([0xc3, 0x28]), bytes('"}')])))).toEqual(['reject@1:E_INVALID_UTF8']);
  });

  it('a document over maxDocumentBytes is one E_ROW_TOO_LARGE and is only counted past the limit', () => {
    const out: Out[] = [];
    const d = new JsonDecoder({ maxDocumentBytes: 4096 }, (x) => out.push(x));
    d.push(bytes('{"text":"'));
    for (let i = 0; i < 100; i++) d.push(Buffer.alloc(1024, 'y'));
    const state = (d as unknown as { doc: { parts: Buffer[] } }).doc;
    expect(state.parts).toEqual([]);
    d.push(bytes('"}'));
    d.end();
    expect(out).toEqual([expect.objectContaining({ code: 'E_ROW_TOO_LARGE', line: 1, bytes: 100 * 1024 + 11 })]);
    expect((out[0] as Reject).reason).toMatch(/over the limit of 4096.*maxDocumentBytes/);
  });

  it('as a Transform; bad options throw E_BAD_OPTION', async () => {
    expect(brief(await decode(jsonItems({ file: 'x.json' }), ['[{"a"', ':1}]']))).toEqual(['item@1:{"a":1}']);
    expect(() => normalizeJsonOptions({ maxDocumentBytes: 0 })).toThrow(/maxDocumentBytes/);
    expect(() => normalizeJsonOptions({ maxElementBytes: -5 })).toThrow(/maxElementBytes/);
  });
});

describe('JSON: numbers kept as written, errors without the text', () => {
  it('array elements and single documents: a call id a double cannot hold is read as its text', () => {
    const arr = run('[{"call_id": 12345678901234567891, "t": "a"}, {"call_id": 12345678901234567892, "t": "b"},\n {"call_id": 1.0}, {"call_id": 1}, {"call_id": 1e3, "n": {"x": 1.0}}]');
    expect(arr.map((x) => ((x as SourceItem).value as { call_id: unknown }).call_id)).toEqual(['12345678901234567891', '12345678901234567892', '1.0', 1, '1e3']);
    expect((arr[4] as SourceItem).value).toEqual({ call_id: '1e3', n: { x: 1 } });
    const doc = run('{\n  "ContactId": 98765432109876543210,\n  "Transcript": [{"BeginOffsetMillis": 1.50}]\n}\n');
    expect((doc[0] as SourceItem).value).toEqual({ ContactId: '98765432109876543210', Transcript: [{ BeginOffsetMillis: 1.5 }] });
  });

  it('a bad element or document is named by line and column in fixed words, never a character of it', () => {
    const out = run('[\n{"call_id": "c1", "t": Zebediah},\n{"call_id": "c2"}]');
    expect(brief(out)).toEqual(['reject@2:E_BAD_JSON', 'item@3:{"call_id":"c2"}']);
    expect((out[0] as Reject).reason).toBe('the array element is not valid JSON: an unexpected character where a value should be at line 2, column 24');
    const doc = run('{\n  "call_id": "c1",\n  Zebediah\n}');
    expect((doc[0] as Reject).reason).toBe('the document is not valid JSON: a property name in double quotes should be here at line 3, column 3');
  });
});
