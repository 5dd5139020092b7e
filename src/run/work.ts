/**
 * The work location of `bedrock-batch run` (`--work DIR`): the prepared run (`batch/`), the job
 * outputs (`out/`), the results file, and `run.json`, which records what `run` wrote there, so that
 * `run` never overwrites and `--fresh` never deletes a file it did not write. A work location may
 * hold anything else (the export itself, notes): it is left alone.
 *
 *   <work>/run.json   {"version": 1, "tool": "bedrock-batch run", "createdAt", "batch", "output", "results": [...]}
 *
 * `--fresh` removes, and only removes: the prepared run's own files (src/run/location.ts) and those
 * of its retry runs, the dead-letter file, the job output files of the jobs its ledger lists, the
 * results files run.json lists, and run.json. A ledger is never deleted: jobs it lists were created
 * and billed, and may still run, so it is kept (renamed `replaced-<run id>-ledger.jsonl` beside
 * run.json) and its jobs are listed to the user, never silently orphaned.
 */
import { readdir, rename, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BatchError } from '../errors.js';
import { Ledger, type LedgerState } from '../jobs/ledger.js';
import { fileTarget, openStore, readSmall, type StoreOptions } from '../stores/index.js';
import { LocalStore } from '../stores/local.js';
import type { Store } from '../stores/store.js';
import { DEAD_LETTER_KEY, LEDGER_KEY } from './layout.js';
import { inspectRunLocation, refuseInTheWay, removeOwnFiles } from './location.js';

export const WORK_MANIFEST_KEY = 'run.json';

export interface WorkManifest {
  version: 1;
  tool: 'bedrock-batch run';
  createdAt: string;
  /** The prepared run, the job outputs and the results files run wrote, as given. */
  batch: string;
  output: string;
  results: string[];
}

/** A job the ledger of a replaced run lists: created, billed, possibly still running. */
export interface LeftJob {
  run: string;
  job: string;
  jobArn: string;
  status: string;
}

async function readManifest(store: Store): Promise<WorkManifest | undefined> {
  if (!(await store.exists(WORK_MANIFEST_KEY))) return undefined;
  const text = await readSmall(store, WORK_MANIFEST_KEY, 1 << 20);
  try {
    const m = JSON.parse(text) as WorkManifest;
    if (m && m.tool === 'bedrock-batch run' && Array.isArray(m.results)) return m;
  } catch {
    // fall through
  }
  throw new BatchError('E_IN_THE_WAY', `${store.resolve(WORK_MANIFEST_KEY)} is not a bedrock-batch run manifest`, {
    hint: 'it is not ours: move it away, or choose another --work',
  });
}

async function writeManifest(store: Store, m: WorkManifest): Promise<void> {
  const w = store.createWriteStream(WORK_MANIFEST_KEY, { contentType: 'application/json' });
  await new Promise<void>((resolve, reject) => {
    w.once('error', reject);
    w.end(JSON.stringify(m, null, 2) + '\n', () => resolve());
  });
}

/**
 * Claim the work location for a run (before anything is written): run.json records the prepared
 * run, the output and the results file. A results file that exists and that run.json does not list
 * was not written by run: E_IN_THE_WAY. `s3`: the S3 settings for the locations in S3.
 */
export async function claimWork(work: string, where: { batch: string; output: string; results: string }, s3?: StoreOptions): Promise<WorkManifest> {
  const store = openStore(work, s3);
  const known = await readManifest(store);
  const m: WorkManifest = known ?? { version: 1, tool: 'bedrock-batch run', createdAt: new Date().toISOString(), batch: where.batch, output: where.output, results: [] };
  if (where.results !== '-' && !m.results.includes(where.results)) {
    const r = fileTarget(where.results, s3);
    if (await r.store.exists(r.key)) {
      throw new BatchError('E_IN_THE_WAY', `the results file ${where.results} exists, and this run did not write it`, {
        hint: 'nothing was overwritten: give --results another file, or move that one away',
      });
    }
    m.results.push(where.results);
  }
  if (!known || m.results.length !== known.results.length) await writeManifest(store, m);
  return m;
}

/** Jobs a ledger lists (created: they have an ARN), with their last status. */
export function ledgerJobs(run: string, state: LedgerState): LeftJob[] {
  return [...state.jobs.values()].filter((j) => j.jobArn).map((j) => ({ run, job: j.job, jobArn: j.jobArn!, status: j.status ?? 'Submitted' }));
}

export interface FreshResult {
  removed: number;
  /** Jobs of the replaced run(s): left alone (they were created, and may still run). */
  jobs: LeftJob[];
  /** Where their ledgers were kept. */
  ledgers: string[];
}

/** `run --fresh` on a local work location: see the module comment. `s3`: the S3 settings for the locations in S3. */
export async function freshWork(work: string, where: { batch: string; output: string; results: string }, s3?: StoreOptions): Promise<FreshResult> {
  const workStore = openStore(work, s3);
  if (!(workStore instanceof LocalStore)) {
    throw new BatchError('E_BAD_OPTION', '--fresh clears only a local --work', { hint: `remove the run's files under ${work} yourself, or use another --work` });
  }
  const m = await readManifest(workStore);
  const batchLoc = m?.batch ?? where.batch;
  const outputLoc = m?.output ?? where.output;
  const results = m ? m.results : [];
  const out: FreshResult = { removed: 0, jobs: [], ledgers: [] };

  // the prepared run and its retry runs, each only its own files; refuse before removing anything
  const batchStore = openStore(batchLoc, s3);
  const runs = [{ name: batchLoc, store: batchStore }];
  if (batchStore instanceof LocalStore) {
    const entries = await readdir(batchStore.root, { withFileTypes: true }).catch(() => []);
    for (const e of entries) if (e.isDirectory() && /^retry-\d+$/.test(e.name)) runs.push({ name: `${batchLoc.replace(/\/+$/, '')}/${e.name}`, store: openStore(join(batchStore.root, e.name)) });
  }
  const locations = [];
  for (const r of runs) {
    const loc = await inspectRunLocation(r.store, { claimBroken: true });
    refuseInTheWay(loc, '--fresh');
    locations.push({ ...r, loc });
  }

  for (const { name, store, loc } of locations.reverse()) {
    if (loc.submitted) {
      const state = await Ledger.read(store.resolve(LEDGER_KEY), s3);
      const jobs = ledgerJobs(name, state);
      out.jobs.push(...jobs);
      // outputs of the ledger's jobs: <output>/<jobId>/*.jsonl.out and manifest.json.out
      const output = state.run?.output ?? outputLoc;
      const outStore = openStore(output, s3);
      for (const j of jobs) {
        const jobId = j.jobArn.slice(j.jobArn.lastIndexOf('/') + 1);
        for await (const o of outStore.list(`${jobId}/`)) {
          const file = o.key.slice(jobId.length + 1);
          if (file === 'manifest.json.out' || (!file.includes('/') && file.endsWith('.jsonl.out'))) {
            await outStore.delete(o.key);
            out.removed++;
          }
        }
        if (outStore instanceof LocalStore) await rmdir(outStore.path(jobId)).catch(() => {});
      }
      // keep the ledger: its jobs were billed
      const runId = loc.prepared?.runId.slice(0, 8) || 'unknown';
      const kept = join(workStore.root, `replaced-${runId}-${name === batchLoc ? '' : `${name.slice(name.lastIndexOf('/') + 1)}-`}ledger.jsonl`);
      await rename((store as LocalStore).path(LEDGER_KEY), kept);
      out.ledgers.push(kept);
    }
    out.removed += await removeOwnFiles(loc);
    if (store instanceof LocalStore) await rmdir(store.root).catch(() => {});
  }
  if (await batchStore.exists(DEAD_LETTER_KEY)) {
    await batchStore.delete(DEAD_LETTER_KEY);
    out.removed++;
  }
  if (batchStore instanceof LocalStore) await rmdir(batchStore.root).catch(() => {});
  if (outputLoc) {
    const o = openStore(outputLoc, s3);
    if (o instanceof LocalStore) await rmdir(o.root).catch(() => {});
  }
  for (const r of results) {
    const f = fileTarget(r, s3);
    if (await f.store.exists(f.key)) {
      await f.store.delete(f.key);
      out.removed++;
    }
  }
  if (m) {
    await workStore.delete(WORK_MANIFEST_KEY);
    out.removed++;
  }
  return out;
}
