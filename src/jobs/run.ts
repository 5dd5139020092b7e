/**
 * A prepared run as `submit` sees it: `<run>/prepared.json` (written by prepare) lists the jobs,
 * each one folder `input/job-NNNN/` of shards. Job names and client request tokens are derived from
 * the run and the shard, so the same run always asks for the same jobs:
 *
 *   jobName             <run slug>-<run id, 8 hex>-<job folder>       e.g. batch-3f9a1c2e-job-0001
 *   clientRequestToken  sha256 of the run id, the job's shards (key, records, bytes) and every job
 *                       setting (model, invocation type, role, input and output URIs, timeout,
 *                       KMS key, VPC, tags)
 *
 * The run id is the sha256 of prepared.json's bytes: prepare writes it once per run, with the size
 * and record count of every shard, so it identifies the shards' content without reading them again.
 * Before a job is created its folder is listed and checked against prepared.json (same files, same
 * sizes): a folder that changed since prepare is refused, because a job reads every file in it.
 */
import { createHash } from 'node:crypto';
import { BatchError } from '../errors.js';
import type { InvocationType } from '../models/family.js';
import { readPreparedRun, type PreparedJob, type PreparedRunFile } from '../run/prepared.js';
import { openStore, type StoreOptions } from '../stores/index.js';
import type { Store } from '../stores/store.js';
import { matchesPattern } from '../bedrock/vocabulary.js';

export type { PreparedJob, PreparedShard } from '../run/prepared.js';
/** prepared.json as submit reads it (src/run/prepared.ts). */
export type PreparedManifest = PreparedRunFile;

export interface PreparedRun {
  /** The run's location as given. */
  location: string;
  store: Store;
  /** The S3 settings the run was opened with: its job folders (and its buckets, on the local service) are opened with them too. */
  s3?: StoreOptions;
  manifest: PreparedManifest;
  /** sha256 of prepared.json, hex. */
  runId: string;
  /** A name-safe short form of the run's location, for job names. */
  slug: string;
  /** What every job name of this run starts with (`<slug>-<runId 8>`): for `nameContains`. */
  namePrefix: string;
}

/** Read `<run>/prepared.json` (src/run/prepared.ts); E_NOT_PREPARED when there is none or it cannot be submitted. */
export async function loadPreparedRun(location: string, s3?: StoreOptions, options: { belowMinimum?: boolean } = {}): Promise<PreparedRun> {
  const store = openStore(location, s3);
  const { file: manifest, runId } = await readPreparedRun(store, 'give submit the directory that `prepare --out` wrote (it holds prepared.json)');
  // A folder below the minimum records per job cannot be a batch job, but it can be answered on
  // demand (`--mode auto|on-demand`, docs/on-demand.md): such a run is submittable then.
  const onlyBelowMinimum = BELOW_MINIMUM.has(manifest.problem?.code ?? '') && manifest.jobs.some((j) => j.records > 0);
  if (options.belowMinimum && onlyBelowMinimum) {
    // taken as it is
  } else if (manifest.skippedAll) {
    throw new BatchError('E_NOT_PREPARED', `the run at ${location} has nothing to submit: every call was answered before (--skip-answered)`, {
      hint: 'collect it: the results are the earlier answers (bedrock-batch collect <output> --prepared <run>, or run the same `run` command)',
    });
  } else if (manifest.submittable === false || manifest.jobs.length === 0) {
    const why = manifest.problem ? `${manifest.problem.code}: ${manifest.problem.message}` : 'it has no jobs';
    throw new BatchError('E_NOT_PREPARED', `the run at ${location} cannot be submitted: ${why}`, {
      hint: onlyBelowMinimum
        ? `answer the small folder on demand with --mode auto (the default), or ${manifest.problem?.hint ?? 'prepare it again with enough records'}`
        : (manifest.problem?.hint ?? 'prepare it again with enough records'),
    });
  }
  const slug = slugOf(location);
  return { location, store, ...(s3 ? { s3 } : {}), manifest, runId, slug, namePrefix: `${slug}-${runId.slice(0, 8)}` };
}

/** prepare's problems that leave a folder too small for a batch job, but answerable on demand. */
const BELOW_MINIMUM = new Set(['E_BELOW_MIN_RECORDS', 'E_CANNOT_REBALANCE']);

/** The last path segment of a location, cut to what a job name may hold. */
export function slugOf(location: string): string {
  const parts = location.replace(/^s3:\/\//i, '').split(/[\\/]+/).filter((p) => p && p !== '.' && p !== '..');
  const last = parts[parts.length - 1] ?? 'run';
  const clean = last
    .replace(/[^a-zA-Z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 24)
    .replace(/-+$/, '');
  return clean || 'run';
}

/** The job name of one job folder of a run (valid per Bedrock's jobName pattern). */
export function jobNameFor(run: Pick<PreparedRun, 'namePrefix'>, job: Pick<PreparedJob, 'name'>, attempt = 1): string {
  const name = `${run.namePrefix}-${job.name}${attempt > 1 ? `-a${attempt}` : ''}`;
  if (name.length > 63 || !matchesPattern('jobName', name)) {
    throw new BatchError('E_INTERNAL', `derived job name "${name}" does not match Bedrock's jobName pattern`);
  }
  return name;
}

/** Everything a job is created with, besides its name and token. */
export interface JobSettings {
  modelId: string;
  invocationType: InvocationType;
  roleArn: string;
  inputUri: string;
  outputUri: string;
  timeoutHours?: number;
  kmsKeyId?: string;
  vpc?: { subnetIds: string[]; securityGroupIds: string[] };
  tags?: { key: string; value: string }[];
}

/** The job's clientRequestToken (see the module comment): 64 hex characters. */
export function clientRequestTokenFor(run: Pick<PreparedRun, 'runId'>, job: PreparedJob, settings: JobSettings, attempt = 1): string {
  const canonical = JSON.stringify({
    v: 1,
    run: run.runId,
    job: job.name,
    shards: job.shards.map((s) => [s.key, s.records, s.bytes]),
    model: settings.modelId,
    type: settings.invocationType,
    role: settings.roleArn,
    input: settings.inputUri,
    output: settings.outputUri,
    timeout: settings.timeoutHours ?? null,
    kms: settings.kmsKeyId ?? null,
    vpc: settings.vpc ?? null,
    tags: settings.tags ?? [],
    attempt,
  });
  return createHash('sha256').update(canonical).digest('hex');
}

/** Check a job folder against prepared.json: the same files with the same sizes, nothing else. */
export async function verifyJobFolder(run: PreparedRun, job: PreparedJob): Promise<void> {
  const expected = new Map(job.shards.map((s) => [s.key, s.bytes]));
  const seen = new Set<string>();
  // List the job folder itself: a local store walks everything under its root.
  const folder = openStore(run.store.resolve(job.prefix), run.s3);
  for await (const listed of folder.list('')) {
    const o = { key: `${job.prefix}${listed.key}`, size: listed.size };
    const want = expected.get(o.key);
    if (want === undefined) {
      throw new BatchError('E_SHARDS_CHANGED', `${run.store.resolve(o.key)} is in ${job.name}'s input folder but not in prepared.json`, {
        hint: 'a job reads every file in its folder: remove the file, or prepare the run again',
      });
    }
    if (want !== o.size) {
      throw new BatchError('E_SHARDS_CHANGED', `${run.store.resolve(o.key)} is ${o.size} bytes, prepared.json says ${want}`, {
        hint: 'the shard changed after prepare: prepare the run again',
      });
    }
    seen.add(o.key);
  }
  for (const key of expected.keys()) {
    if (!seen.has(key)) {
      throw new BatchError('E_SHARDS_CHANGED', `${run.store.resolve(key)} is missing`, { hint: 'the run is incomplete: prepare it again' });
    }
  }
}
