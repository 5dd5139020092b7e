/**
 * Anthropic Claude on Bedrock, Messages API (InvokeModel body; docs/bedrock.md §1.2):
 *
 *   {"anthropic_version":"bedrock-2023-05-31","max_tokens":1024,"system":"...",
 *    "messages":[{"role":"user","content":[{"type":"text","text":"..."}]}],"temperature":0.2,"top_p":0.9}
 *
 * Output: `{id, type:"message", role, model, content:[{type:"text",text}], stop_reason, stop_sequence,
 * usage:{input_tokens, output_tokens}}`.
 *
 * Structured fields (docs/structured.md), the strongest way the model takes:
 * - native: `"output_config":{"format":{"type":"json_schema","schema":{...}}}` (Claude 4.5 generation and later);
 * - tool: `"tools":[{"name","description","input_schema":{...}}],"tool_choice":{"type":"tool","name"}` (Claude 3 and
 *   later); the answer is a `{"type":"tool_use","id","name","input"}` block with `stop_reason` `tool_use`;
 * - prompt: the JSON-only instruction as a second text block of the user turn.
 */
import { isObject } from '../core/values.js';
import { jsonInstruction } from '../schema/instruction.js';
import type { ModelFamily, ModelOptions, ValidationIssue } from './family.js';
import { fieldsOf, joinTexts, num, outputSummary, samplingOf, systemOf } from './fields.js';
import { limitTable, matchesBaseId, normalizeModelId, type LimitRow } from './ids.js';
import { chatMessages, chatRequest, is, objectOr, refusals, turnOrder, withPromptSchema, withSettings, type StructuredAsk } from './local-double.js';
import {
  blockText,
  checkMessages,
  checkOptionsFor,
  hasText,
  nestedObject,
  numberField,
  strayKeys,
  stringArrayField,
  UNIT,
  type BlankCode,
  type Issues,
} from './rules.js';
import {
  checkObjectSchema,
  checkStructuredOption,
  checkToolName,
  claudeVias,
  hasStructuredOutputs,
  nativeSchema,
  toolDescription,
  unsupportedVia,
} from './structured.js';

export const ANTHROPIC_VERSION = 'bedrock-2023-05-31';

/** Known Claude models: context window and most output tokens (first match wins). */
const LIMITS: readonly LimitRow[] = [
  { pattern: /^anthropic\.claude-3-haiku/, contextTokens: 200_000, maxOutputTokens: 4_096 },
  { pattern: /^anthropic\.claude-3-sonnet/, contextTokens: 200_000, maxOutputTokens: 4_096 },
  { pattern: /^anthropic\.claude-3-opus/, contextTokens: 200_000, maxOutputTokens: 4_096 },
  { pattern: /^anthropic\.claude-3-5-sonnet-20240620/, contextTokens: 200_000, maxOutputTokens: 4_096 },
  { pattern: /^anthropic\.claude-3-5-sonnet/, contextTokens: 200_000, maxOutputTokens: 8_192 },
  { pattern: /^anthropic\.claude-3-5-haiku/, contextTokens: 200_000, maxOutputTokens: 8_192 },
  { pattern: /^anthropic\.claude-3-7-sonnet/, contextTokens: 200_000, maxOutputTokens: 64_000 },
  { pattern: /^anthropic\.claude-opus-4-5/, contextTokens: 200_000, maxOutputTokens: 64_000 },
  { pattern: /^anthropic\.claude-opus-4/, contextTokens: 200_000, maxOutputTokens: 32_000 },
  { pattern: /^anthropic\.claude-sonnet-4/, contextTokens: 200_000, maxOutputTokens: 64_000 },
  { pattern: /^anthropic\.claude-haiku-4/, contextTokens: 200_000, maxOutputTokens: 64_000 },
  { pattern: /^anthropic\.claude-v2:1/, contextTokens: 200_000, maxOutputTokens: 4_096 },
  { pattern: /^anthropic\.claude-(?:v2|instant)/, contextTokens: 100_000, maxOutputTokens: 4_096 },
];
/** Unknown Claude versions: the smallest output budget of the line, the usual 200k window. */
const FALLBACK = { contextTokens: 200_000, maxOutputTokens: 4_096 };

/** Models that answer 400 when both temperature and top_p are set (Claude 4.1+ generation). */
const TEMPERATURE_XOR_TOP_P = /^anthropic\.claude-(?:sonnet-4-5|haiku-4-5|opus-4-1|opus-4-5)/;

const KEYS: ReadonlySet<string> = new Set([
  'anthropic_version',
  'anthropic_beta',
  'max_tokens',
  'messages',
  'system',
  'temperature',
  'top_p',
  'top_k',
  'stop_sequences',
  'tools',
  'tool_choice',
  'thinking',
  'output_config',
]);
const TEXT_BLOCK_KEYS: ReadonlySet<string> = new Set(['type', 'text', 'cache_control', 'citations']);
const OTHER_BLOCK_TYPES: ReadonlySet<string> = new Set([
  'image',
  'document',
  'tool_use',
  'tool_result',
  'thinking',
  'redacted_thinking',
]);

const limits = limitTable(LIMITS, FALLBACK);
const DEFAULT_MAX_TOKENS = 1024;

const OUTPUT_CONFIG_KEYS: ReadonlySet<string> = new Set(['format', 'effort']);
const FORMAT_KEYS: ReadonlySet<string> = new Set(['type', 'schema']);
const TOOL_KEYS: ReadonlySet<string> = new Set(['type', 'name', 'description', 'input_schema', 'cache_control', 'strict']);
const TOOL_CHOICE_KEYS: ReadonlySet<string> = new Set(['type', 'name', 'disable_parallel_tool_use']);
const TOOL_CHOICES: ReadonlySet<string> = new Set(['auto', 'any', 'tool', 'none']);
const EFFORTS: ReadonlySet<string> = new Set(['low', 'medium', 'high']);

/** `output_config` (structured outputs; `effort`): its documented shape, and a model that has structured outputs. */
function checkOutputConfig(input: Record<string, unknown>, modelId: string, issues: Issues): void {
  const config = nestedObject(input, 'output_config', OUTPUT_CONFIG_KEYS, issues);
  if (!config) return;
  if (config.effort !== undefined && (typeof config.effort !== 'string' || !EFFORTS.has(config.effort))) {
    issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: 'output_config.effort must be "low", "medium" or "high"' });
  }
  if (config.format === undefined) return;
  const format = config.format;
  if (!isObject(format)) {
    issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: 'output_config.format must be an object {"type":"json_schema","schema":{...}}' });
    return;
  }
  strayKeys(format, FORMAT_KEYS, 'output_config.format', issues);
  if (format.type !== 'json_schema') issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: 'output_config.format.type must be "json_schema"' });
  checkObjectSchema(format.schema, 'output_config.format.schema', issues);
  if (!hasStructuredOutputs(modelId)) {
    issues.push({
      code: 'E_INVALID_MODEL_INPUT',
      reason: `output_config.format: ${modelId} has no Bedrock structured outputs (Claude 4.5 generation and later); ask with a forced tool instead`,
    });
  }
}

/** `tools` and `tool_choice`: custom tools `{name, description, input_schema}`, a choice naming one of them. */
function checkTools(input: Record<string, unknown>, modelId: string, issues: Issues): void {
  const { tools, tool_choice: choice } = input;
  const names = new Set<unknown>();
  if (tools !== undefined) {
    if (!Array.isArray(tools) || tools.length === 0) {
      issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: 'tools must be a non-empty array of tool definitions' });
    } else {
      for (let i = 0; i < tools.length; i++) {
        const tool: unknown = tools[i];
        const at = `tools[${i}]`;
        if (!isObject(tool)) {
          issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `${at} must be an object {name, description, input_schema}` });
        } else if (tool.type === undefined || tool.type === 'custom') {
          strayKeys(tool, TOOL_KEYS, at, issues);
          checkToolName(tool.name, `${at}.name`, issues);
          if (tool.description !== undefined && typeof tool.description !== 'string') issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `${at}.description must be a string` });
          if (tool.strict !== undefined && typeof tool.strict !== 'boolean') issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `${at}.strict must be true or false` });
          checkObjectSchema(tool.input_schema, `${at}.input_schema`, issues);
          names.add(tool.name);
        } else if (typeof tool.type !== 'string') {
          issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `${at}.type must be a string` });
        } else {
          names.add(tool.name); // an Anthropic-defined tool (bash_..., text_editor_...): its own keys
        }
      }
    }
    if (!claudeVias(modelId).includes('tool')) {
      issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `tools: ${modelId} has no tool use (Claude 3 and later)` });
    }
  }
  if (choice === undefined) return;
  if (!isObject(choice)) {
    issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: 'tool_choice must be an object like {"type":"tool","name":"..."}' });
    return;
  }
  strayKeys(choice, TOOL_CHOICE_KEYS, 'tool_choice', issues);
  if (typeof choice.type !== 'string' || !TOOL_CHOICES.has(choice.type)) {
    issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `tool_choice.type must be one of ${[...TOOL_CHOICES].join(', ')}` });
  } else if (choice.type !== 'none' && tools === undefined) {
    issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `tool_choice "${choice.type}" needs tools` });
  } else if (choice.type === 'tool' && (typeof choice.name !== 'string' || !names.has(choice.name))) {
    issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: 'tool_choice.name must name one of the tools' });
  }
  if (choice.disable_parallel_tool_use !== undefined && typeof choice.disable_parallel_tool_use !== 'boolean') {
    issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: 'tool_choice.disable_parallel_tool_use must be true or false' });
  }
}

function checkBlocks(content: unknown, path: string, issues: Issues, blankCode: BlankCode): void {
  if (typeof content === 'string') {
    if (!hasText(content)) issues.push({ code: blankCode, reason: `${path} is empty: the model needs some text` });
    return;
  }
  if (!Array.isArray(content) || content.length === 0) {
    issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `${path} must be a string or a non-empty array of content blocks` });
    return;
  }
  for (let i = 0; i < content.length; i++) {
    const block: unknown = content[i];
    const at = `${path}[${i}]`;
    if (!isObject(block)) {
      issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `${at} must be an object like {"type":"text","text":"..."}` });
    } else if (block.type === 'text') {
      strayKeys(block, TEXT_BLOCK_KEYS, at, issues);
      blockText(block, at, blankCode, issues);
    } else if (typeof block.type !== 'string' || !OTHER_BLOCK_TYPES.has(block.type)) {
      issues.push({
        code: 'E_INVALID_MODEL_INPUT',
        reason: `${at}.type must be one of text, ${[...OTHER_BLOCK_TYPES].join(', ')}, got ${JSON.stringify(block.type ?? null).slice(0, 30)}`,
      });
    }
  }
}

function textOfContent(content: unknown): string {
  return typeof content === 'string' ? content : joinTexts(content) ?? '';
}

const refusesTemperatureWithTopP = (modelId: string) => TEMPERATURE_XOR_TOP_P.test(normalizeModelId(modelId));
const checkSampling = checkOptionsFor(limits, refusesTemperatureWithTopP);

// The local double's own description of the body (see local-double.ts), written apart from validateInput.
const LOCAL_TEXT_BLOCK = is.object({ type: is.oneOf('text'), text: is.text, cache_control: is.any, citations: is.any }, ['type', 'text']);
const LOCAL_BLOCK = is.tagged('type', {
  text: LOCAL_TEXT_BLOCK,
  image: is.any,
  document: is.any,
  tool_use: is.any,
  tool_result: is.any,
  thinking: is.any,
  redacted_thinking: is.any,
});
const LOCAL_CUSTOM_TOOL = is.object(
  { type: is.oneOf('custom'), name: is.text, description: is.string, input_schema: is.record, cache_control: is.any, strict: is.boolean },
  ['name', 'input_schema'],
);
const LOCAL_CHOICE = is.object({ type: is.string, disable_parallel_tool_use: is.boolean }, ['type']);
const LOCAL_REQUEST = is.object(
  {
    anthropic_version: is.oneOf(ANTHROPIC_VERSION),
    anthropic_beta: is.list(is.string),
    max_tokens: is.tokens(1),
    messages: chatMessages(is.either(is.text, is.list(LOCAL_BLOCK, { min: 1 }))),
    system: is.either(is.text, is.list(LOCAL_TEXT_BLOCK, { min: 1 })),
    temperature: is.unit,
    top_p: is.unit,
    top_k: is.integer(0, 500),
    stop_sequences: is.list(is.string, { max: 8191 }),
    // Anthropic-defined tools (`bash_...`, `text_editor_...`) carry their own keys: not looked into.
    tools: is.list(is.tagged('type', { custom: LOCAL_CUSTOM_TOOL }, { untagged: LOCAL_CUSTOM_TOOL, others: is.record }), { min: 1 }),
    tool_choice: is.tagged('type', {
      auto: LOCAL_CHOICE,
      any: LOCAL_CHOICE,
      tool: is.object({ type: is.string, name: is.text, disable_parallel_tool_use: is.boolean }, ['type', 'name']),
      none: is.object({ type: is.string }, ['type']),
    }),
    thinking: is.any,
    output_config: is.object({
      format: is.object({ type: is.oneOf('json_schema'), schema: is.record }, ['type', 'schema']),
      effort: is.oneOf('low', 'medium', 'high'),
    }),
  },
  ['anthropic_version', 'max_tokens', 'messages'],
);

/** The double's checks across fields: structured outputs and tool use for the job's model, a forced tool that exists. */
function localCrossChecks(input: Record<string, unknown>, modelId: string): string[] {
  const found: string[] = [];
  if (objectOr(input.output_config).format !== undefined && !hasStructuredOutputs(modelId)) {
    found.push('#/output_config/format: this model does not support structured outputs');
  }
  if (input.tools !== undefined && !claudeVias(modelId).includes('tool')) found.push('#/tools: this model does not support tool use');
  const choice = objectOr(input.tool_choice);
  if (choice.type !== undefined && choice.type !== 'none' && input.tools === undefined) found.push('#/tool_choice: tool_choice needs tools');
  if (choice.type === 'tool' && typeof choice.name === 'string' && Array.isArray(input.tools)) {
    if (!input.tools.some((t) => objectOr(t).name === choice.name)) found.push(`#/tool_choice/name: no tool named ${JSON.stringify(choice.name).slice(0, 40)} in #/tools`);
  }
  return found;
}

/** The structured request a body makes the native or the tool way (the prompt way is read from the text). */
function localStructured(input: Record<string, unknown>): StructuredAsk | undefined {
  const format = objectOr(objectOr(input.output_config).format);
  if (format.type === 'json_schema' && isObject(format.schema)) return { schema: format.schema, via: 'native' };
  const choice = objectOr(input.tool_choice);
  if (choice.type !== 'tool' || typeof choice.name !== 'string' || !Array.isArray(input.tools)) return undefined;
  const tool = input.tools.map(objectOr).find((t) => t.name === choice.name);
  return tool && isObject(tool.input_schema) ? { schema: tool.input_schema, via: 'tool', name: choice.name } : undefined;
}

/** The body for one prompt (see the module comment for the structured ways). */
function build(prompt: { prompt: string; system?: string }, options: ModelOptions): Record<string, unknown> {
  const system = systemOf(prompt, options);
  const s = options.structured;
  const content: Record<string, unknown>[] = [{ type: 'text', text: prompt.prompt }];
  if (s?.via === 'prompt') content.push({ type: 'text', text: jsonInstruction(s.schema) });
  const input: Record<string, unknown> = {
    anthropic_version: ANTHROPIC_VERSION,
    max_tokens: options.maxTokens ?? DEFAULT_MAX_TOKENS,
    ...(system === undefined ? {} : { system }),
    messages: [{ role: 'user', content }],
    ...samplingOf(options, 'top_p'),
  };
  if (s === undefined || s.via === 'prompt') return input;
  if (s.via === 'native') {
    input.output_config = { format: { type: 'json_schema', schema: nativeSchema(s.schema) } };
  } else if (s.via === 'tool') {
    input.tools = [{ name: s.name, description: toolDescription(s), input_schema: s.schema }];
    input.tool_choice = { type: 'tool', name: s.name };
  } else unsupportedVia('anthropic', s.via);
  return input;
}

export const anthropic: ModelFamily = {
  name: 'anthropic',
  invocationType: 'InvokeModel',
  defaultMaxTokens: DEFAULT_MAX_TOKENS,
  matches: matchesBaseId(/^anthropic\.claude/),
  limits,
  checkOptions: (options) => [...checkSampling(options), ...checkStructuredOption(options, 'anthropic', claudeVias)],
  structuredVias: claudeVias,
  buildInput: build,

  validateInput(input, modelId) {
    const issues: ValidationIssue[] = [];
    strayKeys(input, KEYS, '', issues);
    if (input.anthropic_version !== ANTHROPIC_VERSION) {
      issues.push({
        code: 'E_INVALID_MODEL_INPUT',
        reason: `anthropic_version must be "${ANTHROPIC_VERSION}", got ${JSON.stringify(input.anthropic_version ?? null).slice(0, 30)}`,
      });
    }
    numberField(input, 'max_tokens', '', { min: 1, max: limits(modelId).maxOutputTokens, integer: true, required: true }, issues);
    numberField(input, 'temperature', '', UNIT, issues);
    numberField(input, 'top_p', '', UNIT, issues);
    numberField(input, 'top_k', '', { min: 0, max: 500, integer: true }, issues);
    stringArrayField(input, 'stop_sequences', '', 8191, issues);
    if (input.temperature !== undefined && input.top_p !== undefined && refusesTemperatureWithTopP(modelId)) {
      issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `${modelId} refuses temperature and top_p together: keep only one` });
    }
    if (input.system !== undefined) checkBlocks(input.system, 'system', issues, 'E_INVALID_MODEL_INPUT');
    checkMessages(input.messages, (content, path) => checkBlocks(content, path, issues, 'E_MISSING_TEXT'), issues);
    checkOutputConfig(input, modelId, issues);
    checkTools(input, modelId, issues);
    return issues;
  },

  maxOutputTokensOf: (input) => num(input.max_tokens),

  inputTextOf(input) {
    let text = input.system !== undefined ? textOfContent(input.system) : '';
    if (Array.isArray(input.messages)) {
      for (const m of input.messages) if (isObject(m)) text = text ? `${text}\n${textOfContent(m.content)}` : textOfContent(m.content);
    }
    return text;
  },

  readOutput(output) {
    const fields = fieldsOf(output);
    const usage = fieldsOf(fields.usage);
    const summary = outputSummary(joinTexts(fields.content), fields.stop_reason, usage.input_tokens, usage.output_tokens);
    if (Array.isArray(fields.content)) {
      const call = fields.content.find((b) => isObject(b) && b.type === 'tool_use' && 'input' in b);
      if (call !== undefined) summary.toolInput = (call as Record<string, unknown>).input;
    }
    return summary;
  },

  ownsOutput: (output) => isObject(output) && Array.isArray(output.content) && (output.type === 'message' || 'stop_reason' in output),

  local: {
    source: { url: 'https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-anthropic-claude-messages-request-response.html', checked: '2026-12-07', also: ['https://docs.anthropic.com/en/api/messages'] },
    checkRequest(input, modelId) {
      const found = [...refusals(input, LOCAL_REQUEST, limits(modelId).maxOutputTokens), ...turnOrder(input.messages), ...localCrossChecks(input, modelId)];
      if (input.temperature !== undefined && input.top_p !== undefined && refusesTemperatureWithTopP(modelId)) {
        found.push('#: this model takes temperature or top_p, not both');
      }
      return found;
    },
    claimsInput: (input) => typeof input.anthropic_version === 'string',
    readRequest(input) {
      const req = withSettings(chatRequest(input.messages, input.system), input.max_tokens, input.temperature, input.top_p);
      const structured = localStructured(input);
      if (structured !== undefined) req.structured = structured;
      return withPromptSchema(req);
    },
    writeOutput: (answer, context) => ({
      id: `msg_bdrk_local_${context.answerId}`,
      type: 'message',
      role: 'assistant',
      model: context.modelName,
      content: answer.tool
        ? [{ type: 'tool_use', id: `toolu_bdrk_local_${context.answerId}`, name: answer.tool.name, input: answer.tool.input }]
        : [{ type: 'text', text: answer.text }],
      stop_reason: answer.stop === 'length' ? 'max_tokens' : answer.tool ? 'tool_use' : 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: answer.inputTokens, output_tokens: answer.outputTokens },
    }),
  },
};
