/**
 * CSV and TSV rows as SourceItems: `value` is an object keyed by the header row's column names, its
 * values strings. The common dialect goes through the byte-level `FastCsvDecoder`; any other
 * dialect (a different quote or escape character, a multi-byte delimiter) or `engine: 'csv-parse'`
 * goes through csv-parse, configured to report bad rows instead of stopping.
 *
 * Both engines: the header row is required (a BOM is stripped; empty or duplicate names are fatal);
 * blank lines are skipped; LF or CRLF line ends (a lone CR is data); `line` is the physical line the
 * row starts on (the header is line 1); `bytes` counts the input bytes since the previous row's end
 * (blank lines before a row count toward it). Bad rows become rejects: E_COLUMN_COUNT,
 * E_INVALID_UTF8, E_ROW_TOO_LARGE, E_BAD_QUOTE, E_UNTERMINATED_QUOTE.
 *
 * Where the engines differ (invalid input only): after a malformed quote the fast decoder skips to
 * the end of that physical line and goes on; csv-parse goes on from its own state, which can merge
 * or skip the rows that follow. csv-parse's rejects carry the line where it noticed the problem and
 * no `bytes`. csv-parse cannot go on after a row over `maxRowBytes`: the rest of that input is
 * skipped, said in the one E_ROW_TOO_LARGE reject (the fast decoder skips just the row).
 */
import { isUtf8 } from 'node:buffer';
import type { Transform } from 'node:stream';
import { Parser as CsvParseParser, type Options as CsvParseOptions, type Info as CsvParseInfo } from 'csv-parse';
import { countLf } from '../core/lines.js';
import { decoderStream, type Decoder, type Emit } from '../core/step.js';
import { BatchError, preview } from '../errors.js';
import { reject, type Reject, type SourceItem } from '../records/types.js';
import { FastCsvDecoder, type FastCsvErrorCode, type RawRowHandler } from './fast-csv.js';
import type { ErrorCode } from '../errors.js';

export type CsvEngine = 'auto' | 'fast' | 'csv-parse';

export interface CsvOptions {
  /** The input's name as the user gave it, put in every item's `file` (default `-`). */
  file?: string;
  /** Field delimiter (default `,`; `\t` for TSV). */
  delimiter?: string;
  /** Quote character (default `"`). Anything else uses csv-parse. */
  quote?: string;
  /** Escape character inside quotes (default: the quote itself, i.e. `""`). Anything else uses csv-parse. */
  escape?: string;
  /** A row longer than this many bytes is rejected without being held (default 1 MiB). */
  maxRowBytes?: number;
  /** `auto` (default): the fast decoder when it covers the dialect, else csv-parse. */
  engine?: CsvEngine;
  /** The header, when it was already read: the input then starts at a data row (mid-file input). */
  columns?: string[];
  /** The line the input's first byte is on (default 1). */
  firstLine?: number;
}

interface NormalCsvOptions {
  file: string;
  delimiter: string;
  quote: string;
  escape: string;
  maxRowBytes: number;
  engine: 'fast' | 'csv-parse';
  columns: string[] | undefined;
  firstLine: number;
}

/** Check and default the options once; a bad option throws E_BAD_OPTION naming it. */
export function normalizeCsvOptions(options: CsvOptions = {}): NormalCsvOptions {
  const file = options.file ?? '-';
  const delimiter = options.delimiter ?? ',';
  const quote = options.quote ?? '"';
  const escape = options.escape ?? quote;
  const maxRowBytes = options.maxRowBytes ?? 1 << 20;
  const engine = options.engine ?? 'auto';
  if (typeof delimiter !== 'string' || delimiter.length === 0 || /[\r\n]/.test(delimiter) || delimiter === quote) {
    throw new BatchError('E_BAD_OPTION', `delimiter ${JSON.stringify(delimiter)} is not usable: give one character such as "," or "\\t", not a quote or line end`);
  }
  if (typeof quote !== 'string' || quote.length !== 1 || /[\r\n]/.test(quote)) {
    throw new BatchError('E_BAD_OPTION', `quote ${JSON.stringify(quote)} must be one character other than a line end`);
  }
  if (typeof escape !== 'string' || escape.length !== 1) {
    throw new BatchError('E_BAD_OPTION', `escape ${JSON.stringify(escape)} must be one character`);
  }
  if (!Number.isInteger(maxRowBytes) || maxRowBytes < 1) {
    throw new BatchError('E_BAD_OPTION', `maxRowBytes ${String(maxRowBytes)} must be a positive integer`);
  }
  if (engine !== 'auto' && engine !== 'fast' && engine !== 'csv-parse') {
    throw new BatchError('E_BAD_OPTION', `engine ${JSON.stringify(engine)} must be auto, fast or csv-parse`);
  }
  const firstLine = options.firstLine ?? 1;
  if (!Number.isInteger(firstLine) || firstLine < 1) {
    throw new BatchError('E_BAD_OPTION', `firstLine ${String(firstLine)} must be a positive integer`);
  }
  const columns = options.columns;
  if (columns !== undefined && (!Array.isArray(columns) || columns.length === 0 || !columns.every((c) => typeof c === 'string'))) {
    throw new BatchError('E_BAD_OPTION', 'columns must be a non-empty list of column names');
  }
  const fastFits = quote === '"' && escape === '"' && Buffer.byteLength(delimiter) === 1;
  if (engine === 'fast' && !fastFits) {
    throw new BatchError('E_BAD_OPTION', `engine "fast" handles only a one-byte delimiter with " quotes and "" escapes; use engine "csv-parse" or "auto"`);
  }
  return {
    file,
    delimiter,
    quote,
    escape,
    maxRowBytes,
    engine: engine === 'auto' ? (fastFits ? 'fast' : 'csv-parse') : engine,
    columns: columns ? [...columns] : undefined,
    firstLine,
  };
}

/**
 * The fast engine without a stream: `push` bytes, then `end`; items go to `emit` synchronously. It
 * also tells where it stands (`atRowBoundary`, `nextLine`, `columns`), which lets a caller cut an
 * input into row-aligned pieces and decode them on several threads (see src/parallel/).
 */
export class CsvDecoder {
  private readonly rows: RowMapper;
  private readonly fast: FastCsvDecoder;

  /** `raw`: offered each data row as bytes before it is decoded (see FastCsvSink.raw); a row it
   * takes is neither decoded nor emitted. */
  constructor(options: CsvOptions, emit: (item: SourceItem | Reject) => void, raw?: RawRowHandler) {
    const o = normalizeCsvOptions({ ...options, engine: 'fast' });
    this.rows = new RowMapper(o);
    this.rows.emit = emit;
    if (raw) this.rows.raw = (...args) => this.rows.columns !== null && raw(...args);
    this.fast = new FastCsvDecoder(
      { delimiter: Buffer.from(o.delimiter)[0]!, maxRowBytes: o.maxRowBytes, firstLine: o.firstLine, bom: o.columns === undefined },
      this.rows,
    );
  }

  set emit(emit: (item: SourceItem | Reject) => void) {
    this.rows.emit = emit;
  }

  push(chunk: Buffer): void {
    this.fast.push(chunk);
  }

  end(): void {
    this.fast.end();
    this.rows.finish();
  }

  /** The header's column names, once read. */
  get columns(): string[] | undefined {
    return this.rows.columns ?? undefined;
  }

  /** True when the bytes pushed so far ended on a row boundary. */
  get atRowBoundary(): boolean {
    return this.fast.atRowBoundary;
  }

  /** The line the next unparsed byte is on. */
  get nextLine(): number {
    return this.fast.nextLine;
  }

  /** Bytes consumed but not attributed to an item yet (blank lines). */
  get unattributedBytes(): number {
    return this.fast.unattributedBytes;
  }

  /** Stop without reporting the incomplete last row; returns its bytes (see FastCsvDecoder). */
  takeRemainder(): Buffer {
    return this.fast.takeRemainder();
  }
}

/** A Transform from CSV bytes to `SourceItem | Reject` (object mode on the readable side). */
export function csvRows(options: CsvOptions = {}): Transform {
  const o = normalizeCsvOptions(options);
  const make = (emit: Emit<SourceItem | Reject>): Decoder => (o.engine === 'fast' ? new CsvDecoder(options, emit) : csvParseDecoder(o, emit));
  return decoderStream(make, { file: o.file });
}

/** Shared by both engines: the header, then rows to items. */
class RowMapper {
  emit: (item: SourceItem | Reject) => void = () => {};
  raw: RawRowHandler | undefined;
  columns: string[] | null = null;
  private protoSafe = true;
  private sawInput = false;

  constructor(private readonly o: NormalCsvOptions) {
    if (o.columns) {
      this.header(o.columns, o.firstLine);
      this.sawInput = true;
    }
  }

  row(fields: string[], line: number, bytes: number): void {
    this.sawInput = true;
    const cols = this.columns;
    if (cols === null) {
      this.header(fields, line);
      return;
    }
    if (fields.length !== cols.length) {
      this.emit(
        reject({ file: this.o.file, line }, 'decode', 'E_COLUMN_COUNT',
          `the row has ${fields.length} columns, the header has ${cols.length} (check the delimiter and the quoting of this row)`,
          { bytes }),
      );
      return;
    }
    const value: Record<string, string> = {};
    if (this.protoSafe) {
      for (let i = 0; i < cols.length; i++) value[cols[i]!] = fields[i]!;
    } else {
      for (let i = 0; i < cols.length; i++) {
        Object.defineProperty(value, cols[i]!, { value: fields[i], enumerable: true, writable: true, configurable: true });
      }
    }
    this.emit({ kind: 'item', file: this.o.file, line, value, bytes });
  }

  error(code: FastCsvErrorCode | ErrorCode, line: number, bytes: number | undefined, detail: string): void {
    this.sawInput = true;
    if (this.columns === null) {
      throw new BatchError(code, `the header row cannot be read: ${detail}`, {
        file: this.o.file,
        line,
        hint: 'the first row must name the columns',
      });
    }
    this.emit(reject({ file: this.o.file, line }, 'decode', code, `${detail}${hintFor(code)}`, bytes === undefined ? {} : { bytes }));
  }

  private header(fields: string[], line: number): void {
    const seen = new Set<string>();
    const empty: number[] = [];
    const dups: string[] = [];
    fields.forEach((name, i) => {
      if (name.trim() === '') empty.push(i + 1);
      else if (seen.has(name)) dups.push(name);
      seen.add(name);
    });
    if (empty.length > 0 || dups.length > 0) {
      const parts: string[] = [];
      if (empty.length > 0) parts.push(`empty column name at position ${empty.join(', ')}`);
      if (dups.length > 0) parts.push(`duplicate column name ${dups.map((d) => JSON.stringify(preview(d))).join(', ')}`);
      throw new BatchError('E_BAD_OPTION', `the header row has ${parts.join(' and ')}`, {
        file: this.o.file,
        line,
        hint: 'every column needs a unique, non-empty name (check for a trailing delimiter or the wrong delimiter)',
      });
    }
    this.columns = fields;
    this.protoSafe = !seen.has('__proto__');
  }

  /** End of input: an input without even a header row is a reject, so it is not silently lost. */
  finish(): void {
    if (!this.sawInput) {
      this.emit(reject({ file: this.o.file, line: 1 }, 'decode', 'E_EMPTY_INPUT', 'the input is empty: a CSV needs at least a header row', { bytes: 0 }));
    }
  }
}

function hintFor(code: ErrorCode): string {
  switch (code) {
    case 'E_ROW_TOO_LARGE':
      return ' (raise maxRowBytes if rows this long are expected)';
    case 'E_BAD_QUOTE':
      return '; the rest of the line was skipped';
    default:
      return '';
  }
}

// ---- csv-parse engine ---------------------------------------------------------------------------

const CR = 13;

interface CsvParseApi {
  parse(buf: Buffer | undefined, end: boolean, push: (record: unknown) => void, close: () => void): Error | undefined;
}

interface InfoRecord {
  record: string[];
  info: CsvParseInfo;
}

const CSV_PARSE_CODES: Record<string, ErrorCode> = {
  CSV_INVALID_CLOSING_QUOTE: 'E_BAD_QUOTE',
  INVALID_OPENING_QUOTE: 'E_BAD_QUOTE',
  CSV_INVALID_OPENING_QUOTE: 'E_BAD_QUOTE',
  CSV_QUOTE_NOT_CLOSED: 'E_UNTERMINATED_QUOTE',
  CSV_MAX_RECORD_SIZE: 'E_ROW_TOO_LARGE',
};

/** The csv-parse engine as a decoder. */
function csvParseDecoder(o: NormalCsvOptions, emit: Emit<SourceItem | Reject>): Decoder {
  const rows = new RowMapper(o);
  rows.emit = emit;
  const latin1 = (s: string) => Buffer.from(s, 'utf8').toString('latin1');
  let lastBytes = 0;
  // csv-parse's `info.lines` counts every CR as a line break too (a lone CR, and both bytes of a
  // CRLF inside quotes); lines here are LFs only, so the CRs inside the fields seen so far are taken off.
  let crs = 0;
  // csv-parse cannot resume after a record over max_record_size: it returns from the chunk and
  // fails again on every later one, so the rest of the input would vanish. Stop there, and say so.
  let stopped = false;
  const skips: { code: ErrorCode; line: number; detail: string }[] = [];
  const options: CsvParseOptions = {
    // Bytes as latin1 characters, one per byte: UTF-8 is checked and decoded per field below, so
    // invalid bytes become a reject instead of silent replacement characters.
    encoding: 'latin1',
    delimiter: latin1(o.delimiter),
    quote: latin1(o.quote),
    escape: latin1(o.escape),
    record_delimiter: ['\n', '\r\n'],
    // The BOM is stripped below: on a BOM csv-parse switches its encoding to UTF-8, which would undo
    // the latin1 reading above.
    bom: false,
    info: true,
    relax_column_count: true,
    skip_empty_lines: true,
    skip_records_with_error: true,
    max_record_size: o.maxRowBytes,
    on_skip: (err) => {
      const e = err as Error & { code?: string; lines?: number };
      const code = CSV_PARSE_CODES[e.code ?? ''] ?? 'E_BAD_QUOTE';
      if (code === 'E_ROW_TOO_LARGE') {
        if (stopped) return;
        stopped = true;
      }
      skips.push({ code, line: (e.lines ?? 1) - crs + o.firstLine - 1, detail: csvParseDetail(code, e, o.maxRowBytes) });
    },
  };
  const api = (new CsvParseParser(options) as unknown as { api: CsvParseApi }).api;
  const push = (rec: unknown) => {
    flushSkips();
    const { record, info } = rec as InfoRecord;
    const bytes = info.bytes - lastBytes;
    lastBytes = info.bytes;
    let lfs = 0;
    let rowCrs = 0;
    let good = true;
    const fields: string[] = new Array(record.length);
    for (let i = 0; i < record.length; i++) {
      const raw = Buffer.from(record[i]!, 'latin1');
      if (!isUtf8(raw)) good = false;
      lfs += countLf(raw, 0, raw.length);
      for (let at = raw.indexOf(CR); at >= 0; at = raw.indexOf(CR, at + 1)) rowCrs++;
      fields[i] = raw.toString('utf8');
    }
    const line = info.lines - lfs - rowCrs - crs + o.firstLine - 1;
    crs += rowCrs;
    if (!good) rows.error('E_INVALID_UTF8', line, bytes, 'the row is not valid UTF-8 (convert the file to UTF-8, e.g. with iconv)');
    else rows.row(fields, line, bytes);
  };
  const flushSkips = () => {
    for (const s of skips.splice(0)) rows.error(s.code, s.line, undefined, s.detail);
  };
  const run = (buf: Buffer | undefined, end: boolean) => {
    if (stopped) return;
    const err = api.parse(buf, end, push, () => {});
    flushSkips();
    if (err) {
      const e = err as Error & { code?: string; lines?: number };
      const code = CSV_PARSE_CODES[e.code ?? ''] ?? 'E_READ';
      rows.error(code, (e.lines ?? 1) - crs + o.firstLine - 1, undefined, csvParseDetail(code, e, o.maxRowBytes));
    }
  };
  // The first bytes are held until a UTF-8 BOM can be told (and dropped).
  let head: Buffer | null = o.columns === undefined ? Buffer.alloc(0) : null;
  const feed = (chunk: Buffer | undefined, end: boolean) => {
    if (head !== null) {
      const all = chunk ? Buffer.concat([head, chunk]) : head;
      if (all.length < 3 && !end) {
        head = all;
        return;
      }
      head = null;
      const body = all.length >= 3 && all[0] === 0xef && all[1] === 0xbb && all[2] === 0xbf ? all.subarray(3) : all;
      if (body.length > 0) run(body, false);
    } else if (chunk) run(chunk, false);
    if (end) run(undefined, true);
  };
  return {
    push: (chunk) => feed(chunk, false),
    end: () => {
      feed(undefined, true);
      rows.finish();
    },
  };
}

/** csv-parse's messages quote field values (`value is "..."`, `got "x"`): never shown. A reason is
 * made of the code and the line only. */
function csvParseDetail(code: ErrorCode, e: Error & { code?: string; lines?: number }, maxRowBytes: number): string {
  switch (code) {
    case 'E_BAD_QUOTE':
      return 'a malformed quote (a quote inside an unquoted field, or a closing quote not followed by the delimiter or a line end)';
    case 'E_UNTERMINATED_QUOTE':
      return `a quoted field is never closed before the end of the input (noticed on line ${e.lines ?? '?'})`;
    case 'E_ROW_TOO_LARGE':
      return `the row is over the limit of ${maxRowBytes} bytes; the csv-parse engine cannot go on after such a row, so the rest of the input was skipped`;
    default:
      return `csv-parse cannot read the input (${/^[A-Z_]+$/.test(e.code ?? '') ? e.code : 'an unknown error'} at line ${e.lines ?? '?'})`;
  }
}
