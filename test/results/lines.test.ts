import { describe, expect, it } from 'vitest';
import { LineSplitter } from '../../src/results/lines.js';

interface Got {
  text: string;
  line: number;
  complete: boolean;
}

function split(chunks: Buffer[], options = {}): { lines: Got[]; tooLong: [number, number][] } {
  const tooLong: [number, number][] = [];
  const s = new LineSplitter({ ...options, onTooLong: (line, bytes) => tooLong.push([line, bytes]) });
  const lines: Got[] = [];
  const on = (b: Buffer, start: number, end: number, line: number, complete: boolean) => lines.push({ text: b.toString('utf8', start, end), line, complete });
  for (const c of chunks) s.push(c, on);
  s.end(on);
  return { lines, tooLong };
}

describe('LineSplitter', () => {
  const text = '{"a":"x\u2028y\u2029z\u0085w"}\r\n\n  \n{"b":"é😀"}\n{"c":1}';
  const bytes = Buffer.from('\ufeff' + text, 'utf8');

  it('splits on \\n only: U+2028, U+2029 and U+0085 stay inside the line; CR, BOM and blank lines go', () => {
    const { lines } = split([bytes]);
    expect(lines).toEqual([
      { text: '{"a":"x\u2028y\u2029z\u0085w"}', line: 1, complete: true },
      { text: '{"b":"é😀"}', line: 4, complete: true },
      { text: '{"c":1}', line: 5, complete: false },
    ]);
  });

  it('gives the same lines whatever the chunk boundaries (every split point, multi-byte characters cut)', () => {
    const whole = split([bytes]).lines;
    for (let at = 0; at <= bytes.length; at++) {
      expect(split([bytes.subarray(0, at), bytes.subarray(at)]).lines).toEqual(whole);
    }
    const ones = Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1));
    expect(split(ones).lines).toEqual(whole);
  });

  it('marks a last line without its newline as incomplete, and a complete file as complete', () => {
    expect(split([Buffer.from('{"a":1}\n{"b":')]).lines.at(-1)).toEqual({ text: '{"b":', line: 2, complete: false });
    expect(split([Buffer.from('{"a":1}\n')]).lines).toEqual([{ text: '{"a":1}', line: 1, complete: true }]);
  });

  it('drops a line over maxLineBytes without holding it, reports it, and goes on', () => {
    const long = 'x'.repeat(100);
    const input = Buffer.from(`short\n${long}\nafter\n${long}`);
    for (const chunks of [[input], Array.from({ length: Math.ceil(input.length / 7) }, (_, i) => input.subarray(i * 7, i * 7 + 7))]) {
      const { lines, tooLong } = split(chunks, { maxLineBytes: 50 });
      expect(lines.map((l) => [l.text, l.line])).toEqual([['short', 1], ['after', 3]]);
      expect(tooLong).toEqual([[2, 100], [4, 100]]);
    }
  });

  it('refuses a bad limit', () => {
    expect(() => new LineSplitter({ maxLineBytes: 0 })).toThrow(/maxLineBytes/);
  });
});
