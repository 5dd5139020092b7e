/**
 * The AWS options every command that talks to AWS takes, the same everywhere (src/aws/config.ts
 * resolves them, in the AWS CLI's order), and the interrupt handling that keeps Ctrl-C from leaving
 * multipart uploads behind.
 *
 * `--endpoint-url` is the endpoint of the command's own service: S3 for prepare, collect, estimate
 * and run; Bedrock for submit, status and stop. `--s3-endpoint-url` and `--bedrock-endpoint-url`
 * name each service's alike on every command that uses it.
 */
import { Option, type Command } from 'commander';
import { BatchError } from '../errors.js';
import { resolveAwsOptions } from '../aws/config.js';
import { parseBytes } from '../bedrock/quotas.js';
import { abortOpenUploads, openUploadCount, uploadsSettled } from '../stores/s3-writer.js';
import type { S3StoreOptions, VerifyMode } from '../stores/s3.js';
import { exitCodeFor } from './exit-codes.js';
import { int } from './parsers.js';

/** The service a command's `--endpoint-url` names. */
export type PrimaryService = 'S3' | 'Bedrock';

export interface AwsOptionSet {
  primary: PrimaryService;
  /** The command also talks to Bedrock (adds `--bedrock-endpoint-url` where `--endpoint-url` is S3's). */
  bedrock?: boolean;
  /** Offer S3's `--max-attempts` (collect's means tries per record: there AWS_MAX_ATTEMPTS does it). */
  maxAttempts?: boolean;
}

export function addAwsOptions(cmd: Command, set: AwsOptionSet): Command {
  cmd
    .addOption(new Option('--profile <name>', 'AWS profile for credentials, region and endpoints, for S3 and Bedrock alike (default: AWS_PROFILE, else default)'))
    .addOption(new Option('--region <region>', 'AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile\'s region)'))
    .addOption(
      new Option(
        '--endpoint-url <url>',
        set.primary === 'S3'
          ? 'S3 endpoint (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the profile\'s, else AWS)'
          : 'a Bedrock-compatible endpoint instead of AWS, e.g. `bedrock-batch serve` (default: AWS_ENDPOINT_URL_BEDROCK, AWS_ENDPOINT_URL, the profile\'s)',
      ),
    )
    .addOption(new Option('--s3-endpoint-url <url>', 'S3 endpoint, on every command alike (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the profile\'s)'));
  if (set.primary === 'Bedrock' || set.bedrock) {
    cmd.addOption(new Option('--bedrock-endpoint-url <url>', 'Bedrock endpoint, on every command alike (default: AWS_ENDPOINT_URL_BEDROCK, AWS_ENDPOINT_URL, the profile\'s)'));
  }
  cmd
    .addOption(new Option('--force-path-style', 'address buckets as endpoint/bucket/key (default: on with a non-AWS S3 endpoint)'))
    .addOption(new Option('--kms-key-id <key>', 'encrypt written S3 objects with SSE-KMS under this key (id, ARN or alias)'))
    .addOption(new Option('--expected-bucket-owner <account>', 'refuse buckets not owned by this 12-digit account id'))
    .addOption(new Option('--part-size <size>', 'multipart upload part size, 5MiB to 5GiB (default 8MiB)'))
    .addOption(new Option('--upload-queue-size <n>', 'parts uploaded at once per object (default 4)'))
    .addOption(new Option('--verify <mode>', 'checks after each upload: checksum (size + S3\'s CRC32s), md5 (+ MD5 vs ETag, for servers without checksums), size, none').choices(['checksum', 'md5', 'size', 'none']));
  if (set.maxAttempts !== false) {
    cmd.addOption(new Option('--max-attempts <n>', 'attempts per S3 request, retries included (default: AWS_MAX_ATTEMPTS, else 3)'));
  }
  return cmd;
}

/** S3 options alone (prepare's set): `addAwsOptions` with S3 as the command's service. */
export function addS3Options(cmd: Command): Command {
  return addAwsOptions(cmd, { primary: 'S3' });
}

/** What commander hands an action for the options addAwsOptions declares (and the program's `--debug`, src/cli/main.ts). */
export interface AwsFlags {
  profile?: string;
  region?: string;
  endpointUrl?: string;
  s3EndpointUrl?: string;
  bedrockEndpointUrl?: string;
  debug?: boolean;
  forcePathStyle?: boolean;
  kmsKeyId?: string;
  expectedBucketOwner?: string;
  partSize?: string;
  uploadQueueSize?: string;
  verify?: VerifyMode;
  maxAttempts?: string | number;
}
export type S3Flags = AwsFlags;

/** Bedrock's share of the AWS options: what openTarget takes. */
export interface BedrockSettings {
  profile?: string;
  region?: string;
  endpointUrl?: string;
  debug?: (line: string) => void;
}

/** The `--debug` log: one line per AWS request on stderr. */
export const debugLog = (line: string): void => void process.stderr.write(`bedrock-batch: debug: ${line}\n`);

/** The Bedrock settings the parsed flags ask for (only those given: the rest comes from the environment and the profile). */
export function bedrockSettingsFrom(flags: AwsFlags, primary: PrimaryService): BedrockSettings {
  const endpointUrl = flags.bedrockEndpointUrl ?? (primary === 'Bedrock' ? flags.endpointUrl : undefined);
  return {
    ...(flags.profile !== undefined ? { profile: flags.profile } : {}),
    ...(flags.region !== undefined ? { region: flags.region } : {}),
    ...(endpointUrl !== undefined ? { endpointUrl } : {}),
    ...(flags.debug ? { debug: debugLog } : {}),
  };
}

/**
 * The store options the parsed flags ask for, with the region and S3 endpoint the environment or
 * the profile gives filled in (src/aws/config.ts resolveAwsOptions): empty when nothing is set.
 */
export async function s3OptionsFrom(flags: AwsFlags, primary: PrimaryService = 'S3'): Promise<S3StoreOptions> {
  return resolveAwsOptions('S3', s3FlagsOf(flags, primary));
}

function s3FlagsOf(flags: AwsFlags, primary: PrimaryService): S3StoreOptions {
  const out: S3StoreOptions = {};
  const endpointUrl = flags.s3EndpointUrl ?? (primary === 'S3' ? flags.endpointUrl : undefined);
  if (endpointUrl !== undefined) out.endpointUrl = endpointUrl;
  if (flags.region !== undefined) out.region = flags.region;
  if (flags.profile !== undefined) out.profile = flags.profile;
  if (flags.debug) out.debug = debugLog;
  if (flags.forcePathStyle) out.forcePathStyle = true;
  if (flags.kmsKeyId !== undefined) out.kmsKeyId = flags.kmsKeyId;
  if (flags.expectedBucketOwner !== undefined) out.expectedBucketOwner = flags.expectedBucketOwner;
  if (flags.partSize !== undefined) out.partSize = parseSize(flags.partSize, '--part-size');
  if (flags.uploadQueueSize !== undefined) out.queueSize = int('--upload-queue-size', 1)(flags.uploadQueueSize);
  if (typeof flags.maxAttempts === 'string') out.maxAttempts = int('--max-attempts', 1)(flags.maxAttempts);
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
