/**
 * AWS clients built the way AWS users expect, in one place so every service client (S3 here, Bedrock
 * in the jobs area) is configured alike:
 *
 * - credentials: the SDK's default chain (env, SSO, shared files, process, web identity, ECS/EC2),
 *   for the chosen profile (`profile` option, else `AWS_PROFILE`); static credentials only when given;
 * - region: the option, else `AWS_REGION`, else `AWS_DEFAULT_REGION` (the AWS CLI's variable, which
 *   the JS SDK alone does not read), else the profile's region; with a custom endpoint and no region
 *   at all, `us-east-1` (S3-compatible servers ignore it, and the SDK would otherwise refuse to sign);
 * - endpoint: the option (`--endpoint-url`), else `AWS_ENDPOINT_URL_<SERVICE>`, else
 *   `AWS_ENDPOINT_URL`, else the profile's `endpoint_url` (the SDK reads those three itself, and
 *   honours `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`);
 * - S3 against a custom, non-AWS endpoint (MinIO, s3rver, Ceph, ...): path-style addressing and
 *   checksums `WHEN_REQUIRED` by default, because most of those servers know neither virtual-host
 *   buckets on 127.0.0.1 nor the SDK's newer default checksums; options and the standard variables
 *   (`AWS_REQUEST_CHECKSUM_CALCULATION`, `AWS_RESPONSE_CHECKSUM_VALIDATION`) override that;
 * - retries: the SDK's standard strategy; `maxAttempts` (else `AWS_MAX_ATTEMPTS`, else the
 *   profile's `max_attempts`, else 3) bounds the attempts of every request.
 *
 * Nothing here logs or returns credentials.
 */
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { BatchError } from '../errors.js';

/** Static credentials or a provider of them (the SDK's own type). */
export type AwsCredentials = NonNullable<S3ClientConfig['credentials']>;

export type ChecksumMode = 'WHEN_SUPPORTED' | 'WHEN_REQUIRED';

export interface AwsClientOptions {
  region?: string;
  /** A profile of `~/.aws/config` / `~/.aws/credentials` (default `AWS_PROFILE`, else `default`). */
  profile?: string;
  /** The service endpoint, e.g. `http://127.0.0.1:9000` for a local S3-compatible server. */
  endpointUrl?: string;
  /** Static credentials or a provider; default: the SDK's credential chain. */
  credentials?: AwsCredentials;
  /** Attempts per request, first one included (default: `AWS_MAX_ATTEMPTS`, else the SDK's 3). */
  maxAttempts?: number;
  /** The environment to read (default `process.env`); for tests. */
  env?: NodeJS.ProcessEnv;
}

export interface S3ClientOptions extends AwsClientOptions {
  /** `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key` (default: on for custom non-AWS endpoints). */
  forcePathStyle?: boolean;
  requestChecksumCalculation?: ChecksumMode;
  responseChecksumValidation?: ChecksumMode;
}

/**
 * The endpoint configured for a service by option or environment (`AWS_ENDPOINT_URL_<SERVICE>`,
 * `AWS_ENDPOINT_URL`), or undefined. A profile's `endpoint_url` is left to the SDK.
 */
export function configuredEndpoint(service: string, options: AwsClientOptions = {}): string | undefined {
  if (options.endpointUrl !== undefined) return checkEndpoint(options.endpointUrl, '--endpoint-url');
  const env = options.env ?? process.env;
  if (truthy(env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS)) return undefined;
  const suffix = service.toUpperCase().replace(/[^A-Z0-9]+/g, '_');
  const specific = env[`AWS_ENDPOINT_URL_${suffix}`];
  if (specific) return checkEndpoint(specific, `AWS_ENDPOINT_URL_${suffix}`);
  if (env.AWS_ENDPOINT_URL) return checkEndpoint(env.AWS_ENDPOINT_URL, 'AWS_ENDPOINT_URL');
  return undefined;
}

/** True for endpoints that are not AWS's own (`*.amazonaws.com`, `*.amazonaws.com.cn`, `*.api.aws`). */
export function isCustomEndpoint(endpoint: string | undefined): boolean {
  if (!endpoint) return false;
  const host = new URL(endpoint).hostname;
  return !/(^|\.)amazonaws\.com(\.cn)?$|(^|\.)api\.aws$/.test(host);
}

/** The config every AWS client of the toolkit shares: region, profile, endpoint, credentials, retries. */
export function awsClientConfig(service: string, options: AwsClientOptions = {}): {
  region?: string;
  profile?: string;
  endpoint?: string;
  credentials?: AwsCredentials;
  maxAttempts?: number;
} {
  const env = options.env ?? process.env;
  const endpoint = configuredEndpoint(service, options);
  const region = options.region ?? (env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined) ?? (isCustomEndpoint(endpoint) && !options.profile && !env.AWS_PROFILE ? 'us-east-1' : undefined);
  if (region !== undefined && !/^[a-z0-9-]{1,40}$/.test(region)) {
    throw new BatchError('E_BAD_OPTION', `--region "${region}" is not an AWS region name`, { hint: 'e.g. us-east-1, eu-west-3' });
  }
  if (options.maxAttempts !== undefined && (!Number.isSafeInteger(options.maxAttempts) || options.maxAttempts < 1 || options.maxAttempts > 20)) {
    throw new BatchError('E_BAD_OPTION', `maxAttempts must be a whole number from 1 to 20, got ${options.maxAttempts}`);
  }
  return {
    ...(region !== undefined ? { region } : {}),
    ...(options.profile !== undefined ? { profile: options.profile } : {}),
    ...(endpoint !== undefined ? { endpoint } : {}),
    ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
    ...(options.maxAttempts !== undefined ? { maxAttempts: options.maxAttempts } : {}),
  };
}

/** The S3Client config for the options (see the module comment for the defaults). */
export function s3ClientOptions(options: S3ClientOptions = {}): S3ClientConfig {
  const env = options.env ?? process.env;
  const base = awsClientConfig('S3', options);
  const custom = isCustomEndpoint(base.endpoint);
  const forcePathStyle = options.forcePathStyle ?? (custom ? true : undefined);
  const request = options.requestChecksumCalculation ?? (custom && !env.AWS_REQUEST_CHECKSUM_CALCULATION ? 'WHEN_REQUIRED' : undefined);
  const response = options.responseChecksumValidation ?? (custom && !env.AWS_RESPONSE_CHECKSUM_VALIDATION ? 'WHEN_REQUIRED' : undefined);
  return {
    ...base,
    ...(forcePathStyle !== undefined ? { forcePathStyle } : {}),
    ...(request !== undefined ? { requestChecksumCalculation: request } : {}),
    ...(response !== undefined ? { responseChecksumValidation: response } : {}),
  };
}

export function createS3Client(options: S3ClientOptions = {}): S3Client {
  return new S3Client(s3ClientOptions(options));
}

function checkEndpoint(value: string, source: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new BatchError('E_BAD_OPTION', `${source} "${value}" is not a URL`, { hint: 'give e.g. http://127.0.0.1:9000 or https://s3.eu-west-3.amazonaws.com' });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new BatchError('E_BAD_OPTION', `${source} "${value}" must be an http:// or https:// URL`);
  }
  if (url.username || url.password) {
    throw new BatchError('E_BAD_OPTION', `${source} must not carry credentials in the URL`, { hint: 'use a profile or the AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY variables' });
  }
  return value;
}

function truthy(v: string | undefined): boolean {
  return v !== undefined && /^(1|true|yes)$/i.test(v.trim());
}
