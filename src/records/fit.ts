/**
 * The token budget a call's rendered prompt may take so that its record fits the model's context
 * (`--fit truncate`, docs/long-calls.md):
 *
 *   budget = (context − output budget − the request's other input) × (1 − FIT_MARGIN)
 *
 * where the other input is what the record sends besides the prompt: the system prompt, the
 * JSON-only instruction of a schema run, and the schema itself when it travels as a tool or an
 * output format (Bedrock counts those as input tokens). Every count is `estimateTokens`' rough one
 * (src/records/tokens.ts), which leans high for non-Latin scripts; the margin covers tokenizers that
 * cut English finer than 4 characters a token. The validate stage still checks every record against
 * the whole context, so an estimate that misses is a reject, never a job that fails.
 */
import type { ModelFamily, ModelOptions } from '../models/family.js';
import { estimateTokens, structuredTokens } from './tokens.js';

/** The share of the room left for the prompt that is kept free for the estimate's error. */
export const FIT_MARGIN = 0.1;

const PROBE = 'x';

/** The budget (see the module comment); 0 or less when the output budget alone fills the context. */
export function fitBudget(family: ModelFamily, options: ModelOptions): number {
  const { contextTokens } = family.limits(options.modelId);
  const output = options.maxTokens ?? family.defaultMaxTokens;
  // the request's text but the prompt, without a schema (counted once, as the records count it)
  const { structured, ...plain } = options;
  const input = family.buildInput({ prompt: PROBE, ...(options.system !== undefined ? { system: options.system } : {}) }, plain);
  const other = estimateTokens(family.inputTextOf(input)) - estimateTokens(PROBE) + structuredTokens(structured);
  return Math.floor((contextTokens - output - Math.max(0, other)) * (1 - FIT_MARGIN));
}
