/**
 * The local service's job table: each job's record (`StoredJob`: what Get describes and the state
 * file keeps), a new job's record with Bedrock's defaults filled in, lookups by id, ARN and
 * clientRequestToken, and saving to the state file (state.ts): at once on a transition, within
 * half a second after a counter moves.
 */
import { randomBytes } from 'node:crypto';
import { jobArnOf, jobIdOf, type JobStatus } from '../bedrock/vocabulary.js';
import { parseModelId } from '../models/ids.js';
import { ServiceError } from './errors.js';
import { readStateFile, writeStateFile } from './state.js';
import { validateJobIdentifier, type CreateJobInput } from './validation.js';

export interface StoredJob {
  jobArn: string;
  jobId: string;
  jobName: string;
  modelId: string;
  clientRequestToken?: string;
  roleArn: string;
  status: JobStatus;
  message?: string;
  submitTime: number;
  lastModifiedTime: number;
  endTime?: number;
  jobExpirationTime: number;
  inputDataConfig: CreateJobInput['inputDataConfig'];
  outputDataConfig: CreateJobInput['outputDataConfig'];
  vpcConfig?: CreateJobInput['vpcConfig'];
  timeoutDurationInHours: number;
  modelInvocationType?: 'InvokeModel' | 'Converse';
  tags?: CreateJobInput['tags'];
  totalRecordCount: number;
  processedRecordCount: number;
  successRecordCount: number;
  errorRecordCount: number;
  inputTokenCount: number;
  outputTokenCount: number;
}

/** Where a new job lives: its id, the service's region and account, and how long its hours last. */
export interface NewJobContext {
  jobId: string;
  region: string;
  accountId: string;
  /** Milliseconds in one hour of `timeoutDurationInHours`. */
  hourMs: number;
  now: number;
}

/** A job just created: Submitted, with the defaults Bedrock fills in (docs/bedrock.md §3.1). */
export function newJob(input: CreateJobInput, c: NewJobContext): StoredJob {
  const timeout = input.timeoutDurationInHours ?? 24;
  const inS3 = input.inputDataConfig.s3InputDataConfig;
  const outS3 = input.outputDataConfig.s3OutputDataConfig;
  const job: StoredJob = {
    jobArn: jobArnOf(c.region, c.accountId, c.jobId),
    jobId: c.jobId,
    jobName: input.jobName,
    modelId: modelArn(input.modelId, c.region, c.accountId),
    roleArn: input.roleArn,
    status: 'Submitted',
    submitTime: c.now,
    lastModifiedTime: c.now,
    jobExpirationTime: c.now + timeout * c.hourMs,
    inputDataConfig: {
      s3InputDataConfig: {
        s3Uri: inS3.s3Uri,
        s3InputFormat: inS3.s3InputFormat ?? 'JSONL',
        s3BucketOwner: inS3.s3BucketOwner ?? c.accountId,
      },
    },
    outputDataConfig: {
      s3OutputDataConfig: {
        s3Uri: outS3.s3Uri,
        ...(outS3.s3EncryptionKeyId !== undefined ? { s3EncryptionKeyId: outS3.s3EncryptionKeyId } : {}),
        s3BucketOwner: outS3.s3BucketOwner ?? c.accountId,
      },
    },
    timeoutDurationInHours: timeout,
    totalRecordCount: 0,
    processedRecordCount: 0,
    successRecordCount: 0,
    errorRecordCount: 0,
    inputTokenCount: 0,
    outputTokenCount: 0,
  };
  if (input.clientRequestToken !== undefined) job.clientRequestToken = input.clientRequestToken;
  if (input.vpcConfig) job.vpcConfig = { subnetIds: [...input.vpcConfig.subnetIds], securityGroupIds: [...input.vpcConfig.securityGroupIds] };
  if (input.modelInvocationType !== undefined) job.modelInvocationType = input.modelInvocationType;
  if (input.tags) job.tags = input.tags.map((t) => ({ key: t.key, value: t.value }));
  return job;
}

/** Base model ids come back as foundation-model ARNs, profile ids as inference-profile ARNs (docs/bedrock.md §3.1). */
function modelArn(modelId: string, region: string, accountId: string): string {
  const kind = parseModelId(modelId).kind;
  if (kind === 'base') return `arn:aws:bedrock:${region}::foundation-model/${modelId}`;
  if (kind === 'profile') return `arn:aws:bedrock:${region}:${accountId}:inference-profile/${modelId}`;
  return modelId;
}

/** Every job by id (and by clientRequestToken), saved to `stateFile` when there is one. */
export class JobTable {
  private readonly jobs = new Map<string, StoredJob>();
  private readonly tokens = new Map<string, string>();
  private saveTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(readonly stateFile: string | undefined) {}

  /** Read the jobs of the state file (none when there is no file yet). */
  load(): void {
    if (this.stateFile) for (const job of readStateFile(this.stateFile)) this.add(job);
  }

  add(job: StoredJob): void {
    this.jobs.set(job.jobId, job);
    if (job.clientRequestToken) this.tokens.set(job.clientRequestToken, job.jobId);
  }

  values(): IterableIterator<StoredJob> {
    return this.jobs.values();
  }

  /** The job created with this clientRequestToken, if any. */
  byToken(token: string): StoredJob | undefined {
    const id = this.tokens.get(token);
    return id === undefined ? undefined : this.jobs.get(id);
  }

  /** The job a `jobIdentifier` names (its ARN or its bare id), or ResourceNotFoundException. */
  find(identifier: string): StoredJob {
    validateJobIdentifier(identifier);
    const job = this.jobs.get(jobIdOf(identifier));
    if (!job || (identifier.includes('/') && identifier !== job.jobArn)) {
      throw new ServiceError('ResourceNotFoundException', `The model invocation job ${identifier} could not be found.`);
    }
    return job;
  }

  /** A job id not in use: 12 characters `[a-z0-9]` (docs/bedrock.md §2.1). */
  newJobId(): string {
    const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
    for (;;) {
      const bytes = randomBytes(12);
      let id = '';
      for (const b of bytes) id += alphabet[b % alphabet.length];
      if (!this.jobs.has(id)) return id;
    }
  }

  /** Save now (transitions, creates) or soon (counters). */
  save(soon = false): void {
    if (!this.stateFile || this.closed) return;
    if (soon) {
      if (!this.saveTimer) {
        this.saveTimer = setTimeout(() => {
          this.saveTimer = undefined;
          this.save();
        }, 500);
        this.saveTimer.unref();
      }
      return;
    }
    writeStateFile(this.stateFile, this.jobs.values());
  }

  /** Save one last time; later changes stay in memory only. */
  close(): void {
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.save();
    this.closed = true;
  }
}
