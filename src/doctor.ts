/**
 * `doctor`: a preflight of what a run will use, before anything is written or billed. Each check
 * says `ok`, `problem` (with the fix) or `unchecked` (with the reason: a missing permission, an
 * endpoint that cannot be reached, an input not given). A check never throws: an SDK error is a
 * finding, not a crash. What is checked, in order:
 *
 * 1. run          the prepared run, when one is given: its model, quota profile and input location;
 * 2. credentials  they resolve, and whose they are (STS GetCallerIdentity: account and ARN; never a key);
 * 3. region       the one the jobs would run in, and where it came from (src/aws/config.ts's order);
 * 4. model        runs batch, and runs it there: the dated batch catalogue (src/bedrock/batch-models.ts)
 *                 for batch support and regions (Bedrock has no "supports batch" flag per model,
 *                 docs/bedrock.md §1.4), Bedrock's GetFoundationModel (or GetInferenceProfile for a
 *                 profile) for existence in the region;
 * 5. role         exists (IAM GetRole), in the caller's account, and its trust policy lets
 *                 bedrock.amazonaws.com assume it (conditions on aws:SourceAccount / aws:SourceArn
 *                 included). Whether the caller may pass it (iam:PassRole) and what it may read and
 *                 write are not checked: that needs IAM's policy simulator;
 * 6. bucket       each bucket of the input and output locations (and the run's) exists (HeadBucket),
 *                 is in the jobs' region, and belongs to the expected owner (`expectedBucketOwner`,
 *                 else the caller's account: HeadBucket with ExpectedBucketOwner answers 403 for
 *                 another owner's bucket);
 * 7. quotas       the account's batch quotas for the model (src/aws/service-quotas.ts) against the
 *                 quota profile chosen: a maximum above the account's, or a minimum below it, is a
 *                 problem.
 *
 * Every client comes from src/aws/config.ts (and the S3 and Bedrock builders on top of it): the
 * profile, region, endpoints and debug log are the ones every other command uses. An endpoint of
 * Bedrock or Service Quotas on this machine (the local service) gets placeholder credentials,
 * never the user's.
 */
import { GetFoundationModelCommand, GetInferenceProfileCommand, type BedrockClient } from '@aws-sdk/client-bedrock';
import { GetRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { GetBucketLocationCommand, HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { createAwsClient, isLoopbackEndpoint, resolveAwsOptions, resolveAwsSettings, type AwsClientOptions, type AwsSettings } from './aws/config.js';
import { BATCH_QUOTA_FIELDS, readBatchQuotas, type AccountBatchQuotas, type BatchQuotaField } from './aws/service-quotas.js';
import { CATALOGUE_DATE, CATALOGUE_SOURCE, lookupBatchModel, type BatchModel } from './bedrock/batch-models.js';
import { QUOTA_PROFILES, quotaProfile, type QuotaProfile } from './bedrock/quotas.js';
import { bedrockS3UriProblem } from './bedrock/s3-uri.js';
import { BatchError, isBatchError } from './errors.js';
import { createBedrockClient } from './jobs/client.js';
import { readPreparedRun } from './run/prepared.js';
import { checkAccountId, createS3Client, isS3Uri, openStore, parseS3Uri } from './stores/index.js';
import type { S3StoreOptions } from './stores/s3.js';

export type CheckStatus = 'ok' | 'problem' | 'unchecked';
export type CheckName = 'run' | 'credentials' | 'region' | 'model' | 'role' | 'bucket' | 'quotas';

export interface DoctorCheck {
  name: CheckName;
  /** What was checked, when the name alone does not say: the model id, the role ARN, `s3://bucket`. */
  subject?: string;
  status: CheckStatus;
  /** What was found, or why it could not be checked. */
  detail: string;
  /** For a problem: what to do about it. */
  fix?: string;
}

export interface DoctorReport {
  checks: DoctorCheck[];
  /** No check found a problem (checks that could not be made do not count). */
  ok: boolean;
}

export interface DoctorOptions {
  /** A prepared run (what `prepare --out` was given): its model, quota profile and input location. */
  run?: string;
  /** The model id the jobs will name (default: the run's). */
  model?: string;
  /** The role Bedrock will assume. */
  roleArn?: string;
  /** Where the jobs read (`s3://...`): default the run's location, when it is in S3. */
  input?: string;
  /** Where the jobs write (`s3://...`). */
  output?: string;
  /** The quota profile to check against: a name or a profile (default: the run's, else `default`). */
  quotas?: string | QuotaProfile;
  /** The account the buckets must belong to (default: the caller's). */
  expectedBucketOwner?: string;
  /** The settings every client shares: profile, region, debug, environment, credentials, attempts. */
  aws?: Omit<AwsClientOptions, 'endpointUrl'>;
  /** S3's own settings (endpoint, path style): as every command takes them. */
  s3?: S3StoreOptions;
  /** Bedrock's endpoint (`--bedrock-endpoint-url`); default: the environment's and the profile's. */
  bedrockEndpointUrl?: string;
}

/** What the checks share once the configuration is read. */
interface Context {
  settings: AwsSettings;
  /** The jobs' region (us-east-1 for a local endpoint that names none), if any. */
  region: string | undefined;
  aws: Omit<AwsClientOptions, 'endpointUrl'>;
  s3: S3StoreOptions;
  account: string | undefined;
}

const ROLE_ARN = /^arn:aws(?:-[a-z-]+)?:iam::([0-9]{12}):role\/(.+)$/;
const BEDROCK_PRINCIPAL = 'bedrock.amazonaws.com';
const SERVICE_ROLE_DOC = 'https://docs.aws.amazon.com/bedrock/latest/userguide/batch-iam-sr.html';

/** Run every check. Throws only for options that cannot be used (BatchError E_BAD_OPTION), before any request. */
export async function runDoctor(options: DoctorOptions = {}): Promise<DoctorReport> {
  checkOptions(options);
  const checks: DoctorCheck[] = [];
  const aws = options.aws ?? {};
  let settings: AwsSettings;
  try {
    settings = await resolveAwsSettings('Bedrock', { ...aws, ...(options.bedrockEndpointUrl !== undefined ? { endpointUrl: options.bedrockEndpointUrl } : {}) });
  } catch (error) {
    if (!isBatchError(error)) throw error;
    checks.push({ name: 'credentials', status: 'problem', detail: error.message, ...(error.hint ? { fix: error.hint } : {}) });
    for (const name of ['region', 'model', 'role', 'bucket', 'quotas'] as const) {
      checks.push({ name, status: 'unchecked', detail: 'the AWS configuration could not be read (see credentials)' });
    }
    return report(checks);
  }
  const loopback = isLoopbackEndpoint(settings.endpoint);
  const region = settings.region ?? (loopback ? 'us-east-1' : undefined);
  const ctx: Context = {
    settings,
    region,
    aws: { ...aws, ...(region !== undefined ? { region } : {}) },
    s3: { ...aws, ...(region !== undefined ? { region } : {}), ...options.s3 },
    account: undefined,
  };

  // the run: what it fixes of the model, the quotas and the input
  let model = options.model;
  let quotas: QuotaProfile | undefined = typeof options.quotas === 'object' ? options.quotas : options.quotas !== undefined ? quotaProfile(options.quotas) : undefined;
  const locations: { uri: string; what: string }[] = [];
  if (options.run !== undefined) {
    const run = await checkRun(options.run, ctx, options);
    checks.push(run.check);
    model ??= run.model;
    quotas ??= run.quotas;
    if (run.input) locations.push({ uri: run.input, what: 'the run' });
  }
  quotas ??= quotaProfile('default');
  if (options.input !== undefined) locations.push({ uri: options.input, what: 'input' });
  if (options.output !== undefined) locations.push({ uri: options.output, what: 'output' });

  const identity = await checkCredentials(ctx);
  checks.push(identity);
  checks.push(checkRegion(ctx));
  const lookup = model !== undefined ? lookupBatchModel(model) : undefined;
  const [modelCheck, roleCheck, bucketChecks, quotaCheck] = await Promise.all([
    checkModel(ctx, model),
    checkRole(ctx, options.roleArn),
    checkBuckets(ctx, locations, options.expectedBucketOwner),
    checkQuotas(ctx, lookup?.kind === 'found' ? lookup.model : undefined, model, quotas),
  ]);
  checks.push(modelCheck, roleCheck, ...bucketChecks, quotaCheck);
  return report(checks);
}

function report(checks: DoctorCheck[]): DoctorReport {
  return { checks, ok: !checks.some((c) => c.status === 'problem') };
}

function checkOptions(o: DoctorOptions): void {
  if (o.expectedBucketOwner !== undefined) checkAccountId(o.expectedBucketOwner);
  for (const [name, uri] of [['--input', o.input], ['--output', o.output]] as const) {
    if (uri === undefined) continue;
    if (!isS3Uri(uri)) {
      throw new BatchError('E_BAD_OPTION', `${name} ${uri} is not an s3:// location: a Bedrock job reads and writes S3`, { hint: `give ${name} s3://bucket/prefix/` });
    }
    parseS3Uri(uri);
  }
  if (o.roleArn !== undefined && o.roleArn.trim() === '') throw new BatchError('E_BAD_OPTION', '--role-arn is empty');
  if (o.model !== undefined && o.model.trim() === '') throw new BatchError('E_BAD_OPTION', '--model is empty');
  if (typeof o.quotas === 'string') quotaProfile(o.quotas);
}

// ---- errors as findings --------------------------------------------------------------------

type FailureKind = 'credentials' | 'denied' | 'missing' | 'unreachable' | 'other';

interface Failure {
  kind: FailureKind;
  name: string;
  status: number | undefined;
  /** One line: the exception, its status and message (never a request or a credential). */
  text: string;
  /** A region named by a 301 or a wrong-region error (S3). */
  region?: string;
}

const CREDENTIAL_ERRORS = new Set([
  'CredentialsProviderError',
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'ExpiredTokenException',
  'UnrecognizedClientException',
  'InvalidAccessKeyId',
  'InvalidSignatureException',
  'TokenRefreshRequired',
  'IncompleteSignature',
]);
const DENIED_ERRORS = new Set(['AccessDenied', 'AccessDeniedException', 'Forbidden', 'UnauthorizedOperation', 'AuthorizationError', 'AllAccessDisabled']);
const MISSING_ERRORS = new Set(['NoSuchEntity', 'NoSuchEntityException', 'NotFound', 'NoSuchBucket', 'ResourceNotFoundException', 'NoSuchResourceException']);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

function failureOf(error: unknown, service: string): Failure {
  const e = (error ?? {}) as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number }; $response?: { headers?: Record<string, string> }; errno?: number; cause?: { code?: string } };
  const name = e.name ?? 'Error';
  const status = e.$metadata?.httpStatusCode;
  const message = (e.message ?? String(error)).replace(/\s+/g, ' ').trim().slice(0, 300);
  const code = e.code ?? e.cause?.code;
  const regionHeader = e.$response?.headers?.['x-amz-bucket-region'];
  const expecting = /expecting '([a-z0-9-]+)'/.exec(message)?.[1];
  const region = regionHeader ?? expecting;
  const base = { name, status, ...(region ? { region } : {}) };
  if ((code && NETWORK_CODES.has(code)) || name === 'TimeoutError' || /ECONNREFUSED|ENOTFOUND|socket hang up/.test(message)) {
    return { ...base, kind: 'unreachable', text: `${service} could not be reached (${code ?? name}: ${message})` };
  }
  const text = `${name}${status ? ` (${status})` : ''}${message && message !== name && message !== 'UnknownError' ? `: ${message}` : ''}`;
  if (CREDENTIAL_ERRORS.has(name) || /Could not load credentials|credential/i.test(name)) return { ...base, kind: 'credentials', text };
  if (DENIED_ERRORS.has(name) || status === 403) return { ...base, kind: 'denied', text };
  if (MISSING_ERRORS.has(name) || status === 404) return { ...base, kind: 'missing', text };
  return { ...base, kind: 'other', text };
}

// ---- 1. the run ----------------------------------------------------------------------------

async function checkRun(location: string, ctx: Context, options: DoctorOptions): Promise<{ check: DoctorCheck; model?: string; quotas?: QuotaProfile; input?: string }> {
  const s3 = isS3Uri(location);
  try {
    const store = openStore(location, s3 ? { ...(await resolveAwsOptions('S3', ctx.s3)), bedrockUris: false } : undefined);
    const { file } = await readPreparedRun(store);
    const jobs = file.jobs.length;
    const detail = `${location}: ${jobs} job${jobs === 1 ? '' : 's'} of ${file.model.modelId}, quota profile "${file.quotas.name}"`;
    const wantsAws = (options.output !== undefined && isS3Uri(options.output)) || options.roleArn !== undefined;
    if (!s3 && wantsAws) {
      return {
        check: { name: 'run', subject: location, status: 'problem', detail: `${detail}; the run is on a local disk, and a Bedrock job reads its input from S3`, fix: 'prepare it with --out s3://bucket/prefix/ (or run it on the local service)' },
        model: file.model.modelId,
        quotas: file.quotas,
      };
    }
    return {
      check: { name: 'run', subject: location, status: 'ok', detail: s3 ? detail : `${detail} (on a local disk: for the local service)` },
      model: file.model.modelId,
      quotas: file.quotas,
      ...(s3 ? { input: location } : {}),
    };
  } catch (error) {
    if (isBatchError(error)) {
      return { check: { name: 'run', subject: location, status: 'problem', detail: error.message, ...(error.hint ? { fix: error.hint } : {}) } };
    }
    const f = failureOf(error, 'S3');
    return { check: { name: 'run', subject: location, status: 'unchecked', detail: `the run could not be read: ${f.text}` } };
  }
}

// ---- 2. credentials --------------------------------------------------------------------------

function credentialSource(ctx: Context): string {
  const env = ctx.aws.env ?? process.env;
  if (ctx.aws.credentials) return 'the credentials given';
  if (ctx.settings.profileSource !== 'default') return `profile "${ctx.settings.profile}" (${ctx.settings.profileSource === 'option' ? '--profile' : 'AWS_PROFILE'})`;
  if (env.AWS_ACCESS_KEY_ID) return 'AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY';
  return 'the default chain (profile "default", SSO, web identity, container or instance role)';
}

async function checkCredentials(ctx: Context): Promise<DoctorCheck> {
  const sts = createAwsClient(STSClient, 'STS', await resolveAwsOptions('STS', { ...ctx.aws, region: ctx.region ?? 'us-east-1' }));
  const source = credentialSource(ctx);
  try {
    const id = await sts.send(new GetCallerIdentityCommand({}));
    ctx.account = id.Account;
    return { name: 'credentials', status: 'ok', detail: `${id.Arn ?? '(no ARN)'} (account ${id.Account ?? '?'}), from ${source}` };
  } catch (error) {
    const f = failureOf(error, 'STS');
    if (f.kind === 'credentials' || f.name === 'CredentialsProviderError') {
      const expired = /Expired|TokenRefresh/i.test(f.name) || /expired/i.test(f.text);
      return {
        name: 'credentials',
        status: 'problem',
        detail: `the credentials from ${source} do not work: ${f.text}`,
        fix: expired
          ? `refresh them: aws sso login${ctx.settings.profileSource !== 'default' ? ` --profile ${ctx.settings.profile}` : ''}, or new temporary keys`
          : 'give working credentials: aws configure (or aws sso login) for the profile, --profile <name>, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
      };
    }
    return { name: 'credentials', status: 'unchecked', detail: `STS GetCallerIdentity failed: ${f.text}` };
  } finally {
    sts.destroy();
  }
}

// ---- 3. region -------------------------------------------------------------------------------

function checkRegion(ctx: Context): DoctorCheck {
  const s = ctx.settings;
  const endpoint = s.endpoint ? `; Bedrock at ${s.endpoint} (${s.endpointSource})` : '';
  if (!s.region) {
    if (ctx.region) return { name: 'region', status: 'ok', detail: `none set: ${ctx.region} for the local service${endpoint}` };
    return {
      name: 'region',
      status: 'problem',
      detail: 'no AWS region is set: Bedrock jobs are regional',
      fix: `pass --region, set AWS_REGION or AWS_DEFAULT_REGION, or add region = ... to profile "${s.profile}"`,
    };
  }
  const from = { option: '--region', AWS_REGION: 'AWS_REGION', AWS_DEFAULT_REGION: 'AWS_DEFAULT_REGION', profile: `profile "${s.profile}"` }[s.regionSource ?? 'option'];
  return { name: 'region', status: 'ok', detail: `${s.region} (from ${from})${endpoint}` };
}

// ---- 4. model --------------------------------------------------------------------------------

async function bedrockClient(ctx: Context): Promise<BedrockClient> {
  return createBedrockClient({
    ...ctx.aws,
    ...(ctx.region !== undefined ? { region: ctx.region } : {}),
    // the resolved endpoint: on this machine, the client sends placeholders (src/aws/config.ts)
    ...(ctx.settings.endpoint !== undefined ? { endpoint: ctx.settings.endpoint } : {}),
    maxAttempts: ctx.aws.maxAttempts ?? 3,
  });
}

interface Part {
  status: CheckStatus;
  text: string;
  fix?: string;
}

function combine(name: CheckName, subject: string | undefined, parts: Part[]): DoctorCheck {
  const status: CheckStatus = parts.some((p) => p.status === 'problem') ? 'problem' : parts.some((p) => p.status === 'unchecked') ? 'unchecked' : 'ok';
  const fixes = parts.filter((p) => p.status === 'problem' && p.fix).map((p) => p.fix!);
  return { name, ...(subject !== undefined ? { subject } : {}), status, detail: parts.map((p) => p.text).join('; '), ...(fixes.length ? { fix: fixes.join('; ') } : {}) };
}

function regionsOf(model: BatchModel, mode: 'single-region' | 'cross-region-profile'): readonly string[] | undefined {
  return mode === 'single-region' ? model.regions?.singleRegion : model.regions?.profile;
}

async function checkModel(ctx: Context, modelId: string | undefined): Promise<DoctorCheck> {
  if (modelId === undefined) return { name: 'model', status: 'unchecked', detail: 'no model given (--model, or a prepared run)' };
  const parts: Part[] = [];
  const found = lookupBatchModel(modelId);
  const region = ctx.region;
  const catalogue = `the batch model catalogue of ${CATALOGUE_DATE}`;
  if (found.kind === 'unknown') {
    parts.push({
      status: 'problem',
      text: `not in ${catalogue}: no batch support is known for this id (a typo, a model without batch inference, or one newer than the catalogue)`,
      fix: `check the id (aws bedrock list-foundation-models${region ? ` --region ${region}` : ''}) against ${CATALOGUE_SOURCE}`,
    });
  } else if (found.kind === 'opaque') {
    parts.push({ status: 'unchecked', text: `a ${found.form === 'custom-model-arn' ? 'custom model' : 'application inference profile'}: which model is behind it, and whether it runs batch, only the account knows` });
  } else {
    const m = found.model;
    if (!m.modes.includes(found.mode)) {
      parts.push({
        status: 'problem',
        text: `${m.name} runs batch only through a cross-region inference profile, not by its own id`,
        fix: `name a profile of it: us.${m.modelId} (or eu., apac., ... where it runs)`,
      });
    } else {
      const where = regionsOf(m, found.mode);
      const how = found.mode === 'single-region' ? 'by its own id' : 'through a cross-region profile';
      if (region !== undefined && where !== undefined && !where.includes(region)) {
        const other = found.mode === 'single-region' ? regionsOf(m, 'cross-region-profile') : undefined;
        parts.push({
          status: 'problem',
          text: `${m.name} runs batch ${how} in ${where.length ? where.join(', ') : 'no region'} (${catalogue}), not in ${region}`,
          fix: `run the jobs in one of those regions (--region)${other?.includes(region) ? `, or name its cross-region profile (e.g. us.${m.modelId}), which runs batch in ${region}` : ''}`,
        });
      } else {
        parts.push({ status: 'ok', text: `${m.name} (${m.provider}) runs batch ${how}${where && region ? ` in ${region}` : ''} (${catalogue})` });
      }
    }
  }
  // existence in the region, asked of Bedrock
  if (region === undefined) {
    parts.push({ status: 'unchecked', text: 'Bedrock was not asked: no region' });
    return combine('model', modelId, parts);
  }
  const profile = found.kind === 'opaque' ? found.form === 'application-inference-profile-arn' : found.form === 'profile' || found.form === 'inference-profile-arn';
  if (found.kind === 'opaque' && !profile) {
    parts.push({ status: 'unchecked', text: 'Bedrock was not asked (GetCustomModel is not part of this check)' });
    return combine('model', modelId, parts);
  }
  const client = await bedrockClient(ctx);
  const op = profile ? 'GetInferenceProfile' : 'GetFoundationModel';
  try {
    if (profile) {
      const r = await client.send(new GetInferenceProfileCommand({ inferenceProfileIdentifier: modelId }));
      const models = (r.models ?? []).map((x) => x.modelArn?.split(':')[3]).filter(Boolean);
      parts.push({ status: 'ok', text: `Bedrock in ${region} has the profile "${r.inferenceProfileName ?? modelId}"${models.length ? ` (routes to ${[...new Set(models)].join(', ')})` : ''}` });
    } else {
      const r = await client.send(new GetFoundationModelCommand({ modelIdentifier: modelId }));
      const life = r.modelDetails?.modelLifecycle?.status;
      parts.push({
        status: life === 'LEGACY' ? 'problem' : 'ok',
        text: `Bedrock in ${region} has ${r.modelDetails?.modelName ?? modelId}${life ? ` (${life})` : ''}`,
        ...(life === 'LEGACY' ? { fix: 'the model is legacy: move to its successor before it is withdrawn' } : {}),
      });
    }
  } catch (error) {
    const f = failureOf(error, 'Bedrock');
    if (f.kind === 'missing' || f.name === 'ValidationException') {
      parts.push({
        status: 'problem',
        text: `Bedrock in ${region} does not know it (${op}: ${f.text})`,
        fix: `check the id and the region: aws bedrock ${profile ? 'list-inference-profiles' : 'list-foundation-models'} --region ${region}`,
      });
    } else {
      parts.push({ status: 'unchecked', text: `Bedrock could not be asked (${op}: ${f.text})${f.kind === 'denied' ? `; this needs bedrock:${op}` : ''}` });
    }
  } finally {
    client.destroy();
  }
  return combine('model', modelId, parts);
}

// ---- 5. role ---------------------------------------------------------------------------------

interface Statement {
  Effect?: string;
  Principal?: unknown;
  Action?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

function asList(v: unknown): unknown[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** The role's trust policy: IAM returns it URL-encoded; some servers do not. */
function trustPolicyOf(doc: string | undefined): { Statement?: unknown } | undefined {
  if (!doc) return undefined;
  for (const text of [doc, safeDecode(doc)]) {
    try {
      const v = JSON.parse(text) as unknown;
      if (v && typeof v === 'object') return v as { Statement?: unknown };
    } catch {
      // try the next reading
    }
  }
  return undefined;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function globMatch(pattern: string, value: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  return re.test(value);
}

/** Who a statement lets in: services, and whether anyone at all. */
function principalsOf(p: unknown): { services: string[]; anyone: boolean; others: string[] } {
  if (p === '*') return { services: [], anyone: true, others: [] };
  if (!p || typeof p !== 'object') return { services: [], anyone: false, others: [] };
  const o = p as Record<string, unknown>;
  const services = asList(o.Service).map(String);
  const aws = asList(o.AWS).map(String);
  return { services, anyone: aws.includes('*'), others: [...aws, ...asList(o.Federated).map(String)] };
}

function trustFindings(policy: { Statement?: unknown }, account: string | undefined, region: string | undefined): Part[] {
  const statements = asList(policy.Statement) as Statement[];
  const named = new Set<string>();
  const allowing = statements.filter((s) => {
    if (s.Effect !== 'Allow') return false;
    const actions = asList(s.Action).map(String);
    if (!actions.some((a) => a === '*' || a === 'sts:*' || a.toLowerCase() === 'sts:assumerole')) return false;
    const p = principalsOf(s.Principal);
    p.services.forEach((x) => named.add(x));
    p.others.forEach((x) => named.add(x));
    return p.anyone || p.services.includes(BEDROCK_PRINCIPAL);
  });
  if (allowing.length === 0) {
    return [
      {
        status: 'problem',
        text: `its trust policy does not let ${BEDROCK_PRINCIPAL} assume it${named.size ? ` (it trusts ${[...named].join(', ')})` : ''}`,
        fix: `add to its trust policy {"Effect":"Allow","Principal":{"Service":"${BEDROCK_PRINCIPAL}"},"Action":"sts:AssumeRole"} (aws iam update-assume-role-policy; see ${SERVICE_ROLE_DOC})`,
      },
    ];
  }
  // Some statement must let a job of this account and region in, conditions included.
  const jobArn = account && region ? `arn:aws:bedrock:${region}:${account}:model-invocation-job/doctor00000` : undefined;
  const blockers: string[] = [];
  const passes = allowing.some((s) => {
    for (const [operator, keys] of Object.entries(s.Condition ?? {})) {
      for (const [key, raw] of Object.entries(keys ?? {})) {
        const values = asList(raw).map(String);
        const k = key.toLowerCase();
        if (k === 'aws:sourceaccount' && account && /^String(Equals|Like)$/.test(operator) && !values.some((v) => globMatch(v, account))) {
          blockers.push(`aws:SourceAccount is ${values.join(', ')}, not ${account}`);
          return false;
        }
        if (k === 'aws:sourcearn' && jobArn && /^(Arn|String)(Equals|Like)$/.test(operator) && !values.some((v) => globMatch(v, jobArn))) {
          blockers.push(`aws:SourceArn ${values.join(', ')} does not match jobs of ${account} in ${region}`);
          return false;
        }
      }
    }
    return true;
  });
  if (!passes) {
    return [
      {
        status: 'problem',
        text: `its trust policy names ${BEDROCK_PRINCIPAL}, but under conditions jobs here do not meet: ${blockers.join('; ')}`,
        fix: `set the condition to this account and region (aws:SourceAccount ${account}, aws:SourceArn arn:aws:bedrock:${region}:${account}:model-invocation-job/*)`,
      },
    ];
  }
  return [{ status: 'ok', text: `its trust policy lets ${BEDROCK_PRINCIPAL} assume it` }];
}

async function checkRole(ctx: Context, roleArn: string | undefined): Promise<DoctorCheck> {
  if (roleArn === undefined) return { name: 'role', status: 'unchecked', detail: 'no role given (--role-arn)' };
  const m = ROLE_ARN.exec(roleArn);
  if (!m) {
    return { name: 'role', subject: roleArn, status: 'problem', detail: 'not an IAM role ARN', fix: 'give arn:aws:iam::<account>:role/<name>' };
  }
  const roleAccount = m[1]!;
  const roleName = m[2]!.slice(m[2]!.lastIndexOf('/') + 1);
  if (ctx.account && roleAccount !== ctx.account) {
    return {
      name: 'role',
      subject: roleArn,
      status: 'problem',
      detail: `the role is in account ${roleAccount}, the caller in ${ctx.account}: a job can only be given a role of the caller's account (iam:PassRole)`,
      fix: `use a role of account ${ctx.account}, or run as account ${roleAccount} (--profile)`,
    };
  }
  const parts: Part[] = [];
  if (!ctx.account) parts.push({ status: 'unchecked', text: 'whether it is in the caller\'s account is not known (see credentials)' });
  const iam = createAwsClient(IAMClient, 'IAM', await resolveAwsOptions('IAM', { ...ctx.aws, region: ctx.region ?? 'us-east-1' }));
  try {
    const r = await iam.send(new GetRoleCommand({ RoleName: roleName }));
    const actual = r.Role?.Arn;
    if (actual && actual !== roleArn) {
      parts.push({ status: 'problem', text: `the role named ${roleName} is ${actual}, not ${roleArn}`, fix: `use --role-arn ${actual}` });
    } else {
      parts.push({ status: 'ok', text: `exists${ctx.account ? ' in the caller\'s account' : ''}` });
    }
    const policy = trustPolicyOf(r.Role?.AssumeRolePolicyDocument);
    if (!policy) parts.push({ status: 'unchecked', text: 'its trust policy could not be read' });
    else parts.push(...trustFindings(policy, ctx.account, ctx.region));
    parts.push({ status: 'ok', text: 'whether you may pass it (iam:PassRole) and what it may read and write are not checked' });
  } catch (error) {
    const f = failureOf(error, 'IAM');
    if (f.kind === 'missing') {
      parts.push({
        status: 'problem',
        text: `no role ${roleName} in account ${ctx.account ?? roleAccount} (${f.text})`,
        fix: `create it with a trust policy for ${BEDROCK_PRINCIPAL} and access to the buckets: ${SERVICE_ROLE_DOC}`,
      });
    } else {
      parts.push({ status: 'unchecked', text: `IAM GetRole failed: ${f.text}${f.kind === 'denied' ? '; this needs iam:GetRole' : ''}` });
    }
  } finally {
    iam.destroy();
  }
  return combine('role', roleArn, parts);
}

// ---- 6. buckets ------------------------------------------------------------------------------

async function s3Client(ctx: Context): Promise<S3Client> {
  return createS3Client(await resolveAwsOptions('S3', { ...ctx.s3, region: ctx.region ?? ctx.s3.region ?? 'us-east-1' }));
}

async function checkBuckets(ctx: Context, locations: { uri: string; what: string }[], expectedOwner: string | undefined): Promise<DoctorCheck[]> {
  if (locations.length === 0) return [{ name: 'bucket', status: 'unchecked', detail: 'no S3 location given (--input, --output, or a run in S3)' }];
  const byBucket = new Map<string, { uri: string; what: string }[]>();
  for (const l of locations) {
    const { bucket } = parseS3Uri(l.uri);
    byBucket.set(bucket, [...(byBucket.get(bucket) ?? []), l]);
  }
  const client = await s3Client(ctx);
  try {
    return await Promise.all([...byBucket].map(([bucket, uses]) => checkBucket(ctx, client, bucket, uses, expectedOwner ?? ctx.account, expectedOwner !== undefined)));
  } finally {
    client.destroy();
  }
}

async function checkBucket(ctx: Context, client: S3Client, bucket: string, uses: { uri: string; what: string }[], owner: string | undefined, ownerGiven: boolean): Promise<DoctorCheck> {
  const subject = `s3://${bucket}`;
  const parts: Part[] = [];
  const what = uses.map((u) => u.what).join(' and ');
  for (const u of uses) {
    const problem = bedrockS3UriProblem(u.what === 'output' && !u.uri.endsWith('/') ? `${u.uri}/` : u.uri);
    if (problem) parts.push({ status: 'problem', text: `${u.uri} cannot be used by a job: ${problem.message}`, fix: problem.hint });
  }
  let bucketRegion: string | undefined;
  /** HeadBucket failed in a way that may only mean another region (a 301, or a 400 without a body to a HEAD). */
  let unsure: Failure | undefined;
  try {
    const head = await client.send(new HeadBucketCommand({ Bucket: bucket }));
    bucketRegion = head.BucketRegion;
    parts.push({ status: 'ok', text: `exists (${what})` });
  } catch (error) {
    const f = failureOf(error, 'S3');
    if (f.kind === 'missing') {
      parts.push({ status: 'problem', text: `does not exist (${what})`, fix: `create it in ${ctx.region ?? "the jobs' region"}: aws s3 mb s3://${bucket}${ctx.region ? ` --region ${ctx.region}` : ''}` });
      return combine('bucket', subject, parts);
    }
    if (f.kind !== 'other') {
      const why = f.kind === 'denied' ? "S3 refused HeadBucket: no s3:ListBucket permission on it, or another account's bucket" : 'HeadBucket failed';
      parts.push({ status: 'unchecked', text: `${why} (${f.text})` });
      return combine('bucket', subject, parts);
    }
    if (f.region) {
      bucketRegion = f.region;
      parts.push({ status: 'ok', text: `exists (${what})` });
    } else unsure = f;
  }
  // its region (GetBucketLocation answers from any region's endpoint)
  if (bucketRegion === undefined) {
    try {
      const loc = await client.send(new GetBucketLocationCommand({ Bucket: bucket }));
      const c = loc.LocationConstraint as string | undefined | null;
      bucketRegion = !c ? 'us-east-1' : c === 'EU' ? 'eu-west-1' : c;
      if (unsure) parts.push({ status: 'ok', text: `exists (${what})` });
    } catch (error) {
      const f = failureOf(error, 'S3');
      if (unsure) {
        parts.push(
          f.kind === 'missing'
            ? { status: 'problem', text: `does not exist (${what})`, fix: `create it in ${ctx.region ?? "the jobs' region"}: aws s3 mb s3://${bucket}${ctx.region ? ` --region ${ctx.region}` : ''}` }
            : { status: 'unchecked', text: `HeadBucket failed (${unsure.text}), and GetBucketLocation too (${f.text})` },
        );
        return combine('bucket', subject, parts);
      }
      parts.push({ status: 'unchecked', text: `its region could not be read (GetBucketLocation: ${f.text})` });
    }
  }
  if (bucketRegion !== undefined) {
    if (ctx.region === undefined) parts.push({ status: 'ok', text: `in ${bucketRegion}` });
    else if (bucketRegion !== ctx.region) {
      parts.push({
        status: 'problem',
        text: `in ${bucketRegion}, while the jobs run in ${ctx.region}`,
        fix: `use a bucket in ${ctx.region}, or run the jobs in ${bucketRegion} (--region ${bucketRegion}) if the model runs batch there`,
      });
    } else parts.push({ status: 'ok', text: `in ${bucketRegion}` });
  }
  // its owner
  if (owner === undefined) {
    parts.push({ status: 'unchecked', text: 'its owner was not checked: no account known (give --expected-bucket-owner)' });
  } else {
    try {
      await client.send(new HeadBucketCommand({ Bucket: bucket, ExpectedBucketOwner: owner }));
      parts.push({ status: 'ok', text: `owned by ${owner}${ownerGiven ? '' : ' (the caller\'s account)'}` });
    } catch (error) {
      const f = failureOf(error, 'S3');
      if (f.status === 403) {
        parts.push({
          status: 'problem',
          text: `not owned by ${owner}${ownerGiven ? ' (--expected-bucket-owner)' : ' (the caller\'s account)'}`,
          fix: ownerGiven
            ? `check --expected-bucket-owner, or use a bucket of account ${owner}`
            : 'use a bucket of your account, or name its owner with --expected-bucket-owner (its bucket policy must then let the job\'s role read and write)',
        });
      } else {
        parts.push({ status: 'unchecked', text: `its owner could not be checked (${f.text})` });
      }
    }
  }
  return combine('bucket', subject, parts);
}

// ---- 7. quotas -------------------------------------------------------------------------------

const FIELD_WORDS: Record<BatchQuotaField, { words: string; flag: string }> = {
  minRecordsPerJob: { words: 'minimum records per job', flag: '--min-records' },
  maxRecordsPerFile: { words: 'records per input file', flag: '--max-records' },
  maxRecordsPerJob: { words: 'records per job', flag: '--max-job-records' },
  maxBytesPerFile: { words: 'bytes per input file', flag: '--max-bytes' },
  maxBytesPerJob: { words: 'bytes per job', flag: '--max-job-bytes' },
  maxJobsInFlight: { words: 'jobs in flight per model', flag: '--max-in-flight' },
};

const isSize = (f: BatchQuotaField) => f === 'maxBytesPerFile' || f === 'maxBytesPerJob';
const show = (f: BatchQuotaField, v: number) => (isSize(f) ? `${v.toLocaleString('en-US')} bytes` : v.toLocaleString('en-US'));

/** The fields where `profile` goes beyond the account's quotas. */
function beyond(profile: QuotaProfile, account: AccountBatchQuotas): BatchQuotaField[] {
  return BATCH_QUOTA_FIELDS.filter((f) => {
    const q = account.quotas[f];
    if (!q) return false;
    return f === 'minRecordsPerJob' ? profile[f] < q.profileValue : profile[f] > q.profileValue;
  });
}

async function checkQuotas(ctx: Context, model: BatchModel | undefined, modelId: string | undefined, profile: QuotaProfile): Promise<DoctorCheck> {
  const subject = `profile "${profile.name}"`;
  if (modelId === undefined) return { name: 'quotas', subject, status: 'unchecked', detail: 'no model given: batch quotas are per model' };
  if (!model) return { name: 'quotas', subject, status: 'unchecked', detail: `${modelId} is not in the batch model catalogue: its quota names are not known` };
  if (ctx.region === undefined) return { name: 'quotas', subject, status: 'unchecked', detail: 'no region: quotas are per region' };
  let account: AccountBatchQuotas;
  try {
    account = await readBatchQuotas(model, ctx.aws);
  } catch (error) {
    const f = failureOf(error, 'Service Quotas');
    return {
      name: 'quotas',
      subject,
      status: 'unchecked',
      detail: `Service Quotas could not be read (${f.text})${f.kind === 'denied' ? '; this needs servicequotas:ListServiceQuotas and servicequotas:ListAWSDefaultServiceQuotas' : ''}`,
    };
  }
  const found = BATCH_QUOTA_FIELDS.filter((f) => account.quotas[f]);
  const notes = account.notes.length ? `; ${account.notes.join('; ')}` : '';
  if (found.length === 0) {
    return { name: 'quotas', subject, status: 'unchecked', detail: `Service Quotas lists no batch quota for ${model.name} in ${ctx.region}${notes}` };
  }
  const missing = BATCH_QUOTA_FIELDS.filter((f) => !account.quotas[f]).map((f) => FIELD_WORDS[f].words);
  const over = beyond(profile, account);
  const counted = `${found.length} quota${found.length === 1 ? '' : 's'} of ${model.name} in ${ctx.region}${missing.length ? `; none listed for ${missing.join(', ')}` : ''}${notes}`;
  if (over.length === 0) {
    return { name: 'quotas', subject, status: 'ok', detail: `within the account's ${counted}` };
  }
  const lines = over.map((f) => {
    const q = account.quotas[f]!;
    const dir = f === 'minRecordsPerJob' ? 'below' : 'above';
    return `${FIELD_WORDS[f].words}: the profile's ${show(f, profile[f])} is ${dir} the account's ${show(f, q.profileValue)} (${q.code ? `${q.code} ` : ''}"${q.name}", ${q.source})`;
  });
  const fitting = Object.values(QUOTA_PROFILES).filter((p) => beyond(p, account).length === 0).map((p) => p.name);
  const flags = over.map((f) => `${FIELD_WORDS[f].flag} ${account.quotas[f]!.profileValue}`);
  const increases = over
    .filter((f) => f !== 'minRecordsPerJob' && account.quotas[f]!.adjustable !== false && account.quotas[f]!.code)
    .map((f) => `aws service-quotas request-service-quota-increase --service-code bedrock --quota-code ${account.quotas[f]!.code} --desired-value ${isSize(f) ? profile[f] / 1e9 : profile[f]} --region ${ctx.region}`);
  const fix = [
    fitting.length ? `use --quotas ${fitting.join(' or ')}` : undefined,
    `set the limits (${flags.join(', ')})`,
    increases.length ? `or ask for more: ${increases.join('; ')}` : undefined,
  ]
    .filter(Boolean)
    .join(', ');
  return { name: 'quotas', subject, status: 'problem', detail: `the profile goes beyond the account's ${counted}: ${lines.join('; ')}`, fix };
}
