/**
 * prepare as one call: inputs in, a prepared run out. It wires the stages exactly as a user's own
 * pipeline would (readers -> adapter -> prompt -> model family -> ids -> validation -> rollover),
 * fusing the per-record stages into one Transform to save per-stage stream overhead, and checks
 * that the counts reconcile: every call read was written or rejected.
 *
 * It is generic: the call-center knowledge (which adapter, which prompt) comes in as steps.
 */
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { fuse, stepStream, type Step } from './core/step.js';
import { BatchError } from './errors.js';
import { familyFor } from './models/index.js';
import type { FamilyName, InvocationType, ModelOptions } from './models/family.js';
import { readInputs, type ReadInputsOptions } from './read/index.js';
import { assignIds, type AssignIdsOptions } from './records/ids.js';
import { toRecords } from './records/to-records.js';
import type { PrepareItem } from './records/types.js';
import { validateRecords } from './records/validate.js';
import { quotaProfile, type QuotaProfile } from './shards/quotas.js';
import { rollover, type JobInfo, type RolloverProblem } from './shards/rollover.js';
import { openStore } from './stores/index.js';
import type { Store } from './stores/store.js';

export interface PrepareRunOptions {
  /** Paths, directories, `-` for stdin. */
  inputs: string[];
  /** Where the run goes: a local directory (or, with the S3 store, an s3:// prefix). */
  out: string;
  /** Source items -> calls (e.g. `adaptCalls()` from bedrock-batch/transforms). */
  adapt: Step<any, any>;
  /** Calls -> prompts (e.g. `promptCalls()` from bedrock-batch/transforms). */
  prompt: Step<any, any>;
  model: ModelOptions & { family?: FamilyName; invocationType?: InvocationType };
  quotas?: QuotaProfile;
  ids?: AssignIdsOptions;
  read?: ReadInputsOptions;
  /** Replace a prepared run already at `out` (its shards, lineage and rejects are deleted first). */
  overwrite?: boolean;
  signal?: AbortSignal;
  /** Called about every `progressEvery` records read. */
  onProgress?: (progress: PrepareProgress) => void;
  progressEvery?: number;
  /** Items instead of reading `inputs` (tests, custom sources). */
  source?: Readable;
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
  /** Input bytes decoded. */
  bytesRead: number;
  /** Bytes of JSONL written to shards. */
  bytesWritten: number;
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
  const every = options.progressEvery ?? 5000;
  const countBytes: Step<PrepareItem, PrepareItem> = {
    write(item, emit) {
      if (item.kind === 'item' || item.kind === 'reject') bytesRead += item.bytes ?? 0;
      emit(item);
    },
  };
  const countRead: Step<PrepareItem, PrepareItem> = {
    write(item, emit) {
      if (item.kind === 'call' || item.kind === 'reject') {
        read++;
        if (options.onProgress && read % every === 0) options.onProgress({ read, bytesRead });
      } else if (item.kind === 'item') {
        throw new BatchError('E_INTERNAL', `the adapter passed a source item through (${item.file}, line ${item.line})`);
      }
      emit(item);
    },
  };
  const ids = assignIds(options.ids);
  const steps = fuse<PrepareItem, PrepareItem>(
    countBytes,
    options.adapt,
    countRead,
    options.prompt,
    toRecords({ ...options.model, family: family.name }),
    ids,
    validateRecords({ modelId: options.model.modelId, family: family.name, maxRecordBytes: quotas.maxRecordBytes }),
  );
  const source = options.source ?? readInputs(options.inputs, { maxRowBytes: quotas.maxRecordBytes, ...options.read });
  const sink = rollover({ store, quotas });
  await pipeline(source, stepStream(steps), sink, ...(options.signal ? [{ signal: options.signal }] : []));
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
  };
  await writeManifest(store, summary, r.jobs);
  return summary;
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
    if (o.key === MANIFEST_KEY || o.key.startsWith('input/') || o.key.startsWith('lineage/') || o.key === 'rejects.jsonl') earlier.push(o.key);
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
