/**
 * The local batch service's core, without HTTP: Bedrock's model-invocation-job operations over a
 * job table, and the job runner. `server.ts` puts it on 127.0.0.1.
 *
 * Lifecycle (docs/bedrock.md §3.5):
 *
 *   Submitted → Validating → Failed (with message)
 *                          → Scheduled → Expired (timeout reached before it started)
 *                                      → InProgress → Completed | PartiallyCompleted | Failed
 *   any non-terminal state → Stopping → Stopped (StopModelInvocationJob)
 *
 * Validation reads every input file once, as Bedrock does: `.jsonl` objects only, each non-blank
 * line a JSON object with a `modelInput` object, record counts and sizes within the quota profile.
 * A job that fails it gets `status: Failed` and a `message` naming the file and line. The run then
 * streams each input file into `<output>/<jobId>/<file>.out` (one line per record, echoing
 * `modelInput`, with `modelOutput` or `error`), and writes `manifest.json.out` with the six counters.
 * Records whose `modelInput` breaks the family's rules get a 400 error line, as Bedrock answers a
 * malformed body per record.
 *
 * Facts the sheet leaves open, and what this service does (documented assumptions):
 * - a record error leaves the job Completed (PartiallyCompleted means "not processed in time");
 * - a repeated clientRequestToken returns the first job's ARN, whatever the other parameters;
 * - a jobName in use by a job that is not finished is a ValidationException;
 * - StopModelInvocationJob on a finished job is a ConflictException; on a Stopping job, a no-op;
 * - ListModelInvocationJobs sorts by submit time, newest first, 100 per page by default;
 * - `nameContains` is case-sensitive.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { finished } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import { BatchError } from '../errors.js';
import { FAMILIES, familyFor } from '../models/index.js';
import type { FamilyName } from '../models/family.js';
import { normalizeModelId, parseModelId } from '../models/ids.js';
import { quotaProfile, type QuotaProfile } from '../shards/quotas.js';
import { joinKey, type Store } from '../stores/store.js';
import { ServiceError } from './errors.js';
import { normalizeFaults, seededRandom, selects, unitHash, type LocalFaults } from './faults.js';
import { LineTooLongError, readLines } from './lines.js';
import { extractiveSummariser, ModelCallError, type LocalModel } from './models.js';
import { familyOfShape, modelOutputFor, requestOf } from './responses.js';
import { readJsonFile, writeFileAtomic } from './state.js';
import { mountResolver, parseS3Uri, removeOrphanedPartials, rootResolver, s3Resolver, type StoreResolver } from './stores.js';
import {
  accountOfRole,
  isTerminal,
  validateCreate,
  validateJobIdentifier,
  validateListQuery,
  type CreateJobInput,
  type JobStatus,
  type ListQuery,
} from './validation.js';
import { join } from 'node:path';

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
  /** Region in ARNs (default us-east-1). */
  region?: string;
  /** Account in ARNs and bucket owners (default 123456789012). A role of another account is refused. */
  accountId?: string;
  /** Limits jobs are validated against: a profile name or a profile (default `documented`). */
  quotas?: QuotaProfile | string;
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
  /** Answer requests but start no job (a process that only reads statuses or stops jobs). */
  paused?: boolean;
  /** Refuse requests without an Authorization header with AccessDeniedException (default true). */
  requireAuth?: boolean;
  /** Where the service says what it does (default: nowhere). */
  log?: (line: string) => void;
}

export interface StoredJob {
  jobArn: string;
  jobId: string;
  jobName: string;
  modelId: string;
  clientRequestToken?: string;
  roleArn: string;
  status: JobStatus;
  message?: string;
  submitTime: number;
  lastModifiedTime: number;
  endTime?: number;
  jobExpirationTime: number;
  inputDataConfig: CreateJobInput['inputDataConfig'];
  outputDataConfig: CreateJobInput['outputDataConfig'];
  vpcConfig?: CreateJobInput['vpcConfig'];
  timeoutDurationInHours: number;
  modelInvocationType?: 'InvokeModel' | 'Converse';
  tags?: CreateJobInput['tags'];
  totalRecordCount: number;
  processedRecordCount: number;
  successRecordCount: number;
  errorRecordCount: number;
  inputTokenCount: number;
  outputTokenCount: number;
}

export interface Transition {
  job: Readonly<StoredJob>;
  from: JobStatus | undefined;
  to: JobStatus;
}

/** The six counters of `manifest.json.out`, exactly. */
export interface Manifest {
  totalRecordCount: number;
  processedRecordCount: number;
  successRecordCount: number;
  errorRecordCount: number;
  inputTokenCount: number;
  outputTokenCount: number;
}

interface InputFile {
  store: Store;
  key: string;
  /** The output name: the key relative to the input folder (a single file: its name). */
  name: string;
  bytes: number;
}

/** One record's output line and whether it holds modelOutput (true) or an error (false). */
interface Answered {
  line: string;
  ok: boolean;
}

interface Plan {
  files: InputFile[];
  records: number;
  family: FamilyName | undefined;
  outStore: Store;
  outPrefix: string;
}

/** The longest line read (records are at most a file in size; this bounds memory per line). */
const MAX_LINE_BYTES = 64 * 1024 * 1024;
const DEFAULT_PAGE = 100;
const STATE_VERSION = 1;

class Stop extends Error {
  constructor(readonly why: 'stop' | 'close') {
    super(why);
  }
}

/** Bedrock's control plane for model invocation jobs, in memory (and in a state file). */
export class LocalBatchService extends EventEmitter {
  readonly region: string;
  readonly accountId: string;
  readonly quotas: QuotaProfile;
  readonly model: LocalModel;
  readonly stores: StoreResolver;
  readonly stateFile: string | undefined;
  private readonly delays: Required<LocalDelays>;
  private readonly hourMs: number;
  private readonly concurrency: number;
  private readonly faults: ReturnType<typeof normalizeFaults>;
  private readonly paused: boolean;
  readonly requireAuth: boolean;
  private readonly log: (line: string) => void;
  private readonly random: () => number;

  private readonly jobs = new Map<string, StoredJob>();
  private readonly tokens = new Map<string, string>();
  private readonly drivers = new Map<string, { controller: AbortController; done: Promise<void> }>();
  private running = 0;
  private readonly waiting: { jobId: string; wake: () => void }[] = [];
  private closing = false;
  private closed = false;
  private saveTimer: NodeJS.Timeout | undefined;

  constructor(options: LocalServiceOptions = {}) {
    super();
    this.region = options.region ?? 'us-east-1';
    if (!/^[a-z0-9-]{1,20}$/.test(this.region)) throw new BatchError('E_BAD_OPTION', `region "${this.region}" is not a region name`);
    this.accountId = options.accountId ?? '123456789012';
    if (!/^[0-9]{12}$/.test(this.accountId)) throw new BatchError('E_BAD_OPTION', `accountId must be 12 digits, got "${this.accountId}"`);
    this.quotas = typeof options.quotas === 'object' ? options.quotas : quotaProfile(options.quotas ?? 'documented');
    this.model = options.model ?? extractiveSummariser();
    this.stores =
      options.stores ?? (options.root !== undefined ? rootResolver(options.root) : options.mounts ? mountResolver(options.mounts) : s3Resolver());
    this.stateFile =
      options.stateFile === false ? undefined : options.stateFile ?? (options.root !== undefined ? join(options.root, '.local-service', 'jobs.json') : undefined);
    const d = options.delays ?? {};
    this.delays = { submitted: 50, validating: 50, scheduled: 50, record: 0, stopping: 50, ...stripUndefined(d) };
    for (const [k, v] of Object.entries(this.delays)) {
      if (!Number.isFinite(v) || v < 0) throw new BatchError('E_BAD_OPTION', `delay ${k} must be a number of milliseconds, got ${String(v)}`);
    }
    this.hourMs = options.hourMs ?? 3_600_000;
    if (!(this.hourMs > 0)) throw new BatchError('E_BAD_OPTION', `hourMs must be positive, got ${String(options.hourMs)}`);
    this.concurrency = options.concurrency ?? 2;
    if (!Number.isSafeInteger(this.concurrency) || this.concurrency < 1) {
      throw new BatchError('E_BAD_OPTION', `concurrency must be a whole number of at least 1, got ${String(options.concurrency)}`);
    }
    this.faults = normalizeFaults(options.faults);
    this.random = seededRandom(this.faults.seed);
    this.paused = options.paused === true;
    this.requireAuth = options.requireAuth !== false;
    this.log = options.log ?? (() => {});
  }

  /** Load the state file and pick up every job that was not finished. */
  async init(): Promise<void> {
    if (this.stateFile) {
      const state = readJsonFile<{ version: number; jobs: StoredJob[] }>(this.stateFile);
      if (state && state.version !== STATE_VERSION) {
        throw new BatchError('E_LOCAL_STATE', `${this.stateFile} has version ${state.version}, this service reads version ${STATE_VERSION}`);
      }
      for (const job of state?.jobs ?? []) {
        this.jobs.set(job.jobId, job);
        if (job.clientRequestToken) this.tokens.set(job.clientRequestToken, job.jobId);
      }
    }
    for (const job of this.jobs.values()) {
      if (job.status === 'Stopping') this.setStatus(job, 'Stopped');
      else if (!isTerminal(job.status) && !this.paused) this.startDriver(job);
    }
  }

  /** Stop running jobs (they resume on the next start with the same state file) and save. */
  async close(): Promise<void> {
    this.closing = true;
    for (const d of this.drivers.values()) d.controller.abort(new Stop('close'));
    await Promise.allSettled([...this.drivers.values()].map((d) => d.done));
    // A job asked to stop that nothing runs here is stopped now, not on the next start.
    for (const job of this.jobs.values()) if (job.status === 'Stopping') this.finishStopped(job);
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.save();
    this.closed = true;
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
      const existing = this.tokens.get(input.clientRequestToken);
      if (existing) return { jobArn: this.jobs.get(existing)!.jobArn };
    }
    const roleAccount = accountOfRole(input.roleArn);
    if (roleAccount && roleAccount !== this.accountId) {
      throw new ServiceError(
        'AccessDeniedException',
        `User: arn:aws:sts::${this.accountId}:assumed-role/local is not authorized to perform: iam:PassRole on resource: ${input.roleArn}`,
      );
    }
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
    const jobId = this.newJobId();
    const now = Date.now();
    const timeout = input.timeoutDurationInHours ?? 24;
    const job: StoredJob = {
      jobArn: `arn:aws:bedrock:${this.region}:${this.accountId}:model-invocation-job/${jobId}`,
      jobId,
      jobName: input.jobName,
      modelId: this.modelArn(input.modelId),
      roleArn: input.roleArn,
      status: 'Submitted',
      submitTime: now,
      lastModifiedTime: now,
      jobExpirationTime: now + timeout * this.hourMs,
      inputDataConfig: {
        s3InputDataConfig: {
          s3Uri: input.inputDataConfig.s3InputDataConfig.s3Uri,
          s3InputFormat: input.inputDataConfig.s3InputDataConfig.s3InputFormat ?? 'JSONL',
          s3BucketOwner: input.inputDataConfig.s3InputDataConfig.s3BucketOwner ?? this.accountId,
        },
      },
      outputDataConfig: {
        s3OutputDataConfig: {
          s3Uri: input.outputDataConfig.s3OutputDataConfig.s3Uri,
          ...(input.outputDataConfig.s3OutputDataConfig.s3EncryptionKeyId !== undefined
            ? { s3EncryptionKeyId: input.outputDataConfig.s3OutputDataConfig.s3EncryptionKeyId }
            : {}),
          s3BucketOwner: input.outputDataConfig.s3OutputDataConfig.s3BucketOwner ?? this.accountId,
        },
      },
      timeoutDurationInHours: timeout,
      totalRecordCount: 0,
      processedRecordCount: 0,
      successRecordCount: 0,
      errorRecordCount: 0,
      inputTokenCount: 0,
      outputTokenCount: 0,
    };
    if (input.clientRequestToken !== undefined) job.clientRequestToken = input.clientRequestToken;
    if (input.vpcConfig) job.vpcConfig = { subnetIds: [...input.vpcConfig.subnetIds], securityGroupIds: [...input.vpcConfig.securityGroupIds] };
    if (input.modelInvocationType !== undefined) job.modelInvocationType = input.modelInvocationType;
    if (input.tags) job.tags = input.tags.map((t) => ({ key: t.key, value: t.value }));
    this.jobs.set(jobId, job);
    if (job.clientRequestToken) this.tokens.set(job.clientRequestToken, jobId);
    this.save();
    this.log(`job ${jobId} (${job.jobName}) submitted for ${model}`);
    this.emit('transition', { job, from: undefined, to: 'Submitted' } satisfies Transition);
    if (!this.paused) this.startDriver(job);
    return { jobArn: job.jobArn };
  }

  get(identifier: string): Record<string, unknown> {
    return this.describe(this.find(identifier));
  }

  list(params: URLSearchParams): { invocationJobSummaries: Record<string, unknown>[]; nextToken?: string } {
    const q = validateListQuery(params);
    const descending = q.sortOrder !== 'Ascending';
    const filterKey = listFilterKey(q);
    let after: { t: number; id: string } | undefined;
    if (q.nextToken !== undefined) after = decodeToken(q.nextToken, filterKey);
    const matching = [...this.jobs.values()]
      .filter(
        (j) =>
          (q.statusEquals === undefined || j.status === q.statusEquals) &&
          (q.nameContains === undefined || j.jobName.includes(q.nameContains)) &&
          (q.submitTimeAfter === undefined || j.submitTime > q.submitTimeAfter.getTime()) &&
          (q.submitTimeBefore === undefined || j.submitTime < q.submitTimeBefore.getTime()),
      )
      .sort((a, b) => (a.submitTime - b.submitTime || (a.jobId < b.jobId ? -1 : a.jobId > b.jobId ? 1 : 0)) * (descending ? -1 : 1));
    let start = 0;
    if (after) {
      const cmp = (j: StoredJob) => (j.submitTime - after!.t || (j.jobId < after!.id ? -1 : j.jobId > after!.id ? 1 : 0)) * (descending ? -1 : 1);
      start = matching.findIndex((j) => cmp(j) > 0);
      if (start < 0) start = matching.length;
    }
    const size = q.maxResults ?? DEFAULT_PAGE;
    const page = matching.slice(start, start + size);
    const out: { invocationJobSummaries: Record<string, unknown>[]; nextToken?: string } = {
      invocationJobSummaries: page.map((j) => this.describe(j)),
    };
    if (start + size < matching.length) {
      const last = page[page.length - 1]!;
      out.nextToken = encodeToken({ t: last.submitTime, id: last.jobId }, filterKey);
    }
    return out;
  }

  stop(identifier: string): void {
    const job = this.find(identifier);
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
        if (!this.closed && job.status === 'Stopping') this.finishStopped(job);
      }, this.delays.stopping).unref();
    }
  }

  // ---- helpers for the operations --------------------------------------------------------

  private find(identifier: string): StoredJob {
    validateJobIdentifier(identifier);
    const id = identifier.slice(identifier.lastIndexOf('/') + 1);
    const job = this.jobs.get(id);
    if (!job || (identifier.includes('/') && identifier !== job.jobArn)) {
      throw new ServiceError('ResourceNotFoundException', `The model invocation job ${identifier} could not be found.`);
    }
    return job;
  }

  private newJobId(): string {
    const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
    for (;;) {
      const bytes = randomBytes(12);
      let id = '';
      for (const b of bytes) id += alphabet[b % alphabet.length];
      if (!this.jobs.has(id)) return id;
    }
  }

  /** Base model ids come back as foundation-model ARNs, profile ids as inference-profile ARNs (§3.1). */
  private modelArn(modelId: string): string {
    const kind = parseModelId(modelId).kind;
    if (kind === 'base') return `arn:aws:bedrock:${this.region}::foundation-model/${modelId}`;
    if (kind === 'profile') return `arn:aws:bedrock:${this.region}:${this.accountId}:inference-profile/${modelId}`;
    return modelId;
  }

  /** The Get response; a List summary has the same members (docs/bedrock.md §3.3). */
  private describe(j: StoredJob): Record<string, unknown> {
    const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
    const out: Record<string, unknown> = {
      jobArn: j.jobArn,
      jobName: j.jobName,
      modelId: j.modelId,
      clientRequestToken: j.clientRequestToken,
      roleArn: j.roleArn,
      status: j.status,
      message: j.message,
      submitTime: iso(j.submitTime),
      lastModifiedTime: iso(j.lastModifiedTime),
      endTime: iso(j.endTime),
      inputDataConfig: j.inputDataConfig,
      outputDataConfig: j.outputDataConfig,
      vpcConfig: j.vpcConfig,
      timeoutDurationInHours: j.timeoutDurationInHours,
      jobExpirationTime: iso(j.jobExpirationTime),
      modelInvocationType: j.modelInvocationType,
      totalRecordCount: j.totalRecordCount,
      processedRecordCount: j.processedRecordCount,
      successRecordCount: j.successRecordCount,
      errorRecordCount: j.errorRecordCount,
    };
    for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
    return out;
  }

  private setStatus(job: StoredJob, to: JobStatus, message?: string): void {
    const from = job.status;
    job.status = to;
    job.lastModifiedTime = Date.now();
    if (message !== undefined) job.message = message;
    if (isTerminal(to)) job.endTime = job.lastModifiedTime;
    this.save();
    this.log(`job ${job.jobId} ${from} -> ${to}${message ? `: ${message}` : ''}`);
    this.emit('transition', { job, from, to } satisfies Transition);
  }

  private finishStopped(job: StoredJob): void {
    if (job.status !== 'Stopped') this.setStatus(job, 'Stopped');
  }

  /** Save now (transitions, creates) or soon (counters). */
  private save(soon = false): void {
    if (!this.stateFile || this.closed) return;
    if (soon) {
      if (!this.saveTimer) {
        this.saveTimer = setTimeout(() => {
          this.saveTimer = undefined;
          this.save();
        }, 500);
        this.saveTimer.unref();
      }
      return;
    }
    writeFileAtomic(this.stateFile, JSON.stringify({ version: STATE_VERSION, jobs: [...this.jobs.values()] }) + '\n');
  }

  // ---- the runner ------------------------------------------------------------------------

  private startDriver(job: StoredJob): void {
    if (this.closing || this.drivers.has(job.jobId)) return;
    const controller = new AbortController();
    const done = this.drive(job, controller.signal).finally(() => this.drivers.delete(job.jobId));
    this.drivers.set(job.jobId, { controller, done });
  }

  private async drive(job: StoredJob, signal: AbortSignal): Promise<void> {
    let holdsSlot = false;
    try {
      let plan: Plan | undefined;
      if (job.status === 'Submitted') {
        await sleep(this.delays.submitted, signal);
        this.setStatus(job, 'Validating');
      }
      if (job.status === 'Validating') {
        const result = await this.validate(job, signal);
        await sleep(this.delays.validating + this.faults.slowValidationMs, signal);
        if (typeof result === 'string') {
          this.setStatus(job, 'Failed', result);
          return;
        }
        plan = result;
        job.totalRecordCount = plan.records;
        this.setStatus(job, 'Scheduled');
      }
      if (job.status === 'Scheduled') {
        await sleep(this.delays.scheduled, signal);
        if (selects(this.faults.expire, this.faults.seed, job.jobName, 'expire')) {
          this.setStatus(job, 'Expired', 'The job timed out before it could start. (local fault injection)');
          return;
        }
        const got = await this.acquireSlot(job, signal);
        if (!got) {
          this.setStatus(job, 'Expired', `The job was not started within its timeout of ${job.timeoutDurationInHours} hours.`);
          return;
        }
        holdsSlot = true;
        this.setStatus(job, 'InProgress');
      }
      if (job.status === 'InProgress') {
        if (!holdsSlot) {
          // Restarted after the process that ran it went away: take a slot again.
          holdsSlot = await this.acquireSlot(job, signal, true);
        }
        if (!plan) {
          const result = await this.validate(job, signal);
          if (typeof result === 'string') {
            this.setStatus(job, 'Failed', result);
            return;
          }
          plan = result;
          job.totalRecordCount = plan.records;
        }
        await this.run(job, plan, signal);
      }
    } catch (err) {
      const why = err instanceof Stop ? err.why : signal.aborted && signal.reason instanceof Stop ? signal.reason.why : undefined;
      if (why === 'stop') {
        await new Promise((r) => setTimeout(r, this.delays.stopping));
        this.finishStopped(job);
      } else if (why === 'close') {
        // leave the job as it is: the next start with this state picks it up
      } else {
        if (err instanceof BatchError && err.code === 'E_STORE') {
          // a location the job cannot use (refused, missing, unwritable): the message names it
          this.setStatus(job, 'Failed', `The job could not read or write its data: ${err.message}`);
        } else {
          this.log(`job ${job.jobId} failed: ${(err as Error).stack ?? String(err)}`);
          this.setStatus(job, 'Failed', `Internal error while running the job: ${(err as Error).message}`);
        }
      }
    } finally {
      if (holdsSlot) this.releaseSlot();
    }
  }

  /** Wait for a run slot; false when the job's expiration time passes first. */
  private async acquireSlot(job: StoredJob, signal: AbortSignal, ignoreExpiry = false): Promise<boolean> {
    if (this.running < this.concurrency && this.waiting.length === 0) {
      this.running++;
      return true;
    }
    return new Promise<boolean>((resolve, reject) => {
      const entry = {
        jobId: job.jobId,
        wake: () => {
          cleanup();
          this.running++;
          resolve(true);
        },
      };
      const timer = ignoreExpiry
        ? undefined
        : setTimeout(() => {
            cleanup();
            resolve(false);
          }, Math.max(0, job.jobExpirationTime - Date.now()));
      const onAbort = () => {
        cleanup();
        reject(signal.reason);
      };
      const cleanup = () => {
        if (timer) clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  private releaseSlot(): void {
    this.running--;
    const next = this.waiting[0];
    if (next && this.running < this.concurrency) next.wake();
  }

  /** The validation phase: a plan to run, or the job's failure message. */
  private async validate(job: StoredJob, signal: AbortSignal): Promise<Plan | string> {
    if (selects(this.faults.failValidation, this.faults.seed, job.jobName, 'failValidation')) {
      return 'Validation failed for the input data. (local fault injection)';
    }
    const q = this.quotas;
    const inputUri = job.inputDataConfig.s3InputDataConfig.s3Uri;
    const outputUri = job.outputDataConfig.s3OutputDataConfig.s3Uri;
    const input = parseS3Uri(inputUri);
    const output = parseS3Uri(outputUri);
    let inStore: Store | undefined;
    let outStore: Store | undefined;
    try {
      inStore = await this.stores.bucket(input.bucket);
    } catch (err) {
      return `The input S3 bucket ${input.bucket} cannot be used: ${(err as Error).message}`;
    }
    if (!inStore) return `The input S3 bucket ${input.bucket} does not exist, or the role ${job.roleArn} cannot read it.`;
    try {
      outStore = await this.stores.bucket(output.bucket);
    } catch (err) {
      return `The output S3 bucket ${output.bucket} cannot be used: ${(err as Error).message}`;
    }
    if (!outStore) return `The output S3 bucket ${output.bucket} does not exist, or the role ${job.roleArn} cannot write to it.`;

    const files: InputFile[] = [];
    try {
      const single = input.key !== '' && !input.key.endsWith('/') && (await inStore.exists(input.key));
      if (single) {
        let bytes = 0;
        for await (const o of inStore.list(input.key)) if (o.key === input.key) bytes = o.size;
        files.push({ store: inStore, key: input.key, name: input.key.slice(input.key.lastIndexOf('/') + 1), bytes });
      } else {
        const prefix = input.key === '' || input.key.endsWith('/') ? input.key : `${input.key}/`;
        for await (const o of inStore.list(prefix)) {
          files.push({ store: inStore, key: o.key, name: o.key.slice(prefix.length), bytes: o.size });
        }
      }
    } catch (err) {
      return `The input ${inputUri} could not be listed: ${(err as Error).message}`;
    }
    if (files.length === 0) return `No input files were found at ${inputUri}.`;
    const notJsonl = files.find((f) => !f.name.endsWith('.jsonl'));
    if (notJsonl) return `The input file s3://${input.bucket}/${notJsonl.key} is not a .jsonl file: every object in the input location must be JSONL.`;
    let jobBytes = 0;
    let records = 0;
    let family: FamilyName | undefined;
    try {
      family = familyFor(job.modelId, job.modelInvocationType === 'Converse' ? { invocationType: 'Converse' } : {}).name;
    } catch {
      family = undefined; // decided by the records' shape
    }
    for (const f of files) {
      const uri = `s3://${input.bucket}/${f.key}`;
      if (f.bytes > q.maxBytesPerFile) return `The input file ${uri} is ${f.bytes} bytes, over the limit of ${q.maxBytesPerFile} bytes per file.`;
      jobBytes += f.bytes;
      if (jobBytes > q.maxBytesPerJob) return `The job's input is over the limit of ${q.maxBytesPerJob} bytes per job (at ${uri}).`;
      let inFile = 0;
      try {
        for await (const line of readLines(f.store.createReadStream(f.key), Math.min(MAX_LINE_BYTES, q.maxBytesPerFile))) {
          if (signal.aborted) throw signal.reason;
          if (line.text.trim() === '') continue;
          let rec: unknown;
          try {
            rec = JSON.parse(line.text);
          } catch {
            return `Line ${line.number} of ${uri} is not valid JSON.`;
          }
          if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) return `Line ${line.number} of ${uri} is not a JSON object.`;
          const modelInput = (rec as Record<string, unknown>).modelInput;
          if (typeof modelInput !== 'object' || modelInput === null || Array.isArray(modelInput)) {
            return `Line ${line.number} of ${uri} has no modelInput object: each line must be {"recordId": "...", "modelInput": {...}}.`;
          }
          if (family === undefined) family = familyOfShape(modelInput as Record<string, unknown>);
          inFile++;
          records++;
          if (inFile > q.maxRecordsPerFile) return `The input file ${uri} has more than ${q.maxRecordsPerFile} records, the limit per file.`;
          if (records > q.maxRecordsPerJob) return `The job has more than ${q.maxRecordsPerJob} records, the limit per job.`;
        }
      } catch (err) {
        if (err instanceof Stop || signal.aborted) throw err;
        if (err instanceof LineTooLongError) return `Line ${err.lineNumber} of ${uri} is longer than ${err.limit} bytes.`;
        return `The input file ${uri} could not be read: ${(err as Error).message}`;
      }
    }
    if (records < q.minRecordsPerJob) {
      return `The job has ${records} records, fewer than the minimum of ${q.minRecordsPerJob} records per batch inference job.`;
    }
    return { files, records, family, outStore, outPrefix: joinKey(output.key, job.jobId) };
  }

  private async run(job: StoredJob, plan: Plan, signal: AbortSignal): Promise<void> {
    // A run cut off by a killed process is run again from the start; clear what its writers left.
    await removeOrphanedPartials(plan.outStore, `${plan.outPrefix}/`);
    job.processedRecordCount = job.successRecordCount = job.errorRecordCount = 0;
    job.inputTokenCount = job.outputTokenCount = 0;
    const half = Math.ceil(plan.records / 2);
    const failAt = selects(this.faults.fail, this.faults.seed, job.jobName, 'fail') ? half : Infinity;
    const partialAt = selects(this.faults.partial, this.faults.seed, job.jobName, 'partial') ? half : Infinity;
    const concurrency = Math.max(1, this.model.concurrency ?? 1);
    let end: 'done' | 'fail' | 'partial' | 'timeout' = 'done';
    let stopped = false;
    let seq = 0;

    outer: for (const file of plan.files) {
      // Opened on the first record, so a job cut short writes no file for inputs it never reached.
      let writer: Writable | undefined;
      let written: Promise<void> | undefined;
      const open = (): Writable => {
        if (!writer) {
          writer = plan.outStore.createWriteStream(`${plan.outPrefix}/${file.name}.out`, { contentType: 'application/jsonl' });
          written = finished(writer);
          written.catch(() => {});
        }
        return writer;
      };
      const pending: Promise<Answered>[] = [];
      const flush = async (all: boolean) => {
        while (pending.length > (all ? 0 : concurrency - 1)) {
          const { line, ok } = await pending.shift()!;
          job.processedRecordCount++;
          if (ok) job.successRecordCount++;
          else job.errorRecordCount++;
          this.save(true);
          const w = open();
          if (!w.write(line)) await once(w, 'drain', { signal });
        }
      };
      try {
        for await (const line of readLines(file.store.createReadStream(file.key), MAX_LINE_BYTES)) {
          if (line.text.trim() === '') continue;
          if (signal.aborted) throw signal.reason;
          const queued = job.processedRecordCount + pending.length;
          if (queued >= failAt) end = 'fail';
          else if (queued >= partialAt) end = 'partial';
          else if (Date.now() > job.jobExpirationTime) end = 'timeout';
          if (end !== 'done') break;
          pending.push(this.answer(job, plan, JSON.parse(line.text) as Record<string, unknown>, file, line.number, signal));
          await flush(false);
          if (this.delays.record > 0) await sleep(this.delays.record, signal);
          else if (++seq % 256 === 0) await new Promise((r) => setImmediate(r));
        }
        await flush(true);
        // A file read to its end has its .out, even when it held no record.
        if (end === 'done') open();
        if (writer) {
          writer.end();
          await written;
        }
      } catch (err) {
        const why = err instanceof Stop ? err.why : signal.aborted && signal.reason instanceof Stop ? signal.reason.why : undefined;
        await Promise.allSettled(pending);
        if (why === 'stop') {
          // Bedrock keeps what a stopped job wrote: end the file with the lines so far.
          stopped = true;
          if (writer) {
            writer.end();
            await written!.catch(() => {});
          }
          break outer;
        }
        writer?.destroy(err instanceof Error ? err : new Error(String(err)));
        throw err;
      }
      if (end !== 'done') break;
    }
    const manifest: Manifest = {
      totalRecordCount: job.totalRecordCount,
      processedRecordCount: job.processedRecordCount,
      successRecordCount: job.successRecordCount,
      errorRecordCount: job.errorRecordCount,
      inputTokenCount: job.inputTokenCount,
      outputTokenCount: job.outputTokenCount,
    };
    const m = plan.outStore.createWriteStream(`${plan.outPrefix}/manifest.json.out`, { contentType: 'application/json' });
    m.end(JSON.stringify(manifest));
    await finished(m);
    if (stopped) throw new Stop('stop');
    if (end === 'fail') this.setStatus(job, 'Failed', 'The job failed while processing records: an internal error occurred. (local fault injection)');
    else if (end === 'partial') this.setStatus(job, 'PartiallyCompleted', 'Not all of your records could be processed in time. (local fault injection)');
    else if (end === 'timeout') this.setStatus(job, 'PartiallyCompleted', `Not all of your records could be processed within the timeout of ${job.timeoutDurationInHours} hours.`);
    else this.setStatus(job, 'Completed');
  }

  /** One output line (with its newline) for one record. */
  private async answer(
    job: StoredJob,
    plan: Plan,
    rec: Record<string, unknown>,
    file: InputFile,
    lineNumber: number,
    signal: AbortSignal,
  ): Promise<Answered> {
    const recordId = rec.recordId ?? generatedRecordId(job.jobId, file.name, lineNumber);
    const modelInput = rec.modelInput as Record<string, unknown>;
    const head = `{"recordId":${JSON.stringify(recordId)},"modelInput":${JSON.stringify(modelInput)}`;
    const fail = (errorCode: number, errorMessage: string): Answered => ({
      line: `${head},"error":${JSON.stringify({ errorCode, errorMessage })}}\n`,
      ok: false,
    });
    const family = plan.family ?? familyOfShape(modelInput);
    if (family === undefined) return fail(400, 'Malformed input request: the modelInput does not match the request format of the model.');
    const issues = FAMILIES[family].validateInput(modelInput, job.modelId);
    if (issues.length > 0) {
      return fail(400, `Malformed input request: ${issues.slice(0, 3).map((i) => i.reason).join('; ')}`);
    }
    const rate = this.faults.recordErrors;
    if (rate && unitHash(this.faults.seed, `record\n${job.jobName}\n${String(recordId)}`) < rate) {
      return unitHash(this.faults.seed, `kind\n${String(recordId)}`) < 0.5
        ? fail(429, 'ThrottlingException: Too many requests, please wait before trying again. (local fault injection)')
        : fail(500, 'InternalServerException: The model returned an internal error. (local fault injection)');
    }
    const started = performance.now();
    try {
      const request = requestOf(family, modelInput);
      const answer = await this.model.answer(request, { modelId: job.modelId, recordId: String(recordId), signal });
      job.inputTokenCount += answer.inputTokens;
      job.outputTokenCount += answer.outputTokens;
      const output = modelOutputFor(family, job.modelId, answer, { recordId: String(recordId), latencyMs: performance.now() - started });
      return { line: `${head},"modelOutput":${JSON.stringify(output)}}\n`, ok: true };
    } catch (err) {
      if (err instanceof ModelCallError) return fail(err.errorCode, err.message);
      if (signal.aborted) throw signal.reason;
      return fail(500, `The model failed: ${(err as Error).message}`);
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

/** A recordId for a line without one ("Amazon Bedrock adds it in the output"): 11 alphanumerics. */
function generatedRecordId(jobId: string, file: string, line: number): string {
  const h = unitHash(line, `${jobId}\n${file}`).toString(36).slice(2, 8).toUpperCase();
  return `R${h.padEnd(6, '0')}${String(line).padStart(4, '0').slice(-4)}`;
}

function listFilterKey(q: ListQuery): string {
  return JSON.stringify([q.statusEquals, q.nameContains, q.submitTimeAfter?.getTime(), q.submitTimeBefore?.getTime(), q.sortOrder ?? 'Descending']);
}

function encodeToken(after: { t: number; id: string }, filterKey: string): string {
  return Buffer.from(JSON.stringify({ ...after, f: filterKey })).toString('base64url');
}

function decodeToken(token: string, filterKey: string): { t: number; id: string } {
  try {
    const data = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { t: number; id: string; f: string };
    if (typeof data.t === 'number' && typeof data.id === 'string' && data.f === filterKey) return { t: data.t, id: data.id };
  } catch {
    // fall through
  }
  throw new ServiceError('ValidationException', 'The provided nextToken is not valid for this request: pass the token from the previous page with the same filters.');
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const t = setTimeout(done, ms);
    function done() {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }
    function onAbort() {
      clearTimeout(t);
      reject(signal.reason);
    }
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
