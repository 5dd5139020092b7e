/**
 * The retry plan: every record that failed (with a retryable error) or never came back becomes a
 * record of a new prepared run, in the same layout as prepare's (`input/job-NNNN/part-NNNNN.jsonl`
 * with `{recordId, modelInput}` only, `lineage/...`, `rejects.jsonl`, `prepared.json`), so that
 * `submit <retry run>` takes it as it is. Shards and jobs are cut by the rollover sink within the
 * quota profile, tail rebalancing and the minimum-records check included.
 *
 * The retry run's lineage keeps the record's key, source file and line and passthrough columns,
 * and adds `attempt` (the try it will be) and `origin` (the run, job, shard and Bedrock job it
 * comes from, and why). Records that failed with a non-retryable error (a 4xx other than 408, 424
 * and 429: the record itself is wrong), and records that have had `maxAttempts` tries, go to the
 * dead-letter file instead, with their last error. Records of a job still running are neither.
 * A schema run's invalid answer (one that does not validate) is retried like a retryable error,
 * and out of tries is a dead letter whose last error is `E_INVALID_ANSWER` with the rule it broke;
 * the retry run's prepared.json keeps the schema (`structured`) so that its collect checks too.
 * What the lineage says of a call (`truncated`, `redacted`) goes along into the retry's lineage, and
 * so does its request hash (`request`): the original record's, as prepare took it, since the retry
 * asks the same request (its line holds Bedrock's echo of it, or the original shard's bytes; they
 * are never hashed again). A record whose lineage had none has none in the retry either.
 *
 * The recordId is kept: it is unique within the original run, hence within any retry job.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { BatchError } from '../errors.js';
import type { PreparedRecord } from '../records/types.js';
import type { QuotaProfile } from '../bedrock/quotas.js';
import { type RetryLineage } from '../run/sidecars.js';
import { rollover, type Rollover, type RolloverProblem, type RolloverResult } from '../shards/rollover.js';
import type { Store } from '../stores/store.js';
import { LEDGER_KEY } from './ledger.js';
import { PREPARED_KEY, storeOf } from './layout.js';
import { REJECTS_KEY } from '../run/layout.js';
import { inspectRunLocation, refuseInTheWay, removeOwnFiles } from '../run/location.js';
import { PREPARED_VERSION, preparedJobsOf, writePreparedRun, type PreparedRunFile } from '../run/prepared.js';
import type { CollectResult, RecordError } from './types.js';
import { INVALID_ANSWER_CODE as INVALID_ANSWER } from './structured.js';

export const DEFAULT_MAX_ATTEMPTS = 3;

/** The code of an invalid answer (a schema run's, that does not validate) in origins and dead letters. */

/** 4xx codes that say the service, not the record, failed: 408 timeout, 424 model error, 429 throttling. */
const RETRYABLE_4XX: ReadonlySet<number> = new Set([408, 424, 429]);
/** String codes that name a problem with the record itself. */
const NON_RETRYABLE_NAMES: ReadonlySet<string> = new Set(['ValidationException', 'AccessDeniedException', 'ResourceNotFoundException']);

/**
 * Whether a record error is worth another try: yes for 5xx, 408, 424, 429, throttling and timeouts,
 * unknown codes and none; no for other 4xx (400 validation, 413 too large, 422, ...) and
 * ValidationException-style names.
 */
export function isRetryable(error: RecordError): boolean {
  const code = error.code;
  if (code === undefined) return true;
  const n = typeof code === 'number' ? code : /^\s*\d{3}\s*$/.test(code) ? Number(code) : undefined;
  if (n !== undefined) return !(n >= 400 && n < 500) || RETRYABLE_4XX.has(n);
  return !NON_RETRYABLE_NAMES.has(String(code).trim());
}

export type Disposition = 'done' | 'retry' | 'dead-letter' | 'pending';

export interface Decision {
  disposition: Disposition;
  /** Why a record goes to the dead letters. */
  reason?: 'not-retryable' | 'max-attempts' | 'no-model-input';
}

export interface RetryPlanOptions {
  /** Where the retry run is written (a prepared-run location, local or s3://). */
  out: string | Store;
  /** The dead-letter JSONL file. */
  deadLetter: { store: Store; key: string };
  /** The quota profile the retry run is cut by (usually the original run's). */
  quotas: QuotaProfile;
  /** The original run's model (the retry run is for the same model and record shape). */
  model: PreparedRunFile['model'];
  /** The run being collected, recorded as the origin of every retried record. */
  from: { prepared: string; outputs: string };
  /** Tries before a record goes to the dead letters (default 3): a record on its 3rd try that fails is not retried. */
  maxAttempts?: number;
  /** Override which errors are retried (default `isRetryable`). */
  retryable?: (error: RecordError) => boolean;
  /** Replace an earlier, unsubmitted retry run at `out` (default true); a submitted one (with a ledger) is never replaced. */
  overwrite?: boolean;
  /** A schema run's schema, written into the retry run's prepared.json (its answers are checked against it too). */
  structured?: PreparedRunFile['structured'];
}

export interface RetryPlanSummary {
  retry: {
    /** The retry run's location, or null when nothing needed retrying (no run was written). */
    uri: string | null;
    records: number;
    /** The try its records are on. */
    attempt: number;
    jobs: { name: string; uri: string; records: number; bytes: number }[];
    submittable: boolean;
    problem?: RolloverProblem;
    /** Records the rollover refused (too large for the profile): in the retry run's rejects.jsonl. */
    rejected: number;
    manifest?: string;
  };
  deadLetter: {
    uri: string;
    records: number;
    byReason: Record<string, number>;
  };
  /** Records of unfinished jobs, neither retried nor dead-lettered. */
  pending: number;
}

/** What each retried record carries into the rollover: a prepared record plus its retry lineage. */
type RetryRecord = PreparedRecord & RetryLineage;

export class RetryPlanner {
  private readonly o: Required<Omit<RetryPlanOptions, 'retryable' | 'out' | 'structured'>> & { retryable: (e: RecordError) => boolean; structured: PreparedRunFile['structured'] };
  private readonly store: Store;
  private sink?: Rollover;
  private sinkDone?: Promise<void>;
  private dead?: Writable;
  private deadBuffer: string[] = [];
  private deadBytes = 0;
  private readonly byReason: Record<string, number> = {};
  private deadCount = 0;
  private retryCount = 0;
  private pendingCount = 0;
  private maxAttempt = 0;
  private checked?: Promise<void>;
  private finished = false;
  private readonly t0 = process.hrtime.bigint();

  constructor(options: RetryPlanOptions) {
    const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    if (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1) {
      throw new BatchError('E_BAD_OPTION', `maxAttempts must be a whole number of at least 1, got ${String(options.maxAttempts)}`);
    }
    if (!options.quotas) throw new BatchError('E_BAD_OPTION', 'a retry plan needs a quota profile');
    if (!options.deadLetter) throw new BatchError('E_BAD_OPTION', 'a retry plan needs a dead-letter file');
    this.store = storeOf(options.out);
    this.o = {
      deadLetter: options.deadLetter,
      quotas: options.quotas,
      model: options.model,
      from: options.from,
      maxAttempts,
      retryable: options.retryable ?? isRetryable,
      overwrite: options.overwrite ?? true,
      structured: options.structured,
    };
  }

  /** The retry run's location. */
  get uri(): string {
    return this.store.uri;
  }

  /** What becomes of a result: nothing (success), a retry, a dead letter, or nothing yet (pending). */
  decide(r: CollectResult): Decision {
    if (r.kind === 'success') return { disposition: 'done' };
    if (r.kind === 'missing' && r.pending) return { disposition: 'pending' };
    if (r.kind === 'error' && !this.o.retryable(r.error)) return { disposition: 'dead-letter', reason: 'not-retryable' };
    if (r.attempt >= this.o.maxAttempts) return { disposition: 'dead-letter', reason: 'max-attempts' };
    if (r.modelInputJson === undefined) return { disposition: 'dead-letter', reason: 'no-model-input' };
    return { disposition: 'retry' };
  }

  /** Take one result (successes are ignored). Await it: it waits when the writers are busy. */
  async add(r: CollectResult): Promise<Decision> {
    if (this.finished) throw new BatchError('E_BAD_OPTION', 'the retry plan is finished');
    const d = this.decide(r);
    if (d.disposition === 'done') return d;
    if (d.disposition === 'pending') {
      this.pendingCount++;
      return d;
    }
    await this.ready();
    if (d.disposition === 'dead-letter') {
      await this.deadLetter(r as Exclude<CollectResult, { kind: 'success' }>, d.reason!);
      return d;
    }
    const rec = r as Exclude<CollectResult, { kind: 'success' }>;
    const json = `{"recordId":${JSON.stringify(rec.recordId)},"modelInput":${rec.modelInputJson}}\n`;
    let modelInput: Record<string, unknown>;
    try {
      modelInput = JSON.parse(rec.modelInputJson!) as Record<string, unknown>;
    } catch {
      await this.deadLetter(rec, 'no-model-input');
      return { disposition: 'dead-letter', reason: 'no-model-input' };
    }
    const attempt = rec.attempt + 1;
    this.maxAttempt = Math.max(this.maxAttempt, attempt);
    const origin: Record<string, unknown> = { run: this.o.from.prepared, job: rec.job, shard: rec.shard };
    if (rec.jobId !== undefined) origin.jobId = rec.jobId;
    origin.status = rec.kind;
    if (rec.kind === 'error' && rec.error.code !== undefined) origin.code = rec.error.code;
    if (rec.kind === 'invalid') {
      origin.code = INVALID_ANSWER;
      origin.reason = rec.reason;
    }
    if (rec.kind === 'missing') origin.reason = rec.reason;
    const item: RetryRecord = {
      kind: 'record',
      recordId: rec.recordId,
      modelInput,
      json,
      bytes: Buffer.byteLength(json),
      key: rec.key,
      file: rec.file,
      line: rec.line,
      attempt,
      origin,
    };
    if (Object.keys(rec.passthrough).length > 0) item.passthrough = rec.passthrough;
    if (rec.request !== undefined) item.request = rec.request;
    if (rec.truncated !== undefined) item.truncated = rec.truncated;
    if (rec.redacted !== undefined) item.redacted = rec.redacted;
    if (!this.sink) {
      // Claim the location before the first shard, as prepare does (src/run/prepared.ts): a collect
      // killed now leaves a run that the next collect knows as its own and replaces.
      await writePreparedRun(this.store, {
        version: PREPARED_VERSION,
        state: 'preparing',
        createdAt: new Date().toISOString(),
        jobs: [],
        model: this.o.model,
        quotas: this.o.quotas,
        submittable: false,
        written: 0,
        rejectsKey: REJECTS_KEY,
        retry: { attempt: rec.attempt + 1, of: this.o.from.prepared, outputs: this.o.from.outputs },
        ...(this.o.structured ? { structured: this.o.structured } : {}),
      });
      this.sink ??= this.openSink();
    }
    this.retryCount++;
    if (!this.sink.write(item)) await Promise.race([once(this.sink, 'drain'), this.sinkDone]);
    return d;
  }

  /** Close the retry run (writing its prepared.json) and the dead-letter file. */
  async finish(): Promise<RetryPlanSummary> {
    if (this.finished) throw new BatchError('E_BAD_OPTION', 'the retry plan is already finished');
    this.finished = true;
    await this.ready();
    await this.flushDead();
    const dead = this.dead!;
    dead.end();
    await once(dead, 'finish');
    const summary: RetryPlanSummary = {
      retry: { uri: null, records: 0, attempt: this.maxAttempt, jobs: [], submittable: false, rejected: 0 },
      deadLetter: { uri: this.o.deadLetter.store.resolve(this.o.deadLetter.key), records: this.deadCount, byReason: { ...this.byReason } },
      pending: this.pendingCount,
    };
    if (this.sink) {
      this.sink.end();
      await this.sinkDone;
      const result = this.sink.result!;
      const manifest = await this.writeManifest(result);
      summary.retry = {
        uri: this.store.uri,
        records: result.written,
        attempt: this.maxAttempt,
        jobs: result.jobs.map((j) => ({ name: j.name, uri: j.uri, records: j.records, bytes: j.bytes })),
        submittable: result.submittable,
        ...(result.problem ? { problem: result.problem } : {}),
        rejected: result.rejected,
        manifest,
      };
    }
    return summary;
  }

  /** Abandon the plan: nothing partial is left under the retry run's keys or the dead-letter file. */
  async abort(error: Error): Promise<void> {
    this.finished = true;
    const closed = (w: Writable | undefined) => (w && !w.closed ? once(w, 'close').catch(() => {}) : Promise.resolve());
    const sink = this.sink;
    const dead = this.dead;
    sink?.destroy(error);
    dead?.destroy(error);
    await Promise.all([closed(sink), closed(dead)]);
    // the claim and whatever shards were finished: the retry run was never whole
    if (sink) {
      const here = await inspectRunLocation(this.store).catch(() => undefined);
      if (here?.state === 'preparing') await removeOwnFiles(here).catch(() => {});
    }
  }

  /**
   * Fail early, before any result is read, when the target holds a submitted retry run; nothing
   * is changed (an unsubmitted one is replaced only once a record needs the target).
   */
  async check(): Promise<void> {
    await this.refuseSubmitted();
  }

  private async refuseSubmitted(): Promise<void> {
    if (await this.store.exists(LEDGER_KEY)) {
      throw new BatchError('E_BAD_OPTION', `${this.store.uri} holds a retry run that was already submitted (${LEDGER_KEY})`, {
        hint: `collect its outputs with --prepared ${this.store.uri}; or write this retry plan elsewhere with --retry <location>, or skip it with --no-retry`,
      });
    }
  }

  private ready(): Promise<void> {
    this.checked ??= this.prepareTarget();
    return this.checked;
  }

  /** Refuse a submitted retry run at the target, remove an unsubmitted one, open the dead-letter file. */
  private async prepareTarget(): Promise<void> {
    const store = this.store;
    await this.refuseSubmitted();
    // Only an earlier retry run's own files are replaced; anything else in its places stops the plan.
    const here = await inspectRunLocation(store);
    refuseInTheWay(here, `the retry run ${store.uri}`);
    if (here.state !== 'empty' && !this.o.overwrite) {
      throw new BatchError('E_BAD_OPTION', `${store.uri} already holds a prepared run (${here.own.length} files)`, { hint: 'choose another retry location' });
    }
    await removeOwnFiles(here);
    this.dead = this.o.deadLetter.store.createWriteStream(this.o.deadLetter.key, { contentType: 'application/x-ndjson' });
    this.dead.on('error', () => {}); // surfaced by the awaited writes
  }

  private openSink(): Rollover {
    const sink = rollover({ store: this.store, quotas: this.o.quotas });
    this.sinkDone = new Promise<void>((resolve, reject) => {
      sink.once('finish', () => resolve());
      sink.once('error', reject);
    });
    this.sinkDone.catch(() => {});
    return sink;
  }

  private async deadLetter(r: Exclude<CollectResult, { kind: 'success' }>, reason: NonNullable<Decision['reason']>): Promise<void> {
    const line: Record<string, unknown> = {
      recordId: r.recordId,
      key: r.key,
      file: r.file,
      line: r.line,
      reason,
      attempts: r.attempt,
      status: r.kind,
      lastError:
        r.kind === 'error'
          ? { code: r.error.code ?? null, message: r.error.message ?? null }
          : r.kind === 'invalid'
            ? { code: INVALID_ANSWER, message: r.reason }
            : { code: 'MISSING', message: r.reason },
      run: this.o.from.prepared,
      job: r.job,
      shard: r.shard,
    };
    if (r.jobId !== undefined) line.jobId = r.jobId;
    if (Object.keys(r.passthrough).length > 0) line.passthrough = r.passthrough;
    const text = JSON.stringify(line) + '\n';
    this.deadBuffer.push(text);
    this.deadBytes += text.length;
    this.deadCount++;
    this.byReason[reason] = (this.byReason[reason] ?? 0) + 1;
    if (this.deadBytes >= 64 * 1024) await this.flushDead();
  }

  private async flushDead(): Promise<void> {
    if (this.deadBuffer.length === 0) return;
    const dead = this.dead!;
    const ok = dead.write(this.deadBuffer.join(''));
    this.deadBuffer = [];
    this.deadBytes = 0;
    if (!ok) await once(dead, 'drain');
  }

  /** The retry run's prepared.json, in the shape prepare writes, plus what it retries. */
  private async writeManifest(r: RolloverResult): Promise<string> {
    const store = this.store;
    const manifest: PreparedRunFile = {
      version: PREPARED_VERSION,
      state: 'prepared',
      createdAt: new Date().toISOString(),
      read: this.retryCount,
      written: r.written,
      rejected: r.rejected,
      rejectsByCode: r.rejectsByCode,
      bytesRead: 0,
      bytesWritten: r.bytes,
      shards: r.shards.map((s) => ({ uri: s.uri, records: s.records, bytes: s.bytes })),
      jobs: preparedJobsOf(r.jobs),
      rebalanced: r.rebalanced,
      submittable: r.submittable,
      ...(r.problem ? { problem: r.problem } : {}),
      out: store.uri,
      rejects: r.rejectsUri,
      rejectsKey: REJECTS_KEY,
      manifest: store.resolve(PREPARED_KEY),
      model: this.o.model,
      quotas: this.o.quotas,
      idMode: 'retry',
      inputs: [this.o.from.prepared],
      seconds: Number(process.hrtime.bigint() - this.t0) / 1e9,
      retry: { attempt: this.maxAttempt, of: this.o.from.prepared, outputs: this.o.from.outputs, maxAttempts: this.o.maxAttempts },
      ...(this.o.structured ? { structured: this.o.structured } : {}),
    };
    return writePreparedRun(store, manifest);
  }
}

/** Plan retries and dead letters for the results it is given: see the module comment. */
export function planRetries(options: RetryPlanOptions): RetryPlanner {
  return new RetryPlanner(options);
}
