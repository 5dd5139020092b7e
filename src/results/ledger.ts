/**
 * What collect learns from submit's ledger (`<run>/ledger.jsonl`, see src/jobs/ledger.ts), when
 * there is one: which Bedrock job ran which prepared job, and how far each got. With it, collect
 * tells a job that has ended (Completed, PartiallyCompleted, Stopped, Expired, Failed: its
 * unanswered records are missing and retried) from one that may still answer: a job whose last
 * status is not terminal, a job whose Create was sent but never answered, or a job folder that was
 * never submitted (a resumed submit would still create it). Records of those are never retried: a
 * retry of a record its first job still answers is a record paid twice. The events are read and
 * folded by the jobs module's own parser and reducer (a torn last line is left out with a note).
 */
import { LEDGER_KEY, parseLedger, reduceLedger, type LedgerEvent, type LedgerJob } from '../jobs/ledger.js';
import { jobIdOf, TERMINAL_STATUSES } from '../bedrock/vocabulary.js';
import type { Store } from '../stores/store.js';
import { readSmall } from './layout.js';

export { LEDGER_KEY, TERMINAL_STATUSES };

/** One Bedrock job, as the ledger knows it. */
export interface OutputLedgerJob {
  /** The Bedrock job id (last ARN segment): the name of its output folder. */
  jobId: string;
  jobArn?: string;
  /** The prepared job it ran (`job-0001`). */
  job?: string;
  /** The last status recorded. */
  status?: string;
  message?: string;
}

export interface OutputLedger {
  uri: string;
  /** Every Bedrock job seen, by job id. */
  byJobId: Map<string, OutputLedgerJob>;
  /** Bedrock jobs by prepared job name, in ledger order (a job resubmitted after a failure has several). */
  byJob: Map<string, OutputLedgerJob[]>;
  /** What the ledger says of each prepared job (folded by the jobs module's reducer), by job folder name. */
  jobs: Map<string, LedgerJob>;
  /** Notes about the ledger (a torn last line). */
  notes: string[];
}

/** Read a ledger; undefined when there is none at `key`. */
export async function readLedger(store: Store, key: string): Promise<OutputLedger | undefined> {
  if (!(await store.exists(key))) return undefined;
  const uri = store.resolve(key);
  const { events, notes } = parseLedger(await readSmall(store, key, 256 * 1024 * 1024), uri);
  const ledger: OutputLedger = { uri, byJobId: new Map(), byJob: new Map(), jobs: reduceLedger(events).jobs, notes };
  for (const e of events as LedgerEvent[]) {
    if (e.event === 'run' || !('jobArn' in e) || typeof e.jobArn !== 'string' || !e.jobArn) continue;
    const jobId = jobIdOf(e.jobArn);
    let entry = ledger.byJobId.get(jobId);
    if (!entry) {
      entry = { jobId, jobArn: e.jobArn, job: e.job };
      ledger.byJobId.set(jobId, entry);
      ledger.byJob.set(e.job, [...(ledger.byJob.get(e.job) ?? []), entry]);
    }
    if ((e.event === 'status' || e.event === 'done') && e.status) entry.status = e.status;
    if ('message' in e && typeof e.message === 'string' && e.message) entry.message = e.message.slice(0, 300);
  }
  return ledger;
}

/** Whether a prepared job has ended, as far as collect can know, and if not, why not. */
export interface JobEnd {
  ended: boolean;
  /** The job's last recorded status (`Submitted` when only its creation was recorded). */
  status?: string;
  /** Why the job counts as not ended: `InProgress`, `never submitted`, ... */
  why?: string;
}

/**
 * How a prepared job stands according to the ledger: ended only with a terminal status recorded.
 * A job with no recorded status, a Create in doubt, or no event at all may still run (or be
 * created by a resumed submit): it has not ended.
 */
export function jobEndFromLedger(ledger: OutputLedger, job: string): JobEnd {
  const j = ledger.jobs.get(job);
  if (!j) return { ended: false, why: 'never submitted' };
  if (j.inDoubt) return { ended: false, why: 'created, or being created: the answer to its Create was never recorded' };
  if (!j.jobArn) return { ended: false, why: j.createError ? 'its Create was refused; a resumed submit tries again' : 'never submitted' };
  const status = j.status ?? 'Submitted';
  if (TERMINAL_STATUSES.has(status)) return { ended: true, status };
  return { ended: false, status, why: status };
}
