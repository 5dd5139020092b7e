/**
 * A job's Validating phase (docs/bedrock.md §3.5): find its buckets and input files, and read every
 * input file once, as Bedrock does: `.jsonl` objects only, each non-blank line a JSON object with a
 * `modelInput` object, record counts and sizes within the quota profile. The answer is the plan the
 * runner follows, or the job's failure message, naming the file and line.
 */
import type { QuotaProfile } from '../bedrock/quotas.js';
import { familyFor } from '../models/index.js';
import type { FamilyName } from '../models/family.js';
import { joinKey, type Store } from '../stores/store.js';
import { selects, type LocalFaults } from './faults.js';
import type { StoredJob } from './jobs.js';
import { LineTooLongError, readLines } from './lines.js';
import { familyOfShape } from './responses.js';
import { Stop } from './stop.js';
import { parseS3Uri, type StoreResolver } from './stores.js';

/** The longest line read (records are at most a file in size; this bounds memory per line). */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;

export interface InputFile {
  store: Store;
  key: string;
  /** The output name: the key relative to the input folder (a single file: its name). */
  name: string;
  bytes: number;
}

export interface RunPlan {
  files: InputFile[];
  records: number;
  /** The records' family: the model's, or else the first record's shape (undefined: each record's own). */
  family: FamilyName | undefined;
  outStore: Store;
  /** `<output key>/<jobId>`: where the job's `.out` files and manifest go. */
  outPrefix: string;
}

export interface PlanContext {
  stores: StoreResolver;
  quotas: QuotaProfile;
  faults: LocalFaults & { seed: number };
  signal: AbortSignal;
}

/** Validate a job's input: the plan to run it, or the message it fails with. */
export async function planRun(job: StoredJob, c: PlanContext): Promise<RunPlan | string> {
  const { quotas: q, signal } = c;
  if (selects(c.faults.failValidation, c.faults.seed, job.jobName, 'failValidation')) {
    return 'Validation failed for the input data. (local fault injection)';
  }
  const inputUri = job.inputDataConfig.s3InputDataConfig.s3Uri;
  const outputUri = job.outputDataConfig.s3OutputDataConfig.s3Uri;
  const input = parseS3Uri(inputUri);
  const output = parseS3Uri(outputUri);
  let inStore: Store | undefined;
  let outStore: Store | undefined;
  try {
    inStore = await c.stores.bucket(input.bucket);
  } catch (err) {
    return `The input S3 bucket ${input.bucket} cannot be used: ${(err as Error).message}`;
  }
  if (!inStore) return `The input S3 bucket ${input.bucket} does not exist, or the role ${job.roleArn} cannot read it.`;
  try {
    outStore = await c.stores.bucket(output.bucket);
  } catch (err) {
    return `The output S3 bucket ${output.bucket} cannot be used: ${(err as Error).message}`;
  }
  if (!outStore) return `The output S3 bucket ${output.bucket} does not exist, or the role ${job.roleArn} cannot write to it.`;

  const files: InputFile[] = [];
  try {
    const single = input.key !== '' && !input.key.endsWith('/') && (await inStore.exists(input.key));
    if (single) {
      let bytes = 0;
      for await (const o of inStore.list(input.key)) if (o.key === input.key) bytes = o.size;
      files.push({ store: inStore, key: input.key, name: input.key.slice(input.key.lastIndexOf('/') + 1), bytes });
    } else {
      const prefix = input.key === '' || input.key.endsWith('/') ? input.key : `${input.key}/`;
      for await (const o of inStore.list(prefix)) {
        files.push({ store: inStore, key: o.key, name: o.key.slice(prefix.length), bytes: o.size });
      }
    }
  } catch (err) {
    return `The input ${inputUri} could not be listed: ${(err as Error).message}`;
  }
  if (files.length === 0) return `No input files were found at ${inputUri}.`;
  const notJsonl = files.find((f) => !f.name.endsWith('.jsonl'));
  if (notJsonl) return `The input file s3://${input.bucket}/${notJsonl.key} is not a .jsonl file: every object in the input location must be JSONL.`;
  let jobBytes = 0;
  let records = 0;
  let family: FamilyName | undefined;
  try {
    family = familyFor(job.modelId, job.modelInvocationType === 'Converse' ? { invocationType: 'Converse' } : {}).name;
  } catch {
    family = undefined; // decided by the records' shape
  }
  for (const f of files) {
    const uri = `s3://${input.bucket}/${f.key}`;
    if (f.bytes > q.maxBytesPerFile) return `The input file ${uri} is ${f.bytes} bytes, over the limit of ${q.maxBytesPerFile} bytes per file.`;
    jobBytes += f.bytes;
    if (jobBytes > q.maxBytesPerJob) return `The job's input is over the limit of ${q.maxBytesPerJob} bytes per job (at ${uri}).`;
    let inFile = 0;
    try {
      for await (const line of readLines(f.store.createReadStream(f.key), Math.min(MAX_LINE_BYTES, q.maxBytesPerFile))) {
        if (signal.aborted) throw signal.reason;
        if (line.text.trim() === '') continue;
        let rec: unknown;
        try {
          rec = JSON.parse(line.text);
        } catch {
          return `Line ${line.number} of ${uri} is not valid JSON.`;
        }
        if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) return `Line ${line.number} of ${uri} is not a JSON object.`;
        const modelInput = (rec as Record<string, unknown>).modelInput;
        if (typeof modelInput !== 'object' || modelInput === null || Array.isArray(modelInput)) {
          return `Line ${line.number} of ${uri} has no modelInput object: each line must be {"recordId": "...", "modelInput": {...}}.`;
        }
        if (family === undefined) family = familyOfShape(modelInput as Record<string, unknown>);
        inFile++;
        records++;
        if (inFile > q.maxRecordsPerFile) return `The input file ${uri} has more than ${q.maxRecordsPerFile} records, the limit per file.`;
        if (records > q.maxRecordsPerJob) return `The job has more than ${q.maxRecordsPerJob} records, the limit per job.`;
      }
    } catch (err) {
      if (err instanceof Stop || signal.aborted) throw err;
      if (err instanceof LineTooLongError) return `Line ${err.lineNumber} of ${uri} is longer than ${err.limit} bytes.`;
      return `The input file ${uri} could not be read: ${(err as Error).message}`;
    }
  }
  if (records < q.minRecordsPerJob) {
    return `The job has ${records} records, fewer than the minimum of ${q.minRecordsPerJob} records per batch inference job.`;
  }
  return { files, records, family, outStore, outPrefix: joinKey(output.key, job.jobId) };
}
