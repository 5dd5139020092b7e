/**
 * Amazon Titan Text (lite, express, premier) through InvokeModel (docs/bedrock.md §1.2):
 *
 *   {"inputText":"User: ...\nBot:","textGenerationConfig":{"maxTokenCount":512,"temperature":0.7,"topP":0.9,"stopSequences":[]}}
 *
 * Titan has no system field: a system prompt goes first in `inputText`, before the `User:` turn.
 * Output: `{inputTextTokenCount, results:[{tokenCount, outputText, completionReason}]}` (the docs
 * show both `FINISH` and `FINISHED`; the reason is passed on as given).
 */
import type { ModelFamily, ModelOptions, PromptText, ValidationIssue } from './family.js';
import { limitTable, matchableBaseId, type LimitRow } from './ids.js';
import {
  checkCommonOptions,
  hasText,
  isObject,
  num,
  numberField,
  str,
  strayKeys,
  stringArrayField,
  systemOf,
  textField,
} from './rules.js';

const LIMITS: readonly LimitRow[] = [
  { pattern: /^amazon\.titan-text-lite/, contextTokens: 4_096, maxOutputTokens: 4_096 },
  { pattern: /^amazon\.titan-text-express/, contextTokens: 8_192, maxOutputTokens: 8_192 },
  { pattern: /^amazon\.titan-text-premier/, contextTokens: 32_000, maxOutputTokens: 3_072 },
];
const FALLBACK = { contextTokens: 4_096, maxOutputTokens: 3_072 };
const DEFAULT_MAX_TOKENS = 512;
const MATCH = /^amazon\.titan-text-(?:lite|express|premier)/;

const KEYS: ReadonlySet<string> = new Set(['inputText', 'textGenerationConfig']);
const CONFIG_KEYS: ReadonlySet<string> = new Set(['maxTokenCount', 'temperature', 'topP', 'stopSequences']);

const limits = limitTable(LIMITS, FALLBACK);

export const titanText: ModelFamily = {
  name: 'titan-text',
  invocationType: 'InvokeModel',
  defaultMaxTokens: DEFAULT_MAX_TOKENS,

  matches(modelId) {
    const base = matchableBaseId(modelId);
    return base !== undefined && MATCH.test(base);
  },

  limits,

  buildInput(prompt: PromptText, options: ModelOptions) {
    const system = systemOf(prompt, options);
    const inputText = `${system !== undefined ? `${system}\n\n` : ''}User: ${prompt.prompt}\nBot:`;
    const config: Record<string, unknown> = { maxTokenCount: options.maxTokens ?? DEFAULT_MAX_TOKENS };
    if (options.temperature !== undefined) config.temperature = options.temperature;
    if (options.topP !== undefined) config.topP = options.topP;
    config.stopSequences = [];
    return { inputText, textGenerationConfig: config };
  },

  checkOptions(options) {
    return checkCommonOptions(options, { maxTokens: limits(options.modelId).maxOutputTokens, temperature: [0, 1], topP: [0, 1] });
  },

  validateInput(input, modelId) {
    const issues: ValidationIssue[] = [];
    strayKeys(input, KEYS, '', issues);
    textField(input, 'inputText', '', issues);
    const text = input.inputText;
    if (typeof text === 'string' && text.endsWith('\nBot:')) {
      // The User turn of the template built here: empty when the transcript was.
      let at = -1;
      if (text.startsWith('User:')) at = 5;
      else {
        const nl = text.indexOf('\nUser:');
        if (nl >= 0) at = nl + 6;
      }
      if (at >= 0 && at <= text.length - 5 && !hasText(text.slice(at, text.length - 5))) {
        issues.push({ code: 'E_MISSING_TEXT', reason: 'inputText has an empty User turn: the model needs some text' });
      }
    }
    const config = input.textGenerationConfig;
    if (config !== undefined) {
      if (!isObject(config)) {
        issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: 'textGenerationConfig must be an object' });
      } else {
        strayKeys(config, CONFIG_KEYS, 'textGenerationConfig', issues);
        const max = limits(modelId).maxOutputTokens;
        numberField(config, 'maxTokenCount', 'textGenerationConfig.', { min: 0, max, integer: true }, issues);
        numberField(config, 'temperature', 'textGenerationConfig.', { min: 0, max: 1 }, issues);
        numberField(config, 'topP', 'textGenerationConfig.', { min: 0, max: 1 }, issues);
        stringArrayField(config, 'stopSequences', 'textGenerationConfig.', 4, issues);
      }
    }
    return issues;
  },

  maxOutputTokensOf(input) {
    return isObject(input.textGenerationConfig) ? num(input.textGenerationConfig.maxTokenCount) : undefined;
  },

  inputTextOf(input) {
    return typeof input.inputText === 'string' ? input.inputText : '';
  },

  readOutput(output) {
    if (!isObject(output)) return { text: undefined };
    const first = Array.isArray(output.results) && isObject(output.results[0]) ? output.results[0] : undefined;
    const summary: ReturnType<ModelFamily['readOutput']> = { text: first ? str(first.outputText) : undefined };
    const stop = first ? str(first.completionReason) : undefined;
    if (stop !== undefined) summary.stopReason = stop;
    const i = num(output.inputTextTokenCount);
    const o = first ? num(first.tokenCount) : undefined;
    if (i !== undefined) summary.inputTokens = i;
    if (o !== undefined) summary.outputTokens = o;
    return summary;
  },
};
