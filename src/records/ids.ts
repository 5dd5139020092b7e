/**
 * recordId assignment: 11 characters [A-Za-z0-9], unique within the run.
 *
 * Deterministic by default: the id is the first 64 bits of SHA-256(source, key) written in base 62
 * (62^11 > 2^64, so distinct fingerprints always give distinct ids). Running prepare twice on the
 * same input gives the same ids, which is what lets submit resume and collect join. `source` is the
 * input as given, normalised (`./calls.csv` and `calls.csv` agree); `namespace` replaces it when ids
 * must not depend on file names (stdin, renamed files).
 *
 * Random mode draws 64 random bits per record instead.
 *
 * Either way a call key seen twice is rejected (E_DUPLICATE_KEY) naming both places; the first is
 * kept. What counts as the same call (`duplicates`):
 * - `run` (default, docs/contracts.md "Inputs"): the same key anywhere in the run, in one file or in two
 *   (an export given twice, overlapping daily files). The check is on a fingerprint of the key alone
 *   (with the namespace, when one is given), not on the recordId, which still depends on the file.
 * - `per-file`: for exports whose ids are unique only within a file: the same key in the same REAL
 *   file (a file reached by two paths, through a symbolic link say, is one file). The ids then must
 *   depend on the file, so a namespace is refused with deterministic ids.
 * This needs one compact fingerprint per call: about 20 bytes (see FingerprintSet). Two records
 * with different keys (or files) get different ids unless SHA-256's first 64 bits collide: about
 * one chance in 10^10 within a job of 50,000 records, where recordIds must be unique, and in
 * 4 x 10^5 over a run of ten million. (A namespace in `run` scope makes the check's fingerprint the
 * id's own, so there even that cannot happen; keeping a second set of every id to rule it out
 * everywhere would double the memory the check takes.)
 */
import * as crypto from 'node:crypto';
import { createHash, randomBytes } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { normalize, resolve } from 'node:path';
import { stepStream, type Step } from '../core/step.js';
import { BatchError, preview } from '../errors.js';
import { FingerprintSet } from './fingerprints.js';
import { reject, type PreparedRecord } from './types.js';

export type IdMode = 'deterministic' | 'random';

/** Where a call id must be unique: in the whole run (default), or only within its file. */
export type DuplicateScope = 'run' | 'per-file';

export interface AssignIdsOptions {
  /** `deterministic` (default): a hash of source and key; `random`: fresh random ids. */
  mode?: IdMode;
  /** Hash the key with this text instead of the file it came from. */
  namespace?: string;
  /** What counts as the same call (see the file comment): `run` (default) or `per-file`. */
  duplicates?: DuplicateScope;
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

const identities = new Map<string, string>();

/**
 * The real file behind an input, for the per-file duplicate check: its real path (links resolved,
 * so one file reached by two paths is one file); `stdin` for `-`; a URI as it is.
 */
export function fileIdentity(file: string): string {
  if (file === '-') return 'stdin';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(file)) return file;
  let id = identities.get(file);
  if (id === undefined) {
    try {
      id = realpathSync(file);
    } catch {
      id = resolve(file);
    }
    if (identities.size >= 10_000) identities.clear();
    identities.set(file, id);
  }
  return id;
}

/**
 * A call's two 64-bit hashes: its recordId's (`idHi`, `idLo`: SHA-256 of the source and the key)
 * and the duplicate check's (`keyHi`, `keyLo`: the key alone in the run, or the key in its real
 * file). With deterministic ids and a namespace in run scope they are one and the same SHA-256;
 * otherwise the check is a `KeyFingerprint`. Used by the id stage and by parallel prepare's workers
 * alike, so both judge the same way.
 */
export class CallHasher {
  idHi = 0;
  idLo = 0;
  keyHi = 0;
  keyLo = 0;
  private file: string | undefined;
  private source = '';
  private check = '';
  private fingerprint: KeyFingerprint | undefined;
  private readonly fingerprints = new Map<string, KeyFingerprint>();
  private readonly scope: DuplicateScope;
  private readonly ids: boolean;
  /** The check is the id's own hash: the same for every file (deterministic ids, a namespace, run
   * scope). The choice never depends on the file, or one key could be hashed two ways. */
  private readonly shared: boolean;

  constructor(private readonly options: AssignIdsOptions) {
    const o = checkIdOptions(options);
    this.scope = o.duplicates;
    this.ids = o.mode === 'deterministic';
    this.shared = this.ids && this.scope === 'run' && options.namespace !== undefined;
  }

  hash(file: string, key: string): void {
    if (file !== this.file) {
      this.file = file;
      this.source = this.options.namespace ?? idSource(file);
      // run scope: the key alone (or with the namespace, then the id's own hash); per file: the real file
      this.check = this.scope === 'run' ? (this.options.namespace ?? '') : fileIdentity(file);
      this.fingerprint = undefined;
      if (!this.shared) {
        this.fingerprint = this.fingerprints.get(this.check);
        if (!this.fingerprint) {
          if (this.fingerprints.size >= 1024) this.fingerprints.clear();
          this.fingerprints.set(this.check, (this.fingerprint = new KeyFingerprint(this.check)));
        }
      }
    }
    if (this.ids) {
      const [hi, lo] = digest64(this.source, key);
      this.idHi = hi;
      this.idLo = lo;
    }
    const f = this.fingerprint;
    if (f) {
      f.of(key);
      this.keyHi = f.hi;
      this.keyLo = f.lo;
    } else {
      this.keyHi = this.idHi;
      this.keyLo = this.idLo;
    }
  }
}

/** The 64-bit fingerprint of a call key from a source, as two uint32 halves. */
export function digest64(source: string, key: string): [number, number] {
  // crypto.hash (Node 20.12+) is the same SHA-256 in one call, measured a third cheaper here on keys.
  const d = oneShot ? oneShot('sha256', `${source}\u0000${key}`, 'buffer') : createHash('sha256').update(source).update('\u0000').update(key).digest();
  return [d.readUInt32BE(0), d.readUInt32BE(4)];
}

const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: 'buffer') => Buffer }).hash;

/**
 * A 64-bit fingerprint of `key` after a prefix, for the duplicate check when it cannot be the id's
 * own SHA-256 (run scope without a namespace: the key alone; per file: the real file and the key).
 * Two MurmurHash3-style lanes over the UTF-16 units, cross-mixed and finalised: a few dozen
 * nanoseconds for a call id, where a second SHA-256 cost microseconds (a tenth of a call's whole
 * preparation). Two different keys are taken for one only when their 64 bits collide, about one
 * chance in 10^8 in a run of a million calls; such a call is rejected as a duplicate, never merged.
 */
export class KeyFingerprint {
  hi = 0;
  lo = 0;
  private readonly s1: number;
  private readonly s2: number;
  private readonly prefixLength: number;

  constructor(prefix: string) {
    let h1 = 0x9747b28c;
    let h2 = 0x3c6ef372;
    for (let i = 0; i < prefix.length; i++) [h1, h2] = step(h1, h2, prefix.charCodeAt(i));
    [h1, h2] = step(h1, h2, 0);
    this.s1 = h1;
    this.s2 = h2;
    this.prefixLength = prefix.length + 1;
  }

  of(key: string): void {
    // `step` inlined by hand: this loop runs per character of every call id, and `step` returns a
    // tuple per character
    let h1 = this.s1;
    let h2 = this.s2;
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i);
      let k = Math.imul(c, 0xcc9e2d51);
      k = (k << 15) | (k >>> 17);
      h1 ^= Math.imul(k, 0x1b873593);
      h1 = (h1 << 13) | (h1 >>> 19);
      h1 = (Math.imul(h1, 5) + 0xe6546b64) | 0;
      let j = Math.imul(c ^ 0x5bd1, 0x85ebca6b);
      j = (j << 16) | (j >>> 16);
      h2 ^= Math.imul(j, 0xc2b2ae35);
      h2 = (h2 << 11) | (h2 >>> 21);
      h2 = (Math.imul(h2, 9) + 0x52dce729) | 0;
    }
    const n = this.prefixLength + key.length;
    h1 ^= n;
    h2 ^= n;
    h1 = (h1 + h2) | 0;
    h2 = (h2 + h1) | 0;
    h1 = fmix32(h1);
    h2 = fmix32(h2);
    h1 = (h1 + h2) | 0;
    h2 = (h2 + h1) | 0;
    this.hi = h1 >>> 0;
    this.lo = h2 >>> 0;
  }
}

function step(h1: number, h2: number, c: number): [number, number] {
  let k = Math.imul(c, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  h1 ^= Math.imul(k, 0x1b873593);
  h1 = (h1 << 13) | (h1 >>> 19);
  h1 = (Math.imul(h1, 5) + 0xe6546b64) | 0;
  let j = Math.imul(c ^ 0x5bd1, 0x85ebca6b);
  j = (j << 16) | (j >>> 16);
  h2 ^= Math.imul(j, 0xc2b2ae35);
  h2 = (h2 << 11) | (h2 >>> 21);
  h2 = (Math.imul(h2, 9) + 0x52dce729) | 0;
  return [h1, h2];
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
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

/** The reject for a call key seen before (the first is kept), naming both places. */
export function duplicateKeyReject(rec: { file: string; line: number; key: string }, first: FirstSeen) {
  const seen = `call id "${preview(rec.key, 60)}" was already seen at`;
  if (first.file === rec.file) {
    return reject(rec, 'ids', 'E_DUPLICATE_KEY', `${seen} line ${first.line}; the first is kept. ` +
      'A call id names one call: remove the repeated row, or (one utterance per row) sort the export so that the rows of a call are adjacent');
  }
  const same = fileIdentity(first.file) === fileIdentity(rec.file) ? ' (the same file, reached by another path)' : '';
  return reject(rec, 'ids', 'E_DUPLICATE_KEY', `${seen} ${first.file} line ${first.line}${same}; the first is kept. ` +
    'A call id names one call in the whole run: remove the repeated call, or give --duplicates per-file when ids are unique only within a file');
}

/** The id stage: gives each record its recordId and rejects duplicate call keys. */
export function assignIds(options: AssignIdsOptions = {}, registry = new IdRegistry()): Step<unknown, unknown> & { readonly seen: number } {
  const mode = checkIdOptions(options).mode;
  const pool = mode === 'random' ? new RandomPool() : undefined;
  const hasher = new CallHasher(options);

  return {
    get seen() {
      return registry.size;
    },
    write(item, emit) {
      const rec = item as PreparedRecord;
      if (rec.kind !== 'record') return emit(item);
      hasher.hash(rec.file, rec.key);
      const first = registry.addKey(hasher.keyHi, hasher.keyLo, rec.file, rec.line);
      if (first) return emit(duplicateKeyReject(rec, first));
      if (pool) {
        let pair = pool.next();
        while (!registry.addId(pair[0], pair[1], rec.file, rec.line)) pair = pool.next();
        rec.recordId = base62of64(pair[0], pair[1]);
      } else {
        rec.recordId = base62of64(hasher.idHi, hasher.idLo);
      }
      emit(rec);
    },
  };
}

/** Check the id options, alone and together; a bad one throws E_BAD_OPTION naming it. */
export function checkIdOptions(options: AssignIdsOptions): { mode: IdMode; duplicates: DuplicateScope } {
  const mode = checkIdMode(options.mode);
  const duplicates = options.duplicates ?? 'run';
  if (duplicates !== 'run' && duplicates !== 'per-file') {
    throw new BatchError('E_BAD_OPTION', `duplicates must be "run" or "per-file", got "${String(duplicates)}"`);
  }
  if (duplicates === 'per-file' && mode === 'deterministic' && options.namespace !== undefined) {
    throw new BatchError('E_BAD_OPTION', '--duplicates per-file cannot go with --id-namespace: the same call id in two files would get the same recordId', {
      hint: 'drop --id-namespace (ids then depend on the file), or use --ids random',
    });
  }
  return { mode, duplicates };
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
