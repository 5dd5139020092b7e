/**
 * Results writers: one flat row per record, as JSONL or CSV (csv-stringify), to a file in a store
 * (local or s3://) or to stdout. The format comes from the extension (`.jsonl`, `.ndjson`,
 * `.csv`, `.tsv`, each optionally `.gz`) or is given.
 *
 * Columns, in order:
 *
 *   recordId key status text stopReason inputTokens outputTokens model errorCode errorMessage
 *   attempt next job jobId file line request reused [truncated] [redacted] [modelOutput]
 *   ...passthrough columns [...a schema run's fields]
 *
 * `status` is success | error | invalid | missing; for a missing record `errorMessage` says why,
 * for an invalid answer (a schema run's, that does not validate) `errorCode` is E_INVALID_ANSWER
 * and `errorMessage` the rule it broke. `next` says what the retry plan did with the record
 * (retry | dead-letter | pending, empty for a success). Passthrough columns that clash with these
 * names get a `_` prefix. With `raw`, `modelOutput` carries the line's raw `modelOutput` (or
 * `error`) JSON.
 *
 * From lineage: `truncated` (turns left out to fit, `--fit truncate`) and `redacted` (PII replaced
 * per type, `--redact`): in JSONL on the rows whose call has them (`redacted` an object), in CSV/TSV
 * as columns when the run has them (`truncated` 0 for a call left whole, `redacted` as
 * `card:1;phone:2`). A schema run's valid answer is `fields` (an object) in JSONL, and one column
 * per schema property in CSV/TSV, in the schema's order after every other column (named
 * `field_<name>` when a column of that name is there already; arrays joined with `; `, booleans
 * `true`/`false`); the model's text stays in `text`.
 *
 * `request` is the record's request hash (src/records/request-hash.ts), from its lineage, on every
 * row of a run whose lineage has one; `reused` is false on the run's own rows and true on
 * the earlier answers prepare reused for calls it skipped (`--skip-answered`), which collect writes
 * after them as they were (`writeReused`; JSONL rows also keep `reusedFrom`, the results file they
 * were copied from): docs/daily-exports.md.
 */
import { isUtf8 } from 'node:buffer';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { stringify, type Stringifier } from 'csv-stringify';
import { BatchError } from '../errors.js';
import { LocalStore } from '../stores/local.js';
import type { Store } from '../stores/store.js';
import type { Disposition } from './retry.js';
import { TEXT_SOURCE, type TextSource } from './output-line.js';
import { fieldCell, fieldColumns, INVALID_ANSWER_CODE as INVALID_CODE, redactedCell } from './structured.js';
import type { CollectResult, InvalidResult, SuccessResult } from './types.js';
import { isObject } from '../core/values.js';

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
  'request',
  'reused',
] as const;

const FIXED: ReadonlySet<string> = new Set([...RESULT_COLUMNS, 'truncated', 'redacted', 'modelOutput', 'fields', 'reusedFrom']);
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

/** Whether a results row's key is one of the writer's own (not a passthrough column). */
export function isFixedColumn(name: string): boolean {
  return FIXED.has(name);
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
  if (r.kind === 'success' || r.kind === 'invalid') {
    row.text = r.text;
    row.stopReason = r.stopReason;
    row.inputTokens = r.inputTokens;
    row.outputTokens = r.outputTokens;
  }
  row.model = r.model;
  if (r.kind === 'error') {
    row.errorCode = r.error.code;
    row.errorMessage = r.error.message;
  } else if (r.kind === 'invalid') {
    row.errorCode = INVALID_CODE;
    row.errorMessage = r.reason;
  } else if (r.kind === 'missing') {
    row.errorMessage = r.reason;
  }
  row.attempt = r.attempt;
  if (options.next !== undefined && options.next !== 'done') row.next = options.next;
  row.job = r.job;
  row.jobId = r.jobId;
  row.file = r.file;
  row.line = r.line;
  if (r.request !== undefined) row.request = r.request;
  row.reused = false;
  if (r.truncated !== undefined) row.truncated = r.truncated;
  if (r.redacted !== undefined) row.redacted = r.redacted;
  if (options.raw && r.kind !== 'missing') row.modelOutput = r.raw;
  for (const k in r.passthrough) row[passthroughColumn(k)] = r.passthrough[k];
  if (r.kind === 'success' && r.fields !== undefined) row.fields = r.fields;
  return row;
}

/** The errorCode of an invalid answer's row (and of its dead letter). */

const S = JSON.stringify;

/** Texts shorter than this are stringified: searching would cost more. */
const MIN_SEARCHED = 64;

/** jsonStringAt's answer: [start, end) of the token in `json`. */
const AT: [number, number] = [0, 0];

/**
 * Where `json` (well-formed: decoded from UTF-8) holds `JSON.stringify(text)`, in AT; false when it
 * does not. A token is taken when it decodes to `text` (JSON.parse, far cheaper than
 * JSON.stringify) and its escapes are all among those JSON.stringify writes for such a text
 * (`\"` `\\` `\b` `\f` `\n` `\r` `\t`: no `\u`, no `\/`): a JSON string with those escapes only
 * that decodes to `text` is JSON.stringify(text), wherever it was found, so the search is free to
 * guess. It looks for the quoted start of the text.
 */
function jsonStringAt(json: string, text: string): boolean {
  if (text.length < MIN_SEARCHED) return false;
  // the first characters, quoted as they would be (not cut inside a surrogate pair)
  let n = 24;
  const c = text.charCodeAt(n - 1);
  if (c >= 0xd800 && c <= 0xdbff) n--;
  const head = S(text.slice(0, n));
  const probe = head.slice(0, head.length - 1);
  let from = 0;
  for (let tries = 0; tries < 4; tries++) {
    const start = json.indexOf(probe, from);
    if (start < 0) return false;
    from = start + 1;
    // the closing quote: the first `"` after an even run of `\`
    let j = start + probe.length;
    let end = -1;
    for (;;) {
      const q = json.indexOf('"', j);
      if (q < 0) return false;
      let k = q - 1;
      while (json.charCodeAt(k) === 0x5c) k--;
      if (((q - 1 - k) & 1) === 0) {
        end = q + 1;
        break;
      }
      j = q + 1;
    }
    const token = json.slice(start, end);
    if (token.indexOf('\\u') >= 0 || token.indexOf('\\/') >= 0) continue;
    try {
      if (JSON.parse(token) === text) {
        AT[0] = start;
        AT[1] = end;
        return true;
      }
    } catch {
      // the probe matched inside another string: look further
    }
  }
  return false;
}

/** `JSON.stringify(text)` when `json` holds it (see jsonStringAt), else undefined. */
function jsonStringIn(json: string, text: string): string | undefined {
  return jsonStringAt(json, text) ? json.slice(AT[0], AT[1]) : undefined;
}

/** The source of a success result's text, when the text is unchanged since the join attached it. */
function textSourceOf(r: CollectResult): TextSource | undefined {
  const source = (r as { [TEXT_SOURCE]?: TextSource })[TEXT_SOURCE];
  return source !== undefined && r.kind === 'success' && source.text === r.text ? source : undefined;
}

/** The text of a success result as JSON: from where it was read when possible (TEXT_SOURCE). */
function textJson(r: (SuccessResult | InvalidResult) & { text: string }): string {
  const source = textSourceOf(r);
  return (source !== undefined && jsonStringIn(source.json, r.text)) || S(r.text);
}

/** `,"<key>":` for the passthrough columns met so far (a few names, repeated on every row). */
const keyJson = new Map<string, string>();
function keyPrefix(k: string): string {
  let j = keyJson.get(k);
  if (j === undefined) {
    j = ',' + S(k) + ':';
    if (keyJson.size < 1024) keyJson.set(k, j);
  }
  return j;
}

/** JSON.stringify of the last value seen in each slot: model, job, jobId and file repeat from result to result. */
const lastValue: unknown[] = [undefined, undefined, undefined, undefined];
const lastJson: (string | undefined)[] = [undefined, undefined, undefined, undefined];
function cached(slot: number, v: unknown): string | undefined {
  if (v === lastValue[slot] && v !== undefined) return lastJson[slot];
  lastValue[slot] = v;
  return (lastJson[slot] = S(v));
}

/**
 * One result as a JSONL line: exactly `JSON.stringify(resultRow(r, options)) + '\n'`, built
 * field by field (faster than building the row object and stringifying it; the writer's hot path).
 */
export function resultJsonLine(r: CollectResult, options: RowOptions = {}): string {
  return jsonLine(r, options, false) as string;
}

/**
 * The JSONL line of a result; with `split`, a success with a text comes as the parts before and
 * after the text's JSON (`[head, tail]`, head ending in `"text":`), for the writer to put the text
 * between them itself.
 */
function jsonLine(r: CollectResult, options: RowOptions, split: boolean): string | [string, string] {
  let extra = '';
  for (const k in r.passthrough) {
    if (FIXED.has(k) || k.charCodeAt(0) === 95 /* _ */) return S(resultRow(r, options)) + '\n';
    const v = S(r.passthrough[k]);
    if (v !== undefined) extra += keyPrefix(k) + v;
  }
  let s = '{"recordId":' + S(r.recordId) + ',"key":' + S(r.key) + ',"status":"' + r.kind + '"';
  let head: string | undefined;
  if (r.kind === 'success' || r.kind === 'invalid') {
    if (r.text !== undefined) {
      if (split && r.kind === 'success') {
        head = s + ',"text":';
        s = '';
      } else s += ',"text":' + textJson(r as (SuccessResult | InvalidResult) & { text: string });
    }
    if (r.stopReason !== undefined) s += ',"stopReason":' + S(r.stopReason);
    if (r.inputTokens !== undefined) s += ',"inputTokens":' + S(r.inputTokens);
    if (r.outputTokens !== undefined) s += ',"outputTokens":' + S(r.outputTokens);
  }
  s += ',"model":' + cached(0, r.model);
  if (r.kind === 'error') {
    if (r.error.code !== undefined) s += ',"errorCode":' + S(r.error.code);
    if (r.error.message !== undefined) s += ',"errorMessage":' + S(r.error.message);
  } else if (r.kind === 'invalid') {
    s += ',"errorCode":"' + INVALID_CODE + '","errorMessage":' + S(r.reason);
  } else if (r.kind === 'missing') {
    s += ',"errorMessage":' + S(r.reason);
  }
  s += ',"attempt":' + S(r.attempt);
  if (options.next !== undefined && options.next !== 'done') s += ',"next":"' + options.next + '"';
  s += ',"job":' + cached(1, r.job);
  if (r.jobId !== undefined) s += ',"jobId":' + cached(2, r.jobId);
  s += ',"file":' + cached(3, r.file) + ',"line":' + S(r.line);
  // a request hash is hex digits: no escaping
  s += r.request !== undefined ? ',"request":"' + r.request + '","reused":false' : ',"reused":false';
  if (r.truncated !== undefined) s += ',"truncated":' + S(r.truncated);
  if (r.redacted !== undefined) s += ',"redacted":' + S(r.redacted);
  if (options.raw && r.kind !== 'missing') {
    const raw = S(r.raw);
    if (raw !== undefined) s += ',"modelOutput":' + raw;
  }
  s += extra;
  if (r.kind === 'success' && r.fields !== undefined) s += ',"fields":' + S(r.fields);
  s += '}\n';
  return head === undefined ? s : [head, s];
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
  /** CSV: the lineage columns the run has (`lineageShape`): `truncated`, `redacted`. */
  truncated?: boolean;
  redacted?: boolean;
  /** CSV: a schema run's properties, in the schema's order: a column each (JSONL writes `fields`). */
  fields?: readonly string[];
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
  /** Chunks written and called back, for a destination known to be done with them then (see flush). */
  private readonly spare: Buffer[] | undefined;
  private columns?: string[];
  /** CSV: each schema property and its column. */
  private fieldCols: [string, string][] = [];
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
    if ('key' in t && t.store instanceof LocalStore) this.spare = [];
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
    if (this.options.truncated) cols.push('truncated');
    if (this.options.redacted) cols.push('redacted');
    if (this.options.raw) cols.push('modelOutput');
    for (const p of passthrough) {
      const c = passthroughColumn(p);
      if (!cols.includes(c)) cols.push(c);
    }
    this.fieldCols = fieldColumns(this.options.fields ?? [], cols);
    for (const [, c] of this.fieldCols) cols.push(c);
    return cols;
  }

  /** One result as a CSV row (see the module comment). */
  private csvRow(r: CollectResult, options: RowOptions): Record<string, unknown> {
    const row = resultRow(r, options);
    if (this.options.truncated) row.truncated = r.truncated ?? 0;
    if (this.options.redacted) row.redacted = redactedCell(r.redacted);
    if (this.fieldCols.length > 0) {
      const fields = r.kind === 'success' ? r.fields : undefined;
      for (const [p, c] of this.fieldCols) row[c] = fields && Object.hasOwn(fields, p) ? fieldCell(fields[p]) : undefined;
    }
    return row;
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
      const o = this.options.raw ? { raw: true, ...options } : options;
      const source = textSourceOf(r);
      // The text's JSON as bytes of the line it was read from, when they are exactly its UTF-8.
      if (source !== undefined && jsonStringAt(source.json, source.text) && isUtf8(source.bytes)) {
        const parts = jsonLine(r, o, true);
        if (typeof parts !== 'string') {
          // (bytes that are valid UTF-8 are exactly json's encoding: count the short ends, not the text)
          const start = Buffer.byteLength(source.json.slice(0, AT[0]));
          const end = source.bytes.length - Buffer.byteLength(source.json.slice(AT[1]));
          return this.putText(parts[0], source.bytes, start, end, parts[1]);
        }
      }
      return this.put(resultJsonLine(r, o));
    }
    if (!this.csv) {
      this.columns ??= this.columnsFor(Object.keys(r.passthrough));
      this.csv = this.openCsv();
    }
    const row = this.csvRow(r, { raw: this.options.raw === true, ...options });
    return this.csv.write(row) ? undefined : this.drained(this.csv);
  }

  /**
   * Write a row copied from an earlier results file: an answer prepare reused for a call it skipped
   * (`<run>/reused.jsonl`, src/results/reuse.ts). JSONL: the row as it is, with `reused: true`;
   * CSV/TSV: its cells in this file's columns (a `redacted` object and a schema run's `fields` as
   * the run's own rows write them). Returns a promise to await when the destination is busy.
   */
  writeReused(row: Readonly<Record<string, unknown>>): Promise<void> | undefined {
    if (this.failure) throw this.wrap(this.failure);
    this.records++;
    const r: Record<string, unknown> = { ...row, status: 'success', reused: true };
    if (this.format === 'jsonl') return this.put(S(r) + '\n');
    if (!this.csv) {
      this.columns ??= this.columnsFor(Object.keys(r).filter((k) => !FIXED.has(k)));
      this.csv = this.openCsv();
    }
    const cells: Record<string, unknown> = {};
    for (const c of this.columns!) cells[c] = r[c];
    if (this.options.truncated) cells.truncated = r.truncated ?? 0;
    if (this.options.redacted) cells.redacted = isObject(r.redacted) ? redactedCell(r.redacted as Record<string, number>) : r.redacted;
    if (this.fieldCols.length > 0) {
      const fields = isObject(r.fields) ? r.fields : undefined;
      for (const [p, c] of this.fieldCols) cells[c] = fields ? (Object.hasOwn(fields, p) ? fieldCell(fields[p]) : undefined) : r[c];
    }
    return this.csv.write(cells) ? undefined : this.drained(this.csv);
  }

  private put(line: string): Promise<void> | undefined {
    // UTF-8 is at most 3 bytes per UTF-16 unit
    const most = line.length * 3;
    let wait: Promise<void> | undefined;
    if (this.chunkUsed + most > this.chunk.length) {
      wait = this.flush();
      if (most > this.chunk.length) {
        const ok = this.head.write(Buffer.from(line, 'utf8'));
        return wait ?? (ok ? undefined : this.drained());
      }
    }
    this.chunkUsed += this.chunk.write(line, this.chunkUsed, 'utf8');
    return wait;
  }

  /** `head`, the text's JSON as `bytes[start, end)`, `tail`. */
  private putText(head: string, bytes: Buffer, start: number, end: number, tail: string): Promise<void> | undefined {
    const most = (head.length + tail.length) * 3 + end - start;
    let wait: Promise<void> | undefined;
    if (this.chunkUsed + most > this.chunk.length) {
      wait = this.flush();
      if (most > this.chunk.length) {
        const ok = this.head.write(Buffer.concat([Buffer.from(head, 'utf8'), bytes.subarray(start, end), Buffer.from(tail, 'utf8')]));
        return wait ?? (ok ? undefined : this.drained());
      }
    }
    this.chunkUsed += this.chunk.write(head, this.chunkUsed, 'utf8');
    this.chunkUsed += bytes.copy(this.chunk, this.chunkUsed, start, end);
    this.chunkUsed += this.chunk.write(tail, this.chunkUsed, 'utf8');
    return wait;
  }

  private drained(w: Writable | Stringifier = this.head): Promise<void> {
    return once(w, 'drain').then(() => {
      if (this.failure) throw this.wrap(this.failure);
    });
  }

  /**
   * Hand the filled chunk to the destination; a promise when it asks us to wait. A destination may
   * keep a chunk after its write callback (an upload gathering parts), so a new one is taken, except
   * for a local file (or gzip on one), which is done with a chunk once it calls back: chunks are then
   * used again, rather than leave 256 KiB of garbage behind per write (promoted to the old generation
   * when a write is slow, where it piles up until a full GC).
   */
  private flush(): Promise<void> | undefined {
    if (this.chunkUsed === 0) return undefined;
    const chunk = this.chunk;
    const full = chunk.subarray(0, this.chunkUsed);
    this.chunk = this.spare?.pop() ?? Buffer.allocUnsafe(CHUNK_BYTES);
    this.chunkUsed = 0;
    const spare = this.spare;
    const ok = spare
      ? this.head.write(full, (error) => {
          if (!error) spare.push(chunk);
        })
      : this.head.write(full);
    return ok ? undefined : this.drained();
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
