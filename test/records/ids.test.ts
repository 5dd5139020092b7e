import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assignIds, base62of64, idSource, recordIdFor, RECORD_ID_PATTERN } from '../../src/records/ids.js';
import { FingerprintSet } from '../../src/records/fingerprints.js';
import type { PreparedRecord, Reject } from '../../src/records/types.js';
import { base62, run } from './helpers.js';

function rec(key: string, file = 'calls.csv', line = 2): PreparedRecord {
  return { kind: 'record', recordId: '', modelInput: { prompt: 'x' }, file, line, key };
}

describe('base62of64', () => {
  it('writes 64-bit values as 11 alphanumeric characters, injectively at the edges', () => {
    expect(base62of64(0, 0)).toBe('00000000000');
    expect(base62of64(0, 61)).toBe('0000000000z');
    expect(base62of64(0, 62)).toBe('00000000010');
    // 2^64 - 1 = 18446744073709551615 = "LygHa16AHYF" in base 62 with this alphabet
    expect(base62of64(0xffffffff, 0xffffffff)).toBe('LygHa16AHYF');
    expect(base62of64(1, 0)).toBe(base62(2n ** 32n));
  });

  it('agrees with BigInt arithmetic on random values', () => {
    for (let i = 0; i < 2000; i++) {
      const hi = Math.floor(Math.random() * 2 ** 32);
      const lo = Math.floor(Math.random() * 2 ** 32);
      expect(base62of64(hi, lo)).toBe(base62((BigInt(hi) << 32n) | BigInt(lo)));
    }
  });
});

describe('assignIds', () => {
  it('gives deterministic 11-character ids: same input, same ids', () => {
    const a = run(assignIds(), [rec('c1'), rec('c2')]) as PreparedRecord[];
    const b = run(assignIds(), [rec('c1'), rec('c2')]) as PreparedRecord[];
    expect(a.map((r) => r.recordId)).toEqual(b.map((r) => r.recordId));
    for (const r of a) expect(r.recordId).toMatch(RECORD_ID_PATTERN);
    expect(a[0]!.recordId).not.toBe(a[1]!.recordId);
    expect(a[0]!.recordId).toBe(recordIdFor('calls.csv', 'c1'));
  });

  it('the same call id in two files of one run is a duplicate: the first is kept, the second names both places', () => {
    const out = run(assignIds(), [rec('c1', 'a/calls.csv', 2), rec('c2', 'a/calls.csv', 3), rec('c1', 'b/calls-copy.csv', 7)]);
    expect(out.map((x) => (x as { kind: string }).kind)).toEqual(['record', 'record', 'reject']);
    expect(out[2]).toMatchObject({ code: 'E_DUPLICATE_KEY', file: 'b/calls-copy.csv', line: 7, key: 'c1', stage: 'ids' });
    expect((out[2] as Reject).reason).toMatch(/"c1" was already seen at a\/calls\.csv line 2; the first is kept.*--duplicates per-file/);
    // the ids are still a hash of the file and the key
    expect((out[0] as PreparedRecord).recordId).toBe(recordIdFor('a/calls.csv', 'c1'));
  });

  it('duplicates: per-file, for ids unique only within a file: the same call id in two files is two calls with two ids', () => {
    const out = run(assignIds({ duplicates: 'per-file' }), [rec('c1', 'a/calls.csv'), rec('c1', 'b/calls.csv'), rec('c1', 'b/calls.csv', 9)]);
    expect(out.map((x) => (x as { kind: string }).kind)).toEqual(['record', 'record', 'reject']);
    expect((out[0] as PreparedRecord).recordId).toBe(recordIdFor('a/calls.csv', 'c1'));
    expect((out[1] as PreparedRecord).recordId).toBe(recordIdFor('b/calls.csv', 'c1'));
    expect((out[2] as Reject).reason).toMatch(/already seen at line 2/);
    // one real file reached by two paths is one file: its calls are duplicates, whichever path is its real one
    const dir = mkdtempSync(join(tmpdir(), 'ids-'));
    try {
      writeFileSync(join(dir, 'a.csv'), 'x');
      symlinkSync(join(dir, 'a.csv'), join(dir, 'latest.csv'));
      for (const options of [{ duplicates: 'per-file' as const }, { duplicates: 'per-file' as const, mode: 'random' as const }, {}]) {
        const same = run(assignIds(options), [rec('c1', join(dir, 'a.csv')), rec('c1', join(dir, 'latest.csv'), 2)]);
        expect(same[1], JSON.stringify(options)).toMatchObject({ kind: 'reject', code: 'E_DUPLICATE_KEY' });
        expect((same[1] as Reject).reason).toMatch(/a\.csv line 2 \(the same file, reached by another path\)/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // with a namespace every file would give the same ids: refused, naming both options
    expect(() => assignIds({ duplicates: 'per-file', namespace: 'n' })).toThrow(expect.objectContaining({ code: 'E_BAD_OPTION', message: expect.stringMatching(/per-file.*namespace/) }));
    expect(() => assignIds({ duplicates: 'file' as never })).toThrow(expect.objectContaining({ code: 'E_BAD_OPTION', message: expect.stringMatching(/"run" or "per-file"/) }));
  });

  it('normalises the source: ./calls.csv and calls.csv give the same ids', () => {
    expect(idSource('./calls.csv')).toBe(idSource('calls.csv'));
    expect(idSource('-')).toBe('stdin');
    const [a] = run(assignIds(), [rec('c1', './calls.csv')]) as PreparedRecord[];
    const [b] = run(assignIds(), [rec('c1', 'calls.csv')]) as PreparedRecord[];
    expect(a!.recordId).toBe(b!.recordId);
  });

  it('uses a namespace instead of the file name when given', () => {
    const [a] = run(assignIds({ namespace: 'run42' }), [rec('c1', 'x.csv')]) as PreparedRecord[];
    const [b] = run(assignIds({ namespace: 'run42' }), [rec('c1', 'y.csv')]) as PreparedRecord[];
    expect(a!.recordId).toBe(b!.recordId);
  });

  it('rejects a duplicate call key, naming both lines, and keeps the first', () => {
    const out = run(assignIds(), [rec('c1', 'calls.csv', 2), rec('c2', 'calls.csv', 3), rec('c1', 'calls.csv', 9)]);
    expect((out[0] as PreparedRecord).kind).toBe('record');
    const dup = out[2] as Reject;
    expect(dup.kind).toBe('reject');
    expect(dup.code).toBe('E_DUPLICATE_KEY');
    expect(dup.line).toBe(9);
    expect(dup.reason).toContain('line 2');
    expect(dup.key).toBe('c1');
  });

  it('detects duplicates in random mode too, and random ids differ between runs', () => {
    const a = run(assignIds({ mode: 'random' }), [rec('c1'), rec('c1', 'calls.csv', 5)]);
    expect((a[1] as Reject).code).toBe('E_DUPLICATE_KEY');
    const b = run(assignIds({ mode: 'random' }), [rec('c1')]) as PreparedRecord[];
    expect((a[0] as PreparedRecord).recordId).toMatch(RECORD_ID_PATTERN);
    expect((a[0] as PreparedRecord).recordId).not.toBe(b[0]!.recordId);
  });

  it('passes rejects and other items through untouched and in order', () => {
    const r: Reject = { kind: 'reject', file: 'f', line: 1, stage: 'read', code: 'E_BAD_JSON', reason: 'x' };
    const out = run(assignIds(), [r, rec('c1')]);
    expect(out[0]).toBe(r);
  });

  it('rejects a bad mode at construction', () => {
    expect(() => assignIds({ mode: 'sequential' as never })).toThrow(/id mode/);
  });

  it('handles many keys: 200k distinct calls, no false duplicates', () => {
    const step = assignIds();
    let rejects = 0;
    for (let i = 0; i < 200_000; i++) step.write(rec(`call-${i}`, 'big.csv', i + 2), (o) => ((o as Reject).kind === 'reject' ? rejects++ : 0));
    expect(rejects).toBe(0);
    expect(step.seen).toBe(200_000);
  });
});

describe('FingerprintSet', () => {
  it('finds what it holds across growth, with the payload of the first add', () => {
    const s = new FingerprintSet(16);
    for (let i = 0; i < 10_000; i++) expect(s.add(i * 7919, i, i + 1, i % 3)).toBe(-1);
    for (let i = 0; i < 10_000; i += 97) {
      const slot = s.add(i * 7919, i, 999_999, 0);
      expect(slot).toBeGreaterThanOrEqual(0);
      expect(s.lineAt(slot)).toBe(i + 1);
      expect(s.fileAt(slot)).toBe(i % 3);
    }
    expect(s.has(1, 123456789)).toBe(false);
    expect(s.size).toBe(10_000);
  });
});
