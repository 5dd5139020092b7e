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
 */
import { ListAWSDefaultServiceQuotasCommand, ListServiceQuotasCommand, ServiceQuotasClient, type ServiceQuota } from '@aws-sdk/client-service-quotas';
import type { BatchModel } from '../bedrock/batch-models.js';
import type { QuotaProfile } from '../bedrock/quotas.js';
import { createAwsClient, isLoopbackEndpoint, resolveAwsOptions, type AwsClientOptions } from './config.js';

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
