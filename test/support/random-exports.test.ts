/**
 * The differential tests are only as good as the exports they compare on: the generator must give
 * the same bytes for a seed, and across seeds actually hold the traps it promises.
 */
import { isUtf8 } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { randomCsvExport, randomJsonlExport } from './random-exports.js';

const SEEDS = Array.from({ length: 32 }, (_, i) => i + 1);

describe('random exports', () => {
  it('are the same bytes for the same seed, and differ across seeds', () => {
    expect(randomCsvExport(7).bytes.equals(randomCsvExport(7).bytes)).toBe(true);
    expect(randomJsonlExport(7).bytes.equals(randomJsonlExport(7).bytes)).toBe(true);
    expect(randomCsvExport(7).bytes.equals(randomCsvExport(8).bytes)).toBe(false);
  });

  it('hold the traps they promise, across the seeds the tests use', () => {
    const csv = SEEDS.map((s) => randomCsvExport(s));
    const bytes = Buffer.concat(csv.map((x) => x.bytes));
    const text = bytes.toString('utf8');
    const traits = new Set(csv.flatMap((x) => x.traits.map((t) => t.replace(/=.*/, ''))));
    for (const t of ['utterances', 'crlf', 'bom', 'bad-quote', 'no-final-newline', 'columns']) expect(traits, t).toContain(t);
    // every BOM trait is a real BOM, and a file without the trait has none
    for (const x of csv) expect(x.bytes.subarray(0, 3).equals(Buffer.from([0xef, 0xbb, 0xbf])), x.name).toBe(x.traits.includes('bom'));
    expect(csv.some((x) => !isUtf8(x.bytes))).toBe(true); // invalid UTF-8 rows
    for (const c of ['\u2028', '\u2029', '\u0085', '\u00a0', '\u3000', '\ufeff', '😀', '中', '""', '\r\n', '\\', '\u0001']) expect(text, JSON.stringify(c)).toContain(c);
    expect(csv.some((x) => !x.utterances)).toBe(true);
  });

  it('JSON Lines exports hold escapes, lone surrogates and lines that are not objects', () => {
    const text = Buffer.concat(SEEDS.slice(0, 12).map((s) => randomJsonlExport(100 + s).bytes)).toString('utf8');
    expect(text).toMatch(/\\u2028|\\ud[89ab][0-9a-f]{2}/i);
    const lines = text.split('\n').filter((l) => l.trim() !== '');
    const notObjects = lines.filter((l) => {
      try {
        const v: unknown = JSON.parse(l);
        return v === null || typeof v !== 'object' || Array.isArray(v);
      } catch {
        return true;
      }
    });
    expect(notObjects.length).toBeGreaterThan(0);
    expect(notObjects.length).toBeLessThan(lines.length / 5);
  });
});
