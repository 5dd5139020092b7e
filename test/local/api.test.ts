/**
 * The local service's control-plane API, driven by the real @aws-sdk/client-bedrock over HTTP:
 * every route, every documented error type and status, validation messages, idempotency,
 * pagination and list filters (docs/bedrock.md §3, §4).
 */
import {
  BedrockClient,
  CreateModelInvocationJobCommand,
  GetModelInvocationJobCommand,
  ListModelInvocationJobsCommand,
  paginateListModelInvocationJobs,
  StopModelInvocationJobCommand,
} from '@aws-sdk/client-bedrock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfiguredRetryStrategy } from '@smithy/core/retry';
import { localClientConfig, type LocalService } from '../../src/local/server.js';
import { PATTERNS } from '../../src/bedrock/vocabulary.js';
import { quotaProfile } from '../../src/bedrock/quotas.js';
import { useTempDir } from '../support/temp.js';
import { clientOf, createInput, failure, HAIKU, jsonl, put, ROLE, startFast, waitFor } from './helpers.js';

const many = quotaProfile('local', { maxJobsInFlight: 50 });

/**
 * For the tests of a describe block: a paused service (jobs stay as created, so stored values can be
 * read exactly) on a root of its own, and its SDK client; started before the first test, closed
 * after the last.
 */
function pausedService(): { readonly local: LocalService; readonly client: BedrockClient } {
  const tmp = useTempDir('local-', { shared: true });
  const svc = {} as { local: LocalService; client: BedrockClient };
  beforeAll(async () => {
    svc.local = await startFast({ root: tmp.dir, paused: true, quotas: many, stateFile: false });
    svc.client = clientOf(svc.local);
  });
  afterAll(async () => {
    svc.client.destroy();
    await svc.local.close();
  });
  return svc;
}

describe('routes and responses', () => {
  const svc = pausedService();

  it('creates a job and stores the defaults Bedrock fills in', async () => {
    const before = Date.now();
    const { jobArn } = await svc.client.send(new CreateModelInvocationJobCommand(createInput({ jobName: 'defaults', clientRequestToken: 'tok-defaults-1' })));
    expect(jobArn).toMatch(/^arn:aws:bedrock:us-east-1:123456789012:model-invocation-job\/[a-z0-9]{12}$/);
    const job = await svc.client.send(new GetModelInvocationJobCommand({ jobIdentifier: jobArn }));
    expect(job.status).toBe('Submitted');
    expect(job.jobName).toBe('defaults');
    expect(job.modelId).toBe(`arn:aws:bedrock:us-east-1::foundation-model/${HAIKU}`);
    expect(job.roleArn).toBe(ROLE);
    expect(job.clientRequestToken).toBe('tok-defaults-1');
    expect(job.timeoutDurationInHours).toBe(24);
    expect(job.inputDataConfig).toEqual({ s3InputDataConfig: { s3Uri: 's3://in-bucket/run/', s3InputFormat: 'JSONL', s3BucketOwner: '123456789012' } });
    expect(job.outputDataConfig).toEqual({ s3OutputDataConfig: { s3Uri: 's3://out-bucket/results/', s3BucketOwner: '123456789012' } });
    expect(job.submitTime).toBeInstanceOf(Date);
    expect(job.submitTime!.getTime()).toBeGreaterThanOrEqual(before - 1);
    expect(job.jobExpirationTime!.getTime() - job.submitTime!.getTime()).toBe(24 * 3_600_000);
    expect(job.totalRecordCount).toBe(0);
    expect(job.processedRecordCount).toBe(0);
    expect(job.endTime).toBeUndefined();
  });

  it('passes timeout, tags, KMS key, VPC and invocation type through, and a profile id becomes its ARN', async () => {
    const { jobArn } = await svc.client.send(
      new CreateModelInvocationJobCommand(
        createInput({
          jobName: 'settings',
          modelId: 'us.anthropic.claude-3-5-haiku-20241022-v1:0',
          timeoutDurationInHours: 72,
          tags: [{ key: 'team', value: 'care' }],
          vpcConfig: { subnetIds: ['subnet-0abc'], securityGroupIds: ['sg-0def'] },
          modelInvocationType: 'Converse',
          outputDataConfig: { s3OutputDataConfig: { s3Uri: 's3://out-bucket/x/', s3EncryptionKeyId: 'alias/batch-key' } },
        }),
      ),
    );
    const job = await svc.client.send(new GetModelInvocationJobCommand({ jobIdentifier: jobArn }));
    expect(job.modelId).toBe('arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0');
    expect(job.timeoutDurationInHours).toBe(72);
    expect(job.vpcConfig).toEqual({ subnetIds: ['subnet-0abc'], securityGroupIds: ['sg-0def'] });
    expect(job.modelInvocationType).toBe('Converse');
    expect(job.outputDataConfig?.s3OutputDataConfig?.s3EncryptionKeyId).toBe('alias/batch-key');
    expect(job.jobExpirationTime!.getTime() - job.submitTime!.getTime()).toBe(72 * 3_600_000);
  });

  it('speaks the wire format: RFC 3339 strings, JSON numbers, request ids, percent-encoded ARNs or bare ids', async () => {
    const { jobArn } = await svc.client.send(new CreateModelInvocationJobCommand(createInput({ jobName: 'wire' })));
    const id = jobArn!.split('/')[1]!;
    const auth = { authorization: 'Bearer local-test-token' };
    for (const path of [`/model-invocation-job/${encodeURIComponent(jobArn!)}`, `/model-invocation-job/${id}`]) {
      const res = await fetch(`${svc.local.endpoint}${path}`, { headers: auth });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/json');
      expect(res.headers.get('x-amzn-requestid')).toMatch(/^[0-9a-f-]{36}$/);
      const body = (await res.json()) as Record<string, unknown>;
      expect(body.jobArn).toBe(jobArn);
      expect(body.submitTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(typeof body.timeoutDurationInHours).toBe('number');
      expect(typeof body.totalRecordCount).toBe('number');
      expect(body).not.toHaveProperty('endTime'); // absent, not null
    }
  });

  it('answers unknown jobs with ResourceNotFoundException 404, and bad identifiers with ValidationException', async () => {
    const missing = await failure(svc.client.send(new GetModelInvocationJobCommand({ jobIdentifier: 'abcdefabcdef' })));
    expect(missing).toMatchObject({ name: 'ResourceNotFoundException', status: 404, fault: 'client' });
    expect(missing.message).toContain('abcdefabcdef');
    const otherRegion = await failure(svc.client.send(new GetModelInvocationJobCommand({ jobIdentifier: 'arn:aws:bedrock:eu-west-1:123456789012:model-invocation-job/abcdefabcdef' })));
    expect(otherRegion).toMatchObject({ name: 'ResourceNotFoundException', status: 404 });
    const bad = await failure(svc.client.send(new GetModelInvocationJobCommand({ jobIdentifier: 'My Job' })));
    expect(bad).toMatchObject({ name: 'ValidationException', status: 400 });
    expect(bad.message).toBe(`1 validation error detected: Value 'My Job' at 'jobIdentifier' failed to satisfy constraint: Member must satisfy regular expression pattern: ${PATTERNS.jobIdentifier}`);
    const empty = await failure(svc.client.send(new GetModelInvocationJobCommand({ jobIdentifier: '' })));
    expect(empty).toMatchObject({ name: 'ValidationException', status: 400 });
    const stopMissing = await failure(svc.client.send(new StopModelInvocationJobCommand({ jobIdentifier: 'zzzzzzzzzzzz' })));
    expect(stopMissing).toMatchObject({ name: 'ResourceNotFoundException', status: 404 });
  });

  it('is idempotent on clientRequestToken: the first job comes back, whatever else changed', async () => {
    const a = await svc.client.send(new CreateModelInvocationJobCommand(createInput({ jobName: 'idem-a', clientRequestToken: 'same-token-42' })));
    const b = await svc.client.send(new CreateModelInvocationJobCommand(createInput({ jobName: 'idem-b', clientRequestToken: 'same-token-42', timeoutDurationInHours: 48 })));
    expect(b.jobArn).toBe(a.jobArn);
    const list = await svc.client.send(new ListModelInvocationJobsCommand({ nameContains: 'idem-' }));
    expect(list.invocationJobSummaries!.map((j) => j.jobName)).toEqual(['idem-a']);
  });

  it('refuses a job name in use by an unfinished job', async () => {
    await svc.client.send(new CreateModelInvocationJobCommand(createInput({ jobName: 'taken' })));
    const err = await failure(svc.client.send(new CreateModelInvocationJobCommand(createInput({ jobName: 'taken' }))));
    expect(err).toMatchObject({ name: 'ValidationException', status: 400, message: 'The provided job name is currently in use: taken' });
  });

  it('stops a job: 200 with an empty body, Stopping then Stopped; ConflictException on a finished one', async () => {
    const { jobArn } = await svc.client.send(new CreateModelInvocationJobCommand(createInput({ jobName: 'to-stop' })));
    const res = await fetch(`${svc.local.endpoint}/model-invocation-job/${encodeURIComponent(jobArn!)}/stop`, { method: 'POST', headers: { authorization: 'Bearer x' } });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
    expect((await svc.client.send(new GetModelInvocationJobCommand({ jobIdentifier: jobArn }))).status).toMatch(/^Stopp(ing|ed)$/);
    const stopped = await waitFor(svc.client, jobArn!, ['Stopped']);
    expect(stopped.endTime).toBeInstanceOf(Date);
    await svc.client.send(new StopModelInvocationJobCommand({ jobIdentifier: jobArn })).catch(() => {});
    const again = await failure(svc.client.send(new StopModelInvocationJobCommand({ jobIdentifier: jobArn })));
    expect(again).toMatchObject({ name: 'ConflictException', status: 400, fault: 'client' });
    expect(again.message).toContain('Stopped');
  });

  it('answers routes it does not serve, bodies that are not JSON and unsigned requests as AWS does', async () => {
    const unknown = await fetch(`${svc.local.endpoint}/custom-models`, { headers: { authorization: 'Bearer x' } });
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('x-amzn-errortype')).toBe('UnknownOperationException');
    const notJson = await fetch(`${svc.local.endpoint}/model-invocation-job`, { method: 'POST', headers: { authorization: 'Bearer x', 'content-type': 'application/json' }, body: '{"jobName":' });
    expect(notJson.status).toBe(400);
    expect(notJson.headers.get('x-amzn-errortype')).toBe('SerializationException');
    expect(await notJson.json()).toEqual({ message: 'The request body is not valid JSON' });
    const unsigned = await fetch(`${svc.local.endpoint}/model-invocation-jobs`);
    expect(unsigned.status).toBe(403);
    expect(unsigned.headers.get('x-amzn-errortype')).toBe('AccessDeniedException');
  });

  it('refuses a role of another account with AccessDeniedException 403', async () => {
    const err = await failure(svc.client.send(new CreateModelInvocationJobCommand(createInput({ jobName: 'other-acct', roleArn: 'arn:aws:iam::999999999999:role/Other' }))));
    expect(err).toMatchObject({ name: 'AccessDeniedException', status: 403, fault: 'client' });
    expect(err.message).toContain('iam:PassRole');
  });
});

describe('request validation names the field and the constraint (Coral style)', () => {
  const svc = pausedService();
  const create = (input: Record<string, unknown>) => failure(svc.client.send(new CreateModelInvocationJobCommand(input as any)));

  it('lists every missing required member', async () => {
    const err = await create({});
    expect(err).toMatchObject({ name: 'ValidationException', status: 400, fault: 'client' });
    expect(err.message).toBe(
      "5 validation errors detected: Value null at 'jobName' failed to satisfy constraint: Member must not be null; " +
        "Value null at 'roleArn' failed to satisfy constraint: Member must not be null; " +
        "Value null at 'modelId' failed to satisfy constraint: Member must not be null; " +
        "Value null at 'inputDataConfig' failed to satisfy constraint: Member must not be null; " +
        "Value null at 'outputDataConfig' failed to satisfy constraint: Member must not be null",
    );
  });

  it.each([
    [{ jobName: 'my job' }, "Value 'my job' at 'jobName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9]{1,63}(-*[a-zA-Z0-9\\+\\-\\.]){0,63}$"],
    [{ jobName: 'a'.repeat(64) }, "at 'jobName' failed to satisfy constraint: Member must have length less than or equal to 63"],
    [{ roleArn: 'arn:aws:iam::123:user/me' }, "at 'roleArn' failed to satisfy constraint: Member must satisfy regular expression pattern: ^arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+$"],
    [{ modelId: 'Claude 3 Haiku' }, "Value 'Claude 3 Haiku' at 'modelId' failed to satisfy constraint: Member must satisfy regular expression pattern"],
    [{ inputDataConfig: { s3InputDataConfig: { s3Uri: 's3://in-bucket/dt=2024-01-01/' } } }, "Value 's3://in-bucket/dt=2024-01-01/' at 'inputDataConfig.s3InputDataConfig.s3Uri' failed to satisfy constraint: Member must satisfy regular expression pattern"],
    [{ inputDataConfig: { s3InputDataConfig: { s3Uri: 's3://In_Bucket/x/' } } }, "at 'inputDataConfig.s3InputDataConfig.s3Uri' failed to satisfy constraint"],
    [{ inputDataConfig: { s3InputDataConfig: { s3Uri: 's3://in-bucket/x/', s3InputFormat: 'CSV' } } }, "Value 'CSV' at 'inputDataConfig.s3InputDataConfig.s3InputFormat' failed to satisfy constraint: Member must satisfy enum value set: [JSONL]"],
    [{ inputDataConfig: {} }, "Value '{}' at 'inputDataConfig' failed to satisfy constraint: Member must have exactly one of [s3InputDataConfig] set"],
    [{ outputDataConfig: { s3OutputDataConfig: { s3Uri: 's3://out-bucket/', s3EncryptionKeyId: 'not a key' } } }, "at 'outputDataConfig.s3OutputDataConfig.s3EncryptionKeyId' failed to satisfy constraint: Member must satisfy regular expression pattern"],
    [{ clientRequestToken: 'has space' }, "Value 'has space' at 'clientRequestToken' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9]{1,256}(-*[a-zA-Z0-9]){0,256}$"],
    [{ timeoutDurationInHours: 200 }, "Value '200' at 'timeoutDurationInHours' failed to satisfy constraint: Member must have value less than or equal to 168"],
    [{ timeoutDurationInHours: 12 }, "Value '12' at 'timeoutDurationInHours' failed to satisfy constraint: Member must have value greater than or equal to 24"],
    [{ tags: Array.from({ length: 201 }, (_, i) => ({ key: `k${i}`, value: 'v' })) }, "at 'tags' failed to satisfy constraint: Member must have length less than or equal to 200"],
    [{ tags: [{ key: 'ok', value: 'v' }, { key: 'bad|key', value: 'v' }] }, "Value 'bad|key' at 'tags.2.member.key' failed to satisfy constraint: Member must satisfy regular expression pattern"],
    [{ vpcConfig: { subnetIds: Array.from({ length: 17 }, (_, i) => `subnet-${i}`), securityGroupIds: ['sg-1'] } }, "at 'vpcConfig.subnetIds' failed to satisfy constraint: Member must have length less than or equal to 16"],
    [{ vpcConfig: { subnetIds: ['subnet-1'] } }, "Value null at 'vpcConfig.securityGroupIds' failed to satisfy constraint: Member must not be null"],
    [{ modelInvocationType: 'Chat' }, "Value 'Chat' at 'modelInvocationType' failed to satisfy constraint: Member must satisfy enum value set: [InvokeModel, Converse]"],
  ])('%j', async (over, expected) => {
    const err = await create(createInput(over));
    expect(err).toMatchObject({ name: 'ValidationException', status: 400 });
    expect(err.message).toMatch(/^1 validation error detected: /);
    expect(err.message).toContain(expected);
  });

  it('takes every documented model id form', async () => {
    const ids = [
      HAIKU,
      'us.anthropic.claude-3-5-haiku-20241022-v1:0',
      'arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0',
      'arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-premier-v1:0',
      'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123def456',
      'arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.nova-lite-v1:0:300k/abcdef123456',
    ];
    for (const [i, modelId] of ids.entries()) {
      const r = await svc.client.send(new CreateModelInvocationJobCommand(createInput({ jobName: `model-form-${i}`, modelId })));
      expect(r.jobArn).toBeTruthy();
    }
  });
});

describe('ListModelInvocationJobs', () => {
  const svc = pausedService();
  const arns: string[] = [];
  beforeAll(async () => {
    for (let i = 0; i < 7; i++) {
      const r = await svc.client.send(new CreateModelInvocationJobCommand(createInput({ jobName: `list-${i % 2 ? 'odd' : 'even'}-${i}` })));
      arns.push(r.jobArn!);
      await new Promise((r) => setTimeout(r, 3)); // distinct submit times
    }
    await svc.client.send(new StopModelInvocationJobCommand({ jobIdentifier: arns[0] }));
    await waitFor(svc.client, arns[0]!, ['Stopped']);
  });

  it('pages with an opaque nextToken, omitted on the last page; the SDK paginator walks them all', async () => {
    const first = await svc.client.send(new ListModelInvocationJobsCommand({ maxResults: 3 }));
    expect(first.invocationJobSummaries).toHaveLength(3);
    expect(first.nextToken).toBeTruthy();
    const pages: number[] = [];
    const seen: string[] = [];
    for await (const page of paginateListModelInvocationJobs({ client: svc.client, pageSize: 3 }, {})) {
      pages.push(page.invocationJobSummaries!.length);
      seen.push(...page.invocationJobSummaries!.map((j) => j.jobArn!));
      if (pages.length < 3) expect(page.nextToken).toBeTruthy();
      else expect(page.nextToken).toBeUndefined();
    }
    expect(pages).toEqual([3, 3, 1]);
    expect(seen).toEqual([...arns].reverse()); // newest first by default
  });

  it('sorts ascending on request and filters by status, name and submit time', async () => {
    const asc = await svc.client.send(new ListModelInvocationJobsCommand({ sortBy: 'CreationTime', sortOrder: 'Ascending' }));
    expect(asc.invocationJobSummaries!.map((j) => j.jobArn)).toEqual(arns);
    const stopped = await svc.client.send(new ListModelInvocationJobsCommand({ statusEquals: 'Stopped' }));
    expect(stopped.invocationJobSummaries!.map((j) => j.jobArn)).toEqual([arns[0]]);
    const odd = await svc.client.send(new ListModelInvocationJobsCommand({ nameContains: 'list-odd' }));
    expect(odd.invocationJobSummaries!.map((j) => j.jobName).sort()).toEqual(['list-odd-1', 'list-odd-3', 'list-odd-5']);
    const all = asc.invocationJobSummaries!;
    const middle = all[3]!.submitTime!;
    const after = await svc.client.send(new ListModelInvocationJobsCommand({ submitTimeAfter: middle, sortOrder: 'Ascending' }));
    expect(after.invocationJobSummaries!.map((j) => j.jobArn)).toEqual(arns.slice(4));
    const before = await svc.client.send(new ListModelInvocationJobsCommand({ submitTimeBefore: middle, sortOrder: 'Ascending' }));
    expect(before.invocationJobSummaries!.map((j) => j.jobArn)).toEqual(arns.slice(0, 3));
    // summaries carry the required members and the record counts
    expect(all[0]).toMatchObject({ jobName: 'list-even-0', roleArn: ROLE, totalRecordCount: 0, processedRecordCount: 0 });
  });

  it('takes submit times with or without milliseconds, and Bearer auth from the SDK', async () => {
    const res = await fetch(`${svc.local.endpoint}/model-invocation-jobs?submitTimeAfter=2024-01-01T00:00:00Z&submitTimeBefore=2999-12-31T00:00:00.500Z&maxResults=1000`, { headers: { authorization: 'Bearer t' } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { invocationJobSummaries: unknown[] }).invocationJobSummaries).toHaveLength(7);
    const bad = await fetch(`${svc.local.endpoint}/model-invocation-jobs?submitTimeAfter=2024-01-01T00:00:00`, { headers: { authorization: 'Bearer t' } });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('x-amzn-errortype')).toBe('SerializationException');
    process.env.AWS_BEARER_TOKEN_BEDROCK = 'local-bearer-token';
    const seen: string[] = [];
    const bearer = new BedrockClient({ endpoint: svc.local.endpoint, region: 'us-east-1' });
    bearer.middlewareStack.add((next) => async (args: any) => {
      const r = await next(args);
      const headers = args.request.headers as Record<string, string>;
      seen.push(String(Object.entries(headers).find(([k]) => k.toLowerCase() === 'authorization')?.[1]));
      return r;
    }, { step: 'deserialize' } as any);
    try {
      const page = await bearer.send(new ListModelInvocationJobsCommand({ maxResults: 1 }));
      expect(page.invocationJobSummaries).toHaveLength(1);
      expect(seen[0]).toBe('Bearer local-bearer-token');
    } finally {
      delete process.env.AWS_BEARER_TOKEN_BEDROCK;
      bearer.destroy();
    }
  });

  it('validates its parameters', async () => {
    const zero = await failure(svc.client.send(new ListModelInvocationJobsCommand({ maxResults: 0 })));
    expect(zero.message).toBe("1 validation error detected: Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1");
    const big = await failure(svc.client.send(new ListModelInvocationJobsCommand({ maxResults: 1001 })));
    expect(big.message).toContain('Member must have value less than or equal to 1000');
    const status = await failure(svc.client.send(new ListModelInvocationJobsCommand({ statusEquals: 'Done' as any })));
    expect(status.message).toContain("Value 'Done' at 'statusEquals' failed to satisfy constraint: Member must satisfy enum value set: [Submitted, InProgress, Completed, Failed, Stopping, Stopped, PartiallyCompleted, Expired, Validating, Scheduled]");
    const name = await failure(svc.client.send(new ListModelInvocationJobsCommand({ nameContains: 'has space' })));
    expect(name.message).toContain("at 'nameContains' failed to satisfy constraint: Member must satisfy regular expression pattern");
    const token = await failure(svc.client.send(new ListModelInvocationJobsCommand({ nextToken: 'bm90LWEtdG9rZW4' })));
    expect(token).toMatchObject({ name: 'ValidationException', status: 400 });
    const first = await svc.client.send(new ListModelInvocationJobsCommand({ maxResults: 2 }));
    const mixed = await failure(svc.client.send(new ListModelInvocationJobsCommand({ maxResults: 2, nextToken: first.nextToken, statusEquals: 'Submitted' })));
    expect(mixed.message).toContain('nextToken is not valid');
    const sort = await failure(svc.client.send(new ListModelInvocationJobsCommand({ sortBy: 'Name' as any })));
    expect(sort.message).toContain('Member must satisfy enum value set: [CreationTime]');
  });
});

describe('quota and faults on the control plane', () => {
  const tmp = useTempDir('local-', { shared: true });
  let local: LocalService | undefined;
  afterEach(async () => {
    await local?.close();
    local = undefined;
  });

  it('refuses a job beyond the per-model quota with ServiceQuotaExceededException 400, per model', async () => {
    local = await startFast({ root: tmp.dir, paused: true, quotas: quotaProfile('local', { maxJobsInFlight: 2 }), stateFile: false });
    const client = clientOf(local);
    await client.send(new CreateModelInvocationJobCommand(createInput({ jobName: 'q1' })));
    await client.send(new CreateModelInvocationJobCommand(createInput({ jobName: 'q2', modelId: `us.${HAIKU}` })));
    const err = await failure(client.send(new CreateModelInvocationJobCommand(createInput({ jobName: 'q3' }))));
    expect(err).toMatchObject({ name: 'ServiceQuotaExceededException', status: 400, fault: 'client' });
    expect(err.message).toContain(HAIKU);
    // another model has its own quota
    await client.send(new CreateModelInvocationJobCommand(createInput({ jobName: 'q4', modelId: 'amazon.nova-lite-v1:0' })));
    client.destroy();
  });

  it('throttles with ThrottlingException 429, which the SDK retries (3 attempts)', async () => {
    local = await startFast({ root: tmp.dir, paused: true, stateFile: false, faults: { throttle: 1 } });
    const once = clientOf(local, 1);
    expect(await failure(once.send(new ListModelInvocationJobsCommand({})))).toMatchObject({ name: 'ThrottlingException', status: 429, fault: 'client' });
    // the SDK's standard strategy, with short waits so the test stays fast
    const retrying = new BedrockClient({ ...localClientConfig(local.endpoint), retryStrategy: new ConfiguredRetryStrategy(3, () => 5) });
    try {
      await retrying.send(new ListModelInvocationJobsCommand({}));
      throw new Error('expected throttling');
    } catch (err) {
      expect((err as { $metadata: { attempts: number } }).$metadata.attempts).toBe(3);
    }
    once.destroy();
    retrying.destroy();
  });

  it('fails with InternalServerException 500 on request', async () => {
    local = await startFast({ root: tmp.dir, paused: true, stateFile: false, faults: { serverErrors: 1 } });
    const client = clientOf(local, 1);
    expect(await failure(client.send(new GetModelInvocationJobCommand({ jobIdentifier: 'abcdefabcdef' })))).toMatchObject({ name: 'InternalServerException', status: 500, fault: 'server' });
    client.destroy();
  });

  it('throttles a seeded share of requests, the same share every run', async () => {
    const outcomes: string[][] = [];
    for (let run = 0; run < 2; run++) {
      local = await startFast({ root: tmp.dir, paused: true, stateFile: false, faults: { throttle: 0.3, seed: 7 } });
      const client = clientOf(local, 1);
      const seen: string[] = [];
      for (let i = 0; i < 20; i++) seen.push(await client.send(new ListModelInvocationJobsCommand({})).then(() => 'ok', (e) => e.name));
      outcomes.push(seen);
      client.destroy();
      await local.close();
      local = undefined;
    }
    expect(outcomes[0]).toEqual(outcomes[1]);
    const throttled = outcomes[0]!.filter((x) => x === 'ThrottlingException').length;
    expect(throttled).toBeGreaterThan(0);
    expect(throttled).toBeLessThan(20);
  });

  it('records nothing for a throttled Create', async () => {
    await put(tmp.dir, 'in-bucket/run/a.jsonl', jsonl(2));
    local = await startFast({ root: tmp.dir, paused: true, stateFile: false, faults: { throttle: 1 } });
    const client = clientOf(local, 1);
    await failure(client.send(new CreateModelInvocationJobCommand(createInput({ jobName: 'never' }))));
    expect(local.service.snapshot()).toEqual([]);
    client.destroy();
  });
});
