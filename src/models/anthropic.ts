/**
 * Anthropic Claude on Bedrock, Messages API (InvokeModel body; docs/bedrock.md §1.2):
 *
 *   {"anthropic_version":"bedrock-2023-05-31","max_tokens":1024,"system":"...",
 *    "messages":[{"role":"user","content":[{"type":"text","text":"..."}]}],"temperature":0.2,"top_p":0.9}
 *
 * Output: `{id, type:"message", role, model, content:[{type:"text",text}], stop_reason, stop_sequence,
 * usage:{input_tokens, output_tokens}}`.
 */
import type { ModelFamily, ModelOptions, PromptText, ValidationIssue } from './family.js';
import { limitTable, matchableBaseId, normalizeModelId, type LimitRow } from './ids.js';
import {
  checkCommonOptions,
  hasText,
  isObject,
  joinTexts,
  num,
  numberField,
  str,
  strayKeys,
  stringArrayField,
  systemOf,
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
const MESSAGE_KEYS: ReadonlySet<string> = new Set(['role', 'content']);
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

function checkBlocks(content: unknown, path: string, issues: Issues, blankCode: 'E_MISSING_TEXT' | 'E_INVALID_MODEL_INPUT'): void {
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
      if (typeof block.text !== 'string') issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `${at}.text must be a string` });
      else if (!hasText(block.text)) issues.push({ code: blankCode, reason: `${at}.text is empty: the model needs some text` });
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

export const anthropic: ModelFamily = {
  name: 'anthropic',
  invocationType: 'InvokeModel',
  defaultMaxTokens: DEFAULT_MAX_TOKENS,

  matches(modelId) {
    const base = matchableBaseId(modelId);
    return base !== undefined && base.startsWith('anthropic.claude');
  },

  limits,

  buildInput(prompt: PromptText, options: ModelOptions) {
    const input: Record<string, unknown> = {
      anthropic_version: ANTHROPIC_VERSION,
      max_tokens: options.maxTokens ?? DEFAULT_MAX_TOKENS,
    };
    const system = systemOf(prompt, options);
    if (system !== undefined) input.system = system;
    input.messages = [{ role: 'user', content: [{ type: 'text', text: prompt.prompt }] }];
    if (options.temperature !== undefined) input.temperature = options.temperature;
    if (options.topP !== undefined) input.top_p = options.topP;
    return input;
  },

  checkOptions(options) {
    return checkCommonOptions(options, {
      maxTokens: limits(options.modelId).maxOutputTokens,
      temperature: [0, 1],
      topP: [0, 1],
      temperatureXorTopP: TEMPERATURE_XOR_TOP_P.test(normalizeModelId(options.modelId)),
    });
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
    numberField(input, 'temperature', '', { min: 0, max: 1 }, issues);
    numberField(input, 'top_p', '', { min: 0, max: 1 }, issues);
    numberField(input, 'top_k', '', { min: 0, max: 500, integer: true }, issues);
    stringArrayField(input, 'stop_sequences', '', 8191, issues);
    if (input.temperature !== undefined && input.top_p !== undefined && TEMPERATURE_XOR_TOP_P.test(normalizeModelId(modelId))) {
      issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `${modelId} refuses temperature and top_p together: keep only one` });
    }
    if (input.system !== undefined) checkBlocks(input.system, 'system', issues, 'E_INVALID_MODEL_INPUT');
    const messages = input.messages;
    if (!Array.isArray(messages) || messages.length === 0) {
      issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: 'messages is required: a non-empty array of {role, content}' });
    } else {
      for (let i = 0; i < messages.length; i++) {
        const m: unknown = messages[i];
        if (!isObject(m)) {
          issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `messages[${i}] must be an object {role, content}` });
          continue;
        }
        strayKeys(m, MESSAGE_KEYS, `messages[${i}]`, issues);
        if (m.role !== 'user' && m.role !== 'assistant') {
          issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `messages[${i}].role must be "user" or "assistant"` });
        }
        checkBlocks(m.content, `messages[${i}].content`, issues, 'E_MISSING_TEXT');
      }
    }
    return issues;
  },

  maxOutputTokensOf(input) {
    return num(input.max_tokens);
  },

  inputTextOf(input) {
    let text = input.system !== undefined ? textOfContent(input.system) : '';
    if (Array.isArray(input.messages)) {
      for (const m of input.messages) if (isObject(m)) text = text ? `${text}\n${textOfContent(m.content)}` : textOfContent(m.content);
    }
    return text;
  },

  readOutput(output) {
    if (!isObject(output)) return { text: undefined };
    const summary: ReturnType<ModelFamily['readOutput']> = { text: joinTexts(output.content) };
    const stop = str(output.stop_reason);
    if (stop !== undefined) summary.stopReason = stop;
    if (isObject(output.usage)) {
      const i = num(output.usage.input_tokens);
      const o = num(output.usage.output_tokens);
      if (i !== undefined) summary.inputTokens = i;
      if (o !== undefined) summary.outputTokens = o;
    }
    return summary;
  },
};
