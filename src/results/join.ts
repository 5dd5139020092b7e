/**
 * The join of one shard: its output lines to its lineage, by recordId. A line answers the record it
 * names, once (a later line for the same record is a duplicate, a recordId the lineage does not hold
 * is unknown), as a success or an error result; a line that cannot be read is a bad line, and the
 * record it names, if any, ends missing for that reason. Once every output file is read, each
 * record no line answered is missing; for retries, the original shard gives the modelInput of the
 * missing records and of the errors whose line did not echo it. What is counted goes to the Tally.
 * Every result carries its record's request hash (`request`) from its lineage line, where prepare
 * put it (src/records/request-hash.ts), what `prepare --skip-answered` compares
 * (docs/daily-exports.md); the echo is never hashed. A run prepared before lineage held it gives
 * results without one.
 *
 * In a schema run, a success line's answer is checked against the schema (structured.ts): a valid
 * one is a success with its `fields`, any other an `invalid` result. Invalid answers are retried,
 * so they need their modelInput like errors: their line is read once more for its echo (they are
 * few, and the answer-first reader skipped it), else they wait for the original shard.
 */
import type { ModelFamily } from '../models/family.js';
import { parseLineageLine, type LineageFields } from '../run/sidecars.js';
import type { JobEnd } from './ledger.js';
import type { ShardLineage } from './lineage.js';
import { readModelOutput } from './model-output.js';
import { parseOutputLine, setTextSource, sniffRecordId, type OutputLine } from './output-line.js';
import type { Tally } from './tally.js';
import type { AnswerValidator } from './structured.js';
import type { BadLine, CollectResult, ErrorResult, InvalidResult, MissingResult, RecordError, SuccessResult } from './types.js';

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

export interface ShardJoinOptions {
  lineage: ShardLineage;
  /** The prepared job (`job-0001`) and the shard file name (`part-00001.jsonl`). */
  job: string;
  shard: string;
  /** The run's model id, and its attempt (a lineage line's own attempt wins). */
  model: string;
  attempt: number;
  /** Read outputs as this family's shape (undefined: by their shape). */
  family: ModelFamily | undefined;
  /** Attach `modelInputJson` to error and missing results. */
  retryInputs: boolean;
  /** The longest output line read (named in the report of a longer one). */
  maxLineBytes: number;
  tally: Tally;
  /** A schema run's answer check (undefined: answers are not checked). */
  validator?: AnswerValidator | undefined;
}

/** An output file answering the shard: its key, and the Bedrock job (output folder) it is in. */
export interface OutputFile {
  jobId: string;
  key: string;
}

/** What is known of the records no line answered. */
export interface Unanswered {
  /** Whether the shard's job has ended; else its records are pending, not missing. */
  end: JobEnd;
  /** The Bedrock status of that job, when known. */
  status: string | undefined;
  /** The Bedrock job that last ran the shard, when known. */
  jobId: string | undefined;
  /** Whether any output file answered the shard. */
  hadOutput: boolean;
}

export class ShardJoin {
  /** Why a record has no result, for records whose line was there but unreadable. */
  private readonly unreadable = new Map<string, string>();
  /** Error (and invalid) results whose line did not echo the modelInput: emitted after the shard is read for it. */
  private readonly deferred = new Map<string, ErrorResult | InvalidResult>();
  /** Which lines' modelInput the output-line parser keeps. */
  private readonly inputs: 'errors' | 'never';

  constructor(private readonly o: ShardJoinOptions) {
    this.inputs = o.retryInputs ? 'errors' : 'never';
  }

  /** A line of `out` over the length limit (`head`: its first bytes): reported; its record, if named, is missing for that reason. */
  tooLong(out: OutputFile, lineNo: number, bytes: number, head: Buffer): void {
    const bad: BadLine = { file: out.key, line: lineNo, code: 'E_OUTPUT_LINE_TOO_LARGE', reason: `the line is ${bytes} bytes, over the limit of ${this.o.maxLineBytes} (raise maxLineBytes)`, truncated: false };
    const id = sniffRecordId(head, 0, head.length);
    if (id !== undefined) {
      bad.recordId = id;
      if (this.o.lineage.isOpen(id)) this.unreadable.set(id, 'output line too large');
    }
    this.o.tally.badLine(bad);
  }

  /**
   * Line `lineNo` of `out` (bytes `start` to `end` of `buf`; `complete` false for a last line
   * without its newline): the result it gives now, if any.
   */
  outputLine(out: OutputFile, buf: Buffer, start: number, end: number, lineNo: number, complete: boolean): CollectResult | undefined {
    const { lineage, tally, retryInputs } = this.o;
    const parsed = parseOutputLine(buf, start, end, this.inputs);
    if (!parsed.ok) {
      const id = sniffRecordId(buf, start, end);
      const truncated = !complete;
      const bad: BadLine = { file: out.key, line: lineNo, code: 'E_BAD_OUTPUT_LINE', reason: truncated ? `the file ends inside this line (truncated): ${parsed.reason}` : parsed.reason, truncated };
      if (id !== undefined) bad.recordId = id;
      tally.badLine(bad);
      if (id !== undefined && lineage.isOpen(id)) this.unreadable.set(id, truncated ? 'output line truncated' : 'output line unreadable');
      return undefined;
    }
    tally.parsed(parsed.fast);
    const v: OutputLine = parsed.value;
    const id = v.recordId;
    if (id === undefined) {
      tally.badLine({ file: out.key, line: lineNo, code: 'E_BAD_OUTPUT_LINE', reason: 'the line has no string recordId', truncated: !complete });
      return undefined;
    }
    const at = lineage.indexOf(id);
    if (at < 0) {
      tally.unknown(`${id} (${out.key}, line ${lineNo})`);
      return undefined;
    }
    if (lineage.isClosed(at)) {
      tally.duplicate();
      return undefined;
    }
    const text = lineage.textAt(at);
    lineage.closeAt(at);
    if (this.unreadable.size > 0) this.unreadable.delete(id);
    const { job, shard, model } = this.o;
    const where = { file: out.key, line: lineNo };
    const l = parseLineageLine(text);
    if (v.hasError || !v.hasModelOutput) {
      const error = v.hasError ? recordErrorOf(v.error) : { code: undefined, message: 'the output line has neither modelOutput nor error' };
      const r: ErrorResult = {
        kind: 'error', recordId: id, key: l.key, file: l.file, line: l.line, passthrough: l.passthrough, job, shard,
        jobId: out.jobId, attempt: l.attempt ?? this.o.attempt, model, error, raw: v.hasError ? v.error : null, output: where,
      };
      this.fromLineage(r, l);
      tally.error(job, out.jobId, error.code);
      if (retryInputs && v.modelInputJson !== undefined) r.modelInputJson = v.modelInputJson;
      else if (retryInputs) {
        // no echo of the modelInput: the result waits for it from the original shard
        this.deferred.set(id, r);
        return undefined;
      }
      return r;
    }
    const o = readModelOutput(v.modelOutput, this.o.family);
    const check = this.o.validator?.check(o);
    if (check !== undefined && !check.ok) {
      const r: InvalidResult = {
        kind: 'invalid', recordId: id, key: l.key, file: l.file, line: l.line, passthrough: l.passthrough, job, shard,
        jobId: out.jobId, attempt: l.attempt ?? this.o.attempt, model, reason: check.reason, raw: v.modelOutput, output: where,
      };
      if (o.text !== undefined) r.text = o.text;
      if (o.stopReason !== undefined) r.stopReason = o.stopReason;
      if (o.inputTokens !== undefined) r.inputTokens = o.inputTokens;
      if (o.outputTokens !== undefined) r.outputTokens = o.outputTokens;
      this.fromLineage(r, l);
      tally.invalid(job, out.jobId, o.inputTokens, o.outputTokens);
      if (!retryInputs) return r;
      // its echo, from the line read once more (strictly, as an error line's), else from the shard
      const again = parseOutputLine(buf, start, end, 'always');
      if (again.ok && again.value.modelInputJson !== undefined) {
        r.modelInputJson = again.value.modelInputJson;
        return r;
      }
      this.deferred.set(id, r);
      return undefined;
    }
    const r: SuccessResult = {
      kind: 'success', recordId: id, key: l.key, file: l.file, line: l.line, passthrough: l.passthrough, job, shard,
      jobId: out.jobId, attempt: l.attempt ?? this.o.attempt, model, raw: v.modelOutput, output: where,
    };
    if (check !== undefined) r.fields = check.fields;
    this.fromLineage(r, l);
    if (o.text !== undefined) {
      r.text = o.text;
      // the JSONL writer takes the text's JSON from the line rather than stringify it again
      if (v.modelOutputJson !== undefined) setTextSource(r, o.text, v.modelOutputJson, buf.subarray(v.modelOutputStart, v.modelOutputEnd));
    }
    if (o.stopReason !== undefined) r.stopReason = o.stopReason;
    if (o.inputTokens !== undefined) r.inputTokens = o.inputTokens;
    if (o.outputTokens !== undefined) r.outputTokens = o.outputTokens;
    tally.success(job, out.jobId, o.inputTokens, o.outputTokens, r.fields);
    return r;
  }

  /** What the record's lineage says of its call (request, truncated, redacted), onto its result and into the totals. */
  private fromLineage(r: CollectResult, l: LineageFields): void {
    if (l.request !== undefined) r.request = l.request;
    if (l.truncated !== undefined) r.truncated = l.truncated;
    if (l.redacted !== undefined) r.redacted = l.redacted;
    this.o.tally.lineage(l.truncated, l.redacted);
  }

  /** Records still without a result once every output file is read (deferred errors included). */
  get unanswered(): number {
    return this.o.lineage.left + this.deferred.size;
  }

  /** Whether the original shard is to be read for modelInputs (`inputLine`). */
  wantsInputs(u: Unanswered): boolean {
    return this.o.retryInputs && (u.end.ended || this.deferred.size > 0);
  }

  /** A line of the original shard: the result it completes with its modelInput (a deferred error, or a missing record), if any. */
  inputLine(u: Unanswered, buf: Buffer, start: number, end: number): CollectResult | undefined {
    const parsed = parseOutputLine(buf, start, end);
    if (!parsed.ok || parsed.value.recordId === undefined) return undefined;
    const id = parsed.value.recordId;
    const waiting = this.deferred.get(id);
    if (waiting) {
      if (parsed.value.modelInputJson !== undefined) waiting.modelInputJson = parsed.value.modelInputJson;
      this.deferred.delete(id);
      return waiting;
    }
    if (!u.end.ended) return undefined;
    const text = this.o.lineage.get(id);
    return text ? this.missing(u, id, text, parsed.value.modelInputJson) : undefined;
  }

  /** The rest: deferred errors that found no modelInput, and every record no line answered, missing. */
  rest(u: Unanswered): CollectResult[] {
    const rest: CollectResult[] = [...this.deferred.values()];
    for (const [id, text] of [...this.o.lineage.openRecords()]) rest.push(this.missing(u, id, text));
    return rest;
  }

  private missing(u: Unanswered, id: string, text: string, modelInputJson?: string): MissingResult {
    const pending = !u.end.ended;
    const l = parseLineageLine(text);
    const r: MissingResult = {
      kind: 'missing', recordId: id, key: l.key, file: l.file, line: l.line, passthrough: l.passthrough, job: this.o.job, shard: this.o.shard,
      attempt: l.attempt ?? this.o.attempt, model: this.o.model, reason: this.why(u, id),
    };
    this.fromLineage(r, l);
    if (u.jobId !== undefined) r.jobId = u.jobId;
    if (u.status !== undefined) r.jobStatus = u.status;
    if (pending) r.pending = true;
    if (modelInputJson !== undefined) r.modelInputJson = modelInputJson;
    this.o.tally.missing(this.o.job, r.reason, pending);
    this.o.lineage.close(id);
    return r;
  }

  /** Why a record has no result, in words. */
  private why(u: Unanswered, id: string): string {
    if (!u.end.ended) return `job ${u.end.why}: not finished`;
    const what = this.unreadable.get(id) ?? (u.hadOutput ? 'no output line' : 'no output file');
    return u.status ? `${what} (job ${u.status})` : what;
  }
}
