/**
 * Amazon Titan Text (lite, express, premier) through InvokeModel (docs/bedrock.md §1.2):
 *
 *   {"inputText":"User: ...\nBot:","textGenerationConfig":{"maxTokenCount":512,"temperature":0.7,"topP":0.9,"stopSequences":[]}}
 *
 * Titan has no system field: a system prompt goes first in `inputText`, before the `User:` turn.
 * Output: `{inputTextTokenCount, results:[{tokenCount, outputText, completionReason}]}` (the docs
 * show both `FINISH` and `FINISHED`; the reason is passed on as given).
 *
 * Structured fields (docs/structured.md): the JSON-only instruction after the prompt, in the `User:`
 * turn; Titan has no tools and no structured outputs.
 */
import type { ModelFamily, ValidationIssue } from './family.js';
import { fieldsOf, firstFieldsOf, num, outputSummary, samplingOf, str, systemOf } from './fields.js';
import { limitTable, matchesBaseId, type LimitRow } from './ids.js';
import { is, objectOr, refusals, withPromptSchema, withSettings, type ModelRequest } from './local-double.js';
import { isObject } from '../core/values.js';
import { withoutJsonInstruction } from '../schema/instruction.js';
import { checkOptionsFor, hasText, nestedObject, numberField, strayKeys, stringArrayField, textField, UNIT } from './rules.js';
import { checkStructuredOption, PROMPT_ONLY, promptOnlyText } from './structured.js';

const LIMITS: readonly LimitRow[] = [
  { pattern: /^amazon\.titan-text-lite/, contextTokens: 4_096, maxOutputTokens: 4_096 },
  { pattern: /^amazon\.titan-text-express/, contextTokens: 8_192, maxOutputTokens: 8_192 },
  { pattern: /^amazon\.titan-text-premier/, contextTokens: 32_000, maxOutputTokens: 3_072 },
];
const FALLBACK = { contextTokens: 4_096, maxOutputTokens: 3_072 };
const DEFAULT_MAX_TOKENS = 512;

const KEYS: ReadonlySet<string> = new Set(['inputText', 'textGenerationConfig']);
const CONFIG_KEYS: ReadonlySet<string> = new Set(['maxTokenCount', 'temperature', 'topP', 'stopSequences']);

const limits = limitTable(LIMITS, FALLBACK);
const checkSampling = checkOptionsFor(limits);
const vias = () => PROMPT_ONLY;


// The local double's own description of the body (see local-double.ts), written apart from validateInput:
// inputText is the model's text, `User:` and `Bot:` turns and all; what is inside it is not the body's shape.
const LOCAL_REQUEST = is.object(
  {
    inputText: is.text,
    textGenerationConfig: is.object({ maxTokenCount: is.tokens(0), temperature: is.unit, topP: is.unit, stopSequences: is.list(is.string, { max: 4 }) }),
  },
  ['inputText'],
);

export const titanText: ModelFamily = {
  name: 'titan-text',
  invocationType: 'InvokeModel',
  defaultMaxTokens: DEFAULT_MAX_TOKENS,
  matches: matchesBaseId(/^amazon\.titan-text-(?:lite|express|premier)/),
  limits,
  checkOptions: (options) => [...checkSampling(options), ...checkStructuredOption(options, 'titan-text', vias)],
  structuredVias: vias,

  buildInput(prompt, options) {
    const system = systemOf(prompt, options);
    return {
      inputText: `${system !== undefined ? `${system}\n\n` : ''}User: ${promptOnlyText('titan-text', prompt, options)}\nBot:`,
      textGenerationConfig: { maxTokenCount: options.maxTokens ?? DEFAULT_MAX_TOKENS, ...samplingOf(options, 'topP'), stopSequences: [] },
    };
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
      if (at >= 0 && at <= text.length - 5 && !hasText(withoutJsonInstruction(text.slice(at, text.length - 5)))) {
        issues.push({ code: 'E_MISSING_TEXT', reason: 'inputText has an empty User turn: the model needs some text' });
      }
    }
    const config = nestedObject(input, 'textGenerationConfig', CONFIG_KEYS, issues);
    if (config) {
      numberField(config, 'maxTokenCount', 'textGenerationConfig.', { min: 0, max: limits(modelId).maxOutputTokens, integer: true }, issues);
      numberField(config, 'temperature', 'textGenerationConfig.', UNIT, issues);
      numberField(config, 'topP', 'textGenerationConfig.', UNIT, issues);
      stringArrayField(config, 'stopSequences', 'textGenerationConfig.', 4, issues);
    }
    return issues;
  },

  maxOutputTokensOf: (input) => num(fieldsOf(input.textGenerationConfig).maxTokenCount),
  inputTextOf: (input) => str(input.inputText) ?? '',

  readOutput(output) {
    const fields = fieldsOf(output);
    const first = firstFieldsOf(fields.results);
    return outputSummary(first.outputText, first.completionReason, fields.inputTextTokenCount, first.tokenCount);
  },

  ownsOutput: (output) => isObject(output) && Array.isArray(output.results) && ('inputTextTokenCount' in output || isObject(output.results[0])),

  local: {
    source: { url: 'https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-titan-text.html', checked: '2026-12-07' },
    checkRequest: (input, modelId) => refusals(input, LOCAL_REQUEST, limits(modelId).maxOutputTokens),
    claimsInput: (input) => typeof input.inputText === 'string',
    readRequest(input) {
      const text = typeof input.inputText === 'string' ? input.inputText : '';
      const turn = /^([\s\S]*?)User: ([\s\S]*?)\nBot:\s*$/.exec(text);
      const req: ModelRequest = { turns: [{ role: 'user', text: turn ? turn[2]! : text }] };
      if (turn && turn[1]!.trim()) req.system = turn[1]!.trim();
      const config = objectOr(input.textGenerationConfig);
      return withPromptSchema(withSettings(req, config.maxTokenCount, config.temperature, config.topP));
    },
    writeOutput: (answer) => ({
      inputTextTokenCount: answer.inputTokens,
      results: [{ tokenCount: answer.outputTokens, outputText: answer.text, completionReason: answer.stop === 'end' ? 'FINISH' : 'LENGTH' }],
    }),
  },
};
