/** Test helpers for the readers: feed bytes through a decoder, in chosen chunks, and collect what comes out. */
import { Readable, type Transform } from 'node:stream';
import type { Reject, SourceItem } from '../../src/records/types.js';

export type Out = SourceItem | Reject;

export const bytes = (s: string | Buffer): Buffer => (typeof s === 'string' ? Buffer.from(s, 'utf8') : s);

/** Write the chunks into a decoder Transform, end it, and collect its items (rejects on a stream error). */
export async function decode(t: Transform, chunks: ReadonlyArray<string | Buffer>): Promise<Out[]> {
  const out: Out[] = [];
  const done = new Promise<void>((resolve, reject) => {
    t.on('data', (x: Out) => out.push(x));
    t.on('end', resolve);
    t.on('error', reject);
  });
  for (const c of chunks) t.write(bytes(c));
  t.end();
  await done;
  return out;
}

/** Collect an object-mode Readable. */
export async function collect<T = Out>(r: Readable | AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of r as AsyncIterable<T>) out.push(x);
  return out;
}

/** A Readable of these chunks (a fake stdin). */
export function chunksStream(chunks: ReadonlyArray<string | Buffer>): Readable {
  return Readable.from(chunks.map(bytes), { objectMode: false });
}

/** buf cut at the given positions. */
export function splitAt(buf: Buffer, cuts: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let last = 0;
  for (const c of [...cuts].sort((a, b) => a - b)) {
    if (c <= last || c >= buf.length) continue;
    out.push(buf.subarray(last, c));
    last = c;
  }
  out.push(buf.subarray(last));
  return out;
}

/** buf in chunks of n bytes. */
export function splitEvery(buf: Buffer, n: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += n) out.push(buf.subarray(i, i + n));
  return out.length > 0 ? out : [buf];
}

export const sumBytes = (items: readonly Out[]): number => items.reduce((n, x) => n + (x.bytes ?? 0), 0);

/** Items compacted for comparisons: kind, line, value or code. */
export function brief(items: readonly Out[]): string[] {
  return items.map((x) => (x.kind === 'item' ? `item@${x.line}:${JSON.stringify(x.value)}` : `reject@${x.line}:${x.code}`));
}
