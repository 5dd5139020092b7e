/**
 * The input tokens of a prepared run as the model counts them: Bedrock Runtime's `CountTokens`
 * (docs/quotas.md "Exact input tokens"; docs/bedrock.md for the API). It is free and gives the
 * count InvokeModel or Converse would bill, but it is rate-limited and answers one request at a
 * time, so a large run is sampled and its total extrapolated with a stated error bound.
 *
 * - A run of at most `sample` records (default 200): every record is counted, the total is exact.
 * - A larger run: a uniform random sample of `sample` records without replacement, drawn from the
 *   record counts prepared.json gives (Floyd's algorithm, seeded by `seed`, which the result
 *   reports so the same sample can be drawn again), then read in one pass over only the shards that
 *   hold sampled records, each read up to its last sampled line. The total is N × the sample's mean,
 *   with a 95% interval of ± t(0.975, n−1) × N × s / √n × √((N−n)/(N−1)) (s the sample's standard
 *   deviation, the last factor the finite population correction), never below what was counted.
 *
 * Requests: the record's `modelInput` as the InvokeModel body, or for Converse records its
 * `messages`, `system`, `toolConfig` and `additionalModelRequestFields`. The model is asked by its
 * base id: CountTokens refuses cross-region profile ids. The first request goes alone: a model that
 * does not count tokens (Amazon Nova, among others) answers ValidationException "The provided model
 * doesn't support counting tokens", and the result then says so (`exact: false`, `reason`) after one
 * request. Then `concurrency` at once (p-limit), with jittered backoff on throttling, 5xx and network
 * errors. Memory: the sampled positions and the records in flight, never a shard.
 *
 * No record text is ever logged or put in an error: errors name the shard, the line and the recordId.
 */
import { setMaxListeners } from 'node:events';
import { CountTokensCommand, type BedrockRuntimeClient, type CountTokensInput } from '@aws-sdk/client-bedrock-runtime';
import pLimit from 'p-limit';
import { isLoopbackEndpoint, resolveAwsSettings, type AwsClientOptions } from '../aws/config.js';
import { LineSplitter } from '../core/lines.js';
import { mulberry32, type Random } from '../core/random.js';
import { BatchError } from '../errors.js';
import { backoffDelay, sleep, type BackoffOptions } from '../jobs/backoff.js';
import { createBedrockRuntimeClient, describeError, isRetryable, serviceErrorOf } from '../jobs/client.js';
import { FAMILIES } from '../models/index.js';
import { parseModelId } from '../models/ids.js';
import { converseInput } from '../ondemand/call.js';
import type { Store } from '../stores/store.js';
import type { StoreOptions } from '../stores/index.js';
import { recordTokens } from './estimate.js';
import { readPrepared, storeOf } from './layout.js';

/** Records counted by default: all of a run this small, a sample of this many of a larger one. */
export const DEFAULT_SAMPLE = 200;
/** CountTokens requests at once by default. */
export const DEFAULT_COUNT_CONCURRENCY = 4;
/** The confidence of the interval of a sampled count. */
export const COUNT_CONFIDENCE = 0.95;

export interface CountRunTokensOptions {
  /** The prepared run (what `prepare --out` was given) or its store. */
  prepared: string | Store;
  /** S3 settings for a run in S3. */
  s3?: StoreOptions;
  /**
   * AWS settings (src/aws/config.ts) with, as `endpointUrl`, Bedrock's endpoint (`--bedrock-endpoint-url`):
   * the runtime's is found from them by `runtimeClientOptions`. Ignored with `client`.
   */
  aws?: AwsClientOptions;
  /** A runtime client to use instead of building one; its settings win. */
  client?: BedrockRuntimeClient;
  /** Count every record of a run of at most this many, else a random sample of this many (default 200, at least 2). */
  sample?: number;
  /** The sample's seed (default: a random one, reported in the result). */
  seed?: number;
  /** Requests at once (default 4). */
  concurrency?: number;
  /** Retries of one request after throttling, 5xx or network errors (default 8); then E_SERVICE. */
  maxRetries?: number;
  backoff?: BackoffOptions;
  signal?: AbortSignal;
  /** After each record counted. */
  onProgress?: (p: { counted: number; of: number }) => void;
  /** Before each wait for a retry. */
  onRetry?: (r: { attempt: number; delayMs: number; error: string }) => void;
}

/** The interval a total lies in, with its confidence (1 when every record was counted). */
export interface TokenInterval {
  low: number;
  high: number;
  confidence: number;
}

export interface ExactTokens {
  /** True when the totals are the model's own counts (CountTokens answered); false when it could not count. */
  exact: boolean;
  /** Why not, when `exact` is false: the totals are then absent and prepare's rough estimate stands. */
  reason?: string;
  /** The run's model, and the id CountTokens was asked with (the base id of a profile id). */
  modelId: string;
  countedWith: string;
  /** Records in the run (prepared.json). */
  records: number;
  /** Records counted by CountTokens. */
  counted: number;
  /** True when `counted` < `records`: the total is extrapolated from a sample. */
  sampled: boolean;
  /** The sample's seed, when sampled. */
  seed?: number;
  /** Input tokens of the whole run: the sum, or N × the sample's mean (rounded). 0 when not exact. */
  inputTokens: number;
  /** Where the total lies: [sum, sum] at confidence 1 when every record was counted. */
  interval: TokenInterval;
  /** Per counted record: mean and standard deviation of CountTokens' count. */
  mean?: number;
  stddev?: number;
  /** prepare's rough estimate (src/records/tokens.ts) of the same counted records, summed. */
  roughCounted: number;
  /** CountTokens' sum over prepare's rough estimate, for the records counted: how far the heuristic is off. */
  ratio?: number;
  /** CountTokens requests sent (retries included) and how many were throttled. */
  requests: number;
  throttled: number;
  seconds: number;
}

/**
 * The Bedrock Runtime settings for counting, as `run` finds its runtime (src/target.ts): Bedrock's
 * endpoint (`aws.endpointUrl`, i.e. `--bedrock-endpoint-url`, else the configured one) when it is on
 * this machine, since the local service answers both APIs on one port; else the runtime's own
 * (`AWS_ENDPOINT_URL_BEDROCK_RUNTIME`, `AWS_ENDPOINT_URL`, the profile's), else AWS's. A region is
 * needed (CountTokens is regional), except on this machine. `endpointUrl` of the result is the runtime's.
 */
export async function runtimeClientOptions(aws: AwsClientOptions = {}): Promise<AwsClientOptions> {
  const { endpointUrl: _bedrockEndpoint, ...rest } = aws;
  const bedrock = await resolveAwsSettings('Bedrock', aws);
  const runtime = await resolveAwsSettings('Bedrock Runtime', rest);
  const endpoint = isLoopbackEndpoint(bedrock.endpoint) ? bedrock.endpoint : runtime.endpoint;
  const region = runtime.region ?? (endpoint !== undefined && isLoopbackEndpoint(endpoint) ? 'us-east-1' : undefined);
  if (region === undefined) {
    throw new BatchError('E_BAD_OPTION', 'no AWS region: CountTokens is a regional Bedrock Runtime API', {
      hint: 'pass --region, set AWS_REGION or AWS_DEFAULT_REGION, or give the profile a region',
    });
  }
  return { ...rest, region, ...(endpoint !== undefined ? { endpointUrl: endpoint } : {}) };
}

async function runtimeClientOf(aws: AwsClientOptions | undefined): Promise<BedrockRuntimeClient> {
  const { endpointUrl, ...rest } = await runtimeClientOptions(aws);
  return createBedrockRuntimeClient({ ...rest, ...(endpointUrl !== undefined ? { endpoint: endpointUrl } : {}) });
}

/** The id to ask CountTokens with: the base model id of a profile id or ARN that carries one. */
export function countTokensModelId(modelId: string): string {
  const p = parseModelId(modelId);
  return p.kind !== 'custom-model-arn' && p.baseId !== undefined ? p.baseId : modelId;
}

/** Is this the answer of a model that does not count tokens? (ValidationException "... doesn't support counting tokens") */
export function isCountingUnsupported(error: unknown): boolean {
  const { name, message } = serviceErrorOf(error);
  return name === 'ValidationException' && /(doesn't|does not|don't|do not) support (counting tokens|token counting)|count(ing)? tokens? (is|are) not supported/i.test(message);
}

/** The CountTokens input for a record's `modelInput`. */
export function countTokensInput(invocationType: 'InvokeModel' | 'Converse', modelInput: Record<string, unknown>): CountTokensInput {
  if (invocationType === 'Converse') {
    const c = converseInput('', modelInput) as unknown as Record<string, unknown>;
    const converse: Record<string, unknown> = {};
    for (const k of ['messages', 'system', 'toolConfig', 'additionalModelRequestFields']) if (c[k] !== undefined) converse[k] = c[k];
    return { converse } as CountTokensInput;
  }
  return { invokeModel: { body: Buffer.from(JSON.stringify(modelInput), 'utf8') } };
}

/**
 * `n` distinct indices of [0, `population`) drawn uniformly (Floyd's algorithm), ascending. Every
 * subset of size `n` is equally likely.
 */
export function pickIndices(population: number, n: number, random: Random): number[] {
  if (n >= population) return Array.from({ length: population }, (_, i) => i);
  const chosen = new Set<number>();
  for (let j = population - n; j < population; j++) {
    const t = Math.floor(random() * (j + 1));
    chosen.add(chosen.has(t) ? j : t);
  }
  return [...chosen].sort((a, b) => a - b);
}

/** Student's t quantile at 0.975 for `df` degrees of freedom (a table to 30, the Cornish-Fisher expansion beyond: within 0.001). */
export function studentT975(df: number): number {
  const TABLE = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];
  if (!(df >= 1)) return Infinity;
  if (df <= 30) return TABLE[Math.floor(df) - 1]!;
  const z = 1.959963984540054;
  const z3 = z ** 3;
  const z5 = z ** 5;
  const z7 = z ** 7;
  return z + (z3 + z) / (4 * df) + (5 * z5 + 16 * z3 + 3 * z) / (96 * df ** 2) + (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * df ** 3);
}

/**
 * The total of a population of `population` values from a uniform sample without replacement of
 * them (see the module comment): point estimate, 95% interval, the sample's mean and standard
 * deviation. With the whole population, the sum, exactly.
 */
export function extrapolateTotal(values: readonly number[], population: number): { total: number; interval: TokenInterval; mean: number; stddev: number } {
  const n = values.length;
  const sum = values.reduce((a, b) => a + b, 0);
  const mean = n > 0 ? sum / n : 0;
  const variance = n > 1 ? values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1) : 0;
  const stddev = Math.sqrt(variance);
  if (n >= population) return { total: sum, interval: { low: sum, high: sum, confidence: 1 }, mean, stddev };
  if (n < 2) throw new BatchError('E_BAD_OPTION', `a sample of ${n} record${n === 1 ? '' : 's'} gives no error bound`, { hint: 'sample at least 2 records' });
  const fpc = Math.sqrt((population - n) / (population - 1));
  const half = studentT975(n - 1) * population * (stddev / Math.sqrt(n)) * fpc;
  const total = population * mean;
  return {
    total: Math.round(total),
    interval: { low: Math.max(sum, Math.floor(total - half)), high: Math.ceil(total + half), confidence: COUNT_CONFIDENCE },
    mean,
    stddev,
  };
}

/** A record picked for counting. */
interface Picked {
  recordId: string;
  line: number;
  modelInput: Record<string, unknown>;
  rough: number;
}

/** The first answer said the model does not count tokens. */
class Unsupported extends Error {}

/** Count a prepared run's input tokens with CountTokens (see the module comment). */
export async function countRunTokens(options: CountRunTokensOptions): Promise<ExactTokens> {
  const started = performance.now();
  const sample = options.sample ?? DEFAULT_SAMPLE;
  if (!Number.isSafeInteger(sample) || sample < 2) throw new BatchError('E_BAD_OPTION', `the sample must be a whole number of at least 2, got ${String(sample)}`);
  const concurrency = options.concurrency ?? DEFAULT_COUNT_CONCURRENCY;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1 || concurrency > 64) throw new BatchError('E_BAD_OPTION', `the concurrency must be a whole number from 1 to 64, got ${String(concurrency)}`);
  const maxRetries = options.maxRetries ?? 8;
  const store = storeOf(options.prepared, options.s3);
  const run = await readPrepared(store);
  const family = FAMILIES[run.model.family];
  if (!family) throw new BatchError('E_NOT_PREPARED', `prepared.json names an unknown model family "${run.model.family}"`);
  const invocationType = run.model.invocationType;
  const shards = run.jobs.flatMap((j) => j.shards.map((s) => ({ key: s.key, records: s.records })));
  const records = shards.reduce((a, s) => a + s.records, 0);
  const countedWith = countTokensModelId(run.model.modelId);
  const sampled = records > sample;
  const seed = sampled ? (options.seed ?? Math.floor(Math.random() * 2 ** 32)) >>> 0 : undefined;
  const picks = sampled ? pickIndices(records, sample, mulberry32(seed!)) : undefined;
  const wanted = picks ? picks.length : records;

  const values: number[] = [];
  let roughCounted = 0;
  let requests = 0;
  let throttled = 0;
  let unsupported: string | undefined;
  let failure: unknown;
  const client = options.client ?? (await runtimeClientOf(options.aws));
  const controller = new AbortController();
  setMaxListeners(2 * concurrency + 8, controller.signal); // each request in flight, and each backoff, listens
  const onAbort = () => controller.abort(options.signal!.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });

  const countOne = async (p: Picked, file: string): Promise<void> => {
    const input = countTokensInput(invocationType, p.modelInput);
    for (let attempt = 0; ; attempt++) {
      try {
        requests++;
        const r = await client.send(new CountTokensCommand({ modelId: countedWith, input }), { abortSignal: controller.signal });
        if (typeof r.inputTokens !== 'number' || !Number.isFinite(r.inputTokens) || r.inputTokens < 0) {
          throw new BatchError('E_SERVICE', `CountTokens answered no input token count for record ${p.recordId}`, { file, line: p.line });
        }
        values.push(r.inputTokens);
        roughCounted += p.rough;
        options.onProgress?.({ counted: values.length, of: wanted });
        return;
      } catch (error) {
        if (error instanceof BatchError) throw error;
        if (controller.signal.aborted) throw controller.signal.reason ?? error;
        if (isCountingUnsupported(error)) throw new Unsupported(describeError(error));
        const { name } = serviceErrorOf(error);
        if ((isRetryable(error) || name === 'ModelNotReadyException') && attempt < maxRetries) {
          if (name === 'ThrottlingException' || name === 'TooManyRequestsException') throttled++;
          const delayMs = backoffDelay(attempt, options.backoff);
          options.onRetry?.({ attempt: attempt + 1, delayMs, error: describeError(error) });
          await sleep(delayMs, controller.signal);
          continue;
        }
        throw refusal(error, p, file, countedWith, attempt);
      }
    }
  };

  const limit = pLimit(concurrency);
  const inflight = new Set<Promise<void>>();
  let probed = false;
  const schedule = async (p: Picked, file: string): Promise<void> => {
    if (!probed) {
      probed = true; // the first request alone: a model that does not count says so once
      await countOne(p, file);
      return;
    }
    const task: Promise<void> = limit(() => (failure === undefined ? countOne(p, file) : Promise.resolve())).then(
      () => void inflight.delete(task),
      (error: unknown) => {
        inflight.delete(task);
        if (failure === undefined) {
          failure = error;
          controller.abort(error);
        }
      },
    );
    inflight.add(task);
    while (inflight.size >= concurrency * 2) await Promise.race(inflight);
  };

  try {
    let index = 0; // the run's record number of the shard's first record
    let next = 0; // the next pick
    for (const shard of shards) {
      if (failure !== undefined) break;
      const end = index + shard.records;
      if (picks && (next >= picks.length || picks[next]! >= end)) {
        index = end; // nothing sampled here: not read
        continue;
      }
      const file = store.resolve(shard.key);
      const found: Picked[] = [];
      let seen = 0;
      const onLine = (buf: Buffer, start: number, stop: number, line: number) => {
        const at = index + seen++;
        if (picks) {
          if (picks[next] !== at) return;
          next++;
        }
        let rec: { recordId?: unknown; modelInput?: unknown };
        try {
          rec = JSON.parse(buf.toString('utf8', start, stop)) as typeof rec;
        } catch {
          throw new BatchError('E_BAD_JSON', 'a shard line is not valid JSON', { file, line });
        }
        if (typeof rec.modelInput !== 'object' || rec.modelInput === null || Array.isArray(rec.modelInput)) {
          throw new BatchError('E_INVALID_MODEL_INPUT', 'a shard line has no modelInput object', { file, line });
        }
        const modelInput = rec.modelInput as Record<string, unknown>;
        found.push({ recordId: typeof rec.recordId === 'string' ? rec.recordId : '?', line, modelInput, rough: recordTokens(family, modelInput).input });
      };
      const splitter = new LineSplitter({ file });
      const done = () => picks !== undefined && (next >= picks.length || picks[next]! >= end);
      let whole = true;
      for await (const chunk of store.createReadStream(shard.key) as AsyncIterable<Buffer>) {
        if (controller.signal.aborted) break;
        splitter.push(chunk, onLine);
        for (const p of found.splice(0)) await schedule(p, file);
        if (done()) {
          whole = false; // the rest of the shard holds no sampled record
          break;
        }
      }
      if (controller.signal.aborted) break;
      if (whole) {
        splitter.end(onLine);
        for (const p of found.splice(0)) await schedule(p, file);
        if (seen !== shard.records) {
          throw new BatchError('E_SHARDS_CHANGED', `the shard holds ${seen} records, but prepared.json says ${shard.records}`, {
            file,
            hint: 'the run was changed after prepare: prepare it again',
          });
        }
      }
      index = end;
    }
    while (inflight.size > 0) await Promise.race(inflight);
    if (failure !== undefined) throw failure;
    if (options.signal?.aborted) throw options.signal.reason;
  } catch (error) {
    if (!(error instanceof Unsupported) && !(failure instanceof Unsupported)) {
      controller.abort(error);
      await Promise.allSettled(inflight);
      throw error;
    }
    unsupported = (error instanceof Unsupported ? error : (failure as Unsupported)).message;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    if (!options.client) client.destroy();
  }

  const seconds = (performance.now() - started) / 1000;
  const base = { modelId: run.model.modelId, countedWith, records, sampled, ...(seed !== undefined ? { seed } : {}), requests, throttled, seconds };
  if (unsupported !== undefined) {
    return {
      ...base,
      exact: false,
      reason: `${countedWith} does not support CountTokens (${unsupported}); the input tokens stay prepare's rough estimate`,
      counted: 0,
      inputTokens: 0,
      interval: { low: 0, high: 0, confidence: 0 },
      roughCounted: 0,
    };
  }
  const x = extrapolateTotal(values, records);
  return {
    ...base,
    exact: true,
    counted: values.length,
    inputTokens: x.total,
    interval: x.interval,
    mean: x.mean,
    stddev: x.stddev,
    roughCounted,
    ...(roughCounted > 0 ? { ratio: values.reduce((a, b) => a + b, 0) / roughCounted } : {}),
  };
}

/** The error for a request CountTokens refused (never retried): it names the record, never its text. */
function refusal(error: unknown, p: Picked, file: string, modelId: string, attempt: number): BatchError {
  const { name, status } = serviceErrorOf(error);
  const what = describeError(error);
  if (isRetryable(error)) {
    return new BatchError('E_SERVICE', `CountTokens kept failing for record ${p.recordId} after ${attempt + 1} tries (${what})`, {
      file,
      line: p.line,
      hint: 'run again later, or with a smaller --sample or --concurrency: CountTokens is rate-limited per account',
      cause: error,
    });
  }
  if (name === 'AccessDeniedException' || status === 403) {
    return new BatchError('E_ACCESS_DENIED', `CountTokens refused (${what})`, {
      hint: `counting needs bedrock:CountTokens on ${modelId}; without it, estimate without --exact`,
      cause: error,
    });
  }
  return new BatchError('E_SERVICE', `CountTokens refused record ${p.recordId} of ${modelId} (${what})`, {
    file,
    line: p.line,
    hint: 'check the model id and the region; estimate without --exact keeps prepare\'s rough estimate',
    cause: error,
  });
}
