/**
 * A job folder answered on demand (docs/on-demand.md): every record of its shards asked through the
 * Bedrock Runtime (InvokeModel, or Converse for Converse-type records), and the answers written as a
 * batch job writes them, `<jobId>/<shard name>.out` per shard and `<jobId>/manifest.json.out`
 * (docs/bedrock.md §2), so `collect` reads them unchanged.
 *
 * 1. If the manifest is already there (a run killed after writing it), nothing is asked: its
 *    counts are read, the spool cleaned, and that is the result.
 * 2. The spool (spool.ts) is listed: records found there were answered by an earlier run and are not
 *    asked again (`resumed`); those the caller's ledger does not list (`known`) are reported to
 *    `onAnswered` first.
 * 3. The shards are streamed record by record (records.ts); at most `2 x concurrency` records are
 *    read ahead of the answers. Each is asked under p-limit (`concurrency` calls at once) and the
 *    requests- and tokens-per-minute caps (limiter.ts, a sliding minute: a request reserves its
 *    estimated input tokens plus its output budget, and is settled to what its answer billed). Throttling, 5xx, a model
 *    not ready or timed out and network errors are asked again after a jittered exponential backoff
 *    (src/jobs/backoff.ts), at most `maxRetries` times, then the run stops with E_THROTTLED (running
 *    it again resumes). A ValidationException or ModelErrorException is the record's error line, as
 *    in a batch job. No access, no such model, a model that needs an inference profile, or anything
 *    unknown stops the run with an error naming the model and what to do; calls in flight finish and
 *    their answers are kept, since they are paid for.
 * 4. Each answer is written durably to the spool, and only then reported to `onAnswered` (calls
 *    coalesced, each awaited), so the ledger never lists a record whose answer could be lost. A run
 *    killed at any point asks again at most the records in flight: `concurrency` requests.
 * 5. With every record answered, each shard is streamed again and its output lines written in input
 *    order (the spool read with bounded concurrency), then the manifest (the six counters: §2.3),
 *    then the spool objects deleted.
 *
 * Errors and callbacks name the shard, line and recordId, never a record's text.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import type { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import pLimit from 'p-limit';
import { MANIFEST_FIELDS, OUTPUT_MANIFEST, outputNameFor } from '../bedrock/vocabulary.js';
import { BatchError } from '../errors.js';
import { backoffDelay, type BackoffOptions } from '../jobs/backoff.js';
import type { RetryEvent } from '../jobs/watch.js';
import { FAMILIES, familyFor } from '../models/index.js';
import type { FamilyName, ModelFamily } from '../models/family.js';
import { estimateTokens } from '../records/tokens.js';
import { recordTokens } from '../results/estimate.js';
import { baseName } from '../run/outputs.js';
import type { Store } from '../stores/store.js';
import { callModel, classifyError, type Failure } from './call.js';
import { RateLimiter, systemClock, type Clock } from './limiter.js';
import { profileFor } from './profiles.js';
import { shardRecords, type ShardRecord } from './records.js';
import { listSpool, readSpool, spoolKey, writeSpool, type SpoolEntry } from './spool.js';

export interface OnDemandLimits {
  /** Calls at once (default 8). */
  concurrency?: number;
  /** Requests per minute (undefined: no cap). */
  rpm?: number;
  /** Tokens per minute: estimated input plus output budget (undefined: no cap). */
  tpm?: number;
}

export interface RecordCounts {
  total: number;
  processed: number;
  success: number;
  error: number;
}

export interface OnDemandJobOptions {
  /** The prepared run's store: the shards' keys are below it. */
  input: Store;
  /** The job folder's shards (prepared.json). */
  shards: readonly { key: string; records: number }[];
  /** Outputs go to `${jobId}/${outputNameFor(shard name)}` and `${jobId}/manifest.json.out`. */
  output: Store;
  jobId: string;
  /** Durable per-record answers: `${spoolPrefix}${recordId}.json`. */
  spool: Store;
  spoolPrefix: string;
  /** The id to call (already resolved to an inference profile where needed: profiles.ts). */
  modelId: string;
  invocationType: 'InvokeModel' | 'Converse';
  client: BedrockRuntimeClient;
  limits?: OnDemandLimits;
  /** Backoff of throttled and failed calls (default: 1 s doubling to 60 s, full jitter). */
  backoff?: BackoffOptions;
  /**
   * Retries of one record after a 5xx, a timeout or a network error (default 8); then E_THROTTLED,
   * and running again resumes. Throttling is retried for as long as some record gets answered: only
   * after `stallMs` without any answer (and `maxRetries` tries of the record) does the run stop.
   */
  maxRetries?: number;
  /** Throttled with no answer at all for this long: stop with E_THROTTLED (default 10 minutes). */
  stallMs?: number;
  /** Record ids the ledger already lists as answered. */
  known?: ReadonlySet<string>;
  /** Ids whose answers are now durably in the spool; awaited; calls coalesced. */
  onAnswered?: (recordIds: string[]) => Promise<void>;
  onProgress?: (c: RecordCounts) => void;
  onRetry?: (e: RetryEvent) => void;
  signal?: AbortSignal;
  /** The records' model family, for token estimates, when the model id cannot tell (custom models). */
  family?: FamilyName;
  /** Where time comes from (tests inject a fake one). */
  clock?: Clock;
}

export interface OnDemandResult {
  status: 'Completed';
  records: RecordCounts;
  /** Records answered by an earlier run, not asked again. */
  resumed: number;
  /** Runtime requests this run sent, retries included. */
  requests: number;
  /** Requests the service refused as too many (throttled and asked again). */
  throttled: number;
  inputTokens: number;
  outputTokens: number;
  seconds: number;
}

/**
 * The output folder name of an on-demand job: `on-demand-` + 10 hex of sha256(token), the same for the
 * same token, and never a batch job id (12 `[a-z0-9]`), so collect and the report tell them apart.
 */
export function onDemandJobId(token: string): string {
  return `on-demand-${createHash('sha256').update(token).digest('hex').slice(0, 10)}`;
}

const DEFAULT_CONCURRENCY = 8;
const MAX_CONCURRENCY = 1000;
/** Ids per `onAnswered` call at most (one ledger line each). */
const ANNOUNCE_BATCH = 500;

/** Answer a job folder on demand (see the module comment). */
export async function runOnDemandJob(o: OnDemandJobOptions): Promise<OnDemandResult> {
  const clock = o.clock ?? systemClock;
  const started = clock.now();
  const concurrency = o.limits?.concurrency ?? DEFAULT_CONCURRENCY;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1 || concurrency > MAX_CONCURRENCY) {
    throw new BatchError('E_BAD_OPTION', `on-demand concurrency must be a whole number from 1 to ${MAX_CONCURRENCY}, got ${String(concurrency)}`);
  }
  const maxRetries = o.maxRetries ?? 8;
  const seconds = () => Math.max(0, (clock.now() - started) / 1000);
  const manifestKey = `${o.jobId}/${OUTPUT_MANIFEST}`;

  if (await o.output.exists(manifestKey)) {
    const m = await readManifest(o.output, manifestKey);
    await cleanSpool(o, concurrency);
    return {
      status: 'Completed',
      records: { total: m.totalRecordCount, processed: m.processedRecordCount, success: m.successRecordCount, error: m.errorRecordCount },
      resumed: m.processedRecordCount,
      requests: 0,
      throttled: 0,
      inputTokens: m.inputTokenCount,
      outputTokens: m.outputTokenCount,
      seconds: seconds(),
    };
  }

  const asked = await askAll(o, { clock, concurrency, maxRetries, stallMs: o.stallMs ?? 10 * 60_000 });
  const written = await writeOutputs(o, concurrency);
  await deleteKeys(o.spool, written.spoolKeys, concurrency);
  return {
    status: 'Completed',
    records: { total: written.total, processed: written.total, success: written.success, error: written.error },
    resumed: asked.resumed,
    requests: asked.requests,
    throttled: asked.throttled,
    inputTokens: written.inputTokens,
    outputTokens: written.outputTokens,
    seconds: seconds(),
  };
}

interface AskSettings {
  clock: Clock;
  concurrency: number;
  maxRetries: number;
  stallMs: number;
}

/** Steps 2-4 of the module comment: every record of the folder gets an answer in the spool. */
async function askAll(o: OnDemandJobOptions, s: AskSettings): Promise<{ resumed: number; requests: number; throttled: number }> {
  const { clock, concurrency, maxRetries, stallMs } = s;
  const userSignal = o.signal;
  // Stops new calls and waits (a fatal error, or the caller's abort); calls in flight finish unless
  // the caller aborted, so answers already paid for reach the spool.
  const stop = new AbortController();
  const STOP = new Error('the on-demand job is stopping');
  const onUserAbort = () => stop.abort(STOP);
  if (userSignal?.aborted) throw userSignal.reason;
  userSignal?.addEventListener('abort', onUserAbort, { once: true });

  const estimator = tokenEstimator(o);
  const limiter = new RateLimiter({ rpm: o.limits?.rpm, tpm: o.limits?.tpm }, clock);
  const limit = pLimit(concurrency);
  const known = o.known ?? new Set<string>();
  const counts: RecordCounts = { total: o.shards.reduce((n, sh) => n + sh.records, 0), processed: 0, success: 0, error: 0 };
  let resumed = 0;
  let requests = 0;
  let throttled = 0;
  let fatal: unknown;
  // the first error ends the job; what the stop itself makes callers throw is not an error of its own
  const fail = (err: unknown) => {
    if (fatal === undefined && err !== STOP && !(userSignal?.aborted && err === userSignal.reason)) fatal = err;
    if (!stop.signal.aborted) stop.abort(STOP);
  };

  // onAnswered, coalesced: ids wait while a call runs, then go together.
  let pending: string[] = [];
  let announcing: Promise<void> | undefined;
  const announce = (id: string) => {
    if (!o.onAnswered) return;
    pending.push(id);
    announcing ??= (async () => {
      try {
        while (pending.length > 0) {
          const batch = pending.slice(0, ANNOUNCE_BATCH);
          pending = pending.slice(batch.length);
          await o.onAnswered!(batch);
        }
      } catch (err) {
        fail(err);
      } finally {
        announcing = undefined;
      }
    })();
  };
  const progress = (ok: boolean) => {
    counts.processed++;
    if (ok) counts.success++;
    else counts.error++;
    o.onProgress?.({ ...counts });
  };

  let lastAnswerAt = clock.now();
  const ask = async (shardUri: string, rec: ShardRecord): Promise<void> => {
    if (stop.signal.aborted) return;
    const estimate = estimator(rec.modelInput);
    const cost = estimate.input + estimate.maxOutput;
    let entry: SpoolEntry | undefined;
    for (let attempt = 0; entry === undefined; attempt++) {
      const ticket = await limiter.acquire(cost, stop.signal);
      requests++;
      // billed tokens: what the answer says (as reserved when it does not say), none for a refusal
      let billed: number | undefined = 0;
      try {
        const a = await callModel(o.client, o.modelId, o.invocationType, rec.modelInput, estimator.family, userSignal);
        billed = a.inputTokens !== undefined && a.outputTokens !== undefined ? a.inputTokens + a.outputTokens : undefined;
        entry = { v: 1, recordId: rec.recordId, modelOutput: a.modelOutput };
        if (a.inputTokens !== undefined) entry.inputTokens = a.inputTokens;
        if (a.outputTokens !== undefined) entry.outputTokens = a.outputTokens;
      } catch (err) {
        if (userSignal?.aborted) throw userSignal.reason;
        const f = classifyError(err);
        if (f.kind === 'record') {
          entry = { v: 1, recordId: rec.recordId, error: { errorCode: f.errorCode, errorMessage: f.errorMessage } };
        } else if (f.kind === 'fatal') {
          // stop now, before this call's slot goes to the next record
          if (!stop.signal.aborted) stop.abort(STOP);
          fail(await fatalError(o, f, shardUri, rec));
          throw STOP;
        } else {
          if (f.throttled) throttled++;
          // Throttling while other records get answers is the quota at work, not a failure: keep
          // waiting (backoff up to its ceiling) until nothing at all has been answered for stallMs.
          const stalled = clock.now() - lastAnswerAt >= stallMs;
          if (f.throttled ? stalled && attempt >= maxRetries : attempt >= maxRetries) {
            throw new BatchError('E_THROTTLED', `${o.modelId}: record ${rec.recordId} was refused ${attempt + 1} times (${f.name}${f.status ? ` ${f.status}` : ''}: ${f.message})`, {
              file: shardUri,
              line: rec.line,
              key: rec.recordId,
              hint: 'run the same command again later: answered records are kept and not asked again; a lower on-demand concurrency or requests/tokens-per-minute cap throttles less (docs/on-demand.md)',
              cause: err,
            });
          }
          const delayMs = backoffDelay(attempt, o.backoff);
          o.onRetry?.({ operation: `${o.invocationType} ${rec.recordId} (${baseName(shardUri)} line ${rec.line})`, error: `${f.name}${f.status ? ` (${f.status})` : ''}: ${f.message}`, attempt: attempt + 1, delayMs });
          ticket.settle(0);
          await clock.sleep(delayMs, stop.signal);
        }
      } finally {
        ticket.settle(billed);
      }
    }
    lastAnswerAt = clock.now();
    await writeSpool(o.spool, o.spoolPrefix, entry);
    announce(rec.recordId);
    progress(entry.modelOutput !== undefined);
  };

  const spooled = await listSpool(o.spool, o.spoolPrefix);
  const seen = new Set<string>();
  const inFlight = new Set<Promise<void>>();
  const window = 2 * concurrency;
  try {
    outer: for (const shard of o.shards) {
      const shardUri = o.input.resolve(shard.key);
      for await (const rec of shardRecords(o.input, shard.key)) {
        if (stop.signal.aborted) break outer;
        if (seen.has(rec.recordId)) {
          throw new BatchError('E_DUPLICATE_ID', `record ${rec.recordId} appears twice in the job folder: answers are joined by recordId`, {
            file: shardUri,
            line: rec.line,
            key: rec.recordId,
            hint: 'prepare the run again (recordIds are unique in a prepared run)',
          });
        }
        seen.add(rec.recordId);
        if (spooled.has(rec.recordId)) {
          resumed++;
          if (!known.has(rec.recordId)) announce(rec.recordId);
          counts.processed++;
          o.onProgress?.({ ...counts });
          continue;
        }
        while (inFlight.size >= window) await Promise.race(inFlight);
        const task: Promise<void> = limit(() => ask(shardUri, rec))
          .catch(fail)
          .finally(() => inFlight.delete(task));
        inFlight.add(task);
      }
    }
  } catch (err) {
    fail(err);
  }
  await Promise.all(inFlight);
  while (announcing) await announcing;
  userSignal?.removeEventListener('abort', onUserAbort);
  if (userSignal?.aborted) throw userSignal.reason;
  if (fatal !== undefined) throw fatal;
  return { resumed, requests, throttled };
}

/** Input-token estimate and output budget of a record (src/results/estimate.ts `recordTokens`). */
function tokenEstimator(o: OnDemandJobOptions): ((input: Record<string, unknown>) => { input: number; maxOutput: number }) & { family: ModelFamily | undefined } {
  let family: ModelFamily | undefined;
  if (o.family !== undefined) family = FAMILIES[o.family];
  else {
    try {
      family = familyFor(o.modelId, { invocationType: o.invocationType });
    } catch {
      family = undefined; // an opaque id (custom model, application profile): the shape tells
    }
  }
  const estimate = (input: Record<string, unknown>) => {
    const f = family ?? Object.values(FAMILIES).find((x) => x.local.claimsInput?.(input));
    return f ? recordTokens(f, input) : { input: estimateTokens(JSON.stringify(input)), maxOutput: 0 };
  };
  return Object.assign(estimate, { family });
}

/** The error that ends the job for a fatal failure (see call.ts `classifyError`). */
async function fatalError(o: OnDemandJobOptions, f: Extract<Failure, { kind: 'fatal' }>, shardUri: string, rec: ShardRecord): Promise<BatchError> {
  const where = { file: shardUri, line: rec.line, key: rec.recordId };
  const said = `${f.name}${f.status ? ` (${f.status})` : ''}: ${f.message}`;
  if (f.reason === 'profile') {
    const region = await regionOf(o.client);
    const profile = region ? profileFor(o.modelId, region) : undefined;
    return new BatchError('E_UNKNOWN_MODEL', `${o.modelId} cannot be called on demand by this id (${said})`, {
      ...where,
      hint: profile
        ? `call it through its inference profile: run again with the model ${profile} (docs/on-demand.md, "Inference profiles")`
        : 'call it through an inference profile that contains the model: pass the profile id or ARN as the model (aws bedrock list-inference-profiles; docs/on-demand.md)',
    });
  }
  if (f.reason === 'access') {
    return new BatchError('E_ACCESS_DENIED', `${o.modelId} refused the on-demand call (${said})`, {
      ...where,
      hint: 'enable access to the model in the Bedrock console, and allow bedrock:InvokeModel on the model (and, for an inference profile, on the profile and the model in every Region it routes to)',
    });
  }
  if (f.reason === 'not-found') {
    const region = await regionOf(o.client);
    return new BatchError('E_UNKNOWN_MODEL', `the Bedrock Runtime${region ? ` in ${region}` : ''} does not know ${o.modelId} (${said})`, {
      ...where,
      hint: 'check the model id and the region (aws bedrock list-foundation-models, list-inference-profiles)',
    });
  }
  return new BatchError('E_SERVICE', `${o.modelId}: the on-demand call failed (${said})`, {
    ...where,
    hint: 'run the same command again: answered records are kept and not asked again',
  });
}

async function regionOf(client: BedrockRuntimeClient): Promise<string | undefined> {
  try {
    const r = await client.config.region();
    return typeof r === 'string' && r !== '' ? r : undefined;
  } catch {
    return undefined;
  }
}

interface Written {
  total: number;
  success: number;
  error: number;
  inputTokens: number;
  outputTokens: number;
  spoolKeys: string[];
}

/** Step 5: every shard's `.out` in input order, then the manifest. */
async function writeOutputs(o: OnDemandJobOptions, concurrency: number): Promise<Written> {
  const w: Written = { total: 0, success: 0, error: 0, inputTokens: 0, outputTokens: 0, spoolKeys: [] };
  for (const shard of o.shards) {
    const out = o.output.createWriteStream(`${o.jobId}/${outputNameFor(baseName(shard.key))}`, { contentType: 'application/jsonl' });
    const done = finished(out);
    done.catch(() => {});
    const window: Promise<{ rec: ShardRecord; entry: SpoolEntry }>[] = [];
    const emit = async ({ rec, entry }: { rec: ShardRecord; entry: SpoolEntry }) => {
      const head = `{"recordId":${JSON.stringify(rec.recordId)},"modelInput":${JSON.stringify(rec.modelInput)}`;
      const line = entry.modelOutput !== undefined ? `${head},"modelOutput":${JSON.stringify(entry.modelOutput)}}\n` : `${head},"error":${JSON.stringify(entry.error)}}\n`;
      w.total++;
      if (entry.modelOutput !== undefined) w.success++;
      else w.error++;
      w.inputTokens += entry.inputTokens ?? 0;
      w.outputTokens += entry.outputTokens ?? 0;
      w.spoolKeys.push(spoolKey(o.spoolPrefix, rec.recordId));
      if (!out.write(line)) await once(out, 'drain', o.signal ? { signal: o.signal } : {});
    };
    try {
      for await (const rec of shardRecords(o.input, shard.key)) {
        if (o.signal?.aborted) throw o.signal.reason;
        window.push(readSpool(o.spool, o.spoolPrefix, rec.recordId).then((entry) => ({ rec, entry })));
        if (window.length >= concurrency) await emit(await window.shift()!);
      }
      while (window.length > 0) await emit(await window.shift()!);
      out.end();
      await done;
    } catch (err) {
      await Promise.allSettled(window);
      out.destroy(err instanceof Error ? err : new Error(String(err)));
      await done.catch(() => {});
      throw err;
    }
  }
  const counters: Record<(typeof MANIFEST_FIELDS)[number], number> = {
    totalRecordCount: w.total,
    processedRecordCount: w.total,
    successRecordCount: w.success,
    errorRecordCount: w.error,
    inputTokenCount: w.inputTokens,
    outputTokenCount: w.outputTokens,
  };
  const m = o.output.createWriteStream(`${o.jobId}/${OUTPUT_MANIFEST}`, { contentType: 'application/json' });
  const mDone = finished(m);
  m.end(JSON.stringify(Object.fromEntries(MANIFEST_FIELDS.map((f) => [f, counters[f]]))));
  await mDone;
  return w;
}

type Manifest = Record<(typeof MANIFEST_FIELDS)[number], number>;

async function readManifest(store: Store, key: string): Promise<Manifest> {
  const chunks: Buffer[] = [];
  for await (const c of store.createReadStream(key) as AsyncIterable<Buffer>) chunks.push(c);
  let m: unknown;
  try {
    m = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    m = undefined;
  }
  const rec = m as Record<string, unknown> | undefined;
  if (!rec || MANIFEST_FIELDS.some((f) => typeof rec[f] !== 'number')) {
    throw new BatchError('E_BAD_OUTPUT_LINE', `${store.resolve(key)} is not a manifest with the six counters`, {
      hint: 'delete the job output folder and run again: the records are asked again',
    });
  }
  return rec as Manifest;
}

/** Delete the spool entries of this folder's records (a run killed after writing the manifest). */
async function cleanSpool(o: OnDemandJobOptions, concurrency: number): Promise<void> {
  const spooled = await listSpool(o.spool, o.spoolPrefix);
  if (spooled.size === 0) return;
  const keys: string[] = [];
  for (const shard of o.shards) {
    for await (const rec of shardRecords(o.input, shard.key)) if (spooled.has(rec.recordId)) keys.push(spoolKey(o.spoolPrefix, rec.recordId));
  }
  await deleteKeys(o.spool, keys, concurrency);
}

async function deleteKeys(store: Store, keys: readonly string[], concurrency: number): Promise<void> {
  const limit = pLimit(concurrency);
  await Promise.all(keys.map((k) => limit(() => store.delete(k))));
}
