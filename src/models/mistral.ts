/**
 * Mistral text completion (Mistral 7B Instruct, Mixtral 8x7B Instruct, Mistral Large 24.02,
 * Mistral Small 24.02) through InvokeModel (docs/bedrock.md §1.2):
 *
 *   {"prompt":"<s>[INST] ... [/INST]","max_tokens":512,"temperature":0.5,"top_p":0.9}
 *
 * The text-completion format has no system role: a system prompt goes first inside `[INST]`.
 * Mistral Large 2 (24.07) and later take a chat format and are not matched here: use the Converse
 * family for them. Output: `{outputs:[{text, stop_reason}]}` (response shape [UNCONFIRMED] in the
 * facts sheet; no token counts in it).
 */
import type { ModelFamily, ModelOptions, PromptText, ValidationIssue } from './family.js';
import { limitTable, matchableBaseId, type LimitRow } from './ids.js';
import { checkCommonOptions, hasText, isObject, num, numberField, str, strayKeys, stringArrayField, systemOf, textField } from './rules.js';

/** Output maxima from the Bedrock Mistral text-completion page (max_tokens column). */
const LIMITS: readonly LimitRow[] = [
  { pattern: /^mistral\.mistral-7b/, contextTokens: 32_000, maxOutputTokens: 8_192 },
  { pattern: /^mistral\.mixtral-8x7b/, contextTokens: 32_000, maxOutputTokens: 4_096 },
  { pattern: /^mistral\.mistral-large-2402/, contextTokens: 32_000, maxOutputTokens: 8_192 },
  { pattern: /^mistral\.mistral-small-2402/, contextTokens: 32_000, maxOutputTokens: 8_192 },
];
const FALLBACK = { contextTokens: 32_000, maxOutputTokens: 4_096 };
const DEFAULT_MAX_TOKENS = 512;
const MATCH = /^mistral\.(?:mistral-7b|mixtral-8x7b|mistral-large-2402|mistral-small-2402)/;

const KEYS: ReadonlySet<string> = new Set(['prompt', 'max_tokens', 'stop', 'temperature', 'top_p', 'top_k']);

/** `<s>[INST] {system}\n\n{prompt} [/INST]` */
export function mistralPrompt(prompt: string, system?: string): string {
  return `<s>[INST] ${system !== undefined ? `${system}\n\n` : ''}${prompt} [/INST]`;
}

const limits = limitTable(LIMITS, FALLBACK);

export const mistral: ModelFamily = {
  name: 'mistral',
  invocationType: 'InvokeModel',
  defaultMaxTokens: DEFAULT_MAX_TOKENS,

  matches(modelId) {
    const base = matchableBaseId(modelId);
    return base !== undefined && MATCH.test(base);
  },

  limits,

  buildInput(prompt: PromptText, options: ModelOptions) {
    const input: Record<string, unknown> = {
      prompt: mistralPrompt(prompt.prompt, systemOf(prompt, options)),
      max_tokens: options.maxTokens ?? DEFAULT_MAX_TOKENS,
    };
    if (options.temperature !== undefined) input.temperature = options.temperature;
    if (options.topP !== undefined) input.top_p = options.topP;
    return input;
  },

  checkOptions(options) {
    return checkCommonOptions(options, { maxTokens: limits(options.modelId).maxOutputTokens, temperature: [0, 1], topP: [0, 1] });
  },

  validateInput(input, modelId) {
    const issues: ValidationIssue[] = [];
    strayKeys(input, KEYS, '', issues);
    textField(input, 'prompt', '', issues);
    if (typeof input.prompt === 'string') {
      const open = input.prompt.indexOf('[INST]');
      const close = open < 0 ? -1 : input.prompt.indexOf('[/INST]', open);
      if (close >= 0 && !hasText(input.prompt.slice(open + 6, close))) {
        issues.push({ code: 'E_MISSING_TEXT', reason: 'prompt has an empty [INST] ... [/INST] turn: the model needs some text' });
      }
    }
    numberField(input, 'max_tokens', '', { min: 1, max: limits(modelId).maxOutputTokens, integer: true }, issues);
    numberField(input, 'temperature', '', { min: 0, max: 1 }, issues);
    numberField(input, 'top_p', '', { min: 0, max: 1 }, issues);
    numberField(input, 'top_k', '', { min: 1, max: 200, integer: true }, issues);
    stringArrayField(input, 'stop', '', 10, issues);
    return issues;
  },

  maxOutputTokensOf(input) {
    return num(input.max_tokens);
  },

  inputTextOf(input) {
    return typeof input.prompt === 'string' ? input.prompt : '';
  },

  readOutput(output) {
    if (!isObject(output)) return { text: undefined };
    const first = Array.isArray(output.outputs) && isObject(output.outputs[0]) ? output.outputs[0] : undefined;
    const summary: ReturnType<ModelFamily['readOutput']> = { text: first ? str(first.text) : undefined };
    const stop = first ? str(first.stop_reason) : undefined;
    if (stop !== undefined) summary.stopReason = stop;
    return summary;
  },
};
