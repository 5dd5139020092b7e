/**
 * Read a `modelOutput` into the normalised summary (text, stop reason, input and output tokens)
 * with the model family's own reader (src/models/*.ts `readOutput`). When the family is not known,
 * or its reader finds no text in a shape that belongs to another family (a run prepared for one
 * shape and submitted as another), the shape decides.
 */
import { FAMILIES } from '../models/index.js';
import type { FamilyName, ModelFamily, ModelOutputSummary } from '../models/family.js';
import { isObject } from '../models/rules.js';

/** The family whose response shape `output` has, if any (docs/bedrock.md §1.2). */
export function familyOfOutput(output: unknown): FamilyName | undefined {
  if (!isObject(output)) return undefined;
  if (Array.isArray(output.content) && (output.type === 'message' || 'stop_reason' in output)) return 'anthropic';
  if (isObject(output.output) && isObject(output.output.message)) return 'metrics' in output ? 'converse' : 'nova';
  if (Array.isArray(output.results) && ('inputTextTokenCount' in output || isObject(output.results[0]))) return 'titan-text';
  if (typeof output.generation === 'string' || 'generation_token_count' in output) return 'llama';
  if (Array.isArray(output.outputs)) return 'mistral';
  return undefined;
}

/** The normalised summary of one `modelOutput`; never throws. */
export function readModelOutput(output: unknown, family?: ModelFamily): ModelOutputSummary {
  if (family) {
    const summary = family.readOutput(output);
    if (summary.text !== undefined) return summary;
    const other = familyOfOutput(output);
    if (other === undefined || other === family.name || (other === 'nova' && family.name === 'converse') || (other === 'converse' && family.name === 'nova')) {
      return summary;
    }
    return FAMILIES[other].readOutput(output);
  }
  const name = familyOfOutput(output);
  return name ? FAMILIES[name].readOutput(output) : { text: undefined };
}
