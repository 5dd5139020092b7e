/**
 * Answers reused across runs (`--skip-answered`, docs/daily-exports.md): daily exports overlap, and
 * a call answered yesterday must not be paid for again today.
 *
 *   sources ──resolve──▶ results files ──stream (1st pass)──▶ AnsweredIndex: key -> (request hash, source, line)
 *   prepare: a record whose key is indexed with the same request hash is skipped (`take`), not written
 *   sources ──stream (2nd pass)──▶ the skipped keys' rows ──▶ <run>/reused.jsonl (one line per skipped call)
 *   collect: the run's own results, then every reused.jsonl row (`reusedRows`), marked `reused`
 *
 * A source is a results file (`.jsonl`, `.ndjson`, `.json`, `.csv`, `.tsv`, each optionally `.gz`;
 * local or `s3://`) or, for any other name, a run folder: the results files its `run.json` lists
 * that exist, and its `results.jsonl`, `results.csv`, `results.tsv` (optionally `.gz`); a folder with
 * none is an error naming it.
 *
 * What is indexed: rows with status `success` (a row that is itself a reused answer is one too, so a
 * chain of days works) of the run's model (compared with `normalizeModelId`: a region prefix or an
 * ARN does not matter) that carry a `request` hash. Later sources, and later lines of a source, win
 * on the same key. Rows without a request hash (results of a run prepared before prepare kept one
 * in its lineage) are counted and named once per source, never reused. Only the key, the hash and where the row is are
 * held (bytes per key: docs/daily-exports.md), never the answer: the rows of the skipped calls are
 * copied by a second pass over the sources, once prepare knows which calls it skipped; a row that
 * is not where the first pass found it (the file changed in between) stops prepare.
 *
 * A CSV/TSV source's row comes back as a JSONL row: its cells as strings, except the fixed numeric
 * columns (numbers), `reused` (a boolean), `redacted` (an object) and `modelOutput` (JSON); empty
 * cells are left out, and a cell the results writer escaped for spreadsheets (a leading `'`) is read
 * back without it.
 */
import { REUSED_KEY } from '../run/layout.js';
import { stat } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import type { Writable } from 'node:stream';
import { LineSplitter } from '../core/lines.js';
import { isObject } from '../core/values.js';
import { BatchError } from '../errors.js';
import { normalizeModelId } from '../models/ids.js';
import { CsvDecoder } from '../read/csv.js';
import { openSource } from '../read/open.js';
import type { Reject, SourceItem } from '../records/types.js';
import { WORK_MANIFEST_KEY } from '../run/work.js';
import { fileTarget, openStore, readSmall, type StoreOptions } from '../stores/index.js';
import type { Store } from '../stores/store.js';
import { isS3Uri } from '../stores/uri.js';
import { escapeFormula, formatOf, type ResultsFormat } from './writers.js';


/** The longest results row read (a longer one is counted as unreadable). */
const MAX_ROW_BYTES = 64 * 1024 * 1024;
/** The file names a run folder's results go by (`run --work`, `collect`'s default), in the order read. */
const FOLDER_RESULTS = ['results.jsonl', 'results.jsonl.gz', 'results.csv', 'results.csv.gz', 'results.tsv', 'results.tsv.gz'];
const REQUEST = /^[0-9a-f]{32}$/;

/** A results file to read: the source it came from (as given) and the file. */
export interface AnsweredSource {
  /** The source as given: a results file or a run folder. */
  given: string;
  /** The results file (a path or an s3:// URI). */
  file: string;
  format: ResultsFormat;
}

/** What one results file held, as the index read it. */
export interface AnsweredSourceStats {
  source: string;
  file: string;
  /** Rows read. */
  rows: number;
  /** Answers indexed: successes of the run's model with a request hash (a later one may replace one). */
  indexed: number;
  /** Rows whose status is not success (errors, missing, invalid): never reused. */
  notAnswered: number;
  /** Successes of another model. */
  otherModel: number;
  /** Successes of the run's model without a request hash (collected before collect wrote one). */
  noRequest: number;
  /** Rows that could not be read (not JSON, no key, over 64 MiB, a broken CSV row). */
  unreadable: number;
}

/**
 * The files the sources stand for (see the module comment), in order, each once. A source that
 * does not exist, or a folder that holds no results file, is an E_NO_INPUT naming it.
 */
export async function resolveAnsweredSources(sources: readonly string[], s3?: StoreOptions): Promise<AnsweredSource[]> {
  const out: AnsweredSource[] = [];
  const seen = new Set<string>();
  const add = (given: string, file: string, format: ResultsFormat) => {
    const id = isS3Uri(file) ? file : resolvePath(file);
    if (seen.has(id)) return;
    seen.add(id);
    out.push({ given, file, format });
  };
  for (const given of sources) {
    if (typeof given !== 'string' || given === '') throw new BatchError('E_BAD_OPTION', '--skip-answered needs a results file or a run folder');
    const format = formatOf(given);
    if (isS3Uri(given)) {
      if (format && !given.endsWith('/')) {
        const t = fileTarget(given, s3);
        if (!(await t.store.exists(t.key))) throw noSource(given);
        add(given, given, format);
      } else {
        for (const f of await folderResults(given, s3)) add(given, f.file, f.format);
      }
      continue;
    }
    const info = await stat(given).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT' || e.code === 'ENOTDIR') throw noSource(given);
      throw new BatchError('E_READ', `cannot read ${given}: ${e.message}`, { cause: e });
    });
    if (info.isDirectory()) {
      for (const f of await folderResults(given, s3)) add(given, f.file, f.format);
    } else if (format) {
      add(given, given, format);
    } else {
      throw new BatchError('E_BAD_OPTION', `--skip-answered ${given}: not a results file (.jsonl, .csv or .tsv, optionally .gz) nor a run folder`, {
        hint: 'give the results file collect or run wrote, or the run folder (--work) that holds it',
      });
    }
  }
  return out;
}

function noSource(given: string): BatchError {
  return new BatchError('E_NO_INPUT', `--skip-answered ${given} does not exist`, { hint: 'give a results file collect or run wrote, or a run folder (--work) that holds one' });
}

/** The results files of a run folder: those its run.json lists that exist, then the usual names. */
async function folderResults(folder: string, s3?: StoreOptions): Promise<{ file: string; format: ResultsFormat }[]> {
  const store = openStore(folder, s3);
  const found: { file: string; format: ResultsFormat }[] = [];
  if (await store.exists(WORK_MANIFEST_KEY)) {
    let listed: unknown;
    try {
      listed = (JSON.parse(await readSmall(store, WORK_MANIFEST_KEY, 1 << 20)) as { results?: unknown }).results;
    } catch {
      listed = undefined; // not ours: the usual names below still count
    }
    for (const r of Array.isArray(listed) ? listed : []) {
      if (typeof r !== 'string' || r === '-' || !formatOf(r)) continue;
      // as run was given it: from where it ran (unknown here), so as given, then inside the folder
      for (const candidate of isS3Uri(r) ? [r] : [r, `${folder.replace(/\/+$/, '')}/${r.slice(r.lastIndexOf('/') + 1)}`]) {
        const t = fileTarget(candidate, s3);
        if (await t.store.exists(t.key)) {
          found.push({ file: candidate, format: formatOf(candidate)! });
          break;
        }
      }
    }
  }
  for (const name of FOLDER_RESULTS) {
    if (await store.exists(name)) found.push({ file: isS3Uri(folder) ? store.resolve(name) : `${folder.replace(/\/+$/, '')}/${name}`, format: formatOf(name)! });
  }
  if (found.length === 0) {
    throw new BatchError('E_NO_INPUT', `--skip-answered ${folder}: the folder holds no results file (${FOLDER_RESULTS.filter((n) => !n.endsWith('.gz')).join(', ')}, optionally .gz)${(await store.exists(WORK_MANIFEST_KEY)) ? ', and none of those its run.json lists exists' : ''}`, {
      hint: 'collect that run first, or give its results file itself',
    });
  }
  return found;
}

/** One results row, read: the fields the index needs, and the row. */
interface Row {
  line: number;
  key: string | undefined;
  status: unknown;
  model: unknown;
  request: unknown;
  /** The row as a JSONL results row (what reused.jsonl holds). */
  value: () => Record<string, unknown>;
}

/**
 * Every row of a results file, streamed (one row held at a time), and the rows it could not read.
 * JSONL rows are parsed whole; CSV/TSV rows are read as JSONL rows (see the module comment).
 */
async function readRows(
  source: AnsweredSource,
  s3: StoreOptions | undefined,
  onRow: (row: Row) => void,
  onUnreadable: () => void,
  signal: AbortSignal | undefined,
  afterChunk?: () => Promise<void> | undefined,
): Promise<void> {
  const bytes = openSource(source.file, s3 ? { s3 } : {}) as AsyncIterable<Buffer>;
  if (source.format === 'jsonl') {
    const splitter = new LineSplitter({ maxLineBytes: MAX_ROW_BYTES, onTooLong: () => onUnreadable() });
    const onLine = (buf: Buffer, start: number, end: number, line: number) => {
      let v: unknown;
      try {
        v = JSON.parse(buf.toString('utf8', start, end));
      } catch {
        return onUnreadable();
      }
      if (!isObject(v)) return onUnreadable();
      const o = v;
      onRow({ line, key: keyOf(o.key), status: o.status, model: o.model, request: o.request, value: () => o });
    };
    for await (const chunk of bytes) {
      if (signal?.aborted) throw signal.reason ?? new Error('aborted');
      splitter.push(chunk, onLine);
      await afterChunk?.();
    }
    splitter.end(onLine);
    await afterChunk?.();
    return;
  }
  const emit = (item: SourceItem | Reject) => {
    if (item.kind !== 'item' || !isObject(item.value)) return onUnreadable();
    const cells = item.value as Record<string, unknown>;
    const cell = (name: string) => (typeof cells[name] === 'string' ? unescapeCell(cells[name] as string) : undefined);
    onRow({ line: item.line, key: cell('key') || undefined, status: cell('status'), model: cell('model'), request: cell('request'), value: () => rowOfCells(cells) });
  };
  const decoder = new CsvDecoder({ file: source.file, delimiter: source.format === 'tsv' ? '\t' : ',', maxRowBytes: MAX_ROW_BYTES }, emit);
  for await (const chunk of bytes) {
    if (signal?.aborted) throw signal.reason ?? new Error('aborted');
    decoder.push(chunk);
    await afterChunk?.();
  }
  decoder.end();
  await afterChunk?.();
}

function keyOf(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined;
}

/** A cell as it was before the results writer escaped it for spreadsheets (`escapeFormula`). */
export function unescapeCell(cell: string): string {
  return cell.length >= 2 && cell.charCodeAt(0) === 0x27 && escapeFormula(cell.slice(1)) === cell ? cell.slice(1) : cell;
}

const NUMERIC = new Set(['inputTokens', 'outputTokens', 'attempt', 'line', 'truncated']);

/** A CSV/TSV results row as a JSONL results row (see the module comment). */
function rowOfCells(cells: Record<string, unknown>): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(cells)) {
    if (typeof raw !== 'string' || raw === '') continue;
    const cell = unescapeCell(raw);
    if (NUMERIC.has(name) && /^-?\d+(?:\.\d+)?$/.test(cell)) row[name] = Number(cell);
    else if (name === 'reused') row[name] = cell === 'true';
    else if (name === 'redacted') row[name] = redactedOf(cell);
    else if (name === 'modelOutput') {
      try {
        row[name] = JSON.parse(cell);
      } catch {
        row[name] = cell;
      }
    } else row[name] = cell;
  }
  return row;
}

/** `card:1;phone:2` (writers' `redactedCell`) as `{card: 1, phone: 2}`. */
function redactedOf(cell: string): Record<string, number> | string {
  const out: Record<string, number> = {};
  for (const part of cell.split(';')) {
    const m = /^([^:]+):(\d+)$/.exec(part);
    if (!m) return cell;
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

export interface AnsweredIndexOptions {
  /** Results files or run folders (see the module comment), in order: later ones win on a key. */
  sources: readonly string[];
  /** The run's model: only its answers are indexed. */
  modelId: string;
  /** S3 settings for sources in S3. */
  s3?: StoreOptions;
  signal?: AbortSignal;
}

/**
 * key -> the latest indexed answer for it: its request hash (128 bits as four 32-bit words), its
 * source and line. One Map entry per key and 28 bytes in typed arrays; nothing of the row itself.
 */
export class AnsweredIndex {
  readonly sources: AnsweredSourceStats[] = [];
  /** One line per source that holds rows without a request hash, or unreadable rows. */
  readonly notes: string[] = [];
  /** Calls skipped so far (`take`). */
  skipped = 0;
  private readonly files: AnsweredSource[];
  private readonly slots = new Map<string, number>();
  private words = new Uint32Array(4 * 1024);
  private where = new Int32Array(2 * 1024);
  private taken = new Uint8Array(1024);

  private constructor(files: AnsweredSource[], private readonly options: AnsweredIndexOptions) {
    this.files = files;
  }

  /** Read the sources (the first pass) and index their answers. */
  static async load(options: AnsweredIndexOptions): Promise<AnsweredIndex> {
    const files = await resolveAnsweredSources(options.sources, options.s3);
    const index = new AnsweredIndex(files, options);
    const model = normalizeModelId(options.modelId);
    for (let s = 0; s < files.length; s++) {
      const f = files[s]!;
      const st: AnsweredSourceStats = { source: f.given, file: f.file, rows: 0, indexed: 0, notAnswered: 0, otherModel: 0, noRequest: 0, unreadable: 0 };
      index.sources.push(st);
      await readRows(
        f,
        options.s3,
        (row) => {
          st.rows++;
          if (row.key === undefined) st.unreadable++;
          else if (row.status !== 'success') st.notAnswered++;
          else if (typeof row.model !== 'string' || normalizeModelId(row.model) !== model) st.otherModel++;
          else if (typeof row.request !== 'string' || !REQUEST.test(row.request)) st.noRequest++;
          else {
            index.put(row.key, row.request, s, row.line);
            st.indexed++;
          }
        },
        () => {
          st.rows++;
          st.unreadable++;
        },
        options.signal,
      );
      if (st.noRequest > 0) {
        index.notes.push(`${st.noRequest} row${st.noRequest === 1 ? '' : 's'} of ${f.file} ha${st.noRequest === 1 ? 's' : 've'} no request hash: their run was prepared before prepare recorded one; they are not reused`);
      }
      if (st.unreadable > 0) index.notes.push(`${st.unreadable} row${st.unreadable === 1 ? '' : 's'} of ${f.file} could not be read (not a results row); they are not reused`);
    }
    return index;
  }

  /** Keys with an indexed answer. */
  get size(): number {
    return this.slots.size;
  }

  private put(key: string, request: string, source: number, line: number): void {
    let slot = this.slots.get(key);
    if (slot === undefined) {
      slot = this.slots.size;
      if (slot >= this.taken.length) this.grow();
      this.slots.set(key, slot);
    }
    for (let k = 0; k < 4; k++) this.words[4 * slot + k] = parseInt(request.slice(8 * k, 8 * k + 8), 16);
    this.where[2 * slot] = source;
    this.where[2 * slot + 1] = line;
  }

  private grow(): void {
    const n = this.taken.length * 2;
    const words = new Uint32Array(4 * n);
    words.set(this.words);
    const where = new Int32Array(2 * n);
    where.set(this.where);
    this.words = words;
    this.where = where;
    const taken = new Uint8Array(n);
    taken.set(this.taken);
    this.taken = taken;
  }

  /** Whether `key` has an answer not taken yet (cheap: no request hash needed to ask). */
  has(key: string): boolean {
    const slot = this.slots.get(key);
    return slot !== undefined && this.taken[slot] === 0;
  }

  /**
   * Whether `key` has an answer for this request hash: then the call is skipped (counted, and its
   * row copied by `writeReused`). A key is taken once: a second call with it (`--duplicates
   * per-file`) is not skipped.
   */
  take(key: string, request: string): boolean {
    const slot = this.slots.get(key);
    if (slot === undefined || this.taken[slot] === 1 || !this.sameRequest(slot, request)) return false;
    this.taken[slot] = 1;
    this.skipped++;
    return true;
  }

  private sameRequest(slot: number, request: unknown): boolean {
    if (typeof request !== 'string' || !REQUEST.test(request)) return false;
    for (let k = 0; k < 4; k++) if (this.words[4 * slot + k] !== parseInt(request.slice(8 * k, 8 * k + 8), 16)) return false;
    return true;
  }

  /**
   * The second pass: every skipped call's row, as it was in its results file plus
   * `reusedFrom: <that file>`, one line each, to `key` in `store` (written whole or not at all, as
   * every store write). Rows come in source order. E_READ when a source changed since the first pass.
   */
  async writeReused(store: Store, key = REUSED_KEY): Promise<{ uri: string; records: number }> {
    const w = store.createWriteStream(key, { contentType: 'application/x-ndjson' });
    let failure: Error | undefined;
    w.on('error', (e) => (failure ??= e));
    let records = 0;
    // the rows of one chunk of a source at most are held: written out after each chunk
    let pending: string[] = [];
    const flush = async () => {
      if (failure) throw failure;
      if (pending.length === 0) return;
      const ok = w.write(pending.join(''));
      pending = [];
      if (!ok) await drained(w);
    };
    try {
      for (let s = 0; s < this.files.length; s++) {
        const f = this.files[s]!;
        let changed = 0;
        await readRows(
          f,
          this.options.s3,
          (row) => {
            if (row.key === undefined) return;
            const slot = this.slots.get(row.key);
            if (slot === undefined || this.taken[slot] !== 1 || this.where[2 * slot] !== s || this.where[2 * slot + 1] !== row.line) return;
            if (!this.sameRequest(slot, row.request)) return void changed++;
            pending.push(JSON.stringify({ ...row.value(), reusedFrom: f.file }) + '\n');
            records++;
          },
          () => {},
          this.options.signal,
          flush,
        );
        if (changed > 0) throw changedSource(f.file);
      }
      if (records !== this.skipped) throw changedSource(this.files.map((f) => f.file).join(', '), this.skipped - records);
      await flush();
      await new Promise<void>((resolve, reject) => {
        w.once('error', reject);
        w.end(() => resolve());
      });
      if (failure) throw failure;
    } catch (error) {
      w.destroy(error as Error);
      throw error;
    }
    return { uri: store.resolve(key), records };
  }
}

function changedSource(file: string, missing?: number): BatchError {
  return new BatchError('E_READ', `${file} changed while prepare read it${missing !== undefined ? `: ${missing} reused answer(s) were not found again` : ''}`, {
    hint: 'nothing was submitted; run prepare again once the results files stay as they are (--overwrite)',
  });
}

function drained(w: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      w.off('error', fail);
      resolve();
    };
    const fail = (e: Error) => {
      w.off('drain', done);
      reject(e);
    };
    w.once('drain', done);
    w.once('error', fail);
  });
}

/**
 * The rows of a run's reused.jsonl (what prepare's `writeReused` wrote), one at a time, for collect
 * to append to the results. A line that is not a JSON object is an E_STORE naming it.
 */
export async function* reusedRows(store: Store, key = REUSED_KEY): AsyncGenerator<Record<string, unknown>> {
  const splitter = new LineSplitter({ maxLineBytes: MAX_ROW_BYTES, overflow: 'error', file: store.resolve(key) });
  const rows: Record<string, unknown>[] = [];
  let bad = 0;
  const onLine = (buf: Buffer, start: number, end: number, line: number) => {
    let v: unknown;
    try {
      v = JSON.parse(buf.toString('utf8', start, end));
    } catch {
      v = undefined;
    }
    if (!isObject(v)) bad ||= line;
    else rows.push(v);
  };
  for await (const chunk of store.createReadStream(key) as AsyncIterable<Buffer>) {
    splitter.push(chunk, onLine);
    if (bad) break;
    yield* rows.splice(0);
  }
  if (!bad) splitter.end(onLine);
  if (bad) throw new BatchError('E_STORE', `${store.resolve(key)}, line ${bad}: not a results row`, { hint: 'the file was changed after prepare wrote it; prepare the run again' });
  yield* rows.splice(0);
}
