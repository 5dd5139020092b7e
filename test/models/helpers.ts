/** What the family tests share: a family's validation bound to one model id, read as codes or reasons. */
import type { ModelFamily, ValidationIssue } from '../../src/models/family.js';

/** The codes of a list of issues, in order. */
export const codes = (issues: readonly ValidationIssue[]) => issues.map((i) => i.code);

/** `family` checking bodies for `modelId`: a valid body to vary, and what validation says of a body. */
export function checking(family: ModelFamily, modelId: string) {
  return {
    /** A fresh valid body for the prompt `hello`, free to change. */
    good: () => family.buildInput({ prompt: 'hello' }, { modelId }) as Record<string, any>,
    issues: (input: Record<string, unknown>) => family.validateInput(input, modelId),
    codesOf: (input: Record<string, unknown>) => codes(family.validateInput(input, modelId)),
    /** The first issue's reason (undefined when the body is valid). */
    reason: (input: Record<string, unknown>) => family.validateInput(input, modelId)[0]?.reason,
  };
}
