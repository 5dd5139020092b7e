/** Choosing the model family from --model (src/models/index.ts, ids.ts): every id form Bedrock takes. */
import { describe, expect, it } from 'vitest';
import { FAMILIES, familyFor, normalizeModelId, parseModelId } from '../../src/models/index.js';
import { thrownBatchError } from '../support/errors.js';

const ACCOUNT = '123456789012';

describe('familyFor: the id alone decides', () => {
  it.each([
    // base ids
    ['anthropic.claude-3-haiku-20240307-v1:0', 'anthropic'],
    ['anthropic.claude-sonnet-4-5-20250929-v1:0', 'anthropic'],
    ['amazon.nova-lite-v1:0', 'nova'],
    ['amazon.nova-2-lite-v1:0', 'nova'],
    ['amazon.titan-text-express-v1', 'titan-text'],
    ['meta.llama3-1-70b-instruct-v1:0', 'llama'],
    ['meta.llama4-scout-17b-instruct-v1:0', 'llama'],
    ['mistral.mistral-7b-instruct-v0:2', 'mistral'],
    // cross-region inference profiles
    ['us.anthropic.claude-3-5-haiku-20241022-v1:0', 'anthropic'],
    ['eu.amazon.nova-pro-v1:0', 'nova'],
    ['apac.anthropic.claude-3-5-sonnet-20240620-v1:0', 'anthropic'],
    ['global.anthropic.claude-sonnet-4-5-20250929-v1:0', 'anthropic'],
    ['us-gov.anthropic.claude-3-haiku-20240307-v1:0', 'anthropic'],
    ['us.meta.llama3-3-70b-instruct-v1:0', 'llama'],
    // ARNs
    [`arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-premier-v1:0`, 'titan-text'],
    [`arn:aws:bedrock:us-east-1:${ACCOUNT}:inference-profile/us.amazon.nova-premier-v1:0`, 'nova'],
    [`arn:aws:bedrock:eu-central-1:${ACCOUNT}:inference-profile/eu.meta.llama3-2-3b-instruct-v1:0`, 'llama'],
    [`arn:aws-us-gov:bedrock:us-gov-west-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0`, 'anthropic'],
  ])('%s -> %s', (id, name) => expect(familyFor(id).name).toBe(name));
});

describe('familyFor: ids that cannot decide', () => {
  const custom = `arn:aws:bedrock:us-east-1:${ACCOUNT}:custom-model/anthropic.claude-3-haiku-20240307-v1:0:200k/abcdefghijkl`;
  const app = `arn:aws:bedrock:us-east-1:${ACCOUNT}:application-inference-profile/abcdefghijkl`;

  it.each([
    [custom, /custom model ARN, whose model cannot be told from the id/],
    [app, /application inference profile ARN, whose model cannot be told from the id/],
    ['cohere.command-r-v1:0', /no model family knows cohere\.command-r-v1:0/],
    ['mistral.mistral-large-2407-v1:0', /no model family knows/],
    ['amazon.titan-embed-text-v2:0', /no model family knows/],
    ['claude', /no model family knows claude/],
  ])('%s is E_UNKNOWN_MODEL saying why and what to do', (id, why) => {
    const e = thrownBatchError(() => familyFor(id));
    expect(e.code).toBe('E_UNKNOWN_MODEL');
    expect(e.message).toMatch(why);
    expect(e.message).toMatch(/anthropic\.claude-\*/); // the supported patterns are listed
    expect(e.hint).toMatch(/--family \(anthropic, nova, titan-text, llama, mistral, converse\).*--invocation-type Converse/);
  });

  it('--family names the family for custom models and application profiles', () => {
    expect(familyFor(custom, { family: 'anthropic' }).name).toBe('anthropic');
    expect(familyFor(app, { family: 'nova' }).name).toBe('nova');
    expect(familyFor('cohere.command-r-v1:0', { family: 'converse' }).name).toBe('converse');
  });

  it('--family that contradicts the id, an unknown family, a contradicting invocation type: E_BAD_OPTION', () => {
    expect(thrownBatchError(() => familyFor('amazon.nova-pro-v1:0', { family: 'anthropic' }))).toMatchObject({
      code: 'E_BAD_OPTION',
      message: expect.stringMatching(/family anthropic does not fit amazon\.nova-pro-v1:0, which is a nova model/),
      hint: 'drop --family or use --family nova',
    });
    expect(thrownBatchError(() => familyFor(custom, { family: 'gpt' as never }))).toMatchObject({ code: 'E_BAD_OPTION', message: expect.stringMatching(/family "gpt" is unknown/) });
    expect(thrownBatchError(() => familyFor(custom, { family: 'toString' as never }))).toMatchObject({ code: 'E_BAD_OPTION' });
    expect(thrownBatchError(() => familyFor(custom, { family: 'anthropic', invocationType: 'Converse' }))).toMatchObject({
      code: 'E_BAD_OPTION',
      message: expect.stringMatching(/builds InvokeModel records, but invocationType is Converse/),
    });
    expect(thrownBatchError(() => familyFor(custom, { invocationType: 'Invoke' as never }))).toMatchObject({ code: 'E_BAD_OPTION' });
    expect(thrownBatchError(() => familyFor('  '))).toMatchObject({ code: 'E_BAD_OPTION', message: 'modelId is required' });
  });
});

describe('familyFor: Converse', () => {
  it('--invocation-type Converse picks the Converse family for any id, known or not', () => {
    for (const id of ['anthropic.claude-3-haiku-20240307-v1:0', 'cohere.command-r-v1:0', 'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/x1']) {
      expect(familyFor(id, { invocationType: 'Converse' })).toBe(FAMILIES.converse);
    }
    expect(familyFor('anthropic.claude-3-haiku-20240307-v1:0', { family: 'converse', invocationType: 'Converse' })).toBe(FAMILIES.converse);
    expect(familyFor('anthropic.claude-3-haiku-20240307-v1:0', { invocationType: 'InvokeModel' }).name).toBe('anthropic');
  });

  it('is never guessed from an id', () => {
    expect(familyFor('amazon.nova-pro-v1:0').invocationType).toBe('InvokeModel');
  });
});

describe('model id forms', () => {
  it.each([
    ['anthropic.claude-3-haiku-20240307-v1:0', 'base', 'anthropic.claude-3-haiku-20240307-v1:0'],
    ['us.amazon.nova-pro-v1:0', 'profile', 'amazon.nova-pro-v1:0'],
    ['arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0', 'foundation-model-arn', 'amazon.nova-pro-v1:0'],
    [`arn:aws:bedrock:us-east-1:${ACCOUNT}:inference-profile/global.amazon.nova-2-lite-v1:0`, 'inference-profile-arn', 'amazon.nova-2-lite-v1:0'],
    [`arn:aws:bedrock:us-east-1:${ACCOUNT}:application-inference-profile/abcdefghijkl`, 'application-inference-profile-arn', undefined],
    [`arn:aws:bedrock:us-east-1:${ACCOUNT}:custom-model/meta.llama3-8b-instruct-v1:0/abcdefghijkl`, 'custom-model-arn', 'meta.llama3-8b-instruct-v1:0'],
    ['not an id', 'other', undefined],
  ])('%s is a %s id (base %s)', (id, kind, baseId) => {
    expect(parseModelId(id)).toMatchObject({ kind, baseId });
    expect(normalizeModelId(id)).toBe(baseId ?? id);
  });
});
