/**
 * JSON.parse errors, told without any of the input. V8 quotes a piece of the input in some of its
 * messages (`Unexpected token 'Z', "...Zebediah Q"... is not valid JSON`), and those forms carry no
 * position; so on a failed parse (the rare path) the text is walked by a small JSON syntax checker
 * that finds the first error's position and names it in fixed words. A reason is then those words,
 * the line and the column: never a character of the input.
 */

export interface JsonSyntaxError {
  /** Index (UTF-16) of the first error in the text. */
  pos: number;
  /** What is wrong there, in fixed words. */
  what: string;
}

const enum Want {
  Value,
  /** Just after `[`: a value or `]`. */
  ValueOrClose,
  /** Just after `{`: a key or `}`. */
  KeyOrClose,
  /** After a comma in an object. */
  Key,
  Colon,
  CommaOrClose,
}

const isDigit = (c: number) => c >= 48 && c <= 57;
const isHex = (c: number) => isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);

/** The first syntax error of a JSON text (RFC 8259), or undefined when it is valid JSON. */
export function jsonSyntaxError(text: string): JsonSyntaxError | undefined {
  const n = text.length;
  const stack: number[] = []; // 123 `{` or 91 `[`
  let want: Want = Want.Value;
  let i = 0;
  const string = (start: number): number | JsonSyntaxError => {
    let j = start + 1;
    for (;;) {
      if (j >= n) return { pos: start, what: 'a string is not closed' };
      const c = text.charCodeAt(j);
      if (c === 34) return j + 1;
      if (c === 92) {
        const e = text.charCodeAt(j + 1);
        if (e === 117 /* u */) {
          for (let k = 2; k < 6; k++) if (!isHex(text.charCodeAt(j + k))) return { pos: j, what: 'a bad \\u escape in a string' };
          j += 6;
        } else if (e === 34 || e === 92 || e === 47 || e === 98 || e === 102 || e === 110 || e === 114 || e === 116) j += 2;
        else return { pos: j, what: 'a bad escape (a backslash not followed by one of "\\/bfnrtu) in a string' };
        continue;
      }
      if (c < 0x20) return { pos: j, what: 'a control character (a tab or a line break, say) inside a string' };
      j++;
    }
  };
  const number = (start: number): number | JsonSyntaxError => {
    let j = start;
    if (text.charCodeAt(j) === 45) j++;
    if (!isDigit(text.charCodeAt(j))) return { pos: start, what: 'a malformed number' };
    if (text.charCodeAt(j) === 48) {
      j++;
      if (isDigit(text.charCodeAt(j))) return { pos: start, what: 'a number with a leading zero' };
    } else while (isDigit(text.charCodeAt(j))) j++;
    if (text.charCodeAt(j) === 46) {
      j++;
      if (!isDigit(text.charCodeAt(j))) return { pos: start, what: 'a malformed number' };
      while (isDigit(text.charCodeAt(j))) j++;
    }
    const e = text.charCodeAt(j);
    if (e === 101 || e === 69) {
      j++;
      const s = text.charCodeAt(j);
      if (s === 43 || s === 45) j++;
      if (!isDigit(text.charCodeAt(j))) return { pos: start, what: 'a malformed number' };
      while (isDigit(text.charCodeAt(j))) j++;
    }
    return j;
  };
  for (;;) {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 32 || c === 9 || c === 10 || c === 13) i++;
      else break;
    }
    if (i >= n) {
      if (want === Want.CommaOrClose && stack.length === 0) return undefined;
      return { pos: n, what: stack.length > 0 ? 'the JSON ends before an object or array is closed' : 'the JSON ends too early' };
    }
    const c = text.charCodeAt(i);
    switch (want) {
      case Want.Value:
      case Want.ValueOrClose: {
        if (want === Want.ValueOrClose && c === 93) {
          stack.pop();
          i++;
          want = Want.CommaOrClose;
          continue;
        }
        let end: number | JsonSyntaxError;
        if (c === 123 || c === 91) {
          stack.push(c);
          i++;
          want = c === 123 ? Want.KeyOrClose : Want.ValueOrClose;
          continue;
        } else if (c === 34) end = string(i);
        else if (c === 45 || isDigit(c)) end = number(i);
        else if (text.startsWith('true', i)) end = i + 4;
        else if (text.startsWith('false', i)) end = i + 5;
        else if (text.startsWith('null', i)) end = i + 4;
        else return { pos: i, what: 'an unexpected character where a value should be' };
        if (typeof end !== 'number') return end;
        i = end;
        want = Want.CommaOrClose;
        continue;
      }
      case Want.KeyOrClose:
      case Want.Key: {
        if (want === Want.KeyOrClose && c === 125) {
          stack.pop();
          i++;
          want = Want.CommaOrClose;
          continue;
        }
        if (c !== 34) return { pos: i, what: 'a property name in double quotes should be here' };
        const end = string(i);
        if (typeof end !== 'number') return end;
        i = end;
        want = Want.Colon;
        continue;
      }
      case Want.Colon:
        if (c !== 58) return { pos: i, what: 'a colon should follow the property name' };
        i++;
        want = Want.Value;
        continue;
      case Want.CommaOrClose: {
        const top = stack[stack.length - 1];
        if (top === undefined) return { pos: i, what: 'more text after the end of the JSON value' };
        if (c === 44) {
          i++;
          want = top === 123 ? Want.Key : Want.Value;
          continue;
        }
        if ((top === 123 && c === 125) || (top === 91 && c === 93)) {
          stack.pop();
          i++;
          continue;
        }
        return { pos: i, what: top === 123 ? 'a comma or } should follow the property value' : 'a comma or ] should follow the array element' };
      }
    }
  }
}

/**
 * A short reason for a JSON.parse error of `text` (whose first character is on line `firstLine`),
 * with the line and column of the error: fixed words and numbers only, never the input's text.
 */
export function jsonParseReason(error: unknown, text: string, firstLine = 1): { reason: string; line: number } {
  const found = jsonSyntaxError(text);
  let pos: number | undefined = found?.pos;
  let what = found?.what;
  if (found === undefined) {
    // The checker and JSON.parse disagree (it should not happen): keep V8's position, not its words.
    const message = error instanceof Error ? error.message : String(error);
    const m = /at position (\d+)/.exec(message);
    if (m) pos = Number(m[1]);
    what = 'invalid JSON';
  }
  if (pos === undefined) return { reason: what!, line: firstLine };
  let lines = 0;
  let lastNl = -1;
  for (let i = text.indexOf('\n'); i >= 0 && i < pos; i = text.indexOf('\n', i + 1)) {
    lines++;
    lastNl = i;
  }
  const line = firstLine + lines;
  return { reason: `${what} at line ${line}, column ${pos - lastNl}`, line };
}

/** True for a plain JSON object (not null, not an array). */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The JSON type name of a value, for E_NOT_AN_OBJECT reasons. */
export function jsonTypeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}
