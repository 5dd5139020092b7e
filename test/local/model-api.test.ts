/**
 * What the local service answers about models and quotas, for `doctor`: Bedrock's
 * ListFoundationModels, GetFoundationModel and GetInferenceProfile from the batch model catalogue,
 * and Service Quotas' batch quotas from the service's own quota profile (the values it enforces),
 * driven by the real @aws-sdk/client-bedrock and @aws-sdk/client-service-quotas over HTTP.
 */
import {
  BedrockClient,
  GetFoundationModelCommand,
  GetInferenceProfileCommand,
  ListFoundationModelsCommand,
} from '@aws-sdk/client-bedrock';
import {
  GetAWSDefaultServiceQuotaCommand,
  GetServiceQuotaCommand,
  ListAWSDefaultServiceQuotasCommand,
  ListServiceQuotasCommand,
  paginateListServiceQuotas,
  ServiceQuotasClient,
  type ServiceQuota,
} from '@aws-sdk/client-service-quotas';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BATCH_MODELS } from '../../src/bedrock/batch-models.js';
import { quotaProfile } from '../../src/bedrock/quotas.js';
import { localClientConfig, startLocalService, type LocalService } from '../../src/local/server.js';
import { failure, HAIKU } from './helpers.js';

const PREMIER = 'amazon.nova-premier-v1:0';
const EXTRA = 'acme.future-model-v1:0';

function quotasClient(local: LocalService): ServiceQuotasClient {
  return new ServiceQuotasClient({ ...localClientConfig(local.endpoint), maxAttempts: 1 });
}

async function allQuotas(client: ServiceQuotasClient, pageSize = 100): Promise<ServiceQuota[]> {
  const out: ServiceQuota[] = [];
  for await (const page of paginateListServiceQuotas({ client, pageSize }, { ServiceCode: 'bedrock' })) out.push(...(page.Quotas ?? []));
  return out;
}

describe('the local service: models (Bedrock) and quotas (Service Quotas)', () => {
  let local: LocalService;
  let bedrock: BedrockClient;
  let quotas: ServiceQuotasClient;
  beforeAll(async () => {
    local = await startLocalService({ stateFile: false, paused: true, extraModels: [EXTRA] });
    bedrock = new BedrockClient({ ...localClientConfig(local.endpoint), maxAttempts: 1 });
    quotas = quotasClient(local);
  });
  afterAll(async () => {
    bedrock.destroy();
    quotas.destroy();
    await local.close();
  });

  it('GetFoundationModel: a catalogued model by its id or its ARN, with the shape the SDK reads', async () => {
    const r = await bedrock.send(new GetFoundationModelCommand({ modelIdentifier: HAIKU }));
    expect(r.modelDetails).toMatchObject({
      modelArn: `arn:aws:bedrock:us-east-1::foundation-model/${HAIKU}`,
      modelId: HAIKU,
      modelName: 'Claude 3 Haiku',
      providerName: 'Anthropic',
      outputModalities: ['TEXT'],
      inferenceTypesSupported: ['ON_DEMAND'],
      modelLifecycle: { status: 'ACTIVE' },
    });
    expect(r.modelDetails!.modelLifecycle!.startOfLifeTime).toBeInstanceOf(Date);
    const byArn = await bedrock.send(new GetFoundationModelCommand({ modelIdentifier: r.modelDetails!.modelArn! }));
    expect(byArn.modelDetails!.modelId).toBe(HAIKU);
    // a profile-only model runs through its inference profile only
    const premier = await bedrock.send(new GetFoundationModelCommand({ modelIdentifier: PREMIER }));
    expect(premier.modelDetails!.inferenceTypesSupported).toEqual(['INFERENCE_PROFILE']);
    // an id added with extraModels exists too
    expect((await bedrock.send(new GetFoundationModelCommand({ modelIdentifier: EXTRA }))).modelDetails!.modelId).toBe(EXTRA);
  });

  it('GetFoundationModel: an unknown model is ResourceNotFoundException 404, a malformed id ValidationException 400', async () => {
    for (const id of ['anthropic.claude-3-haikuu-20240307-v1:0', 'amazon.titan-text-express-v1', `us.${HAIKU}`]) {
      expect(await failure(bedrock.send(new GetFoundationModelCommand({ modelIdentifier: id })))).toMatchObject({ name: 'ResourceNotFoundException', status: 404 });
    }
    const bad = await failure(bedrock.send(new GetFoundationModelCommand({ modelIdentifier: 'Not A Model' })));
    expect(bad).toMatchObject({ name: 'ValidationException', status: 400 });
    expect(bad.message).toMatch(/^1 validation error detected: Value 'Not A Model' at 'modelIdentifier'/);
    const otherRegion = await failure(bedrock.send(new GetFoundationModelCommand({ modelIdentifier: `arn:aws:bedrock:eu-west-1::foundation-model/${HAIKU}` })));
    expect(otherRegion).toMatchObject({ name: 'ValidationException', status: 400 });
  });

  it('ListFoundationModels: the catalogue and the extra ids, with its filters', async () => {
    const all = (await bedrock.send(new ListFoundationModelsCommand({}))).modelSummaries!;
    expect(all.map((m) => m.modelId).sort()).toEqual([...BATCH_MODELS.map((m) => m.modelId), EXTRA].sort());
    const meta = (await bedrock.send(new ListFoundationModelsCommand({ byProvider: 'meta' }))).modelSummaries!;
    expect(meta.length).toBeGreaterThan(0);
    expect(meta.every((m) => m.providerName === 'Meta')).toBe(true);
    const embeddings = (await bedrock.send(new ListFoundationModelsCommand({ byOutputModality: 'EMBEDDING' }))).modelSummaries!;
    expect(embeddings.map((m) => m.modelId).sort()).toEqual(BATCH_MODELS.filter((m) => m.output === 'embedding').map((m) => m.modelId).sort());
    const onDemand = (await bedrock.send(new ListFoundationModelsCommand({ byInferenceType: 'ON_DEMAND' }))).modelSummaries!;
    expect(onDemand.map((m) => m.modelId)).not.toContain(PREMIER);
  });

  it("GetInferenceProfile: a system-defined profile of its geography, by id or ARN; another geography's is not found", async () => {
    const r = await bedrock.send(new GetInferenceProfileCommand({ inferenceProfileIdentifier: `us.${HAIKU}` }));
    expect(r).toMatchObject({
      inferenceProfileId: `us.${HAIKU}`,
      inferenceProfileArn: `arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.${HAIKU}`,
      inferenceProfileName: 'US Anthropic Claude 3 Haiku',
      status: 'ACTIVE',
      type: 'SYSTEM_DEFINED',
    });
    expect(r.createdAt).toBeInstanceOf(Date);
    expect(r.models!.map((m) => m.modelArn)).toContain(`arn:aws:bedrock:us-east-1::foundation-model/${HAIKU}`);
    // the Nova rows of the catalogue know the profile's regions
    const nova = await bedrock.send(new GetInferenceProfileCommand({ inferenceProfileIdentifier: 'us.amazon.nova-lite-v1:0' }));
    expect(nova.models!.map((m) => m.modelArn!.split(':')[3]).sort()).toEqual(['us-east-1', 'us-east-2', 'us-west-2']);
    expect((await bedrock.send(new GetInferenceProfileCommand({ inferenceProfileIdentifier: r.inferenceProfileArn! }))).inferenceProfileId).toBe(`us.${HAIKU}`);
    expect((await bedrock.send(new GetInferenceProfileCommand({ inferenceProfileIdentifier: `global.${EXTRA}` }))).inferenceProfileId).toBe(`global.${EXTRA}`);
    for (const id of [`eu.${HAIKU}`, 'us.acme.nothing-v1:0', HAIKU, 'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123']) {
      expect(await failure(bedrock.send(new GetInferenceProfileCommand({ inferenceProfileIdentifier: id })))).toMatchObject({ name: 'ResourceNotFoundException', status: 404 });
    }
  });

  it('ListServiceQuotas: the six batch quotas of each model, valued as the service enforces them, in pages', async () => {
    const list = await allQuotas(quotas, 7);
    const haiku = list.filter((q) => q.QuotaName!.endsWith(' for Claude 3 Haiku'));
    const p = local.service.quotas;
    expect(Object.fromEntries(haiku.map((q) => [q.QuotaName, q.Value]))).toEqual({
      'Minimum number of records per batch inference job for Claude 3 Haiku': local.service.minRecordsFor(HAIKU),
      'Records per input file per batch inference job for Claude 3 Haiku': p.maxRecordsPerFile,
      'Records per batch inference job for Claude 3 Haiku': p.maxRecordsPerJob,
      'Batch inference input file size (in GB) for Claude 3 Haiku': p.maxBytesPerFile / 1e9,
      'Batch inference job size (in GB) for Claude 3 Haiku': p.maxBytesPerJob / 1e9,
      'Sum of in-progress and submitted batch inference jobs using a base model for Claude 3 Haiku': p.maxJobsInFlight,
    });
    for (const q of haiku) {
      expect(q).toMatchObject({ ServiceCode: 'bedrock', Unit: 'None', GlobalQuota: false });
      expect(q.QuotaCode).toMatch(/^L-[0-9A-F]{8}$/);
      expect(q.QuotaArn).toBe(`arn:aws:servicequotas:us-east-1:123456789012:bedrock/${q.QuotaCode}`);
    }
    // no minimum where the catalogue documents none; every code once
    expect(list.some((q) => q.QuotaName === 'Minimum number of records per batch inference job for Nova Premier')).toBe(false);
    expect(new Set(list.map((q) => q.QuotaCode)).size).toBe(list.length);
    expect(list).toEqual(await allQuotas(quotas));
    const defaults = await quotas.send(new ListAWSDefaultServiceQuotasCommand({ ServiceCode: 'bedrock', MaxResults: 100 }));
    expect(defaults.Quotas).toEqual(list.slice(0, 100));
    // filtered by code
    const one = await quotas.send(new ListServiceQuotasCommand({ ServiceCode: 'bedrock', QuotaCode: haiku[0]!.QuotaCode! }));
    expect(one.Quotas).toEqual([haiku[0]]);
  });

  it('GetServiceQuota and GetAWSDefaultServiceQuota by code; the errors Service Quotas answers', async () => {
    const [first] = await allQuotas(quotas);
    expect((await quotas.send(new GetServiceQuotaCommand({ ServiceCode: 'bedrock', QuotaCode: first!.QuotaCode! }))).Quota).toEqual(first);
    expect((await quotas.send(new GetAWSDefaultServiceQuotaCommand({ ServiceCode: 'bedrock', QuotaCode: first!.QuotaCode! }))).Quota).toEqual(first);
    expect(await failure(quotas.send(new GetServiceQuotaCommand({ ServiceCode: 'bedrock', QuotaCode: 'L-00000000' })))).toMatchObject({ name: 'NoSuchResourceException', status: 400 });
    expect(await failure(quotas.send(new ListServiceQuotasCommand({ ServiceCode: 's3' })))).toMatchObject({ name: 'NoSuchResourceException', status: 400 });
    expect(await failure(quotas.send(new ListServiceQuotasCommand({ ServiceCode: 'bedrock', MaxResults: 101 })))).toMatchObject({ name: 'IllegalArgumentException', status: 400 });
    expect(await failure(quotas.send(new ListServiceQuotasCommand({ ServiceCode: 'bedrock', NextToken: 'bogus' })))).toMatchObject({ name: 'InvalidPaginationTokenException', status: 400 });
  });

  it("follows the service's quota profile, and refuses unsigned requests like every other route", async () => {
    const other = await startLocalService({ stateFile: false, paused: true, quotas: quotaProfile('default', { maxJobsInFlight: 2 }) });
    const client = quotasClient(other);
    try {
      const list = await allQuotas(client);
      const byName = (name: string) => list.find((q) => q.QuotaName === `${name} for Claude 3 Haiku`)?.Value;
      expect(byName('Sum of in-progress and submitted batch inference jobs using a base model')).toBe(2);
      expect(byName('Minimum number of records per batch inference job')).toBe(1000);
      expect(byName('Batch inference input file size (in GB)')).toBe(0.2);
      const unsigned = await fetch(`${other.endpoint}/`, {
        method: 'POST',
        headers: { 'x-amz-target': 'ServiceQuotasV20190624.ListServiceQuotas', 'content-type': 'application/x-amz-json-1.1' },
        body: '{"ServiceCode":"bedrock"}',
      });
      expect(unsigned.status).toBe(403);
      expect(unsigned.headers.get('x-amzn-errortype')).toBe('AccessDeniedException');
    } finally {
      client.destroy();
      await other.close();
    }
  });
});
