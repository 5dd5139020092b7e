/**
 * Errors with stable codes and context, in the manner of csv-parse's CsvError: callers branch on
 * `code`, people read `message`. Every error that concerns input names the file, line or key and,
 * where there is one, what to do about it (`hint`). Messages never carry a whole record.
 */

export type ErrorCode =
  // options and usage
  | 'E_BAD_OPTION'
  | 'E_NO_INPUT'
  | 'E_UNKNOWN_MODEL'
  | 'E_AMBIGUOUS_FORMAT'
  | 'E_UNKNOWN_FORMAT'
  | 'E_TEMPLATE'
  // reading and decoding
  | 'E_READ'
  | 'E_BAD_QUOTE'
  | 'E_UNTERMINATED_QUOTE'
  | 'E_COLUMN_COUNT'
  | 'E_BAD_JSON'
  | 'E_NOT_AN_OBJECT'
  | 'E_INVALID_UTF8'
  | 'E_ROW_TOO_LARGE'
  | 'E_EMPTY_INPUT'
  // calls
  | 'E_MISSING_KEY'
  | 'E_MISSING_TEXT'
  | 'E_CALL_TOO_LARGE'
  | 'E_DUPLICATE_KEY'
  | 'E_DUPLICATE_ID'
  // records
  | 'E_RECORD_TOO_LARGE'
  | 'E_TOO_MANY_TOKENS'
  | 'E_INVALID_MODEL_INPUT'
  | 'E_STRAY_KEY'
  | 'E_BAD_RECORD_ID'
  // shards and jobs
  | 'E_BELOW_MIN_RECORDS'
  | 'E_CANNOT_REBALANCE'
  | 'E_STORE'
  | 'E_COUNTS'
  | 'E_INTERNAL'
  // jobs: submit, watch, ledger and the local service (issue 4)
  | 'E_NOT_PREPARED'
  | 'E_IN_THE_WAY'
  | 'E_RUN_CHANGED'
  | 'E_SHARDS_CHANGED'
  | 'E_LEDGER'
  | 'E_LEDGER_MISMATCH'
  | 'E_JOB_CREATE'
  | 'E_JOB_NOT_FOUND'
  | 'E_SERVICE'
  | 'E_LOCAL_STATE'
  | 'E_LOCAL_LOCKED'
  // stores (S3)
  | 'E_BAD_URI'
  | 'E_NO_BUCKET'
  | 'E_ACCESS_DENIED'
  | 'E_CREDENTIALS'
  | 'E_UPLOAD'
  | 'E_INTERRUPTED'
  // results (collect): outputs, join, retries, cost report
  | 'E_JOBS_RUNNING'
  | 'E_BAD_OUTPUT_LINE'
  | 'E_OUTPUT_LINE_TOO_LARGE'
  | 'E_PRICES'
  // a schema run's answer that does not validate against its schema (status `invalid`), out of tries
  | 'E_INVALID_ANSWER'
  | 'E_OVER_BUDGET'
  | 'E_NO_PRICE'
  | 'E_CANCELLED'
  | 'E_LEDGER_CLAIM'
  | 'E_THROTTLED'
  | 'E_NOT_COLLECTED'
  | 'E_CLEANED';

export interface ErrorContext {
  /** The input file (path, `-` or URI) the problem was found in. */
  file?: string;
  /** 1-based line in that file where the row, line or call starts. */
  line?: number;
  /** The call's source key (call id), when known. */
  key?: string;
  /** What the user can do about it. */
  hint?: string;
  cause?: unknown;
}

export class BatchError extends Error {
  readonly code: ErrorCode;
  readonly file?: string;
  readonly line?: number;
  readonly key?: string;
  readonly hint?: string;

  constructor(code: ErrorCode, message: string, context: ErrorContext = {}) {
    const where = [context.file, context.line !== undefined ? `line ${context.line}` : undefined]
      .filter(Boolean)
      .join(', ');
    super(where ? `${where}: ${message}` : message, context.cause !== undefined ? { cause: context.cause } : undefined);
    this.name = 'BatchError';
    this.code = code;
    if (context.file !== undefined) this.file = context.file;
    if (context.line !== undefined) this.line = context.line;
    if (context.key !== undefined) this.key = context.key;
    if (context.hint !== undefined) this.hint = context.hint;
  }
}

/** What a BatchError carries, as plain data (it crosses threads and processes this way). */
export interface BatchErrorData {
  code: ErrorCode;
  /** The whole message, place included. */
  message: string;
  file?: string;
  line?: number;
  key?: string;
  hint?: string;
}

/** A BatchError again from its data (the message is kept as it is). */
export function batchErrorFrom(data: BatchErrorData): BatchError {
  const e = new BatchError(data.code, data.message);
  const ctx = e as unknown as Record<string, unknown>;
  for (const k of ['file', 'line', 'key', 'hint'] as const) if (data[k] !== undefined) ctx[k] = data[k];
  return e;
}

export function isBatchError(error: unknown): error is BatchError {
  return error instanceof BatchError;
}

/** A short, single-line preview of an option's value or a column name for error messages. Never for a
 * row's content: rejects and errors about rows carry no text of the row at all (docs/contracts.md, "Rejects"). */
export function preview(value: unknown, max = 40): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
