/**
 * The batch model catalogue (src/bedrock/batch-models.ts, docs/bedrock.md §1.4): dated data with a
 * source per row, looked up from every form of model id CreateModelInvocationJob takes, and in step
 * with the model families (a catalogue family is the one the registry gives the id).
 */
import { describe, expect, it } from 'vitest';
import {
  BATCH_MODELS,
  CATALOGUE_DATE,
  CATALOGUE_SOURCE,
  checkExtraModels,
  findBatchModel,
  lookupBatchModel,
  PROFILE_PREFIXES,
  type BatchModel,
} from '../../src/bedrock/batch-models.js';
import { matchesPattern } from '../../src/bedrock/vocabulary.js';
import { familyFor } from '../../src/models/index.js';

const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0';

describe('the catalogue as data', () => {
  it('is dated and names its source', () => {
    expect(CATALOGUE_DATE).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(CATALOGUE_SOURCE).toBe('https://docs.aws.amazon.com/bedrock/latest/userguide/batch-inference-supported.html');
  });

  it('every row: a well-formed base id (once), a provider, modes, and a dated https source', () => {
    const ids = BATCH_MODELS.map((m) => m.modelId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(BATCH_MODELS.length).toBeGreaterThan(25);
    for (const m of BATCH_MODELS) {
      expect(matchesPattern('modelId', m.modelId), m.modelId).toBe(true);
      expect(m.modelId).toMatch(/^[a-z0-9-]+\.[a-z0-9.:-]+$/);
      expect(m.provider).not.toBe('');
      expect(m.modes.length).toBeGreaterThan(0);
      expect(m.source.url).toMatch(/^https:\/\//);
      expect(m.source.checked).toBe(CATALOGUE_DATE);
      if (m.minRecordsPerJob !== undefined) expect(Number.isSafeInteger(m.minRecordsPerJob) && m.minRecordsPerJob >= 1).toBe(true);
      if (m.source.evidence !== 'aws-doc') expect(m.modes).toEqual(['single-region', 'cross-region-profile']);
    }
    expect(Object.isFrozen(BATCH_MODELS)).toBe(true);
  });

  it("each model's family is the one the registry gives its id (none: Converse or embeddings)", () => {
    for (const m of BATCH_MODELS) {
      let registry: string | undefined;
      try {
        registry = familyFor(m.modelId).name;
      } catch {
        registry = undefined;
      }
      expect([m.modelId, m.family]).toEqual([m.modelId, registry]);
    }
  });

  it('knows the regions and modes of the rows read from the AWS table', () => {
    const premier = findBatchModel('amazon.nova-premier-v1:0')!;
    expect(premier.modes).toEqual(['cross-region-profile']);
    expect(premier.regions?.profile).toEqual(['us-east-1', 'us-east-2', 'us-west-2']);
    const lite = findBatchModel('amazon.nova-lite-v1:0')!;
    expect(lite.regions?.singleRegion).toEqual(['us-east-1', 'us-gov-west-1']);
    expect(lite.regions?.profile).toContain('eu-west-3');
    expect(new Set(lite.regions!.profile).size).toBe(lite.regions!.profile!.length);
  });
});

describe('findBatchModel and lookupBatchModel', () => {
  const haiku = () => findBatchModel(HAIKU) as BatchModel;

  it('a base id, every cross-region prefix, a foundation-model ARN and an inference-profile ARN find the model', () => {
    expect(haiku()).toMatchObject({ modelId: HAIKU, provider: 'Anthropic', family: 'anthropic', minRecordsPerJob: 100 });
    for (const prefix of PROFILE_PREFIXES) {
      expect(lookupBatchModel(`${prefix}.${HAIKU}`)).toMatchObject({ kind: 'found', model: haiku(), form: 'profile', mode: 'cross-region-profile', profilePrefix: prefix });
    }
    expect(lookupBatchModel(`arn:aws:bedrock:us-east-1::foundation-model/${HAIKU}`)).toMatchObject({ kind: 'found', model: haiku(), form: 'foundation-model-arn', mode: 'single-region', arnRegion: 'us-east-1' });
    expect(lookupBatchModel(`arn:aws-us-gov:bedrock:us-gov-west-1::foundation-model/${HAIKU}`)).toMatchObject({ kind: 'found', arnRegion: 'us-gov-west-1' });
    expect(lookupBatchModel(`arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.${HAIKU}`)).toMatchObject({
      kind: 'found',
      model: haiku(),
      form: 'inference-profile-arn',
      mode: 'cross-region-profile',
      profilePrefix: 'eu',
    });
    expect(findBatchModel('global.anthropic.claude-sonnet-4-5-20250929-v1:0')?.name).toBe('Claude Sonnet 4.5');
  });

  it('custom-model and application-inference-profile ARNs cannot be looked up: opaque', () => {
    const custom = 'arn:aws:bedrock:us-east-1:123456789012:custom-model/anthropic.claude-3-haiku-20240307-v1:0:200k/abcdefghij12';
    const app = 'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6';
    expect(matchesPattern('modelId', custom)).toBe(true);
    expect(lookupBatchModel(custom)).toEqual({ kind: 'opaque', form: 'custom-model-arn' });
    expect(lookupBatchModel(app)).toEqual({ kind: 'opaque', form: 'application-inference-profile-arn' });
    expect(findBatchModel(custom)).toBeUndefined();
    expect(findBatchModel(app)).toBeUndefined();
  });

  it('typos, models without batch support, unknown prefixes and partial ids are unknown', () => {
    for (const id of [
      'anthropic.claude-3-haiku-20240307-v1:1',
      'anthropic.claude-3-haikuu-20240307-v1:0',
      'amazon.titan-text-express-v1',
      'mistral.mistral-7b-instruct-v0:2',
      'meta.llama3-8b-instruct-v1:0',
      'cohere.command-r-v1:0',
      `xx.${HAIKU}`,
      `us.us.${HAIKU}`,
      'anthropic.claude-3-haiku',
      `arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-express-v1`,
      `arn:aws:bedrock:us-east-1:123456789012:inference-profile/zz.${HAIKU}`,
      'my-model',
    ]) {
      expect([id, lookupBatchModel(id).kind]).toEqual([id, 'unknown']);
      expect(findBatchModel(id)).toBeUndefined();
    }
  });

  it('checks extra ids: model ids and ARNs pass, blanks and spaces are an E_BAD_OPTION naming the flag', () => {
    expect(checkExtraModels(['amazon.titan-text-express-v1', 'arn:aws:bedrock:us-east-1:123456789012:custom-model/x.y/abcdefghij12'])).toHaveLength(2);
    expect(() => checkExtraModels(['my model'])).toThrow(/--allow-model: "my model" is not a model id/);
    expect(() => checkExtraModels([''], 'extraModels')).toThrow(/extraModels/);
    expect(() => checkExtraModels(['nodot'])).toThrow(/is not a model id/);
  });
});
