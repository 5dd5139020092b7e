/**
 * The prepare engine: every input's items through the stages, out as records, rejects and record
 * batches for the rollover sink, in input order. One thread runs the stages item by item for custom
 * steps, for JSON and text inputs, and for CSV dialects the fast decoder does not cover. CSV and
 * JSONL inputs are otherwise cut into row-aligned pieces (pieces.ts), each decoded and prepared by a
 * `PieceHandler` (piece.ts, where the fused path of fused.ts applies) on worker threads (worker.ts),
 * so the work uses every core, or on the main thread with `workers: 0`:
 *
 *   main thread:  read ─▶ cut into pieces ─▶ (workers) ─▶ results in order ─▶ ids check ─▶ sink
 *                 └─ the file's first piece, and the groups at piece edges (groups.ts), it adapts
 *                    itself through one sequential pipeline, so calls that span pieces join up
 *
 * The result is the same as one thread's: the same records with the same ids in the same order, the
 * same rejects (their order in the rejects file may differ slightly), the same counts. A duplicate
 * call key is judged on the main thread, which registers every key in input order. When malformed
 * quotes fool the cutter (a piece does not end on a row boundary), the main thread drops that
 * piece's result and decodes the rest of the file itself.
 */
import { availableParallelism } from 'node:os';
import { countLf } from '../core/lines.js';
import { fuse, type Emit, type Step } from '../core/step.js';
import { batchErrorFrom, BatchError, type ErrorCode } from '../errors.js';
import type { FamilyName } from '../models/family.js';
import { CsvDecoder, normalizeCsvOptions } from '../read/csv.js';
import { decodeInput, expandInputs, openInput, type OpenedInput, type ReadInputsOptions } from '../read/index.js';
import { JsonlDecoder } from '../read/jsonl.js';
import { assignIds, checkIdOptions, duplicateKeyReject, IdRegistry, type AssignIdsOptions } from '../records/ids.js';
import { recordRequest } from '../records/request-hash.js';
import { toRecords, type ToRecordsOptions } from '../records/to-records.js';
import { reject, type PrepareItem, type Reject, type SourceItem } from '../records/types.js';
import { validateRecords } from '../records/validate.js';
import type { RecordBatch } from '../shards/rollover.js';
import { pieceBytes, rowPieces, type Piece } from './pieces.js';
import { SlabPool, type Slab } from './slabs.js';
import { PieceHandler } from './piece.js';
import { InlinePool, PiecePool } from './pool.js';
import type { PieceBytes, PieceFailure, PieceMessage, PieceResult, WorkerReply, WorkerSetup } from './protocol.js';
import { loadStages, runtimeUrl, type StagesModule, type StagesSpec } from './stages.js';
import { addCounts } from '../core/values.js';

export type EngineItem = PrepareItem | RecordBatch;

export interface EngineOptions {
  inputs: readonly string[];
  read: ReadInputsOptions;
  /** The adapter and prompt: a stages module (parallel-capable) or step instances (one thread). */
  stages: StagesSpec | { adapt: Step<PrepareItem, PrepareItem>; prompt: Step<PrepareItem, PrepareItem> };
  model: ToRecordsOptions & { family: FamilyName };
  maxRecordBytes: number;
  ids: AssignIdsOptions;
  /** Worker threads (default: the cores available, at most 8); 0 prepares on this thread only. */
  workers?: number;
  /** Whether lineage lines are written (the workers then make them). */
  lineage: boolean;
  /** Whether rows may be encoded by the fused path when the stages describe them (default true). */
  fused?: boolean;
  /** Told of every call or reject read, and of the input bytes read (after gunzip). */
  onRead(read: number, bytes: number): void;
  /** Pieces of about this many bytes (default 1 MiB; tests use small ones). */
  pieceBytes?: number;
  /** Counted as the run goes: pieces prepared on workers, and files (or their rest) decoded on this
   * thread after all because the piece cutter could not follow their quoting. */
  stats?: EngineStats;
}

export interface EngineStats {
  pieces: number;
  fallbacks: number;
  /** Pieces the main thread prepared itself because every worker's queue was full (pool.ts). */
  stolen: number;
  /** Records encoded straight from their input bytes by the fused path (src/parallel/fused.ts); a
   * duplicate key among them is still rejected afterwards, on this thread. */
  fused: number;
}

type Pipeline = Step<PrepareItem, PrepareItem>;

/**
 * After validation, for the records made on this thread: the request hash of each record's line
 * as validation serialised it (src/records/request-hash.ts), for its lineage line. The pieces'
 * records get theirs in piece.ts, from the same bytes.
 */
const hashRequests: Pipeline = {
  write(item, emit) {
    if (item.kind === 'record' && item.json !== undefined) item.request = recordRequest(item.json);
    emit(item);
  },
};

export async function* prepareItems(o: EngineOptions): AsyncGenerator<EngineItem> {
  const registry = new IdRegistry();
  const { mode: idMode, duplicates } = checkIdOptions(o.ids);
  // One worker thread fewer than the cores: the main thread prepares pieces too whenever every
  // worker's queue is full (pool.ts), so two cores run two encoders with one extra isolate.
  const workers = o.workers ?? Math.max(1, Math.min(8, availableParallelism() - 1));
  if (!Number.isInteger(workers) || workers < 0) throw new BatchError('E_BAD_OPTION', `workers must be a whole number, got ${String(workers)}`);
  /** Everything after the adapter: count the calls read, prompt, records, ids, validation. */
  const afterAdapt = (prompt: Pipeline): Pipeline => {
    const countRead: Pipeline = {
      write(item, emit) {
        if (item.kind === 'call' || item.kind === 'reject') o.onRead(1, 0);
        else if (item.kind === 'item') {
          throw new BatchError('E_INTERNAL', `the adapter passed a source item through (${item.file}, line ${item.line})`);
        }
        emit(item);
      },
    };
    return fuse<PrepareItem, PrepareItem>(
      countRead,
      prompt,
      toRecords(o.model),
      assignIds(o.ids, registry),
      validateRecords({ modelId: o.model.modelId, family: o.model.family, maxRecordBytes: o.maxRecordBytes }),
      ...(o.lineage ? [hashRequests] : []),
    );
  };
  const pipeline = (adapt: Pipeline, prompt: Pipeline): Pipeline => fuse<PrepareItem, PrepareItem>(adapt, afterAdapt(prompt));

  const files = await expandInputs(o.inputs, o.read);
  if (!('module' in o.stages)) {
    // Custom steps: one pipeline for the whole run, on this thread. The adapter is ended after
    // each input, so a call never spans two inputs, even two reads of one file (same name).
    const adapt = o.stages.adapt;
    const rest = afterAdapt(o.stages.prompt);
    const out: PrepareItem[] = [];
    const emit: Emit<PrepareItem> = (x) => out.push(x);
    const toRest: Emit<PrepareItem> = (x) => rest.write(x, emit);
    for (const file of files) {
      for await (const item of decodeInput(counted(await openInput(file, o.read), o), o.read)) {
        adapt.write(item, toRest);
        if (out.length) yield* out.splice(0);
      }
      adapt.end?.(toRest);
      if (out.length) yield* out.splice(0);
    }
    rest.end?.(emit);
    yield* out;
    return;
  }

  const spec = o.stages;
  const stages = await loadStages(spec);
  let pool: PiecePool | InlinePool | undefined;
  const getPool = () => {
    if (pool) return pool;
    const setup: WorkerSetup = {
      stages: { module: runtimeUrl(spec.module), options: spec.options }, // workers load built JavaScript
      model: o.model,
      maxRecordBytes: o.maxRecordBytes,
      ids: { mode: idMode, duplicates, ...(o.ids.namespace !== undefined ? { namespace: o.ids.namespace } : {}) },
      lineage: o.lineage,
      fused: o.fused !== false,
    };
    // workers: 0 prepares the pieces on this thread, with the stages already loaded here
    pool = workers > 0 ? new PiecePool(workers, setup, new PieceHandler(setup, stages)) : new InlinePool(setup, stages);
    return pool;
  };
  let seq = 0;
  const pieceSize = o.pieceBytes ?? 1 << 20;
  // Slab sizes: a piece and what follows its last row end (read whole before it is cut); its records
  // (JSON escaping and the request around each prompt add a fifth or so; a worker that needs more
  // takes its own buffer); their lineage lines (about a tenth).
  const slabs = {
    input: new SlabPool(pieceSize + (pieceSize >> 2)),
    data: new SlabPool(Math.ceil(pieceSize * 1.5) + 64 * 1024),
    lineage: new SlabPool(pieceSize >> 2),
    // Records can be larger than their rows by more than half (a schema in every request: about
    // 2.5x): when a piece's records outgrew their slab, the records-to-input ratio it showed (and a
    // half more) sizes the slabs from then on, so later pieces fit instead of each making a
    // buffer of its own (measured: 155 MiB at 1 GB and 180 MiB at 3 GB that way; 135 and 142 with
    // slabs of the right size).
    dataRatio: 1.5,
  };
  try {
    for (const file of files) {
      const opened = counted(await openInput(file, o.read), o);
      const kind = pieceFormat(opened, o.read);
      if (!kind) {
        const { adapt, prompt } = stages.createStages(spec.options);
        const steps = pipeline(adapt, prompt);
        const out: PrepareItem[] = [];
        const emit: Emit<PrepareItem> = (x) => out.push(x);
        for await (const item of decodeInput(opened, o.read)) {
          steps.write(item, emit);
          if (out.length) yield* out.splice(0);
        }
        steps.end?.(emit);
        yield* out;
        continue;
      }
      yield* parallelFile(opened, kind, {
        o,
        stages,
        spec,
        pipeline,
        registry,
        pool: getPool,
        slabs,
        nextSeq: () => seq++,
        inflight: workers > 0 ? 2 * workers + 1 : 1,
      });
    }
  } finally {
    if (o.stats && pool instanceof PiecePool) o.stats.stolen += pool.stolen;
    await pool?.close();
  }
}

/** The input with every byte read from it counted (`onRead`), whichever way it is read. */
function counted(opened: OpenedInput, o: EngineOptions): OpenedInput {
  const bytes = opened.bytes;
  return {
    ...opened,
    bytes: (async function* () {
      for await (const chunk of bytes) {
        o.onRead(0, chunk.length);
        yield chunk;
      }
    })(),
    reader: () => {
      const r = opened.reader();
      return {
        async read(into, offset, length) {
          const n = await r.read(into, offset, length);
          o.onRead(0, n);
          return n;
        },
      };
    },
  };
}

/** 'csv' or 'jsonl' when the input can be cut into pieces, else undefined (decode on one thread). */
function pieceFormat(opened: OpenedInput, read: ReadInputsOptions): 'csv' | 'jsonl' | undefined {
  if (opened.format === 'jsonl') return 'jsonl';
  if (opened.format !== 'csv' && opened.format !== 'tsv') return undefined;
  if (read.engine === 'csv-parse') return undefined;
  const delimiter = read.delimiter ?? (opened.format === 'tsv' ? '\t' : ',');
  return normalizeCsvOptions({ delimiter, ...(read.engine ? { engine: read.engine } : {}) }).engine === 'fast' ? 'csv' : undefined;
}

interface FileContext {
  o: EngineOptions;
  stages: StagesModule;
  spec: StagesSpec;
  pipeline: (adapt: Pipeline, prompt: Pipeline) => Pipeline;
  registry: IdRegistry;
  pool: () => PiecePool | InlinePool;
  slabs: { input: SlabPool; data: SlabPool; lineage: SlabPool; dataRatio: number };
  nextSeq: () => number;
  inflight: number;
}

interface Sent {
  piece: Piece;
  firstLine: number;
  data: Slab;
  lineage: Slab;
  reply: Promise<WorkerReply>;
}

async function* parallelFile(opened: OpenedInput, kind: 'csv' | 'jsonl', ctx: FileContext): AsyncGenerator<EngineItem> {
  const { o, stages, spec, slabs } = ctx;
  const file = opened.file;
  const delimiter = o.read.delimiter ?? (opened.format === 'tsv' ? '\t' : ',');
  const maxRowBytes = o.read.maxRowBytes ?? 1 << 20;
  const out: EngineItem[] = [];
  const emit: Emit<PrepareItem> = (x) => out.push(x);
  let decoded: Array<SourceItem | Reject> = [];
  const push = (item: SourceItem | Reject) => void decoded.push(item);

  // The file's start (and everything, when it is not cut) is decoded and adapted here. Items before
  // the first one that pins the format (rejects, rows that join no call) go through an unpinned
  // pipeline, as they would on one thread; it holds no group, so leaving it is safe.
  let decoder: CsvDecoder | JsonlDecoder =
    kind === 'csv' ? new CsvDecoder({ file, delimiter, maxRowBytes }, push) : new JsonlDecoder({ file, maxLineBytes: maxRowBytes }, push);
  let line = 1; // the line of the next byte not yet decoded (JSONL: counted here)
  let pinned: { options: unknown; groupKey: string | undefined } | undefined;
  let unpinned: Pipeline | undefined;
  let steps: Pipeline | undefined; // the pinned, sequential pipeline: piece edges and fallbacks
  const feed = () => {
    for (const item of decoded) {
      if (!pinned && item.kind === 'item') {
        pinned = stages.pinStages(item, spec.options);
        if (pinned) {
          const s = stages.createStages(pinned.options);
          steps = ctx.pipeline(s.adapt, s.prompt);
        }
      }
      const target = steps ?? (unpinned ??= (() => {
        const s = stages.createStages(spec.options);
        return ctx.pipeline(s.adapt, s.prompt);
      })());
      target.write(item, emit);
    }
    decoded = [];
  };
  /** Decode a piece here. The decoder may keep a view of what it could not finish, so it gets a copy
   * and the slab goes back at once (this path is the file's first piece and rare fallbacks). */
  const decodeHere = (piece: Piece) => {
    const bytes = Buffer.from(pieceBytes(piece));
    slabs.input.give(piece.slab);
    decoder.push(bytes);
    if (kind === 'jsonl') line += countLf(bytes);
    feed();
  };
  const finish = () => {
    decoder.end();
    feed();
    unpinned?.end?.(emit);
    steps?.end?.(emit);
  };

  // A small first piece: the head is decoded here through the stages until the format is pinned.
  const pieceSize = o.pieceBytes ?? 1 << 20;
  const pieces = rowPieces(opened.reader(), { kind: kind === 'csv' ? 'csv' : 'lines', pool: slabs.input, pieceBytes: pieceSize, firstPieceBytes: Math.min(pieceSize, 64 * 1024) });
  const sent: Sent[] = [];
  try {
    // 1. The head of the file, on this thread, until the format is pinned.
    let sequential = false;
    for (;;) {
      const next = await pieces.next();
      if (next.done) {
        finish();
        yield* out.splice(0);
        return;
      }
      const piece = next.value;
      const last = piece.last;
      decodeHere(piece);
      yield* out.splice(0);
      if (last) {
        finish();
        yield* out.splice(0);
        return;
      }
      if (piece.unaligned || (decoder instanceof CsvDecoder && !decoder.atRowBoundary)) {
        sequential = true;
        break;
      }
      if (pinned) break;
    }
    if (decoder instanceof CsvDecoder) line = decoder.nextLine;
    const columns = decoder instanceof CsvDecoder ? decoder.columns : undefined;

    // 2. The rest in pieces, on the workers; results taken in order.
    let ended = false;
    let fallback: Piece[] = []; // pieces to decode here, in order, once parallel mode is left
    while (!sequential) {
      while (!ended && sent.length < ctx.inflight) {
        const next = await pieces.next();
        if (next.done) {
          ended = true;
          break;
        }
        const piece = next.value;
        if (piece.unaligned) {
          fallback.push(piece);
          ended = true;
          break;
        }
        const bytes = pieceBytes(piece);
        const data = slabs.data.take(Math.ceil(piece.length * slabs.dataRatio) + 64 * 1024);
        const lineage = slabs.lineage.take();
        const message: PieceMessage = {
          seq: ctx.nextSeq(),
          file,
          format: kind,
          ...(kind === 'csv' ? { delimiter, columns: columns! } : {}),
          maxRowBytes,
          firstLine: line,
          last: piece.last,
          pinned: pinned!,
          input: piece.slab.sab,
          length: piece.length,
          dataSlab: data.sab,
          lineageSlab: lineage.sab,
        };
        const reply = ctx.pool().run(message);
        reply.catch(() => {}); // awaited in order below; a failure is thrown there
        sent.push({ piece, firstLine: line, data, lineage, reply });
        line += countLf(bytes);
      }
      const first = sent[0];
      if (!first) break;
      const reply = await first.reply;
      if ('error' in reply) throw workerError(reply);
      if (!reply.clean) {
        // Malformed quotes fooled the cutter: decode from this piece on, here; results already made
        // for later pieces are dropped (their input slabs are still ours).
        await Promise.all(sent.map((s) => s.reply.catch(() => undefined)));
        for (const s of sent) {
          slabs.data.give(s.data);
          slabs.lineage.give(s.lineage);
        }
        fallback = [...sent.map((s) => s.piece), ...fallback];
        line = first.firstLine;
        sent.length = 0;
        break;
      }
      sent.shift();
      if (o.stats) {
        o.stats.pieces++;
        o.stats.fused += reply.fused;
      }
      if (!reply.batch.data.inSlab && first.piece.length >= pieceSize >> 1) {
        slabs.dataRatio = Math.min(16, (reply.batch.data.bytes.byteLength / first.piece.length) * 1.5);
        slabs.data.grow(Math.ceil(pieceSize * slabs.dataRatio) + 64 * 1024);
      }
      slabs.input.give(first.piece.slab);
      apply(reply, file, ctx, steps!, emit, out, first);
      yield* out.splice(0);
      if (sent.length === 0 && ended && fallback.length === 0) break;
    }

    // 3. On this thread to the end, when the cutter gave up or was fooled.
    if (sequential || fallback.length > 0) {
      if (o.stats) o.stats.fallbacks++;
      if (!sequential) {
        decoder =
          kind === 'csv'
            ? new CsvDecoder({ file, delimiter, maxRowBytes, columns: columns!, firstLine: line }, push)
            : new JsonlDecoder({ file, maxLineBytes: maxRowBytes, firstLine: line }, push);
      }
      for (const piece of fallback) {
        decodeHere(piece);
        yield* out.splice(0);
      }
      for (;;) {
        const next = await pieces.next();
        if (next.done) break;
        decodeHere(next.value);
        yield* out.splice(0);
      }
      finish();
      yield* out.splice(0);
      return;
    }
    steps?.end?.(emit);
    yield* out.splice(0);
  } finally {
    // Abandoned midway (an error, or the consumer stopped): let the workers finish with the slabs.
    await Promise.all(sent.map((s) => s.reply.catch(() => undefined)));
    opened.close();
  }
}

function workerError(r: PieceFailure): BatchError {
  return r.error.code ? batchErrorFrom({ ...r.error, code: r.error.code as ErrorCode }) : new BatchError('E_INTERNAL', `a prepare worker failed: ${r.error.message}`);
}

/** A worker's bytes: a view of the slab it wrote into, or its own buffer. */
function bytesOf(b: PieceBytes, slab: Slab): Buffer {
  return b.inSlab ? slab.bytes.subarray(0, b.length) : Buffer.from(b.bytes.buffer, b.bytes.byteOffset, b.bytes.byteLength);
}

/** One worker result, in input order: the edge groups through `steps`, the middle as a batch. */
function apply(r: PieceResult, file: string, ctx: FileContext, steps: Pipeline, emit: Emit<PrepareItem>, out: EngineItem[], sent: Sent): void {
  for (const item of r.head) steps.write(item, emit);
  ctx.o.onRead(r.read, 0);
  const data = bytesOf(r.batch.data, sent.data);
  const lineage = bytesOf(r.batch.lineage, sent.lineage);
  const release = () => {
    ctx.slabs.data.give(sent.data);
    ctx.slabs.lineage.give(sent.lineage);
  };
  if (r.whole) {
    release();
    return;
  }
  steps.end?.(emit);
  const ev = r.events;
  const removed: number[] = [];
  const rejects = r.rejects;
  for (let k = 0; k < ev.count; k++) {
    const at = ev.outcome[k]!;
    const lineNo = ev.lines[k]!;
    const firstSeen = ctx.registry.addKey(ev.fingerprints[2 * k]!, ev.fingerprints[2 * k + 1]!, file, lineNo);
    if (firstSeen) {
      const dup = duplicateKeyReject({ file, line: lineNo, key: keyAt(r, lineage, k, at) }, firstSeen);
      if (at >= 0) {
        removed.push(at);
        rejects.push(dup);
      } else {
        rejects[-at - 1] = dup; // as one thread would: the id stage rejects it before validation
      }
    } else if (ev.ids && at >= 0 && !ctx.registry.addId(ev.ids[2 * k]!, ev.ids[2 * k + 1]!, file, lineNo)) {
      removed.push(at);
      rejects.push(reject({ file, line: lineNo, key: keyAt(r, lineage, k, at) }, 'ids', 'E_DUPLICATE_ID', 'the random recordId drawn for this call was drawn before in this run (a 1 in 2^64 event); run prepare again'));
    }
  }
  for (const rej of rejects) out.push(rej);
  const made = batches(r, data, lineage, removed);
  if (made.length === 0) release();
  else made[made.length - 1]!.release = release; // the sink calls it once it has written the bytes
  for (const b of made) out.push(b);
  for (const item of r.tail) steps.write(item, emit);
}

/** The key of event k (outcome `at`): from the keys when sent, else from the record's lineage line or
 * its reject (only needed to name a duplicate, so rare). */
function keyAt(r: PieceResult, lineage: Buffer, k: number, at: number): string {
  if (r.events.keys) return r.events.keys[k]!;
  if (at < 0) return r.rejects[-at - 1]!.key ?? '';
  let start = 0;
  for (let i = 0; i < at; i++) start = lineage.indexOf(10, start) + 1;
  const end = lineage.indexOf(10, start);
  return String((JSON.parse(lineage.toString('utf8', start, end < 0 ? undefined : end)) as { key: unknown }).key);
}

/** What records `from` to `to` of a piece's batch carry besides their bytes: PII replaced per type, calls truncated. */
function notesOf(b: PieceResult['batch'], from: number, to: number): Pick<RecordBatch, 'redacted' | 'truncated'> {
  const out: Pick<RecordBatch, 'redacted' | 'truncated'> = {};
  if (b.redacted) {
    const counts: Record<string, number> = {};
    for (let i = from; i < to; i++) addCounts(counts, b.redacted[i] ?? {});
    out.redacted = counts;
  }
  if (b.truncated) {
    let n = 0;
    for (let i = from; i < to; i++) if (b.truncated[i]! > 0) n++;
    out.truncated = n;
  }
  return out;
}

/** The piece's batch as RecordBatches for the sink, without the records in `removed`. */
function batches(r: PieceResult, data: Buffer, lineage: Buffer, removed: number[]): RecordBatch[] {
  const b = r.batch;
  if (b.count === 0) return [];
  const sum = (a: Int32Array, from: number, to: number) => {
    let s = 0;
    for (let i = from; i < to; i++) s += a[i]!;
    return s;
  };
  if (removed.length === 0) {
    return [{ kind: 'batch', count: b.count, data, sizes: b.sizes, lineage, inputTokens: sum(b.inputTokens, 0, b.count), maxOutputTokens: sum(b.outputTokens, 0, b.count), ...notesOf(b, 0, b.count) }];
  }
  const gone = new Set(removed);
  const out: RecordBatch[] = [];
  let dataOff = 0;
  let lineageOff = 0;
  let runStart = -1;
  let runData = 0;
  let runLineage = 0;
  const close = (end: number) => {
    if (runStart < 0) return;
    out.push({
      kind: 'batch',
      count: end - runStart,
      data: data.subarray(runData, dataOff),
      sizes: b.sizes.subarray(runStart, end),
      lineage: lineage.subarray(runLineage, lineageOff),
      inputTokens: sum(b.inputTokens, runStart, end),
      maxOutputTokens: sum(b.outputTokens, runStart, end),
      ...notesOf(b, runStart, end),
    });
    runStart = -1;
  };
  for (let i = 0; i < b.count; i++) {
    if (gone.has(i)) close(i);
    else if (runStart < 0) {
      runStart = i;
      runData = dataOff;
      runLineage = lineageOff;
    }
    dataOff += b.sizes[i]!;
    if (lineage.length > 0) lineageOff = lineage.indexOf(10, lineageOff) + 1;
  }
  close(b.count);
  return out;
}
