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
 *
 * Structured fields (docs/structured.md): the JSON-only instruction after the prompt, inside the
 * `[INST]` turn; the text-completion body documents no `response_format`.
 */
import type { ModelFamily, ValidationIssue } from './family.js';
import { fieldsOf, firstFieldsOf, num, outputSummary, samplingOf, str, systemOf } from './fields.js';
import { limitTable, matchesBaseId, type LimitRow } from './ids.js';
import { is, refusals, withPromptSchema, withSettings } from './local-double.js';
import { isObject } from '../core/values.js';
import { withoutJsonInstruction } from '../schema/instruction.js';
import { checkOptionsFor, hasText, numberField, strayKeys, stringArrayField, textField, UNIT } from './rules.js';
import { checkStructuredOption, PROMPT_ONLY, promptOnlyText } from './structured.js';

/** Output maxima from the Bedrock Mistral text-completion page (max_tokens column). */
const LIMITS: readonly LimitRow[] = [
  { pattern: /^mistral\.mistral-7b/, contextTokens: 32_000, maxOutputTokens: 8_192 },
  { pattern: /^mistral\.mixtral-8x7b/, contextTokens: 32_000, maxOutputTokens: 4_096 },
  { pattern: /^mistral\.mistral-large-2402/, contextTokens: 32_000, maxOutputTokens: 8_192 },
  { pattern: /^mistral\.mistral-small-2402/, contextTokens: 32_000, maxOutputTokens: 8_192 },
];
const FALLBACK = { contextTokens: 32_000, maxOutputTokens: 4_096 };
const DEFAULT_MAX_TOKENS = 512;

const KEYS: ReadonlySet<string> = new Set(['prompt', 'max_tokens', 'stop', 'temperature', 'top_p', 'top_k']);

/** `<s>[INST] {system}\n\n{prompt} [/INST]` */
export function mistralPrompt(prompt: string, system?: string): string {
  return `<s>[INST] ${system !== undefined ? `${system}\n\n` : ''}${prompt} [/INST]`;
}

const limits = limitTable(LIMITS, FALLBACK);
const checkSampling = checkOptionsFor(limits);
const vias = () => PROMPT_ONLY;


// The local double's own description of the body (see local-double.ts), written apart from validateInput:
// the prompt is the model's text, `[INST]` turn and all; what is inside it is not the body's shape.
const LOCAL_REQUEST = is.object(
  {
    prompt: is.text,
    max_tokens: is.tokens(1),
    stop: is.list(is.string, { max: 10 }),
    temperature: is.unit,
    top_p: is.unit,
    top_k: is.integer(1, 200),
  },
  ['prompt'],
);

export const mistral: ModelFamily = {
  name: 'mistral',
  invocationType: 'InvokeModel',
  defaultMaxTokens: DEFAULT_MAX_TOKENS,
  matches: matchesBaseId(/^mistral\.(?:mistral-7b|mixtral-8x7b|mistral-large-2402|mistral-small-2402)/),
  limits,
  checkOptions: (options) => [...checkSampling(options), ...checkStructuredOption(options, 'mistral', vias)],
  structuredVias: vias,

  buildInput(prompt, options) {
    return {
      prompt: mistralPrompt(promptOnlyText('mistral', prompt, options), systemOf(prompt, options)),
      max_tokens: options.maxTokens ?? DEFAULT_MAX_TOKENS,
      ...samplingOf(options, 'top_p'),
    };
  },

  validateInput(input, modelId) {
    const issues: ValidationIssue[] = [];
    strayKeys(input, KEYS, '', issues);
    textField(input, 'prompt', '', issues);
    if (typeof input.prompt === 'string') {
      const open = input.prompt.indexOf('[INST]');
      const close = open < 0 ? -1 : input.prompt.indexOf('[/INST]', open);
      if (close >= 0 && !hasText(withoutJsonInstruction(input.prompt.slice(open + 6, close).trimEnd()))) {
        issues.push({ code: 'E_MISSING_TEXT', reason: 'prompt has an empty [INST] ... [/INST] turn: the model needs some text' });
      }
    }
    numberField(input, 'max_tokens', '', { min: 1, max: limits(modelId).maxOutputTokens, integer: true }, issues);
    numberField(input, 'temperature', '', UNIT, issues);
    numberField(input, 'top_p', '', UNIT, issues);
    numberField(input, 'top_k', '', { min: 1, max: 200, integer: true }, issues);
    stringArrayField(input, 'stop', '', 10, issues);
    return issues;
  },

  maxOutputTokensOf: (input) => num(input.max_tokens),
  inputTextOf: (input) => str(input.prompt) ?? '',

  readOutput(output) {
    const first = firstFieldsOf(fieldsOf(output).outputs);
    return outputSummary(first.text, first.stop_reason);
  },

  ownsOutput: (output) => isObject(output) && Array.isArray(output.outputs),

  local: {
    source: { url: 'https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-mistral-text-completion.html', checked: '2026-12-07' },
    checkRequest: (input, modelId) => refusals(input, LOCAL_REQUEST, limits(modelId).maxOutputTokens),
    claimsInput: (input) => typeof input.prompt === 'string' && input.prompt.includes('[INST]'),
    readRequest(input) {
      const prompt = typeof input.prompt === 'string' ? input.prompt : '';
      // The system prompt has no place of its own: it stays at the head of the [INST] turn.
      const inst = /^(?:<s>)?\s*\[INST\]\s*([\s\S]*?)\s*\[\/INST\]\s*$/.exec(prompt);
      return withPromptSchema(withSettings({ turns: [{ role: 'user', text: inst ? inst[1]! : prompt }] }, input.max_tokens, input.temperature, input.top_p));
    },
    writeOutput: (answer) => ({ outputs: [{ text: answer.text, stop_reason: answer.stop === 'end' ? 'stop' : 'length' }] }),
  },
};
