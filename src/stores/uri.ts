/**
 * S3 URIs: parsing and formatting `s3://bucket/key`, and the checks of the S3 options that name
 * AWS things (KMS key, bucket owner) against Bedrock's documented patterns (docs/bedrock.md §3.1).
 * Bedrock's stricter rule for the URIs a batch job is given lives with the rest of Bedrock's
 * vocabulary, in src/bedrock/s3-uri.ts.
 */
import { matchesPattern } from '../bedrock/vocabulary.js';
import { BatchError } from '../errors.js';

export interface S3Location {
  bucket: string;
  /** The key or prefix, without a leading `/` (may be empty, may end in `/`). */
  key: string;
}

/** True for `s3://...` (case-insensitive scheme). */
export function isS3Uri(uri: string): boolean {
  return /^s3:\/\//i.test(uri);
}

/**
 * Splits `s3://bucket/key` into bucket and key. Lenient about the key (S3 accepts any UTF-8) and
 * about legacy bucket names; strict about the shape: a bucket must be there, without `/` or spaces.
 */
export function parseS3Uri(uri: string): S3Location {
  if (typeof uri !== 'string' || !isS3Uri(uri)) {
    throw new BatchError('E_BAD_URI', `"${uri}" is not an S3 URI`, { hint: 'write it as s3://bucket/key' });
  }
  const rest = uri.slice(5);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const key = slash < 0 ? '' : rest.slice(slash + 1);
  if (bucket === '') throw new BatchError('E_BAD_URI', `${uri} names no bucket`, { hint: 'write it as s3://bucket/key' });
  if (!/^[A-Za-z0-9._-]{1,255}$/.test(bucket)) {
    throw new BatchError('E_BAD_URI', `${uri}: "${bucket}" is not a valid bucket name`, {
      hint: 'bucket names are 3-63 lowercase letters, digits, dots and hyphens',
    });
  }
  return { bucket, key };
}

export function formatS3Uri(bucket: string, key = ''): string {
  return `s3://${bucket}/${key}`;
}

/** Throws E_BAD_OPTION unless `id` is a KMS key id, key ARN, alias name or alias ARN. */
export function checkKmsKeyId(id: string): void {
  if (typeof id !== 'string' || id.length < 1 || id.length > 2048 || !matchesPattern('kmsKeyId', id)) {
    throw new BatchError('E_BAD_OPTION', `--kms-key-id "${id}" is not a KMS key id, key ARN, alias or alias ARN`, {
      hint: 'give e.g. 1234abcd-12ab-34cd-56ef-1234567890ab, arn:aws:kms:us-east-1:111122223333:key/<id>, or alias/my-key',
    });
  }
}

/** Throws E_BAD_OPTION unless `owner` is a 12-digit AWS account id. */
export function checkAccountId(owner: string, option = '--expected-bucket-owner'): void {
  if (!matchesPattern('accountId', owner)) {
    throw new BatchError('E_BAD_OPTION', `${option} "${owner}" is not a 12-digit AWS account id`);
  }
}
