/**
 * Split a byte stream into lines on `\n` only (a Buffer-level `indexOf(10)`): U+2028, U+2029 and
 * U+0085 inside model text are never line breaks, as Python's `splitlines` would make them. A
 * trailing `\r` is stripped, a UTF-8 BOM at the very start is skipped, blank lines are skipped.
 *
 * Lines are handed to a callback as (buffer, start, end) without copying, except a line that spans
 * chunks, which is joined once. Nothing of a chunk is kept past `push` but copies, so a caller may
 * reuse its buffers. A line over `maxLineBytes` is not held: its bytes are dropped up to
 * the next `\n` and it is reported through `onTooLong`. The last line of a stream may lack its
 * `\n`; it is handed over with `complete: false`, so a caller can tell a truncated file.
 */
import { BatchError } from '../errors.js';

export interface LineHandler {
  /** One line, `buf[start, end)`, without its `\n` (and `\r`); `line` is 1-based; `complete` is false for a last line with no `\n`. */
  (buf: Buffer, start: number, end: number, line: number, complete: boolean): void;
}

export interface LineSplitterOptions {
  /** Longest line held, in bytes (default 64 MiB). */
  maxLineBytes?: number;
  /** Called for a line over the limit (its bytes were dropped), with its 1-based number, size and first bytes (up to 256). */
  onTooLong?: (line: number, bytes: number, head: Buffer) => void;
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** A copy of the first 256 bytes of some pieces. */
function headOf(pieces: Buffer[]): Buffer {
  const take: Buffer[] = [];
  let n = 0;
  for (const p of pieces) {
    if (n >= 256) break;
    take.push(p.subarray(0, 256 - n));
    n += take[take.length - 1]!.length;
  }
  return Buffer.concat(take, n);
}

export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private lineNo = 0;
  private dropping = false;
  private droppedBytes = 0;
  private first = true;
  private head: Buffer | undefined;
  private readonly max: number;
  private readonly onTooLong: (line: number, bytes: number, head: Buffer) => void;
  /** The first bytes of a line being dropped. */
  private dropHead: Buffer = Buffer.alloc(0);
  /** Bytes seen so far. */
  bytes = 0;

  constructor(options: LineSplitterOptions = {}) {
    const max = options.maxLineBytes ?? 64 * 1024 * 1024;
    if (!Number.isSafeInteger(max) || max < 1) throw new BatchError('E_BAD_OPTION', `maxLineBytes must be a positive integer, got ${String(max)}`);
    this.max = max;
    this.onTooLong = options.onTooLong ?? (() => {});
  }

  /** Lines seen so far (blank ones included). */
  get lines(): number {
    return this.lineNo;
  }

  push(chunk: Buffer, onLine: LineHandler): void {
    this.bytes += chunk.length;
    let start = 0;
    if (this.first) {
      // A BOM may arrive cut across the first chunks: hold up to 3 bytes until it can be told.
      if (this.head) chunk = Buffer.concat([this.head, chunk]);
      this.head = undefined;
      if (chunk.length < 3 && BOM.subarray(0, chunk.length).equals(chunk)) {
        if (chunk.length > 0) this.head = Buffer.from(chunk);
        return;
      }
      this.first = false;
      if (chunk.length >= 3 && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) start = 3;
    }
    const len = chunk.length;
    while (start < len) {
      const nl = chunk.indexOf(10, start);
      if (this.dropping) {
        if (nl < 0) {
          this.droppedBytes += len - start;
          return;
        }
        this.droppedBytes += nl - start;
        this.lineNo++;
        this.onTooLong(this.lineNo, this.droppedBytes, this.dropHead);
        this.dropping = false;
        this.droppedBytes = 0;
        start = nl + 1;
        continue;
      }
      if (nl < 0) {
        if (this.pendingBytes + (len - start) > this.max) {
          this.dropping = true;
          this.droppedBytes = this.pendingBytes + (len - start);
          this.dropHead = headOf([...this.pending, chunk.subarray(start)]);
          this.pending = [];
          this.pendingBytes = 0;
        } else {
          // a copy: the caller may reuse the chunk's memory once push returns
          this.pending.push(Buffer.from(chunk.subarray(start)));
          this.pendingBytes += len - start;
        }
        return;
      }
      this.lineNo++;
      if (this.pendingBytes > 0) {
        if (this.pendingBytes + (nl - start) > this.max) {
          this.onTooLong(this.lineNo, this.pendingBytes + (nl - start), headOf([...this.pending, chunk.subarray(start, nl)]));
          this.pending = [];
          this.pendingBytes = 0;
        } else {
          this.pending.push(chunk.subarray(start, nl));
          const joined = Buffer.concat(this.pending, this.pendingBytes + (nl - start));
          this.pending = [];
          this.pendingBytes = 0;
          this.emit(joined, 0, joined.length, onLine, true);
        }
      } else if (nl - start > this.max) {
        this.onTooLong(this.lineNo, nl - start, Buffer.from(chunk.subarray(start, Math.min(nl, start + 256))));
      } else {
        this.emit(chunk, start, nl, onLine, true);
      }
      start = nl + 1;
    }
  }

  end(onLine: LineHandler): void {
    if (this.head) {
      // a file of one to two bytes that look like the start of a BOM
      const head = this.head;
      this.head = undefined;
      this.first = false;
      this.bytes -= head.length;
      this.push(head, onLine);
    }
    if (this.dropping) {
      this.lineNo++;
      this.onTooLong(this.lineNo, this.droppedBytes, this.dropHead);
      this.dropping = false;
      return;
    }
    if (this.pendingBytes > 0) {
      const joined = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
      this.pending = [];
      this.pendingBytes = 0;
      this.lineNo++;
      this.emit(joined, 0, joined.length, onLine, false);
    }
  }

  private emit(buf: Buffer, start: number, end: number, onLine: LineHandler, complete: boolean): void {
    if (end > start && buf[end - 1] === 13) end--;
    // blank lines (spaces, tabs) carry nothing
    let s = start;
    while (s < end && (buf[s] === 32 || buf[s] === 9)) s++;
    if (s === end) return;
    onLine(buf, start, end, this.lineNo, complete);
  }
}
