/**
 * Anthropic Claude on Bedrock, Messages API (InvokeModel body; docs/bedrock.md §1.2):
 *
 *   {"anthropic_version":"bedrock-2023-05-31","max_tokens":1024,"system":"...",
 *    "messages":[{"role":"user","content":[{"type":"text","text":"..."}]}],"temperature":0.2,"top_p":0.9}
 *
 * Output: `{id, type:"message", role, model, content:[{type:"text",text}], stop_reason, stop_sequence,
 * usage:{input_tokens, output_tokens}}`.
 */
import { isObject } from '../core/values.js';
import type { ModelFamily, ValidationIssue } from './family.js';
import { fieldsOf, joinTexts, num, outputSummary, samplingOf, systemOf } from './fields.js';
import { limitTable, matchesBaseId, normalizeModelId, type LimitRow } from './ids.js';
import { chatMessages, chatRequest, is, refusals, turnOrder, withSettings } from './local-double.js';
import {
  blockText,
  checkMessages,
  checkOptionsFor,
  hasText,
  numberField,
  strayKeys,
  stringArrayField,
  UNIT,
  type BlankCode,
  type Issues,
} from './rules.js';

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
    tools: is.list(is.any),
    tool_choice: is.any,
    thinking: is.any,
  },
  ['anthropic_version', 'max_tokens', 'messages'],
);

export const anthropic: ModelFamily = {
  name: 'anthropic',
  invocationType: 'InvokeModel',
  defaultMaxTokens: DEFAULT_MAX_TOKENS,
  matches: matchesBaseId(/^anthropic\.claude/),
  limits,
  checkOptions: checkOptionsFor(limits, refusesTemperatureWithTopP),

  buildInput(prompt, options) {
    const system = systemOf(prompt, options);
    return {
      anthropic_version: ANTHROPIC_VERSION,
      max_tokens: options.maxTokens ?? DEFAULT_MAX_TOKENS,
      ...(system === undefined ? {} : { system }),
      messages: [{ role: 'user', content: [{ type: 'text', text: prompt.prompt }] }],
      ...samplingOf(options, 'top_p'),
    };
  },

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
    return outputSummary(joinTexts(fields.content), fields.stop_reason, usage.input_tokens, usage.output_tokens);
  },

  ownsOutput: (output) => isObject(output) && Array.isArray(output.content) && (output.type === 'message' || 'stop_reason' in output),

  local: {
    source: { url: 'https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-anthropic-claude-messages-request-response.html', checked: '2026-12-07', also: ['https://docs.anthropic.com/en/api/messages'] },
    checkRequest(input, modelId) {
      const found = [...refusals(input, LOCAL_REQUEST, limits(modelId).maxOutputTokens), ...turnOrder(input.messages)];
      if (input.temperature !== undefined && input.top_p !== undefined && refusesTemperatureWithTopP(modelId)) {
        found.push('#: this model takes temperature or top_p, not both');
      }
      return found;
    },
    claimsInput: (input) => typeof input.anthropic_version === 'string',
    readRequest: (input) => withSettings(chatRequest(input.messages, input.system), input.max_tokens, input.temperature, input.top_p),
    writeOutput: (answer, context) => ({
      id: `msg_bdrk_local_${context.answerId}`,
      type: 'message',
      role: 'assistant',
      model: context.modelName,
      content: [{ type: 'text', text: answer.text }],
      stop_reason: answer.stop === 'end' ? 'end_turn' : 'max_tokens',
      stop_sequence: null,
      usage: { input_tokens: answer.inputTokens, output_tokens: answer.outputTokens },
    }),
  },
};
