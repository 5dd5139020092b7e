/**
 * `bedrock-batch clean <run>`: once a run's results are collected, remove the copies of its calls
 * that are left about, and nothing else (docs/cleanup.md). A job's input holds every transcript
 * (shards), its lineage holds the passthrough columns, and Bedrock echoes every `modelInput` into
 * its outputs (docs/bedrock.md §2.2): those are what go.
 *
 * Removed, only what the run wrote and can prove to be its own:
 *   - the shards prepared.json lists, whose size is still the one it records (a shard of another
 *     size, or a file in `input/` or `lineage/` it does not list, is kept and named);
 *   - their lineage sidecars, as prepared.json lists them;
 *   - the job outputs of the jobs the ledger lists: `<output>/<jobId>/<shard name>.out` for the
 *     job's shards and `<output>/<jobId>/manifest.json.out` (docs/bedrock.md §2.1), the output
 *     location from the ledger's `run` event and the job id from the job's ARN (`on-demand/<jobId>`
 *     for a folder answered on demand): any other file in those folders is kept and named;
 *   - the on-demand spool, `<run>/on-demand/<job>/` (one `<recordId>.json` per answer:
 *     src/ondemand/spool.ts), if any is left;
 *   - `<run>/reused.jsonl`, the earlier answers `--skip-answered` copied, when prepared.json
 *     counts calls skipped (collect has put them into the results);
 *   - the same, recursively, in each retry run collect planned (`<run>/retry-N/`) that was
 *     collected too. A retry run not collected yet is kept whole (a pending retry needs its
 *     shards), unless `retryFiles`.
 * Kept: the results, the report, the ledger (its jobs were created and billed; clean records itself
 * there with a `cleaned` event), prepared.json, the rejects and the dead letters (neither holds
 * transcript text: docs/contracts.md, "Rejects").
 *
 * It refuses (E_NOT_COLLECTED, nothing removed) a run whose ledger has no `collected` event or
 * whose results file is not there, unless `force`. On a local disk nothing is followed through a
 * symbolic link: a file reached through one is kept and named, whatever its name. In S3 the keys go
 * in DeleteObjects requests of 1,000, and each key S3 refused is reported. Run again, it finds
 * nothing left to remove.
 *
 * `tagRunOutputs` is collect's part of `--expire-days`: it tags the job outputs, which Bedrock
 * wrote (so no store of ours tagged them), for the lifecycle rule docs/cleanup.md shows.
 */
import { ON_DEMAND_PREFIX, REUSED_KEY } from './layout.js';
import { lstat, realpath, rm, rmdir } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import pMap from 'p-map';
import { jobIdOf, OUTPUT_MANIFEST, outputNameFor } from '../bedrock/vocabulary.js';
import { BatchError } from '../errors.js';
import { Ledger, type LedgerState } from '../jobs/ledger.js';
import { fileTarget, openStore, type StoreOptions } from '../stores/index.js';
import { LocalStore } from '../stores/local.js';
import { S3Store } from '../stores/s3.js';
import type { Store } from '../stores/store.js';
import { DEAD_LETTER_KEY, INPUT_PREFIX, LEDGER_KEY, LINEAGE_PREFIX, PREPARED_KEY, REJECTS_KEY, SHARD_NAME } from './layout.js';
import { baseName } from './outputs.js';
import { recordIdOfSpoolKey } from '../ondemand/spool.js';
import { readPreparedRun } from './prepared.js';

/** Where the on-demand path spools its answers in a run (one `<recordId>.json` each, removed once the outputs are written). */
/** The earlier answers `prepare --skip-answered` copied for the calls it skipped. */

/** A spooled answer's place: `on-demand/<job folder>/<entry>` (src/ondemand/spool.ts names the entry). */
const SPOOLED = /^on-demand\/([^/]+)\/[^/]+$/;
/** A job id as Bedrock (12 characters) and the on-demand path name output folders. */
const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
/** A retry run collect planned inside a run. */
const RETRY_PREPARED = /^(retry-\d+)\/prepared\.json$/;

/** What clean removes, by kind. */
export type CleanKind = 'shards' | 'lineage' | 'outputs' | 'on-demand' | 'reused';
export const CLEAN_KINDS: readonly CleanKind[] = ['shards', 'lineage', 'outputs', 'on-demand', 'reused'];

export interface CleanOptions {
  /** The prepared run (what `prepare --out` was given: it holds prepared.json), or a `run --work` location (it holds batch/prepared.json); local or s3://. */
  run: string;
  /** S3 settings for the locations in S3. */
  s3?: StoreOptions;
  /** List what would be removed (and the bytes); remove nothing, record nothing. */
  dryRun?: boolean;
  /** Remove even when the run was not collected. */
  force?: boolean;
  /** Also remove the transcript copies of retry runs that were not collected (giving up those retries). */
  retryFiles?: boolean;
}

export interface CleanTally {
  files: number;
  bytes: number;
}

/** A file removed (or, in a dry run, that would be). */
export interface CleanedFile {
  uri: string;
  kind: CleanKind;
  bytes: number;
}

/** A file or folder left in place, and why. */
export interface KeptFile {
  uri: string;
  why: string;
}

/** A file that could not be removed. */
export interface CleanFailure {
  uri: string;
  code: string;
  message: string;
}

/** One run cleaned: the run asked for, or a retry run inside it. */
export interface CleanedRun {
  run: string;
  /** Its results were collected (or `force`/`retryFiles` removed its files anyway). */
  collected: boolean;
  removed: CleanTally;
}

export interface CleanSummary {
  /** The prepared run's location (`<work>/batch` for a `run --work` location). */
  run: string;
  dryRun: boolean;
  removed: Record<CleanKind, CleanTally>;
  total: CleanTally;
  /** Every file removed (in a dry run: that would be), in the order of removal. */
  files: CleanedFile[];
  runs: CleanedRun[];
  kept: KeptFile[];
  failed: CleanFailure[];
  /** Nothing was left to remove (the run was cleaned before, or holds no transcript copies). */
  nothingLeft: boolean;
}

interface Target {
  store: Store;
  key: string;
  kind: CleanKind;
  bytes: number;
}

interface RunPlan {
  name: string;
  store: Store;
  collected: boolean;
  /** The ledger exists: a `cleaned` event goes there. */
  ledger?: string;
  targets: Target[];
}

/** Why the run does not count as collected, or undefined when it does. */
async function notCollected(state: LedgerState, s3: StoreOptions | undefined): Promise<string | undefined> {
  if (state.events === 0) return 'it has no ledger: it was never submitted';
  const c = state.collected;
  if (!c) return 'its ledger records no collect (collect appends a `collected` event once every job has ended)';
  if (c.results === '-') return 'its results went to standard output, so nothing shows they were kept';
  let there = false;
  try {
    const f = fileTarget(c.results, s3);
    there = await f.store.exists(f.key);
  } catch {
    there = false;
  }
  return there ? undefined : `its results file ${c.results} is not there`;
}

/**
 * A local file that is what its key says: a regular file whose every folder from the store's root
 * on is a real folder, not a link (so nothing outside the location is ever reached).
 */
async function localFileIsReal(store: LocalStore, key: string): Promise<boolean> {
  try {
    const full = store.path(key);
    const root = await realpath(store.root);
    const parent = await realpath(dirname(full));
    const rel = relative(store.root, dirname(full));
    if (parent !== (rel ? join(root, rel) : root)) return false;
    return (await lstat(full)).isFile();
  } catch {
    return false;
  }
}

/** The sub-store of a folder below a store. */
function below(store: Store, folder: string, s3: StoreOptions | undefined): Store {
  return store instanceof LocalStore ? openStore(join(store.root, folder)) : openStore(store.resolve(`${folder}/`), s3);
}

interface PlanContext {
  s3: StoreOptions | undefined;
  force: boolean;
  retryFiles: boolean;
  kept: KeptFile[];
  plans: RunPlan[];
}

/** Plan one run (and, recursively, its retry runs): what goes, what stays. */
async function planRun(store: Store, ctx: PlanContext, retry: boolean): Promise<void> {
  const name = store.uri;
  const read = await readPreparedRun(store);
  const ledgerUri = store.resolve(LEDGER_KEY);
  const state = await Ledger.read(ledgerUri, ctx.s3);
  const why = await notCollected(state, ctx.s3);
  if (why && !retry && !ctx.force) {
    throw new BatchError('E_NOT_COLLECTED', `${name} has not been collected: ${why}; nothing was removed`, {
      hint: `run collect first (bedrock-batch collect <output> --prepared ${name}), or clean --force to remove the shards, lineage and job outputs anyway (the only copies of the calls besides the export)`,
    });
  }
  const kept = ctx.kept;
  if (why && retry && !ctx.retryFiles) {
    kept.push({ uri: store.resolve(''), why: `a retry run that was not collected (${why}): a pending retry needs its shards; clean it once it is collected, or --retry-files to remove them anyway` });
    return;
  }
  const present = new Map<string, number>();
  for await (const o of store.list('')) present.set(o.key, o.size);
  if (!retry) {
    // what clean always leaves (those that are there), and why
    if (state.collected && !why) kept.push({ uri: state.collected.results, why: 'the results' });
    const always: [string, string][] = [
      [LEDGER_KEY, 'the ledger: its jobs were created and billed (clean records itself there)'],
      [PREPARED_KEY, "the run's record: what was prepared, its jobs and counts"],
      [read.file.rejectsKey ?? REJECTS_KEY, 'the rejects: file, line, key and code of each, no transcript text'],
      [DEAD_LETTER_KEY, 'the dead letters: key, file, line and last error of each, no transcript text'],
    ];
    for (const [key, reason] of always) if (present.has(key)) kept.push({ uri: store.resolve(key), why: reason });
  }

  const plan: RunPlan = { name, store, collected: !why, ...(state.events > 0 ? { ledger: ledgerUri } : {}), targets: [] };
  ctx.plans.push(plan);
  const LINKED = 'reached through a symbolic link (or not a regular file): not followed';
  const add = async (s: Store, key: string, kind: CleanKind, bytes: number) => {
    if (s instanceof LocalStore && !(await localFileIsReal(s, key))) {
      kept.push({ uri: s.resolve(key), why: LINKED });
      return;
    }
    plan.targets.push({ store: s, key, kind, bytes });
  };
  /** A local listing leaves links out: a key of the run's that is a link (or sits under one) is named, not taken for gone. */
  const named = async (key: string) => {
    if (store instanceof LocalStore && (await lstat(store.path(key)).then(() => true, () => false))) kept.push({ uri: store.resolve(key), why: LINKED });
  };
  /** prepared.json is input too: only a name as rollover writes it, below its own folder, is taken for a shard or lineage file. */
  const shardNamed = (key: string, prefix: string) => key.startsWith(prefix) && SHARD_NAME.test(key.slice(prefix.length));

  // shards (key and size as prepared.json records them) and their lineage
  const listed = new Set<string>();
  const jobNames = new Set(read.file.jobs.map((j) => j.name));
  for (const job of read.file.jobs) {
    for (const shard of job.shards) {
      if (!shardNamed(shard.key, INPUT_PREFIX) || (shard.lineage !== undefined && !shardNamed(shard.lineage, LINEAGE_PREFIX))) {
        kept.push({ uri: store.resolve(PREPARED_KEY), why: `it lists a shard of ${job.name} that is not named as prepare names them (input/job-NNNN/part-NNNNN.jsonl): left alone` });
        continue;
      }
      listed.add(shard.key);
      if (shard.lineage) listed.add(shard.lineage);
      const size = present.get(shard.key);
      if (size === undefined) await named(shard.key);
      else if (size === shard.bytes) await add(store, shard.key, 'shards', size);
      else kept.push({ uri: store.resolve(shard.key), why: `changed since prepare: ${size} bytes, prepared.json says ${shard.bytes}` });
      if (shard.lineage !== undefined) {
        const lineage = present.get(shard.lineage);
        if (lineage === undefined) await named(shard.lineage);
        else await add(store, shard.lineage, 'lineage', lineage);
      }
    }
  }
  for (const [key, size] of present) {
    if ((key.startsWith(INPUT_PREFIX) || key.startsWith(LINEAGE_PREFIX)) && !listed.has(key)) {
      kept.push({ uri: store.resolve(key), why: 'prepared.json does not list it: not a file this run wrote' });
    } else if (key.startsWith(ON_DEMAND_PREFIX)) {
      const folder = SPOOLED.exec(key)?.[1];
      const spooled = folder !== undefined && jobNames.has(folder) && recordIdOfSpoolKey(`${ON_DEMAND_PREFIX}${folder}/`, key) !== undefined;
      if (spooled) await add(store, key, 'on-demand', size);
      else kept.push({ uri: store.resolve(key), why: 'not an answer the on-demand path spooled for a job folder of this run (on-demand/<job>/<recordId>.json)' });
    } else if (key === REUSED_KEY) {
      const skipped = (read.file as { skipped?: unknown }).skipped;
      if (typeof skipped === 'number' && skipped > 0) await add(store, key, 'reused', size);
      else kept.push({ uri: store.resolve(key), why: 'prepared.json counts no skipped calls: not a file this run wrote' });
    }
  }

  // the job outputs of the ledger's jobs
  const output = state.run?.output;
  const jobs = [...state.jobs.values()].filter((j) => j.jobArn);
  if (jobs.length > 0 && !output) kept.push({ uri: ledgerUri, why: 'the ledger names no output location: the job outputs were left alone' });
  if (jobs.length > 0 && output) {
    const outStore = openStore(output, ctx.s3);
    const prepared = new Map(read.file.jobs.map((j) => [j.name, j]));
    for (const j of jobs) {
      const jobId = jobIdOf(j.jobArn!);
      if (!JOB_ID.test(jobId)) {
        kept.push({ uri: ledgerUri, why: `job ${j.job}: "${jobId}" is not a job id, so its outputs were left alone` });
        continue;
      }
      const own = new Set([OUTPUT_MANIFEST, ...(prepared.get(j.job)?.shards ?? []).map((s) => outputNameFor(baseName(s.key)))]);
      for await (const o of outStore.list(`${jobId}/`)) {
        if (own.has(o.key.slice(jobId.length + 1))) await add(outStore, o.key, 'outputs', o.size);
        else kept.push({ uri: outStore.resolve(o.key), why: `not an output of job ${j.job} (${jobId}) of this run` });
      }
    }
  }

  // retry runs collect planned inside this one
  for (const key of present.keys()) {
    const m = RETRY_PREPARED.exec(key);
    if (m) await planRun(below(store, m[1]!, ctx.s3), ctx, true);
  }
}

/** Local folders the removals left empty (deepest first; rmdir refuses a folder that holds anything, or a link). */
async function removeEmptyFolders(targets: Target[]): Promise<void> {
  const byStore = new Map<LocalStore, Set<string>>();
  for (const t of targets) {
    if (!(t.store instanceof LocalStore)) continue;
    let dirs = byStore.get(t.store);
    if (!dirs) byStore.set(t.store, (dirs = new Set()));
    for (let i = t.key.lastIndexOf('/'); i > 0; i = t.key.lastIndexOf('/', i - 1)) dirs.add(t.key.slice(0, i));
  }
  for (const [store, dirs] of byStore) {
    for (const d of [...dirs].sort((a, b) => b.length - a.length)) await rmdir(store.path(d)).catch(() => {});
  }
}

/** Remove the targets; resolves to those removed and those that failed. */
async function removeTargets(targets: Target[]): Promise<{ removed: Target[]; failed: CleanFailure[]; kept: KeptFile[] }> {
  const removed: Target[] = [];
  const failed: CleanFailure[] = [];
  const kept: KeptFile[] = [];
  const groups = new Map<Store, Target[]>();
  for (const t of targets) {
    let g = groups.get(t.store);
    if (!g) groups.set(t.store, (g = []));
    g.push(t);
  }
  for (const [store, group] of groups) {
    if (store instanceof S3Store) {
      const r = await store.deleteObjects(group.map((t) => t.key));
      const refused = new Map(r.failed.map((f) => [f.key, f]));
      for (const t of group) {
        const f = refused.get(t.key);
        if (f) failed.push({ uri: store.resolve(t.key), code: f.code, message: f.message });
        else removed.push(t);
      }
    } else if (store instanceof LocalStore) {
      for (const t of group) {
        // checked again just before: a folder swapped for a link since the plan is not followed
        if (!(await localFileIsReal(store, t.key))) {
          kept.push({ uri: store.resolve(t.key), why: 'reached through a symbolic link (or not a regular file): not followed' });
          continue;
        }
        try {
          await rm(store.path(t.key));
          removed.push(t);
        } catch (error) {
          const e = error as NodeJS.ErrnoException;
          if (e.code === 'ENOENT') removed.push(t);
          else failed.push({ uri: store.resolve(t.key), code: e.code ?? 'Error', message: e.message });
        }
      }
    } else {
      for (const t of group) {
        await store.delete(t.key);
        removed.push(t);
      }
    }
  }
  await removeEmptyFolders(removed);
  return { removed, failed, kept };
}

/** The prepared run at a location: itself, or `batch/` of a `run --work` location. */
async function preparedRunAt(location: string, s3: StoreOptions | undefined): Promise<Store> {
  const store = openStore(location, s3);
  if (await store.exists(PREPARED_KEY)) return store;
  if (await store.exists(`batch/${PREPARED_KEY}`)) return below(store, 'batch', s3);
  throw new BatchError('E_NOT_PREPARED', `${location} holds no prepared run (no prepared.json, nor batch/prepared.json)`, {
    hint: 'give what `prepare --out` was given, or the --work location of `bedrock-batch run`',
  });
}

const tally = (): CleanTally => ({ files: 0, bytes: 0 });

/** `clean`: see the module comment. */
export async function cleanRun(options: CleanOptions): Promise<CleanSummary> {
  const store = await preparedRunAt(options.run, options.s3);
  const ctx: PlanContext = { s3: options.s3, force: options.force === true, retryFiles: options.retryFiles === true, kept: [], plans: [] };
  await planRun(store, ctx, false);
  const dryRun = options.dryRun === true;
  const summary: CleanSummary = {
    run: store.uri,
    dryRun,
    removed: Object.fromEntries(CLEAN_KINDS.map((k) => [k, tally()])) as Record<CleanKind, CleanTally>,
    total: tally(),
    files: [],
    runs: [],
    kept: [],
    failed: [],
    nothingLeft: false,
  };
  for (const plan of ctx.plans) {
    const done = dryRun ? { removed: plan.targets, failed: [], kept: [] } : await removeTargets(plan.targets);
    const run: CleanedRun = { run: plan.name, collected: plan.collected, removed: tally() };
    for (const t of done.removed) {
      const bytes = t.bytes;
      summary.files.push({ uri: t.store.resolve(t.key), kind: t.kind, bytes });
      for (const c of [summary.removed[t.kind], summary.total, run.removed]) {
        c.files++;
        c.bytes += bytes;
      }
    }
    summary.failed.push(...done.failed);
    ctx.kept.push(...done.kept);
    summary.runs.push(run);
    if (!dryRun && plan.ledger && run.removed.files > 0) {
      const ledger = await Ledger.open(plan.ledger, options.s3);
      try {
        await ledger.append({ event: 'cleaned', removed: run.removed.files, bytes: run.removed.bytes });
      } finally {
        await ledger.close();
      }
    }
  }
  summary.nothingLeft = summary.total.files === 0 && summary.failed.length === 0;
  summary.kept = ctx.kept;
  return summary;
}

/**
 * collect's `--expire-days`: add `tags` to the job outputs of the ledger's jobs
 * (`<jobId>/*.jsonl.out` and `<jobId>/manifest.json.out`, nothing else), which Bedrock wrote, so a
 * lifecycle rule on the tag removes them too (docs/cleanup.md). Each object keeps its own tags
 * (S3Store.tagObject). A local output location has no tags: nothing is done there.
 */
export async function tagRunOutputs(output: Store, state: LedgerState, tags: Record<string, string>, concurrency = 16): Promise<{ tagged: number; local: boolean }> {
  if (!(output instanceof S3Store)) return { tagged: 0, local: true };
  const keys: string[] = [];
  for (const j of state.jobs.values()) {
    if (!j.jobArn) continue;
    const jobId = jobIdOf(j.jobArn);
    if (!JOB_ID.test(jobId)) continue;
    for await (const o of output.list(`${jobId}/`)) {
      const name = o.key.slice(jobId.length + 1);
      if (name === OUTPUT_MANIFEST || (!name.includes('/') && name.endsWith('.jsonl.out'))) keys.push(o.key);
    }
  }
  await pMap(keys, (key) => output.tagObject(key, tags), { concurrency });
  return { tagged: keys.length, local: false };
}
