/**
 * Which service a run goes to, and how its locations become job URIs. The rule (also in README):
 *
 *   local   the run and the output are local directories (or `--local`): the local service starts
 *           in this process, on 127.0.0.1, and the same BedrockClient talks to it over HTTP.
 *   aws     the run or the output is an s3:// location, or `--endpoint-url` names a service
 *           (or `--aws`): Amazon Bedrock through the SDK's usual settings (credentials chain,
 *           region), or the endpoint given.
 *
 * A resumed run keeps the mode its ledger records; a flag that contradicts it is an error.
 *
 * Local directories as s3:// URIs. A real job reads and writes S3, so in local mode the embedded
 * service gets exactly two buckets, mounted on directories, and nothing else exists for it:
 *
 *   s3://bedrock-batch-input/   ->  the prepared run          job input:  s3://bedrock-batch-input/input/job-0001/
 *   s3://bedrock-batch-output/  ->  the --output directory     job output: s3://bedrock-batch-output/
 *
 * so job `abc123def456` writes `<output>/abc123def456/part-00001.jsonl.out`. The mapping depends
 * only on the job folder's key, so a resumed run gives the same URIs. A run and output in S3 keep
 * their own URIs: the service gets their buckets, opened with the run's S3 settings. It keeps its jobs in
 * `<run>/local-service/jobs.json`: they survive a crash of the process that ran them and go on
 * when the run is submitted again. While a submit runs, `status` and `stop` in another terminal
 * find its service through `<run>/local-service/jobs.json.lock` and talk to it.
 */
import { isAbsolute, join, relative, resolve as resolvePath, sep } from 'node:path';
import type { BedrockClient } from '@aws-sdk/client-bedrock';
import type { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { isLoopbackEndpoint, resolveAwsSettings } from './aws/config.js';
import { checkBedrockS3Uri } from './bedrock/s3-uri.js';
import { accountOfRole } from './bedrock/vocabulary.js';
import { BatchError } from './errors.js';
import { createBedrockClient, createBedrockRuntimeClient } from './jobs/client.js';
import type { PreparedJob, PreparedRun } from './jobs/run.js';
import { localCredentials, startLocalService, type LocalService } from './local/server.js';
import type { LocalDelays } from './local/service.js';
import type { LocalFaults } from './local/faults.js';
import type { LocalModel } from './local/models.js';
import type { OutputOrderOptions } from './local/output-order.js';
import { LocalLockedError, readLock } from './local/state.js';
import { openStore, type Store, type StoreOptions } from './stores/index.js';
import { isS3Uri, parseS3Uri } from './stores/uri.js';

export type Mode = 'local' | 'aws';

export const LOCAL_INPUT_BUCKET = 'bedrock-batch-input';
export const LOCAL_OUTPUT_BUCKET = 'bedrock-batch-output';
/** The role jobs run as on the local service when none is given. */
export const LOCAL_ROLE_ARN = 'arn:aws:iam::123456789012:role/bedrock-batch-local';

export interface ModeOptions {
  run: string;
  output?: string | undefined;
  local?: boolean | undefined;
  aws?: boolean | undefined;
  endpointUrl?: string | undefined;
  /** The mode a ledger recorded, when resuming. */
  ledgerMode?: Mode | undefined;
}

export interface ModeDecision {
  mode: Mode;
  /** Why, in a few words, for the "using ..." line. */
  reason: string;
}

/** Apply the rule in the module comment. */
export function decideMode(o: ModeOptions): ModeDecision {
  if (o.local && o.aws) throw new BatchError('E_BAD_OPTION', '--local and --aws contradict each other');
  if (o.local && o.endpointUrl) throw new BatchError('E_BAD_OPTION', '--local runs the service in this process: drop --endpoint-url');
  const asked: ModeDecision | undefined = o.local
    ? { mode: 'local', reason: '--local' }
    : o.aws
      ? { mode: 'aws', reason: '--aws' }
      : o.endpointUrl
        ? { mode: 'aws', reason: `--endpoint-url ${o.endpointUrl}` }
        : undefined;
  if (o.ledgerMode) {
    if (asked && asked.mode !== o.ledgerMode) {
      throw new BatchError('E_BAD_OPTION', `this run was submitted in ${o.ledgerMode} mode (ledger), but ${asked.reason} asks for ${asked.mode}`, {
        hint: `drop ${asked.reason.split(' ')[0]} to resume it, or prepare a new run`,
      });
    }
    return asked ?? { mode: o.ledgerMode, reason: 'as recorded in the ledger' };
  }
  if (asked) return asked;
  if (isS3Uri(o.run) || (o.output !== undefined && isS3Uri(o.output))) return { mode: 'aws', reason: 'an s3:// location' };
  return { mode: 'local', reason: 'local directories' };
}

/** Options of the embedded local service. */
export interface LocalRunOptions {
  model?: LocalModel;
  /** Model ids to accept beyond the batch catalogue (new or custom models; `--allow-model`). */
  extraModels?: string[];
  /** Output lines shuffled (the default, as Bedrock keeps no order) or in input order (`--keep-order`). */
  outputOrder?: OutputOrderOptions;
  faults?: LocalFaults;
  delays?: LocalDelays;
  concurrency?: number;
  hourMs?: number;
  log?: (line: string) => void;
}

export interface TargetOptions {
  run: PreparedRun;
  mode: Mode;
  /** Local directory or s3:// prefix. */
  output: string;
  roleArn?: string | undefined;
  /** AWS settings (src/aws/config.ts): the region, the profile, the debug log. */
  region?: string | undefined;
  profile?: string | undefined;
  /** Bedrock's endpoint, if not AWS's: else the environment's or the profile's (src/aws/config.ts). */
  endpointUrl?: string | undefined;
  /** One line per AWS request (`--debug`). */
  debug?: ((line: string) => void) | undefined;
  /** The environment to read (default `process.env`); for tests. */
  env?: NodeJS.ProcessEnv | undefined;
  local?: LocalRunOptions | undefined;
  /**
   * With an endpoint (aws mode): local paths under this directory are the service's
   * `s3://bucket/key`, the way `serve --root DIR` maps them, so a run prepared into
   * `DIR/bucket/run` can be submitted to it.
   */
  s3Root?: string | undefined;
  /** `submit` runs jobs; `status`/`stop` only talk (a paused service, or the running submit's). */
  purpose: 'submit' | 'status' | 'stop';
}

export interface Target {
  mode: Mode;
  client: BedrockClient;
  /** The local service this process runs, if it does. */
  local?: LocalService;
  /** For the "using ..." line. */
  description: string;
  region?: string;
  endpoint?: string;
  /** The output as the ledger records it: an absolute directory, or an s3:// prefix ending in `/`. */
  output: string;
  /** The job's `outputDataConfig.s3OutputDataConfig.s3Uri`. */
  outputUri: string;
  /** The job's `inputDataConfig.s3InputDataConfig.s3Uri`. */
  inputUriFor(job: PreparedJob): string;
  /** Where a job's output files are, for the user: `<output>/<jobId>/`. */
  outputFor(jobId: string): string;
  roleArn: string;
  /**
   * The Bedrock Runtime client for on-demand folders (made on first use): the local service's own
   * endpoint, the Bedrock endpoint when it is a loopback one (`serve` answers both APIs), else AWS's
   * (or `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`).
   */
  runtime(): BedrockRuntimeClient;
  close(): Promise<void>;
}

/** The state file of the embedded service for a run. */
export function localStateFile(run: PreparedRun): string {
  return isS3Uri(run.location)
    ? resolvePath('.bedrock-batch', run.namePrefix, 'jobs.json')
    : join(resolvePath(run.location), 'local-service', 'jobs.json');
}

/**
 * The endpoint of the process that runs a run's local service, if one is running and answers. A
 * submit that is ending closes its server before it releases the lock: wait for the lock to go.
 */
async function liveOwner(stateFile: string): Promise<string | undefined> {
  const until = Date.now() + 5000;
  for (let owner = readLock(stateFile); owner; owner = readLock(stateFile)) {
    if (owner.endpoint) {
      const ok = await fetch(`${owner.endpoint}/model-invocation-jobs?maxResults=1`, {
        headers: { authorization: 'Bearer local' },
        signal: AbortSignal.timeout(2000),
      }).then(
        (r) => r.status < 500,
        () => false,
      );
      if (ok) return owner.endpoint;
    }
    if (Date.now() > until) throw new BatchError('E_LOCAL_LOCKED', `process ${owner.pid} holds ${stateFile}.lock but its service does not answer`, { hint: 'if that process hangs, end it; a lock whose process is gone is taken over' });
    await new Promise((r) => setTimeout(r, 50));
  }
  return undefined;
}

/** s3:// locations as they are; local paths under `root` as `s3://<first segment>/<rest>`. */
function s3Mapper(root: string | undefined): (location: string) => string | undefined {
  return (location) => {
    if (isS3Uri(location)) return location;
    if (root === undefined) return undefined;
    const rel = relative(resolvePath(root), resolvePath(location));
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
      throw new BatchError('E_BAD_OPTION', `${location} is not inside --s3-root ${root}`, { hint: 'put the run and the output in bucket folders under the root' });
    }
    const trailing = /[\\/]$/.test(location) ? '/' : '';
    return `s3://${rel.split(sep).join('/')}${trailing}`;
  };
}

/** The buckets of these S3 locations, opened with the run's S3 settings: all a local service on S3 reads and writes. */
function s3Buckets(locations: string[], s3: StoreOptions | undefined): Record<string, Store> {
  const buckets: Record<string, Store> = {};
  for (const location of locations) {
    const { bucket } = parseS3Uri(location);
    buckets[bucket] ??= openStore(`s3://${bucket}/`, s3);
  }
  return buckets;
}

export async function openTarget(o: TargetOptions): Promise<Target> {
  const { run } = o;
  if (o.mode === 'aws') {
    const toS3 = s3Mapper(o.s3Root);
    const outputS3 = toS3(o.output);
    if (outputS3 === undefined) {
      throw new BatchError('E_BAD_OPTION', `a Bedrock job writes to S3, but --output is ${o.output}`, {
        hint: 'give --output s3://bucket/prefix/, or run on the local service with local directories',
      });
    }
    if (!o.roleArn) {
      throw new BatchError('E_BAD_OPTION', 'a Bedrock job needs --role-arn: the IAM role Bedrock assumes to read the input and write the output', {
        hint: 'see https://docs.aws.amazon.com/bedrock/latest/userguide/batch-iam-sr.html',
      });
    }
    const outputUri = outputS3.endsWith('/') ? outputS3 : `${outputS3}/`;
    checkBedrockS3Uri(outputUri, 'the output');
    const output = isS3Uri(o.output) ? outputUri : resolvePath(o.output);
    // The endpoint the client will really use, from whichever source names it (src/aws/config.ts).
    const settings = await resolveAwsSettings('Bedrock', {
      ...(o.region ? { region: o.region } : {}),
      ...(o.profile ? { profile: o.profile } : {}),
      ...(o.endpointUrl ? { endpointUrl: o.endpointUrl } : {}),
      ...(o.env ? { env: o.env } : {}),
    });
    const loopback = isLoopbackEndpoint(settings.endpoint);
    const region = settings.region ?? (loopback ? 'us-east-1' : undefined);
    if (!region) {
      throw new BatchError('E_BAD_OPTION', 'no AWS region: Bedrock jobs are regional', {
        hint: 'pass --region, set AWS_REGION or AWS_DEFAULT_REGION, or give the profile a region',
      });
    }
    let runtime: BedrockRuntimeClient | undefined;
    const client = createBedrockClient({
      region,
      ...(o.profile ? { profile: o.profile } : {}),
      // the resolved endpoint: on this machine, the client sends placeholders, never the user's credentials
      ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
      ...(o.debug ? { debug: o.debug } : {}),
      ...(o.env ? { env: o.env } : {}),
    });
    return {
      mode: 'aws',
      client,
      description: settings.endpoint ? `the Bedrock endpoint ${settings.endpoint} (${settings.endpointSource})` : `Amazon Bedrock in ${region}`,
      region,
      ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
      output,
      outputUri,
      inputUriFor(job) {
        const s3 = toS3(job.uri);
        if (s3 === undefined) {
          throw new BatchError('E_BAD_OPTION', `the job folder ${job.uri} is not in S3: a Bedrock job reads its input from S3`, {
            hint: 'prepare with --out s3://bucket/prefix/, or run on the local service',
          });
        }
        const uri = s3.endsWith('/') ? s3 : `${s3}/`;
        checkBedrockS3Uri(uri, 'the job input');
        return uri;
      },
      outputFor: (jobId) => (isS3Uri(o.output) ? `${outputUri}${jobId}/` : `${join(output, jobId)}/`),
      roleArn: o.roleArn,
      runtime: () =>
        (runtime ??= createBedrockRuntimeClient({
          region,
          ...(o.profile ? { profile: o.profile } : {}),
          // `serve` answers the runtime API too; AWS's runtime is another host (or AWS_ENDPOINT_URL_BEDROCK_RUNTIME)
          ...(loopback && settings.endpoint ? { endpoint: settings.endpoint } : {}),
          ...(o.debug ? { debug: o.debug } : {}),
          ...(o.env ? { env: o.env } : {}),
        })),
      async close() {
        client.destroy();
        runtime?.destroy();
      },
    };
  }

  // local mode
  const roleArn = o.roleArn ?? LOCAL_ROLE_ARN;
  const runIsS3 = isS3Uri(run.location);
  if (isS3Uri(o.output) !== runIsS3) {
    throw new BatchError('E_BAD_OPTION', `the local service needs the run and the output both local or both in S3 (run ${run.location}, output ${o.output})`);
  }
  const output = runIsS3 ? (o.output.endsWith('/') ? o.output : `${o.output}/`) : resolvePath(o.output);
  const stateFile = localStateFile(run);
  const owner = o.purpose === 'submit' ? undefined : await liveOwner(stateFile);
  let local: LocalService | undefined;
  let endpoint: string;
  if (owner) {
    endpoint = owner; // a submit is running this run: ask its service
  } else {
    const account = accountOfRole(roleArn);
    try {
      local = await startLocalService({
        mounts: runIsS3 ? s3Buckets([run.location, output], run.s3) : { [LOCAL_INPUT_BUCKET]: run.location, [LOCAL_OUTPUT_BUCKET]: output },
        stateFile,
        quotas: run.manifest.quotas,
        ...(account ? { accountId: account } : {}),
        ...(o.region ? { region: o.region } : {}),
        paused: o.purpose !== 'submit',
        ...(o.local?.model ? { model: o.local.model } : {}),
        ...(o.local?.extraModels?.length ? { extraModels: o.local.extraModels } : {}),
        ...(o.local?.outputOrder ? { outputOrder: o.local.outputOrder } : {}),
        ...(o.local?.faults ? { faults: o.local.faults } : {}),
        ...(o.local?.delays ? { delays: o.local.delays } : {}),
        ...(o.local?.concurrency !== undefined ? { concurrency: o.local.concurrency } : {}),
        ...(o.local?.hourMs !== undefined ? { hourMs: o.local.hourMs } : {}),
        ...(o.local?.log ? { log: o.local.log } : {}),
      });
    } catch (err) {
      if (err instanceof LocalLockedError) {
        throw new BatchError('E_LOCAL_LOCKED', `another submit (process ${err.owner.pid}) is running ${run.location}`, {
          hint: 'watch it with `bedrock-batch status`, or wait for it to end before submitting again',
        });
      }
      throw err;
    }
    endpoint = local.endpoint;
  }
  const client = createBedrockClient({ endpoint, region: o.region ?? 'us-east-1', credentials: localCredentials(), ...(o.debug ? { debug: o.debug } : {}) });
  let runtime: BedrockRuntimeClient | undefined;
  return {
    mode: 'local',
    client,
    ...(local ? { local } : {}),
    description: !local
      ? `the local service of the running submit (${endpoint})`
      : o.purpose === 'submit'
        ? `the local service (in this process, ${endpoint}; ${local.service.model.name})`
        : `the local service's saved state (${stateFile}; no submit is running)`,
    region: o.region ?? 'us-east-1',
    endpoint,
    output,
    outputUri: runIsS3 ? output : `s3://${LOCAL_OUTPUT_BUCKET}/`,
    inputUriFor: (job) => (runIsS3 ? (job.uri.endsWith('/') ? job.uri : `${job.uri}/`) : `s3://${LOCAL_INPUT_BUCKET}/${job.prefix}`),
    outputFor: (jobId) => (runIsS3 ? `${output}${jobId}/` : `${join(output, jobId)}/`),
    roleArn,
    runtime: () => (runtime ??= createBedrockRuntimeClient({ endpoint, region: o.region ?? 'us-east-1', credentials: localCredentials(), ...(o.debug ? { debug: o.debug } : {}) })),
    async close() {
      client.destroy();
      runtime?.destroy();
      await local?.close();
    },
  };
}
