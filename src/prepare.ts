/**
 * prepare as one call: inputs in, a prepared run out. It wires the stages exactly as a user's own
 * pipeline would (readers -> adapter -> prompt -> model family -> ids -> validation -> rollover),
 * fusing the per-record stages into one Transform to save per-stage stream overhead, and checks
 * that the counts reconcile: every call read was written, rejected or skipped.
 *
 * With `skipAnswered` (docs/daily-exports.md), a record whose call already has an answer in those
 * results, for the same model and the same request (its request hash), is skipped once it is built:
 * counted, not written, and its earlier row copied to `<run>/reused.jsonl` for collect.
 *
 * It is generic: the call-center knowledge (which adapter, which prompt) comes in as steps.
 */
import { realpath } from 'node:fs/promises';
import { relative, resolve as resolvePath, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Step } from './core/step.js';
import { BatchError } from './errors.js';
import { familyFor } from './models/index.js';
import type { FamilyName, InvocationType, ModelFamily, ModelOptions, StructuredVia } from './models/family.js';
import { prepareItems, type EngineItem, type EngineStats } from './parallel/engine.js';
import { estimateTokens, structuredTokens } from './records/tokens.js';
import { parseLineageLine } from './run/sidecars.js';
import { AnsweredIndex } from './results/reuse.js';
import { REUSED_KEY } from './run/layout.js';
import type { RecordBatch } from './shards/rollover.js';
import type { StagesSpec } from './parallel/stages.js';
import type { ReadInputsOptions } from './read/index.js';
import type { AssignIdsOptions } from './records/ids.js';
import { quotaProfile, type QuotaProfile } from './bedrock/quotas.js';
import { rollover, type JobInfo, type RolloverProblem } from './shards/rollover.js';
import { inspectRunLocation, refuseInTheWay, removeOwnFiles } from './run/location.js';
import { INPUT_PREFIX, LEDGER_KEY, LINEAGE_PREFIX, PREPARED_KEY, REJECTS_KEY } from './run/layout.js';
import { PREPARED_VERSION, preparedJobsOf, writePreparedRun, type PreparedReused, type PreparedRunFile } from './run/prepared.js';
import { recipeOf, type Recipe } from './run/recipe.js';
import { isS3Uri, parseS3Uri } from './stores/uri.js';
import { openStore, type StoreOptions } from './stores/index.js';
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
  /**
   * Source items -> calls (e.g. `adaptCalls()` from bedrock-batch/transforms); runs on one thread.
   * Its `end` is called after each input (a call never spans two inputs); it must take the items
   * of the next input after it, as the adapters of bedrock-batch/transforms do.
   */
  adapt?: Step<any, any>;
  /** Calls -> prompts (e.g. `promptCalls()` from bedrock-batch/transforms). */
  prompt?: Step<any, any>;
  /** Worker threads for `stages` (default: one fewer than the cores available, at least 1, at most
   * 8; the main thread prepares pieces too whenever every worker's queue is full); 0 for one thread
   * (the same pieces, prepared on the main thread). */
  workers?: number;
  /** Bytes per piece of input handed to a worker (default 1 MiB); small values exercise the edges. */
  pieceBytes?: number;
  /**
   * Let the built-in stages run fused (default true): rows of a CSV file whose stages say how a row
   * becomes a record (`StagesModule.rowRecipe`) are encoded straight from the input bytes to the
   * record's line (src/parallel/fused.ts), byte for byte what the stage-by-stage path writes.
   * `false` runs every record through the stages one by one (what the differential tests compare).
   */
  fused?: boolean;
  model: ModelOptions & { family?: FamilyName; invocationType?: InvocationType };
  quotas?: QuotaProfile;
  ids?: AssignIdsOptions;
  read?: ReadInputsOptions;
  /**
   * S3 client settings for the run's s3:// locations: `out`, `rejects`, and the inputs unless
   * `read.s3` gives their own (default: the SDK's own: the environment, the profile).
   */
  s3?: StoreOptions;
  /** The rejects file (a path or URI; default `<out>/rejects.jsonl`). Never inside `<out>/input/`. */
  rejects?: string;
  /**
   * Results files or run folders (`--skip-answered`, docs/daily-exports.md): a call whose key has a
   * successful answer there for the same model and the same request hash is skipped (counted in
   * `skipped`, not written) and its earlier row goes to `<out>/reused.jsonl`, which collect appends
   * to the results. Turns the fused path off: every record goes through the stages.
   */
  skipAnswered?: string[];
  /**
   * Replace a prepared run already at `out`: its own files (those its prepared.json lists) are
   * deleted first; nothing else is. A run that was submitted (it has a ledger) is never replaced.
   */
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
  /** Calls read (plus input units rejected before they could become calls): written + rejected + skipped. */
  read: number;
  written: number;
  rejected: number;
  /** Calls answered before (`skipAnswered`): not written, their earlier answers in `reused`. */
  skipped: number;
  /** Every call read was skipped: nothing to submit, and the run is complete (collect writes the reused answers). */
  skippedAll?: true;
  /** `skipAnswered`: where the earlier answers of the skipped calls went, and what each source held. */
  reused?: ReusedSummary;
  rejectsByCode: Record<string, number>;
  /** Input bytes read (after gunzip): the inputs' sizes when they are read to the end. */
  bytesRead: number;
  /** Bytes of JSONL written to shards. */
  bytesWritten: number;
  /** Estimated input tokens (a rough count, not the model's) and output-token budgets of the records
   * written: the basis of a cost estimate before submitting. */
  inputTokens: number;
  maxOutputTokens: number;
  /** PII replaced in the records written, per type (`{}` when redaction was off or found none). */
  redacted: Record<string, number>;
  /** Records written whose transcript lost turns to fit the model's context (`--fit truncate`). */
  truncated: number;
  /** A schema run: how its records ask for the schema's fields (docs/structured.md). */
  structured?: { name: string; via: StructuredVia };
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
  /** Pieces prepared (on worker threads, or on this one with `workers: 0`), inputs the main thread
   * finished alone, and records the fused path encoded (see src/parallel/engine.ts). */
  parallel: EngineStats;
}

/** `PrepareSummary.reused`, as prepared.json holds it: the reused answers and their sources. */
export type ReusedSummary = PreparedReused;

/** What shapes a run's records (src/run/recipe.ts): compared when a run is resumed. */
export async function prepareRecipe(options: Pick<PrepareRunOptions, 'inputs' | 'model' | 'stages' | 'adapt' | 'prompt' | 'quotas' | 'ids' | 'read' | 'rejects' | 's3' | 'skipAnswered'>): Promise<Recipe> {
  const quotas = options.quotas ?? quotaProfile('default');
  // client settings do not shape records (and may hold credentials): not part of the recipe
  const { s3, ...read } = readOptions(options, quotas);
  return recipeOf({
    inputs: options.inputs,
    settings: {
      model: options.model,
      stages: options.stages ? options.stages.options : 'custom',
      ids: { mode: options.ids?.mode ?? 'deterministic', ...(options.ids?.namespace !== undefined ? { namespace: options.ids.namespace } : {}) },
      quotas,
      read,
      rejects: options.rejects ?? REJECTS_KEY,
      // only when given: a run prepared without it keeps the recipe it had
      ...(options.skipAnswered?.length ? { skipAnswered: options.skipAnswered } : {}),
    },
    ...(s3 ? { s3 } : {}),
  });
}

/** How the inputs are read: rows up to the quotas' record size, with the run's S3 settings, then `read` over both. */
function readOptions(options: Pick<PrepareRunOptions, 'read' | 's3'>, quotas: QuotaProfile): ReadInputsOptions {
  return { maxRowBytes: quotas.maxRecordBytes, ...(options.s3 ? { s3: options.s3 } : {}), ...options.read };
}

export async function prepareRun(options: PrepareRunOptions): Promise<PrepareSummary> {
  const started = process.hrtime.bigint();
  const quotas = options.quotas ?? quotaProfile('default');
  const family = familyFor(options.model.modelId, {
    ...(options.model.family ? { family: options.model.family } : {}),
    ...(options.model.invocationType ? { invocationType: options.model.invocationType } : {}),
  });
  const store = openStore(options.out, options.s3);
  await checkInputsApart(options.inputs, options.out);
  // the inputs first (a missing one is named before anything is written or removed), then the location
  const recipe = await prepareRecipe(options);
  // the earlier answers, read before anything is written (a missing source stops prepare here)
  const answered = options.skipAnswered?.length
    ? await AnsweredIndex.load({ sources: options.skipAnswered, modelId: options.model.modelId, ...(options.s3 ? { s3: options.s3 } : {}), ...(options.signal ? { signal: options.signal } : {}) })
    : undefined;
  await checkOut(store, options.overwrite === true);
  const rejectsKey = options.rejects === undefined ? REJECTS_KEY : undefined;
  const createdAt = new Date().toISOString();
  // Claim the location before any shard: what appears under it now is this run's (src/run/prepared.ts).
  await writePreparedRun(store, {
    version: PREPARED_VERSION,
    state: 'preparing',
    createdAt,
    jobs: [],
    model: { modelId: options.model.modelId, family: family.name, invocationType: family.invocationType },
    quotas,
    submittable: false,
    written: 0,
    out: options.out,
    ...(rejectsKey ? { rejectsKey } : { rejects: options.rejects! }),
    inputs: options.inputs,
    recipe,
  });

  let read = 0;
  let bytesRead = 0;
  let nextProgress = options.progressEvery ?? 5000;
  const stats: EngineStats = { pieces: 0, fallbacks: 0, stolen: 0, fused: 0 };
  const stages = options.stages ?? (options.adapt && options.prompt ? { adapt: options.adapt, prompt: options.prompt } : undefined);
  if (!stages) throw new BatchError('E_BAD_OPTION', 'prepareRun needs stages, or both adapt and prompt');
  const items = prepareItems({
    inputs: options.inputs,
    read: readOptions(options, quotas),
    stages,
    model: { ...options.model, family: family.name },
    maxRecordBytes: quotas.maxRecordBytes,
    ids: options.ids ?? {},
    ...(options.workers !== undefined ? { workers: options.workers } : {}),
    ...(options.pieceBytes !== undefined ? { pieceBytes: options.pieceBytes } : {}),
    // with skipAnswered every record goes through the stages (docs/daily-exports.md)
    fused: options.fused !== false && answered === undefined,
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
  // The sink holds at most a couple of items beyond the one it writes: a batch is a megabyte or more
  // in a slab, and slabs held there are slabs the engine must make anew (src/parallel/slabs.ts).
  const sink = rollover({ store, quotas, highWaterMark: 2, ...rejectsLocation(options) });
  // A small buffer: items can be record batches of a megabyte or more.
  const source = answered ? skipAnswered(items, answered, family, options.model) : items;
  await pipeline(Readable.from(source, { objectMode: true, highWaterMark: 2 }), sink, ...(options.signal ? [{ signal: options.signal }] : []));
  const r = sink.result!;
  const skipped = answered?.skipped ?? 0;
  if (read !== r.written + r.rejected + skipped) {
    throw new BatchError(
      'E_COUNTS',
      `counts do not reconcile: ${read} read, but ${r.written} written + ${r.rejected} rejected + ${skipped} skipped = ${r.written + r.rejected + skipped}`,
      { hint: 'this is a bug in a stage that dropped or duplicated items; please report it' },
    );
  }
  // the earlier rows of the skipped calls, by a second pass over the sources, before prepared.json names them
  const reused: ReusedSummary | undefined = answered
    ? {
        key: REUSED_KEY,
        ...(skipped > 0 ? await answered.writeReused(store, REUSED_KEY) : { uri: store.resolve(REUSED_KEY), records: 0 }),
        sources: answered.sources,
        indexed: answered.size,
        notes: answered.notes,
      }
    : undefined;
  // a run whose every call was answered before is complete: nothing to submit, and nothing wrong
  const skippedAll = skipped > 0 && r.written === 0;
  options.onProgress?.({ read, bytesRead });
  const summary: PrepareSummary = {
    read,
    written: r.written,
    rejected: r.rejected,
    skipped,
    ...(skippedAll ? { skippedAll: true as const } : {}),
    ...(reused ? { reused } : {}),
    rejectsByCode: r.rejectsByCode,
    bytesRead,
    bytesWritten: r.bytes,
    inputTokens: r.inputTokens,
    maxOutputTokens: r.maxOutputTokens,
    redacted: r.redacted,
    truncated: r.truncated,
    ...(options.model.structured ? { structured: { name: options.model.structured.name, via: options.model.structured.via } } : {}),
    shards: r.shards.map((s) => ({ uri: s.uri, records: s.records, bytes: s.bytes })),
    jobs: r.jobs.map((j: JobInfo) => ({ name: j.name, uri: j.uri, records: j.records, bytes: j.bytes, shards: j.shards.map((s) => s.key) })),
    rebalanced: r.rebalanced,
    submittable: r.submittable,
    ...(r.problem && !skippedAll ? { problem: r.problem } : {}),
    out: options.out,
    rejects: r.rejectsUri,
    manifest: store.resolve(PREPARED_KEY),
    model: { modelId: options.model.modelId, family: family.name, invocationType: family.invocationType },
    quotas,
    idMode: options.ids?.mode ?? 'deterministic',
    inputs: options.inputs,
    seconds: Number(process.hrtime.bigint() - started) / 1e9,
    parallel: stats,
  };
  await writeManifest(store, summary, r.jobs, {
    createdAt,
    recipe,
    ...(rejectsKey ? { rejectsKey } : {}),
    ...(options.model.structured ? { structured: options.model.structured } : {}),
  });
  return summary;
}

/**
 * `skipAnswered`: the engine's records, less those whose call was answered before for the same
 * request (`AnsweredIndex.take`, src/results/reuse.ts). The request is the record's request hash,
 * taken by the engine from the bytes of its line as it is written (src/records/request-hash.ts):
 * a record's own `request`, a batch's in its lineage lines. A record batch made elsewhere (a worker's)
 * is cut around the records it skips; its token sums lose the skipped records' estimates (from their
 * request: the validate stage's formula, within a token or so of the record's own) and output
 * budgets, and its PII and truncation counts theirs (from their lineage lines).
 */
async function* skipAnswered(items: AsyncIterable<EngineItem>, index: AnsweredIndex, family: ModelFamily, model: ModelOptions): AsyncGenerator<EngineItem> {
  const schemaTokens = model.structured && model.structured.via !== 'prompt' ? structuredTokens(model.structured) : 0;
  const budget = model.maxTokens ?? family.defaultMaxTokens;
  for await (const item of items) {
    if (item.kind === 'record') {
      if (index.has(item.key) && item.request !== undefined && index.take(item.key, item.request)) continue;
      yield item;
    } else if (item.kind === 'batch') {
      yield* skipInBatch(item, index, (modelInput) => ({ inputTokens: estimateTokens(family.inputTextOf(modelInput)) + schemaTokens, maxOutputTokens: family.maxOutputTokensOf(modelInput) ?? budget }));
    } else {
      yield item;
    }
  }
}

/** A batch without the records `index` takes: the runs of records kept, as batches (see skipAnswered). */
function skipInBatch(b: RecordBatch, index: AnsweredIndex, tokensOf: (modelInput: Record<string, unknown>) => { inputTokens: number; maxOutputTokens: number }): RecordBatch[] {
  const out: RecordBatch[] = [];
  let inputTokens = b.inputTokens;
  let maxOutputTokens = b.maxOutputTokens;
  const redacted = b.redacted ? { ...b.redacted } : undefined;
  let truncated = b.truncated ?? 0;
  let dataOff = 0;
  let lineageOff = 0;
  let run = -1;
  let runData = 0;
  let runLineage = 0;
  const close = (end: number) => {
    if (run < 0) return;
    out.push({ kind: 'batch', count: end - run, data: b.data.subarray(runData, dataOff), sizes: b.sizes.subarray(run, end), lineage: b.lineage.subarray(runLineage, lineageOff), inputTokens: 0, maxOutputTokens: 0 });
    run = -1;
  };
  if (b.lineage.length === 0) return [b]; // (prepare always writes lineage: the keys are there)
  for (let i = 0; i < b.count; i++) {
    const size = b.sizes[i]!;
    const lineageEnd = b.lineage.indexOf(10, lineageOff) + 1;
    const l = parseLineageLine(b.lineage.toString('utf8', lineageOff, lineageEnd - 1));
    if (index.has(l.key) && l.request !== undefined && index.take(l.key, l.request)) {
      close(i);
      const rec = JSON.parse(b.data.toString('utf8', dataOff, dataOff + size)) as { modelInput: Record<string, unknown> };
      const t = tokensOf(rec.modelInput);
      inputTokens -= t.inputTokens;
      maxOutputTokens -= t.maxOutputTokens;
      if (redacted && l.redacted) for (const k in l.redacted) redacted[k] = (redacted[k] ?? 0) - (l.redacted[k] ?? 0);
      if (l.truncated !== undefined && l.truncated > 0) truncated--;
    } else if (run < 0) {
      run = i;
      runData = dataOff;
      runLineage = lineageOff;
    }
    dataOff += size;
    lineageOff = lineageEnd;
  }
  close(b.count);
  if (out.length === 0) {
    b.release?.();
    return out;
  }
  if (out.length === 1 && out[0]!.count === b.count) return [b]; // nothing skipped
  // the sums go with the first batch; the producer's memory is released after the last one
  const first = out[0]!;
  first.inputTokens = Math.max(0, inputTokens);
  first.maxOutputTokens = Math.max(0, maxOutputTokens);
  if (redacted) {
    for (const k of Object.keys(redacted)) if (!(redacted[k]! > 0)) delete redacted[k];
    first.redacted = redacted;
  }
  if (b.truncated !== undefined) first.truncated = truncated;
  if (b.release) out[out.length - 1]!.release = b.release;
  return out;
}

/** `--rejects`: a store for the file's folder and its name; refused inside what jobs read. */
function rejectsLocation(options: PrepareRunOptions): { rejectsStore?: Store; rejectsKey?: string } {
  const where = options.rejects;
  if (where === undefined) return {};
  const cut = where.replace(/\/+$/, '').lastIndexOf('/');
  const dir = cut < 0 ? '.' : where.slice(0, cut) || '/';
  const name = where.slice(cut + 1);
  if (!name) throw new BatchError('E_BAD_OPTION', `--rejects ${where} names a folder; give a file such as rejects.jsonl`);
  const store = openStore(dir, options.s3);
  const inside = openStore(options.out, options.s3).resolve('input/');
  if (store.resolve(name).startsWith(inside) || resolvePath(where).startsWith(resolvePath(options.out, 'input') + '/')) {
    throw new BatchError('E_BAD_OPTION', `--rejects ${where} is inside ${inside}, which jobs read`, { hint: 'put the rejects file beside the input folder, not in it' });
  }
  return { rejectsStore: store, rejectsKey: name };
}

async function writeManifest(
  store: Store,
  summary: PrepareSummary,
  jobs: JobInfo[],
  extra: { createdAt: string; recipe: Recipe; rejectsKey?: string; structured?: PreparedRunFile['structured'] },
): Promise<void> {
  const { structured: _how, ...rest } = summary;
  const file: PreparedRunFile = {
    version: PREPARED_VERSION,
    state: 'prepared',
    createdAt: extra.createdAt,
    ...rest,
    ...(extra.rejectsKey ? { rejectsKey: extra.rejectsKey } : {}),
    ...(extra.structured ? { structured: extra.structured } : {}),
    recipe: extra.recipe,
    jobs: preparedJobsOf(jobs),
  };
  await writePreparedRun(store, file);
}

/**
 * A run's location must be free of an earlier run, or `overwrite` must say to replace it; either
 * way, what is in the places a run writes and is not a run's own is never removed: it stops prepare
 * (src/run/location.ts). A submitted run is never replaced.
 */
async function checkOut(store: Store, overwrite: boolean): Promise<void> {
  // with overwrite, an unreadable prepared.json is an interrupted prepare's, to be replaced
  const here = await inspectRunLocation(store, { claimBroken: overwrite });
  if (here.submitted && here.state !== 'empty') {
    throw new BatchError('E_BAD_OPTION', `${store.uri} holds a run that was already submitted (ledger.jsonl)`, {
      hint: 'prepare into a new --out; replacing submitted shards would break resume and collect',
    });
  }
  refuseInTheWay(here, `prepare ${store.uri}`);
  if (here.state === 'prepared' && !overwrite) {
    throw new BatchError('E_BAD_OPTION', `${store.uri} already holds a prepared run (${here.own.length} files)`, {
      hint: 'choose another --out, or pass --overwrite to replace it (only its own files are removed)',
    });
  }
  if (here.state === 'preparing' && !overwrite) {
    throw new BatchError('E_BAD_OPTION', `${store.uri} holds a prepare that did not finish`, {
      hint: 'pass --overwrite to replace it (only its own files are removed), or choose another --out',
    });
  }
  // local-service/ alone (the embedded service's stale jobs) goes without --overwrite
  await removeOwnFiles(here);
}

/**
 * prepare must never read what it writes: an input directory that holds the output location, or an
 * input inside the run's own folders, is refused before anything is written.
 */
async function checkInputsApart(inputs: readonly string[], out: string): Promise<void> {
  const inside = (parent: string, child: string) => {
    const rel = relative(parent, child);
    return rel === '' || (!rel.startsWith('..') && !rel.startsWith(sep) && !/^[a-zA-Z]:/.test(rel));
  };
  if (isS3Uri(out)) {
    const o = parseS3Uri(out);
    const outPrefix = o.key === '' || o.key.endsWith('/') ? o.key : `${o.key}/`;
    for (const input of inputs) {
      if (!isS3Uri(input)) continue;
      const i = parseS3Uri(input);
      if (i.bucket !== o.bucket) continue;
      const inPrefix = i.key === '' || i.key.endsWith('/') ? i.key : `${i.key}/`;
      if (outPrefix.startsWith(inPrefix) || i.key.startsWith(outPrefix)) {
        throw new BatchError('E_BAD_OPTION', `the input ${input} and --out ${out} overlap: prepare would read the run it writes`, { hint: 'give --out a prefix outside the inputs' });
      }
    }
    return;
  }
  const real = async (p: string) => realpath(p).catch(() => resolvePath(p));
  const outPath = await real(out);
  for (const input of inputs) {
    if (input === '-' || /^[a-z][a-z0-9+.-]*:\/\//i.test(input)) continue;
    const path = await real(input);
    const ownPlaces = [INPUT_PREFIX, LINEAGE_PREFIX, REJECTS_KEY, PREPARED_KEY, LEDGER_KEY].map((p) => resolvePath(outPath, p));
    if (inside(path, outPath) || ownPlaces.some((p) => inside(p, path))) {
      throw new BatchError('E_BAD_OPTION', `the input ${input} and --out ${out} overlap: prepare would read the run it writes${inside(path, outPath) ? ' (the output is inside the input folder)' : ''}`, {
        hint: 'give --out a folder outside the inputs, e.g. beside them',
      });
    }
  }
}
