import { describe, expect, it } from 'vitest';
import { anthropic } from '../../src/models/anthropic.js';
import { checking, codes } from './helpers.js';

const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0';
const { codesOf, good, issues, reason } = checking(anthropic, HAIKU);

describe('anthropic: buildInput', () => {
  it('builds the Messages API body with system, temperature, top_p and max_tokens', () => {
    const input = anthropic.buildInput({ prompt: 'Summarize: hi' }, { modelId: HAIKU, maxTokens: 300, temperature: 0.1, topP: 0.9, system: 'Be brief.' });
    expect(JSON.stringify(input)).toBe(
      '{"anthropic_version":"bedrock-2023-05-31","max_tokens":300,"system":"Be brief.",' +
        '"messages":[{"role":"user","content":[{"type":"text","text":"Summarize: hi"}]}],"temperature":0.1,"top_p":0.9}',
    );
  });

  it('uses the default max_tokens and omits absent or blank options; the per-prompt system wins', () => {
    expect(anthropic.buildInput({ prompt: 'p' }, { modelId: HAIKU, system: '  ' })).toEqual({
      anthropic_version: 'bedrock-2023-05-31',
      max_tokens: anthropic.defaultMaxTokens,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'p' }] }],
    });
    expect(anthropic.buildInput({ prompt: 'p', system: 'call' }, { modelId: HAIKU, system: 'global' }).system).toBe('call');
  });

  it('builds input that passes its own validation', () => {
    const input = anthropic.buildInput({ prompt: 'x', system: 's' }, { modelId: HAIKU, temperature: 0 });
    expect(issues(input)).toEqual([]);
  });
});

describe('anthropic: matches and limits', () => {
  it.each([
    HAIKU,
    'us.anthropic.claude-3-5-haiku-20241022-v1:0',
    'eu.anthropic.claude-3-7-sonnet-20250219-v1:0',
    'apac.anthropic.claude-sonnet-4-20250514-v1:0',
    'global.anthropic.claude-sonnet-4-5-20250929-v1:0',
    'arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0',
    'arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20241022-v2:0',
  ])('matches %s', (id) => expect(anthropic.matches(id)).toBe(true));

  it.each([
    'amazon.nova-pro-v1:0',
    'meta.llama3-8b-instruct-v1:0',
    'arn:aws:bedrock:us-east-1:123456789012:custom-model/anthropic.claude-3-haiku-20240307-v1:0:200k/abcdefghijkl',
    'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abcdefghijkl',
    'claude',
  ])('does not match %s', (id) => expect(anthropic.matches(id)).toBe(false));

  it('knows the Claude line and falls back conservatively', () => {
    expect(anthropic.limits(HAIKU)).toEqual({ contextTokens: 200_000, maxOutputTokens: 4_096 });
    expect(anthropic.limits('us.anthropic.claude-3-5-haiku-20241022-v1:0').maxOutputTokens).toBe(8_192);
    expect(anthropic.limits('anthropic.claude-3-5-sonnet-20240620-v1:0').maxOutputTokens).toBe(4_096);
    expect(anthropic.limits('anthropic.claude-3-7-sonnet-20250219-v1:0').maxOutputTokens).toBe(64_000);
    expect(anthropic.limits('anthropic.claude-opus-4-20250514-v1:0').maxOutputTokens).toBe(32_000);
    expect(anthropic.limits('anthropic.claude-sonnet-4-20250514-v1:0').maxOutputTokens).toBe(64_000);
    expect(anthropic.limits('anthropic.claude-v2').contextTokens).toBe(100_000);
    expect(anthropic.limits('anthropic.claude-9-future-v1:0')).toEqual({ contextTokens: 200_000, maxOutputTokens: 4_096 });
  });
});

describe('anthropic: checkOptions', () => {
  it('accepts good options', () => {
    expect(anthropic.checkOptions({ modelId: HAIKU, maxTokens: 4096, temperature: 1, topP: 0 })).toEqual([]);
  });
  it('names max tokens above the model maximum with the allowed range', () => {
    const [issue] = anthropic.checkOptions({ modelId: HAIKU, maxTokens: 5000 });
    expect(issue?.code).toBe('E_BAD_OPTION');
    expect(issue?.reason).toMatch(/maxTokens 5000 .*1 to 4096/);
  });
  it('names temperature and topP out of range, and non-integer max tokens', () => {
    const reasons = anthropic.checkOptions({ modelId: HAIKU, temperature: 1.5, topP: -0.1, maxTokens: 10.5 }).map((i) => i.reason);
    expect(reasons).toHaveLength(3);
    expect(reasons.join('\n')).toMatch(/temperature 1.5 .*0 to 1/);
    expect(reasons.join('\n')).toMatch(/topP -0.1 .*0 to 1/);
  });
  it('refuses temperature with topP on models that refuse both', () => {
    const issues = anthropic.checkOptions({ modelId: 'us.anthropic.claude-sonnet-4-5-20250929-v1:0', temperature: 0.5, topP: 0.9 });
    expect(issues.map((i) => i.reason).join()).toMatch(/only one/);
    expect(anthropic.checkOptions({ modelId: HAIKU, temperature: 0.5, topP: 0.9 })).toEqual([]);
  });
});

describe('anthropic: validateInput', () => {
  it('rejects modelId inside modelInput as a stray key', () => {
    const [issue] = issues({ ...good(), modelId: HAIKU });
    expect(issue).toEqual({ code: 'E_STRAY_KEY', reason: expect.stringMatching(/modelId.*Extra inputs are not permitted/) });
  });
  it('rejects any unknown key, at the top and inside blocks', () => {
    expect(codesOf({ ...good(), maxTokens: 5 })).toEqual(['E_STRAY_KEY']);
    const input = good();
    input.messages[0].content[0].extra = 1;
    expect(reason(input)).toMatch(/messages\[0\]\.content\[0\]\.extra/);
  });
  it('requires anthropic_version, max_tokens and messages', () => {
    const found = issues({});
    expect(codes(found)).toEqual(['E_INVALID_MODEL_INPUT', 'E_INVALID_MODEL_INPUT', 'E_INVALID_MODEL_INPUT']);
    expect(found.map((i) => i.reason).join('\n')).toMatch(/anthropic_version[\s\S]*max_tokens is required[\s\S]*messages is required/);
  });
  it('checks types and ranges', () => {
    expect(reason({ ...good(), max_tokens: '100' })).toMatch(/max_tokens must be an integer from 1 to 4096, got the string/);
    expect(reason({ ...good(), max_tokens: 4097 })).toMatch(/max_tokens .*4097/);
    expect(reason({ ...good(), temperature: 2 })).toMatch(/temperature must be a number from 0 to 1, got 2/);
    expect(reason({ ...good(), top_k: 1.5 })).toMatch(/top_k/);
    expect(reason({ ...good(), stop_sequences: [1] })).toMatch(/stop_sequences/);
    expect(reason({ ...good(), messages: [{ role: 'bot', content: 'x' }] })).toMatch(/role/);
    expect(reason({ ...good(), messages: [{ role: 'user', content: [{ type: 'audio' }] }] })).toMatch(/type must be one of/);
  });
  it('reports empty or blank text as E_MISSING_TEXT', () => {
    const input = good();
    input.messages[0].content[0].text = ' \n ';
    expect(codesOf(input)).toEqual(['E_MISSING_TEXT']);
    expect(codesOf({ ...good(), messages: [{ role: 'user', content: '' }] })).toEqual(['E_MISSING_TEXT']);
  });
  it('reads max tokens and input text back', () => {
    const input = anthropic.buildInput({ prompt: 'hello', system: 'sys' }, { modelId: HAIKU, maxTokens: 77 });
    expect(anthropic.maxOutputTokensOf(input)).toBe(77);
    expect(anthropic.inputTextOf(input)).toBe('sys\nhello');
  });
});

describe('anthropic: readOutput', () => {
  it('reads the documented Messages response', () => {
    const out = {
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      model: 'claude-3-haiku-20240307',
      content: [{ type: 'text', text: 'The caller asked about a refund.' }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: 120, output_tokens: 9 },
    };
    expect(anthropic.readOutput(out)).toEqual({ text: 'The caller asked about a refund.', stopReason: 'end_turn', inputTokens: 120, outputTokens: 9 });
  });
  it('joins several text blocks and skips other blocks', () => {
    expect(anthropic.readOutput({ content: [{ type: 'thinking', thinking: 'x' }, { type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }).text).toBe('ab');
  });
  it.each([null, 'text', 42, [], {}, { content: 'x' }, { content: [{ type: 'text', text: 5 }] }, { usage: 'x', stop_reason: 1 }])(
    'never throws on odd shapes: %j',
    (odd) => {
      const summary = anthropic.readOutput(odd);
      expect(summary.text).toBeUndefined();
      expect(summary.stopReason).toBeUndefined();
    },
  );
});
