/**
 * What collect learns from submit's ledger (`<run>/ledger.jsonl`, see src/jobs/ledger.ts), when
 * there is one: which Bedrock job ran which prepared job, and the last status seen for each. Collect
 * never needs the ledger; with it, it can tell a Stopped, Expired or Failed job (whose records are
 * missing and retried) from one still running (whose records are not missing yet). The events are
 * read by the jobs module's own parser (a torn last line is left out with a note).
 */
import { LEDGER_KEY, parseLedger, type LedgerEvent } from '../jobs/ledger.js';
import { TERMINAL_STATUSES } from '../local/validation.js';
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
  /** Notes about the ledger (a torn last line). */
  notes: string[];
}

const jobIdOf = (arn: string) => arn.slice(arn.lastIndexOf('/') + 1);

/** Read a ledger; undefined when there is none at `key`. */
export async function readLedger(store: Store, key: string): Promise<OutputLedger | undefined> {
  if (!(await store.exists(key))) return undefined;
  const uri = store.resolve(key);
  const { events, notes } = parseLedger(await readSmall(store, key, 256 * 1024 * 1024), uri);
  const ledger: OutputLedger = { uri, byJobId: new Map(), byJob: new Map(), notes };
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
