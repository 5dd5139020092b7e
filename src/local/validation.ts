/**
 * Request validation for the local service, as the real control plane does it (the SDK checks
 * nothing: docs/bedrock.md §4.1). Patterns, lengths and ranges are the documented ones
 * (§3.1-§3.3). Messages follow Coral's wording, naming the member and the constraint:
 *
 *   1 validation error detected: Value 'my job' at 'jobName' failed to satisfy constraint:
 *   Member must satisfy regular expression pattern: ^[a-zA-Z0-9]{1,63}(-*[a-zA-Z0-9\+\-\.]){0,63}$
 *
 * Several violations are joined with `; ` after "N validation errors detected: ". List members are
 * named Coral's way, 1-based: `tags.2.member.key`.
 */
import { JOB_STATUSES, PATTERN_REGEX, PATTERNS, type JobStatus, type PatternName } from '../bedrock/vocabulary.js';
import { ServiceError } from './errors.js';

/** Collects Coral-style violations; `throwIfAny()` raises one ValidationException with all of them. */
export class Violations {
  readonly messages: string[] = [];

  add(path: string, value: unknown, constraint: string): void {
    this.messages.push(`Value ${show(value)} at '${path}' failed to satisfy constraint: Member must ${constraint}`);
  }

  throwIfAny(): void {
    const n = this.messages.length;
    if (n === 0) return;
    throw new ServiceError('ValidationException', `${n} validation error${n === 1 ? '' : 's'} detected: ${this.messages.join('; ')}`);
  }

  /** A required member. Returns false (and records it) when the value is absent. */
  required(path: string, value: unknown): boolean {
    if (value === undefined || value === null) {
      this.messages.push(`Value null at '${path}' failed to satisfy constraint: Member must not be null`);
      return false;
    }
    return true;
  }

  /** A string member: its length range, then its pattern. */
  string(path: string, value: unknown, rule: { min?: number; max?: number; pattern?: PatternName }): void {
    if (value === undefined || value === null) return;
    if (typeof value !== 'string') throw serialization(path, 'a string', value);
    if (rule.min !== undefined && value.length < rule.min) this.add(path, value, `have length greater than or equal to ${rule.min}`);
    if (rule.max !== undefined && value.length > rule.max) this.add(path, value, `have length less than or equal to ${rule.max}`);
    if (rule.pattern !== undefined && !PATTERN_REGEX[rule.pattern].test(value)) {
      this.add(path, value, `satisfy regular expression pattern: ${PATTERNS[rule.pattern]}`);
    }
  }

  enumValue(path: string, value: unknown, values: readonly string[]): void {
    if (value === undefined || value === null) return;
    if (typeof value !== 'string') throw serialization(path, 'a string', value);
    if (!values.includes(value)) this.add(path, value, `satisfy enum value set: [${values.join(', ')}]`);
  }

  integer(path: string, value: unknown, min: number, max: number): void {
    if (value === undefined || value === null) return;
    if (typeof value !== 'number' || !Number.isInteger(value)) throw serialization(path, 'an integer', value);
    if (value < min) this.add(path, value, `have value greater than or equal to ${min}`);
    if (value > max) this.add(path, value, `have value less than or equal to ${max}`);
  }

  /** A list member's length; returns the array (or undefined when absent). */
  list(path: string, value: unknown, min: number, max: number): unknown[] | undefined {
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value)) throw serialization(path, 'a list', value);
    if (value.length < min) this.add(path, value, `have length greater than or equal to ${min}`);
    if (value.length > max) this.add(path, value, `have length less than or equal to ${max}`);
    return value;
  }

  /** A structure member; returns it (or undefined when absent). */
  struct(path: string, value: unknown): Record<string, unknown> | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'object' || Array.isArray(value)) throw serialization(path, 'a structure', value);
    return value as Record<string, unknown>;
  }

  /** A union: exactly one known member set. Returns that member's value. */
  union(path: string, value: unknown, members: readonly string[]): Record<string, unknown> | undefined {
    const obj = this.struct(path, value);
    if (obj === undefined) return undefined;
    const set = Object.keys(obj).filter((k) => obj[k] !== undefined && obj[k] !== null);
    if (set.length !== 1 || !members.includes(set[0]!)) {
      this.add(path, obj, `have exactly one of [${members.join(', ')}] set`);
      return undefined;
    }
    return this.struct(`${path}.${set[0]}`, obj[set[0]!]);
  }
}

function show(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  return `'${text.length > 300 ? `${text.slice(0, 299)}…` : text}'`;
}

/** A member of the wrong JSON type: the request does not deserialize (not a validation error). */
function serialization(path: string, expected: string, value: unknown): ServiceError {
  const got = Array.isArray(value) ? 'a list' : value === null ? 'null' : typeof value === 'object' ? 'a structure' : `a ${typeof value}`;
  return new ServiceError('SerializationException', `Expected ${expected} at '${path}' but found ${got}`);
}

/** What CreateModelInvocationJob accepts, once validated. */
export interface CreateJobInput {
  jobName: string;
  roleArn: string;
  modelId: string;
  clientRequestToken?: string;
  inputDataConfig: { s3InputDataConfig: { s3Uri: string; s3InputFormat?: string; s3BucketOwner?: string } };
  outputDataConfig: { s3OutputDataConfig: { s3Uri: string; s3EncryptionKeyId?: string; s3BucketOwner?: string } };
  vpcConfig?: { subnetIds: string[]; securityGroupIds: string[] };
  timeoutDurationInHours?: number;
  tags?: { key: string; value: string }[];
  modelInvocationType?: 'InvokeModel' | 'Converse';
}

/** Validate a CreateModelInvocationJob body; throws ValidationException (or SerializationException). */
export function validateCreate(body: unknown): CreateJobInput {
  const v = new Violations();
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ServiceError('SerializationException', 'The request body must be a JSON object');
  }
  const b = body as Record<string, unknown>;
  if (v.required('jobName', b.jobName)) v.string('jobName', b.jobName, { min: 1, max: 63, pattern: 'jobName' });
  if (v.required('roleArn', b.roleArn)) v.string('roleArn', b.roleArn, { min: 0, max: 2048, pattern: 'roleArn' });
  if (v.required('modelId', b.modelId)) v.string('modelId', b.modelId, { min: 1, max: 2048, pattern: 'modelId' });
  v.string('clientRequestToken', b.clientRequestToken, { min: 1, max: 256, pattern: 'clientRequestToken' });
  if (v.required('inputDataConfig', b.inputDataConfig)) {
    const s3 = v.union('inputDataConfig', b.inputDataConfig, ['s3InputDataConfig']);
    if (s3) {
      const at = 'inputDataConfig.s3InputDataConfig';
      if (v.required(`${at}.s3Uri`, s3.s3Uri)) v.string(`${at}.s3Uri`, s3.s3Uri, { min: 1, max: 1024, pattern: 's3Uri' });
      v.enumValue(`${at}.s3InputFormat`, s3.s3InputFormat, ['JSONL']);
      v.string(`${at}.s3BucketOwner`, s3.s3BucketOwner, { pattern: 'accountId' });
    }
  }
  if (v.required('outputDataConfig', b.outputDataConfig)) {
    const s3 = v.union('outputDataConfig', b.outputDataConfig, ['s3OutputDataConfig']);
    if (s3) {
      const at = 'outputDataConfig.s3OutputDataConfig';
      if (v.required(`${at}.s3Uri`, s3.s3Uri)) v.string(`${at}.s3Uri`, s3.s3Uri, { min: 1, max: 1024, pattern: 's3Uri' });
      v.string(`${at}.s3EncryptionKeyId`, s3.s3EncryptionKeyId, { min: 1, max: 2048, pattern: 'kmsKeyId' });
      v.string(`${at}.s3BucketOwner`, s3.s3BucketOwner, { pattern: 'accountId' });
    }
  }
  const vpc = v.struct('vpcConfig', b.vpcConfig);
  if (vpc) {
    for (const [member, max] of [['subnetIds', 16], ['securityGroupIds', 5]] as const) {
      if (!v.required(`vpcConfig.${member}`, vpc[member])) continue;
      const ids = v.list(`vpcConfig.${member}`, vpc[member], 1, max) ?? [];
      ids.forEach((id, i) => v.string(`vpcConfig.${member}.${i + 1}.member`, id, { max: 32, pattern: 'vpcId' }));
    }
  }
  v.integer('timeoutDurationInHours', b.timeoutDurationInHours, 24, 168);
  const tags = v.list('tags', b.tags, 0, 200) ?? [];
  tags.forEach((tag, i) => {
    const at = `tags.${i + 1}.member`;
    const t = v.struct(at, tag);
    if (!t) return;
    if (v.required(`${at}.key`, t.key)) v.string(`${at}.key`, t.key, { min: 1, max: 128, pattern: 'tag' });
    if (v.required(`${at}.value`, t.value)) v.string(`${at}.value`, t.value, { min: 0, max: 256, pattern: 'tag' });
  });
  v.enumValue('modelInvocationType', b.modelInvocationType, ['InvokeModel', 'Converse']);
  v.throwIfAny();
  return b as unknown as CreateJobInput;
}

/** Validate a job identifier from the path (already percent-decoded). */
export function validateJobIdentifier(id: string): void {
  const v = new Violations();
  v.string('jobIdentifier', id, { min: 0, max: 1011, pattern: 'jobIdentifier' });
  v.throwIfAny();
}

export interface ListQuery {
  submitTimeAfter?: Date;
  submitTimeBefore?: Date;
  statusEquals?: JobStatus;
  nameContains?: string;
  maxResults?: number;
  nextToken?: string;
  sortBy?: 'CreationTime';
  sortOrder?: 'Ascending' | 'Descending';
}

/** RFC 3339 / ISO-8601 date-time with a zone, milliseconds optional (how the SDK sends them). */
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;

/** Validate ListModelInvocationJobs query parameters. */
export function validateListQuery(params: URLSearchParams): ListQuery {
  const v = new Violations();
  const q: ListQuery = {};
  const one = (name: string): string | undefined => {
    const all = params.getAll(name);
    return all.length === 0 ? undefined : all[all.length - 1];
  };
  for (const name of ['submitTimeAfter', 'submitTimeBefore'] as const) {
    const text = one(name);
    if (text === undefined) continue;
    const ms = DATE_TIME.test(text) ? Date.parse(text.toUpperCase()) : NaN;
    if (Number.isNaN(ms)) throw new ServiceError('SerializationException', `Value '${text}' at '${name}' is not a valid date-time (expected ISO-8601, e.g. 2024-01-01T00:00:00Z)`);
    q[name] = new Date(ms);
  }
  const status = one('statusEquals');
  v.enumValue('statusEquals', status, JOB_STATUSES);
  if (status !== undefined) q.statusEquals = status as JobStatus;
  const name = one('nameContains');
  v.string('nameContains', name, { min: 1, max: 63, pattern: 'jobName' });
  if (name !== undefined) q.nameContains = name;
  const max = one('maxResults');
  if (max !== undefined) {
    if (!/^-?\d+$/.test(max)) throw new ServiceError('SerializationException', `Value '${max}' at 'maxResults' is not an integer`);
    v.integer('maxResults', Number(max), 1, 1000);
    q.maxResults = Number(max);
  }
  const token = one('nextToken');
  v.string('nextToken', token, { min: 1, max: 2048, pattern: 'nextToken' });
  if (token !== undefined) q.nextToken = token;
  const sortBy = one('sortBy');
  v.enumValue('sortBy', sortBy, ['CreationTime']);
  if (sortBy !== undefined) q.sortBy = 'CreationTime';
  const sortOrder = one('sortOrder');
  v.enumValue('sortOrder', sortOrder, ['Ascending', 'Descending']);
  if (sortOrder !== undefined) q.sortOrder = sortOrder as 'Ascending' | 'Descending';
  v.throwIfAny();
  return q;
}
