/**
 * Reading a run's inputs: expand them (a directory or an `s3://` prefix stands for the data files in
 * it), open each one (a path, `-` for stdin, an `s3://` object; gzip by magic bytes), pick its decoder and stream its items,
 * one input after the other, as one object-mode Readable of `SourceItem | Reject`.
 *
 * The decoder comes from `format` when given, else from the name (`.csv`, `.tsv`, `.jsonl`/`.ndjson`,
 * `.json`, `.txt`, each optionally `.gz`), else from the first bytes (`sniffFormat`): stdin and
 * unknown extensions are sniffed.
 */
import { lstat, open, readdir, readlink, realpath, stat, type FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join } from 'node:path';
import { Readable, type Transform } from 'node:stream';
import { BatchError } from '../errors.js';
import { listObjects, objectExists, s3ClientFor, type S3StoreOptions } from '../stores/s3.js';
import { formatS3Uri, isS3Uri, parseS3Uri } from '../stores/uri.js';
import type { Reject, SourceItem } from '../records/types.js';
import { csvRows, type CsvEngine } from './csv.js';
import { jsonItems } from './json.js';
import { jsonlRows } from './jsonl.js';
import { openSource, readError, type OpenOptions } from './open.js';
import { textDocument } from './text.js';

export { csvRows, normalizeCsvOptions, type CsvEngine, type CsvOptions } from './csv.js';
export { FastCsvDecoder, type FastCsvOptions, type FastCsvSink } from './fast-csv.js';
export { JsonDecoder, jsonItems, normalizeJsonOptions, type JsonOptions } from './json.js';
export { JsonlDecoder, jsonlRows, normalizeJsonlOptions, type JsonlOptions } from './jsonl.js';
export { openSource, readError, type OpenOptions } from './open.js';
export { textDocument, type TextOptions } from './text.js';

export type InputFormat = 'csv' | 'tsv' | 'jsonl' | 'json' | 'text';
export const INPUT_FORMATS: readonly InputFormat[] = ['csv', 'tsv', 'jsonl', 'json', 'text'];

export interface ReadInputsOptions extends OpenOptions {
  /** The decoder for every input (default: by extension, else sniffed from the first bytes). */
  format?: InputFormat;
  /** CSV delimiter (default `,`, or TAB for `.tsv`). */
  delimiter?: string;
  /** CSV engine (default `auto`: the fast decoder for the common dialect, csv-parse otherwise). */
  engine?: CsvEngine;
  /** A CSV row or JSONL line over this many bytes is rejected without being held (default 1 MiB). */
  maxRowBytes?: number;
  /** A single JSON or text document over this many bytes is rejected (default 64 MiB). */
  maxDocumentBytes?: number;
}

const EXTENSIONS: Record<string, InputFormat> = {
  csv: 'csv',
  tsv: 'tsv',
  tab: 'tsv',
  jsonl: 'jsonl',
  ndjson: 'jsonl',
  json: 'json',
  txt: 'text',
  text: 'text',
};

/** The format an input's name implies (`calls.csv.gz` is csv), or undefined. */
export function formatFromName(name: string): InputFormat | undefined {
  const base = name.split(/[\\/]/).pop() ?? '';
  const m = /\.([a-z0-9]+)(?:\.(?:gz|gzip))?$/i.exec(base);
  return m ? EXTENSIONS[m[1]!.toLowerCase()] : undefined;
}

/**
 * The format of an input from its first bytes (after any gzip): `[` is a JSON array; `{` is JSONL
 * when the first line is a whole JSON object (or too long to tell), else one JSON document; a first
 * line of two or more delimited column names is CSV (TSV with tabs); anything else is text.
 */
export function sniffFormat(head: Buffer): InputFormat {
  let text = head.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const start = text.search(/\S/);
  if (start < 0) return 'text';
  const c = text[start];
  if (c === '[') return 'json';
  if (c === '{') {
    const nl = text.indexOf('\n', start);
    if (nl < 0) return head.length >= SNIFF_BYTES ? 'jsonl' : isObjectLine(text.slice(start)) ? 'jsonl' : 'json';
    return isObjectLine(text.slice(start, nl)) ? 'jsonl' : 'json';
  }
  const nl = text.indexOf('\n');
  const first = (nl < 0 ? text : text.slice(0, nl)).replace(/\r$/, '');
  for (const [delim, format] of [['\t', 'tsv'], [',', 'csv']] as const) {
    const names = first.split(delim);
    if (names.length >= 2 && names.every(isColumnName)) return format;
  }
  return 'text';
}

const SNIFF_BYTES = 64 * 1024;

function isObjectLine(line: string): boolean {
  try {
    const v: unknown = JSON.parse(line);
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
}

function isColumnName(name: string): boolean {
  const n = name.trim().replace(/^"(.*)"$/, '$1');
  return n.length > 0 && n.length <= 64 && !/[.?!:;]\s|[.?!]$/.test(n);
}

/** The decoder Transform (bytes in, items out) for a format. */
export function decoderFor(format: InputFormat, file: string, options: ReadInputsOptions = {}): Transform {
  const maxRowBytes = options.maxRowBytes;
  switch (format) {
    case 'csv':
    case 'tsv':
      return csvRows({
        file,
        delimiter: options.delimiter ?? (format === 'tsv' ? '\t' : ','),
        ...(maxRowBytes !== undefined ? { maxRowBytes } : {}),
        ...(options.engine ? { engine: options.engine } : {}),
      });
    case 'jsonl':
      return jsonlRows({ file, ...(maxRowBytes !== undefined ? { maxLineBytes: maxRowBytes } : {}) });
    case 'json':
      return jsonItems({
        file,
        ...(options.maxDocumentBytes !== undefined ? { maxDocumentBytes: options.maxDocumentBytes } : {}),
        ...(maxRowBytes !== undefined ? { maxElementBytes: Math.max(maxRowBytes, 16 << 20) } : {}),
      });
    case 'text':
      return textDocument({ file, ...(options.maxDocumentBytes !== undefined ? { maxDocumentBytes: options.maxDocumentBytes } : {}) });
    default:
      throw new BatchError('E_BAD_OPTION', `unknown input format "${String(format)}"`, { hint: `use one of ${INPUT_FORMATS.join(', ')}` });
  }
}

/**
 * The inputs as a list of files: a directory stands for the data files below it (by extension,
 * sorted, hidden files and unknown extensions left out), and so does an `s3://` prefix (a URI
 * ending in `/`, or one that names no object but has objects below it); paths, objects and `-`
 * pass as given. An input that does not exist is an error naming it, before anything is read.
 *
 * In a directory, symbolic links are followed, to files and to directories alike (a link to a
 * directory the walk is already inside, a loop, is not walked again: its files are listed once). A
 * file reached by two names (`latest.csv -> 2026-01-05.csv`) is listed under both and read twice;
 * its calls are then duplicates (E_DUPLICATE_KEY naming both places), never sent twice. Nothing in
 * a directory is skipped silently: a broken link, a FIFO, a socket or a device (what `find -type
 * p,s,b,c` shows) is an error naming its path, before anything is read. (Hidden names and names
 * without a data extension are left out, as documented.)
 */
export async function expandInputs(inputs: readonly string[], options: { s3?: S3StoreOptions } = {}): Promise<string[]> {
  if (inputs.length === 0) throw new BatchError('E_NO_INPUT', 'no input given', { hint: 'give one or more files, a directory, or - for stdin' });
  const out: string[] = [];
  let stdin = 0;
  for (const input of inputs) {
    if (input === '-') {
      if (++stdin > 1) throw new BatchError('E_BAD_OPTION', '- (standard input) is given more than once');
      out.push(input);
      continue;
    }
    if (isS3Uri(input)) {
      out.push(...(await s3Inputs(input, options.s3)));
      continue;
    }
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(input)) {
      out.push(input);
      continue;
    }
    let s;
    try {
      s = await stat(input);
    } catch (error) {
      throw await brokenLink(input, error);
    }
    if (!s.isDirectory()) {
      out.push(input);
      continue;
    }
    const found = await dataFiles(input, [await realpath(input).catch(() => input)]);
    if (found.length === 0) {
      throw new BatchError('E_NO_INPUT', `the directory ${input} holds no data files`, {
        hint: `prepare reads files ending in ${Object.keys(EXTENSIONS).map((e) => `.${e}`).join(', ')} (optionally .gz)`,
      });
    }
    out.push(...found);
  }
  return out;
}

/** An S3 input: the object itself, or the data files under the prefix (sorted, hidden and unknown names left out). */
async function s3Inputs(input: string, s3: S3StoreOptions | undefined): Promise<string[]> {
  const { bucket, key } = parseS3Uri(input);
  const client = s3ClientFor(s3);
  const owner = s3?.expectedBucketOwner;
  if (key !== '' && !key.endsWith('/') && (await objectExists(client, bucket, key, input, owner))) return [input];
  const prefix = key === '' || key.endsWith('/') ? key : `${key}/`;
  const found: string[] = [];
  let listed = 0;
  for await (const o of listObjects(client, bucket, prefix, { uri: formatS3Uri(bucket, prefix), ...(owner ? { expectedBucketOwner: owner } : {}) })) {
    listed++;
    const rel = o.key.slice(prefix.length);
    if (rel.split('/').some((seg) => seg.startsWith('.'))) continue;
    if (formatFromName(rel)) found.push(formatS3Uri(bucket, o.key));
  }
  if (found.length === 0) {
    if (listed === 0 && !key.endsWith('/') && key !== '') {
      throw new BatchError('E_READ', `${input} does not exist`, { hint: 'check the bucket and key (S3 keys are case-sensitive); a prefix reads every data file under it' });
    }
    throw new BatchError('E_NO_INPUT', `${formatS3Uri(bucket, prefix)} holds no data files${listed ? ` (${listed} other objects)` : ''}`, {
      hint: `prepare reads objects ending in ${Object.keys(EXTENSIONS).map((e) => `.${e}`).join(', ')} (optionally .gz)`,
    });
  }
  return found.sort();
}

/** The data files below a directory (see `expandInputs`); `within`: the real paths of the
 * directories being walked, from the input down (a link to one of them is a loop). */
async function dataFiles(dir: string, within: string[]): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    throw readError(dir, error);
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const out: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const full = join(dir, e.name);
    let s: Pick<Stats, 'isDirectory' | 'isFile' | 'isFIFO' | 'isSocket' | 'isBlockDevice' | 'isCharacterDevice'> = e;
    if (e.isSymbolicLink()) {
      try {
        s = await stat(full);
      } catch (error) {
        throw await brokenLink(full, error);
      }
    }
    if (s.isDirectory()) {
      const real = await realpath(full).catch(() => full);
      if (within.includes(real)) continue; // a loop: this directory is being walked already
      out.push(...(await dataFiles(full, [...within, real])));
    } else if (s.isFile()) {
      if (formatFromName(e.name)) out.push(full);
    } else {
      const what = s.isFIFO() ? 'a FIFO (named pipe)' : s.isSocket() ? 'a socket' : s.isBlockDevice() || s.isCharacterDevice() ? 'a device' : 'not a file or a directory';
      throw new BatchError('E_READ', `${full} is ${what}, not a regular file`, {
        hint: 'prepare reads only regular files found in a directory: remove it from there, or give it as an input of its own (a pipe can be read that way)',
      });
    }
  }
  return out;
}

/** The error for a path that cannot be stat'ed: a broken link says where it points. */
async function brokenLink(path: string, error: unknown): Promise<BatchError> {
  if ((error as NodeJS.ErrnoException)?.code === 'ENOENT' || (error as NodeJS.ErrnoException)?.code === 'ELOOP') {
    const link = await lstat(path).catch(() => undefined);
    if (link?.isSymbolicLink()) {
      const target = await readlink(path).catch(() => '?');
      const why = (error as NodeJS.ErrnoException).code === 'ELOOP' ? 'which is a loop of links' : 'which does not exist';
      return new BatchError('E_READ', `${path} is a symbolic link to ${target}, ${why}`, {
        cause: error,
        hint: 'remove the link or fix its target (prepare follows links, and skips nothing in a directory silently)',
      });
    }
  }
  return readError(path, error);
}

/** Reads bytes into a caller's buffer: fills `into[offset, offset + length)` and says how many
 * bytes it wrote (0 at the end of the input). Lets a consumer reuse its buffers. */
export interface ByteReader {
  read(into: Buffer, offset: number, length: number): Promise<number>;
}

/** A ByteReader over a stream of chunks (copying out of them). */
export function streamReader(source: AsyncIterable<Buffer>): ByteReader {
  const it = source[Symbol.asyncIterator]();
  let chunk: Buffer | undefined;
  let at = 0;
  return {
    async read(into, offset, length) {
      while (!chunk || at >= chunk.length) {
        const r = await it.next();
        if (r.done) return 0;
        chunk = r.value;
        at = 0;
      }
      const n = Math.min(length, chunk.length - at);
      chunk.copy(into, offset, at, at + n);
      at += n;
      return n;
    },
  };
}

/** An input opened for decoding: its format (by option, name or first bytes) and its bytes. */
export interface OpenedInput {
  file: string;
  format: InputFormat;
  /** The input's bytes (gunzipped), from the first, as a stream of chunks... */
  bytes: AsyncIterable<Buffer>;
  /** ... or read into the caller's buffers (a plain local file is then read straight into them).
   * Use one of the two. */
  reader(): ByteReader;
  /** Stop reading (the bytes need not be read to the end). */
  close(): void;
}

/** Open an input and settle its format, sniffing the first bytes when neither option nor name tells. */
export async function openInput(input: string, options: ReadInputsOptions = {}): Promise<OpenedInput> {
  const plain = await openPlainFile(input, options);
  if (plain) return plain;
  const source = openSource(input, options);
  const it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let format = options.format ?? formatFromName(input);
  let head: Buffer | undefined;
  let done = false;
  if (!format) {
    const parts: Buffer[] = [];
    let n = 0;
    while (n < SNIFF_BYTES) {
      const r = await it.next();
      if (r.done) {
        done = true;
        break;
      }
      parts.push(r.value);
      n += r.value.length;
    }
    head = Buffer.concat(parts, n);
    format = sniffFormat(head.subarray(0, SNIFF_BYTES));
  }
  const bytes = (async function* (): AsyncGenerator<Buffer> {
    if (head && head.length > 0) yield head;
    if (done) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  })();
  return { file: input, format, bytes, reader: () => streamReader(bytes), close: () => source.destroy() };
}

/** A regular local file that is not gzip: read with positioned reads, no stream in between. */
async function openPlainFile(input: string, options: ReadInputsOptions): Promise<OpenedInput | undefined> {
  if (input === '-' || /^[a-z][a-z0-9+.-]*:\/\//i.test(input)) return undefined;
  let handle: FileHandle;
  try {
    handle = await open(input, 'r');
  } catch (error) {
    throw readError(input, error);
  }
  let keep = false;
  try {
    if (!(await handle.stat()).isFile()) return undefined;
    const head = Buffer.alloc(SNIFF_BYTES);
    const { bytesRead } = await handle.read(head, 0, SNIFF_BYTES, 0);
    if (bytesRead >= 2 && head[0] === 0x1f && head[1] === 0x8b) return undefined; // gzip: the stream path
    const format = options.format ?? formatFromName(input) ?? sniffFormat(head.subarray(0, bytesRead));
    let position = 0;
    const reader: ByteReader = {
      async read(into, offset, length) {
        try {
          const r = await handle.read(into, offset, length, position);
          position += r.bytesRead;
          return r.bytesRead;
        } catch (error) {
          throw readError(input, error);
        }
      },
    };
    const chunkSize = options.chunkSize ?? 1 << 20;
    const bytes = (async function* (): AsyncGenerator<Buffer> {
      for (;;) {
        const buf = Buffer.allocUnsafe(chunkSize);
        const n = await reader.read(buf, 0, chunkSize);
        if (n === 0) return;
        yield n === chunkSize ? buf : buf.subarray(0, n);
      }
    })();
    keep = true;
    return { file: input, format, bytes, reader: () => reader, close: () => void handle.close().catch(() => {}) };
  } finally {
    if (!keep) await handle.close().catch(() => {});
  }
}

/** One input's items: opened, format chosen (by option, name or first bytes), decoded. */
export function readInput(input: string, options: ReadInputsOptions = {}): Readable {
  return Readable.from(inputItems(input, options), { objectMode: true, highWaterMark: 64 });
}

/** The items of an opened input, decoded. */
export async function* decodeInput(opened: OpenedInput, options: ReadInputsOptions = {}): AsyncGenerator<SourceItem | Reject> {
  const decoder = decoderFor(opened.format, opened.file, options);
  const feed = Readable.from(opened.bytes, { objectMode: false });
  feed.on('error', (error) => decoder.destroy(error));
  feed.pipe(decoder);
  try {
    for await (const item of decoder) yield item as SourceItem | Reject;
  } finally {
    feed.destroy();
    opened.close();
  }
}

async function* inputItems(input: string, options: ReadInputsOptions): AsyncGenerator<SourceItem | Reject> {
  yield* decodeInput(await openInput(input, options), options);
}

/** Every input's items, one input after the other (see `expandInputs` for directories). */
export function readInputs(inputs: readonly string[], options: ReadInputsOptions = {}): Readable {
  return Readable.from(
    (async function* () {
      for (const input of await expandInputs(inputs, options.s3 ? { s3: options.s3 } : {})) yield* inputItems(input, options);
    })(),
    { objectMode: true, highWaterMark: 64 },
  );
}
