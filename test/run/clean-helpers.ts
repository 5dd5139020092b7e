/**
 * Helpers for the clean tests: a run taken through the real stages (prepare, submit on the embedded
 * local service, collect, and the `collected` event the collect command appends), and what a
 * location holds, key by key, to compare before and after.
 */
import { lstat, readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { quotaProfile } from '../../src/bedrock/quotas.js';
import { jobIdOf } from '../../src/bedrock/vocabulary.js';
import { recordCollected } from '../../src/cli/collect.js';
import { submitRun } from '../../src/jobs/submit.js';
import { prepareRun } from '../../src/prepare.js';
import { collectRun, type CollectRunOptions } from '../../src/results/run.js';
import { openStore, type StoreOptions } from '../../src/stores/index.js';
import { adaptCalls, promptCalls } from '../../transforms/index.js';
import { callsCsv, FAST_LOCAL, QUICK } from '../jobs/helpers.js';

export const MODEL = 'anthropic.claude-3-haiku-20240307-v1:0';
/** Words every synthetic transcript holds (test/jobs/helpers.ts callsCsv): none may reach a summary, a message or the ledger. */
export const TRANSCRIPT_WORDS = 'which arrived damaged';

export interface Where {
  run: string;
  out: string;
  results: string;
  /** A local folder for the source export. */
  scratch: string;
  s3?: StoreOptions;
}

export interface Prepared {
  /** Job folder name and its job id (the output folder's name), once submitted. */
  jobs: { job: string; jobId: string }[];
}

/** Prepare `calls` synthetic calls, `perJob` a job folder (one shard each). */
export async function prepare(w: Where, calls = 25, perJob = 10): Promise<void> {
  const csv = join(w.scratch, 'calls.csv');
  await callsCsv(csv, calls);
  await prepareRun({
    inputs: [csv],
    out: w.run,
    adapt: adaptCalls(),
    prompt: promptCalls(),
    model: { modelId: MODEL, maxTokens: 200 },
    quotas: quotaProfile('local', { maxRecordsPerFile: perJob, maxRecordsPerJob: perJob }),
    ...(w.s3 ? { s3: w.s3 } : {}),
  });
}

/** Submit the prepared run on the in-process local service and wait for its jobs. */
export async function submit(w: Where): Promise<Prepared> {
  const result = await submitRun({ run: w.run, output: w.out, local: true, mode: 'batch', ...QUICK, localService: FAST_LOCAL, ...(w.s3 ? { s3: w.s3 } : {}) }).done();
  return { jobs: result.jobs.map((j) => ({ job: j.job, jobId: jobIdOf(j.jobArn!) })) };
}

/** Collect into `w.results` and record it in the ledger, as `bedrock-batch collect` does. */
export async function collect(w: Where): Promise<void> {
  const options: CollectRunOptions = { outputs: w.out, prepared: w.run, results: w.results, ...(w.s3 ? { s3: w.s3 } : {}) };
  const summary = await collectRun(options);
  await recordCollected(options, summary);
}

/** prepare, submit, collect. */
export async function collectedRun(w: Where, calls = 25, perJob = 10): Promise<Prepared> {
  await prepare(w, calls, perJob);
  const p = await submit(w);
  await collect(w);
  return p;
}

/** Every file below a local directory, `/`-separated relative keys with their sizes (links listed as `-> link`). */
export async function localFiles(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const full = join(d, e.name);
      const key = relative(dir, full).split(sep).join('/');
      if (e.isSymbolicLink()) out.set(key, '-> link');
      else if (e.isDirectory()) await walk(full);
      else out.set(key, String((await lstat(full)).size));
    }
  };
  await walk(dir);
  return out;
}

/** Every object below an S3 location, keys with their sizes. */
export async function s3Files(uri: string, s3: StoreOptions): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const o of openStore(uri, s3).list('')) out.set(o.key, String(o.size));
  return out;
}

/** `before` without `gone`: what a location should hold after removing `gone`. */
export function without(before: Map<string, string>, gone: Iterable<string>): Map<string, string> {
  const after = new Map(before);
  for (const k of gone) after.delete(k);
  return after;
}
