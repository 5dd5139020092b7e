/** The piece cutter and the group splitter of parallel prepare. */
import { describe, expect, it } from 'vitest';
import { PieceSplitter, splitPiece } from '../../src/parallel/groups.js';
import { lastRowEnd, pieceBytes, rowPieces } from '../../src/parallel/pieces.js';
import { SlabPool } from '../../src/parallel/slabs.js';
import { streamReader } from '../../src/read/index.js';
import type { Reject, SourceItem } from '../../src/records/types.js';

const b = (s: string) => Buffer.from(s);

describe('lastRowEnd', () => {
  it('JSONL: after the last LF', () => {
    expect(lastRowEnd(b('{"a":1}\n{"a":2}\n{"a'), 'lines')).toBe(16);
    expect(lastRowEnd(b('{"a":1'), 'lines')).toBe(-1);
  });
  it('CSV: the last LF outside quotes', () => {
    expect(lastRowEnd(b('a,b\n1,"x\ny"\n2,"p\nq'), 'csv')).toBe(12);
    expect(lastRowEnd(b('a,b\n1,"x""\ny"""\n'), 'csv')).toBe(16);
    expect(lastRowEnd(b('1,"no end\n\n\n'), 'csv')).toBe(-1);
    expect(lastRowEnd(b('1,2\r\n3,4\r\n'), 'csv')).toBe(10);
    expect(lastRowEnd(b(''), 'csv')).toBe(-1);
  });
});

describe('rowPieces', () => {
  const cut = async (text: string, pieceSize: number, kind: 'csv' | 'lines' = 'csv', chunk = 7) => {
    const chunks: Buffer[] = [];
    const all = b(text);
    for (let i = 0; i < all.length; i += chunk) chunks.push(all.subarray(i, i + chunk));
    const pool = new SlabPool(2 * pieceSize);
    const out: Array<{ text: string; last: boolean; unaligned: boolean }> = [];
    for await (const p of rowPieces(streamReader((async function* () { yield* chunks; })()), { kind, pool, pieceBytes: pieceSize, maxPieceBytes: 4 * pieceSize })) {
      out.push({ text: pieceBytes(p).toString(), last: p.last, unaligned: p.unaligned });
      pool.give(p.slab);
    }
    return out;
  };

  it('every byte in exactly one piece, in order; pieces end on row ends; the rest is the last piece', async () => {
    const text = 'h1,h2\n' + Array.from({ length: 50 }, (_, i) => `${i},"multi\nline ""${i}"""\n`).join('') + '99,"tail';
    const pieces = await cut(text, 40);
    expect(pieces.map((p) => p.text).join('')).toBe(text);
    for (const p of pieces.slice(0, -1)) {
      expect(p.text.endsWith('"\n')).toBe(true);
      expect(p.last).toBe(false);
    }
    expect(pieces.at(-1)!.last).toBe(true);
    expect(pieces.at(-1)!.text.endsWith('99,"tail')).toBe(true);
  });

  it('a row longer than the limit makes the rest unaligned (decoded on one thread)', async () => {
    const text = 'a\n' + `"${'x\n'.repeat(200)}"\n` + 'b\nc\n';
    const pieces = await cut(text, 16);
    expect(pieces.map((p) => p.text).join('')).toBe(text);
    expect(pieces.some((p) => p.unaligned)).toBe(true);
  });

  it('no trailing partial row: no last piece is made', async () => {
    const pieces = await cut('a\nb\nc\n', 2, 'lines', 1);
    expect(pieces.map((p) => p.text).join('')).toBe('a\nb\nc\n');
  });
});

describe('PieceSplitter', () => {
  const row = (key: string, line: number): SourceItem => ({ kind: 'item', file: 'f', line, value: { k: key } });
  const rej = (line: number): Reject => ({ kind: 'reject', file: 'f', line, stage: 'decode', code: 'E_BAD_QUOTE', reason: 'x' });
  const keyOf = (i: SourceItem) => ((i.value as { k: string }).k || undefined);
  const lines = (xs: Array<SourceItem | Reject>) => xs.map((x) => x.line);

  it('head = the first group, middle = whole groups, tail = the last group', () => {
    const s = splitPiece([row('A', 1), row('A', 2), row('B', 3), rej(4), row('B', 5), row('C', 6), row('D', 7), row('D', 8)], keyOf);
    expect(lines(s.head)).toEqual([1, 2]);
    expect(lines(s.middle)).toEqual([3, 4, 5, 6]);
    expect(lines(s.tail)).toEqual([7, 8]);
    expect(s.whole).toBe(false);
  });

  it('one key throughout (a call longer than the piece): whole', () => {
    const s = splitPiece([row('A', 1), rej(2), row('', 3), row('A', 4)], keyOf);
    expect(s.whole).toBe(true);
    expect(lines(s.head)).toEqual([1, 2, 3, 4]);
    expect(s.middle).toEqual([]);
  });

  it('two groups: no middle; keyless items are in exactly one part', () => {
    const s = splitPiece([row('A', 1), row('', 2), row('B', 3)], keyOf);
    expect([...lines(s.head), ...lines(s.middle), ...lines(s.tail)]).toEqual([1, 2, 3]);
    expect(lines(s.tail)).toEqual([3]);
  });

  it('without grouping every item is middle', () => {
    const got: number[] = [];
    const s = new PieceSplitter(undefined, (i) => got.push(i.line));
    for (const i of [row('A', 1), row('A', 2)]) s.push(i);
    s.end();
    expect(got).toEqual([1, 2]);
    expect(s.head).toEqual([]);
    expect(s.tail).toEqual([]);
  });
});

describe('SlabPool', () => {
  it('reuses idle slabs, and after grow makes slabs of the new size and drops the smaller idle ones', () => {
    const pool = new SlabPool(100);
    const a = pool.take();
    pool.give(a);
    expect(pool.take()).toBe(a); // reused, not made again
    pool.give(a);
    // requests above the size: each one a fresh slab of its exact size (the churn grow avoids)
    const big = pool.take(150);
    expect(big.size).toBe(150);
    expect(pool.made).toBe(2);
    pool.grow(300);
    expect(pool.size).toBe(300);
    const b = pool.take(150);
    expect(b).not.toBe(a); // the idle 100-byte slab was dropped, not handed out
    expect(b.size).toBe(300);
    pool.give(b);
    expect(pool.take(250)).toBe(b);
    pool.grow(200); // never shrinks
    expect(pool.size).toBe(300);
  });
});
