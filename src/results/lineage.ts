/**
 * One shard's lineage sidecar, held for the join: the file's bytes, read into a buffer that is
 * reused from shard to shard (an arena: it grows to the largest lineage file and stays), and an
 * index from recordId to each line's place in it. A line is decoded and parsed only when its
 * record is met.
 *
 * The index holds no JS object per record: the lines' offsets, an open-addressing hash table over
 * the recordIds' bytes and the answered flags are typed arrays in the arena too, reused from shard
 * to shard. So a shard leaves no garbage behind but a few strings: what collect holds is bounded
 * by the largest shard, never the run, and it does not grow the heap shard after shard (Map
 * entries and id strings that live for a whole shard get promoted, and pile up in the old
 * generation until a full GC). The recordIds rollover writes (`{"recordId":"...` first, printable
 * ASCII, no escapes) are read off the bytes; any other line's is parsed, and kept in a Map.
 */
import { BatchError } from '../errors.js';
import type { Store } from '../stores/store.js';
import { LocalStore } from '../stores/local.js';
import { countLf, LineSplitter } from '../core/lines.js';
import { openLocal, scanObject } from './layout.js';

const HEAD = Buffer.from('{"recordId":"');
/** A lineage file is a shard's: 50,000 lines of a few hundred bytes. Far past that, something is wrong. */
const MAX_BYTES = 1 << 30;

/** Room for `n` more items in a typed array, keeping the first `keep`. */
function grown<T extends Int32Array | Uint8Array>(a: T, n: number, keep: number, make: (n: number) => T): T {
  if (n <= a.length) return a;
  const b = make(Math.max(n, a.length * 2, 1024));
  b.set(a.subarray(0, keep));
  return b;
}

/** The buffer and tables lineage files are read into, shared by the shards of one collection (one at a time). */
export class Arena {
  buf: Buffer = Buffer.alloc(0);
  /** Per line: its bytes [start, end), and the end of its recordId (it starts at start + 13), or -1 when the id is in `others`. */
  starts = new Int32Array(0);
  ends = new Int32Array(0);
  idEnds = new Int32Array(0);
  answered = new Uint8Array(0);
  /** Open addressing: line index + 1 per slot, 0 for an empty slot. */
  table = new Int32Array(0);

  /** Room for `size` bytes, keeping the first `keep`. */
  reserve(size: number, keep: number): Buffer {
    if (size > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(size, Math.min(MAX_BYTES, this.buf.length * 2), 1 << 20));
      this.buf.copy(bigger, 0, 0, keep);
      this.buf = bigger;
    }
    return this.buf;
  }

  /** Room for line `i`. */
  line(i: number): void {
    if (i < this.starts.length) return;
    this.starts = grown(this.starts, i + 1, i, (n) => new Int32Array(n));
    this.ends = grown(this.ends, i + 1, i, (n) => new Int32Array(n));
    this.idEnds = grown(this.idEnds, i + 1, i, (n) => new Int32Array(n));
  }
}

/** FNV-1a over bytes [s, e). */
function hashBytes(b: Buffer, s: number, e: number): number {
  let h = 0x811c9dc5;
  for (let k = s; k < e; k++) h = Math.imul(h ^ b[k]!, 0x01000193);
  return h >>> 0;
}

/** FNV-1a over a string's char codes, or -1 when one is outside printable ASCII (then no id read off the bytes can be it). */
function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    if (c < 0x20 || c > 0x7e) return -1;
    h = Math.imul(h ^ c, 0x01000193);
  }
  return h >>> 0;
}

async function readInto(store: Store, key: string, uri: string, arena: Arena): Promise<number> {
  let size = 0;
  if (!(store instanceof LocalStore)) {
    for await (const chunk of scanObject(store, key)) {
      if (size + chunk.length > MAX_BYTES) throw new BatchError('E_NOT_PREPARED', `the lineage sidecar is over ${MAX_BYTES} bytes, far more than a shard's`, { file: uri });
      chunk.copy(arena.reserve(size + chunk.length, size), size);
      size += chunk.length;
    }
    return size;
  }
  // A local file goes straight into the arena: no read buffers left behind per shard.
  const handle = await openLocal(store, key);
  try {
    arena.reserve((await handle.stat()).size + 1, 0);
    for (;;) {
      if (size === arena.buf.length) arena.reserve(size + 1, size);
      const { bytesRead } = await handle.read(arena.buf, size, arena.buf.length - size, size);
      if (bytesRead === 0) break;
      size += bytesRead;
      if (size > MAX_BYTES) throw new BatchError('E_NOT_PREPARED', `the lineage sidecar is over ${MAX_BYTES} bytes, far more than a shard's`, { file: uri });
    }
  } catch (error) {
    if (error instanceof BatchError) throw error;
    throw new BatchError('E_STORE', `cannot read ${uri}: ${(error as Error).message}`, { cause: error });
  } finally {
    await handle.close();
  }
  return size;
}

export class ShardLineage {
  private n = 0;
  private open = 0;
  private mask = 0;
  /** RecordIds not read off the bytes (escaped, non-ASCII, not first): id -> line index, and back. */
  private others: Map<string, number> | undefined;
  private otherIds: Map<number, string> | undefined;

  /** The arena's tables: valid until the next shard is loaded into it. */
  private constructor(private readonly a: Arena) {}

  /** Read a lineage file; a line without a recordId, or a recordId twice, is an error naming the line. */
  static async load(store: Store, key: string, arena: Arena = new Arena()): Promise<ShardLineage> {
    const uri = store.resolve(key);
    if (!(await store.exists(key))) {
      throw new BatchError('E_NOT_PREPARED', `the lineage sidecar ${uri} does not exist`, { hint: 'point --prepared at the run that produced these outputs' });
    }
    let size = await readInto(store, key, uri, arena);
    // The file ends with `\n` as rollover writes it; one added to a cut-off last line keeps every
    // line inside the arena, so the one splitter hands each over as offsets into it, no copies.
    if (size > 0 && arena.buf[size - 1] !== 10) arena.reserve(size + 1, size)[size++] = 10;
    const b = arena.buf;
    const l = new ShardLineage(arena);
    const lines = new LineSplitter({ maxLineBytes: MAX_BYTES, overflow: 'error', file: uri });
    lines.push(b.subarray(0, size), (_buf, start, end) => {
      const i = l.n++;
      arena.line(i);
      arena.starts[i] = start;
      arena.ends[i] = end;
      arena.idEnds[i] = idEndAt(b, start, end);
    });
    lines.end(() => {});
    const n = l.n;
    let slots = 1024;
    while (slots < n * 2) slots *= 2;
    if (arena.table.length < slots) arena.table = new Int32Array(slots);
    else arena.table.fill(0, 0, slots);
    l.mask = slots - 1;
    if (arena.answered.length < n) arena.answered = new Uint8Array(Math.max(n, arena.answered.length * 2));
    else arena.answered.fill(0, 0, n);
    l.open = n;
    // (errors only: the file's line number, blank lines counted)
    const lineOf = (i: number) => countLf(b, 0, arena.starts[i]) + 1;
    const duplicate = (id: string, i: number) =>
      new BatchError('E_DUPLICATE_ID', `recordId ${id} appears twice in the lineage`, { file: uri, line: lineOf(i), hint: 'the run is damaged: prepare it again' });
    for (let i = 0; i < n; i++) {
      const start = arena.starts[i]!;
      const idEnd = arena.idEnds[i]!;
      if (idEnd >= 0) {
        if (l.insert(i, start + HEAD.length, idEnd) >= 0) throw duplicate(b.toString('latin1', start + HEAD.length, idEnd), i);
        continue;
      }
      const id = parsedRecordId(b, start, arena.ends[i]!);
      if (id === undefined) throw new BatchError('E_NOT_PREPARED', 'a lineage line without a recordId', { file: uri, line: lineOf(i), hint: 'the run is damaged: prepare it again' });
      l.others ??= new Map();
      l.otherIds ??= new Map();
      if (l.others.has(id)) throw duplicate(id, i);
      l.others.set(id, i);
      l.otherIds.set(i, id);
    }
    // an id parsed from one line may equal one read off the bytes of another
    if (l.others) for (const [id, i] of l.others) if (l.tableIndexOf(id) >= 0) throw duplicate(id, i);
    return l;
  }

  /** Put line `i` (its id at bytes [s, e)) in the table; the index of a line with the same id, or -1. */
  private insert(i: number, s: number, e: number): number {
    const { table, starts, idEnds, buf } = this.a;
    const len = e - s;
    for (let h = hashBytes(buf, s, e) & this.mask; ; h = (h + 1) & this.mask) {
      const slot = table[h]!;
      if (slot === 0) {
        table[h] = i + 1;
        return -1;
      }
      const j = slot - 1;
      const js = starts[j]! + HEAD.length;
      if (idEnds[j]! - js === len && buf.compare(buf, s, e, js, idEnds[j]!) === 0) return j;
    }
  }

  private tableIndexOf(id: string): number {
    const h0 = hashString(id);
    if (h0 < 0) return -1;
    const { table, starts, idEnds, buf } = this.a;
    const len = id.length;
    outer: for (let h = h0 & this.mask; ; h = (h + 1) & this.mask) {
      const slot = table[h]!;
      if (slot === 0) return -1;
      const j = slot - 1;
      const js = starts[j]! + HEAD.length;
      if (idEnds[j]! - js !== len) continue;
      for (let k = 0; k < len; k++) if (buf[js + k] !== id.charCodeAt(k)) continue outer;
      return j;
    }
  }

  /** The line index of a record, or -1 when it is not in the shard. */
  indexOf(recordId: string): number {
    if (this.others !== undefined) {
      const i = this.others.get(recordId);
      if (i !== undefined) return i;
    }
    return this.tableIndexOf(recordId);
  }

  /** Line `i`'s text. */
  textAt(i: number): string {
    return this.a.buf.toString('utf8', this.a.starts[i], this.a.ends[i]);
  }

  /** Whether record `i` has been answered (or given up on). */
  isClosed(i: number): boolean {
    return this.a.answered[i] !== 0;
  }

  /** Mark record `i` answered (or given up on as missing). */
  closeAt(i: number): void {
    if (this.a.answered[i] === 0) {
      this.a.answered[i] = 1;
      this.open--;
    }
  }

  /** Records in the shard. */
  get size(): number {
    return this.n;
  }

  /** Records not answered yet. */
  get left(): number {
    return this.open;
  }

  /** The lineage line of a record: its text, `null` when it was answered already, undefined when it is not in the shard. */
  get(recordId: string): string | null | undefined {
    const i = this.indexOf(recordId);
    if (i < 0) return undefined;
    return this.isClosed(i) ? null : this.textAt(i);
  }

  /** Whether the record is in the shard and not answered yet. */
  isOpen(recordId: string): boolean {
    const i = this.indexOf(recordId);
    return i >= 0 && !this.isClosed(i);
  }

  /** Mark a record answered (or given up on as missing). */
  close(recordId: string): void {
    const i = this.indexOf(recordId);
    if (i >= 0) this.closeAt(i);
  }

  /** The records not answered yet, in lineage order, with their lines. */
  *openRecords(): Generator<[string, string]> {
    for (let i = 0; i < this.n; i++) {
      if (this.isClosed(i)) continue;
      const idEnd = this.a.idEnds[i]!;
      const id = idEnd >= 0 ? this.a.buf.toString('latin1', this.a.starts[i]! + HEAD.length, idEnd) : this.otherIds!.get(i)!;
      yield [id, this.textAt(i)];
    }
  }
}

/** The end of the recordId of a line as rollover writes it (`{"recordId":"` then printable ASCII without `\`), or -1. */
function idEndAt(b: Buffer, start: number, end: number): number {
  if (end - start <= HEAD.length || b.compare(HEAD, 0, HEAD.length, start, start + HEAD.length) !== 0) return -1;
  const s = start + HEAD.length;
  let q = s;
  while (q < end) {
    const c = b[q]!;
    if (c === 0x22) break;
    if (c === 0x5c || c < 0x20 || c > 0x7e) return -1;
    q++;
  }
  return q > s && q < end ? q : -1;
}

/** The recordId of any other lineage line, parsed. */
function parsedRecordId(b: Buffer, start: number, end: number): string | undefined {
  try {
    const o = JSON.parse(b.toString('utf8', start, end)) as { recordId?: unknown };
    return typeof o.recordId === 'string' ? o.recordId : undefined;
  } catch {
    return undefined;
  }
}
