/**
 * A small EventBridge event-pattern matcher for the deploy tests: the parts of
 * https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html that the deploy
 * template's rule uses. A pattern is an object whose leaves are arrays of alternatives; an event
 * matches when every field the pattern names is present and matches one of its alternatives. An
 * alternative is an exact value (string, number, boolean, null) or `{"prefix": "..."}`; an event
 * value that is an array matches when one of its elements does. Any other operator (`suffix`,
 * `anything-but`, `numeric`, `exists`, `wildcard`, ...) throws, so a pattern this matcher does not
 * understand can never pass a test by accident.
 */

export type EventPattern = { [field: string]: EventPattern | readonly unknown[] };

const OPERATORS = new Set(['prefix']);

/** Whether `event` matches `pattern` (EventBridge semantics for exact values and `prefix`). */
export function matchesPattern(pattern: EventPattern, event: unknown): boolean {
  if (typeof pattern !== 'object' || pattern === null || Array.isArray(pattern)) {
    throw new Error(`an event pattern is an object of fields, got ${JSON.stringify(pattern)}`);
  }
  if (typeof event !== 'object' || event === null || Array.isArray(event)) return false;
  const fields = event as Record<string, unknown>;
  for (const [name, want] of Object.entries(pattern)) {
    if (!Object.prototype.hasOwnProperty.call(fields, name)) return false;
    const value = fields[name];
    if (Array.isArray(want)) {
      if (want.length === 0) throw new Error(`the pattern's field "${name}" lists no value (EventBridge refuses an empty array)`);
      const values = Array.isArray(value) ? value : [value];
      if (!values.some((v) => want.some((alternative) => matchesValue(alternative, v, name)))) return false;
    } else if (!matchesPattern(want as EventPattern, value)) {
      return false;
    }
  }
  return true;
}

function matchesValue(alternative: unknown, value: unknown, field: string): boolean {
  if (alternative === null || typeof alternative !== 'object') return alternative === value;
  const keys = Object.keys(alternative);
  const op = keys[0];
  if (keys.length !== 1 || op === undefined || !OPERATORS.has(op)) {
    throw new Error(`the pattern's field "${field}" uses ${JSON.stringify(alternative)}: this matcher knows exact values and {"prefix": ...} only`);
  }
  const prefix = (alternative as { prefix: unknown }).prefix;
  if (typeof prefix !== 'string') throw new Error(`the pattern's field "${field}": prefix must be a string, got ${JSON.stringify(prefix)}`);
  return typeof value === 'string' && value.startsWith(prefix);
}
