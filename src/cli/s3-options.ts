/**
 * The S3 / AWS client options every command that reads or writes a location takes, and the
 * interrupt handling that keeps Ctrl-C from leaving multipart uploads behind.
 */
import { Option, type Command } from 'commander';
import { BatchError } from '../errors.js';
import { parseBytes } from '../bedrock/quotas.js';
import { abortOpenUploads, openUploadCount, uploadsSettled } from '../stores/s3-writer.js';
import type { S3StoreOptions, VerifyMode } from '../stores/s3.js';
import { exitCodeFor } from './exit-codes.js';
import { int } from './parsers.js';

export function addS3Options(cmd: Command): Command {
  return cmd
    .addOption(new Option('--endpoint-url <url>', 'S3 endpoint (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the profile\'s endpoint_url, else AWS)'))
    .addOption(new Option('--region <region>', 'AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile\'s region)'))
    .addOption(new Option('--profile <name>', 'AWS profile for credentials and settings (default: AWS_PROFILE)'))
    .addOption(new Option('--force-path-style', 'address buckets as endpoint/bucket/key (default: on with a non-AWS --endpoint-url)'))
    .addOption(new Option('--kms-key-id <key>', 'encrypt written S3 objects with SSE-KMS under this key (id, ARN or alias)'))
    .addOption(new Option('--expected-bucket-owner <account>', 'refuse buckets not owned by this 12-digit account id'))
    .addOption(new Option('--part-size <size>', 'multipart upload part size, 5MiB to 5GiB (default 8MiB)'))
    .addOption(new Option('--upload-queue-size <n>', 'parts uploaded at once per object (default 4)'))
    .addOption(new Option('--verify <mode>', 'checks after each upload: checksum (size + S3\'s CRC32s), md5 (+ MD5 vs ETag, for servers without checksums), size, none').choices(['checksum', 'md5', 'size', 'none']))
    .addOption(new Option('--max-attempts <n>', 'attempts per S3 request, retries included (default: AWS_MAX_ATTEMPTS, else 3)'));
}

/** What commander hands an action for the options addS3Options declares. */
export interface S3Flags {
  endpointUrl?: string;
  region?: string;
  profile?: string;
  forcePathStyle?: boolean;
  kmsKeyId?: string;
  expectedBucketOwner?: string;
  partSize?: string;
  uploadQueueSize?: string;
  verify?: VerifyMode;
  maxAttempts?: string;
}

/** The store options the parsed flags ask for (only those given: the rest comes from the environment). */
export function s3OptionsFrom(flags: S3Flags): S3StoreOptions {
  const out: S3StoreOptions = {};
  if (flags.endpointUrl !== undefined) out.endpointUrl = flags.endpointUrl;
  if (flags.region !== undefined) out.region = flags.region;
  if (flags.profile !== undefined) out.profile = flags.profile;
  if (flags.forcePathStyle) out.forcePathStyle = true;
  if (flags.kmsKeyId !== undefined) out.kmsKeyId = flags.kmsKeyId;
  if (flags.expectedBucketOwner !== undefined) out.expectedBucketOwner = flags.expectedBucketOwner;
  if (flags.partSize !== undefined) out.partSize = parseSize(flags.partSize, '--part-size');
  if (flags.uploadQueueSize !== undefined) out.queueSize = int('--upload-queue-size', 1)(flags.uploadQueueSize);
  if (flags.maxAttempts !== undefined) out.maxAttempts = int('--max-attempts', 1)(flags.maxAttempts);
  if (flags.verify !== undefined) out.verify = flags.verify;
  return out;
}

/** Sizes as `8MiB`, `16MB`, `8388608`: binary units (KiB, MiB, GiB) besides parseBytes' decimal ones. */
function parseSize(value: string, name: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(KiB|MiB|GiB)\s*$/i.exec(value);
  if (m) return Math.round(Number(m[1]) * { kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 }[m[2]!.toLowerCase() as 'kib' | 'mib' | 'gib']);
  return parseBytes(value, name);
}

/**
 * Runs `work` with an AbortSignal that SIGINT / SIGTERM abort. On an interrupt, every open S3
 * upload is aborted before the error (E_INTERRUPTED) is thrown; a second Ctrl-C exits at once. On
 * any failure, the uploads the failure destroyed are awaited, so the process exits only once their
 * aborts are sent.
 */
export async function withInterrupts<T>(
  work: (signal: AbortSignal) => Promise<T>,
  hint = 'run the same command again: prepare is deterministic, and --overwrite replaces a partial run',
): Promise<T> {
  const controller = new AbortController();
  let interrupted: NodeJS.Signals | undefined;
  /** Uploads open when the signal came: the pipeline's own teardown may abort them before abortOpenUploads runs. */
  let openAtSignal = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(exitCodeFor(signal));
    interrupted = signal;
    openAtSignal = openUploadCount();
    process.stderr.write(`\nbedrock-batch: ${signal}: stopping, aborting open uploads (press Ctrl-C again to quit at once)\n`);
    controller.abort(new BatchError('E_INTERRUPTED', `interrupted by ${signal}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await work(controller.signal);
  } catch (error) {
    if (interrupted) {
      const n = Math.max(openAtSignal, await abortOpenUploads(new BatchError('E_INTERRUPTED', `interrupted by ${interrupted}`)));
      process.exitCode = exitCodeFor(interrupted);
      throw new BatchError('E_INTERRUPTED', `interrupted by ${interrupted}${n ? `; ${n} open upload${n === 1 ? '' : 's'} aborted` : ''}`, {
        cause: error,
        hint,
      });
    }
    await uploadsSettled();
    throw error;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
