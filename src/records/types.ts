/**
 * What flows through prepare. Every item carries where it came from (`file`, `line`) so any stage
 * can turn it into a reject that names its origin. Stages handle the kinds they know and pass every
 * other item (rejects above all) through untouched, in order.
 *
 *   decoder ─▶ SourceItem ─▶ adapter ─▶ Call ─▶ prompt ─▶ PromptItem ─▶ model family ─▶ PreparedRecord
 *   (any stage may emit a Reject instead; rejects travel down the same stream to the rejects writer)
 */
import type { ErrorCode } from '../errors.js';

/** Where an item came from: the input as given (path, `-`, URI) and the 1-based line it starts on. */
export interface Origin {
  file: string;
  line: number;
}

/** One decoded unit of an input: a CSV row (header-keyed strings), a JSONL line, a JSON array
 * element, a whole JSON document (one call per file) or a whole text file. */
export interface SourceItem extends Origin {
  kind: 'item';
  value: unknown;
  /** Bytes this unit took in the input, when the decoder knows it. */
  bytes?: number;
}

export type Role = 'agent' | 'customer' | 'system' | 'unknown';

/** One speaker turn of a call. */
export interface Turn {
  /** The speaker as the source names it (`Agent`, `spk_0`, `Financial Advisor`). */
  speaker?: string;
  /** The speaker's role when the source tells it. */
  role?: Role;
  text: string;
  /** Offsets from the start of the call, in milliseconds, when known. */
  startMs?: number;
  endMs?: number;
}

/** Fields that tie a record back to its source row; kept in the lineage sidecar, never sent to the model. */
export interface Lineage extends Origin {
  /** The source's call id (or a key derived from the file for one-call-per-file formats). */
  key: string;
  /** Source columns carried through to the results (agent, queue, date, ...). */
  passthrough?: Record<string, unknown>;
  /** PII replaced in this call, per type (`{card: 1, phone: 2}`), when redaction ran and found some. */
  redacted?: Record<string, number>;
  /** Turns of this call not sent whole to fit the model's context (`--fit truncate`): left out, or cut (one huge turn). */
  truncated?: number;
}

/** One call, assembled from one or more source items. A transcript with no speakers is one turn. */
export interface Call extends Lineage {
  kind: 'call';
  turns: Turn[];
}

/** The text to send for one call. */
export interface PromptItem extends Lineage {
  kind: 'prompt';
  prompt: string;
  /** Per-call system prompt; the model family's `system` option applies when absent. */
  system?: string;
}

/** A record in the making: its model input, then its id, then its serialised line. */
export interface PreparedRecord extends Lineage {
  kind: 'record';
  /** 11 characters [A-Za-z0-9]; empty until the id stage assigns it. */
  recordId: string;
  modelInput: Record<string, unknown>;
  /** Rough count of input tokens, for validation and cost estimates. */
  inputTokens?: number;
  /** The output-token budget the model input asks for (max_tokens and the like). */
  maxOutputTokens?: number;
  /** The exact JSONL line (with its trailing newline) once serialised; written as is. */
  json?: string;
  /** UTF-8 byte length of `json`. */
  bytes?: number;
  /**
   * The request hash of `json` (src/records/request-hash.ts `recordRequest`), taken by prepare once
   * the line is serialised; written to the record's lineage line.
   */
  request?: string;
}

export type RejectStage = 'read' | 'decode' | 'adapt' | 'prompt' | 'model' | 'ids' | 'validate' | 'rollover';

/** A row or record that will not be sent, and why. Never holds any of its text (docs/contracts.md, "Rejects"):
 * the file, line, key, code and reason locate the row; a reason names positions, counts and column
 * names, never values other than the key. */
export interface Reject extends Origin {
  kind: 'reject';
  key?: string;
  stage: RejectStage;
  code: ErrorCode;
  reason: string;
  /** Bytes of input the reject stands for, when known (for reconciliation of bytes). */
  bytes?: number;
}

export type PrepareItem = SourceItem | Call | PromptItem | PreparedRecord | Reject;

export function reject(
  origin: Origin & { key?: string | undefined },
  stage: RejectStage,
  code: ErrorCode,
  reason: string,
  extra: { bytes?: number } = {},
): Reject {
  const r: Reject = { kind: 'reject', file: origin.file, line: origin.line, stage, code, reason };
  if (origin.key !== undefined) r.key = origin.key;
  if (extra.bytes !== undefined) r.bytes = extra.bytes;
  return r;
}

export function lineageOf(item: Lineage): Lineage {
  const l: Lineage = { file: item.file, line: item.line, key: item.key };
  if (item.passthrough !== undefined) l.passthrough = item.passthrough;
  if (item.redacted !== undefined) l.redacted = item.redacted;
  if (item.truncated !== undefined) l.truncated = item.truncated;
  return l;
}
