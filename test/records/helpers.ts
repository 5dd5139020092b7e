/** Helpers for the recordId tests: an id stage run without a stream, and the documented base-62 rule written out on its own. */
import type { assignIds } from '../../src/records/ids.js';
import type { PreparedRecord, Reject } from '../../src/records/types.js';

/** What the id stage emits for these items, in order. */
export function run(step: ReturnType<typeof assignIds>, items: readonly (PreparedRecord | Reject)[]): (PreparedRecord | Reject)[] {
  const out: (PreparedRecord | Reject)[] = [];
  for (const i of items) step.write(i, (o) => out.push(o as PreparedRecord | Reject));
  return out;
}

/** `v` (below 2^64) as 11 base-62 digits, 0-9 then A-Z then a-z: the ids' alphabet, independently of src/records/ids.ts. */
export function base62(v: bigint): string {
  const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  let s = '';
  for (let i = 0; i < 11; i++) {
    s = alphabet[Number(v % 62n)] + s;
    v /= 62n;
  }
  return s;
}
