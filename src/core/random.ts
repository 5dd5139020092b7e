/**
 * The toolkit's one seeded PRNG (mulberry32): a small, fast stream of numbers in [0, 1) that is the
 * same for the same seed on every run and machine. It makes the local service's faults, the test
 * corpora, the benchmark exports and the sample fixtures repeatable; it is not for anything that
 * must be unpredictable.
 */

/** A stream of numbers in [0, 1). */
export type Random = () => number;

/** mulberry32 from a 32-bit seed (`seed >>> 0`). */
export function mulberry32(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
