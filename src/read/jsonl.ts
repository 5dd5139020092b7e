/**
 * JSON Lines: one object per line. Lines come from the line splitter (src/core/lines.ts): split on
 * `\n` only (a trailing `\r` is stripped; U+2028/U+2029 are never line breaks), blank lines skipped,
 * a BOM dropped on line 1 only. A line over `maxLineBytes` (its line end not counted) is skipped
 * without being held (E_ROW_TOO_LARGE); a line that is not JSON is E_BAD_JSON (line, column and
 * a short reason, never the line itself); a JSON value that is not an object is E_NOT_AN_OBJECT;
 * bytes that are not UTF-8 are E_INVALID_UTF8. A top-level number a double would change (a
 * 20-digit call id, `1.0`) is read as its text (json-numbers.ts).
 *
 * `bytes` counts the input bytes since the previous item's end, so blank lines before a line count
 * toward it and the bytes of all items add up to the input's size (less a BOM).
 */
import { isUtf8 } from 'node:buffer';
import type { Transform } from 'node:stream';
import { LineSplitter, type LineHandler } from '../core/lines.js';
import { decoderStream } from '../core/step.js';
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
  private readonly lines: LineSplitter;
  private readonly onLine: LineHandler;
  private readonly file: string;
  private readonly max: number;
  /** Input bytes up to the end of the last item or reject. */
  private attributed = 0;

  constructor(options: JsonlOptions, private readonly emit: (item: SourceItem | Reject) => void) {
    const o = normalizeJsonlOptions(options);
    this.file = o.file;
    this.max = o.maxLineBytes;
    this.lines = new LineSplitter({ maxLineBytes: o.maxLineBytes, firstLine: o.firstLine, onTooLong: (line, bytes) => this.tooLarge(line, bytes) });
    this.onLine = (buf, start, end, line) => this.handle(buf, start, end, line);
  }

  /** Bytes consumed but not yet attributed to an item (blank lines since the last one). */
  get unattributedBytes(): number {
    return this.lines.bytes - this.attributed;
  }

  push(chunk: Buffer): void {
    this.lines.push(chunk, this.onLine);
  }

  end(): void {
    this.lines.end(this.onLine);
  }

  /** The bytes of the line just read, with the blank lines before it. */
  private take(): number {
    const bytes = this.lines.consumed - this.attributed;
    this.attributed = this.lines.consumed;
    return bytes;
  }

  private tooLarge(line: number, size: number): void {
    this.emit(reject({ file: this.file, line }, 'decode', 'E_ROW_TOO_LARGE',
      `the line is ${size} bytes, over the limit of ${this.max} (raise maxLineBytes if lines this long are expected)`, { bytes: this.take() }));
  }

  private handle(buf: Buffer, start: number, end: number, line: number): void {
    const bytes = this.take();
    const body = buf.subarray(start, end);
    if (!isUtf8(body)) {
      this.emit(reject({ file: this.file, line }, 'decode', 'E_INVALID_UTF8', 'the line is not valid UTF-8 (convert the file to UTF-8, e.g. with iconv)', { bytes }));
      return;
    }
    const text = body.toString('utf8');
    let value: unknown;
    try {
      value = parseJsonKeepingNumbers(text);
    } catch (error) {
      const { reason } = jsonParseReason(error, text, line);
      this.emit(reject({ file: this.file, line }, 'decode', 'E_BAD_JSON', `the line is not valid JSON: ${reason.replace(/ at line \d+, column/, ' at column')}`, { bytes }));
      return;
    }
    if (!isJsonObject(value)) {
      this.emit(reject({ file: this.file, line }, 'decode', 'E_NOT_AN_OBJECT', `the line holds ${jsonTypeName(value)}, not a JSON object (one call per line)`, { bytes }));
      return;
    }
    this.emit({ kind: 'item', file: this.file, line, value, bytes });
  }
}

/** A Transform from JSONL bytes to `SourceItem | Reject` (object mode on the readable side). */
export function jsonlRows(options: JsonlOptions = {}): Transform {
  return decoderStream((emit) => new JsonlDecoder(options, emit), { file: options.file });
}
