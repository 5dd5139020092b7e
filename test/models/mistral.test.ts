import { describe, expect, it } from 'vitest';
import { mistral, mistralPrompt } from '../../src/models/mistral.js';

const M7B = 'mistral.mistral-7b-instruct-v0:2';
const MIXTRAL = 'mistral.mixtral-8x7b-instruct-v0:1';
const LARGE = 'mistral.mistral-large-2402-v1:0';
const codes = (issues: { code: string }[]) => issues.map((i) => i.code);

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
  const good = () => mistral.buildInput({ prompt: 'hello' }, { modelId: M7B }) as Record<string, unknown>;

  it('rejects modelId and other stray keys', () => {
    expect(codes(mistral.validateInput({ ...good(), modelId: M7B }, M7B))).toEqual(['E_STRAY_KEY']);
    expect(mistral.validateInput({ ...good(), max_gen_len: 5 }, M7B)[0]?.reason).toMatch(/max_gen_len/);
    expect(mistral.validateInput({ ...good(), messages: [] }, M7B)[0]?.reason).toMatch(/messages is not a known request key/);
  });

  it('checks types and ranges', () => {
    expect(mistral.validateInput({}, M7B)[0]?.reason).toMatch(/prompt is required/);
    expect(mistral.validateInput({ ...good(), max_tokens: 8193 }, M7B)[0]?.reason).toMatch(/max_tokens must be an integer from 1 to 8192/);
    expect(mistral.validateInput({ ...good(), max_tokens: 4097 }, MIXTRAL)[0]?.reason).toMatch(/1 to 4096/);
    expect(mistral.validateInput({ ...good(), top_k: 0 }, M7B)[0]?.reason).toMatch(/top_k must be an integer from 1 to 200/);
    expect(mistral.validateInput({ ...good(), top_k: 201 }, M7B)[0]?.code).toBe('E_INVALID_MODEL_INPUT');
    expect(mistral.validateInput({ ...good(), temperature: 1.01 }, M7B)[0]?.reason).toMatch(/temperature/);
    expect(mistral.validateInput({ ...good(), stop: Array.from({ length: 11 }, () => 'x') }, M7B)[0]?.reason).toMatch(/stop must be an array of at most 10 strings/);
    expect(mistral.validateInput({ ...good(), stop: ['\n\n'], top_k: 50 }, M7B)).toEqual([]);
  });

  it('a blank prompt or an empty [INST] turn is E_MISSING_TEXT', () => {
    expect(codes(mistral.validateInput({ prompt: '' }, M7B))).toEqual(['E_MISSING_TEXT']);
    expect(codes(mistral.validateInput({ prompt: '<s>[INST]   \n [/INST]' }, M7B))).toEqual(['E_MISSING_TEXT']);
    expect(codes(mistral.validateInput(mistral.buildInput({ prompt: ' ' }, { modelId: M7B }), M7B))).toEqual(['E_MISSING_TEXT']);
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
