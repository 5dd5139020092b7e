/**
 * Watching jobs: poll GetModelInvocationJob with backoff until every job reaches a terminal state
 * (Completed, PartiallyCompleted, Failed, Stopped, Expired: all of them end the wait, unlike the
 * AWS sample that loops forever on Stopped and Expired).
 *
 *   const watch = watchJobs({ client, jobs: [jobArn], signal });
 *   watch.on('status', (job, previous) => console.log(job.jobName, previous, '->', job.status));
 *   watch.on('progress', (p) => bar.update(p.records.processed));
 *   const jobs = await watch.done();
 *
 * The poll interval starts at `pollMs` and grows by half each poll in which nothing changed, up to
 * `maxPollMs`; a change resets it. Throttling and 5xx answers are retried with jittered backoff.
 */
import { EventEmitter } from 'node:events';
import { GetModelInvocationJobCommand, type BedrockClient, type GetModelInvocationJobCommandOutput } from '@aws-sdk/client-bedrock';
import pMap from 'p-map';
import { BatchError } from '../errors.js';
import { isTerminal } from '../bedrock/vocabulary.js';
import { backoffDelay, sleep, type BackoffOptions } from './backoff.js';
import { describeError, isRetryable, serviceErrorOf } from './client.js';
import type { RecordCounts } from './ledger.js';

export interface WatchedJob {
  jobArn: string;
  jobName?: string;
  status: string;
  message?: string;
  records: RecordCounts;
  submitTime?: Date;
  endTime?: Date;
}

export interface Progress<J extends { status: string; records: RecordCounts }> {
  jobs: readonly J[];
  /** Jobs per status. */
  byStatus: Record<string, number>;
  /** Summed record counts of all jobs. */
  records: RecordCounts;
  /** True when every job is in a terminal state. */
  finished: boolean;
}

export interface RetryEvent {
  operation: string;
  error: string;
  attempt: number;
  delayMs: number;
}

export interface PollOptions {
  /** First poll interval in ms (default 5000; the local service is fine with 200). */
  pollMs?: number;
  /** Longest poll interval in ms (default 60,000). */
  maxPollMs?: number;
  /** Backoff on throttling and 5xx answers. */
  backoff?: BackoffOptions;
  /** Retries of one call before giving up (default 8). */
  maxRetries?: number;
  signal?: AbortSignal;
}

export interface WatchOptions extends PollOptions {
  client: BedrockClient;
  /** Job ARNs (or bare ids) to watch. */
  jobs: readonly (string | { jobArn: string })[];
}

/** Call `fn`, retrying throttling, quota, 5xx and network errors with jittered backoff. */
export async function withRetries<T>(
  operation: string,
  fn: () => Promise<T>,
  options: PollOptions & { onRetry?: (e: RetryEvent) => void; retryQuota?: boolean },
): Promise<T> {
  const max = options.maxRetries ?? 8;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason;
      const quota = serviceErrorOf(err).name === 'ServiceQuotaExceededException';
      if (!isRetryable(err) || (quota && options.retryQuota === false) || attempt >= max) {
        if (isRetryable(err) && attempt >= max) {
          throw new BatchError('E_SERVICE', `${operation} failed after ${attempt + 1} attempts: ${describeError(err)}`, {
            hint: 'the service keeps refusing: wait a while and run the same command again (it resumes)',
            cause: err,
          });
        }
        throw err;
      }
      const delayMs = backoffDelay(attempt, options.backoff);
      options.onRetry?.({ operation, error: describeError(err), attempt: attempt + 1, delayMs });
      await sleep(delayMs, options.signal);
    }
  }
}

export function countsOf(r: Pick<GetModelInvocationJobCommandOutput, 'totalRecordCount' | 'processedRecordCount' | 'successRecordCount' | 'errorRecordCount'>): RecordCounts {
  return {
    total: Number(r.totalRecordCount ?? 0),
    processed: Number(r.processedRecordCount ?? 0),
    success: Number(r.successRecordCount ?? 0),
    error: Number(r.errorRecordCount ?? 0),
  };
}

export function summarize<J extends { status: string; records: RecordCounts }>(jobs: readonly J[]): Progress<J> {
  const byStatus: Record<string, number> = {};
  const records: RecordCounts = { total: 0, processed: 0, success: 0, error: 0 };
  for (const j of jobs) {
    byStatus[j.status] = (byStatus[j.status] ?? 0) + 1;
    records.total += j.records.total;
    records.processed += j.records.processed;
    records.success += j.records.success;
    records.error += j.records.error;
  }
  return { jobs, byStatus, records, finished: jobs.every((j) => isTerminal(j.status)) };
}

/**
 * Jobs asked about at once when polling: GetModelInvocationJob has its own rate quota, and a run has
 * few jobs. Polls run through p-map, which starts no further call once one has failed.
 */
export const POLL_CONCURRENCY = 4;

/** Watch jobs until each is terminal (see the module comment). */
export class JobWatch extends EventEmitter {
  private readonly promise: Promise<WatchedJob[]>;
  private readonly jobs: WatchedJob[];

  constructor(private readonly options: WatchOptions) {
    super();
    this.jobs = options.jobs.map((j) => ({
      jobArn: typeof j === 'string' ? j : j.jobArn,
      status: 'Unknown',
      records: { total: 0, processed: 0, success: 0, error: 0 },
    }));
    this.promise = new Promise<void>((r) => setImmediate(r)).then(() => this.run());
    this.promise.catch(() => {}); // surfaced through done()
  }

  /** Resolves with every job's last state once all are terminal; rejects on abort or a failing service. */
  done(): Promise<WatchedJob[]> {
    return this.promise;
  }

  private async run(): Promise<WatchedJob[]> {
    const o = this.options;
    const pollMs = o.pollMs ?? 5000;
    const maxPollMs = o.maxPollMs ?? 60_000;
    let delay = pollMs;
    for (;;) {
      let changed = false;
      await pMap(
        this.jobs.filter((j) => !isTerminal(j.status)),
        async (job) => {
          const r = await withRetries('GetModelInvocationJob', () => o.client.send(new GetModelInvocationJobCommand({ jobIdentifier: job.jobArn }), o.signal ? { abortSignal: o.signal } : {}), {
            ...o,
            onRetry: (e) => this.emit('retry', e),
          });
          const previous = job.status;
          const records = countsOf(r);
          const moved = r.status !== job.status || JSON.stringify(records) !== JSON.stringify(job.records);
          Object.assign(job, { jobArn: r.jobArn ?? job.jobArn, status: r.status ?? 'Unknown', records });
          if (r.jobName) job.jobName = r.jobName;
          if (r.message) job.message = r.message;
          if (r.submitTime) job.submitTime = r.submitTime;
          if (r.endTime) job.endTime = r.endTime;
          if (moved) changed = true;
          if (r.status !== previous) this.emit('status', { ...job }, previous === 'Unknown' ? undefined : previous);
        },
        { concurrency: POLL_CONCURRENCY },
      );
      const progress = summarize(this.jobs);
      this.emit('progress', progress);
      if (progress.finished) return this.jobs.map((j) => ({ ...j }));
      delay = changed ? pollMs : Math.min(maxPollMs, Math.round(delay * 1.5));
      await sleep(delay, o.signal);
    }
  }
}

export function watchJobs(options: WatchOptions): JobWatch {
  return new JobWatch(options);
}
