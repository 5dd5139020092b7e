/**
 * A compact set of 64-bit fingerprints (two uint32 halves) with a uint32 payload each (the line of
 * the first occurrence) and a small file index: 14 bytes a slot, kept at most 70% full, so about
 * 20 bytes per distinct key (20 MB per million calls). Open addressing, linear probing.
 */
export class FingerprintSet {
  private hi: Uint32Array;
  private lo: Uint32Array;
  private payload: Uint32Array;
  private fileIndex: Uint16Array;
  private used: Uint8Array;
  private count = 0;
  private mask: number;

  constructor(initialCapacity = 1 << 14) {
    let cap = 1 << 4;
    while (cap < initialCapacity) cap <<= 1;
    this.mask = cap - 1;
    this.hi = new Uint32Array(cap);
    this.lo = new Uint32Array(cap);
    this.payload = new Uint32Array(cap);
    this.fileIndex = new Uint16Array(cap);
    this.used = new Uint8Array(cap);
  }

  get size(): number {
    return this.count;
  }

  /** Adds the fingerprint; returns -1 when it was new, else the slot of the earlier entry. */
  add(hi: number, lo: number, line: number, file: number): number {
    if ((this.count + 1) * 10 > this.used.length * 7) this.grow();
    const slot = this.probe(hi, lo);
    if (this.used[slot]) return slot;
    this.used[slot] = 1;
    this.hi[slot] = hi;
    this.lo[slot] = lo;
    this.payload[slot] = Math.min(line, 0xffffffff);
    this.fileIndex[slot] = Math.min(file, 0xffff);
    this.count++;
    return -1;
  }

  has(hi: number, lo: number): boolean {
    return this.used[this.probe(hi, lo)] === 1;
  }

  lineAt(slot: number): number {
    return this.payload[slot]!;
  }

  fileAt(slot: number): number {
    return this.fileIndex[slot]!;
  }

  private probe(hi: number, lo: number): number {
    let slot = (Math.imul(lo ^ hi, 0x9e3779b1) >>> 0) & this.mask;
    while (this.used[slot] && (this.hi[slot] !== hi || this.lo[slot] !== lo)) slot = (slot + 1) & this.mask;
    return slot;
  }

  private grow(): void {
    const { hi, lo, payload, fileIndex, used } = this;
    const cap = used.length * 2;
    this.mask = cap - 1;
    this.hi = new Uint32Array(cap);
    this.lo = new Uint32Array(cap);
    this.payload = new Uint32Array(cap);
    this.fileIndex = new Uint16Array(cap);
    this.used = new Uint8Array(cap);
    for (let i = 0; i < used.length; i++) {
      if (!used[i]) continue;
      const slot = this.probe(hi[i]!, lo[i]!);
      this.used[slot] = 1;
      this.hi[slot] = hi[i]!;
      this.lo[slot] = lo[i]!;
      this.payload[slot] = payload[i]!;
      this.fileIndex[slot] = fileIndex[i]!;
    }
  }
}
