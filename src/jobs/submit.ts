/**
 * submit as one object: a prepared run in, one Bedrock batch job per job folder, watched to the end.
 *
 *   const submission = submitRun({ run: './batch', output: './out', signal });
 *   submission.on('status', (job, previous) => ...);
 *   submission.on('progress', (p) => ...);
 *   const result = await submission.done();      // result.ok: no job Failed or Expired
 *
 * Steps, each recorded in the ledger before the next begins:
 * 1. Read `<run>/prepared.json` and the ledger; decide local or AWS (target.ts).
 * 2. Reconcile before submitting anything: list the service's jobs whose name carries the run's
 *    prefix (ListModelInvocationJobs, nameContains). A job the ledger knows is checked against the
 *    service; a job the service has but the ledger lacks (the process died between Create and the
 *    ledger line) is adopted. Only a shard with no job anywhere is submitted.
 * 3. Queue: at most `maxInFlight` jobs of the model in flight (Submitted, Validating, Scheduled,
 *    InProgress, Stopping), counted on the service with ListModelInvocationJobs, so two processes
 *    (or two runs) share the quota. ThrottlingException, ServiceQuotaExceededException, 5xx and
 *    network errors are retried with jittered exponential backoff.
 * 4. Create with the derived jobName and clientRequestToken (run.ts): a retried or resumed Create
 *    for a shard returns the first job, never a second one.
 * 5. Watch (with `wait`, the default): poll with backoff until every job is terminal.
 */
import { EventEmitter } from 'node:events';
import { resolve as resolvePath } from 'node:path';
import {
  CreateModelInvocationJobCommand,
  GetModelInvocationJobCommand,
  paginateListModelInvocationJobs,
  type BedrockClient,
  type CreateModelInvocationJobCommandInput,
  type ModelInvocationJobSummary,
} from '@aws-sdk/client-bedrock';
import { BatchError } from '../errors.js';
import { familyFor } from '../models/index.js';
import { normalizeModelId } from '../models/ids.js';
import type { InvocationType } from '../models/family.js';
import type { StoreOptions } from '../stores/index.js';
import { isTerminal, jobIdOf } from '../bedrock/vocabulary.js';
import { backoffDelay, sleep, type BackoffOptions } from './backoff.js';
import { describeError, serviceErrorOf } from './client.js';
import { isOnDemandArn, LEDGER_KEY, Ledger, type LedgerJob, type LedgerState, type RecordCounts } from './ledger.js';
import { clientRequestTokenFor, jobNameFor, loadPreparedRun, verifyJobFolder, type JobSettings, type PreparedJob, type PreparedRun } from './run.js';
import { decideMode, openTarget, type LocalRunOptions, type Mode, type Target } from '../target.js';
import pMap from 'p-map';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { pidAlive } from '../core/process.js';
import { openStore } from '../stores/index.js';
import { ON_DEMAND_PREFIX } from '../run/layout.js';
import { onDemandJobId, runOnDemandJob, type OnDemandLimits, type OnDemandResult } from '../ondemand/runner.js';
import { onDemandModelId } from '../ondemand/profiles.js';
import { checkBudget, type BudgetCheck } from './budget.js';
import type { PriceTable } from '../results/prices.js';
import { countsOf, POLL_CONCURRENCY, summarize, withRetries, type Progress, type RetryEvent } from './watch.js';

/** One job folder of a run and its job. */
export interface JobState {
  /** The job folder: `job-0001`. */
  job: string;
  jobName: string;
  clientRequestToken: string;
  jobArn?: string;
  /** The last segment of the ARN: the folder the job writes under the output. */
  jobId?: string;
  /** Bedrock's status, or `NotSubmitted` for a folder with no job yet. */
  status: string;
  message?: string;
  /** The job folder for the user (`./batch/input/job-0001/`, `s3://...`). */
  input: string;
  /** The job's `s3Uri` input. */
  inputUri: string;
  /** Where the job writes, for the user: `<output>/<jobId>/` (once the job exists). */
  output?: string;
  /** The job's `s3Uri` output. */
  outputUri: string;
  /** Record counts from the service (`total` falls back to prepared.json's count until validated). */
  records: RecordCounts;
  /** Records prepared.json put in the folder. */
  preparedRecords: number;
  /** A batch job, or answered record by record through the Bedrock Runtime (docs/on-demand.md). */
  mode: 'batch' | 'on-demand';
}

/** How job folders run: `auto` sends a folder below the quota profile's minimum on demand. */
export type SubmitMode = 'batch' | 'on-demand' | 'auto';

export interface SubmitRunOptions {
  /** The prepared run: what `prepare --out` was given (a directory or an s3:// prefix). */
  run: string;
  /** Where jobs write: a directory (local mode) or an s3:// prefix. Default: the ledger's, when resuming. */
  output?: string;
  /** The ledger (default `<run>/ledger.jsonl`). */
  ledger?: string;
  /** Force the local service or AWS (default: the rule in target.ts). */
  local?: boolean;
  aws?: boolean;
  /** A Bedrock-compatible endpoint (e.g. a `serve` instance). */
  endpointUrl?: string;
  /** With `endpointUrl`: local paths under this directory are `s3://bucket/key` (as `serve --root`). */
  s3Root?: string;
  region?: string;
  /** The AWS profile (src/aws/config.ts; default AWS_PROFILE): the same for Bedrock as for S3. */
  profile?: string;
  /** One line per AWS request (`--debug`). */
  debug?: (line: string) => void;
  /** The IAM role Bedrock assumes (required on AWS). */
  roleArn?: string;
  /** Another id of the same model family than prepare's (e.g. a cross-region profile id). */
  modelId?: string;
  /**
   * Wait until every job is terminal (default true; always on with the in-process local service).
   * Off, a call is one step: reconcile, create what the quota allows now, answer on-demand
   * folders, record it all, and return (`remaining`, `collectReady`).
   */
  wait?: boolean;
  /** Batch jobs, on-demand calls, or (default) on demand for folders below the minimum records per job. */
  mode?: SubmitMode;
  /** Concurrency and requests/tokens per minute of the on-demand path. */
  onDemand?: OnDemandLimits;
  /** Above this estimated cost (USD or the table's currency; input + the whole output budget), nothing is created. */
  maxCost?: number;
  /** The price table for `maxCost` and `confirm` (default: the built-in one). */
  prices?: PriceTable;
  /** Asked once, with the estimate, before the first job of this call is created; false cancels (E_CANCELLED). */
  confirm?: (estimate: BudgetCheck) => Promise<boolean>;
  /** How long an on-demand folder stays claimed by a process that records nothing (default 15 min). */
  onDemandLeaseMs?: number;
  /** Jobs of the model in flight at once (default: the run's quota profile). */
  maxInFlight?: number;
  timeoutHours?: number;
  kmsKeyId?: string;
  vpc?: { subnetIds: string[]; securityGroupIds: string[] };
  tags?: { key: string; value: string }[];
  /** Poll interval, first and longest, in ms (default 5 s / 60 s on AWS, 200 ms / 2 s locally). */
  pollMs?: number;
  maxPollMs?: number;
  backoff?: BackoffOptions;
  maxRetries?: number;
  /** Options of the in-process local service. */
  localService?: LocalRunOptions;
  /** S3 client settings for the run, the ledger and (on the local service) the buckets, when they are in S3 (default: the SDK's own). */
  s3?: StoreOptions;
  signal?: AbortSignal;
}

export interface SubmitResult {
  mode: Mode;
  target: string;
  ledger: string;
  output: string;
  jobs: JobState[];
  byStatus: Record<string, number>;
  records: RecordCounts;
  /** Jobs created by this call (not adopted or found). */
  created: number;
  /** False when any job Failed or Expired. */
  ok: boolean;
  /** False when `wait` was off and some job is not terminal yet. */
  finished: boolean;
  /** Folders with no job yet (waiting for the quota, or claimed by another process). */
  remaining: number;
  /** Every folder has a job and every job has ended: collect can run. */
  collectReady: boolean;
  /** Ledger events this call appended (each one is in the ledger: conditional writes lose none). */
  ledgerEvents: number;
  /** The cost check, when one ran (maxCost or confirm). */
  budget?: BudgetCheck;
  /** Folders answered on demand by this call. */
  onDemand: { jobs: number; records: number; requests: number; throttled: number; resumed: number; seconds: number };
}

export interface TargetEvent {
  mode: Mode;
  description: string;
  reason: string;
  resumed: boolean;
}

export interface SubmittedEvent {
  job: JobState;
  /** `created` by this call, `adopted` (found on the service, missing from the ledger), or `known` (in the ledger). */
  how: 'created' | 'adopted' | 'known';
}

export interface WaitingEvent {
  reason: 'quota';
  inFlight: number;
  maxInFlight: number;
  pending: number;
}

/** Jobs of a model still counting against the quota (submitted + in progress). */
export async function countJobsInFlight(
  client: BedrockClient,
  modelId: string,
  options: { signal?: AbortSignal; retries?: Parameters<typeof withRetries>[2] } = {},
): Promise<number> {
  const model = normalizeModelId(modelId);
  // A job in flight was submitted within its timeout (at most 168 h): list no further back.
  const after = new Date(Date.now() - 169 * 3_600_000);
  let n = 0;
  for (const job of await listAll(client, { submitTimeAfter: after }, options)) {
    if (!isTerminal(job.status) && job.modelId !== undefined && normalizeModelId(job.modelId) === model) n++;
  }
  return n;
}

async function listAll(
  client: BedrockClient,
  filter: { nameContains?: string; submitTimeAfter?: Date },
  options: { signal?: AbortSignal; retries?: Parameters<typeof withRetries>[2] },
): Promise<ModelInvocationJobSummary[]> {
  return withRetries(
    'ListModelInvocationJobs',
    async () => {
      const out: ModelInvocationJobSummary[] = [];
      const pages = paginateListModelInvocationJobs({ client, pageSize: 1000 }, { ...filter, sortOrder: 'Descending' });
      for await (const page of pages) out.push(...(page.invocationJobSummaries ?? []));
      return out;
    },
    { ...options.retries, ...(options.signal ? { signal: options.signal } : {}) },
  );
}

/** A run's submission (see the module comment). */
export class RunSubmission extends EventEmitter {
  private readonly promise: Promise<SubmitResult>;
  /** This process, in the claims it writes to the ledger: `<host>:<pid>:<random>`. */
  private readonly owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;

  constructor(private readonly options: SubmitRunOptions) {
    super();
    this.promise = new Promise<void>((r) => setImmediate(r)).then(() => this.run());
    this.promise.catch(() => {}); // surfaced through done()
  }

  done(): Promise<SubmitResult> {
    return this.promise;
  }

  private note(text: string): void {
    this.emit('note', text);
  }

  private async run(): Promise<SubmitResult> {
    const o = this.options;
    const signal = o.signal;
    const mode = o.mode ?? 'auto';
    if (!['batch', 'on-demand', 'auto'].includes(mode)) throw new BatchError('E_BAD_OPTION', `mode must be batch, on-demand or auto, got ${String(mode)}`);
    const prepared = await loadPreparedRun(o.run, o.s3, { belowMinimum: mode !== 'batch' });
    const ledgerPath = o.ledger ?? prepared.store.resolve(LEDGER_KEY);
    const ledger = await Ledger.open(ledgerPath, o.s3);
    for (const n of ledger.state.notes) this.note(n);
    const recorded = ledger.state.run;
    if (recorded && recorded.runId !== prepared.runId) {
      throw new BatchError('E_LEDGER_MISMATCH', `${ledgerPath} belongs to another prepare of ${o.run} (run id ${recorded.runId.slice(0, 8)}, now ${prepared.runId.slice(0, 8)})`, {
        hint: 'prepare.json changed after submit: give this run its own --ledger, or restore the prepared run the ledger was written for',
      });
    }
    const decision = decideMode({ run: o.run, output: o.output, local: o.local, aws: o.aws, endpointUrl: o.endpointUrl ?? recorded?.endpoint, ledgerMode: recorded?.mode });
    const output = o.output ?? recorded?.output;
    if (output === undefined) {
      throw new BatchError('E_BAD_OPTION', '--output is required: where the jobs write their results', {
        hint: decision.mode === 'local' ? 'e.g. --output ./out' : 'e.g. --output s3://my-bucket/results/',
      });
    }
    const modelId = o.modelId ?? recorded?.modelId ?? prepared.manifest.model.modelId;
    const invocationType = prepared.manifest.model.invocationType;
    checkModel(prepared, modelId);
    const target = await openTarget({
      run: prepared,
      mode: decision.mode,
      output,
      roleArn: o.roleArn ?? recorded?.roleArn,
      region: o.region ?? recorded?.region,
      endpointUrl: o.endpointUrl ?? recorded?.endpoint,
      profile: o.profile,
      debug: o.debug,
      s3Root: o.s3Root ?? recorded?.s3Root,
      local: o.localService,
      purpose: 'submit',
    });
    try {
      if (recorded && recorded.output !== target.output) {
        throw new BatchError('E_BAD_OPTION', `this run writes to ${recorded.output} (ledger), not ${target.output}`, {
          hint: 'drop --output to resume it where it writes, or prepare a new run',
        });
      }
      if (recorded && recorded.roleArn !== target.roleArn) {
        this.note(`the ledger's jobs were created with ${recorded.roleArn}; new ones use ${target.roleArn}`);
      }
      this.emit('target', { mode: target.mode, description: target.description, reason: decision.reason, resumed: recorded !== undefined } satisfies TargetEvent);
      if (!recorded) {
        // Two steppers starting one run at once: the first `run` event stands.
        await ledger.appendIf({
          event: 'run',
          runId: prepared.runId,
          run: o.run,
          mode: target.mode,
          output: target.output,
          outputUri: target.outputUri,
          ...(target.region ? { region: target.region } : {}),
          // the endpoint the client used, from a flag, the environment or the profile: a resumed run goes there too
          ...(target.mode === 'aws' && target.endpoint ? { endpoint: target.endpoint } : {}),
          ...(o.s3Root ? { s3Root: resolvePath(o.s3Root) } : {}),
          modelId,
          invocationType,
          roleArn: target.roleArn,
          jobs: prepared.manifest.jobs.length,
        }, (state) => (state.run ? 'recorded' : true));
      }
      const local = target.mode === 'local';
      return await this.submitAndWatch(prepared, ledger, target, {
        modelId,
        invocationType,
        wait: o.wait !== false || target.local !== undefined,
        mode,
        maxInFlight: o.maxInFlight ?? prepared.manifest.quotas.maxJobsInFlight,
        pollMs: o.pollMs ?? (local ? 200 : 5000),
        maxPollMs: o.maxPollMs ?? (local ? 2000 : 60_000),
        ...(signal ? { signal } : {}),
      });
    } finally {
      await target.close();
      await ledger.close();
    }
  }

  private async submitAndWatch(
    prepared: PreparedRun,
    ledger: Ledger,
    target: Target,
    s: { modelId: string; invocationType: InvocationType; wait: boolean; mode: SubmitMode; maxInFlight: number; pollMs: number; maxPollMs: number; signal?: AbortSignal },
  ): Promise<SubmitResult> {
    const o = this.options;
    const { client } = target;
    if (!Number.isSafeInteger(s.maxInFlight) || s.maxInFlight < 1) {
      throw new BatchError('E_BAD_OPTION', `maxInFlight must be a whole number of at least 1, got ${String(s.maxInFlight)}`);
    }
    const retries = {
      ...(o.backoff ? { backoff: o.backoff } : {}),
      ...(o.maxRetries !== undefined ? { maxRetries: o.maxRetries } : {}),
      ...(s.signal ? { signal: s.signal } : {}),
      onRetry: (e: RetryEvent) => this.emit('retry', e),
    };

    // The jobs as they should be, and what the ledger knows.
    const settingsOf = (job: PreparedJob): JobSettings => ({
      modelId: s.modelId,
      invocationType: s.invocationType,
      roleArn: target.roleArn,
      inputUri: target.inputUriFor(job),
      outputUri: target.outputUri,
      ...(o.timeoutHours !== undefined ? { timeoutHours: o.timeoutHours } : {}),
      ...(o.kmsKeyId !== undefined ? { kmsKeyId: o.kmsKeyId } : {}),
      ...(o.vpc !== undefined ? { vpc: o.vpc } : {}),
      ...(o.tags !== undefined ? { tags: o.tags } : {}),
    });
    const states: JobState[] = [];
    const byJob = new Map<string, { job: PreparedJob; state: JobState; settings: JobSettings }>();
    for (const job of prepared.manifest.jobs) {
      const settings = settingsOf(job);
      const known: LedgerJob | undefined = ledger.state.jobs.get(job.name);
      const state: JobState = {
        job: job.name,
        jobName: known?.jobName ?? jobNameFor(prepared, job),
        clientRequestToken: known?.token ?? clientRequestTokenFor(prepared, job, settings),
        status: 'NotSubmitted',
        input: job.uri,
        inputUri: settings.inputUri,
        outputUri: settings.outputUri,
        records: { total: job.records, processed: 0, success: 0, error: 0 },
        preparedRecords: job.records,
        mode: folderMode(s.mode, job.records, prepared.manifest.quotas.minRecordsPerJob, known),
      };
      if (known?.jobArn) this.setArn(state, known.jobArn, target);
      if (known?.status) Object.assign(state, { status: known.status, records: withPrepared(known.records, job.records) });
      if (known?.message) state.message = known.message;
      states.push(state);
      byJob.set(job.name, { job, state, settings });
    }

    // Reconcile with the service before submitting anything.
    const remote = await listAll(client, { nameContains: prepared.namePrefix }, { ...(s.signal ? { signal: s.signal } : {}), retries });
    const byName = new Map<string, ModelInvocationJobSummary[]>();
    for (const r of remote) if (r.jobName) byName.set(r.jobName, [...(byName.get(r.jobName) ?? []), r]);
    for (const state of states) {
      if (state.mode === 'on-demand' && !(state.jobArn && !isOnDemandArn(state.jobArn))) {
        if (state.jobArn) this.emit('submitted', { job: { ...state }, how: 'known' } satisfies SubmittedEvent);
        continue; // answered through the runtime: nothing on the batch service to reconcile
      }
      if (state.jobArn) {
        let found: { status?: string; message?: string } & Parameters<typeof countsOf>[0] | undefined = remote.find((r) => r.jobArn === state.jobArn);
        if (!found) {
          try {
            found = await withRetries('GetModelInvocationJob', () => client.send(new GetModelInvocationJobCommand({ jobIdentifier: state.jobArn! })), retries);
          } catch (err) {
            if (serviceErrorOf(err).name !== 'ResourceNotFoundException') throw err;
            throw new BatchError('E_LEDGER_MISMATCH', `the ledger says ${state.job} is job ${state.jobArn}, but ${target.description} has no such job`, {
              hint:
                target.mode === 'local'
                  ? "the local service's state (local-service/jobs.json) was removed or replaced: move ledger.jsonl away to submit the run afresh"
                  : 'check the region and account (--region, AWS_PROFILE): the job was created elsewhere',
            });
          }
        }
        this.emit('submitted', { job: { ...state }, how: 'known' } satisfies SubmittedEvent);
        await this.apply(state, found, ledger);
        continue;
      }
      const candidates = byName.get(state.jobName) ?? [];
      const pick = candidates.find((c) => c.clientRequestToken === state.clientRequestToken) ?? candidates[0];
      if (pick?.jobArn) {
        if (pick.clientRequestToken !== undefined && pick.clientRequestToken !== state.clientRequestToken) {
          this.note(`${state.job}: adopting ${pick.jobArn}, which was created with other settings (its token differs)`);
        }
        this.setArn(state, pick.jobArn, target);
        // another stepper may have recorded it meanwhile: then it is known, not adopted again
        await ledger.appendIf(
          { event: 'adopted', job: state.job, jobName: state.jobName, token: pick.clientRequestToken ?? state.clientRequestToken, input: state.inputUri, jobArn: pick.jobArn, output: state.output! },
          (now) => (now.jobs.get(state.job)?.jobArn ? 'recorded' : true),
        );
        this.emit('submitted', { job: { ...state }, how: 'adopted' } satisfies SubmittedEvent);
        await this.apply(state, pick, ledger);
      }
    }

    const pending = states.filter((st) => !st.jobArn && st.mode === 'batch');
    const onDemandPending = states.filter((st) => st.mode === 'on-demand' && !isTerminal(st.status));
    const onDemand = { jobs: 0, records: 0, requests: 0, throttled: 0, resumed: 0, seconds: 0 };
    // What this call may spend, checked before it creates anything (nothing to create: no check).
    let budget: BudgetCheck | undefined;
    if ((o.maxCost !== undefined || o.confirm) && (pending.length > 0 || onDemandPending.some((st) => !st.jobArn))) {
      budget = await checkBudget({
        run: prepared,
        modelId: s.modelId,
        onDemandJobs: new Set(states.filter((st) => st.mode === 'on-demand').map((st) => st.job)),
        ...(o.prices ? { prices: o.prices } : {}),
        ...(o.maxCost !== undefined ? { maxCost: o.maxCost } : {}),
        ...(s.signal ? { signal: s.signal } : {}),
      });
      this.emit('budget', budget);
      if (o.confirm && !(await o.confirm(budget))) {
        throw new BatchError('E_CANCELLED', 'nothing was submitted: the estimate was declined', { hint: 'run the same command again to be asked again, or lower the cost first (see `bedrock-batch estimate`)' });
      }
    }
    let created = 0;
    const finish = (): SubmitResult => {
      const progress = summarize(states);
      const remaining = states.filter((st) => !st.jobArn).length;
      return {
        mode: target.mode,
        target: target.description,
        ledger: ledger.location,
        output: target.output,
        jobs: states.map((st) => ({ ...st })),
        byStatus: progress.byStatus,
        records: progress.records,
        created,
        ok: !states.some((st) => st.status === 'Failed' || st.status === 'Expired'),
        finished: progress.finished,
        remaining,
        collectReady: remaining === 0 && states.every((st) => isTerminal(st.status)),
        ledgerEvents: ledger.appended,
        ...(budget ? { budget } : {}),
        onDemand,
      };
    };
    let delay = s.pollMs;
    let quotaAttempt = 0;
    for (;;) {
      if (s.signal?.aborted) throw s.signal.reason;
      let changed = await this.refresh(states, client, ledger, retries);
      let quotaRefused = false;
      if (pending.length > 0) {
        const inFlight = await countJobsInFlight(client, s.modelId, { ...(s.signal ? { signal: s.signal } : {}), retries });
        let free = s.maxInFlight - inFlight;
        if (free <= 0) this.emit('waiting', { reason: 'quota', inFlight, maxInFlight: s.maxInFlight, pending: pending.length } satisfies WaitingEvent);
        // folders another process was creating: asked about again on the next round (when waiting)
        const later: JobState[] = [];
        while (free > 0 && pending.length > 0) {
          const state = pending[0]!;
          const entry = byJob.get(state.job)!;
          const outcome = await this.create(prepared, entry.job, state, entry.settings, target, ledger, retries);
          if (outcome === 'quota') {
            quotaRefused = true;
            this.emit('waiting', { reason: 'quota', inFlight: s.maxInFlight - free, maxInFlight: s.maxInFlight, pending: pending.length } satisfies WaitingEvent);
            break;
          }
          pending.shift();
          free--;
          if (outcome === 'created') created++;
          if (outcome === 'taken' && !state.jobArn && s.wait) later.push(state);
          quotaAttempt = 0;
          changed = true;
        }
        pending.push(...later);
      }
      // On-demand folders, once the batch jobs of this round are created (their clock runs meanwhile).
      while (onDemandPending.length > 0) {
        const state = onDemandPending.shift()!;
        const entry = byJob.get(state.job)!;
        const r = await this.answerOnDemand(prepared, entry.job, state, entry.settings, target, ledger, () => this.emit('progress', summarize(states)), s.signal);
        if (!r && s.wait && !isTerminal(state.status)) {
          throw new BatchError('E_LEDGER_CLAIM', `another process is answering ${state.job} on demand`, {
            hint: 'let it finish (bedrock-batch status shows it), or run again once it has stopped: its claim lapses after a quiet spell (docs/on-demand.md)',
          });
        }
        if (r) {
          onDemand.jobs++;
          onDemand.records += r.records.total;
          onDemand.requests += r.requests;
          onDemand.throttled += r.throttled;
          onDemand.resumed += r.resumed;
          onDemand.seconds += r.seconds;
        }
        changed = true;
      }
      const progress = summarize(states);
      this.emit('progress', progress);
      // A step (no wait) never waits for the quota: what is left, the next step creates.
      if (!s.wait || (pending.length === 0 && progress.finished)) return finish();
      delay = changed ? s.pollMs : Math.min(s.maxPollMs, Math.round(delay * 1.5));
      const wait = quotaRefused ? Math.max(s.pollMs, backoffDelay(quotaAttempt++, o.backoff)) : delay;
      await sleep(wait, s.signal);
    }
  }

  /**
   * Answer one folder through the Bedrock Runtime (docs/on-demand.md). The folder is claimed in the
   * ledger first (a lease another process may take over once it has gone quiet for `onDemandLeaseMs`);
   * each answer is stored, then recorded (`answered`), so a killed run asks again only what was in
   * flight. Returns undefined when another process holds the folder.
   */
  private async answerOnDemand(
    prepared: PreparedRun,
    job: PreparedJob,
    state: JobState,
    settings: JobSettings,
    target: Target,
    ledger: Ledger,
    progress: () => void,
    signal: AbortSignal | undefined,
  ): Promise<OnDemandResult | undefined> {
    const o = this.options;
    const owner = this.owner;
    const leaseMs = o.onDemandLeaseMs ?? 15 * 60_000;
    const jobId = onDemandJobId(state.clientRequestToken);
    const runtimeModel = onDemandModelId(settings.modelId, target.region ?? 'us-east-1');
    const reason =
      (this.options.mode ?? 'auto') === 'on-demand'
        ? '--mode on-demand'
        : `${job.records} records, below the minimum of ${prepared.manifest.quotas.minRecordsPerJob} per batch job (quota profile ${prepared.manifest.quotas.name})`;
    if (runtimeModel.note) this.note(`${job.name}: ${runtimeModel.note}`);
    const held = (now: LedgerState): true | string => {
      const j = now.jobs.get(job.name);
      if (j?.jobArn && !isOnDemandArn(j.jobArn)) return 'batch';
      if (j?.done) return 'done';
      const claim = j?.onDemand;
      if (claim && claim.owner !== owner && Date.now() - claim.lastAt < leaseMs && !ownerGone(claim.owner)) return `held by another process (${claim.owner}) until ${new Date(claim.lastAt + leaseMs).toISOString()}`;
      return true;
    };
    await verifyJobFolder(prepared, job);
    const claimed = await ledger.appendIf(
      {
        event: 'on-demand',
        job: job.name,
        jobName: state.jobName,
        token: state.clientRequestToken,
        jobArn: `on-demand/${jobId}`,
        input: settings.inputUri,
        output: target.outputFor(jobId),
        modelId: runtimeModel.modelId,
        reason,
        owner,
      },
      held,
    );
    if (claimed !== true) {
      const j = ledger.state.jobs.get(job.name);
      if (j?.jobArn) this.setArn(state, j.jobArn, target);
      if (j?.status) state.status = j.status;
      if (claimed !== 'done') this.note(`${job.name}: not answered on demand by this process: ${claimed}`);
      return undefined;
    }
    this.setArn(state, `on-demand/${jobId}`, target);
    this.emit('submitted', { job: { ...state }, how: 'created' } satisfies SubmittedEvent);
    await this.apply(state, { status: 'InProgress' }, ledger);
    const known = ledger.state.jobs.get(job.name)?.onDemand?.answered ?? new Set<string>();
    const stillMine = (now: LedgerState): true | string => {
      const claim = now.jobs.get(job.name)?.onDemand;
      return claim && claim.owner !== owner ? 'another process took the folder over' : true;
    };
    const run = await openStore(target.output, prepared.s3);
    let result: OnDemandResult;
    try {
      result = await runOnDemandJob({
      input: prepared.store,
      shards: job.shards,
      output: run,
      jobId,
      spool: prepared.store,
      spoolPrefix: `${ON_DEMAND_PREFIX}${job.name}/`,
      modelId: runtimeModel.modelId,
      invocationType: settings.invocationType,
      client: target.runtime(),
      ...(o.onDemand ? { limits: o.onDemand } : {}),
      ...(o.backoff ? { backoff: o.backoff } : {}),
      ...(o.maxRetries !== undefined ? { maxRetries: o.maxRetries } : {}),
      known,
      onAnswered: async (recordIds) => {
        const ok = await ledger.appendIf({ event: 'answered', job: job.name, records: recordIds, owner }, stillMine);
        if (ok !== true) throw new BatchError('E_LEDGER_CLAIM', `${job.name}: ${ok} (its lease of ${Math.round(leaseMs / 1000)} s ran out): this process stops answering it`, { hint: 'the answers stored so far are kept and used by the other process' });
      },
      onProgress: (c) => {
        state.records = { ...c };
        progress();
      },
      onRetry: (e) => this.emit('retry', e),
      ...(signal ? { signal } : {}),
      });
    } catch (err) {
      // Interrupted or failed: give the claim up, so the same command (here or elsewhere) resumes at once.
      await ledger.append({ event: 'released', job: job.name, owner }).catch(() => {});
      throw err;
    }
    await this.apply(state, { status: result.status, ...recordCountFields(result.records) }, ledger);
    return result;
  }

  private setArn(state: JobState, jobArn: string, target: Target): void {
    state.jobArn = jobArn;
    state.jobId = jobIdOf(jobArn);
    state.output = target.outputFor(state.jobId);
  }

  /** Take a service answer into the state; a change goes to the ledger and out as an event. */
  private async apply(state: JobState, r: { status?: string; message?: string } & Parameters<typeof countsOf>[0], ledger: Ledger): Promise<boolean> {
    const previous = state.status;
    const records = withPrepared(countsOf(r), state.preparedRecords);
    const status = r.status ?? 'Unknown';
    const statusChanged = status !== previous;
    const moved = statusChanged || JSON.stringify(records) !== JSON.stringify(state.records);
    state.status = status;
    state.records = records;
    if (r.message) state.message = r.message;
    if (statusChanged) {
      await ledger.append({
        event: isTerminal(status) ? 'done' : 'status',
        job: state.job,
        jobArn: state.jobArn!,
        status,
        records,
        ...(r.message ? { message: r.message } : {}),
      });
      this.emit('status', { ...state }, previous === 'NotSubmitted' ? undefined : previous);
    }
    return moved;
  }

  private async refresh(states: JobState[], client: BedrockClient, ledger: Ledger, retries: Parameters<typeof withRetries>[2]): Promise<boolean> {
    let changed = false;
    await pMap(
      states.filter((st) => st.jobArn && !isOnDemandArn(st.jobArn) && !isTerminal(st.status)),
      async (state) => {
        const r = await withRetries('GetModelInvocationJob', () => client.send(new GetModelInvocationJobCommand({ jobIdentifier: state.jobArn! })), retries);
        if (await this.apply(state, r, ledger)) changed = true;
      },
      { concurrency: POLL_CONCURRENCY },
    );
    return changed;
  }

  private async create(
    prepared: PreparedRun,
    job: PreparedJob,
    state: JobState,
    settings: JobSettings,
    target: Target,
    ledger: Ledger,
    retries: Parameters<typeof withRetries>[2],
  ): Promise<'created' | 'quota' | 'taken'> {
    await verifyJobFolder(prepared, job);
    const input: CreateModelInvocationJobCommandInput = {
      jobName: state.jobName,
      roleArn: settings.roleArn,
      modelId: settings.modelId,
      clientRequestToken: state.clientRequestToken,
      inputDataConfig: { s3InputDataConfig: { s3Uri: settings.inputUri, s3InputFormat: 'JSONL' } },
      outputDataConfig: { s3OutputDataConfig: { s3Uri: settings.outputUri, ...(settings.kmsKeyId ? { s3EncryptionKeyId: settings.kmsKeyId } : {}) } },
      ...(settings.timeoutHours !== undefined ? { timeoutDurationInHours: settings.timeoutHours } : {}),
      ...(settings.tags?.length ? { tags: settings.tags } : {}),
      ...(settings.vpc ? { vpcConfig: settings.vpc } : {}),
      ...(settings.invocationType === 'Converse' ? { modelInvocationType: 'Converse' as const } : {}),
    };
    // The claim, checked against the ledger as it is at the moment of writing (conditional in S3):
    // a folder another process has a job for, or is creating with other settings, is left to it.
    // The same settings give the same token, so a Create racing another one returns its job.
    const claim = await ledger.appendIf({ event: 'submitting', job: job.name, jobName: state.jobName, token: state.clientRequestToken, input: settings.inputUri, owner: this.owner }, (now) => {
      const j = now.jobs.get(job.name);
      if (j?.jobArn) return 'taken';
      if (j?.inDoubt && j.token !== undefined && j.token !== state.clientRequestToken) return 'other-settings';
      // another live process is creating it now; one that went quiet (or died) is taken over: the same token returns its job
      const c = j?.inDoubt ? j.creating : undefined;
      if (c && c.owner !== this.owner && Date.now() - c.at < CREATE_LEASE_MS && !ownerGone(c.owner)) return 'creating';
      return true;
    });
    if (claim !== true) {
      const j = ledger.state.jobs.get(job.name);
      if (j?.jobArn) {
        this.setArn(state, j.jobArn, target);
        if (j.status) state.status = j.status;
        this.note(`${job.name}: another process created its job (${j.jobArn}); this one leaves it be`);
      } else if (claim === 'creating') {
        this.note(`${job.name}: another process is creating its job right now; left to it`);
      } else {
        this.note(`${job.name}: another process is creating its job with other settings (token ${j?.token?.slice(0, 8)}…); left to it`);
      }
      return 'taken';
    }
    let jobArn: string;
    try {
      const r = await withRetries('CreateModelInvocationJob', () => target.client.send(new CreateModelInvocationJobCommand(input)), { ...retries, retryQuota: false });
      if (!r.jobArn) throw new BatchError('E_SERVICE', `CreateModelInvocationJob for ${job.name} answered without a jobArn`);
      jobArn = r.jobArn;
    } catch (err) {
      if (serviceErrorOf(err).name === 'ServiceQuotaExceededException') return 'quota';
      if (err instanceof BatchError || (this.options.signal?.aborted ?? false)) throw err;
      const why = describeError(err);
      await ledger.append({ event: 'create-failed', job: job.name, jobName: state.jobName, error: why });
      const name = serviceErrorOf(err).name;
      throw new BatchError('E_JOB_CREATE', `${target.description} refused the job for ${job.name} (${state.jobName}): ${why}`, {
        hint:
          name === 'AccessDeniedException'
            ? 'check that your credentials may call bedrock:CreateModelInvocationJob and iam:PassRole on the role'
            : name === 'ValidationException'
              ? 'the message names the field; fix the option and run the same command again (it resumes)'
              : 'run the same command again to resume',
        cause: err,
      });
    }
    this.setArn(state, jobArn, target);
    await ledger.append({ event: 'submitted', job: job.name, jobName: state.jobName, token: state.clientRequestToken, input: settings.inputUri, jobArn, output: state.output! });
    // Every status submit knows goes to the ledger: collect counts a job as running until it reads
    // a terminal one there.
    state.status = 'Submitted';
    await ledger.append({ event: 'status', job: job.name, jobArn, status: state.status, records: state.records });
    this.emit('submitted', { job: { ...state }, how: 'created' } satisfies SubmittedEvent);
    this.emit('status', { ...state }, undefined);
    return 'created';
  }
}


/** How long another process's `submitting` holds a folder (one Create, with its retries) before it is taken over. */
const CREATE_LEASE_MS = 5 * 60_000;

/** A claim's owner on this machine whose process has ended (killed): its claim holds nothing. */
function ownerGone(owner: string): boolean {
  const [host, pid] = owner.split(':');
  return host === hostname() && pid !== undefined && /^\d+$/.test(pid) && Number(pid) !== process.pid && !pidAlive(Number(pid));
}

/** How a folder runs: as the ledger already has it, else by the mode and its size. */
function folderMode(mode: SubmitMode, records: number, minRecordsPerJob: number, known: LedgerJob | undefined): 'batch' | 'on-demand' {
  if (known?.onDemand || (known?.jobArn && isOnDemandArn(known.jobArn))) return 'on-demand';
  if (known?.jobArn || known?.inDoubt) return 'batch';
  if (mode === 'on-demand') return 'on-demand';
  return mode === 'auto' && records < minRecordsPerJob ? 'on-demand' : 'batch';
}

/** Counts in the field names of GetModelInvocationJob's answer (what `apply` reads). */
function recordCountFields(r: RecordCounts): Parameters<typeof countsOf>[0] {
  return { totalRecordCount: r.total, processedRecordCount: r.processed, successRecordCount: r.success, errorRecordCount: r.error } as Parameters<typeof countsOf>[0];
}

/** `total` is 0 until a job is validated: show prepare's count meanwhile. */
function withPrepared(records: RecordCounts | undefined, prepared: number): RecordCounts {
  const r = records ?? { total: 0, processed: 0, success: 0, error: 0 };
  return r.total > 0 ? r : { ...r, total: prepared };
}

/** A model id other than prepare's must be of the same family (the records were built for it). */
function checkModel(prepared: PreparedRun, modelId: string): void {
  const m = prepared.manifest.model;
  if (modelId === m.modelId) return;
  let family: string;
  try {
    family = familyFor(modelId, { invocationType: m.invocationType }).name;
  } catch (err) {
    throw new BatchError('E_BAD_OPTION', `--model ${modelId}: ${(err as Error).message}`, { cause: err });
  }
  if (family !== m.family) {
    throw new BatchError('E_BAD_OPTION', `--model ${modelId} is a ${family} model, but the run was prepared for ${m.modelId} (${m.family})`, {
      hint: 'records are built for one model family: prepare again for this model, or drop --model',
    });
  }
}

export function submitRun(options: SubmitRunOptions): RunSubmission {
  return new RunSubmission(options);
}

export type { Progress };
