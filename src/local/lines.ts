/**
 * The local service's input lines, as text: the line splitter (src/core/lines.ts, which splits on
 * `\n` only: docs/bedrock.md §6.4) over a Readable, every line handed over (blank ones too), a BOM
 * left in the first line's text, and a line over the bound a `LineTooLongError` (the `error`
 * overflow policy).
 */
import type { Readable } from 'node:stream';
import { LineSplitter, type LineHandler } from '../core/lines.js';

/** What `readLines` throws for a line over its bound. */
export { LineTooLongError } from '../core/lines.js';

export interface Line {
  /** The line's text without its `\n` (and without a `\r` before it). */
  text: string;
  /** 1-based line number in the file. */
  number: number;
  /** Bytes of the line in the file, its newline included. */
  bytes: number;
}

/** Every line of `source`, the last one even without a final newline. */
export async function* readLines(source: Readable, maxLineBytes: number): AsyncGenerator<Line> {
  const splitter = new LineSplitter({ maxLineBytes, overflow: 'error', blankLines: true, bom: false });
  let lines: Line[] = [];
  let lineEnd = 0;
  const onLine: LineHandler = (buf, start, end, number) => {
    lines.push({ text: buf.toString('utf8', start, end), number, bytes: splitter.consumed - lineEnd });
    lineEnd = splitter.consumed;
  };
  const take = () => {
    const taken = lines;
    lines = [];
    return taken;
  };
  for await (const chunk of source as AsyncIterable<Buffer>) {
    try {
      splitter.push(chunk, onLine);
    } finally {
      // the lines before one too long come out before its error
      yield* take();
    }
  }
  splitter.end(onLine);
  yield* take();
}
