/**
 * JSONL lines from a byte stream: split on `\n` only (never on U+2028/U+2029 or a lone `\r`: see
 * docs/bedrock.md §6.4), at the Buffer level, with a bound on one line so a file without
 * newlines cannot exhaust memory.
 */
import type { Readable } from 'node:stream';

export interface Line {
  /** The line's text without its `\n` (and without a `\r` before it). */
  text: string;
  /** 1-based line number in the file. */
  number: number;
  /** Bytes of the line in the file, its newline included. */
  bytes: number;
}

export class LineTooLongError extends Error {
  constructor(
    readonly lineNumber: number,
    readonly limit: number,
  ) {
    super(`line ${lineNumber} is longer than ${limit} bytes`);
  }
}

/** Every line of `source`, the last one even without a final newline. */
export async function* readLines(source: Readable, maxLineBytes: number): AsyncGenerator<Line> {
  let held: Buffer[] = [];
  let heldBytes = 0;
  let number = 0;
  const emit = (parts: Buffer[], size: number, newline: number): Line => {
    let buf = parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
    const bytes = buf.length + newline;
    if (buf.length > 0 && buf[buf.length - 1] === 13) buf = buf.subarray(0, buf.length - 1);
    return { text: buf.toString('utf8'), number: ++number, bytes };
  };
  for await (const chunk of source as AsyncIterable<Buffer>) {
    let start = 0;
    let nl = chunk.indexOf(10, start);
    while (nl >= 0) {
      const piece = chunk.subarray(start, nl);
      if (heldBytes + piece.length > maxLineBytes) throw new LineTooLongError(number + 1, maxLineBytes);
      if (heldBytes > 0) {
        held.push(piece);
        yield emit(held, heldBytes + piece.length, 1);
        held = [];
        heldBytes = 0;
      } else {
        yield emit([piece], piece.length, 1);
      }
      start = nl + 1;
      nl = chunk.indexOf(10, start);
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      heldBytes += rest.length;
      if (heldBytes > maxLineBytes) throw new LineTooLongError(number + 1, maxLineBytes);
      held.push(rest);
    }
  }
  if (heldBytes > 0) yield emit(held, heldBytes, 0);
}
