/**
 * The line formats of a prepared run's sidecars, one owner for writer and reader alike
 * (docs/contracts.md, "Layout of a prepared run"):
 *
 *   lineage/job-NNNN/part-NNNNN.jsonl   {recordId, key, file, line, request, [attempt, origin,] [redacted, truncated,] ...passthrough}
 *   rejects.jsonl                       {file, line, [key,] stage, code, reason}
 *
 * A lineage line stands beside each record, line for line; collect joins output lines to it by
 * recordId. `request` is the record's request hash (src/records/request-hash.ts: 32 hex digits of
 * the sha256 of its modelInput's bytes in the shard line), taken once by prepare and copied by
 * collect into the results, what `prepare --skip-answered` compares (docs/daily-exports.md); lines
 * written before prepare took it have none, and their results are never reused. A retry run's line
 * keeps the original record's. Passthrough columns whose names clash with the reserved ones are
 * written as `_name`. Neither line ever holds transcript text: a reject names where and why, never
 * what.
 */
import type { Lineage, Reject } from '../records/types.js';

/** Lineage keys that are not passthrough columns. */
export const LINEAGE_RESERVED: ReadonlySet<string> = new Set(['recordId', 'key', 'file', 'line', 'request', 'attempt', 'origin', 'redacted', 'truncated']);

/** What a retry run's lineage adds (src/results/retry.ts): the try number and where the record was before. */
export interface RetryLineage {
  attempt?: number;
  origin?: Record<string, unknown>;
}

/** One lineage line for a record, with its newline (`request`: its request hash, when taken). */
export function lineageLine(recordId: string, l: Lineage & RetryLineage & { request?: string | undefined }): string {
  const out: Record<string, unknown> = { recordId, key: l.key, file: l.file, line: l.line };
  if (l.request !== undefined) out.request = l.request;
  if (l.attempt !== undefined) out.attempt = l.attempt;
  if (l.origin !== undefined) out.origin = l.origin;
  if (l.redacted !== undefined) out.redacted = l.redacted;
  if (l.truncated !== undefined) out.truncated = l.truncated;
  if (l.passthrough) for (const [k, v] of Object.entries(l.passthrough)) out[LINEAGE_RESERVED.has(k) ? `_${k}` : k] = v;
  return JSON.stringify(out) + '\n';
}

/** The fields of one lineage line, as collect reads them back. */
export interface LineageFields {
  key: string;
  file: string;
  line: number;
  /** The record's request hash (src/records/request-hash.ts), when prepare took it. */
  request: string | undefined;
  attempt: number | undefined;
  /** PII replaced per type in the call (`--redact`), when any was. */
  redacted: Record<string, number> | undefined;
  /** Turns left out to fit the context (`--fit truncate`), when any were. */
  truncated: number | undefined;
  passthrough: Record<string, unknown>;
}

/** Read one lineage line (without its newline); throws on text that is not JSON. */
export function parseLineageLine(text: string): LineageFields {
  // (the names destructured are LINEAGE_RESERVED; the rest are passthrough columns)
  const { recordId: _id, key, file, line, request, attempt, origin: _origin, redacted, truncated, ...passthrough } = JSON.parse(text) as Record<string, unknown>;
  return {
    key: typeof key === 'string' ? key : String(key ?? ''),
    file: typeof file === 'string' ? file : String(file ?? ''),
    line: typeof line === 'number' ? line : Number(line ?? 0),
    request: typeof request === 'string' ? request : undefined,
    attempt: typeof attempt === 'number' ? attempt : undefined,
    redacted: redacted !== null && typeof redacted === 'object' && !Array.isArray(redacted) ? (redacted as Record<string, number>) : undefined,
    truncated: typeof truncated === 'number' ? truncated : undefined,
    passthrough,
  };
}

/** One rejects-file line, with its newline. */
export function rejectLine(r: Reject): string {
  const out: Record<string, unknown> = { file: r.file, line: r.line };
  if (r.key !== undefined) out.key = r.key;
  out.stage = r.stage;
  out.code = r.code;
  out.reason = r.reason;
  return JSON.stringify(out) + '\n';
}
