/**
 * Service Quotas, as far as the local service has quotas: the batch inference quotas of service
 * code `bedrock` for every model of the batch catalogue (src/bedrock/batch-models.ts), valued from
 * the service's own quota profile, so that what `doctor` reads is what the service enforces. The
 * protocol is awsJson1_1, as `@aws-sdk/client-service-quotas` speaks it: `POST /` with
 * `X-Amz-Target: ServiceQuotasV20190624.<Operation>` and a JSON body.
 *
 *   ListServiceQuotas            the applied values (here: all of them), paged (MaxResults 1-100)
 *   ListAWSDefaultServiceQuotas  the defaults (here: the same values)
 *   GetServiceQuota              one quota by QuotaCode
 *   GetAWSDefaultServiceQuota    one default by QuotaCode
 *
 * Per model, named as AWS names them (docs/bedrock.md §5):
 *   Minimum number of records per batch inference job for <model>   (models with a catalogued minimum)
 *   Records per input file per batch inference job for <model>
 *   Records per batch inference job for <model>
 *   Batch inference input file size (in GB) for <model>
 *   Batch inference job size (in GB) for <model>
 *   Sum of in-progress and submitted batch inference jobs using a base model for <model>
 *
 * Sizes are in GB (10^9 bytes, as src/bedrock/quotas.ts reads AWS's "GB"). Quota codes are made
 * here (`L-` and 8 hex digits of the name's sha256), stable across runs but not AWS's own codes.
 * Another service code is a NoSuchResourceException; errors carry `x-amzn-ErrorType` and
 * `{"__type", "message"}`.
 */
import { createHash } from 'node:crypto';
import { BATCH_MODELS, type BatchModel } from '../bedrock/batch-models.js';
import type { QuotaProfile } from '../bedrock/quotas.js';

/** What the handler needs of the service. */
export interface QuotasContext {
  readonly region: string;
  readonly accountId: string;
  readonly quotas: QuotaProfile;
  /** The minimum records of a job for a model, as the service enforces it. */
  minRecordsFor(modelId: string): number;
}

/** An answer to send: status, error type (for errors) and the JSON body. */
export interface QuotasAnswer {
  status: number;
  errorType?: string;
  body: Record<string, unknown>;
}

export const SERVICE_QUOTAS_TARGET_PREFIX = 'ServiceQuotasV20190624.';
const SERVICE_CODE = 'bedrock';
const SERVICE_NAME = 'Amazon Bedrock';
const GB = 1_000_000_000;

class QuotasError extends Error {
  constructor(
    readonly errorType: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

interface Quota {
  ServiceCode: string;
  ServiceName: string;
  QuotaArn: string;
  QuotaCode: string;
  QuotaName: string;
  Value: number;
  Unit: string;
  Adjustable: boolean;
  GlobalQuota: boolean;
  QuotaAppliedAtLevel: 'ACCOUNT';
  Description: string;
}

function codeOf(name: string): string {
  return `L-${createHash('sha256').update(name).digest('hex').slice(0, 8).toUpperCase()}`;
}

/** Every batch quota the service has, in a stable order (by model, then kind). */
export function localBatchQuotas(ctx: QuotasContext): Quota[] {
  const out: Quota[] = [];
  const q = ctx.quotas;
  const add = (model: BatchModel, name: string, value: number, adjustable: boolean, description: string) => {
    const QuotaName = `${name} for ${model.name}`;
    const QuotaCode = codeOf(QuotaName);
    out.push({
      ServiceCode: SERVICE_CODE,
      ServiceName: SERVICE_NAME,
      QuotaArn: `arn:aws:servicequotas:${ctx.region}:${ctx.accountId}:${SERVICE_CODE}/${QuotaCode}`,
      QuotaCode,
      QuotaName,
      Value: value,
      Unit: 'None',
      Adjustable: adjustable,
      GlobalQuota: false,
      QuotaAppliedAtLevel: 'ACCOUNT',
      Description: description,
    });
  };
  for (const m of BATCH_MODELS) {
    if (m.minRecordsPerJob !== undefined) {
      add(m, 'Minimum number of records per batch inference job', ctx.minRecordsFor(m.modelId), true, 'The minimum number of records across all input files in a batch inference job.');
    }
    add(m, 'Records per input file per batch inference job', q.maxRecordsPerFile, true, 'The maximum number of records in an input file in a batch inference job.');
    add(m, 'Records per batch inference job', q.maxRecordsPerJob, true, 'The maximum number of records across all input files in a batch inference job.');
    add(m, 'Batch inference input file size (in GB)', q.maxBytesPerFile / GB, false, 'The maximum size of a single input file in a batch inference job.');
    add(m, 'Batch inference job size (in GB)', q.maxBytesPerJob / GB, true, 'The maximum cumulative size of all input files in a batch inference job.');
    add(m, 'Sum of in-progress and submitted batch inference jobs using a base model', q.maxJobsInFlight, true, 'The maximum number of submitted and in-progress batch inference jobs using a base model.');
  }
  return out;
}

/** Answer one Service Quotas request (`target` is the X-Amz-Target header's value). */
export function answerServiceQuotas(ctx: QuotasContext, target: string, body: Buffer): QuotasAnswer {
  try {
    return { status: 200, body: operate(ctx, target, body) };
  } catch (err) {
    const e = err instanceof QuotasError ? err : new QuotasError('ServiceException', `Internal error: ${(err as Error).message}`, 500);
    return { status: e.status, errorType: e.errorType, body: { __type: e.errorType, message: e.message } };
  }
}

function operate(ctx: QuotasContext, target: string, raw: Buffer): Record<string, unknown> {
  const op = target.startsWith(SERVICE_QUOTAS_TARGET_PREFIX) ? target.slice(SERVICE_QUOTAS_TARGET_PREFIX.length) : '';
  let body: Record<string, unknown>;
  try {
    const parsed: unknown = raw.length === 0 ? {} : JSON.parse(raw.toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    body = parsed as Record<string, unknown>;
  } catch {
    throw new QuotasError('SerializationException', 'The request body is not a JSON object');
  }
  switch (op) {
    case 'ListServiceQuotas':
    case 'ListAWSDefaultServiceQuotas':
      return list(ctx, body, op === 'ListServiceQuotas');
    case 'GetServiceQuota':
    case 'GetAWSDefaultServiceQuota':
      return { Quota: one(ctx, body) };
    default:
      throw new QuotasError('UnknownOperationException', `The local service answers ListServiceQuotas, ListAWSDefaultServiceQuotas, GetServiceQuota and GetAWSDefaultServiceQuota, not ${op || target || '(no X-Amz-Target)'}`);
  }
}

function serviceCode(body: Record<string, unknown>): void {
  const code = body.ServiceCode;
  if (typeof code !== 'string' || !/^[A-Za-z0-9-]{1,63}$/.test(code)) {
    throw new QuotasError('IllegalArgumentException', 'ServiceCode is required: a service code such as bedrock');
  }
  if (code !== SERVICE_CODE) throw new QuotasError('NoSuchResourceException', `The request failed because the specified service doesn't exist: ${code} (the local service has quotas for bedrock only)`);
}

function list(ctx: QuotasContext, body: Record<string, unknown>, applied: boolean): Record<string, unknown> {
  serviceCode(body);
  const max = body.MaxResults ?? 100;
  if (typeof max !== 'number' || !Number.isInteger(max) || max < 1 || max > 100) {
    throw new QuotasError('IllegalArgumentException', `MaxResults must be a whole number from 1 to 100, got ${JSON.stringify(max)}`);
  }
  let start = 0;
  if (body.NextToken !== undefined) {
    const token = typeof body.NextToken === 'string' ? /^q([0-9]{1,6})$/.exec(Buffer.from(body.NextToken, 'base64').toString('latin1')) : null;
    if (!token) throw new QuotasError('InvalidPaginationTokenException', 'Invalid pagination token');
    start = Number(token[1]);
  }
  let all = localBatchQuotas(ctx);
  if (applied && body.QuotaCode !== undefined) all = all.filter((q) => q.QuotaCode === body.QuotaCode);
  const page = all.slice(start, start + max);
  const next = start + max < all.length ? Buffer.from(`q${start + max}`, 'latin1').toString('base64') : undefined;
  return { Quotas: page, ...(next ? { NextToken: next } : {}) };
}

function one(ctx: QuotasContext, body: Record<string, unknown>): Quota {
  serviceCode(body);
  if (typeof body.QuotaCode !== 'string' || !/^[A-Za-z0-9-]{1,128}$/.test(body.QuotaCode)) {
    throw new QuotasError('IllegalArgumentException', 'QuotaCode is required: a quota code such as L-1A2B3C4D');
  }
  const quota = localBatchQuotas(ctx).find((q) => q.QuotaCode === body.QuotaCode);
  if (!quota) throw new QuotasError('NoSuchResourceException', `The request failed because the specified quota doesn't exist: ${body.QuotaCode}`);
  return quota;
}
