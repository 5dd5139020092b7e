/**
 * JSON numbers kept as written. JSON.parse reads every number into a double, so
 * `12345678901234567891` and `12345678901234567892` both become 12345678901234567000, `1.0` becomes
 * 1 and `1e3` becomes 1000: two call ids would become one key, and two calls one prompt. Call ids
 * must stay exactly as written (docs/contracts.md, "Inputs").
 *
 * What is kept: the numbers that are direct values of the top-level object, the fields a call's id
 * is read from (a JSONL line, a JSON array element, a one-call JSON document). A number a double
 * holds exactly as written (`String(Number(text)) === text`: `42`, `-7`, `3.25`) stays a number, as
 * does every number deeper down (offsets, confidences). One that a double would change (more than
 * 15 significant digits, `1.0`, `1e3`, `-0`) is read as a string of its text.
 *
 * How: JSON.parse as usual; when the object it gives has top-level numbers (a string-only line
 * costs nothing more), the text is scanned for their literals, skipping strings with `indexOf`, and
 * stopping after the last of them (usually before the transcript). Only when one is inexact is the
 * text parsed again with quotes put around it. Node 20's JSON.parse has no reviver
 * `context.source` (Node 22+ only), hence the scan.
 */

const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/**
 * The [start, end) pairs of the top-level object's number values that a double would not keep as
 * written, or undefined when there is none (the common case); the scan stops after `limit`
 * top-level numbers. Meant for text JSON.parse has accepted.
 */
export function inexactTopLevelNumbers(text: string, limit = Infinity): number[] | undefined {
  const n = text.length;
  let seen = 0;
  let depth = 0;
  let objectTop = false;
  let spans: number[] | undefined;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 34) {
      let q = text.indexOf('"', i + 1);
      while (q > 0 && text.charCodeAt(q - 1) === 92) {
        let bs = 1;
        while (text.charCodeAt(q - 1 - bs) === 92) bs++;
        if ((bs & 1) === 0) break;
        q = text.indexOf('"', q + 1);
      }
      if (q < 0) return spans;
      i = q + 1;
      continue;
    }
    if (c === 123 || c === 91) {
      if (depth === 0) objectTop = c === 123;
      depth++;
    } else if (c === 125 || c === 93) depth--;
    else if (c === 45 || (c >= 48 && c <= 57)) {
      let j = i + 1;
      let plain = true; // digits only after an optional minus
      for (; j < n; j++) {
        const d = text.charCodeAt(j);
        if (d >= 48 && d <= 57) continue;
        if (d === 46 || d === 101 || d === 69 || d === 43 || d === 45) plain = false;
        else break;
      }
      if (depth === 1 && objectTop) {
        if (!exact(text, i, j, plain)) (spans ??= []).push(i, j);
        if (++seen >= limit) return spans;
      }
      i = j;
      continue;
    }
    i++;
  }
  return spans;
}

function exact(text: string, start: number, end: number, plain: boolean): boolean {
  const len = end - start;
  if (plain && len <= 15) return !(len === 2 && text.charCodeAt(start) === 45 && text.charCodeAt(start + 1) === 48); // -0
  const literal = text.slice(start, end);
  // Not a JSON number: left as it is, for JSON.parse to reject (quoting it would make it valid).
  if (!JSON_NUMBER.test(literal)) return true;
  return String(Number(literal)) === literal;
}

/**
 * JSON.parse, with the top-level object's numbers that a double would change read as strings of
 * their text (see the file comment). Throws what JSON.parse throws on invalid JSON. (With a key
 * given twice in one object, which JSON advises against, only as many top-level numbers as the
 * parsed object holds are looked at.)
 */
export function parseJsonKeepingNumbers(text: string): unknown {
  const value: unknown = JSON.parse(text);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  // Only the top-level numbers matter, and JSON.parse has just counted them: the scan stops after
  // the last one (usually before the transcript), and a line without any is not scanned at all.
  let numbers = 0;
  for (const k in value) if (typeof (value as Record<string, unknown>)[k] === 'number') numbers++;
  if (numbers === 0) return value;
  const spans = inexactTopLevelNumbers(text, numbers);
  if (spans === undefined) return value;
  let quoted = '';
  let at = 0;
  for (let k = 0; k < spans.length; k += 2) {
    quoted += `${text.slice(at, spans[k])}"${text.slice(spans[k], spans[k + 1])}"`;
    at = spans[k + 1]!;
  }
  quoted += text.slice(at);
  return JSON.parse(quoted);
}
