/**
 * The validate stage: the last look at a record before it is written. For each PreparedRecord
 * (with its recordId assigned) it checks, in order, and rejects on the first failure:
 *
 *   1. recordId: 11 characters [A-Za-z0-9]                                  E_BAD_RECORD_ID
 *   2. modelInput against the family's rules (keys, types, ranges, text)    E_STRAY_KEY | E_MISSING_TEXT | E_INVALID_MODEL_INPUT
 *   3. estimated input tokens + output budget within the model's context    E_TOO_MANY_TOKENS
 *   4. the serialised line within the byte limit                           E_RECORD_TOO_LARGE
 *
 * and serialises the record ONCE: `json` is the exact JSONL line `{"recordId":...,"modelInput":...}\n`
 * (those two keys, in that order), `bytes` its UTF-8 length including the newline. U+2028, U+2029
 * and U+0085 are written as `\u` escapes: JSON allows them raw, but line splitters such as Python's
 * `splitlines()` break lines on them; the escaped line parses to the same value.
 *
 * Other items (rejects above all) pass through unchanged, in order.
 */
import { BatchError } from '../errors.js';
import { stepStream, type Step } from '../core/step.js';
import { familyFor } from '../models/index.js';
import type { FamilyName, InvocationType, ModelFamily } from '../models/family.js';
import { isObject } from '../core/values.js';
import { estimateTokens } from './tokens.js';
import { reject, type PrepareItem, type PreparedRecord } from './types.js';

export interface ValidateRecordsOptions {
  /** The job's model id (limits are looked up for it). */
  modelId: string;
  /** The family that built the records: the family itself or its name. Default: `familyFor(modelId)`. */
  family?: ModelFamily | FamilyName;
  /** Used with `modelId` to pick the family when `family` is absent. */
  invocationType?: InvocationType;
  /** Largest serialised record, in bytes, newline included (the quota profile's `maxRecordBytes`). */
  maxRecordBytes: number;
  /** The per-file byte limit: a record above it could never be shipped. */
  maxBytesPerFile?: number;
}

const RECORD_ID = /^[A-Za-z0-9]{11}$/;
/** The three characters JSON allows raw that line splitters break on (see the module comment). */
export const LINE_BREAKERS = /[\u0085\u2028\u2029]/;
const LINE_BREAKERS_ALL = /[\u0085\u2028\u2029]/g;
const ESCAPES: Record<string, string> = { '\u0085': '\\u0085', '\u2028': '\\u2028', '\u2029': '\\u2029' };

/** JSON text with the three line breakers as `\u` escapes: the same value, one line. */
export function lineSafe(json: string): string {
  return json.replace(LINE_BREAKERS_ALL, (c) => ESCAPES[c]!);
}

/**
 * Serialise one record as its JSONL line (see the module comment). Pure; exported for stages and
 * tests that need the exact line.
 */
export function serializeRecord(recordId: string, modelInput: Record<string, unknown>): { json: string; bytes: number } {
  let json = JSON.stringify({ recordId, modelInput }) + '\n';
  let bytes = Buffer.byteLength(json, 'utf8');
  // Only lines with non-ASCII characters can hold the three breakers: skip the scan for the rest.
  if (bytes !== json.length && LINE_BREAKERS.test(json)) {
    json = lineSafe(json);
    bytes = Buffer.byteLength(json, 'utf8');
  }
  return { json, bytes };
}

function positiveInteger(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new BatchError('E_BAD_OPTION', `${name} must be a positive integer number of bytes, got ${String(value)}`);
  }
  return value;
}

/** The validate step (see the module comment). Options are checked here, once. */
export function validateRecords(options: ValidateRecordsOptions): Step<PrepareItem, PrepareItem> {
  if (options === null || typeof options !== 'object') throw new BatchError('E_BAD_OPTION', 'validateRecords needs options');
  const { modelId } = options;
  if (typeof modelId !== 'string' || modelId.length === 0) throw new BatchError('E_BAD_OPTION', 'modelId is required');
  let family: ModelFamily;
  if (typeof options.family === 'string') {
    family = familyFor(modelId, { family: options.family, invocationType: options.invocationType });
  } else if (options.family !== undefined) {
    if (typeof options.family !== 'object' || typeof options.family.validateInput !== 'function') {
      throw new BatchError('E_BAD_OPTION', 'family must be a family name or a ModelFamily');
    }
    family = options.family;
  } else {
    family = familyFor(modelId, { invocationType: options.invocationType });
  }
  const maxRecordBytes = positiveInteger('maxRecordBytes', options.maxRecordBytes);
  const maxBytesPerFile = options.maxBytesPerFile === undefined ? undefined : positiveInteger('maxBytesPerFile', options.maxBytesPerFile);
  const byteLimit = maxBytesPerFile !== undefined && maxBytesPerFile < maxRecordBytes ? maxBytesPerFile : maxRecordBytes;
  const limitName = byteLimit === maxRecordBytes ? 'the record limit' : 'the per-file limit';
  const limitHint = byteLimit === maxRecordBytes ? 'raise --max-record-bytes' : 'use a quota profile with larger files';
  const { contextTokens } = family.limits(modelId);

  return {
    write(item, emit) {
      if (item.kind !== 'record') {
        emit(item);
        return;
      }
      const { recordId, modelInput } = item;
      if (typeof recordId !== 'string' || !RECORD_ID.test(recordId)) {
        emit(
          reject(item, 'validate', 'E_BAD_RECORD_ID', `recordId ${JSON.stringify(String(recordId)).slice(0, 24)} is not 11 characters [A-Za-z0-9]; the ids stage must run before validation`),
        );
        return;
      }
      if (!isObject(modelInput)) {
        emit(reject(item, 'validate', 'E_INVALID_MODEL_INPUT', 'modelInput must be a JSON object'));
        return;
      }
      const issues = family.validateInput(modelInput, modelId);
      if (issues.length > 0) {
        const first = issues[0]!;
        const more = issues.length > 1 ? ` (and ${issues.length - 1} more issue${issues.length > 2 ? 's' : ''})` : '';
        emit(reject(item, 'validate', first.code, `modelInput for ${family.name}: ${first.reason}${more}`));
        return;
      }
      const inputTokens = item.inputTokens ?? estimateTokens(family.inputTextOf(modelInput));
      const outputTokens = item.maxOutputTokens ?? family.maxOutputTokensOf(modelInput) ?? 0;
      if (inputTokens + outputTokens > contextTokens) {
        emit(
          reject(
            item,
            'validate',
            'E_TOO_MANY_TOKENS',
            `about ${inputTokens} input tokens (a rough estimate, not the model's count) + ${outputTokens} output tokens exceed the ${contextTokens}-token context of ${modelId}; shorten the transcript, lower --max-tokens, or use --fit truncate`,
          ),
        );
        return;
      }
      const { json, bytes } = serializeRecord(recordId, modelInput);
      if (bytes > byteLimit) {
        emit(
          reject(
            item,
            'validate',
            'E_RECORD_TOO_LARGE',
            `the record is ${bytes} bytes as a JSONL line, above ${limitName} of ${byteLimit} bytes; shorten the transcript or ${limitHint}`,
          ),
        );
        return;
      }
      // A literal (not a spread): one object shape for every record, cheaper on the hot path.
      const out: PreparedRecord = {
        kind: 'record',
        file: item.file,
        line: item.line,
        key: item.key,
        recordId,
        modelInput,
        inputTokens,
        maxOutputTokens: outputTokens,
        json,
        bytes,
      };
      if (item.passthrough !== undefined) out.passthrough = item.passthrough;
      if (item.redacted !== undefined) out.redacted = item.redacted;
      if (item.truncated !== undefined) out.truncated = item.truncated;
      emit(out);
    },
  };
}

/** `validateRecords` as an object-mode Transform. */
export function validateRecordsStream(options: ValidateRecordsOptions) {
  return stepStream(validateRecords(options));
}
