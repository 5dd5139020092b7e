/**
 * The S3 client: the toolkit's one AWS configuration (src/aws/config.ts: profile, credentials,
 * region, endpoint, retries, user agent, debug log) plus what S3 alone needs:
 *
 * - S3 against a custom, non-AWS endpoint (MinIO, moto, LocalStack, Ceph, ...): path-style addressing
 *   and checksums `WHEN_REQUIRED` by default, because many of those servers know neither
 *   virtual-host buckets on 127.0.0.1 nor the SDK's newer default checksums; options and the
 *   standard variables (`AWS_REQUEST_CHECKSUM_CALCULATION`, `AWS_RESPONSE_CHECKSUM_VALIDATION`)
 *   override that.
 *
 * Nothing here logs or returns credentials.
 */
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { awsClientConfig, createAwsClient, isCustomEndpoint, type AwsClientOptions } from '../aws/config.js';

export { awsClientConfig, configuredEndpoint, isCustomEndpoint, type AwsClientOptions, type AwsCredentials } from '../aws/config.js';

export type ChecksumMode = 'WHEN_SUPPORTED' | 'WHEN_REQUIRED';

export interface S3ClientOptions extends AwsClientOptions {
  /** `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key` (default: on for custom non-AWS endpoints). */
  forcePathStyle?: boolean;
  requestChecksumCalculation?: ChecksumMode;
  responseChecksumValidation?: ChecksumMode;
}

/** What S3 alone adds to the shared config: path-style and checksum modes for custom endpoints. */
function s3Only(options: S3ClientOptions): Pick<S3ClientConfig, 'forcePathStyle' | 'requestChecksumCalculation' | 'responseChecksumValidation'> {
  const env = options.env ?? process.env;
  const custom = isCustomEndpoint(awsClientConfig('S3', options).endpoint);
  const forcePathStyle = options.forcePathStyle ?? (custom ? true : undefined);
  const request = options.requestChecksumCalculation ?? (custom && !env.AWS_REQUEST_CHECKSUM_CALCULATION ? 'WHEN_REQUIRED' : undefined);
  const response = options.responseChecksumValidation ?? (custom && !env.AWS_RESPONSE_CHECKSUM_VALIDATION ? 'WHEN_REQUIRED' : undefined);
  return {
    ...(forcePathStyle !== undefined ? { forcePathStyle } : {}),
    ...(request !== undefined ? { requestChecksumCalculation: request } : {}),
    ...(response !== undefined ? { responseChecksumValidation: response } : {}),
  };
}

/** The S3Client config for the options (see the module comment for the defaults). */
export function s3ClientOptions(options: S3ClientOptions = {}): S3ClientConfig {
  return { ...awsClientConfig('S3', options), ...s3Only(options) };
}

export function createS3Client(options: S3ClientOptions = {}): S3Client {
  return createAwsClient(S3Client, 'S3', options, s3Only(options));
}
