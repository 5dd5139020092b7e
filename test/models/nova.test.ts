import { describe, expect, it } from 'vitest';
import { nova } from '../../src/models/nova.js';

const PRO = 'amazon.nova-pro-v1:0';
const codes = (issues: { code: string }[]) => issues.map((i) => i.code);

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
    expect(nova.validateInput(nova.buildInput({ prompt: 'x', system: 's' }, { modelId: PRO, temperature: 0.2 }), PRO)).toEqual([]);
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
  const good = () => nova.buildInput({ prompt: 'hello' }, { modelId: PRO }) as Record<string, any>;
  it('rejects modelId and other stray keys', () => {
    expect(codes(nova.validateInput({ ...good(), modelId: PRO }, PRO))).toEqual(['E_STRAY_KEY']);
    expect(nova.validateInput({ ...good(), inferenceConfig: { maxTokens: 5, max_tokens: 5 } }, PRO)[0]?.reason).toMatch(/inferenceConfig\.max_tokens/);
  });
  it('accepts either spelling of the inference settings, but not both at once', () => {
    expect(nova.validateInput({ ...good(), inferenceConfig: { max_new_tokens: 300, top_p: 0.9, top_k: 20, temperature: 0.7 } }, PRO)).toEqual([]);
    expect(nova.validateInput({ ...good(), inferenceConfig: { maxTokens: 300, max_new_tokens: 300 } }, PRO)[0]?.reason).toMatch(/both maxTokens and max_new_tokens/);
  });
  it('checks types and ranges', () => {
    expect(nova.validateInput({ ...good(), inferenceConfig: { maxTokens: 5001 } }, PRO)[0]?.reason).toMatch(/inferenceConfig\.maxTokens must be an integer from 1 to 5000/);
    expect(nova.validateInput({ ...good(), inferenceConfig: { topP: '1' } }, PRO)[0]?.reason).toMatch(/topP/);
    expect(nova.validateInput({ ...good(), inferenceConfig: [] }, PRO)[0]?.reason).toMatch(/inferenceConfig must be an object/);
    expect(nova.validateInput({ ...good(), system: 'plain string' }, PRO)[0]?.reason).toMatch(/system must be a non-empty array/);
    expect(nova.validateInput({ messages: [] }, PRO)[0]?.reason).toMatch(/messages is required/);
    expect(nova.validateInput({ messages: [{ role: 'user', content: [{ type: 'text', text: 'x' }] }] }, PRO)[0]?.code).toBe('E_STRAY_KEY');
    expect(nova.validateInput({ messages: [{ role: 'user', content: [{ text: 1 }] }] }, PRO)[0]?.reason).toMatch(/text must be a string/);
  });
  it('reports blank message text as E_MISSING_TEXT', () => {
    expect(codes(nova.validateInput({ messages: [{ role: 'user', content: [{ text: '   ' }] }] }, PRO))).toEqual(['E_MISSING_TEXT']);
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
