/** JSON.parse error messages, made safe to show: V8 quotes a piece of the input in some of them. */

/** A short reason for a JSON.parse error, with the line and column when the message gives a position. */
export function jsonParseReason(error: unknown, text: string, firstLine = 1): { reason: string; line: number } {
  const message = error instanceof Error ? error.message : String(error);
  // V8: `Unexpected token 'x', "...text..." is not valid JSON`: drop the quoted text.
  let reason = message.replace(/,\s*(\.\.\.)?".*$/s, '').replace(/\s*in JSON at position \d+.*$/s, '');
  const m = /at position (\d+)/.exec(message);
  let line = firstLine;
  if (m) {
    const pos = Number(m[1]);
    let lines = 0;
    let lastNl = -1;
    for (let i = text.indexOf('\n'); i >= 0 && i < pos; i = text.indexOf('\n', i + 1)) {
      lines++;
      lastNl = i;
    }
    line = firstLine + lines;
    reason += ` at line ${line}, column ${pos - lastNl}`;
  }
  if (reason.length > 120) reason = `${reason.slice(0, 119)}…`;
  return { reason, line };
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
