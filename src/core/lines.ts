/**
 * Lines of a byte stream: the one line splitter (JSONL inputs, Bedrock's output and the lineage
 * files collect reads, the local service's inputs) and `countLf`.
 *
 * A line ends at `\n` only, found with a Buffer-level `indexOf(10)`: U+2028, U+2029 and U+0085 in
 * model text and a lone `\r` are never line breaks (docs/bedrock.md §6.4). A `\r` before the `\n`
 * is not part of the line, nor is a UTF-8 BOM at the start of the stream. Blank lines (spaces, tabs
 * and `\r`s only: JSON white space) are skipped unless asked for. The last line may lack its `\n`;
 * it is handed over with `complete: false`, so a caller can tell a truncated file.
 *
 * Lines are handed over as (buffer, start, end) without copying, except a line that spans chunks,
 * which is joined once. Nothing of a chunk is kept past `push` but copies, so a caller may reuse
 * its buffers. A line is at most `maxLineBytes`, its line end and a BOM not counted; what a longer
 * one does is the `overflow` policy: `skip` drops its bytes up to the next `\n` without holding
 * them and reports it to `onTooLong`, then goes on; `error` throws a `LineTooLongError` as soon as
 * the line is known to be over.
 */
import { BatchError } from '../errors.js';

const LF = 10;
const CR = 13;
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
/** Bytes of a skipped line kept to report it (enough to find its recordId). */
const HEAD_BYTES = 256;
/** `countLf` loops over a range this short (most JSON strings) rather than make a view for `indexOf`. */
const SHORT_RANGE = 64;

/** One line, `buf[start, end)`, without its line end; `line` is 1-based; `complete` is false for a last line with no `\n`. */
export type LineHandler = (buf: Buffer, start: number, end: number, line: number, complete: boolean) => void;

export interface LineSplitterOptions {
  /** Longest line held, in bytes, without its line end (default 64 MiB). */
  maxLineBytes?: number;
  /** What a longer line does: `skip` (default) or `error` (see the module comment). */
  overflow?: 'skip' | 'error';
  /** With `skip`: called for each line over the limit, with its number, size and first bytes (up to 256). */
  onTooLong?: (line: number, bytes: number, head: Buffer) => void;
  /** Hand over blank lines too (default false). */
  blankLines?: boolean;
  /** The number of the input's first line (default 1): for input that starts in the middle of a file. */
  firstLine?: number;
  /** Drop a UTF-8 BOM at the start (default: when `firstLine` is 1). */
  bom?: boolean;
  /** The input's name, for a `LineTooLongError`. */
  file?: string;
}

/** A line over the limit under the `error` policy. */
export class LineTooLongError extends Error {
  constructor(
    readonly lineNumber: number,
    readonly limit: number,
    readonly file?: string,
  ) {
    super(`${file ? `${file}, ` : ''}line ${lineNumber} is longer than ${limit} bytes`);
    this.name = 'LineTooLongError';
  }
}

export class LineSplitter {
  private readonly max: number;
  private readonly overflow: 'skip' | 'error';
  private readonly onTooLong: (line: number, bytes: number, head: Buffer) => void;
  private readonly blankLines: boolean;
  private readonly file: string | undefined;
  /** The number of the line being read. */
  private lineNo: number;
  /** The start of the current line, when it began in an earlier chunk (copies). */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Skipping a line over the limit up to its `\n`: its size so far, its first bytes, whether its last byte was a CR. */
  private dropping = false;
  private droppedBytes = 0;
  private dropHead: Buffer = Buffer.alloc(0);
  private dropCr = false;
  /** Whether a BOM may still come; `bomHead` holds the first one or two bytes until it can be told. */
  private bomPending: boolean;
  private bomHead: Buffer | undefined;
  private received = 0;
  private lineEnd = 0;

  constructor(options: LineSplitterOptions = {}) {
    const max = options.maxLineBytes ?? 64 * 1024 * 1024;
    if (!Number.isSafeInteger(max) || max < 1) throw new BatchError('E_BAD_OPTION', `maxLineBytes must be a positive integer, got ${String(max)}`);
    const firstLine = options.firstLine ?? 1;
    this.max = max;
    this.overflow = options.overflow ?? 'skip';
    this.onTooLong = options.onTooLong ?? (() => {});
    this.blankLines = options.blankLines ?? false;
    this.file = options.file;
    this.lineNo = firstLine;
    this.bomPending = options.bom ?? firstLine === 1;
  }

  /** Input bytes seen so far, less a BOM. */
  get bytes(): number {
    return this.received;
  }

  /** Input bytes up to the end of the last line handed over or skipped (blank lines before it and its line end included), less a BOM. */
  get consumed(): number {
    return this.lineEnd;
  }

  push(chunk: Buffer, onLine: LineHandler): void {
    this.received += chunk.length;
    let start = 0;
    if (this.bomPending) {
      // A BOM may arrive cut across the first chunks: hold up to 2 bytes until it can be told.
      if (this.bomHead) chunk = Buffer.concat([this.bomHead, chunk]);
      this.bomHead = undefined;
      if (chunk.length < 3 && BOM.subarray(0, chunk.length).equals(chunk)) {
        if (chunk.length > 0) this.bomHead = Buffer.from(chunk);
        return;
      }
      this.bomPending = false;
      if (chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) {
        start = 3;
        this.received -= 3;
      }
    }
    const len = chunk.length;
    while (start < len) {
      const nl = chunk.indexOf(LF, start);
      if (nl < 0) {
        this.hold(chunk, start);
        return;
      }
      this.lineEnd = this.received - (len - nl - 1);
      if (this.dropping) {
        const bytes = this.droppedBytes + (nl - start) - (this.crBefore(chunk, start, nl) ? 1 : 0);
        this.dropping = false;
        this.tooLong(bytes, this.dropHead);
      } else if (this.pendingBytes > 0) {
        const size = this.pendingBytes + (nl - start);
        if (size > this.max + 1) {
          // over whether or not it ends in a CR: not joined
          this.tooLong(size - (this.crBefore(chunk, start, nl) ? 1 : 0), headOf([...this.pending, chunk.subarray(start, nl)]));
        } else {
          this.pending.push(chunk.subarray(start, nl));
          const joined = Buffer.concat(this.pending, size);
          this.line(joined, 0, size, true, onLine);
        }
        this.pending = [];
        this.pendingBytes = 0;
      } else {
        this.line(chunk, start, nl, true, onLine);
      }
      this.lineNo++;
      start = nl + 1;
    }
  }

  end(onLine: LineHandler): void {
    if (this.bomHead) {
      // an input of one or two bytes that look like the start of a BOM
      const head = this.bomHead;
      this.bomHead = undefined;
      this.bomPending = false;
      this.received -= head.length;
      this.push(head, onLine);
    }
    this.lineEnd = this.received;
    if (this.dropping) {
      this.dropping = false;
      this.tooLong(this.droppedBytes - (this.dropCr ? 1 : 0), this.dropHead);
      this.lineNo++;
    } else if (this.pendingBytes > 0) {
      const joined = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
      this.pending = [];
      this.pendingBytes = 0;
      this.line(joined, 0, joined.length, false, onLine);
      this.lineNo++;
    }
  }

  /** Whether the byte before the `\n` at `nl` (in this chunk, or the last one held or dropped) is a CR. */
  private crBefore(chunk: Buffer, start: number, nl: number): boolean {
    if (nl > start) return chunk[nl - 1] === CR;
    if (this.dropping) return this.dropCr;
    const last = this.pending[this.pending.length - 1];
    return last !== undefined && last[last.length - 1] === CR;
  }

  /** The rest of a chunk, with no `\n` in it: held (a copy), or counted when the line is over. */
  private hold(chunk: Buffer, start: number): void {
    const rest = chunk.length - start;
    if (this.dropping) {
      this.droppedBytes += rest;
      this.dropCr = chunk[chunk.length - 1] === CR;
      return;
    }
    // over even if its last byte is the CR of its line end
    if (this.pendingBytes + rest > this.max + 1) {
      if (this.overflow === 'error') throw new LineTooLongError(this.lineNo, this.max, this.file);
      this.dropping = true;
      this.droppedBytes = this.pendingBytes + rest;
      this.dropHead = headOf([...this.pending, chunk.subarray(start)]);
      this.dropCr = chunk[chunk.length - 1] === CR;
      this.pending = [];
      this.pendingBytes = 0;
      return;
    }
    // a copy: the caller may reuse the chunk's memory once push returns
    this.pending.push(Buffer.from(chunk.subarray(start)));
    this.pendingBytes += rest;
  }

  /** A whole line, `buf[start, end)` without its `\n`. */
  private line(buf: Buffer, start: number, end: number, complete: boolean, onLine: LineHandler): void {
    if (end > start && buf[end - 1] === CR) end--;
    if (end - start > this.max) return this.tooLong(end - start, headOf([buf.subarray(start, end)]));
    if (!this.blankLines && isBlank(buf, start, end)) return;
    onLine(buf, start, end, this.lineNo, complete);
  }

  private tooLong(bytes: number, head: Buffer): void {
    if (this.overflow === 'error') throw new LineTooLongError(this.lineNo, this.max, this.file);
    this.onTooLong(this.lineNo, bytes, head);
  }
}

/** Whether `buf[start, end)` is JSON white space only (spaces, tabs, CRs). */
function isBlank(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = buf[i];
    if (c !== 32 && c !== 9 && c !== CR) return false;
  }
  return true;
}

/** A copy of the first bytes of some pieces. */
function headOf(pieces: Buffer[]): Buffer {
  const take: Buffer[] = [];
  let n = 0;
  for (const p of pieces) {
    if (n >= HEAD_BYTES) break;
    const part = p.subarray(0, HEAD_BYTES - n);
    take.push(part);
    n += part.length;
  }
  return Buffer.concat(take, n);
}

/** The number of `\n` bytes in `buf[start, end)`. */
export function countLf(buf: Buffer, start = 0, end = buf.length): number {
  let n = 0;
  if (end - start <= SHORT_RANGE) {
    for (let i = start; i < end; i++) if (buf[i] === LF) n++;
    return n;
  }
  // `indexOf` on a view that ends at `end`, so that a range without a `\n` is not searched past it
  const view = end === buf.length ? buf : buf.subarray(0, end);
  for (let i = view.indexOf(LF, start); i >= 0; i = view.indexOf(LF, i + 1)) n++;
  return n;
}
