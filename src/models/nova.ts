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
import type { ModelFamily, ValidationIssue } from './family.js';
import { fieldsOf, num } from './fields.js';
import { limitTable, matchesBaseId, type LimitRow } from './ids.js';
import {
  buildKeyedInput,
  checkKeyedMessages,
  checkKeyedSystem,
  isKeyedOutput,
  keyedAnswer,
  keyedInputText,
  keyedRequest,
  readKeyedOutput,
} from './keyed-blocks.js';
import { chatMessages, is, objectOr, refusals, turnOrder } from './local-double.js';
import { checkOptionsFor, nestedObject, numberField, strayKeys, stringArrayField, UNIT } from './rules.js';

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
/** The two spellings of one setting (see the module comment). */
const SPELLINGS = [['maxTokens', 'max_new_tokens'], ['topP', 'top_p'], ['topK', 'top_k']] as const;

const limits = limitTable(LIMITS, FALLBACK);

// The local double's own description of the body (see local-double.ts), written apart from validateInput.
const LOCAL_REQUEST = is.object(
  {
    schemaVersion: is.oneOf('messages-v1'),
    messages: chatMessages(
      is.list(
        is.oneKeyOf({
          text: is.text,
          image: is.any,
          video: is.any,
          audio: is.any,
          document: is.any,
          toolUse: is.any,
          toolResult: is.any,
          reasoningContent: is.any,
          cachePoint: is.any,
        }),
        { min: 1 },
      ),
    ),
    system: is.list(is.oneKeyOf({ text: is.text, cachePoint: is.any }), { min: 1 }),
    // Either spelling of each setting (see the module comment), never both.
    inferenceConfig: is.object({
      maxTokens: is.tokens(1),
      max_new_tokens: is.tokens(1),
      temperature: is.unit,
      topP: is.unit,
      top_p: is.unit,
      topK: is.integer(0, 500),
      top_k: is.integer(0, 500),
      stopSequences: is.list(is.string, { max: 4 }),
    }),
    toolConfig: is.any,
    reasoningConfig: is.any,
  },
  ['messages'],
);
const LOCAL_SPELLINGS: readonly (readonly [string, string])[] = [['maxTokens', 'max_new_tokens'], ['topP', 'top_p'], ['topK', 'top_k']];

export const nova: ModelFamily = {
  name: 'nova',
  invocationType: 'InvokeModel',
  defaultMaxTokens: DEFAULT_MAX_TOKENS,
  matches: matchesBaseId(/^amazon\.nova-(?:2-)?(?:micro|lite|pro|premier)-/),
  limits,
  checkOptions: checkOptionsFor(limits),
  buildInput: (prompt, options) => buildKeyedInput(prompt, options, DEFAULT_MAX_TOKENS),

  validateInput(input, modelId) {
    const issues: ValidationIssue[] = [];
    strayKeys(input, KEYS, '', issues);
    if (input.schemaVersion !== undefined && input.schemaVersion !== 'messages-v1') {
      issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: 'schemaVersion must be "messages-v1" when given' });
    }
    checkKeyedSystem(input.system, SYSTEM_KEYS, issues);
    checkKeyedMessages(input.messages, BLOCK_KEYS, issues);
    const config = nestedObject(input, 'inferenceConfig', CONFIG_KEYS, issues);
    if (config) {
      for (const [a, b] of SPELLINGS) {
        if (config[a] !== undefined && config[b] !== undefined) {
          issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `inferenceConfig has both ${a} and ${b}: keep one spelling` });
        }
      }
      const tokens = { min: 1, max: limits(modelId).maxOutputTokens, integer: true };
      const topK = { min: 0, max: 500, integer: true };
      numberField(config, 'maxTokens', 'inferenceConfig.', tokens, issues);
      numberField(config, 'max_new_tokens', 'inferenceConfig.', tokens, issues);
      numberField(config, 'temperature', 'inferenceConfig.', UNIT, issues);
      numberField(config, 'topP', 'inferenceConfig.', UNIT, issues);
      numberField(config, 'top_p', 'inferenceConfig.', UNIT, issues);
      numberField(config, 'topK', 'inferenceConfig.', topK, issues);
      numberField(config, 'top_k', 'inferenceConfig.', topK, issues);
      stringArrayField(config, 'stopSequences', 'inferenceConfig.', 4, issues);
    }
    return issues;
  },

  maxOutputTokensOf(input) {
    const config = fieldsOf(input.inferenceConfig);
    return num(config.maxTokens) ?? num(config.max_new_tokens);
  },

  inputTextOf: keyedInputText,
  readOutput: readKeyedOutput,
  ownsOutput: (output) => isKeyedOutput(output) && !('metrics' in output),
  sharesOutputShapeWith: 'converse',

  local: {
    source: { url: 'https://docs.aws.amazon.com/nova/latest/userguide/complete-request-schema.html', checked: '2026-12-07', also: ['https://docs.aws.amazon.com/nova/latest/nova2-userguide/request-response-schema.html'] },
    checkRequest(input, modelId) {
      const found = [...refusals(input, LOCAL_REQUEST, limits(modelId).maxOutputTokens), ...turnOrder(input.messages)];
      const config = objectOr(input.inferenceConfig);
      for (const [a, b] of LOCAL_SPELLINGS) {
        if (config[a] !== undefined && config[b] !== undefined) found.push(`#/inferenceConfig: ${a} and ${b} are one setting, give it once`);
      }
      return found;
    },
    // No claimsInput: a Nova body is a Converse body by shape; the job's model id tells them apart.
    readRequest: keyedRequest,
    writeOutput: keyedAnswer,
  },
};
