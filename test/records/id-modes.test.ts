/**
 * recordId modes beyond test/records/ids.test.ts: ids that must never change between versions
 * (resume and collect depend on them), stdin and namespaces, random ids at volume, and one
 * registry shared by several id stages (the parallel prepare's pieces).
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { assignIds, checkIdMode, IdRegistry, recordIdFor, RECORD_ID_PATTERN } from '../../src/records/ids.js';
import type { PreparedRecord, Reject } from '../../src/records/types.js';
import { base62, run } from './helpers.js';

const rec = (key: string, file = 'calls.csv', line = 2): PreparedRecord => ({ kind: 'record', recordId: '', modelInput: {}, file, line, key });

/** The documented rule, written out independently: base 62 of the first 64 bits of SHA-256(source, NUL, key). */
function reference(source: string, key: string): string {
  return base62(createHash('sha256').update(source).update('\u0000').update(key).digest().readBigUInt64BE(0));
}

describe('deterministic ids', () => {
  it('are pinned: a change here breaks resuming and collecting runs prepared by an older version', () => {
    expect(recordIdFor('calls.csv', 'call-0000')).toBe('5vgOJ2moEZ3');
    expect(recordIdFor('stdin', 'c1')).toBe('EE7s2SPbhU6');
    expect(recordIdFor('run-42', 'c1')).toBe('FjxG6bP2XO0');
  });

  it('follow the documented rule for any key, unicode included', () => {
    for (const key of ['c1', 'call-0000', 'é', '日本語', '😀', ' spaced ', 'a'.repeat(1000), '0']) {
      expect(recordIdFor('exports/calls.csv', key)).toBe(reference('exports/calls.csv', key));
    }
  });

  it('stdin is the source "stdin"; a namespace replaces the file in the hash', () => {
    const [fromStdin] = run(assignIds(), [rec('c1', '-')]) as PreparedRecord[];
    expect(fromStdin!.recordId).toBe(recordIdFor('stdin', 'c1'));
    const [named] = run(assignIds({ namespace: 'run-42' }), [rec('c1', '-')]) as PreparedRecord[];
    expect(named!.recordId).toBe('FjxG6bP2XO0');
  });

  it('with a namespace, the same call id in two files is a duplicate (the key alone decides)', () => {
    const out = run(assignIds({ namespace: 'n' }), [rec('c1', 'a.csv', 2), rec('c1', 'b.csv', 9)]);
    expect((out[1] as Reject).code).toBe('E_DUPLICATE_KEY');
    expect((out[1] as Reject).reason).toMatch(/already seen at a\.csv line 2/);
  });
});

describe('random ids', () => {
  it('20,000 records: every id 11 characters [A-Za-z0-9], all distinct, none the deterministic one', () => {
    const step = assignIds({ mode: 'random' });
    const ids = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      step.write(rec(`k${i}`, 'f.csv', i + 2), (o) => ids.add((o as PreparedRecord).recordId));
    }
    expect(ids.size).toBe(20_000);
    for (const id of [...ids].slice(0, 1000)) expect(id).toMatch(RECORD_ID_PATTERN);
    expect(ids.has(recordIdFor('f.csv', 'k0'))).toBe(false);
  });
});

describe('one registry for the whole run', () => {
  it('two id stages sharing a registry (pieces of one file on several threads) catch a key seen by the other', () => {
    const registry = new IdRegistry();
    const a = assignIds({}, registry);
    const b = assignIds({}, registry);
    expect(run(a, [rec('c1', 'calls.csv', 2), rec('c2', 'calls.csv', 3)]).every((x) => x.kind === 'record')).toBe(true);
    const out = run(b, [rec('c3', 'calls.csv', 50_000), rec('c1', 'calls.csv', 50_001)]);
    expect(out.map((x) => x.kind)).toEqual(['record', 'reject']);
    expect((out[1] as Reject).reason).toMatch(/already seen at line 2/);
    expect(registry.size).toBe(3);
  });

  it('random mode shares it too', () => {
    const registry = new IdRegistry();
    run(assignIds({ mode: 'random' }, registry), [rec('c1')]);
    expect((run(assignIds({ mode: 'random' }, registry), [rec('c1', 'calls.csv', 8)])[0] as Reject).code).toBe('E_DUPLICATE_KEY');
  });

  it('checkIdMode defaults to deterministic and names a bad mode', () => {
    expect(checkIdMode(undefined)).toBe('deterministic');
    expect(checkIdMode('random')).toBe('random');
    expect(() => checkIdMode('uuid' as never)).toThrow(expect.objectContaining({ code: 'E_BAD_OPTION', message: expect.stringMatching(/"uuid"/) }));
  });
});
