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
 *
 * Structured fields (docs/structured.md): Bedrock structured outputs where the model has them,
 * `"outputConfig":{"textFormat":{"type":"json_schema","structure":{"jsonSchema":{"schema":"<the schema as
 * JSON text>","name","description"}}}}` (API_runtime_OutputConfig, API_runtime_JsonSchemaDefinition: the
 * schema is a string), else the JSON-only instruction as a second text block; never a tool.
 */
import { isObject } from '../core/values.js';
import type { ModelFamily, ModelLimits, ModelOptions, PromptText, ValidationIssue } from './family.js';
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
import { chatMessages, is, objectOr, refusals, turnOrder, withPromptSchema, type ModelRequest } from './local-double.js';
import { NATIVE } from './native.js';
import { checkOptionsFor, nestedObject, numberField, strayKeys, stringArrayField, UNIT, type Issues } from './rules.js';
import { checkStructuredOption, converseVias, hasStructuredOutputs, nativeSchemaText, unsupportedVia } from './structured.js';

/** Models of unknown families: a small window and output budget, on the safe side. */
const FALLBACK: ModelLimits = Object.freeze({ contextTokens: 32_000, maxOutputTokens: 4_096 });
const DEFAULT_MAX_TOKENS = 1024;

/** The fields of a Converse request a record's modelInput may hold (the on-demand path sends them as they are). */
export const CONVERSE_REQUEST_KEYS: ReadonlySet<string> = new Set([
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
  'outputConfig',
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

const checkSampling = checkOptionsFor(limits);
const OUTPUT_CONFIG_KEYS: ReadonlySet<string> = new Set(['textFormat']);
const TEXT_FORMAT_KEYS: ReadonlySet<string> = new Set(['type', 'structure']);
const STRUCTURE_KEYS: ReadonlySet<string> = new Set(['jsonSchema']);
const JSON_SCHEMA_KEYS: ReadonlySet<string> = new Set(['schema', 'name', 'description']);

/** `outputConfig.textFormat`: `{type: "json_schema", structure: {jsonSchema: {schema: "<JSON text>", name?, description?}}}`. */
function checkOutputConfig(input: Record<string, unknown>, modelId: string, issues: Issues): void {
  const config = nestedObject(input, 'outputConfig', OUTPUT_CONFIG_KEYS, issues);
  if (!config || config.textFormat === undefined) return;
  const bad = (reason: string) => issues.push({ code: 'E_INVALID_MODEL_INPUT', reason });
  const format = config.textFormat;
  if (!isObject(format)) return void bad('outputConfig.textFormat must be an object {"type":"json_schema","structure":{...}}');
  strayKeys(format, TEXT_FORMAT_KEYS, 'outputConfig.textFormat', issues);
  if (format.type !== 'json_schema') bad('outputConfig.textFormat.type must be "json_schema"');
  const structure = format.structure;
  if (!isObject(structure) || !isObject(structure.jsonSchema)) {
    bad('outputConfig.textFormat.structure must be {"jsonSchema":{"schema":"..."}}');
  } else {
    strayKeys(structure, STRUCTURE_KEYS, 'outputConfig.textFormat.structure', issues);
    const def = structure.jsonSchema;
    const at = 'outputConfig.textFormat.structure.jsonSchema';
    strayKeys(def, JSON_SCHEMA_KEYS, at, issues);
    if (typeof def.schema !== 'string') bad(`${at}.schema must be a string: the JSON Schema as JSON text`);
    else if (!objectSchemaText(def.schema)) bad(`${at}.schema must hold a JSON Schema object with "type":"object"`);
    if (def.name !== undefined && typeof def.name !== 'string') bad(`${at}.name must be a string`);
    if (def.description !== undefined && typeof def.description !== 'string') bad(`${at}.description must be a string`);
  }
  if (!hasStructuredOutputs(modelId)) {
    bad(`outputConfig.textFormat: ${modelId} has no Bedrock structured outputs; ask with the JSON-only instruction instead`);
  }
}

function objectSchemaText(text: string): boolean {
  try {
    const parsed: unknown = JSON.parse(text);
    return isObject(parsed) && parsed.type === 'object';
  } catch {
    return false;
  }
}

/** The body for one prompt (see the module comment for the structured ways). */
function build(prompt: PromptText, options: ModelOptions): Record<string, unknown> {
  const input = buildKeyedInput(prompt, options, DEFAULT_MAX_TOKENS);
  const s = options.structured;
  if (s === undefined || s.via === 'prompt') return input;
  if (s.via !== 'native') unsupportedVia('converse', s.via);
  const d = s.schema.description;
  const jsonSchema: Record<string, unknown> = { schema: nativeSchemaText(s.schema), name: s.name };
  if (typeof d === 'string' && d !== '') jsonSchema.description = d;
  input.outputConfig = { textFormat: { type: 'json_schema', structure: { jsonSchema } } };
  return input;
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
    outputConfig: is.object({
      textFormat: is.object(
        {
          type: is.oneOf('json_schema'),
          structure: is.oneKeyOf({ jsonSchema: is.object({ schema: is.jsonText, name: is.string, description: is.string }, ['schema']) }),
        },
        ['type', 'structure'],
      ),
    }),
  },
  ['messages'],
);

/** The request of a Converse body, with the schema `outputConfig.textFormat` asks for (the native way) or the prompt's. */
function localRequest(input: Record<string, unknown>): ModelRequest {
  const req = keyedRequest(input);
  const def = objectOr(objectOr(objectOr(objectOr(input.outputConfig).textFormat).structure).jsonSchema);
  if (typeof def.schema === 'string') {
    try {
      const schema: unknown = JSON.parse(def.schema);
      if (isObject(schema)) req.structured = { schema, via: 'native', ...(typeof def.name === 'string' ? { name: def.name } : {}) };
    } catch {
      // not JSON: the check refuses it; nothing to read
    }
  }
  return withPromptSchema(req);
}

export const converse: ModelFamily = {
  name: 'converse',
  invocationType: 'Converse',
  defaultMaxTokens: DEFAULT_MAX_TOKENS,
  /** Any model id: Converse is one shape for every model (chosen explicitly, never guessed). */
  matches: (modelId) => typeof modelId === 'string' && modelId.length > 0,
  limits,
  checkOptions: (options) => [...checkSampling(options), ...checkStructuredOption(options, 'converse', converseVias)],
  structuredVias: converseVias,
  buildInput: build,

  validateInput(input, modelId) {
    const issues: ValidationIssue[] = [];
    strayKeys(input, CONVERSE_REQUEST_KEYS, '', issues);
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
    checkOutputConfig(input, modelId, issues);
    return issues;
  },

  maxOutputTokensOf: (input) => num(fieldsOf(input.inferenceConfig).maxTokens),
  inputTextOf: keyedInputText,
  readOutput: readKeyedOutput,
  ownsOutput: (output) => isKeyedOutput(output) && 'metrics' in output,
  sharesOutputShapeWith: 'nova',

  local: {
    source: { url: 'https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html', checked: '2026-12-07', also: ['https://docs.aws.amazon.com/bedrock/latest/userguide/batch-inference-data.html'] },
    checkRequest(input, modelId) {
      const found = [...refusals(input, LOCAL_REQUEST, limits(modelId).maxOutputTokens), ...turnOrder(input.messages)];
      if (objectOr(input.outputConfig).textFormat !== undefined && !hasStructuredOutputs(modelId)) {
        found.push('#/outputConfig/textFormat: this model does not support structured outputs');
      }
      return found;
    },
    /** Any `messages` body a native family has not claimed first (Converse comes last in the registry). */
    claimsInput: (input) => Array.isArray(input.messages),
    readRequest: localRequest,
    writeOutput: (answer, context) => ({ ...keyedAnswer(answer, context), metrics: { latencyMs: context.latencyMs } }),
  },
};
