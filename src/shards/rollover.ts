/**
 * The rollover sink: writes records into shards of at most `maxRecordsPerFile` records and
 * `maxBytesPerFile` bytes (counted on the exact bytes written), groups shards into jobs within the
 * per-job limits, and keeps every job at or above `minRecordsPerJob` by moving records from the
 * previous job into a short tail job at the end, or says clearly why it cannot.
 *
 * Layout in the store (see docs/contracts.md, "Layout of a prepared run"):
 *
 *   input/job-0001/part-00001.jsonl     what a job reads: one folder per job, nothing else in it
 *   lineage/job-0001/part-00001.jsonl   {recordId, key, file, line, ...passthrough}, line for line
 *   rejects.jsonl                       {file, line, key, stage, code, reason}
 *
 * Rejects arriving in the stream are written to the rejects file, so the sink is the one place where
 * every item ends: `written + rejected` is what it was given.
 */
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { BatchError, type ErrorCode } from '../errors.js';
import type { Store } from '../stores/store.js';
import { reject, type PreparedRecord, type Reject } from '../records/types.js';
import type { QuotaProfile } from '../bedrock/quotas.js';
import { lineageLine, rejectLine } from '../run/sidecars.js';
import { addCounts } from '../core/values.js';

export interface RolloverOptions {
  store: Store;
  quotas: QuotaProfile;
  /** Folder for job inputs (default `input`). It must hold nothing but shards. */
  inputPrefix?: string;
  /** Folder for lineage sidecars (default `lineage`); `false` writes none. */
  lineagePrefix?: string | false;
  /** Key of the rejects file (default `rejects.jsonl`). */
  rejectsKey?: string;
  /** Where the rejects file goes, when not in `store` (prepare's `--rejects`). */
  rejectsStore?: Store;
  /** Bytes gathered before a write to the store (default 256 KiB). */
  chunkBytes?: number;
  /** Items the sink buffers before it asks its source to wait (default 64). Record batches of a
   * megabyte each want a few: prepare passes 2, so memory stays flat when the store is slower. */
  highWaterMark?: number;
}

export interface ShardInfo {
  /** Key in the store, e.g. `input/job-0001/part-00001.jsonl`. */
  key: string;
  uri: string;
  lineageKey?: string;
  /** The job folder's name, e.g. `job-0001`. */
  job: string;
  records: number;
  bytes: number;
}

export interface JobInfo {
  name: string;
  /** The job's input folder key, ending in `/`. */
  prefix: string;
  /** The job's input folder URI: what `inputDataConfig.s3InputDataConfig.s3Uri` is given. */
  uri: string;
  records: number;
  bytes: number;
  shards: ShardInfo[];
}

export interface RolloverProblem {
  code: ErrorCode;
  message: string;
  hint: string;
}

export interface RolloverResult {
  written: number;
  bytes: number;
  rejected: number;
  rejectsByCode: Record<string, number>;
  rejectsUri: string;
  /** Estimated input tokens and output-token budgets, summed over the records written. */
  inputTokens: number;
  maxOutputTokens: number;
  /** PII replaced in the records written, per type (records that carry `redacted`); `{}` when none. */
  redacted: Record<string, number>;
  /** Records written whose transcript was truncated to fit the context. */
  truncated: number;
  shards: ShardInfo[];
  jobs: JobInfo[];
  /** Records moved into the tail job to reach the minimum, if any were. */
  rebalanced: number;
  /** False when a job would fall below the minimum; `problem` says why. */
  submittable: boolean;
  problem?: RolloverProblem;
}

/**
 * Records serialised elsewhere (by a worker thread of parallel prepare), handed over in one piece:
 * their JSONL lines back to back, each one's size, and their lineage lines in the same order. The
 * sink splits a batch across shards and jobs exactly as it would the records one by one.
 */
export interface RecordBatch {
  kind: 'batch';
  count: number;
  /** The records' JSONL lines, back to back (UTF-8, each with its newline). */
  data: Buffer;
  /** Each record's bytes in `data`, newline included. */
  sizes: Int32Array;
  /** One lineage line per record (`lineageLine`), same order; empty when lineage is not written. */
  lineage: Buffer;
  /** Sums over the batch's records of their estimated input tokens and output-token budgets. */
  inputTokens: number;
  maxOutputTokens: number;
  /** Sums over the batch's records: PII replaced per type, and records truncated to fit (when any). */
  redacted?: Record<string, number>;
  truncated?: number;
  /**
   * When set, `data` and `lineage` live in memory the producer reuses: the sink calls this once it
   * no longer needs them (every write of them done, or copies made for a store that keeps written
   * chunks; see `Store.keepsChunks`).
   */
  release?: () => void;
}

interface OpenShard {
  info: ShardInfo;
  out: Writable;
  lineage?: Writable;
  buffer: string[];
  bufferBytes: number;
  lineageBuffer: string[];
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');

export class Rollover extends Writable {
  readonly options: Required<Omit<RolloverOptions, 'lineagePrefix' | 'rejectsStore' | 'highWaterMark'>> & { lineagePrefix: string | false; rejectsStore: Store };
  private readonly q: QuotaProfile;
  private readonly jobs: JobInfo[] = [];
  private readonly shards: ShardInfo[] = [];
  private current?: OpenShard;
  private job?: JobInfo;
  private shardCount = 0;
  private written = 0;
  private bytes = 0;
  private rejected = 0;
  private inputTokens = 0;
  private maxOutputTokens = 0;
  private readonly redacted: Record<string, number> = {};
  private truncated = 0;
  private readonly rejectsByCode: Record<string, number> = {};
  private rejects?: Writable;
  private rejectBuffer: string[] = [];
  private rejectBufferBytes = 0;
  private readonly closing: Promise<void>[] = [];
  private closeError?: Error;
  /** Bytes of the last `minRecordsPerJob` records of the current and the previous job (ring buffers). */
  private ring: Float64Array;
  private prevRing: Float64Array;
  private rebalanced = 0;
  /** Set once the sink has finished: the run's numbers. */
  result?: RolloverResult;

  constructor(options: RolloverOptions) {
    super({ objectMode: true, highWaterMark: options?.highWaterMark ?? 64 });
    if (!options.store) throw new BatchError('E_BAD_OPTION', 'rollover needs a store');
    if (!options.quotas) throw new BatchError('E_BAD_OPTION', 'rollover needs a quota profile');
    this.options = {
      store: options.store,
      quotas: options.quotas,
      inputPrefix: trimSlashes(options.inputPrefix ?? 'input'),
      lineagePrefix: options.lineagePrefix === false ? false : trimSlashes(options.lineagePrefix ?? 'lineage'),
      rejectsKey: options.rejectsKey ?? 'rejects.jsonl',
      rejectsStore: options.rejectsStore ?? options.store,
      chunkBytes: options.chunkBytes ?? 256 * 1024,
    };
    this.q = options.quotas;
    const ringSize = Math.max(1, this.q.minRecordsPerJob);
    this.ring = new Float64Array(ringSize);
    this.prevRing = new Float64Array(ringSize);
  }

  override _write(item: PreparedRecord | Reject | RecordBatch, _enc: BufferEncoding, callback: (error?: Error | null) => void): void {
    try {
      if (this.closeError) return callback(this.closeError);
      let wait: Promise<unknown> | undefined;
      if (item.kind === 'record') wait = this.addRecord(item);
      else if (item.kind === 'reject') wait = this.addReject(item);
      else if (item.kind === 'batch') wait = this.addBatch(item);
      else {
        return callback(
          new BatchError('E_INTERNAL', `rollover was given a "${(item as { kind?: string }).kind}" item; it takes records and rejects`),
        );
      }
      if (wait) wait.then(() => callback(this.closeError ?? null), callback);
      else callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.finish().then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Abandon what is open: stores discard unfinished objects.
    const failure = error ?? new Error('rollover destroyed');
    if (this.current) {
      this.current.out.destroy(failure);
      this.current.lineage?.destroy(failure);
      this.current = undefined;
    }
    if (this.rejects && !this.rejects.writableFinished) this.rejects.destroy(failure);
    callback(error);
  }

  private addRecord(rec: PreparedRecord): Promise<unknown> | undefined {
    let json = rec.json;
    let size = rec.bytes;
    if (json === undefined) {
      json = JSON.stringify({ recordId: rec.recordId, modelInput: rec.modelInput }) + '\n';
      size = Buffer.byteLength(json);
    } else if (size === undefined) {
      size = Buffer.byteLength(json);
    }
    if (size! > this.q.maxBytesPerFile) {
      return this.addReject(
        reject(rec, 'rollover', 'E_RECORD_TOO_LARGE', `record is ${size} bytes, over the ${this.q.maxBytesPerFile}-byte file limit of quota profile ${this.q.name}`),
      );
    }
    const q = this.q;
    let shard = this.current;
    let waits: Promise<unknown> | undefined;
    const job = this.job;
    if (!job || job.records + 1 > q.maxRecordsPerJob || job.bytes + size! > q.maxBytesPerJob) {
      waits = this.closeShard();
      this.openJob();
      shard = undefined;
    } else if (shard && (shard.info.records + 1 > q.maxRecordsPerFile || shard.info.bytes + size! > q.maxBytesPerFile)) {
      waits = this.closeShard();
      shard = undefined;
    }
    if (!shard) shard = this.openShard();
    const j = this.job!;
    this.ring[j.records % this.ring.length] = size!;
    shard.buffer.push(json);
    shard.bufferBytes += size!;
    if (shard.lineage) shard.lineageBuffer.push(lineageLine(rec.recordId, rec));
    shard.info.records++;
    shard.info.bytes += size!;
    j.records++;
    j.bytes += size!;
    this.inputTokens += rec.inputTokens ?? 0;
    this.maxOutputTokens += rec.maxOutputTokens ?? 0;
    if (rec.redacted !== undefined) this.addRedacted(rec.redacted);
    if (rec.truncated !== undefined && rec.truncated > 0) this.truncated++;
    this.written++;
    this.bytes += size!;
    if (shard.bufferBytes >= this.options.chunkBytes) {
      const drained = this.flushShard(shard);
      return waits && drained ? Promise.all([waits, drained]) : (drained ?? waits);
    }
    return waits;
  }

  private addRedacted(counts: Record<string, number>): void {
    addCounts(this.redacted, counts);
  }

  private addBatch(b: RecordBatch): Promise<unknown> | undefined {
    const q = this.q;
    const waits: Promise<unknown>[] = [];
    // Borrowed bytes go to the store as they are when it lets go of written chunks; else as copies.
    const borrowed = b.release !== undefined;
    const copy = borrowed && this.options.store.keepsChunks !== false;
    let pending = 1;
    const done = () => {
      if (--pending === 0) b.release?.();
    };
    const write = (w: Writable, chunk: Buffer) => {
      if (!borrowed) return w.write(chunk);
      if (copy) return w.write(Buffer.from(chunk));
      pending++;
      return w.write(chunk, done);
    };
    this.inputTokens += b.inputTokens;
    this.maxOutputTokens += b.maxOutputTokens;
    if (b.redacted !== undefined) this.addRedacted(b.redacted);
    this.truncated += b.truncated ?? 0;
    let i = 0;
    let dataOff = 0;
    let lineageOff = 0;
    while (i < b.count) {
      const first = b.sizes[i]!;
      if (first > q.maxBytesPerFile) {
        throw new BatchError('E_INTERNAL', `a batched record of ${first} bytes is over the file limit; validation should have rejected it`);
      }
      let shard = this.current;
      const job = this.job;
      if (!job || job.records + 1 > q.maxRecordsPerJob || job.bytes + first > q.maxBytesPerJob) {
        const w = this.closeShard();
        if (w) waits.push(w);
        this.openJob();
        shard = undefined;
      } else if (shard && (shard.info.records + 1 > q.maxRecordsPerFile || shard.info.bytes + first > q.maxBytesPerFile)) {
        const w = this.closeShard();
        if (w) waits.push(w);
        shard = undefined;
      }
      if (!shard) shard = this.openShard();
      const j = this.job!;
      // The longest run from i that fits in this shard and job.
      const room = Math.min(q.maxRecordsPerFile - shard.info.records, q.maxRecordsPerJob - j.records);
      const byteRoom = Math.min(q.maxBytesPerFile - shard.info.bytes, q.maxBytesPerJob - j.bytes);
      let n = 0;
      let bytes = 0;
      while (i + n < b.count && n < room) {
        const size = b.sizes[i + n]!;
        if (bytes + size > byteRoom) break;
        this.ring[(j.records + n) % this.ring.length] = size;
        bytes += size;
        n++;
      }
      let lineageEnd = b.lineage.length;
      if (i + n < b.count || lineageOff > 0) {
        lineageEnd = lineageOff;
        for (let k = 0; k < n; k++) lineageEnd = b.lineage.indexOf(10, lineageEnd) + 1;
      }
      const drained = this.flushShard(shard);
      if (drained) waits.push(drained);
      if (!write(shard.out, b.data.subarray(dataOff, dataOff + bytes))) waits.push(drainOrError(shard.out));
      if (shard.lineage && lineageEnd > lineageOff && !write(shard.lineage, b.lineage.subarray(lineageOff, lineageEnd))) {
        waits.push(drainOrError(shard.lineage));
      }
      shard.info.records += n;
      shard.info.bytes += bytes;
      j.records += n;
      j.bytes += bytes;
      this.written += n;
      this.bytes += bytes;
      i += n;
      dataOff += bytes;
      lineageOff = lineageEnd;
    }
    done();
    return waits.length === 0 ? undefined : waits.length === 1 ? waits[0] : Promise.all(waits);
  }

  private addReject(r: Reject): Promise<unknown> | undefined {
    this.rejected++;
    this.rejectsByCode[r.code] = (this.rejectsByCode[r.code] ?? 0) + 1;
    const line = rejectLine(r);
    this.rejectBuffer.push(line);
    this.rejectBufferBytes += line.length;
    if (this.rejectBufferBytes >= 64 * 1024) return this.flushRejects();
    return undefined;
  }

  private flushRejects(): Promise<unknown> | undefined {
    if (this.rejectBuffer.length === 0) return undefined;
    this.rejects ??= this.options.rejectsStore.createWriteStream(this.options.rejectsKey, { contentType: 'application/x-ndjson' });
    const ok = this.rejects.write(this.rejectBuffer.join(''));
    this.rejectBuffer = [];
    this.rejectBufferBytes = 0;
    return ok ? undefined : drainOrError(this.rejects);
  }

  private openJob(): void {
    if (this.job) {
      const swap = this.prevRing;
      this.prevRing = this.ring;
      this.ring = swap;
    }
    const name = `job-${pad(this.jobs.length + 1, 4)}`;
    const prefix = `${this.options.inputPrefix}/${name}/`;
    this.job = { name, prefix, uri: this.options.store.resolve(prefix), records: 0, bytes: 0, shards: [] };
    this.jobs.push(this.job);
  }

  private openShard(): OpenShard {
    const job = this.job!;
    const file = `part-${pad(++this.shardCount, 5)}.jsonl`;
    const key = `${job.prefix}${file}`;
    const info: ShardInfo = { key, uri: this.options.store.resolve(key), job: job.name, records: 0, bytes: 0 };
    const store = this.options.store;
    const out = store.createWriteStream(key, { contentType: 'application/x-ndjson' });
    let lineage: Writable | undefined;
    if (this.options.lineagePrefix !== false) {
      info.lineageKey = `${this.options.lineagePrefix}/${job.name}/${file}`;
      lineage = store.createWriteStream(info.lineageKey, { contentType: 'application/x-ndjson' });
    }
    // Errors surface through closeShard / the write callbacks; keep them from going unhandled.
    out.on('error', (e) => (this.closeError ??= e));
    lineage?.on('error', (e) => (this.closeError ??= e));
    this.current = { info, out, buffer: [], bufferBytes: 0, lineageBuffer: [], ...(lineage ? { lineage } : {}) };
    job.shards.push(info);
    this.shards.push(info);
    return this.current;
  }

  private flushShard(shard: OpenShard): Promise<unknown> | undefined {
    const waits: Promise<unknown>[] = [];
    if (shard.buffer.length) {
      if (!shard.out.write(shard.buffer.join(''))) waits.push(drainOrError(shard.out));
      shard.buffer = [];
      shard.bufferBytes = 0;
    }
    if (shard.lineage && shard.lineageBuffer.length) {
      if (!shard.lineage.write(shard.lineageBuffer.join(''))) waits.push(drainOrError(shard.lineage));
      shard.lineageBuffer = [];
    }
    return waits.length ? Promise.all(waits) : undefined;
  }

  /** Ends the open shard; its upload or rename completes in the background (awaited at the end). */
  private closeShard(): Promise<unknown> | undefined {
    const shard = this.current;
    if (!shard) return undefined;
    this.current = undefined;
    const drained = this.flushShard(shard);
    const done = Promise.all([endAndWait(shard.out), shard.lineage ? endAndWait(shard.lineage) : undefined]).then(() => {});
    done.catch((e: Error) => (this.closeError ??= e));
    this.closing.push(done);
    return drained;
  }

  private async finish(): Promise<void> {
    await this.closeShard();
    await Promise.all(this.closing);
    if (this.closeError) throw this.closeError;
    const problem = await this.rebalance();
    await this.flushRejects();
    this.rejects ??= this.options.rejectsStore.createWriteStream(this.options.rejectsKey, { contentType: 'application/x-ndjson' });
    await endAndWait(this.rejects);
    this.result = {
      written: this.written,
      bytes: this.bytes,
      rejected: this.rejected,
      rejectsByCode: { ...this.rejectsByCode },
      rejectsUri: this.options.rejectsStore.resolve(this.options.rejectsKey),
      inputTokens: this.inputTokens,
      maxOutputTokens: this.maxOutputTokens,
      redacted: { ...this.redacted },
      truncated: this.truncated,
      shards: this.shards.filter((s) => s.records > 0),
      jobs: this.jobs,
      rebalanced: this.rebalanced,
      submittable: problem === undefined,
      ...(problem ? { problem } : {}),
    };
  }

  /** Brings the last job up to the minimum by moving records from the one before, or says why not. */
  private async rebalance(): Promise<RolloverProblem | undefined> {
    const q = this.q;
    const min = q.minRecordsPerJob;
    const last = this.jobs[this.jobs.length - 1];
    const profileHint = `use a profile with a lower minimum (--quotas documented: ${QUOTA_MIN_HINT}) or --min-records N if your account's quota allows it`;
    if (!last) {
      return { code: 'E_BELOW_MIN_RECORDS', message: 'no records were written, so there is nothing to submit', hint: 'check the rejects file for why every row was rejected' };
    }
    if (last.records >= min) return undefined;
    if (this.jobs.length === 1) {
      return {
        code: 'E_BELOW_MIN_RECORDS',
        message: `${last.records} records in total, below the minimum of ${min} records per job (quota profile ${q.name})`,
        hint: `add records, or ${profileHint}`,
      };
    }
    const prev = this.jobs[this.jobs.length - 2]!;
    const k = min - last.records;
    if (prev.records - k < min) {
      return {
        code: 'E_CANNOT_REBALANCE',
        message: `the last job has ${last.records} records; moving ${k} from the job before (${prev.records}) would leave it below the minimum of ${min}`,
        hint: `raise the per-job limits or ${profileHint}`,
      };
    }
    let moveBytes = 0;
    for (let i = 1; i <= k; i++) moveBytes += this.prevRing[(prev.records - i) % this.prevRing.length]!;
    if (last.bytes + moveBytes > q.maxBytesPerJob) {
      return {
        code: 'E_CANNOT_REBALANCE',
        message: `moving ${k} records (${moveBytes} bytes) into the last job would take it over the ${q.maxBytesPerJob}-byte job limit`,
        hint: profileHint,
      };
    }
    let remaining = k;
    while (remaining > 0) {
      const source = prev.shards[prev.shards.length - 1]!;
      const take = Math.min(remaining, source.records);
      await this.moveTail(source, take, prev, last);
      remaining -= take;
      if (source.records === 0) {
        prev.shards.pop();
        const at = this.shards.indexOf(source);
        if (at >= 0) this.shards.splice(at, 1);
      }
    }
    this.rebalanced = k;
    return undefined;
  }

  /** Moves the last `take` records of `source` (and their lineage) into a new shard of `target`. */
  private async moveTail(source: ShardInfo, take: number, from: JobInfo, target: JobInfo): Promise<void> {
    const store = this.options.store;
    const keep = source.records - take;
    const file = `part-${pad(++this.shardCount, 5)}.jsonl`;
    const moved: ShardInfo = { key: `${target.prefix}${file}`, uri: store.resolve(`${target.prefix}${file}`), job: target.name, records: take, bytes: 0 };
    const keptBytes = await splitLines(store, source.key, keep, keep > 0 ? source.key : undefined, moved.key);
    const movedBytes = source.bytes - keptBytes;
    moved.bytes = movedBytes;
    if (source.lineageKey) {
      moved.lineageKey = `${this.options.lineagePrefix}/${target.name}/${file}`;
      await splitLines(store, source.lineageKey, keep, keep > 0 ? source.lineageKey : undefined, moved.lineageKey);
      if (keep === 0) await store.delete(source.lineageKey);
    }
    if (keep === 0) await store.delete(source.key);
    source.records = keep;
    source.bytes = keptBytes;
    from.records -= take;
    from.bytes -= movedBytes;
    target.records += take;
    target.bytes += movedBytes;
    target.shards.push(moved);
    this.shards.push(moved);
  }
}

const QUOTA_MIN_HINT = 'minimum 100';

/** Create the rollover sink. Await `sink.done()` (or the pipeline) for the result. */
export function rollover(options: RolloverOptions): Rollover {
  return new Rollover(options);
}

function trimSlashes(s: string): string {
  return s.replace(/^\/+|\/+$/g, '');
}

function drainOrError(w: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      w.off('error', onError);
      w.off('close', onClose);
      resolve();
    };
    const onError = (e: Error) => {
      w.off('drain', onDrain);
      w.off('close', onClose);
      reject(e);
    };
    const onClose = () => {
      w.off('drain', onDrain);
      w.off('error', onError);
      // Ended while a drain was awaited (a shard rolled over mid-batch): finished is as good as drained.
      if (w.writableFinished && !w.errored) resolve();
      else reject(w.errored ?? new BatchError('E_STORE', 'a store writer closed before its data was written'));
    };
    w.once('drain', onDrain);
    w.once('error', onError);
    w.once('close', onClose);
  });
}

async function endAndWait(w: Writable): Promise<void> {
  if (w.writableFinished) return;
  if (w.errored) throw w.errored;
  const finished = once(w, 'finish');
  w.end();
  await finished;
}

/**
 * Reads `key` line by line: the first `keep` lines go to `keepKey` (overwritten in place, which
 * stores support because they replace an object only once its new content is complete), the rest
 * to `restKey`. Returns the bytes kept.
 */
async function splitLines(store: Store, key: string, keep: number, keepKey: string | undefined, restKey: string): Promise<number> {
  const keepOut = keepKey ? store.createWriteStream(keepKey) : undefined;
  const restOut = store.createWriteStream(restKey);
  let lines = 0;
  let keptBytes = 0;
  const write = async (w: Writable, chunk: Buffer) => {
    if (!w.write(chunk)) await drainOrError(w);
  };
  try {
    for await (const chunk of store.createReadStream(key) as AsyncIterable<Buffer>) {
      let start = 0;
      while (start < chunk.length) {
        if (lines >= keep) {
          await write(restOut, start === 0 ? chunk : chunk.subarray(start));
          break;
        }
        const nl = chunk.indexOf(10, start);
        const end = nl < 0 ? chunk.length : nl + 1;
        await write(keepOut!, chunk.subarray(start, end));
        keptBytes += end - start;
        if (nl >= 0) lines++;
        start = end;
      }
    }
    await Promise.all([keepOut ? endAndWait(keepOut) : undefined, endAndWait(restOut)]);
  } catch (error) {
    keepOut?.destroy(error as Error);
    restOut.destroy(error as Error);
    throw error;
  }
  return keptBytes;
}
