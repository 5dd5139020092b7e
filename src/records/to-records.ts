/**
 * The model-family stage: each PromptItem becomes a PreparedRecord with the chosen model's
 * `modelInput`, an estimated input-token count and its output-token budget. The recordId is left
 * empty for the ids stage; serialisation and limits are the validate stage's. Other items
 * (rejects above all) pass through unchanged, in order.
 */
import { BatchError } from '../errors.js';
import { stepStream, type Step } from '../core/step.js';
import { familyFor } from '../models/index.js';
import type { FamilyName, InvocationType, ModelFamily, ModelOptions } from '../models/family.js';
import { hasText } from '../models/rules.js';
import { estimateTokens, structuredTokens } from './tokens.js';
import { reject, type PrepareItem, type PreparedRecord } from './types.js';

export interface ToRecordsOptions extends ModelOptions {
  /** Force a model family (needed for custom-model and application-inference-profile ARNs). */
  family?: FamilyName;
  /** `Converse` builds Converse-shaped records for any model (the job must use the same type). */
  invocationType?: InvocationType;
}

/** Resolve the family and check the options once: every problem in one E_BAD_OPTION. */
export function resolveModel(options: ToRecordsOptions): ModelFamily {
  if (options === null || typeof options !== 'object') throw new BatchError('E_BAD_OPTION', 'toRecords needs an options object with modelId');
  const family = familyFor(options.modelId, { family: options.family, invocationType: options.invocationType });
  const issues = family.checkOptions(options);
  if (issues.length > 0) {
    throw new BatchError('E_BAD_OPTION', `bad model options for ${options.modelId} (${family.name}): ${issues.map((i) => i.reason).join('; ')}`, {
      hint: 'fix the options named above (see --help for each)',
    });
  }
  return family;
}

/** PromptItem → PreparedRecord (recordId `''`); a blank prompt becomes an E_MISSING_TEXT reject. */
export function toRecords(options: ToRecordsOptions): Step<PrepareItem, PrepareItem> {
  const family = resolveModel(options);
  const modelOptions: ModelOptions = { ...options };
  const maxOutputTokens = options.maxTokens ?? family.defaultMaxTokens;
  const defaultSystem = options.system;
  const defaultSystemTokens = estimateTokens(defaultSystem);
  const schemaTokens = structuredTokens(options.structured);

  return {
    write(item, emit) {
      if (item.kind !== 'prompt') {
        emit(item);
        return;
      }
      const prompt = item.prompt;
      if (typeof prompt !== 'string' || prompt.length === 0 || !hasText(prompt)) {
        emit(reject(item, 'model', 'E_MISSING_TEXT', 'the prompt is empty: nothing to send to the model; check the transcript column or the template'));
        return;
      }
      const system = item.system;
      const modelInput = family.buildInput(system === undefined ? { prompt } : { prompt, system }, modelOptions);
      // A literal (not a spread) keeps one object shape for every record: cheaper on the hot path.
      const record: PreparedRecord = {
        kind: 'record',
        file: item.file,
        line: item.line,
        key: item.key,
        recordId: '',
        modelInput,
        inputTokens: estimateTokens(prompt) + (system === undefined ? defaultSystemTokens : estimateTokens(system)) + schemaTokens,
        maxOutputTokens,
      };
      if (item.passthrough !== undefined) record.passthrough = item.passthrough;
      if (item.redacted !== undefined) record.redacted = item.redacted;
      if (item.truncated !== undefined) record.truncated = item.truncated;
      emit(record);
    },
  };
}

/** `toRecords` as an object-mode Transform. */
export function toRecordsStream(options: ToRecordsOptions) {
  return stepStream(toRecords(options));
}
