/**
 * One AWS configuration for every client the toolkit builds (S3, Bedrock, and the STS, IAM and
 * Service Quotas clients `doctor` uses), resolved the way the AWS CLI resolves it, so one profile
 * or one set of variables means the same account, region and endpoints for every command and every
 * stage of `run`. Nothing else in the toolkit constructs an AWS client
 * (test/architecture/imports.test.ts checks it).
 *
 * In order, first found wins:
 *
 * - profile:     the `profile` option (`--profile`), else `AWS_PROFILE`, else `default`.
 * - credentials: static ones when given (the local service's placeholders); else the SDK's default
 *                chain for the profile: with a profile named (option or `AWS_PROFILE`) the profile
 *                wins over `AWS_ACCESS_KEY_ID`, as in the CLI; then SSO, `credential_process`,
 *                web identity, the container and instance roles.
 * - region:      `--region`, `AWS_REGION`, `AWS_DEFAULT_REGION` (the CLI's variable, which the JS SDK
 *                alone does not read), the profile's `region`.
 * - endpoint:    per service: `--endpoint-url` of that service, `AWS_ENDPOINT_URL_<SERVICE>`
 *                (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL_BEDROCK`, ...), `AWS_ENDPOINT_URL`, the
 *                profile's `services` section (`<service> =` / `endpoint_url =`), the profile's
 *                `endpoint_url`; none of the configured ones with `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`
 *                (or the profile's `ignore_configured_endpoint_urls`). Else AWS's own endpoint.
 * - retries:     `maxAttempts`, else `AWS_MAX_ATTEMPTS`, else the profile's `max_attempts`, else 3.
 * - user agent:  the app id `bedrock-batch` (or `AWS_SDK_UA_APP_ID`), so requests can be told apart
 *                in CloudTrail.
 *
 * The endpoint is resolved here, not left to the SDK, so that callers see the one the client will
 * use: the Bedrock client sends placeholder credentials, never the user's, to an endpoint on this
 * machine (the local service), whichever of the sources above named it.
 *
 * `debug` logs one line per HTTP request: service, operation, host, status, time and request id.
 * Never a body, a header value other than the request id, a query string or a credential.
 */
import { loadSharedConfigFiles } from '@smithy/core/config';
import { BatchError } from '../errors.js';

/** Static credentials or a provider of them (the SDK's own shape). */
export type AwsCredentials =
  | { accessKeyId: string; secretAccessKey: string; sessionToken?: string }
  | (() => Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string }>);

/** Services by the id the SDK and the endpoint variables use (`AWS_ENDPOINT_URL_<ID>`, spaces as `_`). */
export type AwsService = 'S3' | 'Bedrock' | 'Bedrock Runtime' | 'STS' | 'IAM' | 'Service Quotas';

export interface AwsClientOptions {
  region?: string;
  /** A profile of `~/.aws/config` / `~/.aws/credentials` (default `AWS_PROFILE`, else `default`). */
  profile?: string;
  /** This client's endpoint, e.g. `http://127.0.0.1:9000` for a local S3-compatible server. */
  endpointUrl?: string;
  /** Static credentials or a provider; default: the SDK's credential chain for the profile. */
  credentials?: AwsCredentials;
  /** Attempts per request, first one included (default: `AWS_MAX_ATTEMPTS`, the profile's, else 3). */
  maxAttempts?: number;
  /** One line per HTTP request (see the module comment); default: nothing is logged. */
  debug?: (line: string) => void;
  /** The environment to read (default `process.env`); for tests. */
  env?: NodeJS.ProcessEnv;
}

/** The settings every AWS client of the toolkit shares, as the SDK's client config takes them. */
export interface AwsClientConfig {
  region?: string;
  profile?: string;
  endpoint?: string;
  credentials?: AwsCredentials;
  maxAttempts?: number;
}

export const USER_AGENT_APP_ID = 'bedrock-batch';

/**
 * What a client sends to a service on this machine (the local service) instead of the user's
 * credentials: it accepts any signature, and the user's keys never leave for an endpoint that is
 * not AWS's.
 */
export const LOOPBACK_CREDENTIALS: Readonly<{ accessKeyId: string; secretAccessKey: string }> = Object.freeze({
  accessKeyId: 'LOCALSERVICE',
  secretAccessKey: 'local-service-not-a-secret',
});

const LOOPBACK_HOST = /^(?:127\.\d+\.\d+\.\d+|localhost|\[::1\]|::1)$/i;

/** The APIs the local service answers (src/local): on this machine, they get LOOPBACK_CREDENTIALS. */
const LOCAL_SERVICE_APIS: ReadonlySet<AwsService> = new Set<AwsService>(['Bedrock', 'Bedrock Runtime', 'Service Quotas']);

/** True for an endpoint on this machine (127.x, localhost, ::1). */
export function isLoopbackEndpoint(endpoint: string | undefined): boolean {
  if (!endpoint) return false;
  try {
    return LOOPBACK_HOST.test(new URL(endpoint).hostname);
  } catch {
    return false;
  }
}

/** True for endpoints that are not AWS's own (`*.amazonaws.com`, `*.amazonaws.com.cn`, `*.api.aws`). */
export function isCustomEndpoint(endpoint: string | undefined): boolean {
  if (!endpoint) return false;
  const host = new URL(endpoint).hostname;
  return !/(^|\.)amazonaws\.com(\.cn)?$|(^|\.)api\.aws$/.test(host);
}

function envSuffix(service: string): string {
  return service.toUpperCase().replace(/[^A-Z0-9]+/g, '_');
}

/**
 * The endpoint configured for a service by option or environment (`AWS_ENDPOINT_URL_<SERVICE>`,
 * `AWS_ENDPOINT_URL`), or undefined. The profile's are read by `resolveAwsSettings`.
 */
export function configuredEndpoint(service: string, options: AwsClientOptions = {}): string | undefined {
  if (options.endpointUrl !== undefined) return checkEndpoint(options.endpointUrl, '--endpoint-url');
  const env = options.env ?? process.env;
  if (truthy(env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS)) return undefined;
  const suffix = envSuffix(service);
  const specific = env[`AWS_ENDPOINT_URL_${suffix}`];
  if (specific) return checkEndpoint(specific, `AWS_ENDPOINT_URL_${suffix}`);
  if (env.AWS_ENDPOINT_URL) return checkEndpoint(env.AWS_ENDPOINT_URL, 'AWS_ENDPOINT_URL');
  return undefined;
}

/**
 * The client config from the options and the environment alone (no file read): what is not given
 * here (the profile's region and endpoints) the SDK reads from the profile itself. With a custom
 * endpoint and no region at all, `us-east-1` (S3-compatible servers ignore it, and the SDK would
 * otherwise refuse to sign).
 */
export function awsClientConfig(service: string, options: AwsClientOptions = {}): AwsClientConfig {
  const env = options.env ?? process.env;
  const endpoint = configuredEndpoint(service, options);
  const region = options.region ?? (env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined) ?? (isCustomEndpoint(endpoint) && !options.profile && !env.AWS_PROFILE ? 'us-east-1' : undefined);
  checkRegion(region);
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

/** Where each setting came from, for `doctor` and error messages (never a secret). */
export interface AwsSettings {
  profile: string;
  profileSource: 'option' | 'AWS_PROFILE' | 'default';
  region?: string;
  regionSource?: 'option' | 'AWS_REGION' | 'AWS_DEFAULT_REGION' | 'profile';
  /** The endpoint the client will use, when one is configured (else AWS's own for the region). */
  endpoint?: string;
  endpointSource?: string;
}

/**
 * Every setting for a service, the profile's included (read from `AWS_CONFIG_FILE`, default
 * `~/.aws/config`). A profile named explicitly that exists in neither file is an error.
 */
export async function resolveAwsSettings(service: AwsService, options: AwsClientOptions = {}): Promise<AwsSettings> {
  const env = options.env ?? process.env;
  const profile = options.profile ?? (env.AWS_PROFILE || undefined) ?? 'default';
  const profileSource: AwsSettings['profileSource'] = options.profile !== undefined ? 'option' : env.AWS_PROFILE ? 'AWS_PROFILE' : 'default';
  const files = await loadSharedConfigFiles({
    ...(env.AWS_CONFIG_FILE ? { configFilepath: env.AWS_CONFIG_FILE } : {}),
    ...(env.AWS_SHARED_CREDENTIALS_FILE ? { filepath: env.AWS_SHARED_CREDENTIALS_FILE } : {}),
  }).catch(() => ({ configFile: {}, credentialsFile: {} }) as Awaited<ReturnType<typeof loadSharedConfigFiles>>);
  const section = (files.configFile[profile] ?? {}) as Record<string, string | undefined>;
  if (profileSource !== 'default' && !files.configFile[profile] && !files.credentialsFile[profile]) {
    throw new BatchError('E_BAD_OPTION', `the AWS profile "${profile}" (${profileSource === 'option' ? '--profile' : 'AWS_PROFILE'}) is in neither the config nor the credentials file`, {
      hint: 'check the name with `aws configure list-profiles`, or set AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE',
    });
  }
  const out: AwsSettings = { profile, profileSource };
  const regions: [string | undefined, NonNullable<AwsSettings['regionSource']>][] = [
    [options.region, 'option'],
    [env.AWS_REGION, 'AWS_REGION'],
    [env.AWS_DEFAULT_REGION, 'AWS_DEFAULT_REGION'],
    [section.region, 'profile'],
  ];
  const found = regions.find(([value]) => value);
  if (found) {
    checkRegion(found[0]);
    out.region = found[0]!;
    out.regionSource = found[1];
  }
  const fromOptions = configuredEndpoint(service, options);
  if (fromOptions) {
    out.endpoint = fromOptions;
    out.endpointSource = options.endpointUrl !== undefined ? '--endpoint-url' : env[`AWS_ENDPOINT_URL_${envSuffix(service)}`] ? `AWS_ENDPOINT_URL_${envSuffix(service)}` : 'AWS_ENDPOINT_URL';
  } else if (!truthy(env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS) && !truthy(section.ignore_configured_endpoint_urls)) {
    const servicesName = section.services;
    if (servicesName) {
      const services = (files.configFile[`services.${servicesName}`] ?? {}) as Record<string, string | undefined>;
      const key = `${service.toLowerCase().replace(/[^a-z0-9]+/g, '_')}.endpoint_url`;
      if (services[key]) {
        out.endpoint = checkEndpoint(services[key]!, `the "${servicesName}" services section of profile "${profile}"`);
        out.endpointSource = `profile "${profile}" (services "${servicesName}")`;
      }
    }
    if (!out.endpoint && section.endpoint_url) {
      out.endpoint = checkEndpoint(section.endpoint_url, `endpoint_url of profile "${profile}"`);
      out.endpointSource = `profile "${profile}"`;
    }
  }
  return out;
}

/**
 * The options with what the profile and the environment say filled in: the region, and the
 * endpoint of `service` when a profile's `endpoint_url` or `services` section names one (the SDK
 * itself reads a profile's endpoints only for `AWS_PROFILE`, not for a client's `profile`). Throws
 * for a profile named but found in neither file. The CLI resolves every command's options so.
 */
export async function resolveAwsOptions<O extends AwsClientOptions>(service: AwsService, options: O): Promise<O> {
  const settings = await resolveAwsSettings(service, options);
  return {
    ...options,
    ...(settings.region !== undefined && options.region === undefined ? { region: settings.region } : {}),
    ...(settings.endpoint !== undefined && options.endpointUrl === undefined ? { endpointUrl: settings.endpoint } : {}),
  };
}

/** The SDK's client constructors, by what they take. */
type ClientClass<C> = new (config: Record<string, unknown>) => C;

/**
 * Build a client of `service`: the shared config (awsClientConfig) plus `extra` (service-specific
 * settings, which win), the user-agent app id, and the debug log when asked. Bedrock and Service
 * Quotas on this machine get LOOPBACK_CREDENTIALS, whatever credentials are given: pass the
 * endpoint `resolveAwsOptions` found, so that one named by a profile is seen too.
 */
export function createAwsClient<C extends { middlewareStack: { add: (...args: never[]) => void } }>(
  Client: ClientClass<C>,
  service: AwsService,
  options: AwsClientOptions = {},
  extra: Record<string, unknown> = {},
): C {
  const env = options.env ?? process.env;
  const config = awsClientConfig(service, options);
  // The local service stands in for these APIs on this machine: it gets placeholders, never the
  // user's credentials, given or found (S3 on this machine, MinIO or moto, takes the user's own).
  if (LOCAL_SERVICE_APIS.has(service) && isLoopbackEndpoint(config.endpoint)) {
    config.credentials = { ...LOOPBACK_CREDENTIALS };
  }
  const client = new Client({
    ...config,
    userAgentAppId: env.AWS_SDK_UA_APP_ID || USER_AGENT_APP_ID,
    ...extra,
  });
  if (options.debug) addDebugLog(client, service, options.debug);
  return client;
}

interface RawRequest {
  protocol?: string;
  hostname?: string;
  port?: number;
  path?: string;
}
interface RawResponse {
  statusCode?: number;
  headers?: Record<string, string | undefined>;
}

function requestIdOf(headers: Record<string, string | undefined> | undefined): string {
  if (!headers) return '-';
  return headers['x-amzn-requestid'] ?? headers['x-amz-request-id'] ?? headers['x-amzn-request-id'] ?? '-';
}

/**
 * One line per HTTP attempt (retries each get theirs), added closest to the wire, where the raw
 * request and response are seen: `aws S3 PutObject 127.0.0.1:9000 200 12 ms id=...`.
 */
function addDebugLog(client: { middlewareStack: { add: (...args: never[]) => void } }, service: AwsService, log: (line: string) => void): void {
  type Next = (args: { request: unknown }) => Promise<{ response: unknown }>;
  const middleware = (next: Next, context: { commandName?: string }) => async (args: { request: unknown }) => {
    const started = performance.now();
    const request = args.request as RawRequest;
    const host = `${request.hostname ?? '?'}${request.port ? `:${request.port}` : ''}`;
    const operation = (context.commandName ?? 'request').replace(/Command$/, '');
    const line = (status: string, id: string) => log(`aws ${service} ${operation} ${host} ${status} ${Math.round(performance.now() - started)} ms id=${id}`);
    try {
      const out = await next(args);
      const response = out.response as RawResponse;
      line(String(response.statusCode ?? '?'), requestIdOf(response.headers));
      return out;
    } catch (error) {
      const e = error as { name?: string; code?: string };
      line(`failed (${e.code ?? e.name ?? 'error'})`, '-');
      throw error;
    }
  };
  (client.middlewareStack.add as unknown as (m: unknown, o: Record<string, unknown>) => void)(middleware, {
    step: 'deserialize',
    name: 'bedrockBatchDebugLog',
    priority: 'low',
    override: true,
  });
}

function checkRegion(region: string | undefined): void {
  if (region !== undefined && !/^[a-z0-9-]{1,40}$/.test(region)) {
    throw new BatchError('E_BAD_OPTION', `--region "${region}" is not an AWS region name`, { hint: 'e.g. us-east-1, eu-west-3' });
  }
}

export function checkEndpoint(value: string, source: string): string {
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
