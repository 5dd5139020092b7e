import { describe, expect, it } from 'vitest';
import { nova } from '../../src/models/nova.js';
import { checking } from './helpers.js';

const PRO = 'amazon.nova-pro-v1:0';
const { codesOf, good, issues, reason } = checking(nova, PRO);

describe('nova: buildInput', () => {
  it('builds the native messages body with system blocks and inferenceConfig', () => {
    const input = nova.buildInput({ prompt: 'Summarize: hi' }, { modelId: PRO, maxTokens: 512, temperature: 0.7, topP: 0.9, system: 'Be brief.' });
    expect(JSON.stringify(input)).toBe(
      '{"messages":[{"role":"user","content":[{"text":"Summarize: hi"}]}],"system":[{"text":"Be brief."}],' +
        '"inferenceConfig":{"maxTokens":512,"temperature":0.7,"topP":0.9}}',
    );
  });
  it('omits system when absent and uses the default max tokens', () => {
    expect(nova.buildInput({ prompt: 'p' }, { modelId: PRO })).toEqual({
      messages: [{ role: 'user', content: [{ text: 'p' }] }],
      inferenceConfig: { maxTokens: nova.defaultMaxTokens },
    });
  });
  it('passes its own validation', () => {
    expect(issues(nova.buildInput({ prompt: 'x', system: 's' }, { modelId: PRO, temperature: 0.2 }))).toEqual([]);
  });
});

describe('nova: matches and limits', () => {
  it.each([
    'amazon.nova-micro-v1:0',
    'amazon.nova-lite-v1:0',
    'us.amazon.nova-pro-v1:0',
    'us.amazon.nova-premier-v1:0',
    'global.amazon.nova-2-lite-v1:0',
    'arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0',
    'arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.amazon.nova-lite-v1:0',
  ])('matches %s', (id) => expect(nova.matches(id)).toBe(true));
  it.each(['amazon.nova-canvas-v1:0', 'amazon.nova-reel-v1:0', 'amazon.titan-text-express-v1', 'anthropic.claude-3-haiku-20240307-v1:0'])(
    'does not match %s',
    (id) => expect(nova.matches(id)).toBe(false),
  );
  it('knows micro, lite, pro and premier', () => {
    expect(nova.limits('amazon.nova-micro-v1:0').contextTokens).toBe(128_000);
    expect(nova.limits('us.amazon.nova-lite-v1:0').contextTokens).toBe(300_000);
    expect(nova.limits(PRO).contextTokens).toBe(300_000);
    expect(nova.limits('us.amazon.nova-premier-v1:0').contextTokens).toBe(1_000_000);
    expect(nova.limits('amazon.nova-9-giant-v1:0')).toEqual({ contextTokens: 128_000, maxOutputTokens: 5_000 });
  });
});

describe('nova: checkOptions', () => {
  it('names max tokens above the maximum and temperature out of range', () => {
    const reasons = nova.checkOptions({ modelId: PRO, maxTokens: 6000, temperature: -1 }).map((i) => i.reason).join('\n');
    expect(reasons).toMatch(/maxTokens 6000 .*1 to 5000/);
    expect(reasons).toMatch(/temperature -1 .*0 to 1/);
  });
});

describe('nova: validateInput', () => {
  it('rejects modelId and other stray keys', () => {
    expect(codesOf({ ...good(), modelId: PRO })).toEqual(['E_STRAY_KEY']);
    expect(reason({ ...good(), inferenceConfig: { maxTokens: 5, max_tokens: 5 } })).toMatch(/inferenceConfig\.max_tokens/);
  });
  it('accepts either spelling of the inference settings, but not both at once', () => {
    expect(issues({ ...good(), inferenceConfig: { max_new_tokens: 300, top_p: 0.9, top_k: 20, temperature: 0.7 } })).toEqual([]);
    expect(reason({ ...good(), inferenceConfig: { maxTokens: 300, max_new_tokens: 300 } })).toMatch(/both maxTokens and max_new_tokens/);
  });
  it('checks types and ranges', () => {
    expect(reason({ ...good(), inferenceConfig: { maxTokens: 5001 } })).toMatch(/inferenceConfig\.maxTokens must be an integer from 1 to 5000/);
    expect(reason({ ...good(), inferenceConfig: { topP: '1' } })).toMatch(/topP/);
    expect(reason({ ...good(), inferenceConfig: [] })).toMatch(/inferenceConfig must be an object/);
    expect(reason({ ...good(), system: 'plain string' })).toMatch(/system must be a non-empty array/);
    expect(reason({ messages: [] })).toMatch(/messages is required/);
    expect(issues({ messages: [{ role: 'user', content: [{ type: 'text', text: 'x' }] }] })[0]?.code).toBe('E_STRAY_KEY');
    expect(reason({ messages: [{ role: 'user', content: [{ text: 1 }] }] })).toMatch(/text must be a string/);
  });
  it('reports blank message text as E_MISSING_TEXT', () => {
    expect(codesOf({ messages: [{ role: 'user', content: [{ text: '   ' }] }] })).toEqual(['E_MISSING_TEXT']);
  });
  it('reads max tokens (either spelling) and input text', () => {
    expect(nova.maxOutputTokensOf({ inferenceConfig: { max_new_tokens: 9 } })).toBe(9);
    expect(nova.inputTextOf(nova.buildInput({ prompt: 'p', system: 's' }, { modelId: PRO }))).toBe('s\np');
  });
});

describe('nova: readOutput', () => {
  it('reads the documented response', () => {
    const out = {
      output: { message: { role: 'assistant', content: [{ text: 'Summary.' }] } },
      stopReason: 'end_turn',
      usage: { inputTokens: 50, outputTokens: 3, totalTokens: 53 },
    };
    expect(nova.readOutput(out)).toEqual({ text: 'Summary.', stopReason: 'end_turn', inputTokens: 50, outputTokens: 3 });
  });
  it.each([undefined, 'x', { output: null }, { output: { message: { content: {} } } }, { output: { message: { content: [{ image: {} }] } } }])(
    'never throws on odd shapes: %j',
    (odd) => expect(nova.readOutput(odd).text).toBeUndefined(),
  );
});
