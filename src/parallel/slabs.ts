/**
 * Reusable shared memory for parallel prepare. Pieces of input and the records made from them cross
 * between threads in SharedArrayBuffer slabs that are taken from and given back to a pool, so the
 * bytes streaming through are never a fresh allocation each: a megabyte buffer per piece, freed only
 * when the garbage collector gets round to it, measured here as tens of megabytes of extra peak
 * memory at a hundred megabytes a second (and worse for buffers transferred between threads).
 */

export class Slab {
  readonly bytes: Buffer;
  constructor(readonly sab: SharedArrayBuffer) {
    this.bytes = Buffer.from(sab);
  }
  get size(): number {
    return this.sab.byteLength;
  }
}

export class SlabPool {
  private readonly free: Slab[] = [];
  /** Slabs made so far, and their bytes (for tests and the bench). */
  made = 0;
  bytes = 0;

  /** Slabs of `size` bytes unless a bigger one is asked for; at most `keep` idle ones are kept. */
  constructor(
    public size: number,
    private readonly keep = 6,
  ) {}

  /**
   * Make slabs of `size` bytes from now on (when more is needed than slabs of the old size hold),
   * dropping the idle ones that are smaller: a pool whose requests outgrow its size would otherwise
   * make a fresh slab of each request's exact size, the churn the pool exists to avoid.
   */
  grow(size: number): void {
    if (size <= this.size) return;
    this.size = size;
    for (let i = this.free.length - 1; i >= 0; i--) if (this.free[i]!.size < size) this.free.splice(i, 1);
  }

  /** A slab of at least `n` bytes (an idle one when one is big enough). */
  take(n = this.size): Slab {
    for (let i = this.free.length - 1; i >= 0; i--) {
      if (this.free[i]!.size >= n) return this.free.splice(i, 1)[0]!;
    }
    const size = Math.max(n, this.size);
    this.made++;
    this.bytes += size;
    return new Slab(new SharedArrayBuffer(size));
  }

  give(slab: Slab): void {
    if (this.free.length < this.keep && slab.size <= this.size * 4) this.free.push(slab);
  }
}
