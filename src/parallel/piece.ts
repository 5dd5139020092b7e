/**
 * What prepare does with one row-aligned piece of a file, on a worker thread (worker.ts) or, with
 * `workers: 0`, on the main thread itself (engine.ts): decode the piece, run the middle of it (see
 * groups.ts) through the same stages a single thread runs (adapter, prompt, model family, ids,
 * validation), and hand back the records serialised as one batch, with their lineage lines (each
 * with the request hash of its record's bytes, src/records/request-hash.ts). Duplicate keys are
 * not judged here: each record's key fingerprint (the same `CallHasher` as the id stage's: the key
 * alone by default, so a key seen in another file of the run is caught) goes back as an event and
 * the main thread, which sees the whole run in order, decides.
 *
 * When the stages describe how one CSV row becomes a record (`StagesModule.rowRecipe`) and the
 * model family's request is a fixed envelope around the prompt, rows are encoded by the fused path
 * (fused.ts) straight from the piece's bytes; any row it does not take goes through the stages as
 * above, in its place. Both write the same bytes (test/prepare/fused.test.ts).
 */
import { isUtf8 } from 'node:buffer';
import { countLf } from '../core/lines.js';
import { fuse, type Emit, type Step } from '../core/step.js';
import { isBatchError } from '../errors.js';
import { CsvDecoder } from '../read/csv.js';
import { JsonlDecoder } from '../read/jsonl.js';
import { base62of64, CallHasher, checkIdOptions, RandomPool } from '../records/ids.js';
import { recordRequest } from '../records/request-hash.js';
import { toRecords } from '../records/to-records.js';
import type { PrepareItem, PreparedRecord, Reject, SourceItem } from '../records/types.js';
import { validateRecords } from '../records/validate.js';
import { lineageLine } from '../run/sidecars.js';
import { FusedItems, FusedRows } from './fused.js';
import { PieceSplitter } from './groups.js';
import type { PieceBytes, PieceMessage, PieceResult, WorkerReply, WorkerSetup } from './protocol.js';
import type { StagesModule } from './stages.js';

/** Where encoded lines go: the shared slab the main thread gave, or (when they do not fit) a buffer
 * of this thread's own, handed back. Lines are encoded as they come, so their strings die young. */
export class Bytes {
  buf!: Buffer;
  private own = false;
  length = 0;
  /** Write into this slab from the start. */
  reset(slab: SharedArrayBuffer): void {
    this.buf = Buffer.from(slab);
    this.own = false;
    this.length = 0;
  }
  /** Room for `n` more bytes at `length` (the buffer may be replaced: read `buf` after this). */
  ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(grown, 0, 0, this.length);
    this.buf = grown;
    this.own = true;
  }
  append(text: string): number {
    if (this.length + text.length * 3 > this.buf.length) this.ensure(Buffer.byteLength(text));
    const n = this.buf.write(text, this.length, 'utf8');
    this.length += n;
    return n;
  }
  take(): PieceBytes {
    return this.own ? { inSlab: false, bytes: this.buf.subarray(0, this.length) } : { inSlab: true, length: this.length };
  }
}

/** What one piece produced so far (see `PieceResult`). */
interface Collected {
  sizes: number[];
  inTok: number[];
  outTok: number[];
  rejects: Reject[];
  fps: number[];
  ids: number[];
  lines: number[];
  keys: string[];
  outcome: number[];
  consumed: number;
  read: number;
  fused: number;
  /** Per record (index in `sizes`), set only once some record carries it (see PieceBatch). */
  redacted: (Record<string, number> | null)[] | undefined;
  truncated: number[] | undefined;
}

function fresh(): Collected {
  return { sizes: [], inTok: [], outTok: [], rejects: [], fps: [], ids: [], lines: [], keys: [], outcome: [], consumed: 0, read: 0, fused: 0, redacted: undefined, truncated: undefined };
}

/** `list` (created when absent) filled with `empty` up to `length` slots. */
function padded<T>(list: T[] | undefined, length: number, empty: T): T[] {
  const out = list ?? [];
  while (out.length < length) out.push(empty);
  return out;
}

/** The stages of one file's pinned options, and the fused encoder when its rows can take it. */
interface FileSteps {
  pinned: string;
  steps: Step<PrepareItem, PrepareItem>;
  /** CSV rows as bytes (fused.ts), or rows that arrive decoded (JSON Lines). */
  fused: FusedRows | undefined;
  fusedItems: FusedItems | undefined;
}

export class PieceHandler {
  readonly data = new Bytes();
  readonly lineage = new Bytes();
  private readonly pool: RandomPool | undefined;
  private readonly hasher: CallHasher;
  private c: Collected = fresh();
  private current: FileSteps | undefined;

  constructor(
    private readonly setup: WorkerSetup,
    private readonly stages: StagesModule,
  ) {
    this.pool = checkIdOptions(setup.ids).mode === 'random' ? new RandomPool() : undefined;
    this.hasher = new CallHasher(setup.ids);
  }

  /** The id stage's work for one record: its fingerprint event, and its recordId. */
  assignId(file: string, key: string, line: number): string {
    const h = this.hasher;
    const c = this.c;
    h.hash(file, key);
    c.fps.push(h.keyHi, h.keyLo);
    c.lines.push(line);
    if (!this.setup.lineage) c.keys.push(key);
    if (this.pool) {
      const [a, b] = this.pool.next();
      c.ids.push(a, b);
      return base62of64(a, b);
    }
    return base62of64(h.idHi, h.idLo);
  }

  /** Whether a row went through the stages since they were last ended, and how to end them (set
   * per piece by `handle`). */
  private stagesOpen = false;
  private endStages: () => void = () => {};

  /**
   * The fused path has encoded a record at data[start, end) (past `data.length`) and will write it:
   * first what the stages still hold goes out (the row adapter holds a call until the next row
   * comes, and a fused row is a next row), so records, rejects and id events keep the input's order.
   * Returns where the encoded bytes now start.
   */
  settle(start: number, end: number): number {
    if (!this.stagesOpen) return start;
    const encoded = Buffer.from(this.data.buf.subarray(start, end));
    this.endStages();
    this.stagesOpen = false;
    this.data.ensure(encoded.length);
    encoded.copy(this.data.buf, this.data.length);
    return this.data.length;
  }

  append(line: string): number {
    return this.data.append(line);
  }

  /** A record encoded elsewhere (the fused path) has been appended to `data` (`size` bytes). */
  recordWritten(size: number, inputTokens: number, outputTokens: number): void {
    const c = this.c;
    c.outcome[c.consumed++] = c.sizes.length;
    c.sizes.push(size);
    c.inTok.push(inputTokens);
    c.outTok.push(outputTokens);
    c.read++;
    c.fused++;
  }

  /** The fused stages for a file's pinned options (built once per file). */
  private stepsFor(msg: PieceMessage): FileSteps {
    const pinned = JSON.stringify(msg.pinned.options);
    if (this.current && this.current.pinned === pinned) return this.current;
    const { setup } = this;
    const { adapt, prompt } = this.stages.createStages(msg.pinned.options);
    const countRead: Step<PrepareItem, PrepareItem> = {
      write: (item, emit) => {
        if (item.kind === 'call' || item.kind === 'reject') this.c.read++;
        emit(item);
      },
    };
    const ids: Step<PrepareItem, PrepareItem> = {
      write: (item, emit) => {
        if (item.kind !== 'record') return emit(item);
        item.recordId = this.assignId(item.file, item.key, item.line);
        emit(item);
      },
    };
    const validate = validateRecords({
      modelId: setup.model.modelId,
      ...(setup.model.family ? { family: setup.model.family } : {}),
      ...(setup.model.invocationType ? { invocationType: setup.model.invocationType } : {}),
      maxRecordBytes: setup.maxRecordBytes,
    });
    const steps = fuse<PrepareItem, PrepareItem>(adapt, countRead, prompt, toRecords(setup.model), ids, validate);
    const recipe = setup.fused && msg.pinned.groupKey === undefined ? this.stages.rowRecipe?.(msg.pinned.options) : undefined;
    const fused = recipe && msg.format === 'csv' ? FusedRows.create(recipe, msg.columns!, setup, this) : undefined;
    const fusedItems = recipe && msg.format === 'jsonl' ? FusedItems.create(recipe, setup, this) : undefined;
    this.current = { pinned, steps, fused, fusedItems };
    return this.current;
  }

  private collect(c: Collected): Emit<PrepareItem> {
    return (item) => {
      if (item.kind === 'record') {
        const rec = item as PreparedRecord;
        if (rec.redacted !== undefined) (c.redacted = padded(c.redacted, c.sizes.length, null)).push(rec.redacted);
        if (rec.truncated !== undefined) (c.truncated = padded(c.truncated, c.sizes.length, 0)).push(rec.truncated);
        c.outcome[c.consumed++] = c.sizes.length;
        const size = this.data.append(rec.json!);
        c.sizes.push(size);
        c.inTok.push(rec.inputTokens ?? 0);
        c.outTok.push(rec.maxOutputTokens ?? 0);
        if (this.setup.lineage) {
          // the request hash of the bytes just written, as the fused path takes it
          rec.request = recordRequest(this.data.buf, this.data.length - size, this.data.length);
          this.lineage.append(lineageLine(rec.recordId, rec));
        }
      } else if (item.kind === 'reject') {
        if (item.stage === 'validate') c.outcome[c.consumed++] = -(c.rejects.length + 1);
        c.rejects.push(item);
      } else {
        throw new Error(`parallel prepare: a "${item.kind}" item left the stages`);
      }
    };
  }

  handle(msg: PieceMessage): PieceResult {
    const { steps, fused, fusedItems } = this.stepsFor(msg);
    const c = (this.c = fresh());
    const emit = this.collect(c);
    const groupKey = msg.pinned.groupKey;
    let middle = 0;
    this.stagesOpen = false;
    this.endStages = () => steps.end?.(emit);
    const splitter = new PieceSplitter(groupKey === undefined ? undefined : (it) => this.stages.groupKeyOf(it, groupKey), (item) => {
      middle++;
      if (fusedItems !== undefined && item.kind === 'item' && fusedItems.item(item)) return;
      this.stagesOpen = true;
      steps.write(item, emit);
    });
    const push = (item: SourceItem | Reject) => splitter.push(item);
    const bytes = Buffer.from(msg.input, 0, msg.length);
    this.data.reset(msg.dataSlab);
    this.lineage.reset(msg.lineageSlab);
    let clean = true;
    let nextLine: number;
    if (fused) fused.pieceIsUtf8 = isUtf8(bytes); // then every row of it is (rows are cut at ASCII bytes)
    if (msg.format === 'csv') {
      const raw = fused ? (buf: Buffer, offsets: Int32Array, fields: number, line: number, rowStart: number, rowEnd: number) => fused.row(buf, offsets, fields, line, rowStart, rowEnd, msg.file) : undefined;
      const d = new CsvDecoder({ file: msg.file, delimiter: msg.delimiter ?? ',', columns: msg.columns!, firstLine: msg.firstLine, maxRowBytes: msg.maxRowBytes }, push, raw);
      d.push(bytes);
      if (msg.last) d.end();
      else clean = d.atRowBoundary;
      nextLine = d.nextLine;
    } else {
      const d = new JsonlDecoder({ file: msg.file, maxLineBytes: msg.maxRowBytes, firstLine: msg.firstLine }, push);
      d.push(bytes);
      if (msg.last) d.end();
      nextLine = msg.firstLine + countLf(bytes);
    }
    splitter.end();
    if (middle > 0) steps.end?.(emit);
    return {
      seq: msg.seq,
      head: splitter.head,
      whole: splitter.whole,
      tail: splitter.tail,
      batch: {
        count: c.sizes.length,
        data: this.data.take(),
        sizes: Int32Array.from(c.sizes),
        lineage: this.lineage.take(),
        inputTokens: Int32Array.from(c.inTok),
        outputTokens: Int32Array.from(c.outTok),
        ...(c.redacted ? { redacted: padded(c.redacted, c.sizes.length, null) } : {}),
        ...(c.truncated ? { truncated: Int32Array.from(padded(c.truncated, c.sizes.length, 0)) } : {}),
      },
      rejects: c.rejects,
      events: {
        count: c.lines.length,
        fingerprints: Uint32Array.from(c.fps),
        ...(this.pool ? { ids: Uint32Array.from(c.ids) } : {}),
        lines: Int32Array.from(c.lines),
        ...(this.setup.lineage ? {} : { keys: c.keys }),
        outcome: Int32Array.from(c.outcome),
      },
      read: c.read,
      fused: c.fused,
      clean,
      nextLine,
    };
  }

  /** `handle`, with a failure as a reply (what crosses a thread), and the buffers to transfer. */
  reply(msg: PieceMessage): { reply: WorkerReply; transfer: ArrayBuffer[] } {
    const transfer: ArrayBuffer[] = [];
    try {
      const r = this.handle(msg);
      for (const b of [r.batch.data, r.batch.lineage]) if (!b.inSlab) transfer.push(b.bytes.buffer as ArrayBuffer);
      return { reply: r, transfer };
    } catch (error) {
      const e = error as Error & { code?: string; hint?: string; file?: string; line?: number };
      return {
        reply: {
          seq: msg.seq,
          error: {
            message: e?.message ?? String(error),
            ...(isBatchError(error) ? { code: error.code } : {}),
            ...(e?.hint ? { hint: e.hint } : {}),
            ...(e?.file ? { file: e.file } : {}),
            ...(e?.line !== undefined ? { line: e.line } : {}),
            ...(e?.stack ? { stack: e.stack } : {}),
          },
        },
        transfer,
      };
    }
  }
}
