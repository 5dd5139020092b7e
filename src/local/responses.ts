/**
 * The local model's view of a record, family-neutral: which family a `modelInput` has when the job's
 * model id cannot tell, the request it makes, and the `modelOutput` that answers it. Each family's
 * `local` part (src/models/<family>.ts, docs/bedrock.md §1.2) knows its own shapes; this module asks
 * the registry and supplies what every answer shares (the stand-in's name, a stable id, the latency).
 */
import { createHash } from 'node:crypto';
import type { FamilyName } from '../models/family.js';
import { normalizeModelId } from '../models/ids.js';
import { FAMILIES } from '../models/index.js';
import type { ModelAnswer, ModelRequest } from '../models/local-double.js';

// The request and answer types belong to the family contract (models/ never imports local/).
export type { ChatTurn, ModelAnswer, ModelRequest } from '../models/local-double.js';

/** The request a `modelInput` of `family` makes. Never throws: unknown shapes give what can be read. */
export function requestOf(family: FamilyName, input: Record<string, unknown>): ModelRequest {
  return FAMILIES[family].local.readRequest(input);
}

/** All the text a request sends (for token counts). */
export function requestText(req: ModelRequest): string {
  return [req.system ?? '', ...req.turns.map((t) => t.text)].filter(Boolean).join('\n');
}

/** The id the local stand-in reports in place of the real model's: it says what it is. */
export function standInModelName(modelId: string): string {
  return `bedrock-batch-local-stand-in (for ${normalizeModelId(modelId)})`;
}

/** The `modelOutput` of `family` for an answer. */
export function modelOutputFor(
  family: FamilyName,
  modelId: string,
  answer: ModelAnswer,
  context: { recordId: string; latencyMs?: number },
): Record<string, unknown> {
  return FAMILIES[family].local.writeOutput(answer, {
    modelName: standInModelName(modelId),
    answerId: createHash('sha256').update(`${modelId}\n${context.recordId}`).digest('hex').slice(0, 24),
    latencyMs: Math.max(0, Math.round(context.latencyMs ?? 0)),
  });
}

/**
 * The family of a `modelInput` judged by its shape, for models the id alone cannot place (custom
 * models, application inference profiles): the first family in the registry that claims it.
 * Undefined when the shape is not one we know.
 */
export function familyOfShape(input: Record<string, unknown>): FamilyName | undefined {
  return Object.values(FAMILIES).find((f) => f.local.claimsInput?.(input))?.name;
}
