import { describe, expect, it } from 'vitest';
import { titanText } from '../../src/models/titan-text.js';
import { checking } from './helpers.js';

const EXPRESS = 'amazon.titan-text-express-v1';
const { codesOf, good, issues, reason } = checking(titanText, EXPRESS);

describe('titan-text: buildInput', () => {
  it('builds inputText with the User/Bot turns and textGenerationConfig', () => {
    const input = titanText.buildInput({ prompt: 'Summarize: hi' }, { modelId: EXPRESS, maxTokens: 512, temperature: 0.7, topP: 0.9, system: 'Be brief.' });
    expect(JSON.stringify(input)).toBe(
      '{"inputText":"Be brief.\\n\\nUser: Summarize: hi\\nBot:","textGenerationConfig":{"maxTokenCount":512,"temperature":0.7,"topP":0.9,"stopSequences":[]}}',
    );
    expect(titanText.buildInput({ prompt: 'p' }, { modelId: EXPRESS })).toEqual({
      inputText: 'User: p\nBot:',
      textGenerationConfig: { maxTokenCount: titanText.defaultMaxTokens, stopSequences: [] },
    });
  });
  it('passes its own validation', () => {
    expect(issues(titanText.buildInput({ prompt: 'x' }, { modelId: EXPRESS }))).toEqual([]);
  });
});

describe('titan-text: matches and limits', () => {
  it.each(['amazon.titan-text-lite-v1', EXPRESS, 'amazon.titan-text-premier-v1:0', 'arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-express-v1'])(
    'matches %s',
    (id) => expect(titanText.matches(id)).toBe(true),
  );
  it.each(['amazon.titan-embed-text-v2:0', 'amazon.nova-lite-v1:0'])('does not match %s', (id) => expect(titanText.matches(id)).toBe(false));
  it('knows lite, express and premier', () => {
    expect(titanText.limits('amazon.titan-text-lite-v1')).toEqual({ contextTokens: 4_096, maxOutputTokens: 4_096 });
    expect(titanText.limits(EXPRESS)).toEqual({ contextTokens: 8_192, maxOutputTokens: 8_192 });
    expect(titanText.limits('amazon.titan-text-premier-v1:0')).toEqual({ contextTokens: 32_000, maxOutputTokens: 3_072 });
  });
  it('checks options against the model', () => {
    expect(titanText.checkOptions({ modelId: 'amazon.titan-text-premier-v1:0', maxTokens: 4000 })[0]?.reason).toMatch(/1 to 3072/);
    expect(titanText.checkOptions({ modelId: EXPRESS, maxTokens: 4000 })).toEqual([]);
  });
});

describe('titan-text: validateInput', () => {
  it('rejects stray keys, including modelId', () => {
    expect(codesOf({ ...good(), modelId: EXPRESS })).toEqual(['E_STRAY_KEY']);
    expect(codesOf({ ...good(), textGenerationConfig: { maxTokens: 3 } })).toEqual(['E_STRAY_KEY']);
  });
  it('requires inputText, checks types and ranges', () => {
    expect(reason({})).toMatch(/inputText is required/);
    expect(reason({ inputText: 5 })).toMatch(/inputText must be a string/);
    expect(reason({ ...good(), textGenerationConfig: { maxTokenCount: 9000 } })).toMatch(/maxTokenCount must be an integer from 0 to 8192/);
    expect(reason({ ...good(), textGenerationConfig: { temperature: 1.1 } })).toMatch(/temperature/);
    expect(reason({ ...good(), textGenerationConfig: { stopSequences: 'x' } })).toMatch(/stopSequences/);
  });
  it('reports a blank inputText as E_MISSING_TEXT', () => {
    expect(codesOf({ inputText: '' })).toEqual(['E_MISSING_TEXT']);
  });
});

describe('titan-text: readOutput', () => {
  it('reads the documented response', () => {
    const out = { inputTextTokenCount: 8, results: [{ tokenCount: 3, outputText: 'blue\n', completionReason: 'FINISH' }] };
    expect(titanText.readOutput(out)).toEqual({ text: 'blue\n', stopReason: 'FINISH', inputTokens: 8, outputTokens: 3 });
  });
  it.each([null, {}, { results: [] }, { results: [null] }, { results: 'x', inputTextTokenCount: 'a' }])('never throws on odd shapes: %j', (odd) => {
    const s = titanText.readOutput(odd);
    expect(s.text).toBeUndefined();
    expect(s.inputTokens).toBeUndefined();
  });
});
