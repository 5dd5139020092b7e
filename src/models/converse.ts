/**
 * The Converse request shape, for any model, in a job with `modelInvocationType: "Converse"`
 * (docs/bedrock.md §1.2):
 *
 *   {"messages":[{"role":"user","content":[{"text":"..."}]}],"system":[{"text":"..."}],
 *    "inferenceConfig":{"maxTokens":1024,"temperature":0.2,"topP":0.9}}
 *
 * `modelId` is not part of the body (it is the job's). Tool calling is refused in Converse-type
 * batch jobs (records with `toolConfig` fail with 400, per the newest AWS page), so `toolConfig`
 * is rejected here. Output: `{output:{message:{content:[{text}]}}, stopReason,
 * usage:{inputTokens, outputTokens, totalTokens}, metrics:{latencyMs}}`.
 */
import { anthropic } from './anthropic.js';
import type { ModelFamily, ModelLimits, ModelOptions, PromptText, ValidationIssue } from './family.js';
import { checkKeyedMessages, checkKeyedSystem, keyedInputText } from './keyed-blocks.js';
import { llama } from './llama.js';
import { mistral } from './mistral.js';
import { nova, readConverseShape } from './nova.js';
import { checkCommonOptions, isObject, num, numberField, strayKeys, stringArrayField, systemOf } from './rules.js';
import { titanText } from './titan-text.js';
import { normalizeModelId } from './ids.js';

/** Models of unknown families: a small window and output budget, on the safe side. */
const FALLBACK: ModelLimits = Object.freeze({ contextTokens: 32_000, maxOutputTokens: 4_096 });
const DEFAULT_MAX_TOKENS = 1024;
const NATIVE: readonly ModelFamily[] = [anthropic, nova, titanText, llama, mistral];

const KEYS: ReadonlySet<string> = new Set([
  'messages',
  'system',
  'inferenceConfig',
  'toolConfig',
  'guardrailConfig',
  'additionalModelRequestFields',
  'additionalModelResponseFieldPaths',
  'promptVariables',
  'requestMetadata',
  'performanceConfig',
]);
const CONFIG_KEYS: ReadonlySet<string> = new Set(['maxTokens', 'temperature', 'topP', 'stopSequences']);
const BLOCK_KEYS: ReadonlySet<string> = new Set([
  'text',
  'image',
  'document',
  'video',
  'audio',
  'toolUse',
  'toolResult',
  'guardContent',
  'cachePoint',
  'reasoningContent',
  'citationsContent',
]);
const SYSTEM_KEYS: ReadonlySet<string> = new Set(['text', 'guardContent', 'cachePoint']);

/** Limits from the native family that knows the model (matched on the base id, ARNs included). */
const cache = new Map<string, ModelLimits>();
function limits(modelId: string): ModelLimits {
  let hit = cache.get(modelId);
  if (hit) return hit;
  const base = normalizeModelId(modelId);
  hit = NATIVE.find((f) => f.matches(base))?.limits(base) ?? FALLBACK;
  if (cache.size < 64) cache.set(modelId, hit);
  return hit;
}

export const converse: ModelFamily = {
  name: 'converse',
  invocationType: 'Converse',
  defaultMaxTokens: DEFAULT_MAX_TOKENS,

  /** Any model id: Converse is one shape for every model (chosen explicitly, never guessed). */
  matches(modelId) {
    return typeof modelId === 'string' && modelId.length > 0;
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
    if (input.toolConfig !== undefined) {
      issues.push({
        code: 'E_INVALID_MODEL_INPUT',
        reason: 'toolConfig is refused in Converse batch jobs: use the model family\'s native format (InvokeModel) for tools',
      });
    }
    checkKeyedSystem(input.system, SYSTEM_KEYS, issues);
    checkKeyedMessages(input.messages, BLOCK_KEYS, issues);
    const config = input.inferenceConfig;
    if (config !== undefined) {
      if (!isObject(config)) {
        issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: 'inferenceConfig must be an object' });
      } else {
        strayKeys(config, CONFIG_KEYS, 'inferenceConfig', issues);
        numberField(config, 'maxTokens', 'inferenceConfig.', { min: 1, max: limits(modelId).maxOutputTokens, integer: true }, issues);
        numberField(config, 'temperature', 'inferenceConfig.', { min: 0, max: 1 }, issues);
        numberField(config, 'topP', 'inferenceConfig.', { min: 0, max: 1 }, issues);
        stringArrayField(config, 'stopSequences', 'inferenceConfig.', 4, issues);
      }
    }
    return issues;
  },

  maxOutputTokensOf(input) {
    return isObject(input.inferenceConfig) ? num(input.inferenceConfig.maxTokens) : undefined;
  },

  inputTextOf: keyedInputText,

  readOutput: readConverseShape,
};
