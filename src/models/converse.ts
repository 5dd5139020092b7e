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
import type { ModelFamily, ModelLimits, ValidationIssue } from './family.js';
import { fieldsOf, num } from './fields.js';
import { normalizeModelId } from './ids.js';
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
import { chatMessages, is, refusals, turnOrder } from './local-double.js';
import { NATIVE } from './native.js';
import { checkOptionsFor, nestedObject, numberField, strayKeys, stringArrayField, UNIT } from './rules.js';

/** Models of unknown families: a small window and output budget, on the safe side. */
const FALLBACK: ModelLimits = Object.freeze({ contextTokens: 32_000, maxOutputTokens: 4_096 });
const DEFAULT_MAX_TOKENS = 1024;

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

// The local double's own description of the body (see local-double.ts), written apart from validateInput.
const LOCAL_REQUEST = is.object(
  {
    messages: chatMessages(
      is.list(
        is.oneKeyOf({
          text: is.text,
          image: is.any,
          document: is.any,
          video: is.any,
          audio: is.any,
          toolUse: is.any,
          toolResult: is.any,
          guardContent: is.any,
          cachePoint: is.any,
          reasoningContent: is.any,
          citationsContent: is.any,
        }),
        { min: 1 },
      ),
    ),
    system: is.list(is.oneKeyOf({ text: is.text, guardContent: is.any, cachePoint: is.any }), { min: 1 }),
    inferenceConfig: is.object({ maxTokens: is.tokens(1), temperature: is.unit, topP: is.unit, stopSequences: is.list(is.string, { max: 4 }) }),
    // docs/bedrock.md §1.1: records with toolConfig fail in Converse-type jobs.
    toolConfig: is.refused('tools are not accepted in Converse batch jobs'),
    guardrailConfig: is.any,
    additionalModelRequestFields: is.any,
    additionalModelResponseFieldPaths: is.any,
    promptVariables: is.any,
    requestMetadata: is.any,
    performanceConfig: is.any,
  },
  ['messages'],
);

export const converse: ModelFamily = {
  name: 'converse',
  invocationType: 'Converse',
  defaultMaxTokens: DEFAULT_MAX_TOKENS,
  /** Any model id: Converse is one shape for every model (chosen explicitly, never guessed). */
  matches: (modelId) => typeof modelId === 'string' && modelId.length > 0,
  limits,
  checkOptions: checkOptionsFor(limits),
  buildInput: (prompt, options) => buildKeyedInput(prompt, options, DEFAULT_MAX_TOKENS),

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
    const config = nestedObject(input, 'inferenceConfig', CONFIG_KEYS, issues);
    if (config) {
      numberField(config, 'maxTokens', 'inferenceConfig.', { min: 1, max: limits(modelId).maxOutputTokens, integer: true }, issues);
      numberField(config, 'temperature', 'inferenceConfig.', UNIT, issues);
      numberField(config, 'topP', 'inferenceConfig.', UNIT, issues);
      stringArrayField(config, 'stopSequences', 'inferenceConfig.', 4, issues);
    }
    return issues;
  },

  maxOutputTokensOf: (input) => num(fieldsOf(input.inferenceConfig).maxTokens),
  inputTextOf: keyedInputText,
  readOutput: readKeyedOutput,
  ownsOutput: (output) => isKeyedOutput(output) && 'metrics' in output,
  sharesOutputShapeWith: 'nova',

  local: {
    source: { url: 'https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html', checked: '2026-12-07', also: ['https://docs.aws.amazon.com/bedrock/latest/userguide/batch-inference-data.html'] },
    checkRequest: (input, modelId) => [...refusals(input, LOCAL_REQUEST, limits(modelId).maxOutputTokens), ...turnOrder(input.messages)],
    /** Any `messages` body a native family has not claimed first (Converse comes last in the registry). */
    claimsInput: (input) => Array.isArray(input.messages),
    readRequest: keyedRequest,
    writeOutput: (answer, context) => ({ ...keyedAnswer(answer), metrics: { latencyMs: context.latencyMs } }),
  },
};
