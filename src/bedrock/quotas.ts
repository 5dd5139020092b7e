/**
 * Quota profiles: the Bedrock batch limits a run is planned against, as named, overridable data.
 * Sizes are in bytes, decimal (200 MB = 200,000,000 bytes), the conservative reading of AWS's
 * "MB"/"GB" (see docs/bedrock.md §5: whether AWS means 10^9 or 2^30 is unconfirmed).
 *
 * Besides the fixed profiles, `--quotas account` (QUOTA_CHOICES) reads the account's own values
 * from Service Quotas, each one it cannot read taken from `documented` (ACCOUNT_FALLBACK_PROFILE):
 * that needs AWS, so it is resolved in src/aws/service-quotas.ts (`resolveQuotaProfile`,
 * docs/quotas.md), never here.
 */
import { BatchError } from '../errors.js';

export interface QuotaProfile {
  /** The profile's name, reported in summaries. */
  name: string;
  /** Records per input file ("Records per input file per batch inference job"). */
  maxRecordsPerFile: number;
  /** Bytes per input file ("Batch inference input file size"). */
  maxBytesPerFile: number;
  /** Records per job, across its files ("Records per batch inference job"). */
  maxRecordsPerJob: number;
  /** Bytes per job, across its files ("Batch inference job size"). */
  maxBytesPerJob: number;
  /** No job is created below this ("Minimum number of records per batch inference job"). */
  minRecordsPerJob: number;
  /** Submitted + in-progress jobs per model at once. */
  maxJobsInFlight: number;
  /** Our own guard on one record (and one raw input row): bigger ones are rejected while streaming. */
  maxRecordBytes: number;
}

const MB = 1_000_000;
const GB = 1_000_000_000;

export const QUOTA_PROFILES: Readonly<Record<string, QuotaProfile>> = Object.freeze({
  /** The project card's limits: the safe default for accounts whose quotas you have not checked. */
  default: Object.freeze({
    name: 'default',
    maxRecordsPerFile: 50_000,
    maxBytesPerFile: 200 * MB,
    maxRecordsPerJob: 50_000,
    maxBytesPerJob: 1 * GB,
    minRecordsPerJob: 1_000,
    maxJobsInFlight: 3,
    maxRecordBytes: 1 << 20,
  }),
  /** Today's documented defaults (docs/bedrock.md §5): check your account's applied values. */
  documented: Object.freeze({
    name: 'documented',
    maxRecordsPerFile: 50_000,
    maxBytesPerFile: 1 * GB,
    maxRecordsPerJob: 50_000,
    maxBytesPerJob: 5 * GB,
    minRecordsPerJob: 100,
    maxJobsInFlight: 20,
    maxRecordBytes: 1 << 20,
  }),
  /** For the embedded local service and small samples: any job size from one record up. */
  local: Object.freeze({
    name: 'local',
    maxRecordsPerFile: 50_000,
    maxBytesPerFile: 200 * MB,
    maxRecordsPerJob: 50_000,
    maxBytesPerJob: 1 * GB,
    minRecordsPerJob: 1,
    maxJobsInFlight: 3,
    maxRecordBytes: 1 << 20,
  }),
});

/** The name of the profile read from the account's Service Quotas (src/aws/service-quotas.ts resolveQuotaProfile). */
export const ACCOUNT_QUOTAS = 'account';

/** Where a quota `account` cannot read comes from: today's documented defaults (docs/quotas.md). */
export const ACCOUNT_FALLBACK_PROFILE = 'documented';

/** What `--quotas` accepts: the fixed profiles, and `account`. */
export const QUOTA_CHOICES: readonly string[] = Object.freeze([...Object.keys(QUOTA_PROFILES), ACCOUNT_QUOTAS]);

export type QuotaOverrides = Partial<Omit<QuotaProfile, 'name'>>;

/** A profile by name with overrides applied and checked. */
export function quotaProfile(name = 'default', overrides: QuotaOverrides = {}): QuotaProfile {
  const base = QUOTA_PROFILES[name];
  if (!base) {
    if (name === ACCOUNT_QUOTAS) {
      throw new BatchError('E_BAD_OPTION', `the quota profile "${ACCOUNT_QUOTAS}" is read from the account's Service Quotas, not a fixed profile`, {
        hint: 'resolve it with resolveQuotaProfile (src/aws/service-quotas.ts), which reads the account and falls back to "documented"',
      });
    }
    throw new BatchError('E_BAD_OPTION', `unknown quota profile "${name}"`, {
      hint: `use one of: ${QUOTA_CHOICES.join(', ')}`,
    });
  }
  return withQuotaOverrides(base, overrides);
}

/**
 * `base` with overrides applied and checked (quotaProfile's work, for a profile that is not one of
 * QUOTA_PROFILES, such as the account's). A profile with overrides is named `<base>+overrides`.
 */
export function withQuotaOverrides(base: QuotaProfile, overrides: QuotaOverrides = {}): QuotaProfile {
  const profile: QuotaProfile = { ...base };
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) continue;
    if (!Number.isSafeInteger(v) || (v as number) < 1) {
      throw new BatchError('E_BAD_OPTION', `quota ${k} must be a whole number of at least 1, got ${String(v)}`);
    }
    (profile as unknown as Record<string, number>)[k] = v as number;
  }
  if (Object.keys(overrides).some((k) => overrides[k as keyof QuotaOverrides] !== undefined)) {
    profile.name = `${base.name}+overrides`;
  }
  // A limit the user did not set follows one they lowered below it, rather than refuse the run:
  // `--max-bytes 1MB` brings the per-record limit (1 MiB by default) down to 1 MB, a lower
  // per-job count or size brings the per-file one down. Limits the user set are checked as given.
  const unset = (k: keyof QuotaOverrides) => overrides[k] === undefined;
  if (unset('maxRecordsPerFile') && !unset('maxRecordsPerJob')) profile.maxRecordsPerFile = Math.min(profile.maxRecordsPerFile, profile.maxRecordsPerJob);
  if (unset('maxBytesPerFile') && !unset('maxBytesPerJob')) profile.maxBytesPerFile = Math.min(profile.maxBytesPerFile, profile.maxBytesPerJob);
  if (unset('maxRecordBytes')) profile.maxRecordBytes = Math.min(profile.maxRecordBytes, profile.maxBytesPerFile);
  checkProfile(profile);
  return profile;
}

function checkProfile(p: QuotaProfile): void {
  const fail = (msg: string) => {
    throw new BatchError('E_BAD_OPTION', `quota profile ${p.name}: ${msg}`);
  };
  if (p.maxRecordsPerFile > p.maxRecordsPerJob) fail(`records per file (${p.maxRecordsPerFile}) exceed records per job (${p.maxRecordsPerJob})`);
  if (p.maxBytesPerFile > p.maxBytesPerJob) fail(`bytes per file (${p.maxBytesPerFile}) exceed bytes per job (${p.maxBytesPerJob})`);
  if (p.minRecordsPerJob > p.maxRecordsPerJob) fail(`the minimum records per job (${p.minRecordsPerJob}) exceeds the maximum (${p.maxRecordsPerJob})`);
  if (p.maxRecordBytes > p.maxBytesPerFile) fail(`the record size limit (${p.maxRecordBytes}) exceeds the file size limit (${p.maxBytesPerFile})`);
}

const UNITS: Record<string, number> = {
  b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, k: 1e3, m: 1e6, g: 1e9,
  kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4,
};

/** Parse a byte size: `200MB` (decimal), `256MiB` (binary), `1.5GB`, or a plain number of bytes. */
export function parseBytes(text: string | number, option = 'size'): number {
  if (typeof text === 'number') return text;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? UNITS[(m[2] || 'b').toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new BatchError('E_BAD_OPTION', `${option}: cannot read "${text}" as a size`, {
      hint: 'write bytes as a number or with a unit: 200MB, 1GB, 256MiB',
    });
  }
  return Math.floor(Number(m[1]) * unit);
}
