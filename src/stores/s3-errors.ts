/**
 * S3 and SDK errors turned into BatchErrors that name the location, say what happened and what to
 * do. Callers branch on the code: E_NO_BUCKET, E_ACCESS_DENIED, E_CREDENTIALS, E_BAD_OPTION (region,
 * endpoint), E_STORE (missing object and everything else). Messages never carry credentials.
 */
import { BatchError, type ErrorCode } from '../errors.js';

export type S3Action = 'read' | 'list' | 'write' | 'delete' | 'check' | 'abort' | 'tag' | 'read-tags';

const PERMISSION: Record<S3Action, string> = {
  read: 's3:GetObject',
  list: 's3:ListBucket',
  write: 's3:PutObject',
  delete: 's3:DeleteObject',
  check: 's3:GetObject (and s3:ListBucket to tell a missing object from a forbidden one)',
  abort: 's3:AbortMultipartUpload',
  tag: 's3:GetObjectTagging and s3:PutObjectTagging',
  'read-tags': 's3:GetObjectTagging',
};

const DENIED = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'AllAccessDisabled',
  'AccountProblem',
  'InvalidObjectState',
  'KMS.AccessDeniedException',
  'KMS.DisabledException',
]);
const BAD_CREDENTIALS = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'InvalidToken', 'ExpiredToken', 'TokenRefreshRequired', 'InvalidClientTokenId']);
const NETWORK = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT']);

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  Code?: string;
  $fault?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number; totalRetryDelay?: number; requestId?: string };
  cause?: unknown;
}

/** The HTTP status of an SDK error, if it got a response. */
export function httpStatus(error: unknown): number | undefined {
  return (error as SdkError)?.$metadata?.httpStatusCode;
}

/** The S3 error code (`NoSuchKey`, `AccessDenied`, ...) or the Node error code (`ECONNRESET`). */
export function errorName(error: unknown): string {
  const e = error as SdkError;
  const code = e?.Code ?? (e?.$metadata ? e?.name : undefined) ?? e?.code ?? networkCode(e) ?? e?.name;
  return code ?? 'Error';
}

function networkCode(e: SdkError | undefined): string | undefined {
  let c: unknown = e;
  for (let i = 0; i < 5 && c; i++) {
    const code = (c as SdkError).code;
    if (code && NETWORK.has(code)) return code;
    c = (c as SdkError).cause;
  }
  return undefined;
}

/** One line about an SDK error: `NoSuchBucket (HTTP 404): The specified bucket does not exist; 3 attempts`. */
export function describeS3Error(error: unknown): string {
  const e = error as SdkError;
  const name = errorName(error);
  const status = httpStatus(error);
  const net = networkCode(e);
  let message = e?.message && e.message !== 'UnknownError' && e.message !== name ? e.message : '';
  if (net && net !== name) message = `${message} (${net})`.trim();
  const attempts = e?.$metadata?.attempts;
  return `${name}${status ? ` (HTTP ${status})` : ''}${message ? `: ${message}` : ''}${attempts && attempts > 1 ? `; ${attempts} attempts` : ''}`;
}

/** The BatchError code an SDK error falls under. */
export function s3ErrorCode(error: unknown): ErrorCode {
  const name = errorName(error);
  const status = httpStatus(error);
  const message = (error as SdkError)?.message ?? '';
  if (name === 'NoSuchBucket') return 'E_NO_BUCKET';
  if (BAD_CREDENTIALS.has(name) || DENIED.has(name) || status === 403) return 'E_ACCESS_DENIED';
  if (name === 'CredentialsProviderError' || /could not load credentials|credential.*(missing|expired)|token.*expired/i.test(message)) return 'E_CREDENTIALS';
  if (/region is missing/i.test(message)) return 'E_BAD_OPTION';
  return 'E_STORE';
}

/** What the user can do about an SDK error met while doing `action` on `uri`. */
export function s3ErrorHint(error: unknown, action: S3Action, uri: string): string | undefined {
  const name = errorName(error);
  const status = httpStatus(error);
  const bucket = /^s3:\/\/([^/]+)/i.exec(uri)?.[1] ?? '';
  const message = (error as SdkError)?.message ?? '';
  if (name === 'NoSuchBucket') return `create the bucket ${bucket}, or check its name, --region and --endpoint-url`;
  if (name === 'NoSuchKey' || status === 404) return 'check the key (S3 keys are case-sensitive)';
  if (name === 'InvalidAccessKeyId') return 'the access key is unknown to this endpoint: check AWS_PROFILE / --profile, AWS_ACCESS_KEY_ID, and --endpoint-url';
  if (name === 'SignatureDoesNotMatch') return 'the secret key does not match the access key: check your credentials';
  if (name === 'ExpiredToken' || name === 'TokenRefreshRequired' || name === 'InvalidToken') return 'the session token has expired: refresh it (e.g. aws sso login) and run again';
  if (s3ErrorCode(error) === 'E_ACCESS_DENIED') {
    return `the identity in use needs ${PERMISSION[action]} on ${uri}${action === 'write' ? ' (and kms:GenerateDataKey on the key, with --kms-key-id; and s3:PutObjectTagging, with --expire-days)' : ''}; with --expected-bucket-owner, check that the account owns the bucket`;
  }
  if (s3ErrorCode(error) === 'E_CREDENTIALS') return 'no AWS credentials were found: set AWS_PROFILE (or --profile), run aws configure / aws sso login, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY';
  if (/region is missing/i.test(message)) return 'give --region, or set AWS_REGION';
  if (name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformed' || status === 301) return `the bucket ${bucket} is in another region: give its region with --region`;
  const net = networkCode(error as SdkError);
  if (net === 'ECONNREFUSED' || net === 'ENOTFOUND' || net === 'EAI_AGAIN' || net === 'EHOSTUNREACH' || net === 'ENETUNREACH') {
    return 'the S3 endpoint cannot be reached: check --endpoint-url / AWS_ENDPOINT_URL_S3 and your network';
  }
  if (status !== undefined && status >= 500) return 'the S3 service failed; it was retried already: try again later';
  return undefined;
}

/** A BatchError for an SDK error met while doing `action` on `uri`. */
export function s3Error(error: unknown, action: S3Action, uri: string, what?: string): BatchError {
  if (error instanceof BatchError) return error;
  const name = errorName(error);
  const code = s3ErrorCode(error);
  const doing = what ?? `cannot ${action === 'check' ? 'look up' : action === 'read-tags' ? 'read the tags of' : action} ${uri}`;
  let message: string;
  if (name === 'NoSuchKey' || (httpStatus(error) === 404 && action === 'read')) message = `${uri} does not exist`;
  else if (code === 'E_NO_BUCKET') message = `${doing}: the bucket ${/^s3:\/\/([^/]+)/i.exec(uri)?.[1]} does not exist`;
  else message = `${doing}: ${describeS3Error(error)}`;
  const hint = s3ErrorHint(error, action, uri);
  return new BatchError(code, message, { cause: error, ...(hint ? { hint } : {}) });
}

/** Errors the SDK retries and a resumed read may retry again: network failures, 5xx, throttling. */
export function isTransient(error: unknown): boolean {
  const e = error as SdkError;
  if (e?.name === 'AbortError') return false;
  const status = httpStatus(error);
  if (status !== undefined) return status >= 500 || status === 429 || status === 408;
  return networkCode(e) !== undefined || /aborted|socket hang up|premature close/i.test(e?.message ?? '');
}
