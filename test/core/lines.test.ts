/** The line splitter (src/core/lines.ts): `\n` only, chunk-independent, bounded lines under either overflow policy, byte counts; and `countLf`. */
import { describe, expect, it } from 'vitest';
import { countLf, LineSplitter, LineTooLongError, type LineSplitterOptions } from '../../src/core/lines.js';

interface Got {
  text: string;
  line: number;
  complete: boolean;
  /** `consumed` when the line was handed over. */
  at: number;
}

function split(chunks: Buffer[], options: LineSplitterOptions = {}): { lines: Got[]; tooLong: [number, number, string][]; bytes: number } {
  const tooLong: [number, number, string][] = [];
  const s = new LineSplitter({ onTooLong: (line, bytes, head) => tooLong.push([line, bytes, head.toString('latin1', 0, 4)]), ...options });
  const lines: Got[] = [];
  const on = (b: Buffer, start: number, end: number, line: number, complete: boolean) => lines.push({ text: b.toString('utf8', start, end), line, complete, at: s.consumed });
  for (const c of chunks) s.push(c, on);
  s.end(on);
  return { lines, tooLong, bytes: s.bytes };
}

const everyCut = (bytes: Buffer): Buffer[][] => [
  ...Array.from({ length: bytes.length + 1 }, (_, at) => [bytes.subarray(0, at), bytes.subarray(at)]),
  Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1)),
];

describe('LineSplitter', () => {
  const text = '{"a":"x\u2028y\u2029z\u0085w"}\r\n\n  \n{"b":"é😀"}\n{"c":1}';
  const bytes = Buffer.from('\ufeff' + text, 'utf8');

  it('splits on \\n only: U+2028, U+2029 and U+0085 stay inside the line; CR, BOM and blank lines go', () => {
    const { lines } = split([bytes]);
    expect(lines.map(({ text, line, complete }) => ({ text, line, complete }))).toEqual([
      { text: '{"a":"x\u2028y\u2029z\u0085w"}', line: 1, complete: true },
      { text: '{"b":"é😀"}', line: 4, complete: true },
      { text: '{"c":1}', line: 5, complete: false },
    ]);
  });

  it('gives the same lines and counts whatever the chunk boundaries (every split point, multi-byte characters cut)', () => {
    const whole = split([bytes]);
    for (const chunks of everyCut(bytes)) expect(split(chunks)).toEqual(whole);
  });

  it('counts the input less the BOM; `consumed` runs to the end of each line handed over, the blank lines before it included', () => {
    const { lines, bytes: seen } = split([bytes]);
    expect(seen).toBe(bytes.length - 3);
    const ends = [text.indexOf('\n') + 1, text.indexOf('{"c"'), text.length].map((i) => Buffer.byteLength(text.slice(0, i)));
    expect(lines.map((l) => l.at)).toEqual(ends);
  });

  it('marks a last line without its newline as incomplete, and a complete file as complete', () => {
    expect(split([Buffer.from('{"a":1}\n{"b":')]).lines.at(-1)).toMatchObject({ text: '{"b":', line: 2, complete: false });
    expect(split([Buffer.from('{"a":1}\n')]).lines).toMatchObject([{ text: '{"a":1}', line: 1, complete: true }]);
  });

  it('hands over blank lines when asked; keeps a BOM when asked; numbers from firstLine (where no BOM is looked for)', () => {
    const input = Buffer.from('\ufeffa\r\n\r\n \nb\n', 'utf8');
    expect(split([input], { blankLines: true }).lines.map((l) => [l.text, l.line])).toEqual([['a', 1], ['', 2], [' ', 3], ['b', 4]]);
    expect(split([input], { bom: false }).lines.map((l) => l.text)).toEqual(['\ufeffa', 'b']);
    expect(split([input], { firstLine: 40 }).lines.map((l) => [l.text, l.line])).toEqual([['\ufeffa', 40], ['b', 43]]);
  });

  it('overflow "skip": drops a line over maxLineBytes without holding it, reports it with its first bytes, and goes on', () => {
    const long = 'x'.repeat(100);
    const input = Buffer.from(`short\n${long}\nafter\n${long}`);
    for (const chunks of [[input], Array.from({ length: Math.ceil(input.length / 7) }, (_, i) => input.subarray(i * 7, i * 7 + 7))]) {
      const { lines, tooLong } = split(chunks, { maxLineBytes: 50 });
      expect(lines.map((l) => [l.text, l.line])).toEqual([['short', 1], ['after', 3]]);
      expect(tooLong).toEqual([[2, 100, 'xxxx'], [4, 100, 'xxxx']]);
    }
  });

  it('measures a line without its line end: a line of exactly the limit passes with LF or CRLF, one byte more does not, at every cut', () => {
    const input = Buffer.from('\ufeff12345\r\n123456\r\n12345\n123456\n12345\r');
    const want = { lines: [['12345', 1], ['12345', 3], ['12345', 5]], tooLong: [[2, 6, '1234'], [4, 6, '1234']] };
    for (const chunks of everyCut(input)) {
      const { lines, tooLong } = split(chunks, { maxLineBytes: 5 });
      expect({ lines: lines.map((l) => [l.text, l.line]), tooLong }).toEqual(want);
    }
  });

  it('overflow "error": throws LineTooLongError naming the file and line as soon as the line is known to be over', () => {
    const s = new LineSplitter({ maxLineBytes: 100, overflow: 'error', file: 'in.jsonl' });
    const seen: number[] = [];
    s.push(Buffer.from('short\n' + 'x'.repeat(50)), (_b, _s, _e, line) => seen.push(line));
    const error = (() => {
      try {
        s.push(Buffer.from('x'.repeat(60)), () => {});
      } catch (e) {
        return e;
      }
    })();
    expect(seen).toEqual([1]);
    expect(error).toBeInstanceOf(LineTooLongError);
    expect(error).toMatchObject({ lineNumber: 2, limit: 100, file: 'in.jsonl', message: 'in.jsonl, line 2 is longer than 100 bytes' });
  });

  it('keeps nothing of a chunk past push but copies: the caller may reuse its buffer', () => {
    const s = new LineSplitter();
    const got: string[] = [];
    const on = (b: Buffer, start: number, end: number) => got.push(b.toString('utf8', start, end));
    const buf = Buffer.from('{"a":');
    s.push(buf, on);
    buf.fill(0x7a);
    s.push(Buffer.from('1}\n'), on);
    s.end(on);
    expect(got).toEqual(['{"a":1}']);
  });

  it('refuses a bad limit', () => {
    expect(() => new LineSplitter({ maxLineBytes: 0 })).toThrow(/maxLineBytes/);
  });
});

describe('countLf', () => {
  it('counts the \\n bytes of a whole buffer or of a range of it', () => {
    const b = Buffer.from('a\nb\r\n\nc\u2028d\n');
    expect(countLf(b)).toBe(4);
    expect(countLf(b, 2)).toBe(3);
    expect(countLf(b, 2, 5)).toBe(1);
    expect(countLf(b, 0, 1)).toBe(0);
    expect(countLf(Buffer.alloc(0))).toBe(0);
  });
});
