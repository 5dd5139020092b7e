/**
 * One shard's lineage sidecar, held for the join: the file's bytes as read and a Map from
 * recordId to the line's place in them. A line is decoded and parsed only when its record is met, and
 * memory is about the file's size plus ~80 bytes a record (not a string and an object per record),
 * so collect's footprint is bounded by the largest shard, never the run.
 */
import { BatchError } from '../errors.js';
import type { Store } from '../stores/store.js';
import { readObject } from './layout.js';
import { LineSplitter } from './lines.js';

const HEAD = Buffer.from('{"recordId":"');

export class ShardLineage {
  private readonly index = new Map<string, number>();
  private readonly ids: string[] = [];
  /** The file's bytes as read (no joined copy), plus lines that spanned two chunks, joined. */
  private readonly pieces: Buffer[] = [];
  private readonly piece: number[] = [];
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  private answered!: Uint8Array;
  private open = 0;

  private constructor() {}

  /** Read a lineage file; a line without a recordId, or a recordId twice, is an error naming the line. */
  static async load(store: Store, key: string): Promise<ShardLineage> {
    const uri = store.resolve(key);
    if (!(await store.exists(key))) {
      throw new BatchError('E_NOT_PREPARED', `the lineage sidecar ${uri} does not exist`, { hint: 'point --prepared at the run that produced these outputs' });
    }
    const l = new ShardLineage();
    const splitter = new LineSplitter({ maxLineBytes: 16 * 1024 * 1024, onTooLong: (line) => {
      throw new BatchError('E_NOT_PREPARED', 'a lineage line over 16 MiB', { file: uri, line });
    } });
    const onLine = (buf: Buffer, start: number, end: number, line: number) => {
      const id = recordIdAt(buf, start, end);
      if (id === undefined) throw new BatchError('E_NOT_PREPARED', 'a lineage line without a recordId', { file: uri, line, hint: 'the run is damaged: prepare it again' });
      if (l.index.has(id)) throw new BatchError('E_DUPLICATE_ID', `recordId ${id} appears twice in the lineage`, { file: uri, line, hint: 'the run is damaged: prepare it again' });
      // a line inside the chunk points into it; a line joined across chunks keeps its own buffer
      if (l.pieces[l.pieces.length - 1] !== buf) l.pieces.push(buf);
      l.index.set(id, l.ids.length);
      l.ids.push(id);
      l.piece.push(l.pieces.length - 1);
      l.starts.push(start);
      l.ends.push(end);
    };
    for await (const chunk of readObject(store, key) as AsyncIterable<Uint8Array>) {
      const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      l.pieces.push(b);
      splitter.push(b, onLine);
    }
    splitter.end(onLine);
    l.answered = new Uint8Array(l.ids.length);
    l.open = l.ids.length;
    return l;
  }

  private text(i: number): string {
    return this.pieces[this.piece[i]!]!.toString('utf8', this.starts[i], this.ends[i]);
  }

  /** Records in the shard. */
  get size(): number {
    return this.ids.length;
  }

  /** Records not answered yet. */
  get left(): number {
    return this.open;
  }

  /** The lineage line of a record: its text, `null` when it was answered already, undefined when it is not in the shard. */
  get(recordId: string): string | null | undefined {
    const i = this.index.get(recordId);
    if (i === undefined) return undefined;
    return this.answered[i] ? null : this.text(i);
  }

  /** Whether the record is in the shard and not answered yet. */
  isOpen(recordId: string): boolean {
    const i = this.index.get(recordId);
    return i !== undefined && this.answered[i] === 0;
  }

  /** Mark a record answered (or given up on as missing). */
  close(recordId: string): void {
    const i = this.index.get(recordId);
    if (i !== undefined && this.answered[i] === 0) {
      this.answered[i] = 1;
      this.open--;
    }
  }

  /** The records not answered yet, in lineage order, with their lines. */
  *openRecords(): Generator<[string, string]> {
    for (let i = 0; i < this.ids.length; i++) {
      if (this.answered[i] === 0) yield [this.ids[i]!, this.text(i)];
    }
  }
}

/** The recordId of a lineage line: read off the bytes for the lines rollover writes, else parsed. */
function recordIdAt(b: Buffer, start: number, end: number): string | undefined {
  if (end - start > HEAD.length && b.compare(HEAD, 0, HEAD.length, start, start + HEAD.length) === 0) {
    const s = start + HEAD.length;
    let q = s;
    while (q < end && b[q] !== 0x22 && b[q] !== 0x5c) q++;
    if (q > s && q < end && b[q] === 0x22) return b.toString('utf8', s, q);
  }
  try {
    const o = JSON.parse(b.toString('utf8', start, end)) as { recordId?: unknown };
    return typeof o.recordId === 'string' ? o.recordId : undefined;
  } catch {
    return undefined;
  }
}
