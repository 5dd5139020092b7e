/** Telling parsed JSON values apart: the one test for "a JSON object" (not null, not an array). */

/** A JSON object: not null, not an array. */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Add counts by name (`{card: 2}`) into `into`; a value that is not a finite number is skipped. */
export function addCounts(into: Record<string, number>, counts: Readonly<Record<string, unknown>>): Record<string, number> {
  for (const k in counts) {
    const n = counts[k];
    if (typeof n === 'number' && Number.isFinite(n)) into[k] = (into[k] ?? 0) + n;
  }
  return into;
}
