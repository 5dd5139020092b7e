/**
 * JSON Lines: one object per line. Lines are split on `\n` only (a trailing `\r` is stripped;
 * U+2028/U+2029 are never line breaks), with a Buffer-level `indexOf(10)`. Blank lines are skipped.
 * A line over `maxLineBytes` is skipped without being held (E_ROW_TOO_LARGE); a line that is not
 * JSON is E_BAD_JSON (line, column and a short reason, never the line itself); a JSON value that
 * is not an object is E_NOT_AN_OBJECT; bytes that are not UTF-8 are E_INVALID_UTF8. A top-level
 * number a double would change (a 20-digit call id, `1.0`) is read as its text (json-numbers.ts).
 *
 * `bytes` counts the input bytes since the previous item's end, so blank lines before a line count
 * toward it and the bytes of all items add up to the input's size (less a BOM).
 */
import { isUtf8 } from 'node:buffer';
import { Transform } from 'node:stream';
import { BatchError } from '../errors.js';
import { reject, type Reject, type SourceItem } from '../records/types.js';
import { isJsonObject, jsonParseReason, jsonTypeName } from './json-error.js';
import { parseJsonKeepingNumbers } from './json-numbers.js';

export interface JsonlOptions {
  /** The input's name as the user gave it, put in every item's `file` (default `-`). */
  file?: string;
  /** A line longer than this many bytes is rejected without being held (default 1 MiB). */
  maxLineBytes?: number;
  /** The line the input's first byte is on (default 1); a BOM is only looked for on line 1. */
  firstLine?: number;
}

/** Check and default the options once; a bad option throws E_BAD_OPTION naming it. */
export function normalizeJsonlOptions(options: JsonlOptions = {}): Required<JsonlOptions> {
  const file = options.file ?? '-';
  const maxLineBytes = options.maxLineBytes ?? 1 << 20;
  const firstLine = options.firstLine ?? 1;
  for (const [name, v] of [['maxLineBytes', maxLineBytes], ['firstLine', firstLine]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new BatchError('E_BAD_OPTION', `${name} ${String(v)} must be a positive integer`);
  }
  return { file, maxLineBytes, firstLine };
}

/** Splits JSONL bytes into lines and parses them. Usable without a stream: `push`, then `end`. */
export class JsonlDecoder {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private line = 1;
  private carry = 0;
  private discarding = false;
  private discardBytes = 0;
  private first = true;
  private readonly file: string;
  private readonly max: number;

  constructor(options: JsonlOptions, private readonly emit: (item: SourceItem | Reject) => void) {
    const o = normalizeJsonlOptions(options);
    this.file = o.file;
    this.max = o.maxLineBytes;
    this.line = o.firstLine;
    this.first = o.firstLine === 1;
  }

  /** Bytes consumed but not yet attributed to an item (blank lines since the last one). */
  get unattributedBytes(): number {
    return this.carry + this.pendingBytes;
  }

  push(chunk: Buffer): void {
    let start = 0;
    const len = chunk.length;
    while (start < len) {
      const nl = chunk.indexOf(10, start);
      const end = nl < 0 ? len : nl;
      if (this.discarding) {
        this.discardBytes += end - start + (nl < 0 ? 0 : 1);
        if (nl < 0) return;
        this.tooLarge();
        start = nl + 1;
        continue;
      }
      if (nl < 0) {
        // A CR before the LF (and a BOM on the first line) are not part of the line: allow for them,
        // so a line gets the same answer wherever the chunks are cut.
        if (this.pendingBytes + (len - start) > this.max + (this.first ? 4 : 1)) {
          this.discarding = true;
          this.discardBytes = this.pendingBytes + (len - start);
          if (this.first) {
            this.first = false;
            if (this.startsWithBom(chunk, start)) this.discardBytes -= 3;
          }
          this.pending = [];
          this.pendingBytes = 0;
        } else {
          this.pending.push(chunk.subarray(start));
          this.pendingBytes += len - start;
        }
        return;
      }
      let buf = chunk.subarray(start, nl);
      if (this.pendingBytes > 0) {
        this.pending.push(buf);
        buf = Buffer.concat(this.pending, this.pendingBytes + buf.length);
        this.pending = [];
        this.pendingBytes = 0;
      }
      this.handle(buf, buf.length + 1);
      start = nl + 1;
    }
  }

  end(): void {
    if (this.discarding) {
      this.tooLarge();
      return;
    }
    if (this.pendingBytes > 0) {
      const buf = Buffer.concat(this.pending, this.pendingBytes);
      this.pending = [];
      this.pendingBytes = 0;
      this.handle(buf, buf.length);
    }
  }

  /** Whether the pending bytes, then chunk[start..], begin with a UTF-8 BOM. */
  private startsWithBom(chunk: Buffer, start: number): boolean {
    const head: number[] = [];
    for (const b of [...this.pending, chunk.subarray(start)]) {
      for (let i = 0; i < b.length && head.length < 3; i++) head.push(b[i]!);
      if (head.length === 3) break;
    }
    return head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf;
  }

  private tooLarge(): void {
    const bytes = this.discardBytes;
    this.emit(reject({ file: this.file, line: this.line }, 'decode', 'E_ROW_TOO_LARGE',
      `the line is ${bytes} bytes, over the limit of ${this.max} (raise maxLineBytes if lines this long are expected)`,
      { bytes: this.carry + bytes }));
    this.carry = 0;
    this.discarding = false;
    this.discardBytes = 0;
    this.line++;
  }

  /** One line without its LF; `bytes` includes the LF when there was one. */
  private handle(buf: Buffer, bytes: number): void {
    const line = this.line++;
    let s = 0;
    let e = buf.length;
    if (this.first) {
      this.first = false;
      if (e >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) {
        s = 3;
        bytes -= 3;
      }
    }
    if (e > s && buf[e - 1] === 13) e--;
    const total = this.carry + bytes;
    if (e - s > this.max) {
      this.emit(reject({ file: this.file, line }, 'decode', 'E_ROW_TOO_LARGE',
        `the line is ${e - s} bytes, over the limit of ${this.max} (raise maxLineBytes if lines this long are expected)`, { bytes: total }));
      this.carry = 0;
      return;
    }
    const body = buf.subarray(s, e);
    if (!isUtf8(body)) {
      this.emit(reject({ file: this.file, line }, 'decode', 'E_INVALID_UTF8', 'the line is not valid UTF-8 (convert the file to UTF-8, e.g. with iconv)', { bytes: total }));
      this.carry = 0;
      return;
    }
    const text = body.toString('utf8');
    if (isBlank(text)) {
      this.carry += bytes;
      return;
    }
    this.carry = 0;
    let value: unknown;
    try {
      value = parseJsonKeepingNumbers(text);
    } catch (error) {
      const { reason } = jsonParseReason(error, text, line);
      this.emit(reject({ file: this.file, line }, 'decode', 'E_BAD_JSON', `the line is not valid JSON: ${reason.replace(/ at line \d+, column/, ' at column')}`, { bytes: total }));
      return;
    }
    if (!isJsonObject(value)) {
      this.emit(reject({ file: this.file, line }, 'decode', 'E_NOT_AN_OBJECT', `the line holds ${jsonTypeName(value)}, not a JSON object (one call per line)`, { bytes: total }));
      return;
    }
    this.emit({ kind: 'item', file: this.file, line, value, bytes: total });
  }
}

function isBlank(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 13 && c !== 10) return false;
  }
  return true;
}

/** A Transform from JSONL bytes to `SourceItem | Reject` (object mode on the readable side). */
export function jsonlRows(options: JsonlOptions = {}): Transform {
  let push: (item: SourceItem | Reject) => void = () => {};
  const decoder = new JsonlDecoder(options, (item) => push(item));
  return new Transform({
    writableObjectMode: false,
    readableObjectMode: true,
    readableHighWaterMark: 64,
    transform(chunk: Buffer, _enc, callback) {
      push = (item) => this.push(item);
      decoder.push(chunk);
      callback();
    },
    flush(callback) {
      push = (item) => this.push(item);
      decoder.end();
      callback();
    },
  });
}
