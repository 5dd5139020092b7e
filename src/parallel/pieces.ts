/**
 * Cutting a byte stream into row-aligned pieces for parallel decoding. A piece ends just after a
 * line feed that ends a row: for JSONL any LF; for CSV an LF outside quotes, judged by quote parity
 * from the piece's start (which is a row start, so outside quotes). Parity is what a CSV reader
 * sees on well-formed input; on malformed quotes it can be wrong, which the decoding side detects
 * (the piece does not end on a row boundary) and the main thread then decodes on by itself.
 */

import type { ByteReader } from '../read/index.js';
import type { Slab, SlabPool } from './slabs.js';

export type PieceKind = 'csv' | 'lines';

/** The end (index after the LF) of the last whole row in `buf`, or -1 when there is none. */
export function lastRowEnd(buf: Buffer, kind: PieceKind): number {
  if (kind === 'lines') {
    const nl = buf.lastIndexOf(10);
    return nl < 0 ? -1 : nl + 1;
  }
  // Quote positions q[0..n); the unquoted regions are [0, q0), [q1 + 1, q2), [q3 + 1, q4), ... and,
  // when n is even, [q(n-1) + 1, end). Look for an LF in them, from the last region back.
  const q: number[] = [];
  for (let i = buf.indexOf(34); i >= 0; i = buf.indexOf(34, i + 1)) q.push(i);
  const n = q.length;
  for (let r = n >> 1; r >= 0; r--) {
    const start = r === 0 ? 0 : q[2 * r - 1]! + 1;
    const end = 2 * r < n ? q[2 * r]! : buf.length;
    if (end <= start) continue;
    const nl = buf.lastIndexOf(10, end - 1);
    if (nl >= start) return nl + 1;
  }
  return -1;
}

export interface Piece {
  /** The slab holding the piece's bytes at [0, length): give it back to the pool when done. */
  slab: Slab;
  length: number;
  /** The input ends with this piece. */
  last: boolean;
  /** No row end was found within `maxPieceBytes`: the piece is not row-aligned (a huge row, or
   * quotes the parity rule cannot follow); decode the rest of the input sequentially. */
  unaligned: boolean;
}

export interface PiecesOptions {
  kind: PieceKind;
  /** Where the slabs come from (slab size: twice the piece size is right). */
  pool: SlabPool;
  /** Aim for pieces of about this many bytes (default 1 MiB). */
  pieceBytes?: number;
  /** Aim for a first piece of this many bytes (default `pieceBytes`): the file's head, which the
   * caller decodes itself until it knows the file's format. */
  firstPieceBytes?: number;
  /** Give up looking for a row end after this many bytes (default 8 MiB). */
  maxPieceBytes?: number;
}

/** A piece's bytes. */
export function pieceBytes(piece: Piece): Buffer {
  return piece.slab.bytes.subarray(0, piece.length);
}

/**
 * Row-aligned pieces of an input, each in a slab of its own. Every byte is in exactly one piece, in
 * order; the last piece holds what follows the last row end (it may be absent when the input ends
 * with one). After an `unaligned` piece the rest follows in pieces of any alignment (the caller
 * decodes them sequentially).
 */
export async function* rowPieces(reader: ByteReader, options: PiecesOptions): AsyncGenerator<Piece> {
  const pool = options.pool;
  const pieceSize = options.pieceBytes ?? 1 << 20;
  let target = Math.min(pieceSize, options.firstPieceBytes ?? pieceSize);
  const max = Math.max(pieceSize, options.maxPieceBytes ?? 8 << 20);
  let cur = pool.take();
  let len = 0;
  let aligned = true;
  for (;;) {
    if (len === cur.size) {
      const bigger = pool.take(cur.size * 2);
      cur.bytes.copy(bigger.bytes, 0, 0, len);
      pool.give(cur);
      cur = bigger;
    }
    const want = len < target ? target - len : cur.size - len;
    const n = await reader.read(cur.bytes, len, want);
    if (n === 0) {
      if (len > 0) yield { slab: cur, length: len, last: true, unaligned: !aligned };
      else pool.give(cur);
      return;
    }
    len += n;
    if (len < target) continue;
    target = pieceSize;
    if (!aligned) {
      yield { slab: cur, length: len, last: false, unaligned: true };
      cur = pool.take();
      len = 0;
      continue;
    }
    const end = lastRowEnd(cur.bytes.subarray(0, len), options.kind);
    if (end > 0) {
      const next = pool.take(Math.max(pool.size, len - end));
      cur.bytes.copy(next.bytes, 0, end, len);
      yield { slab: cur, length: end, last: false, unaligned: false };
      cur = next;
      len -= end;
    } else if (len >= max) {
      aligned = false;
      yield { slab: cur, length: len, last: false, unaligned: true };
      cur = pool.take();
      len = 0;
    }
  }
}
