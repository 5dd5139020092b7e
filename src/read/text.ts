/**
 * A whole file as one item whose value is its text (plain-text transcripts, one call per file).
 * Bounded by `maxDocumentBytes`: a larger file is one E_ROW_TOO_LARGE reject, and its bytes are
 * not held past the limit. A BOM is stripped; bytes that are not UTF-8 are E_INVALID_UTF8; an empty
 * file is E_EMPTY_INPUT (so it is counted, not silently lost).
 */
import { isUtf8 } from 'node:buffer';
import type { Transform } from 'node:stream';
import { decoderStream } from '../core/step.js';
import { BatchError } from '../errors.js';
import { reject, type Reject, type SourceItem } from '../records/types.js';

export interface TextOptions {
  /** The input's name as the user gave it, put in the item's `file` (default `-`). */
  file?: string;
  /** A larger document is rejected (default 64 MiB). */
  maxDocumentBytes?: number;
}

/** Check and default the options once; a bad option throws E_BAD_OPTION naming it. */
export function normalizeDocumentOptions(options: TextOptions = {}): Required<TextOptions> {
  const file = options.file ?? '-';
  const maxDocumentBytes = options.maxDocumentBytes ?? 64 << 20;
  if (!Number.isInteger(maxDocumentBytes) || maxDocumentBytes < 1) {
    throw new BatchError('E_BAD_OPTION', `maxDocumentBytes ${String(maxDocumentBytes)} must be a positive integer`);
  }
  return { file, maxDocumentBytes };
}

/** Collects a whole document up to a limit; past it, only counts bytes. */
export class DocumentBuffer {
  private parts: Buffer[] = [];
  bytes = 0;
  get over(): boolean {
    return this.bytes > this.max;
  }
  constructor(private readonly max: number) {}
  push(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.bytes > this.max) this.parts = [];
    else this.parts.push(chunk);
  }
  /** The whole document, BOM stripped. Only when not over. */
  take(): Buffer {
    const b = Buffer.concat(this.parts, this.bytes);
    this.parts = [];
    return b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? b.subarray(3) : b;
  }
}

/** The document-level rejects shared by text and JSON documents, or undefined when it fits. */
export function documentProblem(file: string, doc: DocumentBuffer, max: number): Reject | undefined {
  if (doc.over) {
    return reject({ file, line: 1 }, 'decode', 'E_ROW_TOO_LARGE',
      `the document is ${doc.bytes} bytes, over the limit of ${max} (raise maxDocumentBytes if documents this large are expected)`, { bytes: doc.bytes });
  }
  if (doc.bytes === 0) return reject({ file, line: 1 }, 'decode', 'E_EMPTY_INPUT', 'the input is empty', { bytes: 0 });
  return undefined;
}

/** A Transform from bytes to one `SourceItem` (value: the text) or one `Reject`. */
export function textDocument(options: TextOptions = {}): Transform {
  const o = normalizeDocumentOptions(options);
  return decoderStream<SourceItem | Reject>((emit) => {
    const doc = new DocumentBuffer(o.maxDocumentBytes);
    return { push: (chunk) => doc.push(chunk), end: () => emit(documentItem(o.file, doc, o.maxDocumentBytes)) };
  }, { file: o.file });
}

/** The whole document as one item, or its reject. */
function documentItem(file: string, doc: DocumentBuffer, max: number): SourceItem | Reject {
  const problem = documentProblem(file, doc, max);
  if (problem) return problem;
  const body = doc.take(); // BOM stripped: like every decoder, bytes leave the BOM out
  if (!isUtf8(body)) {
    return reject({ file, line: 1 }, 'decode', 'E_INVALID_UTF8', 'the file is not valid UTF-8 (convert it to UTF-8, e.g. with iconv)', { bytes: body.length });
  }
  return { kind: 'item', file, line: 1, value: body.toString('utf8'), bytes: body.length };
}
