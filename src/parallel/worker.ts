/**
 * A parallel prepare worker: decodes row-aligned pieces of a file and runs the middle of each (see
 * groups.ts) through the same stages a single thread runs (adapter, prompt, model family, ids,
 * validation), then sends back the records serialised as one batch. Duplicate keys are not judged
 * here: each record's key fingerprint (the same `CallHasher` as the id stage's: the key alone by
 * default, so a key seen in another file of the run is caught) goes back as an event and the main
 * thread, which sees the whole run in order, decides.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { countLf } from '../core/lines.js';
import { fuse, type Emit, type Step } from '../core/step.js';
import { isBatchError } from '../errors.js';
import { CsvDecoder } from '../read/csv.js';
import { JsonlDecoder } from '../read/jsonl.js';
import { base62of64, CallHasher, checkIdOptions, RandomPool } from '../records/ids.js';
import { toRecords } from '../records/to-records.js';
import type { PrepareItem, PreparedRecord, Reject, SourceItem } from '../records/types.js';
import { validateRecords } from '../records/validate.js';
import { lineageLine } from '../run/sidecars.js';
import { PieceSplitter } from './groups.js';
import type { PieceBytes, PieceMessage, PieceResult, WorkerReply, WorkerSetup } from './protocol.js';
import { loadStages, type StagesModule } from './stages.js';

const setup = workerData as WorkerSetup;
const stages: StagesModule = await loadStages({ module: setup.stages.module, options: setup.stages.options }, { built: true });
const idMode = checkIdOptions(setup.ids).mode;
const pool = idMode === 'random' ? new RandomPool() : undefined;

/** Where encoded lines go: the shared slab the main thread gave, or (when they do not fit) a buffer
 * of this thread's own, transferred back. Lines are encoded as they come, so their strings die young. */
class Bytes {
  private buf!: Buffer;
  private own = false;
  length = 0;
  /** Write into this slab from the start. */
  reset(slab: SharedArrayBuffer): void {
    this.buf = Buffer.from(slab);
    this.own = false;
    this.length = 0;
  }
  append(text: string): number {
    const max = text.length * 3;
    if (this.length + max > this.buf.length) {
      const need = Buffer.byteLength(text);
      if (this.length + need > this.buf.length) {
        const grown = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.length + need));
        this.buf.copy(grown, 0, 0, this.length);
        this.buf = grown;
        this.own = true;
      }
    }
    const n = this.buf.write(text, this.length, 'utf8');
    this.length += n;
    return n;
  }
  take(): PieceBytes {
    return this.own ? { inSlab: false, bytes: this.buf.subarray(0, this.length) } : { inSlab: true, length: this.length };
  }
}

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
}

const data = new Bytes();
const lineageBytes = new Bytes();

let current: { pinned: string; steps: Step<PrepareItem, PrepareItem>; state: { c: Collected } } | undefined;

/** The fused stages for a file's pinned options (built once per file). */
function stepsFor(msg: PieceMessage): { steps: Step<PrepareItem, PrepareItem>; state: { c: Collected } } {
  const pinned = JSON.stringify(msg.pinned.options);
  if (current && current.pinned === pinned) return current;
  const state = { c: fresh() };
  const { adapt, prompt } = stages.createStages(msg.pinned.options);
  const countRead: Step<PrepareItem, PrepareItem> = {
    write(item, emit) {
      if (item.kind === 'call' || item.kind === 'reject') state.c.read++;
      emit(item);
    },
  };
  const hasher = new CallHasher(setup.ids);
  const ids: Step<PrepareItem, PrepareItem> = {
    write(item, emit) {
      if (item.kind !== 'record') return emit(item);
      hasher.hash(item.file, item.key);
      const c = state.c;
      c.fps.push(hasher.keyHi, hasher.keyLo);
      c.lines.push(item.line);
      if (!setup.lineage) c.keys.push(item.key);
      if (pool) {
        const [a, b] = pool.next();
        c.ids.push(a, b);
        item.recordId = base62of64(a, b);
      } else {
        item.recordId = base62of64(hasher.idHi, hasher.idLo);
      }
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
  current = { pinned, steps, state };
  return current;
}

function fresh(): Collected {
  return { sizes: [], inTok: [], outTok: [], rejects: [], fps: [], ids: [], lines: [], keys: [], outcome: [], consumed: 0, read: 0 };
}

function collect(c: Collected): Emit<PrepareItem> {
  return (item) => {
    if (item.kind === 'record') {
      const rec = item as PreparedRecord;
      c.outcome[c.consumed++] = c.sizes.length;
      c.sizes.push(data.append(rec.json!));
      c.inTok.push(rec.inputTokens ?? 0);
      c.outTok.push(rec.maxOutputTokens ?? 0);
      if (setup.lineage) lineageBytes.append(lineageLine(rec.recordId, rec));
    } else if (item.kind === 'reject') {
      if (item.stage === 'validate') c.outcome[c.consumed++] = -(c.rejects.length + 1);
      c.rejects.push(item);
    } else {
      throw new Error(`parallel prepare: a "${item.kind}" item left the stages`);
    }
  };
}

function handle(msg: PieceMessage): PieceResult {
  const { steps, state } = stepsFor(msg);
  const c = (state.c = fresh());
  const emit = collect(c);
  const groupKey = msg.pinned.groupKey;
  let middle = 0;
  const splitter = new PieceSplitter(groupKey === undefined ? undefined : (it) => stages.groupKeyOf(it, groupKey), (item) => {
    middle++;
    steps.write(item, emit);
  });
  const push = (item: SourceItem | Reject) => splitter.push(item);
  const bytes = Buffer.from(msg.input, 0, msg.length);
  data.reset(msg.dataSlab);
  lineageBytes.reset(msg.lineageSlab);
  let clean = true;
  let nextLine: number;
  if (msg.format === 'csv') {
    const d = new CsvDecoder({ file: msg.file, delimiter: msg.delimiter ?? ',', columns: msg.columns!, firstLine: msg.firstLine, maxRowBytes: msg.maxRowBytes }, push);
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
  const result: PieceResult = {
    seq: msg.seq,
    head: splitter.head,
    whole: splitter.whole,
    tail: splitter.tail,
    batch: {
      count: c.sizes.length,
      data: data.take(),
      sizes: Int32Array.from(c.sizes),
      lineage: lineageBytes.take(),
      inputTokens: Int32Array.from(c.inTok),
      outputTokens: Int32Array.from(c.outTok),
    },
    rejects: c.rejects,
    events: {
      count: c.lines.length,
      fingerprints: Uint32Array.from(c.fps),
      ...(pool ? { ids: Uint32Array.from(c.ids) } : {}),
      lines: Int32Array.from(c.lines),
      ...(setup.lineage ? {} : { keys: c.keys }),
      outcome: Int32Array.from(c.outcome),
    },
    read: c.read,
    clean,
    nextLine,
  };
  return result;
}

parentPort!.on('message', (msg: PieceMessage) => {
  let reply: WorkerReply;
  const transfer: ArrayBuffer[] = [];
  try {
    const r = handle(msg);
    for (const b of [r.batch.data, r.batch.lineage]) if (!b.inSlab) transfer.push(b.bytes.buffer as ArrayBuffer);
    reply = r;
  } catch (error) {
    const e = error as Error & { code?: string; hint?: string; file?: string; line?: number };
    reply = {
      seq: msg.seq,
      error: {
        message: e?.message ?? String(error),
        ...(isBatchError(error) ? { code: error.code } : {}),
        ...(e?.hint ? { hint: e.hint } : {}),
        ...(e?.file ? { file: e.file } : {}),
        ...(e?.line !== undefined ? { line: e.line } : {}),
        ...(e?.stack ? { stack: e.stack } : {}),
      },
    };
  }
  parentPort!.postMessage(reply, transfer);
});
