/**
 * One line of a Bedrock batch output file (bedrock-batch-facts.md §2.2):
 *
 *   {"recordId":"...","modelInput":{...echoed...},"modelOutput":{...}}
 *   {"recordId":"...","modelInput":{...echoed...},"error":{"errorCode":400,"errorMessage":"..."}}
 *
 * The echoed modelInput is usually most of the line's bytes, and nothing here needs it decoded
 * (retries need its JSON text, not its value). So the fast path never builds it: `scanOutputLine`
 * walks the line's JSON grammar without building values, skipping string bodies with a native
 * `indexOf('"')`, notes where the top-level `recordId`, `modelInput`, `modelOutput` and `error`
 * values sit, and JSON.parses only those it returns (the small ones). Key order does not matter,
 * and a `"modelOutput":` nested anywhere (in the model's own JSON, in the echoed input) is never
 * taken for the top-level key, because only keys at depth 1 count.
 *
 * It accepts exactly what JSON.parse accepts, or it gives up and says so (`undefined`): the grammar
 * outside strings is checked byte by byte; inside strings one regex over the line checks for raw
 * control characters and bad escapes (and gives up on any doubtful backslash); an escaped key
 * (`"model\u004futput"`), a repeated top-level key, nesting deeper than 512, or anything
 * unexpected also makes it give up. `parseOutputLine` then falls back to JSON.parse of the whole
 * line (`parseOutputLineFull`), so the result is always what a full parse gives. The differential
 * test (test/results/output-line.test.ts) holds the two to that on nasty and fuzzed lines.
 *
 * Neither path checks UTF-8: both decode with `toString('utf8')` (bad bytes become U+FFFD).
 */

/** What one output line says, decoded: the same from the fast path and the full parse. */
export interface OutputLine {
  /** The line's recordId, when it is a string. */
  recordId: string | undefined;
  /** The echoed modelInput as JSON text (for retries), when present. */
  modelInputJson: string | undefined;
  /** The parsed `modelOutput`, when the key is present (success line). */
  modelOutput: unknown;
  hasModelOutput: boolean;
  /** The parsed `error`, when the key is present (failure line). */
  error: unknown;
  hasError: boolean;
}

export type ParseOutcome = { ok: true; value: OutputLine; fast: boolean } | { ok: false; reason: string };

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MAX_DEPTH = 512;

/** Raw control characters, and backslashes not followed by a valid escape. */
const DOUBTFUL = /[\x00-\x1f]|\\(?:[^"\\/bfnrtu]|u(?![0-9a-fA-F]{4}))/;

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

/** Index just past the closing quote of the string opening at `i`, or -1 when it does not close before `end`. */
function skipString(b: Buffer, i: number, end: number): number {
  let j = i + 1;
  for (;;) {
    const q = b.indexOf(QUOTE, j);
    if (q < 0 || q >= end) return -1;
    let k = q - 1;
    let slashes = 0;
    while (k > i && b[k] === BACKSLASH) {
      slashes++;
      k--;
    }
    if ((slashes & 1) === 0) return q + 1;
    j = q + 1;
  }
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

/**
 * Walk the JSON of `line[start, end)` without building it. Returns where the four top-level
 * values are, or undefined when the line is not a JSON object or anything about it is in doubt.
 */
export function scanRanges(b: Buffer, start: number, end: number): ScannedRanges | undefined {
  // Raw control characters, bad escapes and doubtful backslashes: leave them to JSON.parse.
  if (DOUBTFUL.test(b.toString('latin1', start, end))) return undefined;
  const ranges: ScannedRanges = { recordId: undefined, modelInput: undefined, modelOutput: undefined, error: undefined };
  let i = start;
  while (i < end && isWs(b[i])) i++;
  if (b[i] !== 0x7b) return undefined;
  // A stack of open containers: 1 = object, 2 = array.
  const stack = new Uint8Array(MAX_DEPTH + 1);
  let depth = 0;
  /** What the next token must be. */
  const VALUE = 0;
  const KEY_OR_CLOSE = 1;
  const KEY = 2;
  const COLON = 3;
  const COMMA_OR_CLOSE = 4;
  const VALUE_OR_CLOSE = 5;
  let state = VALUE;
  let topKey = KEY_OTHER;
  let valueStart = -1;
  const found = [false, false, false, false, false];

  const closeTopValue = (valueEnd: number): boolean => {
    if (topKey !== KEY_OTHER) {
      if (found[topKey]) return false; // a repeated key: JSON.parse keeps the last; let it decide
      found[topKey] = true;
      const r: [number, number] = [valueStart, valueEnd];
      if (topKey === KEY_RECORD_ID) ranges.recordId = r;
      else if (topKey === KEY_MODEL_INPUT) ranges.modelInput = r;
      else if (topKey === KEY_MODEL_OUTPUT) ranges.modelOutput = r;
      else ranges.error = r;
    }
    return true;
  };

  while (i < end) {
    const c = b[i]!;
    if (isWs(c)) {
      i++;
      continue;
    }
    switch (state) {
      case VALUE:
      case VALUE_OR_CLOSE: {
        if (state === VALUE_OR_CLOSE && c === 0x5d) {
          // empty array
          depth--;
          i++;
          if (depth === 1 && !closeTopValue(i)) return undefined;
          state = COMMA_OR_CLOSE;
          if (depth === 0) return undefined; // the top level is an object, never an array
          break;
        }
        if (depth === 1) valueStart = i;
        if (c === 0x7b || c === 0x5b) {
          if (depth === MAX_DEPTH) return undefined;
          stack[++depth] = c === 0x7b ? 1 : 2;
          i++;
          state = c === 0x7b ? KEY_OR_CLOSE : VALUE_OR_CLOSE;
          break;
        }
        if (depth === 0) return undefined; // a top-level value that is not an object
        let next: number;
        if (c === QUOTE) next = skipString(b, i, end);
        else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) next = skipNumber(b, i, end);
        else if (c === 0x74) next = literal(b, i, end, TRUE);
        else if (c === 0x66) next = literal(b, i, end, FALSE);
        else if (c === 0x6e) next = literal(b, i, end, NULL);
        else return undefined;
        if (next < 0) return undefined;
        i = next;
        if (depth === 1 && !closeTopValue(i)) return undefined;
        state = COMMA_OR_CLOSE;
        break;
      }
      case KEY_OR_CLOSE:
      case KEY: {
        if (state === KEY_OR_CLOSE && c === 0x7d) {
          depth--;
          i++;
          if (depth === 0) {
            // the line's object is complete: only whitespace may follow
            while (i < end && isWs(b[i])) i++;
            return i === end ? ranges : undefined;
          }
          if (depth === 1 && !closeTopValue(i)) return undefined;
          state = COMMA_OR_CLOSE;
          break;
        }
        if (c !== QUOTE) return undefined;
        const next = skipString(b, i, end);
        if (next < 0) return undefined;
        if (depth === 1) {
          // An escaped top-level key ("model\u004futput") could be any of ours: let JSON.parse read it.
          const ks = i + 1;
          const ke = next - 1;
          const slash = b.indexOf(BACKSLASH, ks);
          if (slash >= 0 && slash < ke) return undefined;
          topKey = keyId(b, ks, ke);
        }
        i = next;
        state = COLON;
        break;
      }
      case COLON:
        if (c !== 0x3a) return undefined;
        i++;
        state = VALUE;
        break;
      case COMMA_OR_CLOSE: {
        const open = stack[depth];
        if (c === 0x2c) {
          i++;
          state = open === 1 ? KEY : VALUE;
          break;
        }
        if ((open === 1 && c === 0x7d) || (open === 2 && c === 0x5d)) {
          depth--;
          i++;
          if (depth === 0) {
            while (i < end && isWs(b[i])) i++;
            return i === end ? ranges : undefined;
          }
          if (depth === 1 && !closeTopValue(i)) return undefined;
          state = COMMA_OR_CLOSE;
          break;
        }
        return undefined;
      }
    }
  }
  return undefined; // the line ended inside the object: truncated or broken
}

function parseRange(b: Buffer, r: [number, number]): unknown {
  return JSON.parse(b.toString('utf8', r[0], r[1]));
}

/** The fast path: the line decoded from its top-level ranges, or undefined when in doubt. */
export function scanOutputLine(b: Buffer, start = 0, end = b.length): OutputLine | undefined {
  const r = scanRanges(b, start, end);
  if (!r) return undefined;
  let recordId: string | undefined;
  if (r.recordId) {
    const v = parseRange(b, r.recordId);
    recordId = typeof v === 'string' ? v : undefined;
  }
  return {
    recordId,
    modelInputJson: r.modelInput ? b.toString('utf8', r.modelInput[0], r.modelInput[1]) : undefined,
    modelOutput: r.modelOutput ? parseRange(b, r.modelOutput) : undefined,
    hasModelOutput: r.modelOutput !== undefined,
    error: r.error ? parseRange(b, r.error) : undefined,
    hasError: r.error !== undefined,
  };
}

/** The reference: JSON.parse of the whole line. Throws a SyntaxError when the line is not JSON. */
export function parseOutputLineFull(b: Buffer, start = 0, end = b.length): OutputLine | { notAnObject: true } {
  const v: unknown = JSON.parse(b.toString('utf8', start, end));
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { notAnObject: true };
  const o = v as Record<string, unknown>;
  return {
    recordId: typeof o.recordId === 'string' ? o.recordId : undefined,
    modelInputJson: Object.hasOwn(o, 'modelInput') ? JSON.stringify(o.modelInput) : undefined,
    modelOutput: o.modelOutput,
    hasModelOutput: Object.hasOwn(o, 'modelOutput'),
    error: o.error,
    hasError: Object.hasOwn(o, 'error'),
  };
}

/** Parse one output line: the fast path, falling back to a full parse whenever it is in doubt. */
export function parseOutputLine(b: Buffer, start = 0, end = b.length): ParseOutcome {
  const fast = scanOutputLine(b, start, end);
  if (fast) return { ok: true, value: fast, fast: true };
  let full: OutputLine | { notAnObject: true };
  try {
    full = parseOutputLineFull(b, start, end);
  } catch (error) {
    return { ok: false, reason: `not valid JSON (${(error as Error).message.replace(/\s+/g, ' ').slice(0, 120)})` };
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
