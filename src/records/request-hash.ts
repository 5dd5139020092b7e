/**
 * The request hash: which request a record sent, as a short fingerprint, so that an answer can be
 * reused for the same request on a later day (docs/daily-exports.md). It is the sha256 of the
 * record's `modelInput` JSON text exactly as prepare writes it in the shard line, cut to its first
 * 32 hex digits (128 bits):
 *
 *   {"recordId":"<11 characters>","modelInput":<these bytes>}\n
 *
 * `recordRequest` is the one place that knows where those bytes are in a record line. prepare takes
 * the hash once per record, from the bytes it writes, in the stage-by-stage path (src/parallel/piece.ts,
 * and the engine for records made on the main thread) and in the fused path (src/parallel/fused.ts)
 * alike: both write the same bytes for a record (test/prepare/fused.test.ts), so the same hash. It
 * goes into the record's lineage line (`request`, src/run/sidecars.ts); collect copies it from there
 * into the results (src/results/join.ts) and never hashes Bedrock's echo of the modelInput, whose
 * key order and escapes are not documented (docs/bedrock.md §2.2). `prepare --skip-answered` compares
 * the hash of the record it just built with the results' `request`.
 *
 * Measured on this machine: docs/daily-exports.md, "What it costs".
 */
import * as crypto from 'node:crypto';
import { BatchError } from '../errors.js';

/** Hex digits of the sha256 kept in a request hash. */
export const REQUEST_HASH_HEX = 32;

/** `{"recordId":"` and `","modelInput":` around the 11-character id: how every record line starts. */
const HEAD = '{"recordId":"';
const MID = '","modelInput":';
const HEAD_BYTES = Buffer.from(HEAD);
const MID_BYTES = Buffer.from(MID);
const ID_AT = HEAD.length;
/** Where a record line's modelInput starts, from the line's start. */
const INPUT_AT = HEAD.length + 11 + MID.length;

/** sha256 in hex: one-shot `crypto.hash` where Node has it (20.12 and later), else a Hash object. */
const sha256Hex: (data: Buffer | string) => string =
  typeof (crypto as { hash?: unknown }).hash === 'function'
    ? (data) => crypto.hash('sha256', data, 'hex')
    : (data) => crypto.createHash('sha256').update(data).digest('hex');

/**
 * The request hash of the record line `line[start, end)`, its newline included (a string as the
 * validate stage serialises it, or its UTF-8 bytes): sha256 of the bytes from the modelInput's
 * first byte to the line's closing `}`, first 32 hex digits. A line not laid out as a record line
 * is a bug of its writer: E_INTERNAL.
 */
export function recordRequest(line: Buffer | string, start = 0, end = line.length): string {
  const inputAt = start + INPUT_AT;
  const inputEnd = end - 2;
  if (typeof line === 'string') {
    if (inputEnd > inputAt && line.startsWith(HEAD, start) && line.startsWith(MID, start + ID_AT + 11) && line.charCodeAt(inputEnd) === 0x7d && line.charCodeAt(end - 1) === 0x0a) {
      return sha256Hex(line.slice(inputAt, inputEnd)).slice(0, REQUEST_HASH_HEX);
    }
  } else if (
    inputEnd > inputAt &&
    end <= line.length &&
    line.compare(HEAD_BYTES, 0, HEAD_BYTES.length, start, start + ID_AT) === 0 &&
    line.compare(MID_BYTES, 0, MID_BYTES.length, start + ID_AT + 11, inputAt) === 0 &&
    line[inputEnd] === 0x7d &&
    line[end - 1] === 0x0a
  ) {
    return sha256Hex(line.subarray(inputAt, inputEnd)).slice(0, REQUEST_HASH_HEX);
  }
  throw new BatchError('E_INTERNAL', `a record line (${end - start} bytes) is not laid out as {"recordId":"<11 characters>","modelInput":...}\\n: its request hash cannot be taken`, {
    hint: 'this is a bug in the code that wrote the record; please report it',
  });
}
