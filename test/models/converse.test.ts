import { describe, expect, it } from 'vitest';
import { converse } from '../../src/models/converse.js';
import { checking, codes } from './helpers.js';

const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0';
const OTHER = 'qwen.qwen3-32b-v1:0';
const { codesOf, good, issues, reason } = checking(converse, HAIKU);

describe('converse: buildInput', () => {
  it('builds the Converse request: messages, system blocks, inferenceConfig; never modelId', () => {
    const input = converse.buildInput({ prompt: 'Summarize: hi' }, { modelId: HAIKU, maxTokens: 500, temperature: 0.2, topP: 0.9, system: 'Be brief.' });
    expect(JSON.stringify(input)).toBe(
      '{"messages":[{"role":"user","content":[{"text":"Summarize: hi"}]}],"system":[{"text":"Be brief."}],"inferenceConfig":{"maxTokens":500,"temperature":0.2,"topP":0.9}}',
    );
    expect(converse.buildInput({ prompt: 'p' }, { modelId: OTHER })).toEqual({
      messages: [{ role: 'user', content: [{ text: 'p' }] }],
      inferenceConfig: { maxTokens: converse.defaultMaxTokens },
    });
    expect(converse.invocationType).toBe('Converse');
  });

  it('builds input that passes its own validation, for any model', () => {
    for (const id of [HAIKU, OTHER, 'us.amazon.nova-pro-v1:0']) {
      expect(converse.validateInput(converse.buildInput({ prompt: 'x', system: 's' }, { modelId: id }), id)).toEqual([]);
    }
  });
});

describe('converse: matches and limits', () => {
  it('serves any model id (it is chosen explicitly, never guessed)', () => {
    for (const id of [HAIKU, OTHER, 'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abcdefghijkl']) expect(converse.matches(id)).toBe(true);
    expect(converse.matches('')).toBe(false);
  });
  it('takes the limits of the native family that knows the model, else a safe fallback', () => {
    expect(converse.limits(HAIKU)).toEqual({ contextTokens: 200_000, maxOutputTokens: 4_096 });
    expect(converse.limits('us.amazon.nova-premier-v1:0').contextTokens).toBe(1_000_000);
    expect(converse.limits('arn:aws:bedrock:us-east-1::foundation-model/meta.llama3-8b-instruct-v1:0').contextTokens).toBe(8_192);
    expect(converse.limits(OTHER)).toEqual({ contextTokens: 32_000, maxOutputTokens: 4_096 });
    expect(converse.checkOptions({ modelId: HAIKU, maxTokens: 5000 })[0]?.reason).toMatch(/1 to 4096/);
    expect(converse.checkOptions({ modelId: 'anthropic.claude-3-7-sonnet-20250219-v1:0', maxTokens: 5000 })).toEqual([]);
  });
});

describe('converse: validateInput', () => {
  it('rejects modelId inside the body and other stray keys, at every level', () => {
    expect(issues({ ...good(), modelId: HAIKU })).toEqual([{ code: 'E_STRAY_KEY', reason: expect.stringMatching(/modelInput\.modelId is not allowed.*Extra inputs/) }]);
    expect(issues({ ...good(), anthropic_version: 'bedrock-2023-05-31' })[0]?.code).toBe('E_STRAY_KEY');
    expect(reason({ ...good(), inferenceConfig: { max_tokens: 5 } })).toMatch(/inferenceConfig\.max_tokens/);
    const extraBlock = good();
    extraBlock.messages[0].content[0].type = 'text';
    expect(reason(extraBlock)).toMatch(/messages\[0\]\.content\[0\]\.type/);
    const extraMessage = good();
    extraMessage.messages[0].name = 'x';
    expect(reason(extraMessage)).toMatch(/messages\[0\]\.name/);
  });

  it('refuses toolConfig: Converse batch jobs fail records that carry it', () => {
    const found = issues({ ...good(), toolConfig: { tools: [] } });
    expect(codes(found)).toEqual(['E_INVALID_MODEL_INPUT']);
    expect(found[0]!.reason).toMatch(/toolConfig is refused in Converse batch jobs/);
  });

  it('checks the message and block shapes', () => {
    expect(reason({})).toMatch(/messages is required/);
    expect(reason({ messages: [{ role: 'system', content: [{ text: 'x' }] }] })).toMatch(/role must be "user" or "assistant"/);
    expect(reason({ messages: [{ role: 'user', content: 'x' }] })).toMatch(/content must be a non-empty array/);
    expect(reason({ messages: [{ role: 'user', content: [{ text: 'a', image: {} }] }] })).toMatch(/exactly one of/);
    expect(reason({ messages: ['x'] })).toMatch(/messages\[0\] must be an object/);
    expect(reason({ ...good(), system: 'plain' })).toMatch(/system must be a non-empty array/);
    expect(issues({ ...good(), system: [{ image: {} }] })[0]?.code).toBe('E_STRAY_KEY');
  });

  it('checks inferenceConfig types and ranges against the model', () => {
    expect(reason({ ...good(), inferenceConfig: 'x' })).toMatch(/inferenceConfig must be an object/);
    expect(reason({ ...good(), inferenceConfig: { maxTokens: 4097 } })).toMatch(/inferenceConfig\.maxTokens must be an integer from 1 to 4096, got 4097/);
    expect(issues({ ...good(), inferenceConfig: { maxTokens: 1.5 } })[0]?.code).toBe('E_INVALID_MODEL_INPUT');
    expect(reason({ ...good(), inferenceConfig: { temperature: 2 } })).toMatch(/temperature/);
    expect(reason({ ...good(), inferenceConfig: { topP: Number.NaN } })).toMatch(/topP/);
    expect(reason({ ...good(), inferenceConfig: { stopSequences: ['a', 'b', 'c', 'd', 'e'] } })).toMatch(/at most 4 strings/);
  });

  it('blank message text is E_MISSING_TEXT; a blank system block is an invalid input', () => {
    expect(codesOf({ messages: [{ role: 'user', content: [{ text: ' \n\t' }] }] })).toEqual(['E_MISSING_TEXT']);
    expect(codesOf({ ...good(), system: [{ text: '' }] })).toEqual(['E_INVALID_MODEL_INPUT']);
  });

  it('reads the budget and the input text back (system first)', () => {
    const input = converse.buildInput({ prompt: 'hello', system: 'sys' }, { modelId: HAIKU, maxTokens: 12 });
    expect(converse.maxOutputTokensOf(input)).toBe(12);
    expect(converse.maxOutputTokensOf({ messages: [] })).toBeUndefined();
    expect(converse.inputTextOf(input)).toBe('sys\nhello');
  });
});

describe('converse: readOutput', () => {
  it('reads the documented Converse response', () => {
    const out = {
      output: { message: { role: 'assistant', content: [{ text: 'A ' }, { text: 'refund.' }] } },
      stopReason: 'end_turn',
      usage: { inputTokens: 40, outputTokens: 3, totalTokens: 43 },
      metrics: { latencyMs: 900 },
    };
    expect(converse.readOutput(out)).toEqual({ text: 'A refund.', stopReason: 'end_turn', inputTokens: 40, outputTokens: 3 });
  });
  it.each([null, [], { output: 'x' }, { output: { message: {} } }, { usage: { inputTokens: 'many' } }])('never throws on odd shapes: %j', (odd) => {
    const s = converse.readOutput(odd);
    expect(s.text).toBeUndefined();
    expect(s.inputTokens).toBeUndefined();
  });
});
