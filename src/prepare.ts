/**
 * prepare as one call: inputs in, a prepared run out. It wires the stages exactly as a user's own
 * pipeline would (readers -> adapter -> prompt -> model family -> ids -> validation -> rollover),
 * fusing the per-record stages into one Transform to save per-stage stream overhead, and checks
 * that the counts reconcile: every call read was written or rejected.
 *
 * It is generic: the call-center knowledge (which adapter, which prompt) comes in as steps.
 */
import { resolve as resolvePath } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Step } from './core/step.js';
import { BatchError } from './errors.js';
import { familyFor } from './models/index.js';
import type { FamilyName, InvocationType, ModelOptions } from './models/family.js';
import { prepareItems, type EngineStats } from './parallel/engine.js';
import type { StagesSpec } from './parallel/stages.js';
import type { ReadInputsOptions } from './read/index.js';
import type { AssignIdsOptions } from './records/ids.js';
import type { PrepareItem } from './records/types.js';
import { quotaProfile, type QuotaProfile } from './shards/quotas.js';
import { rollover, type JobInfo, type RolloverProblem } from './shards/rollover.js';
import { openStore } from './stores/index.js';
import type { Store } from './stores/store.js';

export interface PrepareRunOptions {
  /** Paths, directories, `-` for stdin. */
  inputs: string[];
  /** Where the run goes: a local directory (or, with the S3 store, an s3:// prefix). */
  out: string;
  /**
   * The call stages as a module and options (e.g. `{ module: callStagesModule, options: { adapt,
   * prompt } }` from bedrock-batch/transforms): every worker thread builds the same stages from
   * them, so CSV and JSONL inputs are prepared on all cores. Give this or `adapt` + `prompt`.
   */
  stages?: StagesSpec;
  /** Source items -> calls (e.g. `adaptCalls()` from bedrock-batch/transforms); runs on one thread. */
  adapt?: Step<any, any>;
  /** Calls -> prompts (e.g. `promptCalls()` from bedrock-batch/transforms). */
  prompt?: Step<any, any>;
  /** Worker threads for `stages` (default: the cores available, at most 8); 0 for one thread. */
  workers?: number;
  /** Bytes per piece of input handed to a worker (default 1 MiB); small values exercise the edges. */
  pieceBytes?: number;
  model: ModelOptions & { family?: FamilyName; invocationType?: InvocationType };
  quotas?: QuotaProfile;
  ids?: AssignIdsOptions;
  read?: ReadInputsOptions;
  /** The rejects file (a path or URI; default `<out>/rejects.jsonl`). Never inside `<out>/input/`. */
  rejects?: string;
  /** Replace a prepared run already at `out` (its shards, lineage and rejects are deleted first). */
  overwrite?: boolean;
  signal?: AbortSignal;
  /** Called about every `progressEvery` records read. */
  onProgress?: (progress: PrepareProgress) => void;
  progressEvery?: number;
}

export interface PrepareProgress {
  read: number;
  bytesRead: number;
}

export interface PrepareSummary {
  /** Calls read (plus input units rejected before they could become calls). */
  read: number;
  written: number;
  rejected: number;
  rejectsByCode: Record<string, number>;
  /** Input bytes read (after gunzip): the inputs' sizes when they are read to the end. */
  bytesRead: number;
  /** Bytes of JSONL written to shards. */
  bytesWritten: number;
  /** Estimated input tokens (a rough count, not the model's) and output-token budgets of the records
   * written: the basis of a cost estimate before submitting. */
  inputTokens: number;
  maxOutputTokens: number;
  shards: { uri: string; records: number; bytes: number }[];
  jobs: { name: string; uri: string; records: number; bytes: number; shards: string[] }[];
  rebalanced: number;
  submittable: boolean;
  problem?: RolloverProblem;
  out: string;
  rejects: string;
  manifest: string;
  model: { modelId: string; family: FamilyName; invocationType: InvocationType };
  quotas: QuotaProfile;
  idMode: string;
  inputs: string[];
  seconds: number;
  /** Pieces prepared on worker threads, and inputs the main thread finished alone (see engine.ts). */
  parallel: EngineStats;
}

/** The run's manifest key: submit and collect find the shards and lineage through it. */
export const MANIFEST_KEY = 'prepared.json';

export async function prepareRun(options: PrepareRunOptions): Promise<PrepareSummary> {
  const started = process.hrtime.bigint();
  const quotas = options.quotas ?? quotaProfile('default');
  const family = familyFor(options.model.modelId, {
    ...(options.model.family ? { family: options.model.family } : {}),
    ...(options.model.invocationType ? { invocationType: options.model.invocationType } : {}),
  });
  const store = openStore(options.out);
  await checkOut(store, options.overwrite === true);

  let read = 0;
  let bytesRead = 0;
  let nextProgress = options.progressEvery ?? 5000;
  const stats: EngineStats = { pieces: 0, fallbacks: 0 };
  const stages = options.stages ?? (options.adapt && options.prompt ? { adapt: options.adapt, prompt: options.prompt } : undefined);
  if (!stages) throw new BatchError('E_BAD_OPTION', 'prepareRun needs stages, or both adapt and prompt');
  const items = prepareItems({
    inputs: options.inputs,
    read: { maxRowBytes: quotas.maxRecordBytes, ...options.read },
    stages,
    model: { ...options.model, family: family.name },
    maxRecordBytes: quotas.maxRecordBytes,
    ids: options.ids ?? {},
    ...(options.workers !== undefined ? { workers: options.workers } : {}),
    ...(options.pieceBytes !== undefined ? { pieceBytes: options.pieceBytes } : {}),
    lineage: true,
    stats,
    onRead(n, bytes) {
      read += n;
      bytesRead += bytes;
      if (options.onProgress && read >= nextProgress) {
        nextProgress = read + (options.progressEvery ?? 5000);
        options.onProgress({ read, bytesRead });
      }
    },
  });
  const sink = rollover({ store, quotas, ...rejectsLocation(options) });
  // A small buffer: items can be record batches of a megabyte or more.
  await pipeline(Readable.from(items, { objectMode: true, highWaterMark: 2 }), sink, ...(options.signal ? [{ signal: options.signal }] : []));
  const r = sink.result!;
  if (read !== r.written + r.rejected) {
    throw new BatchError(
      'E_COUNTS',
      `counts do not reconcile: ${read} read, but ${r.written} written + ${r.rejected} rejected = ${r.written + r.rejected}`,
      { hint: 'this is a bug in a stage that dropped or duplicated items; please report it' },
    );
  }
  options.onProgress?.({ read, bytesRead });
  const summary: PrepareSummary = {
    read,
    written: r.written,
    rejected: r.rejected,
    rejectsByCode: r.rejectsByCode,
    bytesRead,
    bytesWritten: r.bytes,
    inputTokens: r.inputTokens,
    maxOutputTokens: r.maxOutputTokens,
    shards: r.shards.map((s) => ({ uri: s.uri, records: s.records, bytes: s.bytes })),
    jobs: r.jobs.map((j: JobInfo) => ({ name: j.name, uri: j.uri, records: j.records, bytes: j.bytes, shards: j.shards.map((s) => s.key) })),
    rebalanced: r.rebalanced,
    submittable: r.submittable,
    ...(r.problem ? { problem: r.problem } : {}),
    out: options.out,
    rejects: r.rejectsUri,
    manifest: store.resolve(MANIFEST_KEY),
    model: { modelId: options.model.modelId, family: family.name, invocationType: family.invocationType },
    quotas,
    idMode: options.ids?.mode ?? 'deterministic',
    inputs: options.inputs,
    seconds: Number(process.hrtime.bigint() - started) / 1e9,
    parallel: stats,
  };
  await writeManifest(store, summary, r.jobs);
  return summary;
}

/** `--rejects`: a store for the file's folder and its name; refused inside what jobs read. */
function rejectsLocation(options: PrepareRunOptions): { rejectsStore?: Store; rejectsKey?: string } {
  const where = options.rejects;
  if (where === undefined) return {};
  const cut = where.replace(/\/+$/, '').lastIndexOf('/');
  const dir = cut < 0 ? '.' : where.slice(0, cut) || '/';
  const name = where.slice(cut + 1);
  if (!name) throw new BatchError('E_BAD_OPTION', `--rejects ${where} names a folder; give a file such as rejects.jsonl`);
  const store = openStore(dir);
  const inside = openStore(options.out).resolve('input/');
  if (store.resolve(name).startsWith(inside) || resolvePath(where).startsWith(resolvePath(options.out, 'input') + '/')) {
    throw new BatchError('E_BAD_OPTION', `--rejects ${where} is inside ${inside}, which jobs read`, { hint: 'put the rejects file beside the input folder, not in it' });
  }
  return { rejectsStore: store, rejectsKey: name };
}

async function writeManifest(store: Store, summary: PrepareSummary, jobs: JobInfo[]): Promise<void> {
  const manifest = {
    version: 1,
    createdAt: new Date().toISOString(),
    ...summary,
    jobs: jobs.map((j) => ({
      name: j.name,
      prefix: j.prefix,
      uri: j.uri,
      records: j.records,
      bytes: j.bytes,
      shards: j.shards.map((s) => ({ key: s.key, uri: s.uri, lineage: s.lineageKey, records: s.records, bytes: s.bytes })),
    })),
  };
  const w = store.createWriteStream(MANIFEST_KEY, { contentType: 'application/json' });
  await pipeline(async function* () {
    yield JSON.stringify(manifest, null, 2) + '\n';
  }, w);
}

/** A run's location must be empty of an earlier run, or `overwrite` must say to replace it. */
async function checkOut(store: Store, overwrite: boolean): Promise<void> {
  const earlier: string[] = [];
  for await (const o of store.list('')) {
    // local-service/: the embedded service's jobs for these shards, stale once they are replaced
    if (o.key === MANIFEST_KEY || o.key.startsWith('input/') || o.key.startsWith('lineage/') || o.key.startsWith('local-service/') || o.key === 'rejects.jsonl') earlier.push(o.key);
    else if (o.key === 'ledger.jsonl') {
      throw new BatchError('E_BAD_OPTION', `${store.uri} holds a run that was already submitted (ledger.jsonl)`, {
        hint: 'prepare into a new --out; replacing submitted shards would break resume and collect',
      });
    }
  }
  if (earlier.length === 0) return;
  if (!overwrite) {
    throw new BatchError('E_BAD_OPTION', `${store.uri} already holds a prepared run (${earlier.length} files)`, {
      hint: 'choose another --out, or pass --overwrite to replace it',
    });
  }
  for (const key of earlier) await store.delete(key);
}
