/**
 * A JSON document. A top-level array streams one item per element; anything else (an object: one
 * call per file, as Transcribe and Contact Lens export) is one item for the whole document.
 *
 * Arrays: a small byte-level splitter finds each element's bytes (following strings with
 * `Buffer.indexOf` and nesting with a byte loop outside them) and `JSON.parse`s each element on its
 * own. Compared with stream-json's token stream this gives each element the line it starts on and
 * its bytes, a per-element reject (a bad element does not end the file), a size bound that skips an
 * oversized element without holding it (`maxElementBytes`, E_ROW_TOO_LARGE), and native parsing
 * speed. A broken array structure (a missing comma, text after the closing `]`, an array that never
 * closes) ends the file with one E_BAD_JSON reject naming the line; the elements before it stay.
 * Elements that are not objects are E_NOT_AN_OBJECT. `bytes` is the element's own bytes. In an
 * element or a document, a top-level number a double would change (a 20-digit call id, `1.0`) is
 * read as its text (json-numbers.ts).
 *
 * Documents: buffered up to `maxDocumentBytes` (past it, only counted: one E_ROW_TOO_LARGE for the
 * file), then parsed; invalid JSON is one E_BAD_JSON for the file with the line and column; `line`
 * is 1 and `bytes` the file's size (less a BOM); an error names the line it is on.
 */
import { isUtf8 } from 'node:buffer';
import type { Transform } from 'node:stream';
import { countLf } from '../core/lines.js';
import { decoderStream } from '../core/step.js';
import { BatchError } from '../errors.js';
import { reject, type Reject, type SourceItem } from '../records/types.js';
import { isJsonObject, jsonParseReason, jsonTypeName } from './json-error.js';
import { parseJsonKeepingNumbers } from './json-numbers.js';
import { DocumentBuffer, documentProblem } from './text.js';

export interface JsonOptions {
  /** The input's name as the user gave it, put in every item's `file` (default `-`). */
  file?: string;
  /** A single-document file larger than this is rejected (default 64 MiB). */
  maxDocumentBytes?: number;
  /** An array element larger than this is rejected without being held (default 16 MiB). */
  maxElementBytes?: number;
}

/** Check and default the options once; a bad option throws E_BAD_OPTION naming it. */
export function normalizeJsonOptions(options: JsonOptions = {}): Required<JsonOptions> {
  const file = options.file ?? '-';
  const maxDocumentBytes = options.maxDocumentBytes ?? 64 << 20;
  const maxElementBytes = options.maxElementBytes ?? 16 << 20;
  for (const [name, v] of [['maxDocumentBytes', maxDocumentBytes], ['maxElementBytes', maxElementBytes]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new BatchError('E_BAD_OPTION', `${name} ${String(v)} must be a positive integer`);
  }
  return { file, maxDocumentBytes, maxElementBytes };
}

const enum Phase {
  Start,
  /** Inside the top-level array, before an element (or `]`). */
  BeforeElement,
  /** Inside the top-level array, after an element: `,` or `]`. */
  AfterElement,
  Element,
  AfterArray,
  Document,
  Failed,
}

/** Splits and parses a JSON document. Usable without a stream: `push`, then `end`. */
export class JsonDecoder {
  private readonly o: Required<JsonOptions>;
  private phase = Phase.Start;
  private line = 1;
  /** Whether an element may come without a comma (just after `[`). */
  private firstElement = true;
  // The element being read.
  private parts: Buffer[] = [];
  private elBytes = 0;
  private elLine = 1;
  private depth = 0;
  private inString = false;
  private escapePending = false;
  private discarding = false;
  private doc: DocumentBuffer | null = null;
  private sawArray = false;
  /** White space before the document or array (a document's bytes include it; a BOM is left out). */
  private spaceBytes = 0;

  constructor(options: JsonOptions, private readonly emit: (item: SourceItem | Reject) => void) {
    this.o = normalizeJsonOptions(options);
  }

  push(chunk: Buffer): void {
    const len = chunk.length;
    let i = 0;
    while (i < len) {
      switch (this.phase) {
        case Phase.Failed:
          return;
        case Phase.Document:
          this.doc!.push(i === 0 ? chunk : chunk.subarray(i));
          return;
        case Phase.Start: {
          const c = chunk[i]!;
          if (c === 10) this.line++;
          if (isSpace(c) || c === 0xef || c === 0xbb || c === 0xbf) {
            if (isSpace(c)) this.spaceBytes++;
            i++;
            continue;
          }
          if (c === 0x5b /* [ */) {
            this.phase = Phase.BeforeElement;
            this.sawArray = true;
            i++;
            continue;
          }
          this.phase = Phase.Document;
          this.doc = new DocumentBuffer(this.o.maxDocumentBytes);
          continue;
        }
        case Phase.BeforeElement:
        case Phase.AfterElement:
        case Phase.AfterArray: {
          const c = chunk[i]!;
          if (isSpace(c)) {
            if (c === 10) this.line++;
            i++;
            continue;
          }
          if (this.phase === Phase.AfterArray) return this.fail('there is more text after the closing ] of the array');
          if (c === 0x5d /* ] */) {
            if (this.phase === Phase.BeforeElement && !this.firstElement) return this.fail('a comma is followed by ] (a trailing comma)');
            this.phase = Phase.AfterArray;
            i++;
            continue;
          }
          if (c === 0x2c /* , */) {
            if (this.phase === Phase.BeforeElement) return this.fail('a comma where an element should be');
            this.phase = Phase.BeforeElement;
            this.firstElement = false;
            i++;
            continue;
          }
          if (this.phase === Phase.AfterElement) return this.fail('a comma is missing between two elements');
          this.phase = Phase.Element;
          this.elLine = this.line;
          this.elBytes = 0;
          this.parts = [];
          this.depth = 0;
          this.inString = false;
          this.escapePending = false;
          this.discarding = false;
          i = this.scanElement(chunk, i);
          continue;
        }
        case Phase.Element:
          i = this.scanElement(chunk, i);
          continue;
      }
    }
  }

  end(): void {
    const file = this.o.file;
    switch (this.phase) {
      case Phase.Start:
        this.emit(reject({ file, line: 1 }, 'decode', 'E_EMPTY_INPUT', 'the input is empty (or only white space): no JSON in it', { bytes: this.spaceBytes }));
        return;
      case Phase.Document:
        this.endDocument();
        return;
      case Phase.Element:
        this.fail(`the array is not closed: the input ends inside the element that starts on line ${this.elLine}`);
        return;
      case Phase.BeforeElement:
      case Phase.AfterElement:
        this.fail('the array is not closed: the input ends before its ]');
        return;
      default:
        return;
    }
  }

  /** Scans element bytes from i; returns where it stopped (the chunk's end, or after the element). */
  private scanElement(buf: Buffer, i: number): number {
    const len = buf.length;
    const start = i;
    let depth = this.depth;
    let end = -1; // element end (exclusive) when found
    let next = -1; // where to continue after the element
    scan: while (i < len) {
      if (this.inString) {
        if (this.escapePending) {
          this.escapePending = false;
          i++;
          continue;
        }
        const q = buf.indexOf(34, i);
        const stop = q < 0 ? len : q;
        let bs = 0;
        for (let k = stop - 1; k >= i && buf[k] === 92; k--) bs++;
        this.line += countLf(buf, i, stop);
        if (q < 0) {
          this.escapePending = bs % 2 === 1;
          i = len;
          break;
        }
        i = q + 1;
        if (bs % 2 === 0) this.inString = false;
        continue;
      }
      const c = buf[i]!;
      switch (c) {
        case 34:
          this.inString = true;
          i++;
          continue;
        case 0x7b:
        case 0x5b:
          depth++;
          i++;
          continue;
        case 0x7d:
        case 0x5d:
          if (depth === 0) {
            // `]` ending the array after a scalar element.
            end = i;
            next = i;
            break scan;
          }
          depth--;
          i++;
          if (depth === 0) {
            end = i;
            next = i;
            break scan;
          }
          continue;
        case 0x2c:
          if (depth === 0) {
            end = i;
            next = i;
            break scan;
          }
          i++;
          continue;
        case 10:
          this.line++;
          i++;
          continue;
        default:
          i++;
      }
    }
    this.depth = depth;
    const stopAt = end < 0 ? len : end;
    this.elBytes += stopAt - start;
    if (!this.discarding) {
      if (this.elBytes > this.o.maxElementBytes) {
        this.discarding = true;
        this.parts = [];
      } else if (stopAt > start) this.parts.push(buf.subarray(start, stopAt));
    }
    if (end < 0) return len;
    this.finishElement();
    this.phase = Phase.AfterElement;
    return next;
  }

  private finishElement(): void {
    const file = this.o.file;
    const line = this.elLine;
    const bytes = this.elBytes;
    if (this.discarding) {
      this.emit(reject({ file, line }, 'decode', 'E_ROW_TOO_LARGE',
        `the array element is ${bytes} bytes, over the limit of ${this.o.maxElementBytes} (raise maxElementBytes if elements this large are expected)`, { bytes }));
      this.discarding = false;
      return;
    }
    const body = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, bytes);
    this.parts = [];
    this.emitParsed(body, line, bytes, 'the array element');
  }

  private endDocument(): void {
    const file = this.o.file;
    const doc = this.doc!;
    const problem = documentProblem(file, doc, this.o.maxDocumentBytes);
    if (problem) {
      problem.bytes = (problem.bytes ?? 0) + this.spaceBytes;
      return this.emit(problem);
    }
    // The item is line 1 (one call per file); a parse error names the line in the file.
    this.emitParsed(doc.take(), 1, doc.bytes + this.spaceBytes, 'the document', this.line);
  }

  private emitParsed(body: Buffer, line: number, bytes: number, what: string, textLine = line): void {
    const file = this.o.file;
    if (!isUtf8(body)) {
      this.emit(reject({ file, line }, 'decode', 'E_INVALID_UTF8', `${what} is not valid UTF-8 (convert the file to UTF-8, e.g. with iconv)`, { bytes }));
      return;
    }
    const text = body.toString('utf8');
    let value: unknown;
    try {
      value = parseJsonKeepingNumbers(text);
    } catch (error) {
      const r = jsonParseReason(error, text, textLine);
      this.emit(reject({ file, line: r.line }, 'decode', 'E_BAD_JSON', `${what} is not valid JSON: ${r.reason}`, { bytes }));
      return;
    }
    if (!isJsonObject(value)) {
      this.emit(reject({ file, line }, 'decode', 'E_NOT_AN_OBJECT', `${what} is ${jsonTypeName(value)}, not a JSON object (one call per ${what === 'the document' ? 'file, or an array of calls' : 'element'})`, { bytes }));
      return;
    }
    this.emit({ kind: 'item', file, line, value, bytes });
  }

  private fail(reason: string): void {
    this.phase = Phase.Failed;
    this.parts = [];
    this.emit(reject({ file: this.o.file, line: this.line }, 'decode', 'E_BAD_JSON', `${reason} (line ${this.line}); the rest of the file was skipped`));
  }

  /** True once the input was seen to be an array. */
  get isArray(): boolean {
    return this.sawArray;
  }
}

function isSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

/** A Transform from JSON bytes to `SourceItem | Reject` (object mode on the readable side). */
export function jsonItems(options: JsonOptions = {}): Transform {
  return decoderStream((emit) => new JsonDecoder(options, emit), { file: options.file });
}
