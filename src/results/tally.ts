/**
 * What collect counts, in one place. Each record's outcome (succeeded, failed, missing, pending)
 * and the tokens its line reported go, in one call, to every total the record belongs to: its
 * prepared job (`JobTally`), the run (the summary) and, for an output line, the output folder it
 * came from, whose counts are set against the folder's `manifest.json.out` once every shard is read
 * (docs/bedrock.md §2.3). The lines that joined no record (unreadable, unknown, duplicate) are
 * counted here too.
 *
 * A schema run's invalid answer is a success to Bedrock (its folder's manifest counts it so) and a
 * failure here: `failed` (and `invalid`) for its job and the run, `succeeded` for its folder; its
 * tokens were spent all the same. Under `errorsByCode` it is `E_INVALID_ANSWER`, so that the codes
 * still add up to `failed`.
 */
import { BatchError } from '../errors.js';
import { addManifest, reconcileManifest } from './manifest.js';
import { countFields, INVALID_ANSWER_CODE } from './structured.js';
import type { BadLine, CollectSummary, JobTally, OutputManifest, RecordError } from './types.js';
import { addCounts } from '../core/values.js';

/** One output folder (one Bedrock job): what its lines add up to, and the prepared job it answers. */
interface FolderTally {
  /** The prepared job it answers; '' once it answers several (its manifest is then compared with neither's). */
  job?: string;
  succeeded: number;
  failed: number;
  inputTokens: number;
  outputTokens: number;
  /** Whether every success line had token counts. */
  tokensComplete: boolean;
  manifest?: OutputManifest;
}

/** Unreadable lines kept in the summary (all are counted). */
const BAD_LINES_KEPT = 100;
/** Unknown recordIds kept in the summary as a sample (all are counted). */
const UNKNOWN_KEPT = 5;

export class Tally {
  private readonly jobs = new Map<string, JobTally>();
  private readonly folders = new Map<string, FolderTally>();

  constructor(private readonly summary: CollectSummary) {}

  /** A prepared job to count, with its Bedrock status and the Bedrock jobs known to have run it. */
  addJob(job: string, status: string | undefined, jobIds: string[]): void {
    const t: JobTally = { job, jobIds, submitted: 0, succeeded: 0, failed: 0, missing: 0, pending: 0, invalid: 0, inputTokens: 0, outputTokens: 0, tokensComplete: true };
    if (status) t.status = status;
    this.jobs.set(job, t);
    this.summary.jobs.push(t);
  }

  /** An output folder, the prepared job its ledger entry names, and its manifest when it has a readable one. */
  addFolder(jobId: string, job: string | undefined, manifest: OutputManifest | undefined): void {
    const f: FolderTally = { succeeded: 0, failed: 0, inputTokens: 0, outputTokens: 0, tokensComplete: true };
    if (job) f.job = job;
    if (manifest) f.manifest = manifest;
    this.folders.set(jobId, f);
  }

  /** Output folder `jobId` holds outputs of prepared job `job`. */
  answers(jobId: string, job: string): void {
    const t = this.jobs.get(job)!;
    if (!t.jobIds.includes(jobId)) t.jobIds.push(jobId);
    const f = this.folders.get(jobId);
    if (f && f.job === undefined) f.job = job;
    else if (f && f.job !== job) {
      this.summary.warnings.push(`output folder ${jobId} answers ${f.job} and ${job}: its manifest is compared with neither's record count`);
      f.job = '';
    }
  }

  /** The records of one of `job`'s shards. */
  submitted(job: string, records: number): void {
    this.jobs.get(job)!.submitted += records;
    this.summary.submitted += records;
  }

  /**
   * A record answered with `modelOutput`, and the tokens its line reported (undefined: none); in a
   * schema run, its valid answer's fields (counted into the field tallies).
   */
  success(job: string, jobId: string, inputTokens: number | undefined, outputTokens: number | undefined, fields?: Record<string, unknown>): void {
    const s = this.summary;
    const t = this.jobs.get(job)!;
    t.succeeded++;
    s.succeeded++;
    if (fields !== undefined && s.fields !== undefined) countFields(s.fields, fields);
    this.answered(t, jobId, inputTokens, outputTokens);
  }

  /** A schema run's record answered with `modelOutput` whose answer does not validate (see the module comment). */
  invalid(job: string, jobId: string, inputTokens: number | undefined, outputTokens: number | undefined): void {
    const s = this.summary;
    const t = this.jobs.get(job)!;
    t.failed++;
    t.invalid++;
    s.failed++;
    s.invalid++;
    s.errorsByCode[INVALID_ANSWER_CODE] = (s.errorsByCode[INVALID_ANSWER_CODE] ?? 0) + 1;
    this.answered(t, jobId, inputTokens, outputTokens);
  }

  /** A `modelOutput` line: a success to its output folder, and its tokens to every total. */
  private answered(t: JobTally, jobId: string, inputTokens: number | undefined, outputTokens: number | undefined): void {
    const s = this.summary;
    const f = this.folders.get(jobId)!;
    f.succeeded++;
    if (inputTokens === undefined || outputTokens === undefined) t.tokensComplete = f.tokensComplete = false;
    if (inputTokens !== undefined) {
      t.inputTokens += inputTokens;
      s.inputTokens += inputTokens;
      f.inputTokens += inputTokens;
    }
    if (outputTokens !== undefined) {
      t.outputTokens += outputTokens;
      s.outputTokens += outputTokens;
      f.outputTokens += outputTokens;
    }
  }

  /** A record answered with `error`. */
  error(job: string, jobId: string, code: RecordError['code']): void {
    const s = this.summary;
    this.jobs.get(job)!.failed++;
    s.failed++;
    this.folders.get(jobId)!.failed++;
    const key = String(code ?? 'none');
    s.errorsByCode[key] = (s.errorsByCode[key] ?? 0) + 1;
  }

  /** What a record's lineage says of its call: turns left out to fit (`--fit truncate`), PII replaced (`--redact`). */
  lineage(truncated: number | undefined, redacted: Record<string, number> | undefined): void {
    const s = this.summary;
    if (truncated !== undefined && truncated > 0) s.truncated++;
    if (redacted !== undefined) addCounts((s.redacted ??= {}), redacted);
  }

  /** A record no line answered; `pending` when its job may still answer it. */
  missing(job: string, reason: string, pending: boolean): void {
    const s = this.summary;
    const t = this.jobs.get(job)!;
    t.missing++;
    s.missing++;
    if (pending) {
      t.pending++;
      s.pending++;
    }
    s.missingByReason[reason] = (s.missingByReason[reason] ?? 0) + 1;
  }

  /** An output line read, by the fast path or by the full parse. */
  parsed(fast: boolean): void {
    if (fast) this.summary.fastLines++;
    else this.summary.fullLines++;
  }

  /** An output line that could not be read. */
  badLine(bad: BadLine): void {
    this.summary.badLineCount++;
    if (this.summary.badLines.length < BAD_LINES_KEPT) this.summary.badLines.push(bad);
  }

  /** An output line for a recordId the shard's lineage does not hold (`where`: the id, file and line). */
  unknown(where: string): void {
    this.summary.unknownRecords++;
    if (this.summary.unknownSample.length < UNKNOWN_KEPT) this.summary.unknownSample.push(where);
  }

  /** An output line for a record an earlier line answered. */
  duplicate(): void {
    this.summary.duplicates++;
  }

  /**
   * Once every shard is read: each manifest against its folder's counts (added into its job's),
   * and every job's records counted exactly once (E_COUNTS otherwise: a bug in collect).
   */
  finish(): void {
    const s = this.summary;
    for (const [jobId, f] of this.folders) {
      if (!f.manifest) continue;
      const job = f.job || undefined;
      const t = job ? this.jobs.get(job) : undefined;
      if (t) t.manifest = addManifest(t.manifest, f.manifest);
      s.manifestIssues.push(
        ...reconcileManifest(jobId, job, f.manifest, {
          ...(t && t.jobIds.length === 1 ? { submitted: t.submitted } : {}),
          succeeded: f.succeeded,
          failed: f.failed,
          inputTokens: f.inputTokens,
          outputTokens: f.outputTokens,
          tokensComplete: f.tokensComplete,
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
  }
}
