/**
 * The pieces the model families share to build a `modelInput` and read a `modelOutput`: the system
 * prompt to send, the sampling options under a family's own keys, text joined from content blocks,
 * and the summary made of the fields an output holds.
 */
import type { ModelOptions, ModelOutputSummary } from './family.js';
import { isObject } from '../core/values.js';
import { hasText } from './rules.js';

/** The system prompt to send: the per-record one, else the option; blank counts as none. */
export function systemOf(prompt: { system?: string | undefined }, options: ModelOptions): string | undefined {
  const system = prompt.system ?? options.system;
  return system !== undefined && system.length > 0 && hasText(system) ? system : undefined;
}

/** The sampling options that are set (`temperature`, then topP under the family's key), to spread into a body. */
export function samplingOf(options: ModelOptions, topPKey: 'topP' | 'top_p'): Record<string, number> {
  const sampling: Record<string, number> = {};
  if (options.temperature !== undefined) sampling.temperature = options.temperature;
  if (options.topP !== undefined) sampling[topPKey] = options.topP;
  return sampling;
}

/** Join the `text` of blocks `[{text}]` or `[{type:'text', text}]`; undefined when none holds text. */
export function joinTexts(blocks: unknown): string | undefined {
  if (!Array.isArray(blocks)) return undefined;
  let out: string | undefined;
  for (const block of blocks) {
    if (isObject(block) && typeof block.text === 'string' && (block.type === undefined || block.type === 'text')) {
      out = out === undefined ? block.text : out + block.text;
    }
  }
  return out;
}

/** A finite number or undefined. */
export function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** A string or undefined. */
export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** The object itself, or an empty one for anything else (to read optional nested fields). */
export function fieldsOf(value: unknown): Record<string, unknown> {
  return isObject(value) ? value : {};
}

/** The fields of a list's first item (`results[0]`, `outputs[0]`), or none. */
export function firstFieldsOf(list: unknown): Record<string, unknown> {
  return fieldsOf(Array.isArray(list) ? list[0] : undefined);
}

/** The summary of an output from the fields it holds; a field of the wrong type is left out. */
export function outputSummary(text: unknown, stopReason: unknown, inputTokens?: unknown, outputTokens?: unknown): ModelOutputSummary {
  const summary: ModelOutputSummary = { text: str(text) };
  const stop = str(stopReason);
  const i = num(inputTokens);
  const o = num(outputTokens);
  if (stop !== undefined) summary.stopReason = stop;
  if (i !== undefined) summary.inputTokens = i;
  if (o !== undefined) summary.outputTokens = o;
  return summary;
}
