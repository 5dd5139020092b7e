/**
 * The local service refuses at CreateModelInvocationJob what Bedrock refuses there: a model id
 * outside the batch catalogue (a typo, a model without batch support) and a profile-only model named
 * by its own id, with a ValidationException worded as Bedrock words it; it takes the catalogue's
 * models in every id form, custom-model and application-inference-profile ARNs, and the ids added
 * with `extraModels` (`serve --allow-model`). A job's minimum records are the model's where no quota
 * profile was chosen (docs/bedrock.md §1.4). Driven by the real @aws-sdk/client-bedrock, and once by
 * the AWS CLI, over HTTP.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CreateModelInvocationJobCommand } from '@aws-sdk/client-bedrock';
import { describe, expect, it } from 'vitest';
import { CATALOGUE_DATE } from '../../src/bedrock/batch-models.js';
import { quotaProfile } from '../../src/bedrock/quotas.js';
import { useTempDir } from '../support/temp.js';
import { createInput, failure, HAIKU, jsonl, put, useLocalService, waitFor } from './helpers.js';

const tmp = useTempDir('catalogue-');
const service = useLocalService();
const many = quotaProfile('local', { maxJobsInFlight: 50 });
let n = 0;
const create = (modelId: string, over: Record<string, unknown> = {}) =>
  service.client!.send(new CreateModelInvocationJobCommand(createInput({ jobName: `job-${++n}`, modelId, ...over })));

describe('CreateModelInvocationJob and the batch model catalogue', () => {
  it('refuses a typo: "The provided model identifier is invalid.", 400, naming the catalogue and --allow-model', async () => {
    await service.start({ root: tmp.dir, paused: true, quotas: many, stateFile: false });
    for (const id of ['anthropic.claude-3-haikuu-20240307-v1:0', 'acme.model-v1:0', 'xx.anthropic.claude-3-haiku-20240307-v1:0']) {
      const f = await failure(create(id));
      expect(f).toMatchObject({ name: 'ValidationException', status: 400, fault: 'client' });
      // the family check may know the provider (anthropic.claude...): either Bedrock wording, never a crash
      expect(f.message).toMatch(/^(The provided model identifier is invalid\.|Batch inference is not supported for the requested model\.) \(local service: the batch model catalogue of \d{4}-\d{2}-\d{2}; add \S+ with --allow-model if it runs batch jobs\)$/);
    }
    expect((await failure(create('acme.model-v1:0'))).message).toMatch(/^The provided model identifier is invalid\. /);
    expect(service.local!.service.snapshot()).toEqual([]);
  });

  it('refuses a model that runs no batch jobs: "Batch inference is not supported for the requested model."', async () => {
    await service.start({ root: tmp.dir, paused: true, quotas: many, stateFile: false });
    for (const id of ['amazon.titan-text-express-v1', 'mistral.mistral-7b-instruct-v0:2', 'meta.llama3-8b-instruct-v1:0', 'arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-lite-v1']) {
      const f = await failure(create(id));
      expect(f).toMatchObject({ name: 'ValidationException', status: 400 });
      expect(f.message).toBe(`Batch inference is not supported for the requested model. (local service: the batch model catalogue of ${CATALOGUE_DATE}; add ${id} with --allow-model if it runs batch jobs)`);
    }
  });

  it('refuses a profile-only model named by its own id, and takes it through its profile', async () => {
    await service.start({ root: tmp.dir, paused: true, quotas: many, stateFile: false });
    const f = await failure(create('amazon.nova-premier-v1:0'));
    expect(f.name).toBe('ValidationException');
    expect(f.message).toMatch(/^Invocation of model ID amazon\.nova-premier-v1:0 with on-demand throughput isn’t supported\. Retry your request with the ID or ARN of an inference profile that contains this model\. /);
    expect((await create('us.amazon.nova-premier-v1:0')).jobArn).toMatch(/model-invocation-job\/[a-z0-9]{12}$/);
  });

  it('takes every id form of a catalogue model, and custom-model and application-inference-profile ARNs', async () => {
    await service.start({ root: tmp.dir, paused: true, quotas: many, stateFile: false });
    for (const id of [
      HAIKU,
      `us.${HAIKU}`,
      `global.anthropic.claude-sonnet-4-5-20250929-v1:0`,
      `arn:aws:bedrock:us-east-1::foundation-model/${HAIKU}`,
      `arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.${HAIKU}`,
      'qwen.qwen3-32b-v1:0',
      'arn:aws:bedrock:us-east-1:123456789012:custom-model/anthropic.claude-3-haiku-20240307-v1:0:200k/abcdefghij12',
      'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6',
    ]) {
      expect((await create(id)).jobArn, id).toMatch(/model-invocation-job\//);
    }
    expect(service.local!.service.snapshot()).toHaveLength(8);
  });

  it('takes the ids added with extraModels, in every form of a base id, and only those', async () => {
    await service.start({ root: tmp.dir, paused: true, quotas: many, stateFile: false, extraModels: ['amazon.titan-text-express-v1', 'acme.brand-new-v1:0'] });
    for (const id of ['amazon.titan-text-express-v1', 'us.amazon.titan-text-express-v1', 'arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-express-v1', 'acme.brand-new-v1:0']) {
      expect((await create(id)).jobArn, id).toMatch(/model-invocation-job\//);
    }
    expect((await failure(create('amazon.titan-text-lite-v1'))).name).toBe('ValidationException');
  });

  it('a bad extra id stops the service from starting, naming the option', async () => {
    await expect(service.start({ root: tmp.dir, extraModels: ['not a model'] })).rejects.toThrow(/extraModels: "not a model" is not a model id/);
  });
});

describe('the minimum records per job', () => {
  const job = async (records: number, modelId = HAIKU) => {
    await put(tmp.dir, `in-bucket/min-${records}/a.jsonl`, jsonl(records));
    const { jobArn } = await create(modelId, { inputDataConfig: { s3InputDataConfig: { s3Uri: `s3://in-bucket/min-${records}/` } } });
    return waitFor(service.client!, jobArn!, ['Completed', 'Failed']);
  };

  it("is the model's catalogue minimum when no quota profile was chosen", async () => {
    await mkdir(join(tmp.dir, 'out-bucket'), { recursive: true });
    await service.start({ root: tmp.dir, quotas: undefined, stateFile: false });
    expect(service.local!.service.minRecordsFrom).toBe('model');
    const few = await job(99);
    expect(few.status).toBe('Failed');
    expect(few.message).toBe('The job has 99 records, fewer than the minimum of 100 records per batch inference job.');
    expect((await job(100)).status).toBe('Completed');
  });

  it("is the profile's when a profile was chosen (the local profile runs a job of one record)", async () => {
    await mkdir(join(tmp.dir, 'out-bucket'), { recursive: true });
    await service.start({ root: tmp.dir, quotas: 'local', stateFile: false });
    expect(service.local!.service.minRecordsFrom).toBe('profile');
    expect((await job(1)).status).toBe('Completed');
  });

  it("with minRecordsFrom 'model', the profile's minimum still applies to a model the catalogue gives none", async () => {
    await mkdir(join(tmp.dir, 'out-bucket'), { recursive: true });
    await service.start({ root: tmp.dir, quotas: quotaProfile('local', { minRecordsPerJob: 3 }), minRecordsFrom: 'model', stateFile: false });
    expect((await job(2, 'us.amazon.nova-premier-v1:0')).message).toBe('The job has 2 records, fewer than the minimum of 3 records per batch inference job.');
    expect((await job(5)).message).toBe('The job has 5 records, fewer than the minimum of 100 records per batch inference job.');
  });
});

// The AWS CLI is not a dependency of the project: where it is not installed this case is reported
// as skipped (the SDK cases above check the same service).
const HAS_AWS_CLI = spawnSync('aws', ['--version'], { stdio: 'ignore' }).status === 0;

describe('through the AWS CLI', () => {
  it.skipIf(!HAS_AWS_CLI)('aws bedrock create-model-invocation-job --endpoint-url: a catalogue model is created, a typo is a ValidationException', async () => {
    await service.start({ root: tmp.dir, paused: true, quotas: many, stateFile: false });
    // only what the CLI needs: fake keys, a region, no profile or config of this machine
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: tmp.dir,
      AWS_ACCESS_KEY_ID: 'AKIDLOCAL',
      AWS_SECRET_ACCESS_KEY: 'local-secret',
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_CONFIG_FILE: join(tmp.dir, 'no-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(tmp.dir, 'no-credentials'),
    };
    const cli = (modelId: string) =>
      promisify(execFile)(
        'aws',
        [
          'bedrock', 'create-model-invocation-job', '--endpoint-url', service.local!.endpoint, '--output', 'json',
          '--job-name', `cli-${++n}`, '--role-arn', 'arn:aws:iam::123456789012:role/BatchRole', '--model-id', modelId,
          '--input-data-config', 's3InputDataConfig={s3Uri=s3://in-bucket/run/}',
          '--output-data-config', 's3OutputDataConfig={s3Uri=s3://out-bucket/results/}',
        ],
        { env, timeout: 60_000 },
      );
    const ok = await cli(`us.${HAIKU}`);
    expect(JSON.parse(ok.stdout).jobArn).toMatch(/^arn:aws:bedrock:us-east-1:123456789012:model-invocation-job\/[a-z0-9]{12}$/);
    const bad = await cli('anthropic.claude-3-haiku-2024030-v1:0').then(
      () => undefined,
      (err: { stderr: string; code: number }) => err,
    );
    expect([254, 255]).toContain(bad?.code); // a service error: 254 in AWS CLI v2, 255 in v1
    expect(bad?.stderr).toMatch(/ValidationException\) when calling the CreateModelInvocationJob operation: (The provided model identifier is invalid\.|Batch inference is not supported for the requested model\.)/);
  }, 120_000);
});
