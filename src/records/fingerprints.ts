/**
 * A compact set of 64-bit fingerprints (two uint32 halves) with a uint32 payload each (the line of
 * the first occurrence) and a small file index. Open addressing with linear probing, in 64
 * independent sub-tables chosen by the fingerprint's top bits: each sub-table grows on its own, so
 * a growth copies 1/64 of the set at a time instead of doubling the whole set's memory for a moment.
 * 12 bytes a slot (14 once a second file appears), growing by half at 80% full: 15 to 23 bytes per
 * distinct key, about 18 MB per million calls.
 */
const SHARD_BITS = 6;
const SHARDS = 1 << SHARD_BITS;
const SLOT_SPAN = 2 ** 26; // handles are shard * SLOT_SPAN + slot

class Shard {
  hi: Uint32Array;
  lo: Uint32Array;
  payload: Uint32Array;
  fileIndex: Uint16Array | undefined;
  count = 0;

  constructor(cap: number) {
    this.hi = new Uint32Array(cap);
    this.lo = new Uint32Array(cap);
    this.payload = new Uint32Array(cap);
  }

  probe(hi: number, lo: number): number {
    const cap = this.hi.length;
    // Any capacity (growth by 1.5, not 2, wastes less): map the mixed hash onto [0, cap).
    let slot = Math.floor(((Math.imul(lo ^ (hi << 7), 0x9e3779b1) >>> 0) * cap) / 4294967296);
    for (;;) {
      const h = this.hi[slot]!;
      const l = this.lo[slot]!;
      if ((h === 0 && l === 0) || (h === hi && l === lo)) return slot;
      slot = slot + 1 === cap ? 0 : slot + 1;
    }
  }

  grow(): void {
    const { hi, lo, payload, fileIndex } = this;
    const cap = Math.ceil(hi.length * 1.5);
    if (cap > SLOT_SPAN) throw new Error('FingerprintSet: too many keys');
    this.hi = new Uint32Array(cap);
    this.lo = new Uint32Array(cap);
    this.payload = new Uint32Array(cap);
    this.fileIndex = fileIndex ? new Uint16Array(cap) : undefined;
    for (let i = 0; i < hi.length; i++) {
      if (hi[i] === 0 && lo[i] === 0) continue;
      const slot = this.probe(hi[i]!, lo[i]!);
      this.hi[slot] = hi[i]!;
      this.lo[slot] = lo[i]!;
      this.payload[slot] = payload[i]!;
      if (fileIndex) this.fileIndex![slot] = fileIndex[i]!;
    }
  }
}

export class FingerprintSet {
  private readonly shards: Shard[] = [];
  private count = 0;

  constructor(initialCapacity = 1 << 14) {
    let cap = 16;
    while (cap * SHARDS < initialCapacity) cap <<= 1;
    for (let i = 0; i < SHARDS; i++) this.shards.push(new Shard(cap));
  }

  get size(): number {
    return this.count;
  }

  /** Adds the fingerprint; returns -1 when it was new, else a handle on the earlier entry. */
  add(hi: number, lo: number, line: number, file: number): number {
    if (hi === 0 && lo === 0) lo = 1; // (0, 0) marks an empty slot
    const index = hi >>> (32 - SHARD_BITS);
    const shard = this.shards[index]!;
    if ((shard.count + 1) * 5 > shard.hi.length * 4) shard.grow(); // at most 80% full
    const slot = shard.probe(hi, lo);
    if (shard.hi[slot] !== 0 || shard.lo[slot] !== 0) return index * SLOT_SPAN + slot;
    shard.hi[slot] = hi;
    shard.lo[slot] = lo;
    shard.payload[slot] = Math.min(line, 0xffffffff);
    if (file !== 0) {
      shard.fileIndex ??= new Uint16Array(shard.hi.length);
      shard.fileIndex[slot] = Math.min(file, 0xffff);
    }
    shard.count++;
    this.count++;
    return -1;
  }

  has(hi: number, lo: number): boolean {
    if (hi === 0 && lo === 0) lo = 1;
    const shard = this.shards[hi >>> (32 - SHARD_BITS)]!;
    const slot = shard.probe(hi, lo);
    return shard.hi[slot] !== 0 || shard.lo[slot] !== 0;
  }

  lineAt(handle: number): number {
    return this.shards[Math.floor(handle / SLOT_SPAN)]!.payload[handle % SLOT_SPAN]!;
  }

  fileAt(handle: number): number {
    return this.shards[Math.floor(handle / SLOT_SPAN)]!.fileIndex?.[handle % SLOT_SPAN] ?? 0;
  }

  /** Bytes held by the tables. */
  get bytes(): number {
    let n = 0;
    for (const s of this.shards) n += s.hi.length * (12 + (s.fileIndex ? 2 : 0));
    return n;
  }
}
