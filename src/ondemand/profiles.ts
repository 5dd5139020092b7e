/**
 * Which id to call a model by on demand (docs/on-demand.md, "Inference profiles"). Some models are
 * not served on demand under their base id, in any Region or in some: the runtime answers a
 * ValidationException "Invocation of model ID ... with on-demand throughput isn't supported. Retry
 * your request with the ID or ARN of an inference profile that contains this model." For those the
 * call goes to the system-defined cross-Region inference profile of the caller's geography: the base
 * id with a `us.`, `eu.`, `apac.` or `us-gov.` prefix (`global.` where the model has one and the
 * Region has no geographic profile).
 *
 * The tables below are dated data with their sources in docs/on-demand.md; a model missing from
 * them is called by the id given, and if the service refuses it that way the runner stops with an
 * error naming the profile id to pass instead (`profileFor`). Ids that already name a profile, and
 * ARNs, are used as they are.
 */
import { PROFILE_PREFIXES } from '../bedrock/batch-models.js';

/** The day the sources of these tables were read. */
export const PROFILES_CHECKED = '2026-12-08';

/** Models called on demand only through an inference profile, in every Region. */
export const PROFILE_ONLY: ReadonlySet<string> = new Set([
  'anthropic.claude-3-7-sonnet-20250219-v1:0',
  'anthropic.claude-sonnet-4-20250514-v1:0',
  'anthropic.claude-opus-4-20250514-v1:0',
  'anthropic.claude-opus-4-1-20250805-v1:0',
  'anthropic.claude-sonnet-4-5-20250929-v1:0',
  'anthropic.claude-haiku-4-5-20251001-v1:0',
  'anthropic.claude-opus-4-5-20251101-v1:0',
  'amazon.nova-premier-v1:0',
  'amazon.nova-2-lite-v1:0',
]);

/** Models served on demand by their base id only in these Regions, elsewhere through a profile. */
export const IN_REGION_ONLY: ReadonlyMap<string, readonly string[]> = new Map([
  ['anthropic.claude-3-5-sonnet-20241022-v2:0', ['us-west-2']],
  ['anthropic.claude-3-5-haiku-20241022-v1:0', ['us-west-2']],
]);

/** Models with a `global.` profile, used where the Region has no geographic one. */
export const GLOBAL_PROFILES: ReadonlySet<string> = new Set([
  'anthropic.claude-sonnet-4-20250514-v1:0',
  'anthropic.claude-sonnet-4-5-20250929-v1:0',
  'anthropic.claude-haiku-4-5-20251001-v1:0',
  'anthropic.claude-opus-4-5-20251101-v1:0',
]);

/** The geographic profile prefix for a Region (`us-east-1` → `us`), or undefined when none is known. */
export function geographyOf(region: string): string | undefined {
  if (region.startsWith('us-gov-')) return 'us-gov';
  if (region.startsWith('us-')) return 'us';
  if (region.startsWith('eu-')) return 'eu';
  if (region.startsWith('ap-')) return 'apac';
  return undefined;
}

/** Whether the id already names a profile (`us.anthropic...`) or is an ARN: used as it is. */
function namesProfileOrArn(modelId: string): boolean {
  return modelId.startsWith('arn:') || PROFILE_PREFIXES.some((p) => modelId.startsWith(`${p}.`));
}

/**
 * The system-defined inference profile id for a base model id in a Region: the geography's
 * (`us.` + id), else `global.` for a model that has one; undefined for ARNs, ids that already name
 * a profile, and Regions with neither.
 */
export function profileFor(modelId: string, region: string): string | undefined {
  if (namesProfileOrArn(modelId)) return undefined;
  const geo = geographyOf(region);
  if (geo) return `${geo}.${modelId}`;
  if (GLOBAL_PROFILES.has(modelId)) return `global.${modelId}`;
  return undefined;
}

/**
 * The id to call `modelId` by on demand from `region`: the id itself, or the inference profile it
 * needs there (then `profile` is set and `note` says why). A model that needs a profile in a Region
 * without one keeps its id, with a note saying to name a profile.
 */
export function onDemandModelId(modelId: string, region: string): { modelId: string; profile?: string; note?: string } {
  if (namesProfileOrArn(modelId)) return { modelId };
  const inRegion = IN_REGION_ONLY.get(modelId);
  const needs = PROFILE_ONLY.has(modelId) || (inRegion !== undefined && !inRegion.includes(region));
  if (!needs) return { modelId };
  const profile = profileFor(modelId, region);
  if (!profile) {
    return {
      modelId,
      note: `${modelId} runs on demand only through an inference profile, and none is known for ${region}: pass the profile's id or ARN as the model (docs/on-demand.md)`,
    };
  }
  const where = PROFILE_ONLY.has(modelId) ? '' : ` in ${region}`;
  return {
    modelId: profile,
    profile,
    note: `${modelId} runs on demand only through an inference profile${where}: calling ${profile} (docs/on-demand.md)`,
  };
}

/** Whether a ValidationException's message is the "use an inference profile" refusal. */
export function isProfileRequired(message: string): boolean {
  return /on-demand throughput isn.?t supported/i.test(message) || /inference profile that contains this model/i.test(message);
}
