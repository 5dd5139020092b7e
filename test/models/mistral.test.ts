import { describe, expect, it } from 'vitest';
import { mistral, mistralPrompt } from '../../src/models/mistral.js';
import { checking } from './helpers.js';

const M7B = 'mistral.mistral-7b-instruct-v0:2';
const MIXTRAL = 'mistral.mixtral-8x7b-instruct-v0:1';
const LARGE = 'mistral.mistral-large-2402-v1:0';
const { codesOf, good, issues, reason } = checking(mistral, M7B);

describe('mistral: buildInput', () => {
  it('builds the text-completion body: the system prompt first inside [INST]', () => {
    const input = mistral.buildInput({ prompt: 'Summarize: hi' }, { modelId: M7B, maxTokens: 400, temperature: 0.5, topP: 0.9, system: 'Be brief.' });
    expect(JSON.stringify(input)).toBe('{"prompt":"<s>[INST] Be brief.\\n\\nSummarize: hi [/INST]","max_tokens":400,"temperature":0.5,"top_p":0.9}');
    expect(mistral.buildInput({ prompt: 'p' }, { modelId: M7B })).toEqual({ prompt: '<s>[INST] p [/INST]', max_tokens: mistral.defaultMaxTokens });
    expect(mistralPrompt('p', 's')).toBe('<s>[INST] s\n\np [/INST]');
  });

  it('builds input that passes its own validation', () => {
    for (const id of [M7B, MIXTRAL, LARGE]) expect(mistral.validateInput(mistral.buildInput({ prompt: 'x', system: 's' }, { modelId: id, topP: 1 }), id)).toEqual([]);
  });
});

describe('mistral: matches and limits', () => {
  it.each([M7B, MIXTRAL, LARGE, 'mistral.mistral-small-2402-v1:0', 'us.mistral.mistral-large-2402-v1:0', 'arn:aws:bedrock:eu-west-3::foundation-model/mistral.mixtral-8x7b-instruct-v0:1'])(
    'matches %s',
    (id) => expect(mistral.matches(id)).toBe(true),
  );
  it.each(['mistral.mistral-large-2407-v1:0', 'mistral.pixtral-large-2502-v1:0', 'meta.llama3-8b-instruct-v1:0'])(
    'does not match %s (chat-format models go through Converse)',
    (id) => expect(mistral.matches(id)).toBe(false),
  );
  it('knows the output maxima of each model', () => {
    expect(mistral.limits(M7B)).toEqual({ contextTokens: 32_000, maxOutputTokens: 8_192 });
    expect(mistral.limits(MIXTRAL).maxOutputTokens).toBe(4_096);
    expect(mistral.checkOptions({ modelId: MIXTRAL, maxTokens: 8192 })[0]?.reason).toMatch(/1 to 4096/);
    expect(mistral.checkOptions({ modelId: M7B, maxTokens: 8192 })).toEqual([]);
  });
});

describe('mistral: validateInput', () => {
  it('rejects modelId and other stray keys', () => {
    expect(codesOf({ ...good(), modelId: M7B })).toEqual(['E_STRAY_KEY']);
    expect(reason({ ...good(), max_gen_len: 5 })).toMatch(/max_gen_len/);
    expect(reason({ ...good(), messages: [] })).toMatch(/messages is not a known request key/);
  });

  it('checks types and ranges', () => {
    expect(reason({})).toMatch(/prompt is required/);
    expect(reason({ ...good(), max_tokens: 8193 })).toMatch(/max_tokens must be an integer from 1 to 8192/);
    expect(mistral.validateInput({ ...good(), max_tokens: 4097 }, MIXTRAL)[0]?.reason).toMatch(/1 to 4096/);
    expect(reason({ ...good(), top_k: 0 })).toMatch(/top_k must be an integer from 1 to 200/);
    expect(issues({ ...good(), top_k: 201 })[0]?.code).toBe('E_INVALID_MODEL_INPUT');
    expect(reason({ ...good(), temperature: 1.01 })).toMatch(/temperature/);
    expect(reason({ ...good(), stop: Array.from({ length: 11 }, () => 'x') })).toMatch(/stop must be an array of at most 10 strings/);
    expect(issues({ ...good(), stop: ['\n\n'], top_k: 50 })).toEqual([]);
  });

  it('a blank prompt or an empty [INST] turn is E_MISSING_TEXT', () => {
    expect(codesOf({ prompt: '' })).toEqual(['E_MISSING_TEXT']);
    expect(codesOf({ prompt: '<s>[INST]   \n [/INST]' })).toEqual(['E_MISSING_TEXT']);
    expect(codesOf(mistral.buildInput({ prompt: ' ' }, { modelId: M7B }))).toEqual(['E_MISSING_TEXT']);
  });

  it('reads the budget and the input text back', () => {
    const input = mistral.buildInput({ prompt: 'hello' }, { modelId: M7B, maxTokens: 9 });
    expect(mistral.maxOutputTokensOf(input)).toBe(9);
    expect(mistral.inputTextOf(input)).toBe('<s>[INST] hello [/INST]');
  });
});

describe('mistral: readOutput', () => {
  it('reads the documented response (no token counts in it)', () => {
    expect(mistral.readOutput({ outputs: [{ text: 'A refund.', stop_reason: 'stop' }] })).toEqual({ text: 'A refund.', stopReason: 'stop' });
  });
  it.each([null, {}, { outputs: [] }, { outputs: 'x' }, { outputs: [null] }, { outputs: [{ text: 1, stop_reason: 2 }] }])('never throws on odd shapes: %j', (odd) => {
    const s = mistral.readOutput(odd);
    expect(s.text).toBeUndefined();
    expect(s.stopReason).toBeUndefined();
  });
});
