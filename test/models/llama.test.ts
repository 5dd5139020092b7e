import { describe, expect, it } from 'vitest';
import { llama, llamaPrompt } from '../../src/models/llama.js';
import { checking, codes } from './helpers.js';

const L33 = 'meta.llama3-3-70b-instruct-v1:0';
const L3_8B = 'meta.llama3-8b-instruct-v1:0';
const L4 = 'us.meta.llama4-maverick-17b-instruct-v1:0';
const { codesOf, good, issues, reason } = checking(llama, L33);

describe('llama: buildInput', () => {
  it('builds Meta\'s Llama 3 instruct prompt, ending on the assistant header, with max_gen_len, temperature, top_p', () => {
    const input = llama.buildInput({ prompt: 'Summarize: hi' }, { modelId: L33, maxTokens: 300, temperature: 0.5, topP: 0.9, system: 'Be brief.' });
    expect(JSON.stringify(input)).toBe(
      JSON.stringify({
        prompt:
          '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>' +
          '<|start_header_id|>user<|end_header_id|>\n\nSummarize: hi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
        max_gen_len: 300,
        temperature: 0.5,
        top_p: 0.9,
      }),
    );
  });

  it('no system turn when there is none (or it is blank); the default budget; the per-prompt system wins', () => {
    expect(llama.buildInput({ prompt: 'p' }, { modelId: L33, system: ' \n' })).toEqual({
      prompt: '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\np<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
      max_gen_len: llama.defaultMaxTokens,
    });
    expect(llama.buildInput({ prompt: 'p', system: 'call' }, { modelId: L33, system: 'global' }).prompt).toContain('call<|eot_id|>');
  });

  it('Llama 4 gets its own special tokens (by base id, profile or ARN)', () => {
    const p = llamaPrompt(L4, 'hi', 'sys');
    expect(p).toBe('<|begin_of_text|><|header_start|>system<|header_end|>\n\nsys<|eot|><|header_start|>user<|header_end|>\n\nhi<|eot|><|header_start|>assistant<|header_end|>\n\n');
    expect(llamaPrompt('arn:aws:bedrock:us-east-1::foundation-model/meta.llama4-scout-17b-instruct-v1:0', 'x')).toContain('<|header_start|>user');
    expect(p).not.toContain('<|start_header_id|>');
  });

  it('builds input that passes its own validation, for Llama 3 and 4', () => {
    for (const id of [L33, L3_8B, L4]) expect(llama.validateInput(llama.buildInput({ prompt: 'x', system: 's' }, { modelId: id, temperature: 0 }), id)).toEqual([]);
  });
});

describe('llama: matches and limits', () => {
  it.each([
    L3_8B,
    L33,
    'meta.llama3-1-405b-instruct-v1:0',
    'meta.llama3-2-11b-instruct-v1:0',
    'us.meta.llama3-2-90b-instruct-v1:0',
    L4,
    'arn:aws:bedrock:us-west-2::foundation-model/meta.llama3-70b-instruct-v1:0',
    'arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.meta.llama3-3-70b-instruct-v1:0',
  ])('matches %s', (id) => expect(llama.matches(id)).toBe(true));

  it.each(['meta.llama2-13b-chat-v1', 'mistral.mistral-7b-instruct-v0:2', 'arn:aws:bedrock:us-east-1:123456789012:custom-model/meta.llama3-8b-instruct-v1:0/abcdefghijkl'])(
    'does not match %s',
    (id) => expect(llama.matches(id)).toBe(false),
  );

  it('knows the context of each line; output capped at 2048', () => {
    expect(llama.limits(L3_8B)).toEqual({ contextTokens: 8_192, maxOutputTokens: 2_048 });
    expect(llama.limits(L33).contextTokens).toBe(128_000);
    expect(llama.limits('us.meta.llama3-1-8b-instruct-v1:0').contextTokens).toBe(128_000);
    expect(llama.limits(L4).contextTokens).toBe(1_000_000);
    expect(llama.limits('meta.llama4-scout-17b-instruct-v1:0').contextTokens).toBe(3_500_000);
    expect(llama.limits('meta.llama3-9-future-v1:0')).toEqual({ contextTokens: 8_192, maxOutputTokens: 2_048 });
  });

  it('checkOptions names values out of range', () => {
    expect(llama.checkOptions({ modelId: L33, maxTokens: 2048, temperature: 1, topP: 1 })).toEqual([]);
    const reasons = llama.checkOptions({ modelId: L33, maxTokens: 4096, temperature: 1.5, topP: 2 }).map((i) => i.reason).join('\n');
    expect(reasons).toMatch(/maxTokens 4096 .*1 to 2048/);
    expect(reasons).toMatch(/temperature 1.5/);
    expect(reasons).toMatch(/topP 2/);
  });
});

describe('llama: validateInput', () => {
  it('rejects modelId and other stray keys', () => {
    expect(issues({ ...good(), modelId: L33 })).toEqual([{ code: 'E_STRAY_KEY', reason: expect.stringMatching(/modelInput\.modelId is not allowed/) }]);
    expect(reason({ ...good(), max_tokens: 5 })).toMatch(/max_tokens is not a known request key/);
  });

  it('requires prompt; checks types and ranges', () => {
    expect(reason({ max_gen_len: 5 })).toMatch(/prompt is required/);
    expect(reason({ prompt: ['x'] })).toMatch(/prompt must be a string, got array/);
    expect(reason({ ...good(), max_gen_len: 2049 })).toMatch(/max_gen_len must be an integer from 1 to 2048, got 2049/);
    expect(issues({ ...good(), max_gen_len: 0 })[0]?.code).toBe('E_INVALID_MODEL_INPUT');
    expect(reason({ ...good(), temperature: -0.1 })).toMatch(/temperature/);
    expect(reason({ ...good(), top_p: '0.9' })).toMatch(/top_p must be a number from 0 to 1, got the string "0.9"/);
    expect(reason({ ...good(), images: 'abc' })).toMatch(/images/);
    expect(issues({ ...good(), images: ['aGk='] })).toEqual([]);
  });

  it('a blank prompt or an empty user turn inside the template is E_MISSING_TEXT', () => {
    expect(codesOf({ prompt: '  ' })).toEqual(['E_MISSING_TEXT']);
    expect(codesOf(llama.buildInput({ prompt: ' \n ' }, { modelId: L33, system: 'sys' }))).toEqual(['E_MISSING_TEXT']);
    expect(codes(llama.validateInput(llama.buildInput({ prompt: '\n' }, { modelId: L4 }), L4))).toEqual(['E_MISSING_TEXT']);
    expect(issues({ prompt: 'a raw prompt without a template' })).toEqual([]);
  });

  it('reads the budget and the input text back', () => {
    const input = llama.buildInput({ prompt: 'hello' }, { modelId: L33, maxTokens: 77 });
    expect(llama.maxOutputTokensOf(input)).toBe(77);
    expect(llama.inputTextOf(input)).toBe(input.prompt);
    expect(llama.inputTextOf({})).toBe('');
  });
});

describe('llama: readOutput', () => {
  it('reads the documented response', () => {
    expect(llama.readOutput({ generation: 'A refund.', prompt_token_count: 120, generation_token_count: 4, stop_reason: 'stop' })).toEqual({
      text: 'A refund.',
      stopReason: 'stop',
      inputTokens: 120,
      outputTokens: 4,
    });
  });
  it.each([null, 'x', [], {}, { generation: 5 }, { generation_token_count: '4', stop_reason: 1 }])('never throws on odd shapes: %j', (odd) => {
    const s = llama.readOutput(odd);
    expect(s.text).toBeUndefined();
    expect(s.stopReason).toBeUndefined();
    expect(s.outputTokens).toBeUndefined();
  });
});
