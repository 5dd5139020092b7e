/**
 * Read a `modelOutput` into the normalised summary (text, stop reason, input and output tokens)
 * with the model family's own reader (src/models/*.ts `readOutput`). When the family is not known,
 * or its reader finds no text in a shape that belongs to another family (a run prepared for one
 * shape and submitted as another), the shape decides: the registry's families claim their own.
 */
import type { FamilyName, ModelFamily, ModelOutputSummary } from '../models/family.js';
import { FAMILIES } from '../models/index.js';

/** The family whose response shape `output` has, if any (docs/bedrock.md §1.2). */
export function familyOfOutput(output: unknown): FamilyName | undefined {
  return Object.values(FAMILIES).find((f) => f.ownsOutput(output))?.name;
}

/** The normalised summary of one `modelOutput`; never throws. */
export function readModelOutput(output: unknown, family?: ModelFamily): ModelOutputSummary {
  if (family) {
    const summary = family.readOutput(output);
    if (summary.text !== undefined) return summary;
    const other = familyOfOutput(output);
    if (other === undefined || other === family.name || other === family.sharesOutputShapeWith) return summary;
    return FAMILIES[other].readOutput(output);
  }
  const name = familyOfOutput(output);
  return name ? FAMILIES[name].readOutput(output) : { text: undefined };
}
