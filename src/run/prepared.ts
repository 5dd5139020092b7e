/**
 * `prepared.json`, one owner: its type, its one reader and its one writer.
 *
 * prepare writes it twice. First, before any shard, a `preparing` version: it claims the location
 * (the shards, lineage and rejects that appear under it are this run's) and holds the recipe (what
 * shapes the records). Last, once every shard is in place (and on a local disk, fsynced), the whole
 * run: jobs, shards, counts, model, quotas, recipe. The write is atomic (a temporary file fsynced and
 * renamed, the directory fsynced; in S3 one PUT), so a reader sees the old version or the new one,
 * never a mix and never an empty file after a crash.
 *
 * Version 2 adds `state` and `recipe`; version 1 files (no state) are complete runs.
 */
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { BatchError } from '../errors.js';
import type { FamilyName, InvocationType, StructuredVia } from '../models/family.js';
import type { QuotaProfile } from '../bedrock/quotas.js';
import type { JobInfo } from '../shards/rollover.js';
import type { AnsweredSourceStats } from '../results/reuse.js';
import { readSmall } from '../stores/index.js';
import type { Store } from '../stores/store.js';
import { PREPARED_KEY } from './layout.js';
import type { Recipe } from './recipe.js';

export const PREPARED_VERSION = 2;

export interface PreparedShard {
  /** Key in the run, e.g. `input/job-0001/part-00001.jsonl`. */
  key: string;
  uri: string;
  /** Key of its lineage sidecar, e.g. `lineage/job-0001/part-00001.jsonl`. */
  lineage?: string;
  records: number;
  bytes: number;
}

export interface PreparedJob {
  /** The job folder's name, `job-0001`. */
  name: string;
  /** Its key in the run, `input/job-0001/`. */
  prefix: string;
  /** Its location as prepare wrote it (`./batch/input/job-0001/`, `s3://.../input/job-0001/`). */
  uri: string;
  records: number;
  bytes: number;
  shards: PreparedShard[];
}

/** What a retry run (written by collect) adds: which attempt its records are on, and what it retries. */
export interface RetryOrigin {
  attempt: number;
  of: string;
  outputs?: string;
  maxAttempts?: number;
}

/** A prepared run, as prepare (or collect's retry plan) wrote it. */
export interface PreparedRunFile {
  version: number;
  /** `preparing` while prepare runs (the file claims the location); `prepared` once it is complete. */
  state: 'preparing' | 'prepared';
  createdAt: string;
  jobs: PreparedJob[];
  model: { modelId: string; family: FamilyName; invocationType: InvocationType };
  quotas: QuotaProfile;
  submittable: boolean;
  problem?: { code: string; message: string; hint: string };
  read?: number;
  written: number;
  rejected?: number;
  rejectsByCode?: Record<string, number>;
  bytesRead?: number;
  bytesWritten?: number;
  inputTokens?: number;
  maxOutputTokens?: number;
  /** Token totals, when the writer of the run counted them (see src/results/estimate.ts). */
  tokens?: { input?: number; maxOutput?: number };
  shards?: { uri: string; records: number; bytes: number }[];
  rebalanced?: number;
  out?: string;
  /** Where the rejects file is (a URI). */
  rejects?: string;
  /** Its key in the run, when it is inside it (the default `rejects.jsonl`). */
  rejectsKey?: string;
  manifest?: string;
  idMode?: string;
  inputs?: string[];
  seconds?: number;
  parallel?: unknown;
  /** What shaped the records (src/run/recipe.ts): compared when a run is resumed. */
  recipe?: Recipe;
  /** Set on a retry run. */
  retry?: RetryOrigin;
  /** A schema run (`--schema`): the answer's JSON Schema, its name and how records ask for it (docs/structured.md). */
  structured?: { name: string; via: StructuredVia; schema: Record<string, unknown> };
  /** PII replaced before anything was written, per type (`--redact`); absent when redaction was off. */
  redacted?: Record<string, number>;
  /** Calls whose transcript lost turns to fit the context (`--fit truncate`). */
  truncated?: number;
  /** Calls skipped because they were answered before (`--skip-answered`, docs/daily-exports.md): read = written + rejected + skipped. */
  skipped?: number;
  /**
   * Every call read was skipped: no job, nothing to submit (`submittable` false, and no `problem`),
   * yet a complete run: collect writes the reused answers as its results.
   */
  skippedAll?: boolean;
  /** The earlier answers of the skipped calls (`--skip-answered`): collect appends them to the results. */
  reused?: PreparedReused;
}

/** prepared.json's `reused`: where the reused answers are in the run, and the results files they came from. */
export interface PreparedReused {
  /** Key of the file in the run (`reused.jsonl`): one results row per skipped call, plus `reusedFrom`. */
  key: string;
  uri: string;
  /** Its rows: the calls skipped. */
  records: number;
  /** Each results file read, with what it held. */
  sources: AnsweredSourceStats[];
  /** Keys the sources had an answer for (of the run's model, with a request hash). */
  indexed: number;
  /** Rows without a request hash, or unreadable, named once per source. */
  notes: string[];
}

/** The run as read: the parsed file, its bytes' sha256 (the run id) and where it is. */
export interface PreparedRunRead {
  file: PreparedRunFile;
  /** sha256 of prepared.json's bytes, hex: identifies the shards' content without reading them. */
  runId: string;
  uri: string;
}

function notPrepared(uri: string, what: string, hint: string): BatchError {
  // the message starts with the file (BatchError puts it first)
  return new BatchError('E_NOT_PREPARED', what, { file: uri, hint });
}

/** The jobs as prepared.json lists them, from what the rollover wrote. */
export function preparedJobsOf(jobs: readonly JobInfo[]): PreparedJob[] {
  return jobs.map((j) => ({
    name: j.name,
    prefix: j.prefix,
    uri: j.uri,
    records: j.records,
    bytes: j.bytes,
    shards: j.shards.map((s) => ({ key: s.key, uri: s.uri, ...(s.lineageKey ? { lineage: s.lineageKey } : {}), records: s.records, bytes: s.bytes })),
  }));
}

/**
 * Read and check `<run>/prepared.json`, or undefined when there is none. E_NOT_PREPARED for a file
 * that is empty, not JSON, of a newer version, or not a run; `preparing` runs are returned as they
 * are (callers decide: submit and collect refuse them, `run` prepares again).
 */
export async function readPreparedRunIfAny(store: Store): Promise<PreparedRunRead | undefined> {
  if (!(await store.exists(PREPARED_KEY))) return undefined;
  const uri = store.resolve(PREPARED_KEY);
  const bytes = Buffer.from(await readSmall(store, PREPARED_KEY, 256 << 20), 'utf8');
  const again = 'prepare the run again: the same `run` command with --fresh, or `prepare --overwrite`';
  if (bytes.length === 0 || bytes.toString('utf8').trim() === '') {
    throw notPrepared(uri, 'is empty (0 bytes): a prepare that did not finish, or a disk that lost it', again);
  }
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw notPrepared(uri, `is not valid JSON (${(error as Error).message.replace(/[,:] *".*$/s, '').slice(0, 80)})`, again);
  }
  const run = value as Partial<PreparedRunFile> & Record<string, unknown>;
  const bad = (what: string) => notPrepared(uri, `is not a prepared run: ${what}`, 'run prepare again, or point at what `prepare --out` was given');
  if (typeof run !== 'object' || run === null || Array.isArray(run)) throw bad('not an object');
  const version = run.version ?? 1;
  if (typeof version !== 'number' || version > PREPARED_VERSION) {
    throw notPrepared(uri, `was written by a newer bedrock-batch (version ${String(version)}; this one reads up to ${PREPARED_VERSION})`, 'upgrade bedrock-batch');
  }
  const state = run.state ?? 'prepared';
  if (state !== 'preparing' && state !== 'prepared') throw bad(`unknown state ${JSON.stringify(state)}`);
  if (state === 'prepared') {
    if (!Array.isArray(run.jobs)) throw bad('no jobs list');
    if (!run.model || typeof run.model.modelId !== 'string') throw bad('no model');
    const names = new Set<string>();
    for (const job of run.jobs) {
      if (!job || typeof job.name !== 'string' || !Array.isArray(job.shards)) throw bad('a job without name or shards');
      for (const s of job.shards) {
        if (!s || typeof s.key !== 'string') throw bad(`a shard of ${job.name} without a key`);
        const name = s.key.slice(s.key.lastIndexOf('/') + 1);
        if (names.has(name)) throw bad(`two shards are named ${name}; collect maps outputs to shards by file name`);
        names.add(name);
      }
    }
  }
  const file = { ...run, version, state } as PreparedRunFile;
  return { file, runId: createHash('sha256').update(bytes).digest('hex'), uri };
}

/** Read a complete prepared run: E_NOT_PREPARED when there is none, or when its prepare did not finish. */
export async function readPreparedRun(store: Store, hint = 'give the location that `prepare --out` wrote (it holds prepared.json, input/ and lineage/)'): Promise<PreparedRunRead> {
  const read = await readPreparedRunIfAny(store);
  const uri = store.resolve(PREPARED_KEY);
  if (!read) throw new BatchError('E_NOT_PREPARED', 'does not exist', { file: uri, hint });
  if (read.file.state === 'preparing') {
    throw new BatchError('E_NOT_PREPARED', 'the prepare that writes this run did not finish (it is still running, or was interrupted)', {
      file: uri,
      hint: 'wait for it, or run the same prepare again with --overwrite (or the same `run` command: it prepares again)',
    });
  }
  return read;
}

/**
 * Write prepared.json atomically and durably (see the module comment). The store's writer puts it
 * in place only once it is whole: a local file is written beside, fsynced, renamed, and its
 * directory fsynced; an S3 object appears on its PUT.
 */
export async function writePreparedRun(store: Store, file: PreparedRunFile): Promise<string> {
  const w = store.createWriteStream(PREPARED_KEY, { contentType: 'application/json' });
  const text = JSON.stringify(file, null, 2) + '\n';
  await pipeline(async function* () {
    yield text;
  }, w);
  return store.resolve(PREPARED_KEY);
}
