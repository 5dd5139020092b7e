/**
 * collect: stream a run's job outputs back and join them to the source, one shard at a time.
 *
 *   for each shard of prepared.json, in order:
 *     load its lineage sidecar into a Map (recordId -> lineage line): memory bounded by the shard
 *     stream every output file named after it (`<jobId>/<shard>.out`, in any job folder), line by
 *     line, in whatever order Bedrock wrote them: join each line to its lineage by recordId
 *     the shard's records no line answered are `missing`; with `retryInputs`, the original shard is
 *     streamed once more to pick up their modelInput for the retry batch
 *
 * Outputs are found by listing the output location, never through the ledger; a ledger beside the
 * prepared run (`<run>/ledger.jsonl`), when present, adds each job's status and leaves out job
 * folders of other runs that share the output location.
 *
 * A record is only ever planned for a retry once its job has ended: otherwise the job may still
 * answer it and the record would be paid twice. A job has ended when the ledger records a terminal
 * status for it; without a ledger, when its output folder holds Bedrock's `manifest.json.out`
 * (written last). A job with no known end (still running, never submitted, a Create in doubt)
 * stops the collection with E_JOBS_RUNNING, or with `partial` its unanswered records are `pending`;
 * `assumeEnded` is the caller saying every such job has ended.
 *
 * `collectResults(options)` returns a Collector: an async iterable of typed results
 * (`for await (const r of collectResults(...))`), with `batches()` for arrays of them (cheaper
 * per record) and `summary` (counts per job and in total, tokens, manifest disagreements, bad
 * lines), complete once the iteration ends. Nothing is held beyond one shard's lineage and one
 * chunk's results.
 *
 * A schema run (prepared.json's `structured`, or `schema` given here to validate against another
 * one or to validate a run prepared without one) has each success's answer checked by one validator
 * compiled for the whole run (structured.ts): `invalid` results, fields and their tallies.
 *
 * This module finds and reads; the join of a shard's lines to its lineage is join.ts, and what is
 * counted (per job, per output folder, in total) is tally.ts.
 */
import { Readable } from 'node:stream';
import { BatchError } from '../errors.js';
import { FAMILIES } from '../models/index.js';
import type { FamilyName, ModelFamily } from '../models/family.js';
import type { Store } from '../stores/store.js';
import { LINEAGE_RESERVED } from '../run/sidecars.js';
import { ShardJoin, type Unanswered } from './join.js';
import { jobEndFromLedger, LEDGER_KEY, readLedger, type JobEnd, type OutputLedger as Ledger, type OutputLedgerJob as LedgerJob } from './ledger.js';
import { LineSplitter } from '../core/lines.js';
import { Arena, ShardLineage } from './lineage.js';
import { parseManifest } from './manifest.js';
import { Tally } from './tally.js';
import { releaseTextSources } from './output-line.js';
import { inputNameOf } from '../bedrock/vocabulary.js';
import { baseName, findOutputFolders, type OutputFolder } from '../run/outputs.js';
import { readObject, readPrepared, scanObject, readSmall, storeOf, type PreparedJob, type PreparedRunFile, type PreparedShard } from './layout.js';
import { AnswerValidator, type AnswerSchema } from './structured.js';
import type { CollectResult, CollectSummary, OutputManifest } from './types.js';

export interface CollectOptions {
  /** The jobs' output location (`outputDataConfig` s3Uri, or a local directory): it holds `<jobId>/` folders. */
  outputs: string | Store;
  /** The prepared run (what `prepare --out` was given). */
  prepared: string | Store;
  /** The ledger: default `<prepared>/ledger.jsonl` when it exists; `false` to ignore one. */
  ledger?: { store: Store; key: string } | false;
  /** Read outputs as this family's shape (default: the prepared run's). */
  family?: FamilyName;
  /** Attach `modelInputJson` to error and missing results, for retries (default true). */
  retryInputs?: boolean;
  /** Collect while jobs may still run (their unanswered records are `pending`, not retried). */
  partial?: boolean;
  /**
   * Take every job whose end is not known (no terminal status in the ledger; without a ledger, no
   * `manifest.json.out`) as ended: its unanswered records are missing and retried. Only for jobs
   * you know have ended (e.g. run outside this tool and Failed before writing anything).
   */
  assumeEnded?: boolean;
  /** Longest output line held (default 64 MiB); longer ones are reported and their record is missing. */
  maxLineBytes?: number;
  /**
   * Validate the answers against this schema (`collect --schema`): over prepared.json's
   * `structured`, or for a run prepared without one. Default: prepared.json's, if any.
   */
  schema?: AnswerSchema;
  signal?: AbortSignal;
  /** Called after each chunk of output with the bytes read so far. */
  onProgress?: (progress: CollectProgress) => void;
}

export interface CollectProgress {
  bytes: number;
  totalBytes: number;
  records: number;
}

/** Output bytes parsed between two yields of results. */
const BATCH_BYTES = 32 * 1024;

function asBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return Buffer.from(String(chunk));
}

interface ShardPlan {
  job: PreparedJob;
  shard: PreparedShard;
  name: string;
  outputs: { jobId: string; key: string; size: number }[];
}

export class Collector implements AsyncIterable<CollectResult> {
  /** Counts so far; complete once iteration has ended. */
  readonly summary: CollectSummary;
  private started = false;
  /** Where each shard's lineage is read, one shard after another. */
  private readonly arena = new Arena();
  private readonly outputs: Store;
  private readonly prepared: Store;

  constructor(private readonly options: CollectOptions) {
    if (!options || options.outputs === undefined || options.prepared === undefined) {
      throw new BatchError('E_BAD_OPTION', 'collect needs outputs (the jobs\' output location) and prepared (the prepared run)');
    }
    if (options.maxLineBytes !== undefined && (!Number.isSafeInteger(options.maxLineBytes) || options.maxLineBytes < 1)) {
      throw new BatchError('E_BAD_OPTION', `maxLineBytes must be a positive integer, got ${String(options.maxLineBytes)}`);
    }
    if (options.family !== undefined && !Object.hasOwn(FAMILIES, options.family)) {
      throw new BatchError('E_BAD_OPTION', `family ${JSON.stringify(options.family)} is unknown`, { hint: `use one of: ${Object.keys(FAMILIES).join(', ')}` });
    }
    this.outputs = storeOf(options.outputs);
    this.prepared = storeOf(options.prepared);
    this.summary = {
      prepared: this.prepared.uri,
      outputs: this.outputs.uri,
      model: { modelId: '', family: '' },
      attempt: 1,
      submitted: 0,
      succeeded: 0,
      failed: 0,
      missing: 0,
      pending: 0,
      invalid: 0,
      truncated: 0,
      inputTokens: 0,
      outputTokens: 0,
      jobs: [],
      errorsByCode: {},
      missingByReason: {},
      badLines: [],
      badLineCount: 0,
      unknownRecords: 0,
      unknownSample: [],
      duplicates: 0,
      reused: 0,
      unmatchedFiles: [],
      ignoredFolders: [],
      manifestIssues: [],
      warnings: [],
      outputFiles: 0,
      outputBytes: 0,
      fastLines: 0,
      fullLines: 0,
      seconds: 0,
    };
  }

  /** The results as an object-mode Readable, for `stream/promises` `pipeline`. */
  stream(): Readable {
    return Readable.from(this, { objectMode: true, highWaterMark: 256 });
  }

  async *[Symbol.asyncIterator](): AsyncIterator<CollectResult> {
    for await (const batch of this.batches()) yield* batch;
  }

  /** The results in arrays (one per chunk of output read): fewer awaits per record than iterating one by one. */
  async *batches(): AsyncGenerator<CollectResult[], void, undefined> {
    if (this.started) throw new BatchError('E_BAD_OPTION', 'a Collector can be iterated once; call collectResults again');
    this.started = true;
    const t0 = process.hrtime.bigint();
    const s = this.summary;
    const run = await readPrepared(this.prepared);
    const familyName = this.options.family ?? run.model.family;
    const family: ModelFamily | undefined = familyName && Object.hasOwn(FAMILIES, familyName) ? FAMILIES[familyName] : undefined;
    s.model = { modelId: run.model.modelId, family: family?.name ?? 'auto' };
    s.attempt = run.retry?.attempt ?? 1;
    const answer = answerSchemaOf(run, this.options.schema);
    const validator = answer ? new AnswerValidator(answer) : undefined;
    if (answer && validator) {
      s.schema = { name: answer.name, ...(answer.via ? { via: answer.via } : {}), from: this.options.schema ? 'option' : 'prepared', properties: [...validator.properties] };
      const tallies = validator.tallies();
      if (tallies) s.fields = tallies;
    }

    const ledger = await this.loadLedger(run);
    if (ledger) s.ledger = ledger.uri;
    const folders = await this.usableFolders(await findOutputFolders(this.outputs), ledger);
    const plans = this.planShards(run, folders, ledger);
    const tally = new Tally(s);
    const ends = this.jobEnds(run, folders, ledger);
    for (const job of run.jobs) {
      const jobIds = new Set((ledger?.byJob.get(job.name) ?? []).map((lj) => lj.jobId));
      tally.addJob(job.name, ends.get(job.name)?.status || latestJob(ledger, job.name)?.status, [...jobIds]);
    }
    this.checkRunning(ends, ledger);

    // Manifests: small, read up front; compared with the counts once every shard is done.
    for (const f of folders) {
      let manifest: OutputManifest | undefined;
      if (f.manifest) {
        try {
          manifest = parseManifest(await readSmall(this.outputs, f.manifest, 1 << 20));
        } catch (error) {
          if (error instanceof BatchError) throw error;
          s.manifestIssues.push({ jobId: f.jobId, field: 'manifest', manifest: 'unreadable', parsed: undefined, note: (error as Error).message.slice(0, 200) });
        }
      } else if (f.files.length > 0) {
        s.manifestIssues.push({ jobId: f.jobId, field: 'manifest', manifest: 'absent', parsed: undefined, note: 'no manifest.json.out in the job folder (job still running, or stopped before writing it)' });
      }
      tally.addFolder(f.jobId, ledger?.byJobId.get(f.jobId)?.job, manifest);
    }
    const totalBytes = plans.reduce((n, p) => n + p.outputs.reduce((m, o) => m + o.size, 0), 0);
    let bytesDone = 0;
    let records = 0;

    for (const plan of plans) {
      for (const o of plan.outputs) tally.answers(o.jobId, plan.job.name);
      for await (const batch of this.collectShard(run, plan, family, validator, ledger, ends.get(plan.job.name)!, tally, (n) => {
        bytesDone += n;
      })) {
        records += batch.length;
        this.options.onProgress?.({ bytes: bytesDone, totalBytes, records });
        yield batch;
        // the batch has been handed on (written, for collectRun): a caller who keeps its results keeps no copy of their lines
        releaseTextSources(batch);
      }
    }
    tally.finish();
    s.seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  }

  private async loadLedger(run: PreparedRunFile): Promise<Ledger | undefined> {
    if (this.options.ledger === false) return undefined;
    const where = this.options.ledger ?? { store: this.prepared, key: LEDGER_KEY };
    const ledger = await readLedger(where.store, where.key);
    if (ledger) this.summary.warnings.push(...ledger.notes);
    return ledger;
  }

  /** With a ledger that names jobs, folders of jobs it does not know belong to other runs. */
  private async usableFolders(folders: OutputFolder[], ledger: Ledger | undefined): Promise<OutputFolder[]> {
    if (!ledger || ledger.byJobId.size === 0) return folders;
    const kept: OutputFolder[] = [];
    for (const f of folders) {
      if (ledger.byJobId.has(f.jobId)) kept.push(f);
      else this.summary.ignoredFolders.push(f.jobId);
    }
    if (kept.length === 0 && folders.length > 0) {
      this.summary.warnings.push(`the ledger names none of the ${folders.length} job folder(s) under ${this.outputs.uri}; all were used`);
      this.summary.ignoredFolders = [];
      return folders;
    }
    return kept;
  }

  private planShards(run: PreparedRunFile, folders: OutputFolder[], ledger: Ledger | undefined): ShardPlan[] {
    const byName = new Map<string, ShardPlan>();
    const plans: ShardPlan[] = [];
    for (const job of run.jobs) {
      for (const shard of job.shards) {
        const plan: ShardPlan = { job, shard, name: baseName(shard.key), outputs: [] };
        byName.set(plan.name, plan);
        plans.push(plan);
      }
    }
    // Most recent Bedrock job first, so its lines win over an earlier, failed attempt's.
    const rank = new Map<string, number>();
    if (ledger) [...ledger.byJobId.keys()].forEach((id, i) => rank.set(id, -i));
    const ordered = [...folders].sort((a, b) => (rank.get(a.jobId) ?? 1) - (rank.get(b.jobId) ?? 1));
    for (const f of ordered) {
      for (const file of f.files) {
        this.summary.outputFiles++;
        this.summary.outputBytes += file.size;
        const name = inputNameOf(baseName(file.key));
        const plan = byName.get(name);
        if (plan) plan.outputs.push({ jobId: f.jobId, key: file.key, size: file.size });
        else this.summary.unmatchedFiles.push(file.key);
      }
    }
    return plans;
  }

  /**
   * Whether each prepared job has ended (see the module comment): from the ledger's statuses, or
   * without a ledger from the manifests Bedrock writes last.
   */
  private jobEnds(run: PreparedRunFile, folders: OutputFolder[], ledger: Ledger | undefined): Map<string, JobEnd> {
    const ends = new Map<string, JobEnd>();
    let withManifest: Set<string> | undefined;
    if (!ledger) {
      // The job folders that hold a manifest, by the shard files they answer.
      withManifest = new Set<string>();
      for (const f of folders) {
        if (!f.manifest) continue;
        for (const file of f.files) withManifest.add(inputNameOf(baseName(file.key)));
      }
    }
    for (const job of run.jobs) {
      let end: JobEnd;
      if (ledger) end = jobEndFromLedger(ledger, job.name);
      else if (job.shards.some((sh) => withManifest!.has(baseName(sh.key)))) end = { ended: true };
      else end = { ended: false, why: 'no ledger, and no manifest.json.out from its job' };
      if (!end.ended && this.options.assumeEnded) end = { ended: true, ...(end.status ? { status: end.status } : {}) };
      ends.set(job.name, end);
    }
    return ends;
  }

  private checkRunning(ends: Map<string, JobEnd>, ledger: Ledger | undefined): void {
    const hasLedger = ledger !== undefined;
    const running = [...ends].filter(([, e]) => !e.ended);
    if (running.length === 0) return;
    const label = (name: string, e: JobEnd) => {
      const jobId = latestJob(ledger, name)?.jobId;
      return `${name} (${jobId && e.status ? `${jobId}: ` : ''}${e.why})`;
    };
    const list = running.slice(0, 5).map(([name, e]) => label(name, e)).join(', ');
    if (!this.options.partial) {
      throw new BatchError('E_JOBS_RUNNING', `${running.length} job(s) may still answer: ${list}${running.length > 5 ? ', ...' : ''}; their records are neither missing nor retried yet`, {
        hint: hasLedger
          ? 'run the same submit again (it resumes and waits), or `bedrock-batch status` to record their latest status; --partial collects what exists and leaves their unanswered records pending'
          : 'collect once the jobs have ended; --partial collects what exists and leaves their unanswered records pending; --assume-ended if you know those jobs ended (their unanswered records are then retried)',
      });
    }
    this.summary.warnings.push(`${running.length} job(s) may still answer: ${list}; their unanswered records are pending, not retried`);
  }

  /** One shard's results: its output files joined to its lineage, then what no line answered. */
  private async *collectShard(
    run: PreparedRunFile,
    plan: ShardPlan,
    family: ModelFamily | undefined,
    validator: AnswerValidator | undefined,
    ledger: Ledger | undefined,
    end: JobEnd,
    tally: Tally,
    addBytes: (n: number) => void,
  ): AsyncGenerator<CollectResult[]> {
    const s = this.summary;
    const signal = this.options.signal;
    const maxLineBytes = this.options.maxLineBytes ?? 64 * 1024 * 1024;
    const { job, shard, name } = plan;
    if (!shard.lineage) {
      throw new BatchError('E_NOT_PREPARED', `shard ${shard.key} has no lineage sidecar in ${this.prepared.resolve('prepared.json')}`, {
        hint: 'collect joins results to the source through lineage/; prepare the run again with lineage on',
      });
    }
    const lineage = await ShardLineage.load(this.prepared, shard.lineage, this.arena);
    tally.submitted(job.name, lineage.size);
    if (lineage.size !== shard.records) {
      s.warnings.push(`${shard.lineage} has ${lineage.size} records, prepared.json says ${shard.records}`);
    }
    const join = new ShardJoin({
      lineage,
      job: job.name,
      shard: name,
      model: run.model.modelId,
      attempt: run.retry?.attempt ?? 1,
      family,
      retryInputs: this.options.retryInputs !== false,
      maxLineBytes,
      tally,
      validator,
    });

    for (const out of plan.outputs) {
      let batch: CollectResult[] = [];
      const splitter = new LineSplitter({ maxLineBytes, onTooLong: (line, bytes, head) => join.tooLong(out, line, bytes, head) });
      const onLine = (buf: Buffer, start: number, end: number, lineNo: number, complete: boolean) => {
        const r = join.outputLine(out, buf, start, end, lineNo, complete);
        if (r) batch.push(r);
      };
      // the reader reuses its buffers: the splitter copies what it keeps, results hold strings
      for await (const b of scanObject(this.outputs, out.key)) {
        if (signal?.aborted) throw signal.reason ?? new Error('aborted');
        // Small batches, handed on as soon as they are made: results die young (a scavenge frees
        // them) instead of living through two and being promoted to the old generation.
        // Pieces end after a `\n` where there is one: a line cut across two pieces would be copied
        // to be joined (with ~11 KB lines, a third of them at 32 KiB pieces).
        for (let at = 0, to = 0; at < b.length; at = to) {
          to = Math.min(b.length, at + BATCH_BYTES);
          if (to < b.length) {
            const nl = b.lastIndexOf(10, to - 1);
            if (nl >= at) to = nl + 1;
          }
          const piece = at === 0 && to === b.length ? b : b.subarray(at, to);
          splitter.push(piece, onLine);
          addBytes(piece.length);
          if (batch.length > 0) {
            yield batch;
            batch = [];
          }
        }
      }
      splitter.end(onLine);
      if (batch.length > 0) yield batch;
    }

    // What no line answered.
    if (join.unanswered === 0) return;
    const latest = latestJob(ledger, job.name);
    const u: Unanswered = {
      end,
      status: end.status ?? latest?.status,
      jobId: plan.outputs.length ? plan.outputs[0]!.jobId : latest?.jobId,
      hadOutput: plan.outputs.length > 0,
    };
    if (join.wantsInputs(u)) {
      // Their modelInput, from the original shard (the same line for line as the lineage).
      let batch: CollectResult[] = [];
      const splitter = new LineSplitter({ maxLineBytes });
      const onLine = (buf: Buffer, start: number, end: number) => {
        const r = join.inputLine(u, buf, start, end);
        if (r) batch.push(r);
      };
      if (await this.prepared.exists(shard.key)) {
        for await (const chunk of readObject(this.prepared, shard.key)) {
          if (signal?.aborted) throw signal.reason ?? new Error('aborted');
          splitter.push(asBuffer(chunk), onLine);
          if (batch.length > 0) {
            yield batch;
            batch = [];
          }
        }
        splitter.end(onLine);
      } else {
        s.warnings.push(`${this.prepared.resolve(shard.key)} is gone: its ${join.unanswered} unanswered record(s) cannot be retried without their modelInput`);
      }
      if (batch.length > 0) yield batch;
    }
    const rest = join.rest(u);
    if (rest.length > 0) yield rest;
  }
}

/**
 * The schema a run's answers are checked against: `override` (collect --schema) over prepared.json's
 * `structured`; how records asked for it stays prepared.json's (`prompt` for a run prepared without
 * one: its template asked). Undefined for a run that is not a schema run.
 */
export function answerSchemaOf(run: PreparedRunFile, override?: AnswerSchema): AnswerSchema | undefined {
  if (!override) return run.structured;
  const via = override.via ?? run.structured?.via ?? 'prompt';
  return { name: override.name, via, schema: override.schema };
}

function latestJob(ledger: Ledger | undefined, name: string): LedgerJob | undefined {
  const list = ledger?.byJob.get(name);
  return list && list.length ? list[list.length - 1] : undefined;
}

/**
 * The passthrough columns of a run, in first-seen order (one pass over its lineage sidecars): what
 * a CSV header needs before the first row, since columns can differ from record to record.
 */
export async function lineageColumns(prepared: string | Store): Promise<string[]> {
  return (await lineageShape(prepared)).passthrough;
}

/** What a run's lineage holds beyond the reserved keys: its passthrough columns, and whether any call was truncated or redacted. */
export interface LineageShape {
  passthrough: string[];
  truncated: boolean;
  redacted: boolean;
}

/** The run's LineageShape, in one pass over its lineage sidecars (see lineageColumns). */
export async function lineageShape(prepared: string | Store): Promise<LineageShape> {
  const store = storeOf(prepared);
  const run = await readPrepared(store);
  const seen = new Set<string>();
  let truncated = false;
  let redacted = false;
  for (const job of run.jobs) {
    for (const shard of job.shards) {
      if (!shard.lineage || !(await store.exists(shard.lineage))) continue;
      const splitter = new LineSplitter({ maxLineBytes: 16 * 1024 * 1024 });
      const onLine = (buf: Buffer, start: number, end: number) => {
        try {
          const o = JSON.parse(buf.toString('utf8', start, end)) as Record<string, unknown>;
          for (const k in o) if (!LINEAGE_RESERVED.has(k)) seen.add(k);
          if (o.truncated !== undefined) truncated = true;
          if (o.redacted !== undefined) redacted = true;
        } catch {
          // the collection itself reports a broken lineage line
        }
      };
      for await (const chunk of store.createReadStream(shard.lineage)) splitter.push(asBuffer(chunk), onLine);
      splitter.end(onLine);
    }
  }
  return { passthrough: [...seen], truncated, redacted };
}

/** Stream a run's results: see the module comment. */
export function collectResults(options: CollectOptions): Collector {
  return new Collector(options);
}
