/**
 * One line of a Bedrock batch output file (docs/bedrock.md §2.2):
 *
 *   {"recordId":"...","modelInput":{...echoed...},"modelOutput":{...}}
 *   {"recordId":"...","modelInput":{...echoed...},"error":{"errorCode":400,"errorMessage":"..."}}
 *
 * The echoed modelInput is usually most of the line's bytes (a ~9 KB transcript in a ~11 KB line),
 * and only a retry needs it, as JSON text. So no reader here builds it, and collect does not even
 * check all of it. Three readers, each falling back on the next:
 *
 * - `skimOutputLine`, the answer-first reader (collect's, whenever the line's echo is not returned):
 *   follows the line's top-level members from its start; skips the echo by its grammar, finding
 *   where each of its strings ends by memchr; at the `modelOutput` or `error` key it JSON.parses
 *   the rest of the line up to its closing `}` (Bedrock writes the answer last).
 * - `scanOutputLine`, the strict scanner: walks the whole line's JSON grammar without building
 *   values, checking every string body as it goes (raw control characters, escapes; four bytes at
 *   a time on clean runs of text, a SWAR test on a Uint32Array view), notes where the top-level
 *   values sit and JSON.parses only those it returns.
 * - `parseOutputLineFull`: JSON.parse of the whole line, the reference.
 *
 * The rule they keep, which the differential tests (test/results/output-line.test.ts, and the traps
 * of test/results/output-traps.test.ts) hold them to:
 *
 * 1. What is returned is what JSON.parse of the whole line returns: the recordId, modelOutput and
 *    error values (and the echo's text, when asked for) are JSON.parsed from their own bytes, and
 *    they are the top-level members, found by following the grammar from the line's start (only
 *    keys at depth 1 count), never by searching: a `"modelOutput":` nested anywhere (in the model's
 *    own JSON, in the echoed input) or written inside a string is never taken for the key, and key
 *    order does not matter.
 * 2. Every byte of the line is checked as JSON.parse checks it (objects, keys, commas, colons,
 *    nesting, numbers, literals, white space, nothing after the closing `}`), except, in the
 *    answer-first reader only, the string bodies of the echoed modelInput: those are followed to
 *    their end as JSON.parse finds it (the first `"` after an even run of `\`), not checked for raw
 *    control characters or bad escapes. Such a fault, and only such a fault, lets a line JSON.parse
 *    refuses be read: its answer is sound, and its echo is not used. Whenever the echo is returned
 *    (`modelInput` 'always', or an error line under 'errors', which a retry needs), the strict
 *    scanner reads the line, so that text is always JSON.
 * 3. In doubt, a reader gives up (undefined) and the next decides: an escaped top-level key
 *    (`"model\u004futput"`), a repeated top-level key (JSON.parse keeps the last), a line with both
 *    or neither of modelOutput and error, nesting deeper than 512, anything unexpected.
 *    `parseOutputLine` chains them, so its result is always what the full parse gives (per rule 2).
 *
 * None of them checks UTF-8: each decodes with `toString('utf8')` (bad bytes become U+FFFD).
 */
import { jsonParseReason } from '../read/json-error.js';
import type { CollectResult } from './types.js';

/** What one output line says, decoded: the same from the fast path and the full parse. */
export interface OutputLine {
  /** The line's recordId, when it is a string. */
  recordId: string | undefined;
  /** The echoed modelInput as JSON text (for retries), when present and asked for. */
  modelInputJson: string | undefined;
  /** The parsed `modelOutput`, when the key is present (success line). */
  modelOutput: unknown;
  /**
   * The JSON text it was parsed from, when a fast reader read it, and where its bytes are in the
   * buffer read (valid while that buffer is): the writer takes the text's JSON from them.
   */
  modelOutputJson?: string | undefined;
  modelOutputStart?: number;
  modelOutputEnd?: number;
  hasModelOutput: boolean;
  /** The parsed `error`, when the key is present (failure line). */
  error: unknown;
  hasError: boolean;
}

export type ParseOutcome = { ok: true; value: OutputLine; fast: boolean } | { ok: false; reason: string };

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MAX_DEPTH = 512;

const KEY_RECORD_ID = 1;
const KEY_MODEL_INPUT = 2;
const KEY_MODEL_OUTPUT = 3;
const KEY_ERROR = 4;
const KEY_OTHER = 0;

/** Which top-level key the bytes [s, e) (without quotes, no backslashes) name. */
function keyId(b: Uint8Array, s: number, e: number): number {
  const n = e - s;
  // recordId, modelInput, modelOutput, error
  if (n === 8) {
    return b[s] === 0x72 && b[s + 1] === 0x65 && b[s + 2] === 0x63 && b[s + 3] === 0x6f && b[s + 4] === 0x72 &&
      b[s + 5] === 0x64 && b[s + 6] === 0x49 && b[s + 7] === 0x64 ? KEY_RECORD_ID : KEY_OTHER;
  }
  if (n === 10 || n === 11) {
    // "model"
    if (!(b[s] === 0x6d && b[s + 1] === 0x6f && b[s + 2] === 0x64 && b[s + 3] === 0x65 && b[s + 4] === 0x6c)) return KEY_OTHER;
    if (n === 10) {
      return b[s + 5] === 0x49 && b[s + 6] === 0x6e && b[s + 7] === 0x70 && b[s + 8] === 0x75 && b[s + 9] === 0x74 ? KEY_MODEL_INPUT : KEY_OTHER;
    }
    return b[s + 5] === 0x4f && b[s + 6] === 0x75 && b[s + 7] === 0x74 && b[s + 8] === 0x70 && b[s + 9] === 0x75 && b[s + 10] === 0x74
      ? KEY_MODEL_OUTPUT
      : KEY_OTHER;
  }
  if (n === 5) {
    return b[s] === 0x65 && b[s + 1] === 0x72 && b[s + 2] === 0x72 && b[s + 3] === 0x6f && b[s + 4] === 0x72 ? KEY_ERROR : KEY_OTHER;
  }
  return KEY_OTHER;
}

/** Bytes that may follow a backslash in a JSON string, and hex digits. */
const ESCAPE = new Uint8Array(256);
for (const c of '"\\/bfnrtu') ESCAPE[c.charCodeAt(0)] = 1;
const HEX = new Uint8Array(256);
for (const c of '0123456789abcdefABCDEF') HEX[c.charCodeAt(0)] = 1;

/** A Uint32Array over the whole of the last ArrayBuffer seen (offset 0, so word i is bytes 4i..4i+3). */
let viewOf: ArrayBufferLike | undefined;
let view: Uint32Array = new Uint32Array(0);
function wordsOf(b: Buffer): Uint32Array {
  if (b.buffer !== viewOf) {
    viewOf = b.buffer;
    view = new Uint32Array(b.buffer, 0, b.buffer.byteLength >>> 2);
  }
  return view;
}

/** String skipped: index past its closing quote; or one of these. */
const UNTERMINATED = -1;
const BAD_CONTENT = -2;

/**
 * Index just past the closing quote of the string opening at `i`, checking its body as JSON.parse
 * would (no raw control character, only valid escapes); UNTERMINATED or BAD_CONTENT otherwise.
 * Clean runs of text go four bytes at a time: a word with no `"`, no `\` and no byte below 0x20.
 */
function skipString(b: Buffer, words: Uint32Array, i: number, end: number): number {
  const off = b.byteOffset;
  const wordsEnd = (off + end) >>> 2; // words entirely before `end`
  let j = i + 1;
  while (j < end) {
    const abs = off + j;
    if ((abs & 3) === 0) {
      let w = abs >>> 2;
      for (; w < wordsEnd; w++) {
        const x = words[w]!;
        const q = x ^ 0x22222222;
        const s = x ^ 0x5c5c5c5c;
        if (((((x - 0x20202020) & ~x) | ((q - 0x01010101) & ~q) | ((s - 0x01010101) & ~s)) & 0x80808080) !== 0) break;
      }
      j = (w << 2) - off;
      if (j >= end) break;
    }
    const c = b[j]!;
    if (c === QUOTE) return j + 1;
    if (c === BACKSLASH) {
      const d = b[j + 1]!;
      if (j + 1 >= end || ESCAPE[d] === 0) return BAD_CONTENT;
      if (d === 0x75) {
        if (j + 5 >= end || !HEX[b[j + 2]!] || !HEX[b[j + 3]!] || !HEX[b[j + 4]!] || !HEX[b[j + 5]!]) return BAD_CONTENT;
        j += 6;
      } else {
        j += 2;
      }
      continue;
    }
    if (c < 0x20) return BAD_CONTENT;
    j++;
  }
  return UNTERMINATED;
}

/** Index just past the JSON number starting at `i`, or -1 when it is not one. */
function skipNumber(b: Uint8Array, i: number, end: number): number {
  let j = i;
  if (b[j] === 0x2d) j++;
  if (j >= end) return -1;
  if (b[j] === 0x30) j++;
  else if (b[j]! >= 0x31 && b[j]! <= 0x39) {
    j++;
    while (j < end && b[j]! >= 0x30 && b[j]! <= 0x39) j++;
  } else return -1;
  if (j < end && b[j] === 0x2e) {
    j++;
    const d = j;
    while (j < end && b[j]! >= 0x30 && b[j]! <= 0x39) j++;
    if (j === d) return -1;
  }
  if (j < end && (b[j] === 0x65 || b[j] === 0x45)) {
    j++;
    if (j < end && (b[j] === 0x2b || b[j] === 0x2d)) j++;
    const d = j;
    while (j < end && b[j]! >= 0x30 && b[j]! <= 0x39) j++;
    if (j === d) return -1;
  }
  return j;
}

function isWs(c: number | undefined): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

function literal(b: Uint8Array, i: number, end: number, word: readonly number[]): number {
  if (i + word.length > end) return -1;
  for (let k = 0; k < word.length; k++) if (b[i + k] !== word[k]) return -1;
  return i + word.length;
}
const TRUE = [0x74, 0x72, 0x75, 0x65];
const FALSE = [0x66, 0x61, 0x6c, 0x73, 0x65];
const NULL = [0x6e, 0x75, 0x6c, 0x6c];

/** Byte ranges of the top-level values the fast path found ([start, end), -1 when absent). */
export interface ScannedRanges {
  recordId: [number, number] | undefined;
  modelInput: [number, number] | undefined;
  modelOutput: [number, number] | undefined;
  error: [number, number] | undefined;
}

/** Scratch state of the scanner (it is synchronous, so one set serves every call). */
const STACK = new Uint8Array(MAX_DEPTH + 1);
/** [start, end) of the recordId, modelInput, modelOutput and error values; -1 when absent. */
const SPANS = new Int32Array(10);

const VALUE = 0;
const KEY_OR_CLOSE = 1;
const KEY = 2;
const COLON = 3;
const COMMA_OR_CLOSE = 4;
const VALUE_OR_CLOSE = 5;

/**
 * Walk the JSON of `line[start, end)` without building it, noting in SPANS where the four
 * top-level values are. False when the line is not a JSON object or anything about it is in doubt.
 */
function scan(b: Buffer, start: number, end: number): boolean {
  SPANS.fill(-1);
  const words = wordsOf(b);
  let i = start;
  while (i < end && isWs(b[i])) i++;
  if (b[i] !== 0x7b) return false;
  let depth = 0;
  let state = VALUE;
  let topKey = KEY_OTHER;
  let valueStart = -1;
  while (i < end) {
    const c = b[i]!;
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
      i++;
      continue;
    }
    let closed = -1; // set to the end of a value that ends at depth 1
    if (state === VALUE || state === VALUE_OR_CLOSE) {
      if (state === VALUE_OR_CLOSE && c === 0x5d) {
        depth--;
        i++;
        if (depth === 1) closed = i;
        state = COMMA_OR_CLOSE;
      } else {
        if (depth === 1) valueStart = i;
        if (c === 0x7b || c === 0x5b) {
          if (depth === MAX_DEPTH) return false;
          STACK[++depth] = c === 0x7b ? 1 : 2;
          i++;
          state = c === 0x7b ? KEY_OR_CLOSE : VALUE_OR_CLOSE;
          continue;
        }
        if (depth === 0) return false; // a top-level value that is not an object
        let next: number;
        if (c === QUOTE) next = skipString(b, words, i, end);
        else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) next = skipNumber(b, i, end);
        else if (c === 0x74) next = literal(b, i, end, TRUE);
        else if (c === 0x66) next = literal(b, i, end, FALSE);
        else if (c === 0x6e) next = literal(b, i, end, NULL);
        else return false;
        if (next < 0) return false;
        i = next;
        if (depth === 1) closed = i;
        state = COMMA_OR_CLOSE;
      }
    } else if (state === KEY_OR_CLOSE || state === KEY) {
      if (state === KEY_OR_CLOSE && c === 0x7d) {
        depth--;
        i++;
        if (depth === 0) {
          while (i < end && isWs(b[i])) i++;
          return i === end;
        }
        if (depth === 1) closed = i;
        state = COMMA_OR_CLOSE;
      } else {
        if (c !== QUOTE) return false;
        const next = skipString(b, words, i, end);
        if (next < 0) return false;
        if (depth === 1) {
          // An escaped top-level key ("model\u004futput") could be any of ours: let JSON.parse read it.
          for (let k = i + 1; k < next - 1; k++) if (b[k] === BACKSLASH) return false;
          topKey = keyId(b, i + 1, next - 1);
        }
        i = next;
        state = COLON;
        continue;
      }
    } else if (state === COLON) {
      if (c !== 0x3a) return false;
      i++;
      state = VALUE;
      continue;
    } else {
      // COMMA_OR_CLOSE
      const open = STACK[depth];
      if (c === 0x2c) {
        i++;
        state = open === 1 ? KEY : VALUE;
        continue;
      }
      if (!((open === 1 && c === 0x7d) || (open === 2 && c === 0x5d))) return false;
      depth--;
      i++;
      if (depth === 0) {
        // the line's object is complete: only whitespace may follow
        while (i < end && isWs(b[i])) i++;
        return i === end;
      }
      if (depth === 1) closed = i;
    }
    if (closed >= 0 && topKey !== KEY_OTHER) {
      const at = (topKey - 1) << 1;
      if (SPANS[at] !== -1) return false; // a repeated key: JSON.parse keeps the last; let it decide
      SPANS[at] = valueStart;
      SPANS[at + 1] = closed;
    }
  }
  return false; // the line ended inside the object: truncated or broken
}

const span = (k: number): [number, number] | undefined => (SPANS[k << 1]! >= 0 ? [SPANS[k << 1]!, SPANS[(k << 1) + 1]!] : undefined);

/**
 * Walk the JSON of `line[start, end)` without building it. Returns where the four top-level
 * values are, or undefined when the line is not a JSON object or anything about it is in doubt.
 */
export function scanRanges(b: Buffer, start: number, end: number): ScannedRanges | undefined {
  if (!scan(b, start, end)) return undefined;
  return { recordId: span(0), modelInput: span(1), modelOutput: span(2), error: span(3) };
}

/** Which lines' echoed modelInput to decode into `modelInputJson`: most of a line's bytes, needed only for retries. */
export type ModelInputWanted = 'always' | 'errors' | 'never';

/** The fast path: the line decoded from its top-level ranges, or undefined when in doubt. */
export function scanOutputLine(b: Buffer, start = 0, end = b.length, modelInput: ModelInputWanted = 'always'): OutputLine | undefined {
  if (!scan(b, start, end)) return undefined;
  const rs = SPANS[0]!;
  const is = SPANS[2]!;
  const os = SPANS[4]!;
  const es = SPANS[6]!;
  let recordId: string | undefined;
  if (rs >= 0) {
    const v: unknown = JSON.parse(b.toString('utf8', rs, SPANS[1]));
    recordId = typeof v === 'string' ? v : undefined;
  }
  const want = is >= 0 && (modelInput === 'always' || (modelInput === 'errors' && (es >= 0 || os < 0)));
  const modelOutputJson = os >= 0 ? b.toString('utf8', os, SPANS[5]) : undefined;
  return {
    recordId,
    modelInputJson: want ? b.toString('utf8', is, SPANS[3]) : undefined,
    modelOutput: modelOutputJson !== undefined ? JSON.parse(modelOutputJson) : undefined,
    modelOutputJson,
    modelOutputStart: os,
    modelOutputEnd: SPANS[5]!,
    hasModelOutput: os >= 0,
    error: es >= 0 ? JSON.parse(b.toString('utf8', es, SPANS[7])) : undefined,
    hasError: es >= 0,
  };
}

/** Index past the string opening at `i` (its quote), found as JSON.parse finds it; its body unchecked. */
function skipStringBody(b: Buffer, i: number, end: number): number {
  let j = i + 1;
  // Short strings (keys, `"user"`, `"text"`) in a JS loop; a `\` takes the byte after it along.
  const near = Math.min(end, j + 32);
  while (j < near) {
    const c = b[j]!;
    if (c === QUOTE) return j + 1;
    j += c === BACKSLASH ? 2 : 1;
  }
  // Long ones (the transcript) by memchr: a `"` ends the string when the run of `\` before it is
  // even. `j` never stands inside an escape, so the run is counted back to `j` at most.
  for (;;) {
    if (j >= end) return UNTERMINATED;
    const q = b.indexOf(QUOTE, j);
    if (q < 0 || q >= end) return UNTERMINATED;
    let k = q - 1;
    while (k >= j && b[k] === BACKSLASH) k--;
    if (((q - 1 - k) & 1) === 0) return q + 1;
    j = q + 1;
  }
}

const ECHO_STACK = new Uint8Array(MAX_DEPTH + 1);

/**
 * Index past the JSON value at `i` (after white space), or -1. Its grammar is checked as JSON.parse
 * would (nesting, commas, colons, numbers, literals); its strings are only followed to their end
 * (`skipStringBody`) when `loose`, else checked too (`skipString`).
 */
function skipValue(b: Buffer, i: number, end: number, loose: boolean): number {
  const words = loose ? undefined : wordsOf(b);
  let depth = 0;
  let state = VALUE;
  while (i < end) {
    const c = b[i]!;
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
      i++;
      continue;
    }
    if (state === VALUE || state === VALUE_OR_CLOSE) {
      if (state === VALUE_OR_CLOSE && c === 0x5d) {
        i++;
        if (--depth === 0) return i;
        state = COMMA_OR_CLOSE;
        continue;
      }
      if (c === 0x7b || c === 0x5b) {
        if (depth === MAX_DEPTH) return -1;
        ECHO_STACK[++depth] = c === 0x7b ? 1 : 2;
        i++;
        state = c === 0x7b ? KEY_OR_CLOSE : VALUE_OR_CLOSE;
        continue;
      }
      let next: number;
      if (c === QUOTE) next = loose ? skipStringBody(b, i, end) : skipString(b, words!, i, end);
      else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) next = skipNumber(b, i, end);
      else if (c === 0x74) next = literal(b, i, end, TRUE);
      else if (c === 0x66) next = literal(b, i, end, FALSE);
      else if (c === 0x6e) next = literal(b, i, end, NULL);
      else return -1;
      if (next < 0 || depth === 0) return next;
      i = next;
      state = COMMA_OR_CLOSE;
    } else if (state === KEY_OR_CLOSE || state === KEY) {
      if (state === KEY_OR_CLOSE && c === 0x7d) {
        i++;
        if (--depth === 0) return i;
        state = COMMA_OR_CLOSE;
        continue;
      }
      if (c !== QUOTE) return -1;
      const next = loose ? skipStringBody(b, i, end) : skipString(b, words!, i, end);
      if (next < 0) return -1;
      i = next;
      state = COLON;
    } else if (state === COLON) {
      if (c !== 0x3a) return -1;
      i++;
      state = VALUE;
    } else {
      const open = ECHO_STACK[depth];
      if (c === 0x2c) {
        i++;
        state = open === 1 ? KEY : VALUE;
        continue;
      }
      if (!((open === 1 && c === 0x7d) || (open === 2 && c === 0x5d))) return -1;
      i++;
      if (--depth === 0) return i;
    }
  }
  return -1;
}

/** The value of a top-level string span [s, e) (quotes included): plain ASCII read off the bytes, else JSON.parse. */
function stringAt(b: Buffer, s: number, e: number): unknown {
  for (let k = s + 1; k < e - 1; k++) {
    const c = b[k]!;
    if (c < 0x20 || c > 0x7e || c === BACKSLASH) return JSON.parse(b.toString('utf8', s, e));
  }
  return b.toString('latin1', s + 1, e - 1);
}

/**
 * The answer-first reader, for lines whose echoed modelInput is not returned (`modelInput` is
 * 'never', or 'errors' on a success line). It reads the line's top-level members in order: the
 * recordId and any other member as `scan` does, byte for byte; the echoed modelInput by its grammar
 * only (`skipValue` loose: where each of its strings ends is found as JSON.parse finds it, by
 * memchr, but its string bodies are not checked for raw control characters or bad escapes). At the
 * `modelOutput` or `error` key it tries the answer as the line's last member, as Bedrock writes
 * it: JSON.parse of the bytes up to the line's closing `}`, which also checks them; when that
 * fails the value is skipped strictly and the reading goes on. Undefined whenever in doubt, as
 * `scan` (an escaped or repeated top-level key, no answer, a line that does not close), and when
 * the line's modelInput is wanted after all (an error line under 'errors'): the strict reader then
 * decides.
 */
export function skimOutputLine(b: Buffer, start = 0, end = b.length, modelInput: ModelInputWanted = 'never'): OutputLine | undefined {
  if (modelInput === 'always') return undefined;
  let i = start;
  while (i < end && isWs(b[i])) i++;
  if (b[i] !== 0x7b) return undefined;
  i++;
  let rs = -1;
  let re = -1;
  let seen = 0; // bit per key of ours met
  let answerKey = KEY_OTHER;
  let answer: unknown;
  let answerJson: string | undefined;
  let answerStart = -1;
  let answerEnd = -1;
  for (;;) {
    while (i < end && isWs(b[i])) i++;
    if (b[i] !== QUOTE) return undefined; // `{}` and the like: the strict reader decides
    const ks = i + 1;
    let ke = ks;
    while (ke < end && b[ke] !== QUOTE) {
      if (b[ke] === BACKSLASH || b[ke]! < 0x20) return undefined; // an escaped key could be one of ours
      ke++;
    }
    if (ke >= end) return undefined;
    const key = keyId(b, ks, ke);
    if (key !== KEY_OTHER) {
      if (seen & (1 << key)) return undefined; // repeated: JSON.parse keeps the last; let the strict reader decide
      seen |= 1 << key;
    }
    i = ke + 1;
    while (i < end && isWs(b[i])) i++;
    if (b[i] !== 0x3a) return undefined;
    i++;
    while (i < end && isWs(b[i])) i++;
    let next: number;
    if (key === KEY_MODEL_OUTPUT || key === KEY_ERROR) {
      if (answerKey !== KEY_OTHER) return undefined; // both an answer and an error: rare, the strict reader reads it
      // an error line's echo goes to its retry: the strict reader checks it and returns its text
      if (key === KEY_ERROR && modelInput === 'errors') return undefined;
      answerKey = key;
      let e = end;
      while (e > i && isWs(b[e - 1])) e--;
      if (b[e - 1] === 0x7d) {
        // the answer last, as Bedrock writes it: the value is every byte up to the closing `}`
        try {
          answerJson = b.toString('utf8', i, e - 1);
          answer = JSON.parse(answerJson);
          answerStart = i;
          answerEnd = e - 1;
          break;
        } catch {
          // not the last member, or not JSON: read on
        }
      }
      next = skipValue(b, i, end, false);
      if (next < 0) return undefined;
      answerStart = i;
      answerEnd = next;
    } else {
      next = skipValue(b, i, end, key === KEY_MODEL_INPUT);
      if (next < 0) return undefined;
      if (key === KEY_RECORD_ID) {
        rs = i;
        re = next;
      }
    }
    i = next;
    while (i < end && isWs(b[i])) i++;
    if (b[i] === 0x2c) {
      i++;
      continue;
    }
    if (b[i] !== 0x7d) return undefined;
    i++;
    while (i < end && isWs(b[i])) i++;
    if (i !== end) return undefined;
    if (answerStart < 0) return undefined; // neither modelOutput nor error
    answerJson = b.toString('utf8', answerStart, answerEnd);
    answer = JSON.parse(answerJson);
    break;
  }
  const isError = answerKey === KEY_ERROR;
  let recordId: string | undefined;
  if (rs >= 0) {
    const v = b[rs] === QUOTE ? stringAt(b, rs, re) : undefined;
    recordId = typeof v === 'string' ? v : undefined;
  }
  return {
    recordId,
    modelInputJson: undefined,
    modelOutput: isError ? undefined : answer,
    modelOutputJson: isError ? undefined : answerJson,
    modelOutputStart: answerStart,
    modelOutputEnd: answerEnd,
    hasModelOutput: !isError,
    error: isError ? answer : undefined,
    hasError: isError,
  };
}

/**
 * Where a success result's text was read from: the JSON text of its line's `modelOutput` and the
 * bytes it was decoded from (`text` is the value the join read out of it). The join attaches it as
 * a non-enumerable property, so that the JSONL writer (writers.ts) can take the text's JSON token out of it
 * (`jsonStringAt`) rather than JSON.stringify the text again, and copy that token's UTF-8 bytes
 * rather than encode it: for a summary of a few hundred words, those two are most of the cost of
 * writing a result. It is held only while the result's batch is being handed on (the Collector
 * releases it when the next batch is asked for), so that a caller who keeps results does not keep
 * their lines' text twice over. A result without it, or whose text was changed since, is written
 * from its text.
 */
export const TEXT_SOURCE: unique symbol = Symbol('bedrock-batch.textSource');
export interface TextSource {
  text: string;
  json: string;
  /** What `json` was decoded from (`toString('utf8')`), copied. */
  bytes: Buffer;
}

/** Attach where `r.text` was read from (see TEXT_SOURCE): `json` decoded from `bytes`, which are copied (the caller's buffer is reused). */
export function setTextSource(r: CollectResult, text: string, json: string, bytes: Buffer): void {
  Object.defineProperty(r, TEXT_SOURCE, { value: { text, json, bytes: copyOf(bytes) } satisfies TextSource, enumerable: false, writable: true });
}

/** Copies are cut from a slab of this size (cheaper than a Buffer.from each); a larger one gets its own. */
const SLAB = 64 * 1024;
let slab = Buffer.allocUnsafe(0);
let slabUsed = 0;
function copyOf(bytes: Buffer): Buffer {
  const n = bytes.length;
  if (n > SLAB / 4) return Buffer.from(bytes);
  if (slabUsed + n > slab.length) {
    slab = Buffer.allocUnsafe(SLAB);
    slabUsed = 0;
  }
  bytes.copy(slab, slabUsed);
  const copy = slab.subarray(slabUsed, slabUsed + n);
  slabUsed += n;
  return copy;
}

/** Drop the text sources of results handed on (see TEXT_SOURCE). */
export function releaseTextSources(results: readonly CollectResult[]): void {
  for (const r of results) {
    const held = r as { [TEXT_SOURCE]?: TextSource | undefined };
    if (held[TEXT_SOURCE] !== undefined) held[TEXT_SOURCE] = undefined;
  }
}

/** The reference: JSON.parse of the whole line. Throws a SyntaxError when the line is not JSON. */
export function parseOutputLineFull(b: Buffer, start = 0, end = b.length, modelInput: ModelInputWanted = 'always'): OutputLine | { notAnObject: true } {
  const v: unknown = JSON.parse(b.toString('utf8', start, end));
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { notAnObject: true };
  const o = v as Record<string, unknown>;
  const hasModelOutput = Object.hasOwn(o, 'modelOutput');
  const hasError = Object.hasOwn(o, 'error');
  const want = Object.hasOwn(o, 'modelInput') && (modelInput === 'always' || (modelInput === 'errors' && (hasError || !hasModelOutput)));
  return {
    recordId: typeof o.recordId === 'string' ? o.recordId : undefined,
    modelInputJson: want ? JSON.stringify(o.modelInput) : undefined,
    modelOutput: o.modelOutput,
    hasModelOutput,
    error: o.error,
    hasError,
  };
}

/** Parse one output line: the answer-first reader, then the strict scanner, then the full parse (see the module comment). */
export function parseOutputLine(b: Buffer, start = 0, end = b.length, modelInput: ModelInputWanted = 'always'): ParseOutcome {
  const fast = skimOutputLine(b, start, end, modelInput) ?? scanOutputLine(b, start, end, modelInput);
  if (fast) return { ok: true, value: fast, fast: true };
  let full: OutputLine | { notAnObject: true };
  try {
    full = parseOutputLineFull(b, start, end, modelInput);
  } catch (error) {
    // fixed words and a column: V8's message quotes the line, which holds transcript and model text
    const { reason } = jsonParseReason(error, b.toString('utf8', start, end));
    return { ok: false, reason: `not valid JSON (${reason.replace(/ at line 1,/, ' at')})` };
  }
  if ('notAnObject' in full) return { ok: false, reason: 'not a JSON object' };
  return { ok: true, value: full, fast: false };
}

/** The recordId at the start of a line that could not be parsed (Bedrock writes it first), if any. */
export function sniffRecordId(b: Buffer, start: number, end: number): string | undefined {
  const head = b.toString('latin1', start, Math.min(end, start + 256));
  const m = /^\s*\{\s*"recordId"\s*:\s*"([A-Za-z0-9_-]{1,128})"/.exec(head);
  return m ? m[1] : undefined;
}
