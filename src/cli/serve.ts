/** `bedrock-batch serve`: the local Bedrock batch service on 127.0.0.1, for any client. */
import { Command, Option } from 'commander';
import { BatchError } from '../errors.js';
import { CATALOGUE_DATE } from '../bedrock/batch-models.js';
import { QUOTA_PROFILES, quotaProfile } from '../bedrock/quotas.js';
import { startLocalService } from '../local/server.js';
import { int, repeatable } from './parsers.js';
import { s3OptionsFrom } from './s3-options.js';
import { localServiceOptionsFrom, type LocalServiceFlags } from './submit.js';

/** What commander hands `serve`'s action. */
interface ServeFlags extends LocalServiceFlags {
  port?: number;
  root?: string;
  state?: string | false;
  region: string;
  accountId: string;
  quotas: string;
  minRecords?: number;
  maxInFlight?: number;
  allowModel?: string[];
  keepOrder?: boolean;
  profile?: string;
  s3EndpointUrl?: string;
  debug?: boolean;
  shuffleWindow?: number;
  quiet?: boolean;
  runtimeRpm?: number;
  runtimeTpm?: number;
  runtimeMinute?: number;
}

export function serveCommand(): Command {
  return new Command('serve')
    .summary('run the local Bedrock batch service on 127.0.0.1')
    .description(
      "Serve Bedrock's control-plane API for model invocation jobs (Create, Get, List, Stop) on 127.0.0.1, so " +
        'the AWS SDKs and CLI talk to it unchanged (endpoint = the printed URL, any credentials), and the Bedrock ' +
        'Runtime (InvokeModel, Converse, CountTokens) on the same URL, answering as the batch jobs do. Prints its ' +
        'base URL as the first line on stdout once it accepts connections.\n\n' +
        'With --root DIR it is its own S3: s3://bucket/key is DIR/bucket/key (a bucket is a folder that exists), ' +
        'and nothing outside DIR is read or written. Without --root it reads and writes S3 through the SDK\'s ' +
        'usual settings (AWS_ENDPOINT_URL_S3 for a local S3 server), with the AWS credentials of its environment. ' +
        'Jobs are kept in DIR/.local-service/jobs.json.\n\n' +
        'It answers only requests addressed to 127.0.0.1:PORT or localhost:PORT, and no web page of another origin.',
    )
    .option('-p, --port <n>', 'TCP port (default: a free one)', int('--port'))
    .option('--root <dir>', 'be its own S3 under this directory')
    .option('--state <file>', 'keep jobs in this file (default DIR/.local-service/jobs.json with --root)')
    .option('--no-state', 'keep jobs in memory only')
    .option('--region <region>', 'region in ARNs', 'us-east-1')
    .option('--account-id <id>', 'account in ARNs (a role of another account is refused)', '123456789012')
    .addOption(new Option('--quotas <profile>', 'limits jobs are validated against').choices(Object.keys(QUOTA_PROFILES)).default('documented'))
    .option('--min-records <n>', 'minimum records per job (overrides the profile)', int('--min-records', 1))
    .option('--max-in-flight <n>', 'jobs per model submitted or in progress at once (overrides the profile)', int('--max-in-flight', 1))
    .option('--allow-model <id>', `accept this model id too (repeatable): jobs for a model outside the batch catalogue of ${CATALOGUE_DATE} are refused as Bedrock refuses them`, repeatable)
    .option('--keep-order', 'write output lines in input order (Bedrock does not: by default they come out shuffled)')
    .option('--shuffle-window <n>', 'output lines held back at most while shuffling (default 1000)', int('--shuffle-window', 1))
    .option('--concurrency <n>', 'jobs running at once; the others wait in Scheduled (default 2)', int('--concurrency', 1))
    .option('--delay <ms>', 'milliseconds per lifecycle step (default 50)', int('--delay'))
    .option('--record-delay <ms>', 'milliseconds per record (default 0)', int('--record-delay'))
    .option('--hour <ms>', 'milliseconds in one hour of a job timeout (default 3600000): small values make jobs expire', int('--hour', 1))
    .option('--runtime-rpm <n>', 'runtime requests per minute per model, as the on-demand quota (default 6000): more is ThrottlingException', int('--runtime-rpm', 1))
    .option('--runtime-tpm <n>', 'runtime tokens per minute per model (input + output budget; default 10000000): more is ThrottlingException', int('--runtime-tpm', 1))
    .option('--runtime-minute <ms>', 'milliseconds in one minute of the runtime caps (default 60000)', int('--runtime-minute', 1))
    .option('--model-endpoint <url>', 'answer with an OpenAI-compatible chat endpoint instead of the extractive summariser')
    .option('--model-name <name>', 'the model name to ask that endpoint for')
    .option('--allow-insecure-model-endpoint', 'allow a plain-http --model-endpoint on another host (the API key and transcripts cross the network unencrypted)')
    .option('--fault <name=value>', 'inject a fault (record-errors=0.1, invalid-fields=0.1, throttle=0.2, server-errors=0.1, fail=job-0002, partial=..., expire=..., fail-validation=..., slow-validation=MS, seed=N)', repeatable)
    .option('--profile <name>', 'without --root: the AWS profile to read and write S3 with (default: AWS_PROFILE)')
    .option('--s3-endpoint-url <url>', "without --root: the S3 endpoint (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the profile's)")
    .option('-q, --quiet', 'no log of job transitions on stderr')
    .action(async (flags: ServeFlags, command: Command) => {
      const local = localServiceOptionsFrom(flags);
      if (flags.root && (flags.profile || flags.s3EndpointUrl)) {
        throw new BatchError('E_BAD_OPTION', 'with --root the service is its own S3: --profile and --s3-endpoint-url are for real S3', { hint: 'drop --root, or the S3 options' });
      }
      // without --root: real S3, with the same AWS configuration as every command (src/aws/config.ts)
      const s3 = flags.root ? undefined : await s3OptionsFrom({ ...(flags.profile ? { profile: flags.profile } : {}), ...(flags.s3EndpointUrl ? { s3EndpointUrl: flags.s3EndpointUrl } : {}), ...(flags.debug ? { debug: true } : {}) });
      const quotas = quotaProfile(flags.quotas, { minRecordsPerJob: flags.minRecords, maxJobsInFlight: flags.maxInFlight });
      // A minimum asked for (--quotas or --min-records) is the minimum; else each model's own, where
      // the catalogue documents one (docs/bedrock.md §1.4).
      const minRecordsFrom = command.getOptionValueSource('quotas') === 'default' && flags.minRecords === undefined ? 'model' : 'profile';
      const service = await startLocalService({
        port: flags.port ?? 0,
        ...(flags.root ? { root: flags.root } : {}),
        ...(s3 ? { s3 } : {}),
        ...(flags.state === false ? { stateFile: false as const } : typeof flags.state === 'string' ? { stateFile: flags.state } : {}),
        region: flags.region,
        accountId: flags.accountId,
        quotas,
        minRecordsFrom,
        ...(flags.allowModel?.length ? { extraModels: flags.allowModel } : {}),
        outputOrder: { order: flags.keepOrder ? 'input' : 'shuffled', ...(flags.shuffleWindow !== undefined ? { window: flags.shuffleWindow } : {}) },
        ...local,
        ...(flags.runtimeRpm !== undefined || flags.runtimeTpm !== undefined || flags.runtimeMinute !== undefined
          ? {
              runtime: {
                ...(flags.runtimeRpm !== undefined ? { rpm: flags.runtimeRpm } : {}),
                ...(flags.runtimeTpm !== undefined ? { tpm: flags.runtimeTpm } : {}),
                ...(flags.runtimeMinute !== undefined ? { minuteMs: flags.runtimeMinute } : {}),
              },
            }
          : {}),
        ...(flags.quiet ? {} : { log: (line: string) => process.stderr.write(`serve: ${line}\n`) }),
      });
      process.stdout.write(`${service.endpoint}\n`);
      if (!flags.root) {
        // Said even with --quiet: whoever reaches the endpoint acts with these credentials.
        process.stderr.write(
          `serve: without --root, jobs read and write S3 with the AWS credentials of this environment (${credentialSource({ ...process.env, ...(flags.profile ? { AWS_PROFILE: flags.profile } : {}), ...(flags.s3EndpointUrl ? { AWS_ENDPOINT_URL_S3: flags.s3EndpointUrl } : {}) })}): ` +
            `any process of this machine that reaches ${service.endpoint} can have it read and write what they allow; --root DIR keeps everything in DIR\n`,
        );
      }
      if (!flags.quiet) {
        process.stderr.write(
          `serve: the local Bedrock batch service listens on ${service.endpoint} (${flags.root ? `its own S3 under ${flags.root}` : 'S3 through the SDK settings'}; model: ${service.service.model.name}; quotas: ${quotas.name}; minimum records: ${minRecordsFrom === 'model' ? "each model's" : quotas.minRecordsPerJob}; output: ${flags.keepOrder ? 'input order' : 'shuffled'}; runtime: ${service.service.runtime.rpm} requests and ${service.service.runtime.tpm} tokens a minute per model)\n`,
        );
      }
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await service.close();
      if (!flags.quiet) process.stderr.write('serve: stopped; unfinished jobs go on at the next start with the same state\n');
    });
}

/**
 * Where the SDK's default chain takes credentials from, as far as the environment tells, without
 * any secret (and without the key id): a profile set by name wins over the key variables.
 */
export function credentialSource(env: NodeJS.ProcessEnv): string {
  const endpoint = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL;
  const at = endpoint ? `; S3 at ${safeOrigin(endpoint)}` : '';
  if (env.AWS_PROFILE) return `profile "${env.AWS_PROFILE}"${at}`;
  if (env.AWS_ACCESS_KEY_ID) return `the environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY${env.AWS_SESSION_TOKEN ? ' (with a session token)' : ''}${at}`;
  if (env.AWS_WEB_IDENTITY_TOKEN_FILE) return `web identity${env.AWS_ROLE_ARN ? ` for the role ${env.AWS_ROLE_ARN}` : ''} (AWS_WEB_IDENTITY_TOKEN_FILE)${at}`;
  if (env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI || env.AWS_CONTAINER_CREDENTIALS_FULL_URI) return `the container's credentials endpoint${at}`;
  return `the SDK's default chain: profile "default", SSO, or the instance's role${at}`;
}

function safeOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'a configured endpoint';
  }
}
