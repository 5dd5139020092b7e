/**
 * What collect yields: one typed result per record that was submitted, joined back to its source
 * through the lineage sidecar. Every submitted record ends as exactly one of
 *
 *   success   an output line with `modelOutput` (text, stop reason and tokens read per model family)
 *   error     an output line with `error` ({errorCode, errorMessage}; errorCode a number or a string)
 *   invalid   a schema run's success line whose answer does not validate against the schema (or
 *             holds no JSON object): counted in `failed` (and in `invalid`), retried like an error
 *   missing   no (readable) output line: the job was Stopped, Expired, PartiallyCompleted, Failed,
 *             never ran, or the line was truncated
 *
 * so that submitted = succeeded + failed + missing, per job and in total.
 */
import type { ManifestField } from '../bedrock/vocabulary.js';
import type { StructuredVia } from '../models/family.js';

export type ResultKind = 'success' | 'error' | 'invalid' | 'missing';

interface ResultBase {
  kind: ResultKind;
  recordId: string;
  /** The source's call id, from lineage. */
  key: string;
  /** The source file and 1-based line the call started on, from lineage. */
  file: string;
  line: number;
  /** Source columns carried through prepare (lineage keys beyond recordId/key/file/line/request/attempt/origin/redacted/truncated). */
  passthrough: Record<string, unknown>;
  /** The prepared job (`job-0001`) and the shard file (`part-00001.jsonl`) the record was in. */
  job: string;
  shard: string;
  /** The Bedrock job id (its output folder) that answered, or that last ran the shard. */
  jobId?: string;
  /** 1 for a first run, n for the n-th try (from a retry run's lineage). */
  attempt: number;
  /** The job's model id. */
  model: string;
  /**
   * The record's request hash (src/records/request-hash.ts), from its lineage, when its run's lineage
   * has one: with `model`, what tells a later run that this answer is for the same request
   * (docs/daily-exports.md).
   */
  request?: string;
  /** Turns left out of the call to fit the context (`--fit truncate`), from lineage, when any were. */
  truncated?: number;
  /** PII replaced in the call per type (`--redact`), from lineage, when the run redacted. */
  redacted?: Record<string, number>;
}

/** What an output line with a `modelOutput` gives, whether its answer is taken or not. */
interface AnsweredBase extends ResultBase {
  text?: string;
  stopReason?: string;
  inputTokens?: number;
  outputTokens?: number;
  /** The line's `modelOutput`, as parsed. */
  raw: unknown;
  /** The output file (key under the output location) and its 1-based line. */
  output: { file: string; line: number };
}

export interface SuccessResult extends AnsweredBase {
  kind: 'success';
  /** A schema run's answer, valid against the schema (the tool input, or the JSON object in the text). */
  fields?: Record<string, unknown>;
}

/** A schema run's answer that does not validate: a success for Bedrock, a failure here (retried). */
export interface InvalidResult extends AnsweredBase {
  kind: 'invalid';
  /** The first rule broken, as `#/pointer: message` (never the answer's text). */
  reason: string;
  /** The echoed modelInput as JSON text (for a retry), when `retryInputs` is on. */
  modelInputJson?: string;
}

export interface RecordError {
  /** `errorCode` as Bedrock wrote it: a number (400) or a string ("400", "ThrottlingException"). */
  code: number | string | undefined;
  message: string | undefined;
}

export interface ErrorResult extends ResultBase {
  kind: 'error';
  error: RecordError;
  /** The line's `error` object, as parsed. */
  raw: unknown;
  output: { file: string; line: number };
  /** The echoed modelInput as JSON text (for a retry), when `retryInputs` is on. */
  modelInputJson?: string;
}

export interface MissingResult extends ResultBase {
  kind: 'missing';
  /** Why there is no result, in words: `no output line (job Expired)`, `output line truncated`, ... */
  reason: string;
  /** The Bedrock status of the job that ran the shard, when the ledger says. */
  jobStatus?: string;
  /** True when that job is still running (collect --partial): not missing yet, so never retried. */
  pending?: boolean;
  /** The modelInput from the original shard as JSON text (for a retry), when `retryInputs` is on. */
  modelInputJson?: string;
}

export type CollectResult = SuccessResult | ErrorResult | InvalidResult | MissingResult;

/** An output line that could not be read; the record it was for (if any) ends as `missing`. */
export interface BadLine {
  /** Output file key and 1-based line. */
  file: string;
  line: number;
  code: 'E_BAD_OUTPUT_LINE' | 'E_OUTPUT_LINE_TOO_LARGE';
  reason: string;
  /** The last line of a file, without its newline: the file was cut short. */
  truncated: boolean;
  recordId?: string;
}

/** `manifest.json.out` (docs/bedrock.md §2.3). */
export type OutputManifest = { [F in ManifestField]?: number };

/** A field where a job's manifest and what collect parsed disagree. */
export interface ManifestIssue {
  jobId: string;
  job?: string;
  field: keyof OutputManifest | 'manifest';
  manifest: number | string | undefined;
  parsed: number | string | undefined;
  note?: string;
}

export interface JobTally {
  /** The prepared job (`job-0001`). */
  job: string;
  /** The Bedrock jobs (output folders) seen for it. */
  jobIds: string[];
  /** The latest Bedrock status in the ledger, when there is one. */
  status?: string;
  submitted: number;
  succeeded: number;
  failed: number;
  missing: number;
  /** Of `missing`: records of a job still running (collect --partial). */
  pending: number;
  /** Of `failed`: answers that did not validate against the run's schema. */
  invalid: number;
  /** Tokens read from the output lines. */
  inputTokens: number;
  outputTokens: number;
  /** False when some success lines carried no token counts (Mistral's text completions carry none). */
  tokensComplete: boolean;
  /** The sum of this job's manifests, when it has any. */
  manifest?: OutputManifest;
}

/** How the answers of a schema run spread over one enum or boolean field (the report charts it). */
export interface FieldTally {
  type: 'enum' | 'boolean';
  /** Valid answers per value (`"true"`/`"false"` for booleans), in the schema's order for enums. */
  counts: Record<string, number>;
}

export interface CollectSummary {
  prepared: string;
  outputs: string;
  ledger?: string;
  model: { modelId: string; family: string };
  /** The attempt the run's records were on (1 unless it is a retry run). */
  attempt: number;
  /** A schema run: the schema the answers were validated against, and where it came from. */
  schema?: { name: string; via?: StructuredVia; from: 'prepared' | 'option'; properties: string[] };
  submitted: number;
  succeeded: number;
  failed: number;
  missing: number;
  pending: number;
  /** Of `failed`: answers of a schema run that did not validate against the schema (status `invalid`). */
  invalid: number;
  /** A schema run's enum and boolean fields over the valid answers, by property name. */
  fields?: Record<string, FieldTally>;
  /** PII replaced in the collected calls per type, from lineage (`--redact`). */
  redacted?: Record<string, number>;
  /** Collected calls whose transcript was truncated to fit (`--fit truncate`). */
  truncated: number;
  inputTokens: number;
  outputTokens: number;
  jobs: JobTally[];
  errorsByCode: Record<string, number>;
  missingByReason: Record<string, number>;
  /** The first 100 unreadable lines; `badLineCount` counts them all. */
  badLines: BadLine[];
  badLineCount: number;
  /** Output lines whose recordId is in no lineage of the shard they map to. */
  unknownRecords: number;
  unknownSample: string[];
  /** Output lines for a record already answered by an earlier line (the first one is kept). */
  duplicates: number;
  /**
   * Earlier answers prepare reused for calls it skipped (`--skip-answered`, `<run>/reused.jsonl`),
   * written to the results after the run's own rows (`collectRun`): not submitted, so in none of
   * the counts above; results rows = submitted + reused (docs/daily-exports.md).
   */
  reused: number;
  /** Output files whose name matches no shard of the run. */
  unmatchedFiles: string[];
  /** Output folders left out because the ledger names other jobs. */
  ignoredFolders: string[];
  manifestIssues: ManifestIssue[];
  warnings: string[];
  outputFiles: number;
  outputBytes: number;
  /** Lines parsed by the fast path, and by the full-parse fallback. */
  fastLines: number;
  fullLines: number;
  seconds: number;
}
