/**
 * status and stop for a submitted run: the ledger says which jobs belong to it, the service says
 * where they are. On the local service, while a submit runs, both talk to that submit's service;
 * otherwise they start a paused one on the run's state (it answers, and stops jobs, but runs none).
 */
import { GetModelInvocationJobCommand, StopModelInvocationJobCommand } from '@aws-sdk/client-bedrock';
import { BatchError } from '../errors.js';
import { isTerminal, jobIdOf } from '../bedrock/vocabulary.js';
import { serviceErrorOf } from './client.js';
import { isOnDemandArn, LEDGER_KEY, Ledger, type LedgerState, type RecordCounts } from './ledger.js';
import { loadPreparedRun, jobNameFor, type PreparedRun } from './run.js';
import type { StoreOptions } from '../stores/index.js';
import type { JobState } from './submit.js';
import { openTarget, type Target } from '../target.js';
import pMap from 'p-map';
import { countsOf, POLL_CONCURRENCY, summarize, withRetries, type PollOptions } from './watch.js';

export interface RunStatusOptions extends Pick<PollOptions, 'backoff' | 'maxRetries' | 'signal'> {
  /** The prepared run (default `./batch` in the CLI). */
  run: string;
  ledger?: string;
  /** Ask the service for live counts (default true); false: only what the ledger recorded. */
  live?: boolean;
  region?: string;
  endpointUrl?: string;
  /** The AWS profile (src/aws/config.ts; default AWS_PROFILE). */
  profile?: string;
  /** One line per AWS request (`--debug`). */
  debug?: (line: string) => void;
  s3Root?: string;
  /** S3 client settings for a run and ledger in S3 (default: the SDK's own). */
  s3?: StoreOptions;
}

export interface RunStatus {
  run: string;
  ledger: string;
  mode?: 'local' | 'aws';
  /** The service asked, when live. */
  target?: string;
  jobs: JobState[];
  byStatus: Record<string, number>;
  records: RecordCounts;
  finished: boolean;
  notes: string[];
}

interface Opened {
  prepared: PreparedRun;
  ledgerPath: string;
  state: LedgerState;
  jobs: JobState[];
}

async function openRun(o: { run: string; ledger?: string; s3?: StoreOptions }): Promise<Opened> {
  const prepared = await loadPreparedRun(o.run, o.s3, { belowMinimum: true });
  const ledgerPath = o.ledger ?? prepared.store.resolve(LEDGER_KEY);
  const state = await Ledger.read(ledgerPath, o.s3);
  if (state.run && state.run.runId !== prepared.runId) {
    throw new BatchError('E_LEDGER_MISMATCH', `${ledgerPath} belongs to another prepare of ${o.run}`, { hint: 'pass the --ledger written for this run' });
  }
  const jobs = prepared.manifest.jobs.map((job): JobState => {
    const known = state.jobs.get(job.name);
    const s: JobState = {
      job: job.name,
      jobName: known?.jobName ?? jobNameFor(prepared, job),
      clientRequestToken: known?.token ?? '',
      status: known?.status ?? (known?.jobArn ? 'Submitted' : 'NotSubmitted'),
      mode: known?.onDemand || (known?.jobArn && isOnDemandArn(known.jobArn)) ? 'on-demand' : 'batch',
      input: job.uri,
      inputUri: known?.input ?? '',
      outputUri: state.run?.outputUri ?? '',
      records: known?.records && known.records.total > 0 ? known.records : { total: job.records, processed: known?.records?.processed ?? 0, success: known?.records?.success ?? 0, error: known?.records?.error ?? 0 },
      preparedRecords: job.records,
    };
    if (known?.jobArn) {
      s.jobArn = known.jobArn;
      s.jobId = jobIdOf(known.jobArn);
      if (known.output) s.output = known.output;
    }
    if (known?.message) s.message = known.message;
    return s;
  });
  return { prepared, ledgerPath, state, jobs };
}

async function targetFor(opened: Opened, o: Pick<RunStatusOptions, 'region' | 'endpointUrl' | 'profile' | 'debug' | 's3Root'>, purpose: 'status' | 'stop'): Promise<Target> {
  const run = opened.state.run!;
  return openTarget({
    run: opened.prepared,
    mode: run.mode,
    output: run.output,
    roleArn: run.roleArn,
    region: o.region ?? run.region,
    endpointUrl: o.endpointUrl ?? run.endpoint,
    profile: o.profile,
    debug: o.debug,
    s3Root: o.s3Root ?? run.s3Root,
    purpose,
  });
}

/** The run's jobs, from the ledger and (live) the service. */
export async function runStatus(o: RunStatusOptions): Promise<RunStatus> {
  const opened = await openRun(o);
  const { jobs, state } = opened;
  let target: Target | undefined;
  // A folder answered on demand has no batch job to ask about: the ledger is its record.
  if (o.live !== false && state.run && jobs.some((j) => j.jobArn && !isOnDemandArn(j.jobArn))) {
    target = await targetFor(opened, o, 'status');
    const before = new Map(jobs.map((j) => [j.job, state.jobs.get(j.job)?.status]));
    try {
      await pMap(
        jobs.filter((j) => j.jobArn && !isOnDemandArn(j.jobArn)),
        async (j) => {
          try {
            const r = await withRetries('GetModelInvocationJob', () => target!.client.send(new GetModelInvocationJobCommand({ jobIdentifier: j.jobArn! })), o);
            j.status = r.status ?? 'Unknown';
            const records = countsOf(r);
            j.records = records.total > 0 ? records : { ...records, total: j.preparedRecords };
            if (r.message) j.message = r.message;
          } catch (err) {
            if (serviceErrorOf(err).name !== 'ResourceNotFoundException') throw err;
            j.status = 'Unknown';
            j.message = `${target!.description} has no such job`;
          }
        },
        { concurrency: POLL_CONCURRENCY },
      );
    } finally {
      await target.close();
    }
    // What was learnt goes to the ledger, as submit records it: collect reads job ends there.
    const changed = jobs.filter((j) => j.jobArn && j.status !== 'Unknown' && j.status !== before.get(j.job));
    if (changed.length > 0) {
      const ledger = await Ledger.open(opened.ledgerPath, o.s3);
      try {
        for (const j of changed) {
          await ledger.append({ event: isTerminal(j.status) ? 'done' : 'status', job: j.job, jobArn: j.jobArn!, status: j.status, records: j.records, ...(j.message ? { message: j.message } : {}) });
        }
      } finally {
        await ledger.close();
      }
    }
  }
  const p = summarize(jobs);
  const notes = [...state.notes];
  if (target?.local && !p.finished) {
    notes.push('no submit is running this run: its local jobs wait, and go on when you run the same submit again');
  }
  return {
    run: o.run,
    ledger: opened.ledgerPath,
    ...(state.run ? { mode: state.run.mode } : {}),
    ...(target ? { target: target.description } : {}),
    jobs,
    byStatus: p.byStatus,
    records: p.records,
    finished: p.finished,
    notes,
  };
}

export interface StopJobsOptions extends Pick<PollOptions, 'backoff' | 'maxRetries' | 'signal'> {
  run: string;
  ledger?: string;
  /** Jobs to stop: job folders (`job-0002`), job names, job ids or ARNs. */
  jobs?: string[];
  /** Every job of the run that is not finished. */
  all?: boolean;
  region?: string;
  endpointUrl?: string;
  /** The AWS profile (src/aws/config.ts; default AWS_PROFILE). */
  profile?: string;
  /** One line per AWS request (`--debug`). */
  debug?: (line: string) => void;
  s3Root?: string;
  /** S3 client settings for a run and ledger in S3 (default: the SDK's own). */
  s3?: StoreOptions;
}

export interface StopOutcome {
  job: string;
  jobArn?: string;
  /** `stopping`: asked; `finished`: it had ended already (its status given); `not-submitted`. */
  outcome: 'stopping' | 'finished' | 'not-submitted';
  status?: string;
}

/** StopModelInvocationJob for the chosen jobs of a run. */
export async function stopJobs(o: StopJobsOptions): Promise<StopOutcome[]> {
  if (!o.all && !o.jobs?.length) throw new BatchError('E_BAD_OPTION', 'name the jobs to stop, or pass --all');
  const opened = await openRun(o);
  const { jobs } = opened;
  let chosen: typeof jobs;
  if (o.all) {
    chosen = jobs.filter((j) => !isTerminal(j.status));
  } else {
    chosen = [];
    for (const want of o.jobs!) {
      const j = jobs.find((x) => x.job === want || x.jobName === want || x.jobArn === want || (x.jobId !== undefined && x.jobId === want));
      if (!j) {
        throw new BatchError('E_JOB_NOT_FOUND', `no job "${want}" in ${opened.ledgerPath}`, {
          hint: `name a job folder (${jobs.slice(0, 2).map((x) => x.job).join(', ')}...), a job name, id or ARN; see bedrock-batch status`,
        });
      }
      chosen.push(j);
    }
  }
  const out: StopOutcome[] = [];
  const submitted = chosen.filter((j) => j.jobArn && !isOnDemandArn(j.jobArn));
  for (const j of chosen) if (j.jobArn && isOnDemandArn(j.jobArn)) out.push({ job: j.job, jobArn: j.jobArn, outcome: 'finished', status: `${j.status} (on demand: Ctrl-C the process answering it)` });
  for (const j of chosen) if (!j.jobArn) out.push({ job: j.job, outcome: 'not-submitted' });
  if (submitted.length === 0) return out;
  const target = await targetFor(opened, o, 'stop');
  const ledger = await Ledger.open(opened.ledgerPath, o.s3);
  try {
    for (const j of submitted) {
      try {
        await withRetries('StopModelInvocationJob', () => target.client.send(new StopModelInvocationJobCommand({ jobIdentifier: j.jobArn! })), o);
        await ledger.append({ event: 'stop-requested', job: j.job, jobArn: j.jobArn! });
        out.push({ job: j.job, jobArn: j.jobArn!, outcome: 'stopping' });
      } catch (err) {
        const name = serviceErrorOf(err).name;
        if (name !== 'ConflictException') throw err;
        const r = await target.client.send(new GetModelInvocationJobCommand({ jobIdentifier: j.jobArn! })).catch(() => undefined);
        out.push({ job: j.job, jobArn: j.jobArn!, outcome: 'finished', ...(r?.status ? { status: r.status } : {}) });
      }
    }
  } finally {
    await ledger.close();
    await target.close();
  }
  return out;
}
