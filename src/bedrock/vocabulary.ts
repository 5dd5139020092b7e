/**
 * Bedrock's vocabulary for batch inference, in one place: job statuses and which of them are final
 * (docs/bedrock.md §3.5), the documented request patterns (§3.1-§3.3), job ARNs (§3.2) and the
 * exception names of the four model-invocation-job operations with their HTTP status (§4.4).
 *
 * Everything that speaks to Bedrock (jobs, results) and the local stand-in for it (src/local/) takes
 * these from here, as it takes the quotas from ./quotas.ts; src/bedrock/ depends on nothing of the
 * project's but its errors.
 */

/** Every status a model invocation job reports (§3.5). */
export const JOB_STATUSES = Object.freeze([
  'Submitted',
  'InProgress',
  'Completed',
  'Failed',
  'Stopping',
  'Stopped',
  'PartiallyCompleted',
  'Expired',
  'Validating',
  'Scheduled',
] as const);
export type JobStatus = (typeof JOB_STATUSES)[number];

/** States a job never leaves (§3.5). */
export const TERMINAL_STATUSES: ReadonlySet<string> = new Set<JobStatus>(['Completed', 'PartiallyCompleted', 'Failed', 'Stopped', 'Expired']);

export function isTerminal(status: string | undefined): boolean {
  return status !== undefined && TERMINAL_STATUSES.has(status);
}

/** The request members' documented patterns (§3.1-§3.3), as the service model writes them. */
export const PATTERNS = Object.freeze({
  jobName: '^[a-zA-Z0-9]{1,63}(-*[a-zA-Z0-9\\+\\-\\.]){0,63}$',
  roleArn: '^arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+$',
  modelId:
    '(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:(([0-9]{12}:custom-model/[a-z0-9-]{1,63}[.]{1}[a-z0-9-:]{1,63}/[a-z0-9]{12}$)|(:foundation-model/([a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}([.]?[a-z0-9-]{1,63})([:][a-z0-9-]{1,63}){0,2})|(([0-9a-zA-Z][_-]?)+)$)|([0-9]{12}:(inference-profile|application-inference-profile)/[a-zA-Z0-9-:.]+$)))|([a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}([.]?[a-z0-9-]{1,63})([:][a-z0-9-]{1,63}){0,2})|(([0-9a-zA-Z][_-]?)+)',
  s3Uri: "^s3://[a-z0-9][-.a-z0-9]{1,61}[a-z0-9](?:/[-!_*'().a-z0-9A-Z]+(?:/[-!_*'().a-z0-9A-Z]+)*)?/?$",
  accountId: '^[0-9]{12}$',
  kmsKeyId:
    '(arn:aws(-[^:]+)?:kms:[a-zA-Z0-9-]*:[0-9]{12}:((key/[a-zA-Z0-9-]{36})|(alias/[a-zA-Z0-9-_/]+)))|([a-zA-Z0-9-]{36})|(alias/[a-zA-Z0-9-_/]+)',
  clientRequestToken: '^[a-zA-Z0-9]{1,256}(-*[a-zA-Z0-9]){0,256}$',
  vpcId: '^[-0-9a-zA-Z]+$',
  tag: '^[a-zA-Z0-9\\s._:/=+@-]*$',
  jobIdentifier: '^((arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:model-invocation-job/)?[a-z0-9]{12})$',
  nextToken: '^\\S*$',
});
export type PatternName = keyof typeof PATTERNS;

/**
 * Each pattern as a RegExp matched against the whole value: Smithy patterns are not anchored unless
 * they say so (`^...$`), and the service matches them as a whole string, so the un-anchored model id
 * and KMS patterns are tested as `^(?:...)$`.
 */
export const PATTERN_REGEX: Readonly<Record<PatternName, RegExp>> = Object.freeze(
  Object.fromEntries(Object.entries(PATTERNS).map(([k, p]) => [k, new RegExp(p.startsWith('^') ? p : `^(?:${p})$`)])) as Record<PatternName, RegExp>,
);

/** Whether `value` satisfies the documented pattern `name`. */
export function matchesPattern(name: PatternName, value: string): boolean {
  return PATTERN_REGEX[name].test(value);
}

/** A job's ARN (§3.2): `arn:aws:bedrock:<region>:<account>:model-invocation-job/<jobId>`. */
export function jobArnOf(region: string, accountId: string, jobId: string): string {
  return `arn:aws:bedrock:${region}:${accountId}:model-invocation-job/${jobId}`;
}

/** The job id at the end of a job ARN (a bare id comes back as it is). */
export function jobIdOf(jobArn: string): string {
  return jobArn.slice(jobArn.lastIndexOf('/') + 1);
}

/** The account id in a role ARN (empty when the ARN has none). */
export function accountOfRole(roleArn: string): string {
  return /^arn:aws(?:-[^:]+)?:iam::([0-9]{12})?:/.exec(roleArn)?.[1] ?? '';
}

/**
 * A job's output folder (§2.1): `<output>/<jobId>/`, holding `<input file name>.out` for each input
 * file and `manifest.json.out` (which ends in `.out` too, but is not data).
 */
export const OUTPUT_MANIFEST = 'manifest.json.out';

/** The output file Bedrock writes for an input file of this name (`part-00001.jsonl` -> `part-00001.jsonl.out`). */
export function outputNameFor(inputName: string): string {
  return `${inputName}.out`;
}

/** The input file name an output file answers (`part-00001.jsonl.out` -> `part-00001.jsonl`). */
export function inputNameOf(outputName: string): string {
  return outputName.endsWith('.out') ? outputName.slice(0, -'.out'.length) : outputName;
}

/** The counters of a job's `manifest.json.out` (§2.3), in the order Bedrock writes them. */
export const MANIFEST_FIELDS = Object.freeze([
  'totalRecordCount',
  'processedRecordCount',
  'successRecordCount',
  'errorRecordCount',
  'inputTokenCount',
  'outputTokenCount',
] as const);
export type ManifestField = (typeof MANIFEST_FIELDS)[number];

/** The exceptions the four model-invocation-job operations declare, with their HTTP status (§4.4). */
export const SERVICE_ERROR_STATUS = Object.freeze({
  AccessDeniedException: 403,
  ConflictException: 400,
  InternalServerException: 500,
  ResourceNotFoundException: 404,
  ServiceQuotaExceededException: 400,
  ThrottlingException: 429,
  ValidationException: 400,
  /** Not modelled: what restJson1 services answer for a body that does not parse. */
  SerializationException: 400,
  /** Not modelled: a path no operation serves. */
  UnknownOperationException: 404,
});
export type ServiceErrorName = keyof typeof SERVICE_ERROR_STATUS;
