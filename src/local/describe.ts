/**
 * What GetModelInvocationJob and ListModelInvocationJobs answer about jobs: a job's description
 * (docs/bedrock.md §3.2), and List's filters, order and pages (§3.3). This service sorts by submit
 * time, newest first unless asked otherwise, 100 per page by default; `nameContains` is
 * case-sensitive; a `nextToken` is valid only with the filters of the request that gave it.
 */
import { ServiceError } from './errors.js';
import type { StoredJob } from './jobs.js';
import { validateListQuery, type ListQuery } from './validation.js';

const DEFAULT_PAGE = 100;

/** The Get response; a List summary has the same members (docs/bedrock.md §3.3). */
export function describeJob(j: StoredJob): Record<string, unknown> {
  const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
  const out: Record<string, unknown> = {
    jobArn: j.jobArn,
    jobName: j.jobName,
    modelId: j.modelId,
    clientRequestToken: j.clientRequestToken,
    roleArn: j.roleArn,
    status: j.status,
    message: j.message,
    submitTime: iso(j.submitTime),
    lastModifiedTime: iso(j.lastModifiedTime),
    endTime: iso(j.endTime),
    inputDataConfig: j.inputDataConfig,
    outputDataConfig: j.outputDataConfig,
    vpcConfig: j.vpcConfig,
    timeoutDurationInHours: j.timeoutDurationInHours,
    jobExpirationTime: iso(j.jobExpirationTime),
    modelInvocationType: j.modelInvocationType,
    totalRecordCount: j.totalRecordCount,
    processedRecordCount: j.processedRecordCount,
    successRecordCount: j.successRecordCount,
    errorRecordCount: j.errorRecordCount,
  };
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
}

/** One page of ListModelInvocationJobs over `jobs`, for the request's query parameters. */
export function listJobs(jobs: Iterable<StoredJob>, params: URLSearchParams): { invocationJobSummaries: Record<string, unknown>[]; nextToken?: string } {
  const q = validateListQuery(params);
  const descending = q.sortOrder !== 'Ascending';
  const filterKey = listFilterKey(q);
  let after: { t: number; id: string } | undefined;
  if (q.nextToken !== undefined) after = decodeToken(q.nextToken, filterKey);
  const matching = [...jobs]
    .filter(
      (j) =>
        (q.statusEquals === undefined || j.status === q.statusEquals) &&
        (q.nameContains === undefined || j.jobName.includes(q.nameContains)) &&
        (q.submitTimeAfter === undefined || j.submitTime > q.submitTimeAfter.getTime()) &&
        (q.submitTimeBefore === undefined || j.submitTime < q.submitTimeBefore.getTime()),
    )
    .sort((a, b) => (a.submitTime - b.submitTime || (a.jobId < b.jobId ? -1 : a.jobId > b.jobId ? 1 : 0)) * (descending ? -1 : 1));
  let start = 0;
  if (after) {
    const cmp = (j: StoredJob) => (j.submitTime - after!.t || (j.jobId < after!.id ? -1 : j.jobId > after!.id ? 1 : 0)) * (descending ? -1 : 1);
    start = matching.findIndex((j) => cmp(j) > 0);
    if (start < 0) start = matching.length;
  }
  const size = q.maxResults ?? DEFAULT_PAGE;
  const page = matching.slice(start, start + size);
  const out: { invocationJobSummaries: Record<string, unknown>[]; nextToken?: string } = {
    invocationJobSummaries: page.map(describeJob),
  };
  if (start + size < matching.length) {
    const last = page[page.length - 1]!;
    out.nextToken = encodeToken({ t: last.submitTime, id: last.jobId }, filterKey);
  }
  return out;
}

function listFilterKey(q: ListQuery): string {
  return JSON.stringify([q.statusEquals, q.nameContains, q.submitTimeAfter?.getTime(), q.submitTimeBefore?.getTime(), q.sortOrder ?? 'Descending']);
}

function encodeToken(after: { t: number; id: string }, filterKey: string): string {
  return Buffer.from(JSON.stringify({ ...after, f: filterKey })).toString('base64url');
}

function decodeToken(token: string, filterKey: string): { t: number; id: string } {
  try {
    const data = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { t: number; id: string; f: string };
    if (typeof data.t === 'number' && typeof data.id === 'string' && data.f === filterKey) return { t: data.t, id: data.id };
  } catch {
    // fall through
  }
  throw new ServiceError('ValidationException', 'The provided nextToken is not valid for this request: pass the token from the previous page with the same filters.');
}
