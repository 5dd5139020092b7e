/**
 * One shard's lineage sidecar, held for the join: the file's bytes, copied into a buffer that is
 * reused from shard to shard (an arena: it grows to the largest lineage file and stays), and a Map
 * from recordId to each line's place in it. A line is decoded and parsed only when its record is
 * met, and memory is about the file's size plus ~80 bytes a record (not a string and an object per
 * record), so collect's footprint is bounded by the largest shard, never the run.
 */
import { BatchError } from '../errors.js';
import type { Store } from '../stores/store.js';
import { LineSplitter } from '../core/lines.js';
import { scanObject } from './layout.js';

const HEAD = Buffer.from('{"recordId":"');
/** A lineage file is a shard's: 50,000 lines of a few hundred bytes. Far past that, something is wrong. */
const MAX_BYTES = 1 << 30;

/** The buffer lineage files are read into, shared by the shards of one collection (one at a time). */
export class Arena {
  buf: Buffer = Buffer.alloc(0);

  /** Room for `size` bytes, keeping the first `keep`. */
  reserve(size: number, keep: number): Buffer {
    if (size > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(size, Math.min(MAX_BYTES, this.buf.length * 2), 1 << 20));
      this.buf.copy(bigger, 0, 0, keep);
      this.buf = bigger;
    }
    return this.buf;
  }
}

export class ShardLineage {
  private readonly index = new Map<string, number>();
  private readonly ids: string[] = [];
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  private answered!: Uint8Array;
  private open = 0;

  /** `bytes` is the arena: valid until the next shard is loaded into it. */
  private constructor(private readonly bytes: Buffer) {}

  /** Read a lineage file; a line without a recordId, or a recordId twice, is an error naming the line. */
  static async load(store: Store, key: string, arena: Arena = new Arena()): Promise<ShardLineage> {
    const uri = store.resolve(key);
    if (!(await store.exists(key))) {
      throw new BatchError('E_NOT_PREPARED', `the lineage sidecar ${uri} does not exist`, { hint: 'point --prepared at the run that produced these outputs' });
    }
    let size = 0;
    for await (const chunk of scanObject(store, key)) {
      if (size + chunk.length > MAX_BYTES) throw new BatchError('E_NOT_PREPARED', `the lineage sidecar is over ${MAX_BYTES} bytes, far more than a shard's`, { file: uri });
      chunk.copy(arena.reserve(size + chunk.length, size), size);
      size += chunk.length;
    }
    // The file ends with `\n` as rollover writes it; one added to a cut-off last line keeps every
    // line inside the arena, so the one splitter hands each over as offsets into it, no copies.
    if (size > 0 && arena.buf[size - 1] !== 10) arena.reserve(size + 1, size)[size++] = 10;
    const b = arena.buf;
    const l = new ShardLineage(b);
    const lines = new LineSplitter({ maxLineBytes: MAX_BYTES, overflow: 'error', file: uri });
    lines.push(b.subarray(0, size), (_buf, start, end, line) => {
      const id = recordIdAt(b, start, end);
      if (id === undefined) throw new BatchError('E_NOT_PREPARED', 'a lineage line without a recordId', { file: uri, line, hint: 'the run is damaged: prepare it again' });
      if (l.index.has(id)) throw new BatchError('E_DUPLICATE_ID', `recordId ${id} appears twice in the lineage`, { file: uri, line, hint: 'the run is damaged: prepare it again' });
      l.index.set(id, l.ids.length);
      l.ids.push(id);
      l.starts.push(start);
      l.ends.push(end);
    });
    lines.end(() => {});
    l.answered = new Uint8Array(l.ids.length);
    l.open = l.ids.length;
    return l;
  }

  private text(i: number): string {
    return this.bytes.toString('utf8', this.starts[i], this.ends[i]);
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
