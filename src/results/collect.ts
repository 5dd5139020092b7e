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
 */
import { Readable } from 'node:stream';
import { BatchError } from '../errors.js';
import { FAMILIES } from '../models/index.js';
import type { FamilyName, ModelFamily } from '../models/family.js';
import type { Store } from '../stores/store.js';
import { jobEndFromLedger, LEDGER_KEY, readLedger, type JobEnd, type OutputLedger as Ledger, type OutputLedgerJob as LedgerJob } from './ledger.js';
import { LineSplitter } from './lines.js';
import { Arena, ShardLineage } from './lineage.js';
import { addManifest, parseManifest, reconcileManifest } from './manifest.js';
import { readModelOutput } from './model-output.js';
import { parseOutputLine, sniffRecordId, type OutputLine } from './output-line.js';
import {
  baseName,
  findOutputFolders,
  readObject,
  readPrepared,
  scanObject,
  readSmall,
  storeOf,
  type OutputFolder,
  type PreparedJob,
  type PreparedRunFile,
  type PreparedShard,
} from './layout.js';
import type {
  BadLine,
  CollectResult,
  CollectSummary,
  ErrorResult,
  JobTally,
  MissingResult,
  OutputManifest,
  RecordError,
  SuccessResult,
} from './types.js';

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

/** Lineage keys that are not passthrough columns (rollover renames clashing columns to `_name`). */
export const LINEAGE_RESERVED: ReadonlySet<string> = new Set(['recordId', 'key', 'file', 'line', 'attempt', 'origin']);

interface LineageFields {
  key: string;
  file: string;
  line: number;
  attempt: number | undefined;
  passthrough: Record<string, unknown>;
}

/** The fields of one lineage line (`{recordId, key, file, line, attempt?, origin?, ...passthrough}`). */
export function parseLineageLine(text: string): LineageFields {
  // (the names destructured are LINEAGE_RESERVED; the rest are passthrough columns)
  const { recordId: _id, key, file, line, attempt, origin: _origin, ...passthrough } = JSON.parse(text) as Record<string, unknown>;
  return {
    key: typeof key === 'string' ? key : String(key ?? ''),
    file: typeof file === 'string' ? file : String(file ?? ''),
    line: typeof line === 'number' ? line : Number(line ?? 0),
    attempt: typeof attempt === 'number' ? attempt : undefined,
    passthrough,
  };
}

function asBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return Buffer.from(String(chunk));
}

/** `{errorCode, errorMessage}` of an output line's `error`, defensively (number or string code). */
export function recordErrorOf(error: unknown): RecordError {
  if (typeof error !== 'object' || error === null) {
    return { code: undefined, message: error === undefined ? undefined : String(error).slice(0, 1000) };
  }
  const e = error as Record<string, unknown>;
  const rawCode = e.errorCode ?? e.code;
  const code = typeof rawCode === 'number' || typeof rawCode === 'string' ? rawCode : undefined;
  const rawMessage = e.errorMessage ?? e.message;
  const message = typeof rawMessage === 'string' ? rawMessage.slice(0, 1000) : rawMessage === undefined ? undefined : JSON.stringify(rawMessage).slice(0, 1000);
  return { code, message };
}

interface ShardPlan {
  job: PreparedJob;
  shard: PreparedShard;
  name: string;
  outputs: { jobId: string; key: string; size: number }[];
}

interface FolderCounts {
  job?: string;
  succeeded: number;
  failed: number;
  inputTokens: number;
  outputTokens: number;
  tokensComplete: boolean;
  manifest?: OutputManifest;
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

    const ledger = await this.loadLedger(run);
    if (ledger) s.ledger = ledger.uri;
    const folders = await this.usableFolders(await findOutputFolders(this.outputs), ledger);
    const plans = this.planShards(run, folders, ledger);
    const tallies = new Map<string, JobTally>();
    const ends = this.jobEnds(run, folders, ledger);
    for (const job of run.jobs) {
      const latest = latestJob(ledger, job.name);
      const t: JobTally = {
        job: job.name,
        jobIds: [],
        submitted: 0,
        succeeded: 0,
        failed: 0,
        missing: 0,
        pending: 0,
        inputTokens: 0,
        outputTokens: 0,
        tokensComplete: true,
      };
      const end = ends.get(job.name);
      if (end?.status) t.status = end.status;
      else if (latest?.status) t.status = latest.status;
      for (const lj of ledger?.byJob.get(job.name) ?? []) if (!t.jobIds.includes(lj.jobId)) t.jobIds.push(lj.jobId);
      tallies.set(job.name, t);
      s.jobs.push(t);
    }
    this.checkRunning(ends, ledger);

    // Manifests: small, read up front; compared with the counts once every shard is done.
    const perFolder = new Map<string, FolderCounts>();
    for (const f of folders) {
      const counts: FolderCounts = { succeeded: 0, failed: 0, inputTokens: 0, outputTokens: 0, tokensComplete: true };
      const lj = ledger?.byJobId.get(f.jobId);
      if (lj?.job) counts.job = lj.job;
      if (f.manifest) {
        try {
          counts.manifest = parseManifest(await readSmall(this.outputs, f.manifest, 1 << 20));
        } catch (error) {
          if (error instanceof BatchError) throw error;
          s.manifestIssues.push({ jobId: f.jobId, field: 'manifest', manifest: 'unreadable', parsed: undefined, note: (error as Error).message.slice(0, 200) });
        }
      } else if (f.files.length > 0) {
        s.manifestIssues.push({ jobId: f.jobId, field: 'manifest', manifest: 'absent', parsed: undefined, note: 'no manifest.json.out in the job folder (job still running, or stopped before writing it)' });
      }
      perFolder.set(f.jobId, counts);
    }
    const totalBytes = plans.reduce((n, p) => n + p.outputs.reduce((m, o) => m + o.size, 0), 0);
    let bytesDone = 0;
    let records = 0;

    for (const plan of plans) {
      const tally = tallies.get(plan.job.name)!;
      for (const o of plan.outputs) {
        if (!tally.jobIds.includes(o.jobId)) tally.jobIds.push(o.jobId);
        const fc = perFolder.get(o.jobId);
        if (fc && fc.job === undefined) fc.job = plan.job.name;
        else if (fc && fc.job !== plan.job.name) {
          s.warnings.push(`output folder ${o.jobId} answers ${fc.job} and ${plan.job.name}: its manifest is compared with neither's record count`);
          fc.job = '';
        }
      }
      for await (const batch of this.collectShard(run, plan, family, ledger, ends.get(plan.job.name)!, tally, perFolder, (n) => {
        bytesDone += n;
      })) {
        records += batch.length;
        this.options.onProgress?.({ bytes: bytesDone, totalBytes, records });
        yield batch;
      }
    }

    for (const [jobId, fc] of perFolder) {
      if (!fc.manifest) continue;
      const job = fc.job || undefined;
      const t = job ? tallies.get(job) : undefined;
      if (t) t.manifest = addManifest(t.manifest, fc.manifest);
      s.manifestIssues.push(
        ...reconcileManifest(jobId, job, fc.manifest, {
          ...(t && t.jobIds.length === 1 ? { submitted: t.submitted } : {}),
          succeeded: fc.succeeded,
          failed: fc.failed,
          inputTokens: fc.inputTokens,
          outputTokens: fc.outputTokens,
          tokensComplete: fc.tokensComplete,
        }),
      );
    }
    for (const t of s.jobs) {
      if (t.submitted !== t.succeeded + t.failed + t.missing) {
        throw new BatchError('E_COUNTS', `${t.job}: ${t.submitted} submitted, but ${t.succeeded} succeeded + ${t.failed} failed + ${t.missing} missing = ${t.succeeded + t.failed + t.missing}`, {
          hint: 'this is a bug in collect; please report it',
        });
      }
    }
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
        const name = baseName(file.key).replace(/\.out$/, '');
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
        for (const file of f.files) withManifest.add(baseName(file.key).replace(/\.out$/, ''));
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

  private async *collectShard(
    run: PreparedRunFile,
    plan: ShardPlan,
    family: ModelFamily | undefined,
    ledger: Ledger | undefined,
    end: JobEnd,
    tally: JobTally,
    perFolder: Map<string, FolderCounts>,
    addBytes: (n: number) => void,
  ): AsyncGenerator<CollectResult[]> {
    const s = this.summary;
    const signal = this.options.signal;
    const { job, shard, name } = plan;
    if (!shard.lineage) {
      throw new BatchError('E_NOT_PREPARED', `shard ${shard.key} has no lineage sidecar in ${this.prepared.resolve('prepared.json')}`, {
        hint: 'collect joins results to the source through lineage/; prepare the run again with lineage on',
      });
    }
    const lineage = await ShardLineage.load(this.prepared, shard.lineage, this.arena);
    tally.submitted += lineage.size;
    s.submitted += lineage.size;
    if (lineage.size !== shard.records) {
      s.warnings.push(`${shard.lineage} has ${lineage.size} records, prepared.json says ${shard.records}`);
    }
    const runAttempt = run.retry?.attempt ?? 1;
    const model = run.model.modelId;
    const retryInputs = this.options.retryInputs !== false;
    const inputs = retryInputs ? 'errors' : 'never';
    /** Why a record has no result, for records whose line was there but unreadable. */
    const unreadable = new Map<string, string>();
    /** Error results whose line did not echo the modelInput: emitted after the shard is read for it. */
    const deferred = new Map<string, ErrorResult>();

    for (const out of plan.outputs) {
      const fc = perFolder.get(out.jobId)!;
      let batch: CollectResult[] = [];
      const splitter = new LineSplitter({
        maxLineBytes: this.options.maxLineBytes ?? 64 * 1024 * 1024,
        onTooLong: (line, bytes, head) => {
          const bad: BadLine = { file: out.key, line, code: 'E_OUTPUT_LINE_TOO_LARGE', reason: `the line is ${bytes} bytes, over the limit of ${this.options.maxLineBytes ?? 64 * 1024 * 1024} (raise maxLineBytes)`, truncated: false };
          const id = sniffRecordId(head, 0, head.length);
          if (id !== undefined) {
            bad.recordId = id;
            if (lineage.isOpen(id)) unreadable.set(id, 'output line too large');
          }
          this.badLine(bad);
        },
      });
      const onLine = (buf: Buffer, start: number, end: number, lineNo: number, complete: boolean) => {
        const parsed = parseOutputLine(buf, start, end, inputs);
        if (!parsed.ok) {
          const id = sniffRecordId(buf, start, end);
          const truncated = !complete;
          const bad: BadLine = { file: out.key, line: lineNo, code: 'E_BAD_OUTPUT_LINE', reason: truncated ? `the file ends inside this line (truncated): ${parsed.reason}` : parsed.reason, truncated };
          if (id !== undefined) bad.recordId = id;
          this.badLine(bad);
          if (id !== undefined && lineage.isOpen(id)) unreadable.set(id, truncated ? 'output line truncated' : 'output line unreadable');
          return;
        }
        if (parsed.fast) s.fastLines++;
        else s.fullLines++;
        const v: OutputLine = parsed.value;
        const id = v.recordId;
        if (id === undefined) {
          this.badLine({ file: out.key, line: lineNo, code: 'E_BAD_OUTPUT_LINE', reason: 'the line has no string recordId', truncated: !complete });
          return;
        }
        const text = lineage.get(id);
        if (text === undefined) {
          s.unknownRecords++;
          if (s.unknownSample.length < 5) s.unknownSample.push(`${id} (${out.key}, line ${lineNo})`);
          return;
        }
        if (text === null) {
          s.duplicates++;
          return;
        }
        lineage.close(id);
        if (unreadable.size > 0) unreadable.delete(id);
        const where = { file: out.key, line: lineNo };
        if (v.hasError || !v.hasModelOutput) {
          const error = v.hasError ? recordErrorOf(v.error) : { code: undefined, message: 'the output line has neither modelOutput nor error' };
          const l = parseLineageLine(text);
          const r: ErrorResult = {
            kind: 'error', recordId: id, key: l.key, file: l.file, line: l.line, passthrough: l.passthrough, job: job.name, shard: name,
            jobId: out.jobId, attempt: l.attempt ?? runAttempt, model, error, raw: v.hasError ? v.error : null, output: where,
          };
          tally.failed++;
          s.failed++;
          fc.failed++;
          const code = String(error.code ?? 'none');
          s.errorsByCode[code] = (s.errorsByCode[code] ?? 0) + 1;
          if (retryInputs && v.modelInputJson !== undefined) r.modelInputJson = v.modelInputJson;
          // no echo of the modelInput: the result waits for it from the original shard
          else if (retryInputs) deferred.set(id, r);
          if (!deferred.has(id)) batch.push(r);
          return;
        }
        const o = readModelOutput(v.modelOutput, family);
        const l = parseLineageLine(text);
        const r: SuccessResult = {
          kind: 'success', recordId: id, key: l.key, file: l.file, line: l.line, passthrough: l.passthrough, job: job.name, shard: name,
          jobId: out.jobId, attempt: l.attempt ?? runAttempt, model, raw: v.modelOutput, output: where,
        };
        if (o.text !== undefined) r.text = o.text;
        if (o.stopReason !== undefined) r.stopReason = o.stopReason;
        if (o.inputTokens !== undefined) {
          r.inputTokens = o.inputTokens;
          tally.inputTokens += o.inputTokens;
          fc.inputTokens += o.inputTokens;
          s.inputTokens += o.inputTokens;
        } else {
          tally.tokensComplete = false;
          fc.tokensComplete = false;
        }
        if (o.outputTokens !== undefined) {
          r.outputTokens = o.outputTokens;
          tally.outputTokens += o.outputTokens;
          fc.outputTokens += o.outputTokens;
          s.outputTokens += o.outputTokens;
        } else {
          tally.tokensComplete = false;
          fc.tokensComplete = false;
        }
        tally.succeeded++;
        s.succeeded++;
        fc.succeeded++;
        batch.push(r);
      };
      // the reader reuses its buffers: the splitter copies what it keeps, results hold strings
      for await (const b of scanObject(this.outputs, out.key)) {
        if (signal?.aborted) throw signal.reason ?? new Error('aborted');
        // Small batches, handed on as soon as they are made: results die young (a scavenge frees
        // them) instead of living through two and being promoted to the old generation.
        for (let at = 0; at < b.length; at += BATCH_BYTES) {
          const piece = at === 0 && b.length <= BATCH_BYTES ? b : b.subarray(at, Math.min(b.length, at + BATCH_BYTES));
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
    const left = lineage.left;
    if (left === 0 && deferred.size === 0) return;
    const latest = latestJob(ledger, job.name);
    const status = end.status ?? latest?.status;
    const pending = !end.ended;
    const lastJobId = plan.outputs.length ? plan.outputs[0]!.jobId : latest?.jobId;
    const why = (id: string) => {
      const u = unreadable.get(id);
      if (pending) return `job ${end.why}: not finished`;
      const what = u ?? (plan.outputs.length ? 'no output line' : 'no output file');
      return status ? `${what} (job ${status})` : what;
    };
    const missing = (id: string, text: string, modelInputJson?: string): MissingResult => {
      const l = parseLineageLine(text);
      const r: MissingResult = {
        kind: 'missing', recordId: id, key: l.key, file: l.file, line: l.line, passthrough: l.passthrough, job: job.name, shard: name,
        attempt: l.attempt ?? runAttempt, model, reason: why(id),
      };
      if (lastJobId !== undefined) r.jobId = lastJobId;
      if (status !== undefined) r.jobStatus = status;
      if (pending) r.pending = true;
      if (modelInputJson !== undefined) r.modelInputJson = modelInputJson;
      tally.missing++;
      s.missing++;
      if (pending) {
        tally.pending++;
        s.pending++;
      }
      s.missingByReason[r.reason] = (s.missingByReason[r.reason] ?? 0) + 1;
      lineage.close(id);
      return r;
    };
    if (retryInputs && (!pending || deferred.size > 0)) {
      // Their modelInput, from the original shard (the same line for line as the lineage).
      let batch: CollectResult[] = [];
      const splitter = new LineSplitter({ maxLineBytes: this.options.maxLineBytes ?? 64 * 1024 * 1024 });
      const onLine = (buf: Buffer, start: number, end: number) => {
        const parsed = parseOutputLine(buf, start, end);
        if (!parsed.ok || parsed.value.recordId === undefined) return;
        const id = parsed.value.recordId;
        const waiting = deferred.get(id);
        if (waiting) {
          if (parsed.value.modelInputJson !== undefined) waiting.modelInputJson = parsed.value.modelInputJson;
          deferred.delete(id);
          batch.push(waiting);
          return;
        }
        if (pending) return;
        const text = lineage.get(id);
        if (text) batch.push(missing(id, text, parsed.value.modelInputJson));
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
        s.warnings.push(`${this.prepared.resolve(shard.key)} is gone: its ${left + deferred.size} unanswered record(s) cannot be retried without their modelInput`);
      }
      if (batch.length > 0) yield batch;
    }
    const rest: CollectResult[] = [...deferred.values()];
    for (const [id, text] of [...lineage.openRecords()]) rest.push(missing(id, text));
    if (rest.length > 0) yield rest;
  }

  private badLine(bad: BadLine): void {
    this.summary.badLineCount++;
    if (this.summary.badLines.length < 100) this.summary.badLines.push(bad);
  }
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
  const store = storeOf(prepared);
  const run = await readPrepared(store);
  const seen = new Set<string>();
  for (const job of run.jobs) {
    for (const shard of job.shards) {
      if (!shard.lineage || !(await store.exists(shard.lineage))) continue;
      const splitter = new LineSplitter({ maxLineBytes: 16 * 1024 * 1024 });
      const onLine = (buf: Buffer, start: number, end: number) => {
        try {
          const o = JSON.parse(buf.toString('utf8', start, end)) as Record<string, unknown>;
          for (const k in o) if (!LINEAGE_RESERVED.has(k)) seen.add(k);
        } catch {
          // the collection itself reports a broken lineage line
        }
      };
      for await (const chunk of store.createReadStream(shard.lineage)) splitter.push(asBuffer(chunk), onLine);
      splitter.end(onLine);
    }
  }
  return [...seen];
}

/** Stream a run's results: see the module comment. */
export function collectResults(options: CollectOptions): Collector {
  return new Collector(options);
}
