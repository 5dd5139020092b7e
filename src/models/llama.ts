/**
 * Meta Llama 3, 3.1, 3.2, 3.3 and 4 Instruct through InvokeModel (docs/bedrock.md §1.2):
 *
 *   {"prompt":"<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n...<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
 *    "max_gen_len":512,"temperature":0.5,"top_p":0.9}
 *
 * The prompt is Meta's instruct template, with a system turn first when a system prompt is given.
 * Llama 4 models have their own special tokens (`<|header_start|>`, `<|header_end|>`, `<|eot|>`,
 * per Meta's Llama 4 model card); Llama 3 tokens would reach them as plain text, so they get theirs.
 * Output: `{generation, prompt_token_count, generation_token_count, stop_reason}`.
 *
 * Structured fields (docs/structured.md): the JSON-only instruction after the prompt, in the user
 * turn; Meta's InvokeModel body on Bedrock documents no `response_format`.
 */
import type { ModelFamily, ValidationIssue } from './family.js';
import { fieldsOf, num, outputSummary, samplingOf, str, systemOf } from './fields.js';
import { limitTable, matchesBaseId, normalizeModelId, type LimitRow } from './ids.js';
import { is, refusals, withPromptSchema, withSettings, type ModelRequest } from './local-double.js';
import { isObject } from '../core/values.js';
import { withoutJsonInstruction } from '../schema/instruction.js';
import { checkOptionsFor, hasText, numberField, strayKeys, textField, UNIT } from './rules.js';
import { checkStructuredOption, PROMPT_ONLY, promptOnlyText } from './structured.js';

/** max_gen_len is capped at 2048 on Bedrock for the Llama 3 line; Llama 4's cap is [UNCONFIRMED], kept at 2048. */
const LIMITS: readonly LimitRow[] = [
  { pattern: /^meta\.llama3-(?:8b|70b)/, contextTokens: 8_192, maxOutputTokens: 2_048 },
  { pattern: /^meta\.llama3-[123]-/, contextTokens: 128_000, maxOutputTokens: 2_048 },
  { pattern: /^meta\.llama4-scout/, contextTokens: 3_500_000, maxOutputTokens: 2_048 },
  { pattern: /^meta\.llama4-maverick/, contextTokens: 1_000_000, maxOutputTokens: 2_048 },
];
const FALLBACK = { contextTokens: 8_192, maxOutputTokens: 2_048 };
const DEFAULT_MAX_TOKENS = 512;
const LLAMA4 = /^meta\.llama4/;

const KEYS: ReadonlySet<string> = new Set(['prompt', 'max_gen_len', 'temperature', 'top_p', 'images']);

interface Template {
  begin: string;
  header: (role: string) => string;
  eot: string;
}
const LLAMA3: Template = {
  begin: '<|begin_of_text|>',
  header: (role) => `<|start_header_id|>${role}<|end_header_id|>\n\n`,
  eot: '<|eot_id|>',
};
const LLAMA4_TEMPLATE: Template = {
  begin: '<|begin_of_text|>',
  header: (role) => `<|header_start|>${role}<|header_end|>\n\n`,
  eot: '<|eot|>',
};

/** Meta's instruct prompt for one user turn (and an optional system turn), ending on the assistant header. */
export function llamaPrompt(modelId: string, prompt: string, system?: string): string {
  const t = LLAMA4.test(normalizeModelId(modelId)) ? LLAMA4_TEMPLATE : LLAMA3;
  const sys = system !== undefined ? `${t.header('system')}${system}${t.eot}` : '';
  return `${t.begin}${sys}${t.header('user')}${prompt}${t.eot}${t.header('assistant')}`;
}

/** The user turn's text inside a templated prompt, or undefined when the prompt has no user header. */
function userTurn(prompt: string): string | undefined {
  for (const t of [LLAMA3, LLAMA4_TEMPLATE]) {
    const head = t.header('user');
    const at = prompt.indexOf(head);
    if (at < 0) continue;
    const start = at + head.length;
    const end = prompt.indexOf(t.eot, start);
    return prompt.slice(start, end < 0 ? prompt.length : end);
  }
  return undefined;
}

/** Any turn of either template, for the local double (its own reading, not `userTurn`). */
const TEMPLATE_TURN = /<\|(?:start_header_id|header_start)\|>(system|user|assistant)<\|(?:end_header_id|header_end)\|>\n\n([\s\S]*?)(?=<\|(?:eot_id|eot)\|>|$)/g;

const limits = limitTable(LIMITS, FALLBACK);
const checkSampling = checkOptionsFor(limits);
const vias = () => PROMPT_ONLY;


// The local double's own description of the body (see local-double.ts), written apart from validateInput:
// the prompt is the model's text, template and all; what is inside it is not the body's shape.
const LOCAL_REQUEST = is.object(
  { prompt: is.text, max_gen_len: is.tokens(1), temperature: is.unit, top_p: is.unit, images: is.list(is.string) },
  ['prompt'],
);

export const llama: ModelFamily = {
  name: 'llama',
  invocationType: 'InvokeModel',
  defaultMaxTokens: DEFAULT_MAX_TOKENS,
  matches: matchesBaseId(/^meta\.llama[34]/),
  limits,
  checkOptions: (options) => [...checkSampling(options), ...checkStructuredOption(options, 'llama', vias)],
  structuredVias: vias,

  buildInput(prompt, options) {
    return {
      prompt: llamaPrompt(options.modelId, promptOnlyText('llama', prompt, options), systemOf(prompt, options)),
      max_gen_len: options.maxTokens ?? DEFAULT_MAX_TOKENS,
      ...samplingOf(options, 'top_p'),
    };
  },

  validateInput(input, modelId) {
    const issues: ValidationIssue[] = [];
    strayKeys(input, KEYS, '', issues);
    textField(input, 'prompt', '', issues);
    if (typeof input.prompt === 'string') {
      const user = userTurn(input.prompt);
      if (user !== undefined && !hasText(withoutJsonInstruction(user))) {
        issues.push({ code: 'E_MISSING_TEXT', reason: 'prompt has an empty user turn: the model needs some text' });
      }
    }
    numberField(input, 'max_gen_len', '', { min: 1, max: limits(modelId).maxOutputTokens, integer: true }, issues);
    numberField(input, 'temperature', '', UNIT, issues);
    numberField(input, 'top_p', '', UNIT, issues);
    if (input.images !== undefined && (!Array.isArray(input.images) || input.images.some((s) => typeof s !== 'string'))) {
      issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: 'images must be an array of base64 strings' });
    }
    return issues;
  },

  maxOutputTokensOf: (input) => num(input.max_gen_len),
  inputTextOf: (input) => str(input.prompt) ?? '',

  readOutput(output) {
    const fields = fieldsOf(output);
    return outputSummary(fields.generation, fields.stop_reason, fields.prompt_token_count, fields.generation_token_count);
  },

  ownsOutput: (output) => isObject(output) && (typeof output.generation === 'string' || 'generation_token_count' in output),

  local: {
    source: { url: 'https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-meta.html', checked: '2026-12-07' },
    checkRequest: (input, modelId) => refusals(input, LOCAL_REQUEST, limits(modelId).maxOutputTokens),
    /** Any prompt string but a Mistral `[INST]` turn. */
    claimsInput: (input) => typeof input.prompt === 'string' && !input.prompt.includes('[INST]'),
    readRequest(input) {
      const prompt = typeof input.prompt === 'string' ? input.prompt : '';
      const req: ModelRequest = { turns: [] };
      for (const [, role, text] of prompt.matchAll(TEMPLATE_TURN)) {
        if (role === 'system') req.system = text!;
        else if (text!.length > 0 || role === 'user') req.turns.push({ role: role as 'user' | 'assistant', text: text! });
      }
      if (req.turns.length === 0) req.turns.push({ role: 'user', text: prompt });
      return withPromptSchema(withSettings(req, input.max_gen_len, input.temperature, input.top_p));
    },
    writeOutput: (answer) => ({
      generation: answer.text,
      prompt_token_count: answer.inputTokens,
      generation_token_count: answer.outputTokens,
      stop_reason: answer.stop === 'end' ? 'stop' : 'length',
    }),
  },
};
