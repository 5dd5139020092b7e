/**
 * The local batch service's core, without HTTP: Bedrock's model-invocation-job operations over the
 * job table (jobs.ts), and each job's way through its statuses. `server.ts` puts it on 127.0.0.1.
 *
 * Lifecycle (docs/bedrock.md §3.5):
 *
 *   Submitted → Validating → Failed (with message)
 *                          → Scheduled → Expired (timeout reached before it started)
 *                                      → InProgress → Completed | PartiallyCompleted | Failed
 *   any non-terminal state → Stopping → Stopped (StopModelInvocationJob)
 *
 * Validating reads the input (plan.ts); a Scheduled job waits for a run slot (slots.ts); InProgress
 * runs the records through the model (runner.ts). Get and List answer as describe.ts says. The
 * Bedrock Runtime API (runtime-api.ts) answers single requests with the same model, faults and
 * per-record delay, under its own per-model caps.
 *
 * Facts the sheet leaves open, and what this service does (documented assumptions):
 * - a repeated clientRequestToken returns the first job's ARN, whatever the other parameters;
 * - a jobName in use by a job that is not finished is a ValidationException;
 * - StopModelInvocationJob on a finished job is a ConflictException; on a Stopping job, a no-op;
 * - a model id outside the batch catalogue (src/bedrock/batch-models.ts, docs/bedrock.md §1.4) is a
 *   ValidationException at create, unless it was added with `extraModels`; custom-model and
 *   application-inference-profile ARNs are accepted (only the account knows their model);
 * - a job's minimum records are the model's catalogue minimum when the service was given no quota
 *   profile, else the profile's (see `LocalServiceOptions.minRecordsFrom`);
 * - output lines come out shuffled (output-order.ts), as Bedrock does not keep the input order.
 */
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkExtraModels, lookupBatchModel, CATALOGUE_DATE } from '../bedrock/batch-models.js';
import { quotaProfile, type QuotaProfile } from '../bedrock/quotas.js';
import { accountOfRole, isTerminal, type JobStatus } from '../bedrock/vocabulary.js';
import { BatchError } from '../errors.js';
import { normalizeModelId } from '../models/ids.js';
import { familyFor } from '../models/index.js';
import type { Store } from '../stores/store.js';
import type { StoreOptions } from '../stores/index.js';
import { describeJob, listJobs } from './describe.js';
import { ServiceError } from './errors.js';
import { normalizeFaults, seededRandom, selects, type LocalFaults } from './faults.js';
import { JobTable, newJob, type StoredJob } from './jobs.js';
import { extractiveSummariser, type LocalModel } from './models.js';
import { normalizeOutputOrder, type OutputOrder, type OutputOrderOptions } from './output-order.js';
import { planRun, type RunPlan } from './plan.js';
import { runJob } from './runner.js';
import { LocalRuntime, type RuntimeLimits, type RuntimeStats } from './runtime-api.js';
import { RunSlots, type Release } from './slots.js';
import { Stop, stopReason } from './stop.js';
import { mountResolver, rootResolver, s3Resolver, type StoreResolver } from './stores.js';
import { validateCreate } from './validation.js';

/** Milliseconds each step takes. Defaults are short: a job runs as fast as the model allows. */
export interface LocalDelays {
  /** Submitted → Validating (default 50). */
  submitted?: number;
  /** Time spent in Validating besides reading the input (default 50). */
  validating?: number;
  /** Scheduled → InProgress when a slot is free (default 50). */
  scheduled?: number;
  /** Per record, on top of the model's own time (default 0). */
  record?: number;
  /** Stopping → Stopped (default 50). */
  stopping?: number;
}

export interface LocalServiceOptions {
  /** The service is its own S3: `s3://bucket/key` is `<root>/bucket/key`. */
  root?: string;
  /** Explicit buckets instead: `{ 'bedrock-batch-input': './batch' }` (a path or a Store each). */
  mounts?: Record<string, Store | string>;
  /** Any resolver (takes precedence over `root` and `mounts`). Default without any: real S3. */
  stores?: StoreResolver;
  /** With neither `root` nor `mounts`: the S3 settings to read and write real S3 with (default: the SDK's own). */
  s3?: StoreOptions;
  /** Region in ARNs (default us-east-1). */
  region?: string;
  /** Account in ARNs and bucket owners (default 123456789012). A role of another account is refused. */
  accountId?: string;
  /** Limits jobs are validated against: a profile name or a profile (default `documented`). */
  quotas?: QuotaProfile | string;
  /**
   * Where a job's minimum number of records comes from. `model`: the model's minimum in the batch
   * catalogue (docs/bedrock.md §1.4) when it documents one, else the profile's; `profile`: the
   * profile's, always. Default: `model` when `quotas` is not given, `profile` when it is (a profile
   * chosen on purpose, such as `local` for small samples, sets the minimum itself).
   */
  minRecordsFrom?: 'model' | 'profile';
  /**
   * Model ids to accept beyond the batch catalogue (new models, or models the catalogue lacks): each
   * matches itself and, for a base id, its cross-region profiles and ARNs.
   */
  extraModels?: readonly string[];
  /** Output line order (default: shuffled within a bounded window, seeded per job). */
  outputOrder?: OutputOrderOptions;
  /** The model (default: the deterministic extractive summariser). */
  model?: LocalModel;
  /**
   * A JSON file keeping the jobs across restarts (default `<root>/.local-service/jobs.json` with
   * `root`, none otherwise). `false`: in memory only.
   */
  stateFile?: string | false;
  /** Jobs InProgress at once; the others wait in Scheduled (default 2). */
  concurrency?: number;
  delays?: LocalDelays;
  /** Milliseconds in one hour of `timeoutDurationInHours` (default 3,600,000): make it small to see jobs expire. */
  hourMs?: number;
  faults?: LocalFaults;
  /**
   * Bedrock's on-demand quotas for the runtime API (runtime-api.ts, docs/bedrock.md §7.3): requests
   * and tokens per minute per model (defaults 6,000 and 10,000,000), and the length of a minute.
   */
  runtime?: RuntimeLimits;
  /** Answer requests but start no job (a process that only reads statuses or stops jobs). */
  paused?: boolean;
  /** Refuse requests without an Authorization header with AccessDeniedException (default true). */
  requireAuth?: boolean;
  /** Where the service says what it does (default: nowhere). */
  log?: (line: string) => void;
}

export interface Transition {
  job: Readonly<StoredJob>;
  from: JobStatus | undefined;
  to: JobStatus;
}

/** Bedrock's control plane for model invocation jobs, in memory (and in a state file). */
export class LocalBatchService extends EventEmitter {
  readonly region: string;
  readonly accountId: string;
  readonly quotas: QuotaProfile;
  readonly minRecordsFrom: 'model' | 'profile';
  readonly extraModels: ReadonlySet<string>;
  readonly outputOrder: OutputOrder;
  readonly model: LocalModel;
  readonly stores: StoreResolver;
  readonly stateFile: string | undefined;
  private readonly delays: Required<LocalDelays>;
  private readonly hourMs: number;
  private readonly faults: ReturnType<typeof normalizeFaults>;
  private readonly paused: boolean;
  readonly requireAuth: boolean;
  private readonly log: (line: string) => void;
  private readonly random: () => number;

  /** The runtime API's caps and counters (runtime-api.ts). */
  readonly runtime: LocalRuntime;
  private readonly jobs: JobTable;
  private readonly slots: RunSlots;
  private readonly drivers = new Map<string, { controller: AbortController; done: Promise<void> }>();
  private closing = false;

  constructor(options: LocalServiceOptions = {}) {
    super();
    this.region = options.region ?? 'us-east-1';
    if (!/^[a-z0-9-]{1,20}$/.test(this.region)) throw new BatchError('E_BAD_OPTION', `region "${this.region}" is not a region name`);
    this.accountId = options.accountId ?? '123456789012';
    if (!/^[0-9]{12}$/.test(this.accountId)) throw new BatchError('E_BAD_OPTION', `accountId must be 12 digits, got "${this.accountId}"`);
    this.quotas = typeof options.quotas === 'object' ? options.quotas : quotaProfile(options.quotas ?? 'documented');
    this.minRecordsFrom = options.minRecordsFrom ?? (options.quotas === undefined ? 'model' : 'profile');
    if (this.minRecordsFrom !== 'model' && this.minRecordsFrom !== 'profile') {
      throw new BatchError('E_BAD_OPTION', `minRecordsFrom must be "model" or "profile", got "${String(options.minRecordsFrom)}"`);
    }
    this.extraModels = new Set(checkExtraModels(options.extraModels ?? [], 'extraModels').map((id) => normalizeModelId(id)));
    this.outputOrder = normalizeOutputOrder(options.outputOrder);
    this.model = options.model ?? extractiveSummariser();
    this.stores =
      options.stores ?? (options.root !== undefined ? rootResolver(options.root) : options.mounts ? mountResolver(options.mounts) : s3Resolver(options.s3));
    this.stateFile =
      options.stateFile === false ? undefined : options.stateFile ?? (options.root !== undefined ? join(options.root, '.local-service', 'jobs.json') : undefined);
    const d = options.delays ?? {};
    this.delays = { submitted: 50, validating: 50, scheduled: 50, record: 0, stopping: 50, ...stripUndefined(d) };
    for (const [k, v] of Object.entries(this.delays)) {
      if (!Number.isFinite(v) || v < 0) throw new BatchError('E_BAD_OPTION', `delay ${k} must be a number of milliseconds, got ${String(v)}`);
    }
    this.hourMs = options.hourMs ?? 3_600_000;
    if (!(this.hourMs > 0)) throw new BatchError('E_BAD_OPTION', `hourMs must be positive, got ${String(options.hourMs)}`);
    const concurrency = options.concurrency ?? 2;
    if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
      throw new BatchError('E_BAD_OPTION', `concurrency must be a whole number of at least 1, got ${String(options.concurrency)}`);
    }
    this.slots = new RunSlots(concurrency);
    this.faults = normalizeFaults(options.faults);
    this.random = seededRandom(this.faults.seed);
    this.paused = options.paused === true;
    this.requireAuth = options.requireAuth !== false;
    this.log = options.log ?? (() => {});
    this.jobs = new JobTable(this.stateFile);
    this.runtime = new LocalRuntime(
      {
        region: this.region,
        accountId: this.accountId,
        extraModels: this.extraModels,
        model: this.model,
        faults: this.faults,
        recordDelayMs: this.delays.record,
        requestFaults: () => this.injectRequestFaults(),
        requireAuth: this.requireAuth,
      },
      options.runtime,
    );
  }

  /** What the runtime API was asked and answered so far (tests count requests with it). */
  runtimeStats(): RuntimeStats {
    return this.runtime.stats();
  }

  /** Load the state file and pick up every job that was not finished. */
  async init(): Promise<void> {
    this.jobs.load();
    for (const job of this.jobs.values()) {
      if (job.status === 'Stopping') this.setStatus(job, 'Stopped');
      else if (!isTerminal(job.status) && !this.paused) this.startDriver(job);
    }
  }

  /** Stop running jobs (they resume on the next start with the same state file) and save. */
  async close(): Promise<void> {
    this.closing = true;
    this.runtime.close();
    for (const d of this.drivers.values()) d.controller.abort(new Stop('close'));
    await Promise.allSettled([...this.drivers.values()].map((d) => d.done));
    // A job asked to stop that nothing runs here is stopped now, not on the next start.
    for (const job of this.jobs.values()) if (job.status === 'Stopping') this.finishStopped(job);
    this.jobs.close();
  }

  /** A snapshot of every job (tests and tools). */
  snapshot(): StoredJob[] {
    return [...this.jobs.values()].map((j) => ({ ...j }));
  }

  // ---- the operations ----------------------------------------------------------------------

  /** Throttling and server-error faults, checked before any operation. */
  injectRequestFaults(): void {
    if (this.faults.throttle && this.random() < this.faults.throttle) {
      throw new ServiceError('ThrottlingException', 'Too many requests, please wait before trying again. (local fault injection)');
    }
    if (this.faults.serverErrors && this.random() < this.faults.serverErrors) {
      throw new ServiceError('InternalServerException', 'Internal server error. (local fault injection)');
    }
  }

  create(body: unknown): { jobArn: string } {
    const input = validateCreate(body);
    if (input.clientRequestToken !== undefined) {
      const existing = this.jobs.byToken(input.clientRequestToken);
      if (existing) return { jobArn: existing.jobArn };
    }
    const roleAccount = accountOfRole(input.roleArn);
    if (roleAccount && roleAccount !== this.accountId) {
      throw new ServiceError(
        'AccessDeniedException',
        `User: arn:aws:sts::${this.accountId}:assumed-role/local is not authorized to perform: iam:PassRole on resource: ${input.roleArn}`,
      );
    }
    this.checkModel(input.modelId);
    for (const j of this.jobs.values()) {
      if (j.jobName === input.jobName && !isTerminal(j.status)) {
        throw new ServiceError('ValidationException', `The provided job name is currently in use: ${input.jobName}`);
      }
    }
    const model = normalizeModelId(input.modelId);
    const inFlight = [...this.jobs.values()].filter((j) => !isTerminal(j.status) && normalizeModelId(j.modelId) === model).length;
    if (inFlight >= this.quotas.maxJobsInFlight) {
      throw new ServiceQuotaError(model, this.quotas.maxJobsInFlight);
    }
    const job = newJob(input, { jobId: this.jobs.newJobId(), region: this.region, accountId: this.accountId, hourMs: this.hourMs, now: Date.now() });
    this.jobs.add(job);
    this.jobs.save();
    this.log(`job ${job.jobId} (${job.jobName}) submitted for ${model}`);
    this.emit('transition', { job, from: undefined, to: 'Submitted' } satisfies Transition);
    if (!this.paused) this.startDriver(job);
    return { jobArn: job.jobArn };
  }

  /**
   * Refuse a model that does not run batch jobs, worded as Bedrock words it: "The provided model
   * identifier is invalid." for an id no model family knows (a typo, another service's id), "Batch
   * inference is not supported for the requested model" for a known model outside the catalogue
   * ([3RD-PARTY] github.com/stdapi-ai/stdapi.ai/issues/292, probed against AWS), the on-demand
   * wording for a profile-only model named by its own id. Each says, after it, what the local service
   * checked and how to add the id.
   */
  private checkModel(modelId: string): void {
    if (this.extraModels.has(modelId) || this.extraModels.has(normalizeModelId(modelId))) return;
    const found = lookupBatchModel(modelId);
    if (found.kind === 'opaque') return;
    const local = `(local service: the batch model catalogue of ${CATALOGUE_DATE}; add ${modelId} with --allow-model if it runs batch jobs)`;
    if (found.kind === 'found') {
      if (!found.model.modes.includes(found.mode)) {
        throw new ServiceError(
          'ValidationException',
          `Invocation of model ID ${found.model.modelId} with on-demand throughput isn’t supported. Retry your request with the ID or ARN of an inference profile that contains this model. ${local}`,
        );
      }
      return;
    }
    // A model this project knows by its id pattern exists, so it is one without batch support;
    // anything else (a typo in the provider, an unknown profile prefix) names no model.
    let known = false;
    const base = found.baseId;
    if (base !== undefined && /^(?:anthropic|amazon|meta|mistral)\.[a-z]/.test(base)) {
      try {
        known = familyFor(base).name !== 'converse';
      } catch {
        known = false;
      }
    }
    throw new ServiceError(
      'ValidationException',
      known ? `Batch inference is not supported for the requested model. ${local}` : `The provided model identifier is invalid. ${local}`,
    );
  }

  /** The minimum records of a job for `modelId` (see `LocalServiceOptions.minRecordsFrom`). */
  minRecordsFor(modelId: string): number {
    if (this.minRecordsFrom === 'profile') return this.quotas.minRecordsPerJob;
    const found = lookupBatchModel(modelId);
    return found.kind === 'found' && found.model.minRecordsPerJob !== undefined ? found.model.minRecordsPerJob : this.quotas.minRecordsPerJob;
  }

  get(identifier: string): Record<string, unknown> {
    return describeJob(this.jobs.find(identifier));
  }

  list(params: URLSearchParams): { invocationJobSummaries: Record<string, unknown>[]; nextToken?: string } {
    return listJobs(this.jobs.values(), params);
  }

  stop(identifier: string): void {
    const job = this.jobs.find(identifier);
    if (job.status === 'Stopping') return;
    if (isTerminal(job.status)) {
      throw new ServiceError('ConflictException', `The job ${job.jobId} cannot be stopped: its status is ${job.status}`);
    }
    this.setStatus(job, 'Stopping');
    const driver = this.drivers.get(job.jobId);
    if (driver) {
      driver.controller.abort(new Stop('stop'));
    } else {
      // Nothing runs it here (a paused service): it stops on its own.
      setTimeout(() => {
        if (!this.closing && job.status === 'Stopping') this.finishStopped(job);
      }, this.delays.stopping).unref();
    }
  }

  private setStatus(job: StoredJob, to: JobStatus, message?: string): void {
    const from = job.status;
    job.status = to;
    job.lastModifiedTime = Date.now();
    if (message !== undefined) job.message = message;
    if (isTerminal(to)) job.endTime = job.lastModifiedTime;
    this.jobs.save();
    this.log(`job ${job.jobId} ${from} -> ${to}${message ? `: ${message}` : ''}`);
    this.emit('transition', { job, from, to } satisfies Transition);
  }

  private finishStopped(job: StoredJob): void {
    if (job.status !== 'Stopped') this.setStatus(job, 'Stopped');
  }

  // ---- the lifecycle -----------------------------------------------------------------------

  private startDriver(job: StoredJob): void {
    if (this.closing || this.drivers.has(job.jobId)) return;
    const controller = new AbortController();
    const done = this.drive(job, controller.signal).finally(() => this.drivers.delete(job.jobId));
    this.drivers.set(job.jobId, { controller, done });
  }

  /** Take a job from its status to the end (or until it is stopped or the service closes). */
  private async drive(job: StoredJob, signal: AbortSignal): Promise<void> {
    let release: Release | undefined;
    const quotas = { ...this.quotas, minRecordsPerJob: this.minRecordsFor(job.modelId) };
    const validate = () => planRun(job, { stores: this.stores, quotas, faults: this.faults, signal });
    try {
      let plan: RunPlan | undefined;
      if (job.status === 'Submitted') {
        await sleep(this.delays.submitted, undefined, { signal });
        this.setStatus(job, 'Validating');
      }
      if (job.status === 'Validating') {
        const result = await validate();
        await sleep(this.delays.validating + this.faults.slowValidationMs, undefined, { signal });
        if (typeof result === 'string') {
          this.setStatus(job, 'Failed', result);
          return;
        }
        plan = result;
        job.totalRecordCount = plan.records;
        this.setStatus(job, 'Scheduled');
      }
      if (job.status === 'Scheduled') {
        await sleep(this.delays.scheduled, undefined, { signal });
        if (selects(this.faults.expire, this.faults.seed, job.jobName, 'expire')) {
          this.setStatus(job, 'Expired', 'The job timed out before it could start. (local fault injection)');
          return;
        }
        release = await this.slots.acquire(signal, job.jobExpirationTime);
        if (!release) {
          this.setStatus(job, 'Expired', `The job was not started within its timeout of ${job.timeoutDurationInHours} hours.`);
          return;
        }
        this.setStatus(job, 'InProgress');
      }
      if (job.status === 'InProgress') {
        // Restarted after the process that ran it went away: take a slot again.
        release ??= await this.slots.acquire(signal);
        if (!plan) {
          const result = await validate();
          if (typeof result === 'string') {
            this.setStatus(job, 'Failed', result);
            return;
          }
          plan = result;
          job.totalRecordCount = plan.records;
        }
        const end = await runJob(job, plan, {
          model: this.model,
          faults: this.faults,
          recordDelayMs: this.delays.record,
          order: this.outputOrder,
          signal,
          onRecord: () => this.jobs.save(true),
        });
        this.setStatus(job, end.status, end.message);
      }
    } catch (err) {
      const why = stopReason(err, signal);
      if (why === 'stop') {
        await sleep(this.delays.stopping);
        this.finishStopped(job);
      } else if (why === 'close') {
        // leave the job as it is: the next start with this state picks it up
      } else if (err instanceof BatchError && err.code === 'E_STORE') {
        // a location the job cannot use (refused, missing, unwritable): the message names it
        this.setStatus(job, 'Failed', `The job could not read or write its data: ${err.message}`);
      } else {
        this.log(`job ${job.jobId} failed: ${(err as Error).stack ?? String(err)}`);
        this.setStatus(job, 'Failed', `Internal error while running the job: ${(err as Error).message}`);
      }
    } finally {
      release?.();
    }
  }
}

/** ServiceQuotaExceededException for the per-model limit of jobs in flight. */
class ServiceQuotaError extends ServiceError {
  constructor(model: string, quota: number) {
    super(
      'ServiceQuotaExceededException',
      `You have reached the quota of ${quota} submitted and in-progress batch inference jobs for the model ${model}. Wait for a job to finish, or ask for a higher quota.`,
    );
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
