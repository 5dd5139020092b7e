/**
 * Model ids as Bedrock accepts them for a batch job (docs/bedrock.md §1.3): a base id
 * (`anthropic.claude-3-haiku-20240307-v1:0`), a cross-region inference profile id
 * (`us.anthropic...`, `eu.`, `apac.`, `global.`, ...), a foundation-model ARN, an inference-profile
 * ARN, an application-inference-profile ARN or a custom-model ARN. Families and limit tables work
 * on the base id; these helpers get it out of the other forms.
 */

export type ModelIdKind =
  | 'base'
  | 'profile'
  | 'foundation-model-arn'
  | 'inference-profile-arn'
  | 'application-inference-profile-arn'
  | 'custom-model-arn'
  | 'other';

export interface ParsedModelId {
  /** The id as given. */
  id: string;
  kind: ModelIdKind;
  /**
   * The base model id (`anthropic.claude-3-haiku-20240307-v1:0`) when the form carries one: base
   * ids, profile ids and ARNs of both; for custom-model ARNs the base-model part embedded in the
   * ARN. Undefined for application-inference-profile ARNs and unrecognised forms (opaque ids).
   */
  baseId: string | undefined;
  /** The cross-region profile prefix (`us`, `eu`, `apac`, `global`, ...), when there is one. */
  profilePrefix?: string;
}

/** Providers whose ids may follow a region prefix; used to tell `us.amazon.nova-...` from a base id. */
const PROVIDERS =
  'anthropic|amazon|meta|mistral|cohere|ai21|deepseek|openai|qwen|writer|twelvelabs|stability|google|moonshot|minimax|nvidia|luma';
const PROFILE_ID = new RegExp(`^([a-z]{2,6}(?:-[a-z]{2,5})?)\\.((?:${PROVIDERS})\\..+)$`);
const ARN = /^arn:aws(?:-[a-z-]+)?:bedrock:([a-z0-9-]*):([0-9]{12})?:([a-z-]+)\/(.+)$/;

/** Take a model id apart (see the module comment for the forms). Never throws. */
export function parseModelId(id: string): ParsedModelId {
  const arn = ARN.exec(id);
  if (arn) {
    const resource = arn[3]!;
    const rest = arn[4]!;
    if (resource === 'foundation-model') return { id, kind: 'foundation-model-arn', baseId: rest };
    if (resource === 'inference-profile') {
      const p = PROFILE_ID.exec(rest);
      return p
        ? { id, kind: 'inference-profile-arn', baseId: p[2]!, profilePrefix: p[1]! }
        : { id, kind: 'inference-profile-arn', baseId: rest };
    }
    if (resource === 'application-inference-profile') {
      return { id, kind: 'application-inference-profile-arn', baseId: undefined };
    }
    if (resource === 'custom-model') {
      // custom-model/<base model id>/<12 chars>, per the API pattern; the base part is a hint only.
      const slash = rest.lastIndexOf('/');
      return { id, kind: 'custom-model-arn', baseId: slash > 0 ? rest.slice(0, slash) : undefined };
    }
    return { id, kind: 'other', baseId: undefined };
  }
  const p = PROFILE_ID.exec(id);
  if (p) return { id, kind: 'profile', baseId: p[2]!, profilePrefix: p[1]! };
  if (/^[a-z0-9-]{1,63}\.[a-z0-9-]/.test(id)) return { id, kind: 'base', baseId: id };
  return { id, kind: 'other', baseId: undefined };
}

/**
 * The base model id for table lookups: ARN and region prefixes stripped
 * (`arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0` and
 * `us.amazon.nova-pro-v1:0` both give `amazon.nova-pro-v1:0`). Opaque ids come back unchanged.
 */
export function normalizeModelId(id: string): string {
  return parseModelId(id).baseId ?? id;
}

/**
 * The base id a family may claim automatically: undefined for custom-model and
 * application-inference-profile ARNs, whose model cannot be told from the id (pass the family).
 */
export function matchableBaseId(id: string): string | undefined {
  const parsed = parseModelId(id);
  if (parsed.kind === 'custom-model-arn' || parsed.kind === 'application-inference-profile-arn') return undefined;
  return parsed.baseId;
}

/** A family's `matches`: the base id the family may claim (see `matchableBaseId`) fits `pattern`. */
export function matchesBaseId(pattern: RegExp): (modelId: string) => boolean {
  return (modelId) => {
    const base = matchableBaseId(modelId);
    return base !== undefined && pattern.test(base);
  };
}

/** One row of a family's limit table: the first row whose pattern matches the base id wins. */
export interface LimitRow {
  pattern: RegExp;
  contextTokens: number;
  maxOutputTokens: number;
}

/**
 * A cached lookup of a family's limit table (limits are asked for on every record, the model id
 * rarely changes): the first matching row, else `fallback`.
 */
export function limitTable(
  rows: readonly LimitRow[],
  fallback: { contextTokens: number; maxOutputTokens: number },
): (modelId: string) => { contextTokens: number; maxOutputTokens: number } {
  const cache = new Map<string, { contextTokens: number; maxOutputTokens: number }>();
  return (modelId) => {
    let hit = cache.get(modelId);
    if (hit) return hit;
    const base = normalizeModelId(modelId);
    const row = rows.find((r) => r.pattern.test(base));
    hit = Object.freeze(row ? { contextTokens: row.contextTokens, maxOutputTokens: row.maxOutputTokens } : { ...fallback });
    if (cache.size < 64) cache.set(modelId, hit);
    return hit;
  };
}
