/**
 * What collect learns from submit's ledger (`<run>/ledger.jsonl`, append-only JSONL events), when
 * there is one: which Bedrock job ran which prepared job, and the last status seen for each. Collect
 * never needs the ledger; with it, it can tell a Stopped, Expired or Failed job (whose records are
 * missing and retried) from one still running (whose records are not missing yet).
 *
 * The reader is tolerant by design: it takes each line's job name from `job`, `jobName`, `name`,
 * `prefix` or an input URI (matching a prepared job's name such as `job-0001`), the job from
 * `jobArn` / `arn` / `jobId`, and the status from `status`. Lines it cannot read (a crash mid-line
 * leaves a torn last line) are counted and skipped, never fatal.
 */
import type { Store } from '../stores/store.js';
import { readSmall } from './layout.js';

export const LEDGER_KEY = 'ledger.jsonl';

/** Bedrock statuses after which a job writes nothing more (bedrock-batch-facts.md §3.5). */
export const TERMINAL_STATUSES: ReadonlySet<string> = new Set(['Completed', 'PartiallyCompleted', 'Failed', 'Stopped', 'Expired']);

export interface LedgerJob {
  /** The Bedrock job id (last ARN segment): the name of its output folder. */
  jobId: string;
  jobArn?: string;
  /** The prepared job it ran (`job-0001`), when the ledger says. */
  job?: string;
  /** The last status recorded. */
  status?: string;
  message?: string;
}

export interface Ledger {
  uri: string;
  /** Every Bedrock job seen, by job id. */
  byJobId: Map<string, LedgerJob>;
  /** Bedrock jobs by prepared job name, in ledger order (a job resubmitted after a failure has several). */
  byJob: Map<string, LedgerJob[]>;
  /** Lines that could not be read. */
  unreadable: number;
}

const NAME_FIELDS = ['job', 'jobName', 'name', 'preparedJob', 'folder', 'prefix', 'inputPrefix', 'input', 'inputUri', 's3Uri', 'uri', 'shard'];

function jobNameOf(o: Record<string, unknown>, names: ReadonlySet<string>): string | undefined {
  for (const f of NAME_FIELDS) {
    const v = o[f];
    if (typeof v !== 'string') continue;
    if (names.has(v)) return v;
    for (const m of v.matchAll(/job-\d{4,}/g)) if (names.has(m[0])) return m[0];
  }
  return undefined;
}

function jobIdOf(o: Record<string, unknown>): { jobId: string; jobArn?: string } | undefined {
  const arn = [o.jobArn, o.arn, o.jobIdentifier].find((v): v is string => typeof v === 'string' && v.length > 0);
  if (arn) {
    const id = arn.slice(arn.lastIndexOf('/') + 1);
    return id ? { jobId: id, jobArn: arn } : undefined;
  }
  return typeof o.jobId === 'string' && o.jobId ? { jobId: o.jobId } : undefined;
}

/** Read a ledger; undefined when there is none at `key`. `jobNames` are the prepared run's job names. */
export async function readLedger(store: Store, key: string, jobNames: Iterable<string>): Promise<Ledger | undefined> {
  if (!(await store.exists(key))) return undefined;
  const names = new Set(jobNames);
  const text = await readSmall(store, key, 256 * 1024 * 1024);
  const ledger: Ledger = { uri: store.resolve(key), byJobId: new Map(), byJob: new Map(), unreadable: 0 };
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let o: unknown;
    try {
      o = JSON.parse(line);
    } catch {
      ledger.unreadable++;
      continue;
    }
    if (typeof o !== 'object' || o === null || Array.isArray(o)) {
      ledger.unreadable++;
      continue;
    }
    const rec = o as Record<string, unknown>;
    const id = jobIdOf(rec);
    if (!id) continue; // an event before the job existed (planned, throttled, ...)
    let entry = ledger.byJobId.get(id.jobId);
    if (!entry) {
      entry = { jobId: id.jobId };
      ledger.byJobId.set(id.jobId, entry);
    }
    if (id.jobArn) entry.jobArn = id.jobArn;
    const name = jobNameOf(rec, names);
    if (name && entry.job === undefined) {
      entry.job = name;
      const list = ledger.byJob.get(name) ?? [];
      list.push(entry);
      ledger.byJob.set(name, list);
    }
    if (typeof rec.status === 'string' && rec.status) entry.status = rec.status;
    const message = rec.message ?? rec.failureMessage;
    if (typeof message === 'string' && message) entry.message = message.slice(0, 300);
  }
  return ledger;
}
