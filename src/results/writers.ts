/**
 * Results writers: one flat row per record, as JSONL or CSV (csv-stringify), to a file in a store
 * (local or s3://) or to stdout. The format comes from the extension (`.jsonl`, `.ndjson`,
 * `.csv`, `.tsv`, each optionally `.gz`) or is given.
 *
 * Columns, in order:
 *
 *   recordId key status text stopReason inputTokens outputTokens model errorCode errorMessage
 *   attempt next job jobId file line [modelOutput] ...passthrough columns
 *
 * `status` is success | error | missing; for a missing record `errorMessage` says why. `next` says
 * what the retry plan did with the record (retry | dead-letter | pending, empty for a success).
 * Passthrough columns that clash with these names get a `_` prefix. With `raw`, `modelOutput`
 * carries the line's raw `modelOutput` (or `error`) JSON.
 */
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { stringify, type Stringifier } from 'csv-stringify';
import { BatchError } from '../errors.js';
import type { Store } from '../stores/store.js';
import type { Disposition } from './retry.js';
import type { CollectResult } from './types.js';

export type ResultsFormat = 'jsonl' | 'csv' | 'tsv';

export const RESULT_COLUMNS = [
  'recordId',
  'key',
  'status',
  'text',
  'stopReason',
  'inputTokens',
  'outputTokens',
  'model',
  'errorCode',
  'errorMessage',
  'attempt',
  'next',
  'job',
  'jobId',
  'file',
  'line',
] as const;

const FIXED: ReadonlySet<string> = new Set([...RESULT_COLUMNS, 'modelOutput']);
/** JSONL bytes gathered before a write to the destination. */
const CHUNK_BYTES = 1 << 18;

/** A plain number, as a spreadsheet reads one: `-12.5`, `-3e4` (a `-` cell that is one is left as it is). */
const PLAIN_NUMBER = /^-(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * A cell made safe for spreadsheets (CSV injection, OWASP): a cell starting with `=`, `+`, `@`, a
 * tab or a carriage return (or their full-width forms, which some spreadsheets fold), or with `-`
 * unless the whole cell is a plain number, gets a leading `'`, which spreadsheets show as text.
 * Everything else is returned as it is.
 */
export function escapeFormula(cell: string): string {
  if (cell === '') return cell;
  switch (cell[0]) {
    case '=':
    case '+':
    case '@':
    case '\t':
    case '\r':
    case '\uFF1D':
    case '\uFF0B':
    case '\uFF0D':
    case '\uFF20':
      return `'${cell}`;
    case '-':
      return PLAIN_NUMBER.test(cell) ? cell : `'${cell}`;
    default:
      return cell;
  }
}

/** The format a file name asks for, or undefined. */
export function formatOf(name: string): ResultsFormat | undefined {
  const n = name.toLowerCase().replace(/\.gz$/, '');
  if (n.endsWith('.jsonl') || n.endsWith('.ndjson') || n.endsWith('.json')) return 'jsonl';
  if (n.endsWith('.csv')) return 'csv';
  if (n.endsWith('.tsv')) return 'tsv';
  return undefined;
}

/** The name a passthrough column gets in a results row. */
export function passthroughColumn(name: string): string {
  return FIXED.has(name) ? `_${name}` : name;
}

export interface RowOptions {
  /** What the retry plan did with the record. */
  next?: Disposition | undefined;
  /** Add the raw `modelOutput` (or `error`) JSON. */
  raw?: boolean;
}

/** One result as a flat row (see the module comment). */
export function resultRow(r: CollectResult, options: RowOptions = {}): Record<string, unknown> {
  const row: Record<string, unknown> = { recordId: r.recordId, key: r.key, status: r.kind };
  if (r.kind === 'success') {
    row.text = r.text;
    row.stopReason = r.stopReason;
    row.inputTokens = r.inputTokens;
    row.outputTokens = r.outputTokens;
  }
  row.model = r.model;
  if (r.kind === 'error') {
    row.errorCode = r.error.code;
    row.errorMessage = r.error.message;
  } else if (r.kind === 'missing') {
    row.errorMessage = r.reason;
  }
  row.attempt = r.attempt;
  if (options.next !== undefined && options.next !== 'done') row.next = options.next;
  row.job = r.job;
  row.jobId = r.jobId;
  row.file = r.file;
  row.line = r.line;
  if (options.raw && r.kind !== 'missing') row.modelOutput = r.raw;
  for (const k in r.passthrough) row[passthroughColumn(k)] = r.passthrough[k];
  return row;
}

const S = JSON.stringify;

/**
 * One result as a JSONL line: exactly `JSON.stringify(resultRow(r, options)) + '\n'`, built
 * field by field (faster than building the row object and stringifying it; the writer's hot path).
 */
export function resultJsonLine(r: CollectResult, options: RowOptions = {}): string {
  for (const k in r.passthrough) if (FIXED.has(k) || k.charCodeAt(0) === 95 /* _ */) return S(resultRow(r, options)) + '\n';
  let s = '{"recordId":' + S(r.recordId) + ',"key":' + S(r.key) + ',"status":"' + r.kind + '"';
  if (r.kind === 'success') {
    if (r.text !== undefined) s += ',"text":' + S(r.text);
    if (r.stopReason !== undefined) s += ',"stopReason":' + S(r.stopReason);
    if (r.inputTokens !== undefined) s += ',"inputTokens":' + S(r.inputTokens);
    if (r.outputTokens !== undefined) s += ',"outputTokens":' + S(r.outputTokens);
  }
  s += ',"model":' + S(r.model);
  if (r.kind === 'error') {
    if (r.error.code !== undefined) s += ',"errorCode":' + S(r.error.code);
    if (r.error.message !== undefined) s += ',"errorMessage":' + S(r.error.message);
  } else if (r.kind === 'missing') {
    s += ',"errorMessage":' + S(r.reason);
  }
  s += ',"attempt":' + S(r.attempt);
  if (options.next !== undefined && options.next !== 'done') s += ',"next":"' + options.next + '"';
  s += ',"job":' + S(r.job);
  if (r.jobId !== undefined) s += ',"jobId":' + S(r.jobId);
  s += ',"file":' + S(r.file) + ',"line":' + S(r.line);
  if (options.raw && r.kind !== 'missing') {
    const raw = S(r.raw);
    if (raw !== undefined) s += ',"modelOutput":' + raw;
  }
  for (const k in r.passthrough) {
    const v = S(r.passthrough[k]);
    if (v !== undefined) s += ',' + S(k) + ':' + v;
  }
  return s + '}\n';
}

export interface ResultsWriterOptions {
  /** Where to write: a store and key, or a Writable (stdout). */
  target: { store: Store; key: string } | { stream: Writable; name?: string };
  /** Default: from the key's extension, else jsonl. */
  format?: ResultsFormat;
  /** Gzip the bytes (default: when the key ends in `.gz`). */
  gzip?: boolean;
  /** CSV: the passthrough columns, in order (default: those of the first result). */
  passthroughColumns?: string[];
  /** Include the raw modelOutput / error JSON. */
  raw?: boolean;
  /**
   * CSV/TSV: prefix with `'` every cell a spreadsheet would run as a formula (see `escapeFormula`),
   * so that opening the results never runs what a transcript or a model put there. Default true;
   * false writes cells exactly as they are (the JSONL results never change).
   */
  escapeFormulas?: boolean;
}

/** Writes result rows with backpressure; `close()` returns where they went and how many. */
export class ResultsWriter {
  readonly format: ResultsFormat;
  readonly uri: string;
  private readonly out: Writable;
  private readonly head: Writable;
  private csv?: Stringifier;
  private chunk: Buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  private chunkUsed = 0;
  private columns?: string[];
  private readonly options: ResultsWriterOptions;
  private failure?: Error;
  records = 0;

  constructor(options: ResultsWriterOptions) {
    this.options = options;
    const t = options.target;
    const name = 'key' in t ? t.key : (t.name ?? '-');
    const format = options.format ?? formatOf(name) ?? 'jsonl';
    if (format !== 'jsonl' && format !== 'csv' && format !== 'tsv') {
      throw new BatchError('E_BAD_OPTION', `results format "${String(format)}" is not jsonl, csv or tsv`);
    }
    this.format = format;
    this.uri = 'key' in t ? t.store.resolve(t.key) : name;
    this.out = 'key' in t ? t.store.createWriteStream(t.key, { contentType: format === 'jsonl' ? 'application/x-ndjson' : 'text/csv' }) : t.stream;
    this.out.on('error', (e) => (this.failure ??= e));
    const gzip = options.gzip ?? name.toLowerCase().endsWith('.gz');
    if (gzip) {
      const z = createGzip();
      z.on('error', (e) => (this.failure ??= e));
      z.pipe(this.out, { end: 'key' in t });
      this.head = z;
    } else {
      this.head = this.out;
    }
    if (options.passthroughColumns) this.columns = this.columnsFor(options.passthroughColumns);
  }

  private columnsFor(passthrough: string[]): string[] {
    const cols: string[] = [...RESULT_COLUMNS];
    if (this.options.raw) cols.push('modelOutput');
    for (const p of passthrough) {
      const c = passthroughColumn(p);
      if (!cols.includes(c)) cols.push(c);
    }
    return cols;
  }

  private openCsv(): Stringifier {
    const csv = stringify({
      header: true,
      columns: this.columns!,
      delimiter: this.format === 'tsv' ? '\t' : ',',
      // our own rule (escapeFormula): csv-stringify's also escapes a negative amount such as -12.5
      escape_formulas: false,
      cast: {
        boolean: (v) => String(v),
        object: (v) => JSON.stringify(v),
        ...(this.options.escapeFormulas !== false ? { string: (v: string) => escapeFormula(v) } : {}),
      },
    });
    csv.on('error', (e) => (this.failure ??= e));
    csv.pipe(this.head, { end: false });
    return csv;
  }

  /**
   * Write one result. Returns a promise to await when the destination is busy (backpressure),
   * else nothing: `const p = w.write(r); if (p) await p;` saves an await per record.
   */
  write(r: CollectResult, options: RowOptions = {}): Promise<void> | undefined {
    if (this.failure) throw this.wrap(this.failure);
    this.records++;
    if (this.format === 'jsonl') {
      const line = resultJsonLine(r, this.options.raw ? { raw: true, ...options } : options);
      // UTF-8 is at most 3 bytes per UTF-16 unit
      if (this.chunkUsed + line.length * 3 > this.chunk.length) {
        const wait = this.flush();
        if (line.length * 3 > this.chunk.length) {
          const big = Buffer.from(line, 'utf8');
          const ok = this.head.write(big);
          return wait ?? (ok ? undefined : this.drained());
        }
        this.chunkUsed += this.chunk.write(line, this.chunkUsed, 'utf8');
        return wait;
      }
      this.chunkUsed += this.chunk.write(line, this.chunkUsed, 'utf8');
      return undefined;
    }
    const row = resultRow(r, { raw: this.options.raw === true, ...options });
    if (!this.csv) {
      this.columns ??= this.columnsFor(Object.keys(r.passthrough));
      this.csv = this.openCsv();
    }
    return this.csv.write(row) ? undefined : this.drained(this.csv);
  }

  private drained(w: Writable | Stringifier = this.head): Promise<void> {
    return once(w, 'drain').then(() => {
      if (this.failure) throw this.wrap(this.failure);
    });
  }

  /** Hand the filled chunk to the destination (which may keep it: a new one is taken); a promise when it asks us to wait. */
  private flush(): Promise<void> | undefined {
    if (this.chunkUsed === 0) return undefined;
    const full = this.chunk.subarray(0, this.chunkUsed);
    this.chunk = Buffer.allocUnsafe(CHUNK_BYTES);
    this.chunkUsed = 0;
    return this.head.write(full) ? undefined : this.drained();
  }

  /** Finish the file (it is in place once this resolves). */
  async close(): Promise<{ uri: string; records: number; format: ResultsFormat }> {
    if (this.format === 'jsonl') {
      await this.flush();
      if (this.failure) throw this.wrap(this.failure);
    } else {
      if (!this.csv) {
        this.columns ??= this.columnsFor([]);
        this.csv = this.openCsv();
      }
      const csv = this.csv;
      const ended = once(csv, 'end');
      csv.end();
      await ended;
    }
    if (this.failure) throw this.wrap(this.failure);
    const isStdout = 'stream' in this.options.target;
    if (this.head !== this.out) {
      const done = isStdout ? once(this.head, 'end') : once(this.out, 'finish');
      this.head.end();
      await done;
    } else if (!isStdout) {
      const done = once(this.out, 'finish');
      this.out.end();
      await done;
    }
    if (this.failure) throw this.wrap(this.failure);
    return { uri: this.uri, records: this.records, format: this.format };
  }

  /** An object-mode Writable of results over this writer (its end closes the file), for `pipeline`. */
  asWritable(options: RowOptions = {}): Writable {
    return new Writable({
      objectMode: true,
      highWaterMark: 256,
      write: (r: CollectResult, _enc, callback) => {
        try {
          const wait = this.write(r, options);
          if (wait) wait.then(() => callback(), callback);
          else callback();
        } catch (error) {
          callback(error as Error);
        }
      },
      final: (callback) => {
        this.close().then(() => callback(), callback);
      },
      destroy: (error, callback) => {
        if (error) this.abort(error);
        callback(error);
      },
    });
  }

  /** Abandon the file: nothing partial is left under the key. */
  abort(error: Error): void {
    this.csv?.destroy(error);
    if (this.head !== this.out) this.head.destroy(error);
    if (!('stream' in this.options.target)) this.out.destroy(error);
  }

  private wrap(e: Error): Error {
    return e instanceof BatchError ? e : new BatchError('E_STORE', `cannot write the results to ${this.uri}: ${e.message}`, { cause: e });
  }
}

/** A results writer: see the module comment. */
export function resultsWriter(options: ResultsWriterOptions): ResultsWriter {
  return new ResultsWriter(options);
}
