/**
 * Amazon Nova (micro, lite, pro, premier; Nova 2 lite) through InvokeModel, native format
 * (docs/bedrock.md §1.2):
 *
 *   {"messages":[{"role":"user","content":[{"text":"..."}]}],"system":[{"text":"..."}],
 *    "inferenceConfig":{"maxTokens":512,"temperature":0.7,"topP":0.9}}
 *
 * Key spelling in `inferenceConfig` is [UNCONFIRMED] per Nova version: the Nova 2 documentation uses
 * `maxTokens`/`topP`/`topK`, AWS's batchhelper.py (Nova v1) sends `max_new_tokens`/`top_p`/`top_k`.
 * We build with the documented camelCase spelling and accept either spelling on validation (but
 * not both spellings of one setting in the same record).
 *
 * Output: `{output:{message:{role, content:[{text}]}}, stopReason, usage:{inputTokens, outputTokens, totalTokens}}`.
 */
import type { ModelFamily, ModelOptions, PromptText, ValidationIssue } from './family.js';
import { limitTable, matchableBaseId, type LimitRow } from './ids.js';
import { checkKeyedMessages, checkKeyedSystem, keyedInputText } from './keyed-blocks.js';
import {
  checkCommonOptions,
  isObject,
  joinTexts,
  num,
  numberField,
  str,
  strayKeys,
  stringArrayField,
  systemOf,
} from './rules.js';

/**
 * Known Nova models. Output maxima are the conservative documented values: Nova v1 launched with
 * 5K output tokens (later sources say 10K: [UNCONFIRMED]); Premier's is [UNCONFIRMED], 10K kept.
 */
const LIMITS: readonly LimitRow[] = [
  { pattern: /^amazon\.nova-micro/, contextTokens: 128_000, maxOutputTokens: 5_000 },
  { pattern: /^amazon\.nova-lite/, contextTokens: 300_000, maxOutputTokens: 5_000 },
  { pattern: /^amazon\.nova-pro/, contextTokens: 300_000, maxOutputTokens: 5_000 },
  { pattern: /^amazon\.nova-premier/, contextTokens: 1_000_000, maxOutputTokens: 10_000 },
];
const FALLBACK = { contextTokens: 128_000, maxOutputTokens: 5_000 };
const DEFAULT_MAX_TOKENS = 1024;
const MATCH = /^amazon\.nova-(?:2-)?(?:micro|lite|pro|premier)-/;

const KEYS: ReadonlySet<string> = new Set(['schemaVersion', 'messages', 'system', 'inferenceConfig', 'toolConfig', 'reasoningConfig']);
const CONFIG_KEYS: ReadonlySet<string> = new Set([
  'maxTokens',
  'max_new_tokens',
  'temperature',
  'topP',
  'top_p',
  'topK',
  'top_k',
  'stopSequences',
]);
const BLOCK_KEYS: ReadonlySet<string> = new Set([
  'text',
  'image',
  'video',
  'audio',
  'document',
  'toolUse',
  'toolResult',
  'reasoningContent',
  'cachePoint',
]);
const SYSTEM_KEYS: ReadonlySet<string> = new Set(['text', 'cachePoint']);

const limits = limitTable(LIMITS, FALLBACK);

export const nova: ModelFamily = {
  name: 'nova',
  invocationType: 'InvokeModel',
  defaultMaxTokens: DEFAULT_MAX_TOKENS,

  matches(modelId) {
    const base = matchableBaseId(modelId);
    return base !== undefined && MATCH.test(base);
  },

  limits,

  buildInput(prompt: PromptText, options: ModelOptions) {
    const input: Record<string, unknown> = { messages: [{ role: 'user', content: [{ text: prompt.prompt }] }] };
    const system = systemOf(prompt, options);
    if (system !== undefined) input.system = [{ text: system }];
    const config: Record<string, unknown> = { maxTokens: options.maxTokens ?? DEFAULT_MAX_TOKENS };
    if (options.temperature !== undefined) config.temperature = options.temperature;
    if (options.topP !== undefined) config.topP = options.topP;
    input.inferenceConfig = config;
    return input;
  },

  checkOptions(options) {
    return checkCommonOptions(options, { maxTokens: limits(options.modelId).maxOutputTokens, temperature: [0, 1], topP: [0, 1] });
  },

  validateInput(input, modelId) {
    const issues: ValidationIssue[] = [];
    strayKeys(input, KEYS, '', issues);
    if (input.schemaVersion !== undefined && input.schemaVersion !== 'messages-v1') {
      issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: 'schemaVersion must be "messages-v1" when given' });
    }
    checkKeyedSystem(input.system, SYSTEM_KEYS, issues);
    checkKeyedMessages(input.messages, BLOCK_KEYS, issues);
    const config = input.inferenceConfig;
    if (config !== undefined) {
      if (!isObject(config)) {
        issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: 'inferenceConfig must be an object' });
      } else {
        strayKeys(config, CONFIG_KEYS, 'inferenceConfig', issues);
        for (const [a, b] of [['maxTokens', 'max_new_tokens'], ['topP', 'top_p'], ['topK', 'top_k']] as const) {
          if (config[a] !== undefined && config[b] !== undefined) {
            issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `inferenceConfig has both ${a} and ${b}: keep one spelling` });
          }
        }
        const max = limits(modelId).maxOutputTokens;
        numberField(config, 'maxTokens', 'inferenceConfig.', { min: 1, max, integer: true }, issues);
        numberField(config, 'max_new_tokens', 'inferenceConfig.', { min: 1, max, integer: true }, issues);
        numberField(config, 'temperature', 'inferenceConfig.', { min: 0, max: 1 }, issues);
        numberField(config, 'topP', 'inferenceConfig.', { min: 0, max: 1 }, issues);
        numberField(config, 'top_p', 'inferenceConfig.', { min: 0, max: 1 }, issues);
        numberField(config, 'topK', 'inferenceConfig.', { min: 0, max: 500, integer: true }, issues);
        numberField(config, 'top_k', 'inferenceConfig.', { min: 0, max: 500, integer: true }, issues);
        stringArrayField(config, 'stopSequences', 'inferenceConfig.', 4, issues);
      }
    }
    return issues;
  },

  maxOutputTokensOf(input) {
    const config = input.inferenceConfig;
    return isObject(config) ? num(config.maxTokens) ?? num(config.max_new_tokens) : undefined;
  },

  inputTextOf: keyedInputText,

  readOutput(output) {
    return readConverseShape(output);
  },
};

/** Read `{output:{message:{content:[{text}]}}, stopReason, usage:{inputTokens, outputTokens}}` (Nova and Converse). */
export function readConverseShape(output: unknown): ReturnType<ModelFamily['readOutput']> {
  if (!isObject(output)) return { text: undefined };
  const message = isObject(output.output) && isObject(output.output.message) ? output.output.message : undefined;
  const summary: ReturnType<ModelFamily['readOutput']> = { text: message ? joinTexts(message.content) : undefined };
  const stop = str(output.stopReason);
  if (stop !== undefined) summary.stopReason = stop;
  if (isObject(output.usage)) {
    const i = num(output.usage.inputTokens);
    const o = num(output.usage.outputTokens);
    if (i !== undefined) summary.inputTokens = i;
    if (o !== undefined) summary.outputTokens = o;
  }
  return summary;
}
