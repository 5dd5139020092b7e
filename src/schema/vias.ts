/**
 * Which way a record asks for structured fields (docs/structured.md, "Which way, per model"): the
 * strongest the family and model take, or the one the user names with `--schema-via` when the
 * model takes it. The table itself is each family's `structuredVias` (src/models/structured.ts
 * holds the model facts), so prepare's checkOptions and this choice never disagree.
 */
import { BatchError } from '../errors.js';
import type { FamilyName, ModelFamily, StructuredVia } from '../models/family.js';
import { FAMILIES } from '../models/index.js';
import { viaRefusal } from '../models/structured.js';

function familyOf(family: FamilyName | ModelFamily): ModelFamily {
  if (typeof family === 'object' && family !== null) return family;
  if (typeof family === 'string' && Object.hasOwn(FAMILIES, family)) return FAMILIES[family];
  throw new BatchError('E_BAD_OPTION', `family ${JSON.stringify(family)} is unknown`, { hint: `use one of: ${Object.keys(FAMILIES).join(', ')}` });
}

/** The ways `family` asks `modelId` for structured fields, strongest first (never empty: `prompt` works everywhere). */
export function structuredVias(family: FamilyName | ModelFamily, modelId: string): StructuredVia[] {
  return [...familyOf(family).structuredVias(modelId)];
}

/**
 * The way to use: the strongest `structuredVias` gives, or `override` when the model takes it.
 * Throws E_BAD_OPTION naming the model and the ways it takes (for Converse and `tool`, the 400 that
 * Bedrock answers such records with).
 */
export function chooseVia(family: FamilyName | ModelFamily, modelId: string, override?: StructuredVia | string): StructuredVia {
  const f = familyOf(family);
  const vias = f.structuredVias(modelId);
  if (override === undefined) return vias[0]!;
  if (vias.includes(override as StructuredVia)) return override as StructuredVia;
  throw new BatchError('E_BAD_OPTION', viaRefusal(f.name, modelId, String(override), vias), {
    hint: `leave --schema-via out to use the strongest way (${vias[0]}), or see docs/structured.md for the ways of each model`,
  });
}
