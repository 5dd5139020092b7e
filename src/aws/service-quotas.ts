/**
 * The account's batch inference quotas for one model, read from Service Quotas (service code
 * `bedrock`): the one module that reads Service Quotas, for `doctor` today and for a run's planner
 * (`accountQuotaProfile`).
 *
 * Bedrock's batch quotas are per model and per region, found by name (docs/bedrock.md §5):
 *
 *   Minimum number of records per batch inference job for <model>       → minRecordsPerJob
 *   Records per input file per batch inference job for <model>          → maxRecordsPerFile
 *   Records per batch inference job for <model>                         → maxRecordsPerJob
 *   Batch inference input file size (in GB) for <model>                 → maxBytesPerFile
 *   Batch inference job size (in GB) for <model>                        → maxBytesPerJob
 *   Sum of in-progress and submitted batch inference jobs using a base model for <model>
 *                                                                        → maxJobsInFlight
 *
 * "(in GB)" comes before or after the model in AWS's names ("Batch inference job size for Qwen3
 * Coder 480B (in GB)"); both are read. A size's GB are 10^9 bytes, the conservative reading of
 * src/bedrock/quotas.ts. The model in a name is the catalogue's name (src/bedrock/batch-models.ts),
 * compared without case, spaces or punctuation, with or without a trailing "V1" ("Nova Lite V1")
 * or the provider in front.
 *
 * ListServiceQuotas gives the applied values, and only for quotas that have one; the others come
 * from ListAWSDefaultServiceQuotas. Each value says which (`source`).
 *
 * An endpoint on this machine (the local service) gets the local service's placeholder
 * credentials, never the user's, whichever setting named it (createAwsClient, src/aws/config.ts).
 *
 * `--quotas account` (`resolveQuotaProfile`): a profile of the account's own values, each one that
 * cannot be read (Service Quotas refused or unreachable, no region, a model outside the catalogue,
 * no such quota for the model) taken from the `documented` profile, and the summary says which
 * (`describeQuotaSources`; docs/quotas.md).
 */
import { ListAWSDefaultServiceQuotasCommand, ListServiceQuotasCommand, ServiceQuotasClient, type ServiceQuota } from '@aws-sdk/client-service-quotas';
import { findBatchModel, type BatchModel } from '../bedrock/batch-models.js';
import { ACCOUNT_FALLBACK_PROFILE, ACCOUNT_QUOTAS, QUOTA_PROFILES, quotaProfile, withQuotaOverrides, type QuotaOverrides, type QuotaProfile } from '../bedrock/quotas.js';
import { createAwsClient, isCustomEndpoint, isLoopbackEndpoint, resolveAwsOptions, type AwsClientOptions } from './config.js';

/** The quota profile fields that Service Quotas has a per-model batch quota for. */
export type BatchQuotaField = 'minRecordsPerJob' | 'maxRecordsPerFile' | 'maxRecordsPerJob' | 'maxBytesPerFile' | 'maxBytesPerJob' | 'maxJobsInFlight';

export const BATCH_QUOTA_FIELDS: readonly BatchQuotaField[] = Object.freeze([
  'minRecordsPerJob',
  'maxRecordsPerFile',
  'maxRecordsPerJob',
  'maxBytesPerFile',
  'maxBytesPerJob',
  'maxJobsInFlight',
]);

/** One quota of the account, as read. */
export interface AccountBatchQuota {
  field: BatchQuotaField;
  /** The quota's name and code, as Service Quotas gives them. */
  name: string;
  code: string;
  /** The value as Service Quotas gives it (GB for sizes). */
  value: number;
  /** The value in the profile's unit (bytes for sizes, a whole number). */
  profileValue: number;
  /** `applied`: ListServiceQuotas (the account's value); `default`: ListAWSDefaultServiceQuotas. */
  source: 'applied' | 'default';
  adjustable: boolean | undefined;
}

export interface AccountBatchQuotas {
  /** The model's name, as quota names carry it. */
  model: string;
  /** Per field, the quota found (applied over default); fields without one are absent. */
  quotas: Partial<Record<BatchQuotaField, AccountBatchQuota>>;
  /** What could not be read, when something could not (the defaults list, refused). */
  notes: string[];
}

export interface ReadBatchQuotasOptions extends AwsClientOptions {
  /** A client to use instead of building one (tests); its settings win. */
  client?: ServiceQuotasClient;
}

const NAMES: readonly [BatchQuotaField, RegExp][] = [
  ['minRecordsPerJob', /^Minimum number of records per batch inference job for (.+)$/i],
  ['maxRecordsPerFile', /^Records per input file per batch inference job for (.+)$/i],
  ['maxRecordsPerJob', /^Records per batch inference job for (.+)$/i],
  ['maxBytesPerFile', /^Batch inference input file size(?: \(in GB\))? for (.+?)(?: \(in GB\))?$/i],
  ['maxBytesPerJob', /^Batch inference job size(?: \(in GB\))? for (.+?)(?: \(in GB\))?$/i],
  ['maxJobsInFlight', /^Sum of in-progress and submitted batch inference jobs using a base model for (.+)$/i],
];

const GB = 1_000_000_000;

const norm = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, '');

/** Does the model part of a quota name name this model? (see the module comment) */
function namesModel(inName: string, model: Pick<BatchModel, 'name' | 'provider'>): boolean {
  const q = norm(inName);
  const names = [norm(model.name), norm(`${model.provider} ${model.name}`)];
  return names.some((n) => q === n || q === `${n}v1`);
}

/** The profile field a quota name is for, when it is one of `model`'s batch quotas. */
export function batchQuotaFieldOf(quotaName: string, model: Pick<BatchModel, 'name' | 'provider'>): BatchQuotaField | undefined {
  for (const [field, pattern] of NAMES) {
    const m = pattern.exec(quotaName.trim());
    if (m && namesModel(m[1]!, model)) return field;
  }
  return undefined;
}

function profileValueOf(field: BatchQuotaField, value: number): number {
  return field === 'maxBytesPerFile' || field === 'maxBytesPerJob' ? Math.floor(value * GB) : Math.floor(value);
}

/** Build the Service Quotas client for `options`, with the region and endpoint the profile gives (placeholder credentials on this machine). */
export async function createServiceQuotasClient(options: AwsClientOptions = {}): Promise<ServiceQuotasClient> {
  const o = await resolveAwsOptions('Service Quotas', options);
  // the local service answers for any region: one is needed to sign
  return createAwsClient(ServiceQuotasClient, 'Service Quotas', o.region === undefined && isLoopbackEndpoint(o.endpointUrl) ? { ...o, region: 'us-east-1' } : o);
}

async function listAll(client: ServiceQuotasClient, applied: boolean): Promise<ServiceQuota[]> {
  const out: ServiceQuota[] = [];
  let token: string | undefined;
  for (let page = 0; page < 200; page++) {
    const input = { ServiceCode: 'bedrock', MaxResults: 100, ...(token ? { NextToken: token } : {}) };
    const r = applied ? await client.send(new ListServiceQuotasCommand(input)) : await client.send(new ListAWSDefaultServiceQuotasCommand(input));
    out.push(...(r.Quotas ?? []));
    token = r.NextToken;
    if (!token) break;
  }
  return out;
}

/**
 * The account's batch quotas for `model` in the options' region. Throws the SDK's error when the
 * applied values cannot be listed (AccessDeniedException, NoSuchResourceException, ...); a refused
 * defaults list is a note.
 */
export async function readBatchQuotas(model: Pick<BatchModel, 'name' | 'provider'>, options: ReadBatchQuotasOptions = {}): Promise<AccountBatchQuotas> {
  const { client: given, ...aws } = options;
  const client = given ?? (await createServiceQuotasClient(aws));
  try {
    const result: AccountBatchQuotas = { model: model.name, quotas: {}, notes: [] };
    const take = (quotas: ServiceQuota[], source: AccountBatchQuota['source']) => {
      for (const q of quotas) {
        if (!q.QuotaName || typeof q.Value !== 'number' || !Number.isFinite(q.Value)) continue;
        const field = batchQuotaFieldOf(q.QuotaName, model);
        if (!field || result.quotas[field]) continue;
        result.quotas[field] = {
          field,
          name: q.QuotaName,
          code: q.QuotaCode ?? '',
          value: q.Value,
          profileValue: profileValueOf(field, q.Value),
          source,
          adjustable: q.Adjustable,
        };
      }
    };
    take(await listAll(client, true), 'applied');
    if (BATCH_QUOTA_FIELDS.some((f) => !result.quotas[f])) {
      try {
        take(await listAll(client, false), 'default');
      } catch (error) {
        const e = error as { name?: string; message?: string };
        result.notes.push(`the default values could not be listed (${e.name ?? 'Error'}: ${(e.message ?? '').slice(0, 200)})`);
      }
    }
    return result;
  } finally {
    if (!given) client.destroy();
  }
}

/**
 * `base` kept within the account's quotas: every maximum lowered to the account's where that is
 * lower, the minimum raised to the account's where that is higher, and the limits that depend on
 * one another made consistent again (per file within per job, a record within a file). The name
 * says so (`<base>+account`). A field the account has no quota for keeps the base's value.
 */
export function accountQuotaProfile(base: QuotaProfile, quotas: AccountBatchQuotas): QuotaProfile {
  const p: QuotaProfile = { ...base };
  let changed = false;
  for (const field of BATCH_QUOTA_FIELDS) {
    const q = quotas.quotas[field];
    if (!q || q.profileValue < 1) continue;
    const next = field === 'minRecordsPerJob' ? Math.max(p[field], q.profileValue) : Math.min(p[field], q.profileValue);
    if (next !== p[field]) {
      p[field] = next;
      changed = true;
    }
  }
  p.maxRecordsPerFile = Math.min(p.maxRecordsPerFile, p.maxRecordsPerJob);
  p.maxBytesPerFile = Math.min(p.maxBytesPerFile, p.maxBytesPerJob);
  p.maxRecordBytes = Math.min(p.maxRecordBytes, p.maxBytesPerFile);
  if (changed) p.name = `${base.name}+account`;
  return p;
}

/** Where a value of a resolved profile comes from: the account's Service Quotas, or a profile's own value. */
export type QuotaValueSource = 'account' | 'default';

/** A quota profile resolved by name (`resolveQuotaProfile`): what to plan with, and where each value came from. */
export interface ResolvedQuotaProfile {
  /** The profile to plan with: `account` (or `account+overrides`), or the named profile. */
  profile: QuotaProfile;
  /**
   * Per quota: `account` when Service Quotas gave it (the account's applied value, else AWS's
   * default for the account), `default` when it is a profile's own value: for `account`, the
   * documented default (ACCOUNT_FALLBACK_PROFILE) of a quota that could not be read.
   */
  sources: Record<BatchQuotaField, QuotaValueSource>;
  /** Per quota that fell back, why, in a few words ("not readable", "not listed for Claude 3 Haiku"). */
  fallbacks: Partial<Record<BatchQuotaField, string>>;
  /** What could not be read, one line each (never a credential). */
  notes: string[];
  /** Quotas an override set (`overrides`): their value is the override's, whatever `sources` says of the value under it. */
  overridden: BatchQuotaField[];
  /** The quotas as Service Quotas gave them (names, codes, applied or default), when it answered. */
  read?: AccountBatchQuotas;
}

export interface ResolveQuotaOptions {
  /** The run's model id (base id, profile id or ARN): batch quotas are per model. */
  model: string;
  /** Service Quotas' settings (src/aws/config.ts): region, profile, endpoint, credentials. Quotas are per region. */
  aws: AwsClientOptions;
  /** `--max-records` and the like, applied over the resolved values (src/bedrock/quotas.ts withQuotaOverrides). */
  overrides?: QuotaOverrides;
  /** A client to use instead of building one (tests). */
  client?: ServiceQuotasClient;
}

const QUOTA_WORDS: Record<BatchQuotaField, string> = {
  minRecordsPerJob: 'min records',
  maxRecordsPerFile: 'records per file',
  maxRecordsPerJob: 'records per job',
  maxBytesPerFile: 'file size',
  maxBytesPerJob: 'job size',
  maxJobsInFlight: 'max in flight',
};

const allFields = <T>(value: T): Record<BatchQuotaField, T> => Object.fromEntries(BATCH_QUOTA_FIELDS.map((f) => [f, value])) as Record<BatchQuotaField, T>;

/** One line for an SDK error: its name, status and message (trimmed), never a request or a credential. */
function failureText(error: unknown): string {
  const e = (error ?? {}) as { name?: string; message?: string; $metadata?: { httpStatusCode?: number }; code?: string };
  const name = e.name ?? 'Error';
  const status = e.$metadata?.httpStatusCode;
  const message = (e.message ?? String(error)).replace(/\s+/g, ' ').trim().slice(0, 200);
  return `${name}${status ? ` (${status})` : ''}${e.code && e.code !== name ? ` ${e.code}` : ''}${message && message !== name ? `: ${message}` : ''}`;
}

/**
 * The quota profile `name` stands for. `account` reads the model's batch quotas from Service Quotas
 * and takes each one it cannot read from `documented`, saying which (`sources`, `fallbacks`,
 * `notes`); it never fails for a quota it cannot read. Any other name is that fixed profile
 * (quotaProfile), every value `default`. Overrides apply last, either way.
 */
export async function resolveQuotaProfile(name: string, o: ResolveQuotaOptions): Promise<ResolvedQuotaProfile> {
  const overridden = BATCH_QUOTA_FIELDS.filter((f) => o.overrides?.[f] !== undefined);
  if (name !== ACCOUNT_QUOTAS) {
    return { profile: quotaProfile(name, o.overrides ?? {}), sources: allFields<QuotaValueSource>('default'), fallbacks: {}, notes: [], overridden };
  }
  const fallback = QUOTA_PROFILES[ACCOUNT_FALLBACK_PROFILE]!;
  const profile: QuotaProfile = { ...fallback, name: ACCOUNT_QUOTAS };
  const sources = allFields<QuotaValueSource>('default');
  const fallbacks: Partial<Record<BatchQuotaField, string>> = {};
  const notes: string[] = [];
  const finish = (read?: AccountBatchQuotas): ResolvedQuotaProfile => {
    // the limits that depend on one another, made consistent as accountQuotaProfile does
    profile.maxRecordsPerFile = Math.min(profile.maxRecordsPerFile, profile.maxRecordsPerJob);
    profile.maxBytesPerFile = Math.min(profile.maxBytesPerFile, profile.maxBytesPerJob);
    profile.maxRecordBytes = Math.min(profile.maxRecordBytes, profile.maxBytesPerFile);
    return { profile: withQuotaOverrides(profile, o.overrides ?? {}), sources, fallbacks, notes, overridden, ...(read ? { read } : {}) };
  };
  const fallAll = (why: string, note: string) => {
    for (const f of BATCH_QUOTA_FIELDS) fallbacks[f] = why;
    notes.push(`${note}: every quota is the ${ACCOUNT_FALLBACK_PROFILE} default`);
    return finish();
  };

  const model = findBatchModel(o.model);
  if (!model) return fallAll('model not catalogued', `${o.model} is not in the batch model catalogue, so its quota names are not known`);
  let aws: AwsClientOptions;
  try {
    aws = await resolveAwsOptions('Service Quotas', o.aws);
  } catch (error) {
    return fallAll('not readable', `the AWS settings for Service Quotas could not be used (${failureText(error)})`);
  }
  if (!o.client && aws.region === undefined && !isCustomEndpoint(aws.endpointUrl) && !isLoopbackEndpoint(aws.endpointUrl)) {
    return fallAll('no region', 'no AWS region, and batch quotas are per region (pass --region or set AWS_REGION)');
  }
  let read: AccountBatchQuotas;
  try {
    read = await readBatchQuotas(model, { ...aws, ...(o.client ? { client: o.client } : {}) });
  } catch (error) {
    const text = failureText(error);
    const denied = /AccessDenied|not authorized|\(403\)/i.test(text);
    return fallAll('not readable', `Service Quotas could not be read (${text})${denied ? '; reading them needs servicequotas:ListServiceQuotas and servicequotas:ListAWSDefaultServiceQuotas' : ''}`);
  }
  notes.push(...read.notes);
  for (const field of BATCH_QUOTA_FIELDS) {
    const q = read.quotas[field];
    if (!q) {
      fallbacks[field] = `not listed for ${model.name}`;
    } else if (q.profileValue < 1) {
      fallbacks[field] = `Service Quotas gives ${q.value}`;
    } else {
      profile[field] = q.profileValue;
      sources[field] = 'account';
    }
  }
  const missing = BATCH_QUOTA_FIELDS.filter((f) => fallbacks[f] !== undefined);
  if (missing.length > 0) {
    notes.push(`${missing.map((f) => QUOTA_WORDS[f]).join(', ')}: not read from Service Quotas for ${model.name}, the ${ACCOUNT_FALLBACK_PROFILE} default is used`);
  }
  return finish(read);
}

function showQuota(field: BatchQuotaField, value: number): string {
  if (field !== 'maxBytesPerFile' && field !== 'maxBytesPerJob') return value.toLocaleString('en-US');
  return value % GB === 0 ? `${value / GB} GB` : value % 1_000_000 === 0 ? `${value / 1_000_000} MB` : `${value.toLocaleString('en-US')} bytes`;
}

/**
 * One line for a summary: the profile's name, and for `account` each quota with where it came from,
 * e.g. `quotas: account (min records 100 from Service Quotas, ..., file size 1 GB documented
 * default: not readable)`.
 */
export function describeQuotaSources(r: ResolvedQuotaProfile): string {
  if (!r.profile.name.startsWith(ACCOUNT_QUOTAS)) return `quotas: ${r.profile.name}`;
  const parts = BATCH_QUOTA_FIELDS.map((f) => {
    const value = `${QUOTA_WORDS[f]} ${showQuota(f, r.profile[f])}`;
    if (r.overridden.includes(f)) return `${value} overridden`;
    return r.sources[f] === 'account' ? `${value} from Service Quotas` : `${value} ${ACCOUNT_FALLBACK_PROFILE} default: ${r.fallbacks[f] ?? 'not read'}`;
  });
  return `quotas: ${r.profile.name} (${parts.join(', ')})`;
}
