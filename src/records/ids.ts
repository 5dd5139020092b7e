/**
 * recordId assignment: 11 characters [A-Za-z0-9], unique within the run.
 *
 * Deterministic by default: the id is the first 64 bits of SHA-256(source, key) written in base 62
 * (62^11 > 2^64, so distinct fingerprints always give distinct ids). Running prepare twice on the
 * same input gives the same ids, which is what lets submit resume and collect join. `source` is the
 * input as given, normalised (`./calls.csv` and `calls.csv` agree), so the same call id in two files
 * gives two ids; `namespace` replaces it when ids must not depend on file names (stdin, renamed files).
 *
 * Random mode draws 64 random bits per record instead.
 *
 * Either way a call key seen twice in the run is rejected (E_DUPLICATE_KEY) naming both places; the
 * first is kept. This needs one compact fingerprint per call: about 20 bytes (see FingerprintSet).
 */
import { createHash, randomBytes } from 'node:crypto';
import { normalize } from 'node:path';
import { stepStream, type Step } from '../core/step.js';
import { BatchError, preview } from '../errors.js';
import { FingerprintSet } from './fingerprints.js';
import { reject, type PreparedRecord } from './types.js';

export type IdMode = 'deterministic' | 'random';

export interface AssignIdsOptions {
  /** `deterministic` (default): a hash of source and key; `random`: fresh random ids. */
  mode?: IdMode;
  /** Hash the key with this text instead of the file it came from. */
  namespace?: string;
}

export const RECORD_ID_PATTERN = /^[A-Za-z0-9]{11}$/;

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const TWO_32 = 0x1_0000_0000;

/** A 64-bit value given as two uint32 halves, written as 11 base-62 characters. */
export function base62of64(hi: number, lo: number): string {
  const out = new Array<string>(11);
  for (let i = 10; i >= 0; i--) {
    const remHi = hi % 62;
    hi = Math.floor(hi / 62);
    const combined = remHi * TWO_32 + lo; // < 62 * 2^32, exact in a double
    lo = Math.floor(combined / 62);
    out[i] = ALPHABET[combined % 62]!;
  }
  return out.join('');
}

/** How a file name takes part in deterministic ids. */
export function idSource(file: string): string {
  if (file === '-') return 'stdin';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(file)) return file;
  return normalize(file);
}

/** The 64-bit fingerprint of a call key from a source, as two uint32 halves. */
export function digest64(source: string, key: string): [number, number] {
  const d = createHash('sha256').update(source).update('\u0000').update(key).digest();
  return [d.readUInt32BE(0), d.readUInt32BE(4)];
}

/** The deterministic recordId of a call key from a source. */
export function recordIdFor(source: string, key: string): string {
  const [hi, lo] = digest64(source, key);
  return base62of64(hi, lo);
}

/** Random 64-bit values, drawn 4,096 at a time. */
export class RandomPool {
  private buf = Buffer.alloc(0);
  private pos = 0;
  next(): [number, number] {
    if (this.pos + 8 > this.buf.length) {
      this.buf = randomBytes(8 * 4096);
      this.pos = 0;
    }
    const pair: [number, number] = [this.buf.readUInt32BE(this.pos), this.buf.readUInt32BE(this.pos + 4)];
    this.pos += 8;
    return pair;
  }
}

/** Where a key or id was first seen. */
export interface FirstSeen {
  file: string;
  line: number;
}

/**
 * The run's memory of call keys (and, in random mode, of ids): one compact fingerprint each, so a
 * key seen twice is caught however far apart, across every input of the run. Shared by every id
 * stage of a run (several threads' results are registered here in input order).
 */
export class IdRegistry {
  private readonly keys = new FingerprintSet();
  private readonly ids = new FingerprintSet();
  private readonly files: string[] = [];
  private readonly fileIndex = new Map<string, number>();

  /** Distinct keys registered. */
  get size(): number {
    return this.keys.size;
  }

  private indexOf(file: string): number {
    let index = this.fileIndex.get(file);
    if (index === undefined) {
      index = this.files.length;
      this.files.push(file);
      this.fileIndex.set(file, index);
    }
    return index;
  }

  /** Registers a key's fingerprint; returns where it was first seen when it is a repeat. */
  addKey(hi: number, lo: number, file: string, line: number): FirstSeen | undefined {
    const slot = this.keys.add(hi, lo, line, this.indexOf(file));
    if (slot < 0) return undefined;
    return { file: this.files[this.keys.fileAt(slot)] ?? '?', line: this.keys.lineAt(slot) };
  }

  /** Registers a random id's 64 bits; false when the same id was drawn before. */
  addId(hi: number, lo: number, file: string, line: number): boolean {
    return this.ids.add(hi, lo, line, this.indexOf(file)) < 0;
  }
}

/** The reject for a call key seen before (the first is kept). */
export function duplicateKeyReject(rec: { file: string; line: number; key: string }, first: FirstSeen) {
  const where = first.file === rec.file ? `line ${first.line}` : `${first.file} line ${first.line}`;
  return reject(rec, 'ids', 'E_DUPLICATE_KEY', `call id "${preview(rec.key, 60)}" was already seen at ${where}; the first is kept. ` +
    'Rows of one call must be adjacent: sort the export by call id, or remove the repeated call');
}

/** The id stage: gives each record its recordId and rejects duplicate call keys. */
export function assignIds(options: AssignIdsOptions = {}, registry = new IdRegistry()): Step<unknown, unknown> & { readonly seen: number } {
  const mode = checkIdMode(options.mode);
  const pool = mode === 'random' ? new RandomPool() : undefined;
  let lastFile = '';
  let lastSource = '';

  return {
    get seen() {
      return registry.size;
    },
    write(item, emit) {
      const rec = item as PreparedRecord;
      if (rec.kind !== 'record') return emit(item);
      if (rec.file !== lastFile) {
        lastFile = rec.file;
        lastSource = options.namespace ?? idSource(rec.file);
      }
      const [hi, lo] = digest64(lastSource, rec.key);
      const first = registry.addKey(hi, lo, rec.file, rec.line);
      if (first) return emit(duplicateKeyReject(rec, first));
      if (pool) {
        let pair = pool.next();
        while (!registry.addId(pair[0], pair[1], rec.file, rec.line)) pair = pool.next();
        rec.recordId = base62of64(pair[0], pair[1]);
      } else {
        rec.recordId = base62of64(hi, lo);
      }
      emit(rec);
    },
  };
}

/** Check an id mode option. */
export function checkIdMode(mode: IdMode | undefined): IdMode {
  const m = mode ?? 'deterministic';
  if (m !== 'deterministic' && m !== 'random') {
    throw new BatchError('E_BAD_OPTION', `id mode must be "deterministic" or "random", got "${String(m)}"`);
  }
  return m;
}

/** `assignIds` as an object-mode Transform. */
export function assignIdsStream(options: AssignIdsOptions = {}, registry = new IdRegistry()) {
  return stepStream(assignIds(options, registry));
}
