/**
 * Fault injection for the local service, so tests and users can rehearse what Bedrock does on a bad
 * day. Every fault is deterministic for a given `seed`: the same run fails the same way.
 *
 * Job-level faults take a `JobSelector`: a rate (0..1, chosen per job name by a seeded hash) or a
 * string (every job whose name contains it).
 */
import { createHash } from 'node:crypto';
import { mulberry32, type Random } from '../core/random.js';
import { BatchError } from '../errors.js';

export type JobSelector = number | string;

export interface LocalFaults {
  /** Fraction of records answered with an error line instead of `modelOutput` (by record). */
  recordErrors?: number;
  /**
   * Fraction of schema records (records whose request asks for a JSON Schema answer) answered with
   * fields that do not validate: a required property left out or an enum value outside its enum,
   * half each (by record). Chosen per job name and record, as `recordErrors` is, so a retry job draws
   * again and a retried record can succeed.
   */
  invalidFields?: number;
  /** Fraction of control-plane requests answered 429 ThrottlingException. */
  throttle?: number;
  /** Fraction of control-plane requests answered 500 InternalServerException. */
  serverErrors?: number;
  /** Jobs that fail halfway through (status Failed, with a message; the output so far stays). */
  fail?: JobSelector;
  /** Jobs that run out of time halfway (PartiallyCompleted: half the records processed). */
  partial?: JobSelector;
  /** Jobs that never leave the queue (Scheduled, then Expired). */
  expire?: JobSelector;
  /** Jobs that fail validation (status Failed before any record runs). */
  failValidation?: JobSelector;
  /** Extra milliseconds every job spends in Validating. */
  slowValidationMs?: number;
  /** Seed of every choice above (default 1). */
  seed?: number;
}

/** A number in [0, 1) from a seed and a name: the same pair always gives the same number. */
export function unitHash(seed: number, name: string): number {
  return createHash('sha256').update(`${seed}\n${name}`).digest().readUInt32BE(0) / 2 ** 32;
}

export function selects(selector: JobSelector | undefined, seed: number, jobName: string, kind: string): boolean {
  if (selector === undefined) return false;
  if (typeof selector === 'string') return selector.length > 0 && jobName.includes(selector);
  return unitHash(seed, `${kind}\n${jobName}`) < selector;
}

/** The seeded stream of numbers in [0, 1) that per-request faults draw from (a seed of 0 counts as 1). */
export function seededRandom(seed: number): Random {
  return mulberry32(seed >>> 0 || 1);
}

const RATE_KEYS = ['recordErrors', 'invalidFields', 'throttle', 'serverErrors'] as const;
const JOB_KEYS = ['fail', 'partial', 'expire', 'failValidation'] as const;

/** Check fault options once, before the service starts (a bad option names itself). */
export function normalizeFaults(faults: LocalFaults = {}): Required<Pick<LocalFaults, 'seed' | 'slowValidationMs'>> & LocalFaults {
  for (const k of RATE_KEYS) {
    const v = faults[k];
    if (v !== undefined && (typeof v !== 'number' || !(v >= 0 && v <= 1))) {
      throw new BatchError('E_BAD_OPTION', `fault ${k} must be a rate from 0 to 1, got ${String(v)}`);
    }
  }
  for (const k of JOB_KEYS) {
    const v = faults[k];
    if (v !== undefined && typeof v !== 'string' && (typeof v !== 'number' || !(v >= 0 && v <= 1))) {
      throw new BatchError('E_BAD_OPTION', `fault ${k} must be a rate from 0 to 1 or a part of a job name, got ${String(v)}`);
    }
  }
  const slow = faults.slowValidationMs ?? 0;
  if (!Number.isFinite(slow) || slow < 0) throw new BatchError('E_BAD_OPTION', `fault slowValidationMs must be a number of milliseconds, got ${String(slow)}`);
  const seed = faults.seed ?? 1;
  if (!Number.isSafeInteger(seed)) throw new BatchError('E_BAD_OPTION', `fault seed must be a whole number, got ${String(seed)}`);
  return { ...faults, seed, slowValidationMs: slow };
}

const FAULT_NAMES: Record<string, keyof LocalFaults> = {
  'record-errors': 'recordErrors',
  'invalid-fields': 'invalidFields',
  throttle: 'throttle',
  'server-errors': 'serverErrors',
  fail: 'fail',
  partial: 'partial',
  expire: 'expire',
  'fail-validation': 'failValidation',
  'slow-validation': 'slowValidationMs',
  seed: 'seed',
};

/**
 * Parse CLI fault specs (`record-errors=0.05`, `invalid-fields=0.1`, `fail=job-0002`, `throttle=0.3`,
 * `slow-validation=2000`, `seed=7`) into fault options.
 */
export function parseFaults(specs: readonly string[]): LocalFaults {
  const faults: Record<string, number | string> = {};
  for (const spec of specs) {
    const m = /^([a-z-]+)=(.+)$/.exec(spec.trim());
    const key = m ? FAULT_NAMES[m[1]!] : undefined;
    if (!m || !key) {
      throw new BatchError('E_BAD_OPTION', `--fault ${spec}: expected NAME=VALUE with NAME one of ${Object.keys(FAULT_NAMES).join(', ')}`);
    }
    const value = m[2]!;
    const n = Number(value);
    const numeric = value.trim() !== '' && Number.isFinite(n);
    if ((RATE_KEYS as readonly string[]).includes(key) || key === 'slowValidationMs' || key === 'seed') {
      if (!numeric) throw new BatchError('E_BAD_OPTION', `--fault ${spec}: ${m[1]} takes a number`);
      faults[key] = n;
    } else {
      faults[key] = numeric && n >= 0 && n <= 1 ? n : value;
    }
  }
  return normalizeFaults(faults as LocalFaults);
}
