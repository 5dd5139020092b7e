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
 *
 * Structured fields (docs/structured.md): a forced tool,
 * `"toolConfig":{"tools":[{"toolSpec":{"name","description","inputSchema":{"json":{...}}}}],"toolChoice":{"tool":{"name"}}}`
 * (Nova decodes a tool's input under the schema's grammar: "Generating structured output with Nova"),
 * answered by a `{"toolUse":{"toolUseId","name","input"}}` block; or the JSON-only instruction as a
 * second text block. The native body documents no structured-outputs field.
 */
import { isObject } from '../core/values.js';
import type { ModelFamily, ModelOptions, PromptText, ValidationIssue } from './family.js';
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
import { chatMessages, is, objectOr, refusals, turnOrder, withPromptSchema, type ModelRequest } from './local-double.js';
import { checkOptionsFor, nestedObject, numberField, strayKeys, stringArrayField, UNIT, type Issues } from './rules.js';
import { checkObjectSchema, checkStructuredOption, checkToolName, novaVias, toolDescription, unsupportedVia } from './structured.js';

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
const checkSampling = checkOptionsFor(limits);

const TOOL_CONFIG_KEYS: ReadonlySet<string> = new Set(['tools', 'toolChoice']);
const TOOL_KEYS: ReadonlySet<string> = new Set(['toolSpec', 'cachePoint']);
const TOOL_SPEC_KEYS: ReadonlySet<string> = new Set(['name', 'description', 'inputSchema', 'strict']);
const INPUT_SCHEMA_KEYS: ReadonlySet<string> = new Set(['json']);
const CHOICE_KEYS: ReadonlySet<string> = new Set(['auto', 'any', 'tool']);
const CHOICE_TOOL_KEYS: ReadonlySet<string> = new Set(['name']);

/** `toolConfig`: `tools` of `{toolSpec:{name, description, inputSchema:{json}}}`, a `toolChoice` of auto, any or a named tool. */
function checkToolConfig(input: Record<string, unknown>, issues: Issues): void {
  const config = nestedObject(input, 'toolConfig', TOOL_CONFIG_KEYS, issues);
  if (!config) return;
  const names = new Set<unknown>();
  const tools = config.tools;
  if (!Array.isArray(tools) || tools.length === 0) {
    issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: 'toolConfig.tools must be a non-empty array of {"toolSpec":{...}}' });
  } else {
    for (let i = 0; i < tools.length; i++) {
      const tool: unknown = tools[i];
      const at = `toolConfig.tools[${i}]`;
      if (!isObject(tool)) {
        issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `${at} must be an object {"toolSpec":{...}}` });
        continue;
      }
      strayKeys(tool, TOOL_KEYS, at, issues);
      if (tool.cachePoint !== undefined) continue;
      const spec = tool.toolSpec;
      if (!isObject(spec)) {
        issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `${at}.toolSpec must be an object {name, description, inputSchema}` });
        continue;
      }
      strayKeys(spec, TOOL_SPEC_KEYS, `${at}.toolSpec`, issues);
      checkToolName(spec.name, `${at}.toolSpec.name`, issues);
      names.add(spec.name);
      if (spec.description !== undefined && typeof spec.description !== 'string') issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `${at}.toolSpec.description must be a string` });
      if (spec.strict !== undefined && typeof spec.strict !== 'boolean') issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `${at}.toolSpec.strict must be true or false` });
      if (!isObject(spec.inputSchema)) {
        issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `${at}.toolSpec.inputSchema must be an object {"json":{...}}` });
      } else {
        strayKeys(spec.inputSchema, INPUT_SCHEMA_KEYS, `${at}.toolSpec.inputSchema`, issues);
        checkObjectSchema(spec.inputSchema.json, `${at}.toolSpec.inputSchema.json`, issues);
      }
    }
  }
  const choice = config.toolChoice;
  if (choice === undefined) return;
  if (!isObject(choice) || Object.keys(choice).length !== 1) {
    issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: 'toolConfig.toolChoice must hold exactly one of auto, any, tool' });
    return;
  }
  strayKeys(choice, CHOICE_KEYS, 'toolConfig.toolChoice', issues);
  if (choice.tool !== undefined) {
    if (!isObject(choice.tool)) {
      issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: 'toolConfig.toolChoice.tool must be an object {"name":"..."}' });
    } else {
      strayKeys(choice.tool, CHOICE_TOOL_KEYS, 'toolConfig.toolChoice.tool', issues);
      if (typeof choice.tool.name !== 'string' || !names.has(choice.tool.name)) {
        issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: 'toolConfig.toolChoice.tool.name must name one of the tools' });
      }
    }
  }
  for (const key of ['auto', 'any'] as const) {
    if (choice[key] !== undefined && (!isObject(choice[key]) || Object.keys(choice[key]).length > 0)) {
      issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `toolConfig.toolChoice.${key} must be {}` });
    }
  }
}

/** The body for one prompt (see the module comment for the structured ways). */
function build(prompt: PromptText, options: ModelOptions): Record<string, unknown> {
  const input = buildKeyedInput(prompt, options, DEFAULT_MAX_TOKENS);
  const s = options.structured;
  if (s === undefined || s.via === 'prompt') return input;
  if (s.via !== 'tool') unsupportedVia('nova', s.via);
  input.toolConfig = {
    tools: [{ toolSpec: { name: s.name, description: toolDescription(s), inputSchema: { json: s.schema } } }],
    toolChoice: { tool: { name: s.name } },
  };
  return input;
}

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
    toolConfig: is.object(
      {
        tools: is.list(
          is.oneKeyOf({
            toolSpec: is.object(
              { name: is.text, description: is.string, inputSchema: is.oneKeyOf({ json: is.record }), strict: is.boolean },
              ['name', 'inputSchema'],
            ),
            cachePoint: is.any,
          }),
          { min: 1 },
        ),
        toolChoice: is.oneKeyOf({ auto: is.object({}), any: is.object({}), tool: is.object({ name: is.text }, ['name']) }),
      },
      ['tools'],
    ),
    reasoningConfig: is.any,
  },
  ['messages'],
);

/** The tool a body forces (`toolChoice.tool.name`) and its schema, read by the double. */
function localForcedTool(input: Record<string, unknown>): { name: string; listed: boolean; schema: Record<string, unknown> | undefined } | undefined {
  const config = objectOr(input.toolConfig);
  const name = objectOr(objectOr(config.toolChoice).tool).name;
  if (typeof name !== 'string') return undefined;
  const spec = (Array.isArray(config.tools) ? config.tools : []).map((t) => objectOr(objectOr(t).toolSpec)).find((t) => t.name === name);
  const schema = spec === undefined ? undefined : objectOr(spec.inputSchema).json;
  return { name, listed: spec !== undefined, schema: isObject(schema) ? schema : undefined };
}

function localRequest(input: Record<string, unknown>): ModelRequest {
  const req = keyedRequest(input);
  const forced = localForcedTool(input);
  if (forced?.schema !== undefined) req.structured = { schema: forced.schema, via: 'tool', name: forced.name };
  return withPromptSchema(req);
}
const LOCAL_SPELLINGS: readonly (readonly [string, string])[] = [['maxTokens', 'max_new_tokens'], ['topP', 'top_p'], ['topK', 'top_k']];

export const nova: ModelFamily = {
  name: 'nova',
  invocationType: 'InvokeModel',
  defaultMaxTokens: DEFAULT_MAX_TOKENS,
  matches: matchesBaseId(/^amazon\.nova-(?:2-)?(?:micro|lite|pro|premier)-/),
  limits,
  checkOptions: (options) => [...checkSampling(options), ...checkStructuredOption(options, 'nova', novaVias)],
  structuredVias: novaVias,
  buildInput: build,

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
    checkToolConfig(input, issues);
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
      const forced = localForcedTool(input);
      if (forced !== undefined && !forced.listed) found.push(`#/toolConfig/toolChoice/tool/name: no tool named ${JSON.stringify(forced.name).slice(0, 40)} in #/toolConfig/tools`);
      return found;
    },
    // No claimsInput: a Nova body is a Converse body by shape; the job's model id tells them apart.
    readRequest: localRequest,
    writeOutput: keyedAnswer,
  },
};
