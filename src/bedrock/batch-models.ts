/**
 * The models that run batch inference (model invocation jobs), as dated data (docs/bedrock.md
 * §1.4). Bedrock has no "supports batch" flag per model (ListFoundationModels' inference types are
 * on-demand and provisioned), so this catalogue is where batch support comes from, for the local
 * double (an unknown model is a ValidationException at create) and for `doctor`.
 *
 * Sources, read on CATALOGUE_DATE:
 * - `aws-doc`: the table of CATALOGUE_SOURCE (batch-inference-supported.html): the model, the regions
 *   where the foundation model runs batch in one region, those where its cross-region inference
 *   profile does. Only the first rows of that table could be read here (the Nova rows and part of the
 *   Titan Multimodal Embeddings row); a model whose regions are `undefined` runs somewhere, where is
 *   not known.
 * - `quota-names`: Service Quotas has a "Minimum number of records per batch inference job for
 *   <model>" (and "Records per batch inference job for <model>") quota only for models that run
 *   batch; QUOTA_NAMES_SOURCE is a listing of Bedrock's quota names with their codes.
 * - `third-party`: a model seen running batch jobs in public code (the source says which).
 *
 * Minimum records per job: every model with the quota above has one; its default value is not in
 * any page these tools could read. 100 is the value AWS samples and third-party code agree on
 * (docs/bedrock.md §5, [UNCONFIRMED]), so `minRecordsPerJob` is 100 with `minRecordsEvidence`
 * 'corroborated-default'; an account's applied value can differ (doctor reads Service Quotas).
 *
 * Model ids, as CreateModelInvocationJob takes them (docs/bedrock.md §1.3), and what `findBatchModel`
 * makes of each:
 * - a base id (`anthropic.claude-3-haiku-20240307-v1:0`) and a foundation-model ARN: the model, run
 *   in one region (refused by the double for a profile-only model, see `lookupBatchModel`);
 * - a cross-region profile id (`us.`, `eu.`, `apac.`, `global.`, `us-gov.`, `jp.`, `au.`, `ca.`) and an
 *   inference-profile ARN naming one: the model, through its profile;
 * - a custom-model ARN or an application-inference-profile ARN: opaque. Which model is behind it is
 *   only known to the account (GetCustomModel, GetInferenceProfile), so nothing can be looked up:
 *   `findBatchModel` answers undefined and `lookupBatchModel` says 'opaque'. The local double accepts
 *   them (it has no account to ask, and refusing would make custom models unusable locally) and reads
 *   each record's family from its shape.
 *
 * This module imports nothing of the project's but its errors (test/architecture/imports.test.ts).
 */
import { BatchError } from '../errors.js';

/** The day the sources were read. */
export const CATALOGUE_DATE = '2026-12-07';
/** The AWS page the catalogue follows: "Supported Regions and models for batch inference". */
export const CATALOGUE_SOURCE = 'https://docs.aws.amazon.com/bedrock/latest/userguide/batch-inference-supported.html';
/** Bedrock's Service Quotas names (with codes), for the models that have batch quotas. */
export const QUOTA_NAMES_SOURCE = 'https://docs.aws.amazon.com/general/latest/gr/bedrock.html#limits_bedrock';

/** The project's model families that write a native (InvokeModel) body for the model. */
export type BatchModelFamily = 'anthropic' | 'nova' | 'titan-text' | 'llama' | 'mistral';

/** How a job may name the model: its own id (one region) or a cross-region inference profile. */
export type BatchModelMode = 'single-region' | 'cross-region-profile';

export type BatchModelEvidence = 'aws-doc' | 'quota-names' | 'third-party';

export interface BatchModel {
  /** The base model id. */
  readonly modelId: string;
  /** The model's name as AWS writes it in the table and quota names. */
  readonly name: string;
  readonly provider: string;
  /**
   * The project family whose native body the model takes; undefined when none here does (gpt-oss,
   * Qwen, DeepSeek: Converse-type jobs; embeddings: no family in this project).
   */
  readonly family: BatchModelFamily | undefined;
  readonly output: 'text' | 'embedding';
  /**
   * The ways a job may name it. Only the rows read from the AWS table (`source.evidence` 'aws-doc')
   * know this; the others list both, so that nothing is refused on a guess. A profile-only model
   * (Nova Premier) refuses its base id.
   */
  readonly modes: readonly BatchModelMode[];
  /** Regions per mode, where the table could be read; undefined: not known. */
  readonly regions?: { readonly singleRegion?: readonly string[]; readonly profile?: readonly string[] };
  /** Minimum records per job (see the module comment), when the model has the quota. */
  readonly minRecordsPerJob?: number;
  readonly minRecordsEvidence?: 'corroborated-default';
  readonly source: { readonly url: string; readonly checked: string; readonly evidence: BatchModelEvidence };
}

const DOC = { url: CATALOGUE_SOURCE, checked: CATALOGUE_DATE, evidence: 'aws-doc' } as const;
const QUOTAS = { url: QUOTA_NAMES_SOURCE, checked: CATALOGUE_DATE, evidence: 'quota-names' } as const;
const BOTH: readonly BatchModelMode[] = ['single-region', 'cross-region-profile'];
const MIN = { minRecordsPerJob: 100, minRecordsEvidence: 'corroborated-default' } as const;

/** The Nova rows of the AWS table ("eu-central-1" appears twice there; once here). */
const NOVA_SINGLE = ['us-east-1', 'us-gov-west-1'];
const NOVA_PROFILE = [
  'us-east-1', 'us-east-2', 'us-west-2', 'ap-northeast-1', 'ap-northeast-2', 'ap-south-1', 'ap-southeast-1',
  'ap-southeast-2', 'eu-central-1', 'eu-north-1', 'eu-south-1', 'eu-south-2', 'eu-west-1', 'eu-west-3',
];

type Row = Omit<BatchModel, 'modes' | 'source'> & { modes?: readonly BatchModelMode[]; source?: BatchModel['source'] };

const ROWS: readonly Row[] = [
  // Amazon [aws-doc rows; minimum: quota names "... for Nova Lite V1" etc.]
  { modelId: 'amazon.nova-micro-v1:0', name: 'Nova Micro', provider: 'Amazon', family: 'nova', output: 'text', regions: { singleRegion: NOVA_SINGLE, profile: NOVA_PROFILE }, ...MIN, source: DOC },
  { modelId: 'amazon.nova-lite-v1:0', name: 'Nova Lite', provider: 'Amazon', family: 'nova', output: 'text', regions: { singleRegion: NOVA_SINGLE, profile: NOVA_PROFILE }, ...MIN, source: DOC },
  { modelId: 'amazon.nova-pro-v1:0', name: 'Nova Pro', provider: 'Amazon', family: 'nova', output: 'text', regions: { singleRegion: NOVA_SINGLE, profile: NOVA_PROFILE }, ...MIN, source: DOC },
  { modelId: 'amazon.nova-premier-v1:0', name: 'Nova Premier', provider: 'Amazon', family: 'nova', output: 'text', modes: ['cross-region-profile'], regions: { singleRegion: [], profile: ['us-east-1', 'us-east-2', 'us-west-2'] }, source: DOC },
  { modelId: 'amazon.titan-embed-image-v1', name: 'Titan Multimodal Embeddings G1', provider: 'Amazon', family: undefined, output: 'embedding', modes: ['single-region'], ...MIN, source: DOC },
  { modelId: 'amazon.titan-embed-text-v2:0', name: 'Titan Text Embeddings V2', provider: 'Amazon', family: undefined, output: 'embedding', ...MIN },
  // Anthropic [quota names]
  { modelId: 'anthropic.claude-3-haiku-20240307-v1:0', name: 'Claude 3 Haiku', provider: 'Anthropic', family: 'anthropic', output: 'text', ...MIN },
  { modelId: 'anthropic.claude-3-sonnet-20240229-v1:0', name: 'Claude 3 Sonnet', provider: 'Anthropic', family: 'anthropic', output: 'text', ...MIN },
  { modelId: 'anthropic.claude-3-opus-20240229-v1:0', name: 'Claude 3 Opus', provider: 'Anthropic', family: 'anthropic', output: 'text', ...MIN },
  { modelId: 'anthropic.claude-3-5-sonnet-20240620-v1:0', name: 'Claude 3.5 Sonnet', provider: 'Anthropic', family: 'anthropic', output: 'text', ...MIN },
  { modelId: 'anthropic.claude-3-5-sonnet-20241022-v2:0', name: 'Claude 3.5 Sonnet v2', provider: 'Anthropic', family: 'anthropic', output: 'text', ...MIN },
  { modelId: 'anthropic.claude-3-5-haiku-20241022-v1:0', name: 'Claude 3.5 Haiku', provider: 'Anthropic', family: 'anthropic', output: 'text', ...MIN },
  { modelId: 'anthropic.claude-3-7-sonnet-20250219-v1:0', name: 'Claude 3.7 Sonnet', provider: 'Anthropic', family: 'anthropic', output: 'text', ...MIN },
  { modelId: 'anthropic.claude-sonnet-4-20250514-v1:0', name: 'Claude Sonnet 4', provider: 'Anthropic', family: 'anthropic', output: 'text', ...MIN },
  // Seen in batch use through its profile (github.com/BerriAI/litellm-docs, docs/providers/bedrock_batches.md).
  { modelId: 'anthropic.claude-sonnet-4-5-20250929-v1:0', name: 'Claude Sonnet 4.5', provider: 'Anthropic', family: 'anthropic', output: 'text', source: { url: 'https://docs.litellm.ai/docs/providers/bedrock_batches', checked: CATALOGUE_DATE, evidence: 'third-party' } },
  // "Records per batch inference job for Claude Opus 4.5" (a quota code read from an account).
  { modelId: 'anthropic.claude-opus-4-5-20251101-v1:0', name: 'Claude Opus 4.5', provider: 'Anthropic', family: 'anthropic', output: 'text' },
  // Meta [quota names]
  { modelId: 'meta.llama3-1-8b-instruct-v1:0', name: 'Llama 3.1 8B Instruct', provider: 'Meta', family: 'llama', output: 'text', ...MIN },
  { modelId: 'meta.llama3-1-70b-instruct-v1:0', name: 'Llama 3.1 70B Instruct', provider: 'Meta', family: 'llama', output: 'text', ...MIN },
  { modelId: 'meta.llama3-1-405b-instruct-v1:0', name: 'Llama 3.1 405B Instruct', provider: 'Meta', family: 'llama', output: 'text', ...MIN },
  { modelId: 'meta.llama3-2-1b-instruct-v1:0', name: 'Llama 3.2 1B Instruct', provider: 'Meta', family: 'llama', output: 'text', ...MIN },
  { modelId: 'meta.llama3-2-3b-instruct-v1:0', name: 'Llama 3.2 3B Instruct', provider: 'Meta', family: 'llama', output: 'text', ...MIN },
  { modelId: 'meta.llama3-2-11b-instruct-v1:0', name: 'Llama 3.2 11B Instruct', provider: 'Meta', family: 'llama', output: 'text', ...MIN },
  { modelId: 'meta.llama3-2-90b-instruct-v1:0', name: 'Llama 3.2 90B Instruct', provider: 'Meta', family: 'llama', output: 'text', ...MIN },
  { modelId: 'meta.llama3-3-70b-instruct-v1:0', name: 'Llama 3.3 70B Instruct', provider: 'Meta', family: 'llama', output: 'text', ...MIN },
  // Mistral AI [quota names]
  { modelId: 'mistral.mistral-small-2402-v1:0', name: 'Mistral Small', provider: 'Mistral AI', family: 'mistral', output: 'text', ...MIN },
  // Mistral Large 2 takes a chat body, not the text-completion one the mistral family writes: Converse.
  { modelId: 'mistral.mistral-large-2407-v1:0', name: 'Mistral Large 2 (24.07)', provider: 'Mistral AI', family: undefined, output: 'text', ...MIN },
  // OpenAI, Qwen, DeepSeek [quota names]: no native family here; Converse-type jobs.
  { modelId: 'openai.gpt-oss-20b-1:0', name: 'OpenAI GPT OSS 20b', provider: 'OpenAI', family: undefined, output: 'text', ...MIN },
  { modelId: 'openai.gpt-oss-120b-1:0', name: 'OpenAI GPT OSS 120b', provider: 'OpenAI', family: undefined, output: 'text', ...MIN },
  { modelId: 'qwen.qwen3-32b-v1:0', name: 'Qwen3 32B', provider: 'Qwen', family: undefined, output: 'text', ...MIN },
  { modelId: 'qwen.qwen3-235b-a22b-2507-v1:0', name: 'Qwen3 235B', provider: 'Qwen', family: undefined, output: 'text', ...MIN },
  { modelId: 'qwen.qwen3-coder-30b-a3b-v1:0', name: 'Qwen3 Coder 30B', provider: 'Qwen', family: undefined, output: 'text', ...MIN },
  { modelId: 'qwen.qwen3-coder-480b-a35b-v1:0', name: 'Qwen3 Coder 480B', provider: 'Qwen', family: undefined, output: 'text', ...MIN },
  { modelId: 'deepseek.v3-v1:0', name: 'DeepSeek v3', provider: 'DeepSeek', family: undefined, output: 'text', ...MIN },
];

/** Every model of the catalogue, by base id order of the table above. */
export const BATCH_MODELS: readonly BatchModel[] = Object.freeze(
  ROWS.map((r) => Object.freeze({ ...r, modes: r.modes ?? BOTH, source: r.source ?? QUOTAS }) as BatchModel),
);

const BY_ID: ReadonlyMap<string, BatchModel> = new Map(BATCH_MODELS.map((m) => [m.modelId, m]));

/** The geographic prefixes of system-defined cross-region inference profiles. */
export const PROFILE_PREFIXES: readonly string[] = Object.freeze(['us', 'us-gov', 'eu', 'apac', 'jp', 'au', 'ca', 'global']);

/** How a model id names its model. */
export type ModelIdForm = 'base' | 'profile' | 'foundation-model-arn' | 'inference-profile-arn' | 'custom-model-arn' | 'application-inference-profile-arn' | 'other';

export type BatchModelLookup =
  /** In the catalogue. `mode`: how the id runs it; `profilePrefix` for profiles. */
  | { kind: 'found'; model: BatchModel; form: ModelIdForm; mode: BatchModelMode; profilePrefix?: string; arnRegion?: string }
  /** A custom model or application inference profile: what is behind it is the account's to say. */
  | { kind: 'opaque'; form: 'custom-model-arn' | 'application-inference-profile-arn' }
  /**
   * Not in the catalogue (a typo, a model without batch support, or one newer than the catalogue).
   * `baseId`: the id without a known profile prefix or ARN around it; undefined for other ARNs.
   */
  | { kind: 'unknown'; form: ModelIdForm; baseId: string | undefined };

const ARN = /^arn:aws(?:-[a-z-]+)?:bedrock:([a-z0-9-]*):([0-9]{12})?:([a-z-]+)\/(.+)$/;

/** Split `us.anthropic.x` into a known prefix and the rest (`known`: the rest is a catalogue id). */
function splitProfile(id: string): { prefix: string; baseId: string; known: boolean } | undefined {
  let found: { prefix: string; baseId: string; known: boolean } | undefined;
  for (const prefix of PROFILE_PREFIXES) {
    if (!id.startsWith(`${prefix}.`)) continue;
    const baseId = id.slice(prefix.length + 1);
    if (BY_ID.has(baseId)) return { prefix, baseId, known: true };
    found ??= { prefix, baseId, known: false };
  }
  return found;
}

/** What a model id names, as far as the catalogue can tell (see the module comment). Never throws. */
export function lookupBatchModel(modelId: string): BatchModelLookup {
  const arn = ARN.exec(modelId);
  if (arn) {
    const region = arn[1] || undefined;
    const resource = arn[3]!;
    const rest = arn[4]!;
    const at = region ? { arnRegion: region } : {};
    if (resource === 'custom-model' || resource === 'application-inference-profile') {
      return { kind: 'opaque', form: `${resource}-arn` };
    }
    if (resource === 'foundation-model') {
      const model = BY_ID.get(rest);
      return model ? { kind: 'found', model, form: 'foundation-model-arn', mode: 'single-region', ...at } : { kind: 'unknown', form: 'foundation-model-arn', baseId: rest };
    }
    if (resource === 'inference-profile') {
      const p = splitProfile(rest);
      return p?.known
        ? { kind: 'found', model: BY_ID.get(p.baseId)!, form: 'inference-profile-arn', mode: 'cross-region-profile', profilePrefix: p.prefix, ...at }
        : { kind: 'unknown', form: 'inference-profile-arn', baseId: p?.baseId };
    }
    return { kind: 'unknown', form: 'other', baseId: undefined };
  }
  const model = BY_ID.get(modelId);
  if (model) return { kind: 'found', model, form: 'base', mode: 'single-region' };
  const p = splitProfile(modelId);
  if (p?.known) return { kind: 'found', model: BY_ID.get(p.baseId)!, form: 'profile', mode: 'cross-region-profile', profilePrefix: p.prefix };
  if (p) return { kind: 'unknown', form: 'profile', baseId: p.baseId };
  return { kind: 'unknown', form: 'base', baseId: modelId };
}

/**
 * The catalogue's model for a base id, a cross-region profile id, a foundation-model ARN or an
 * inference-profile ARN; undefined for anything else, custom-model and application-inference-profile
 * ARNs included (see `lookupBatchModel` to tell those apart from unknown models).
 */
export function findBatchModel(modelId: string): BatchModel | undefined {
  const found = lookupBatchModel(modelId);
  return found.kind === 'found' ? found.model : undefined;
}

/**
 * Check a list of extra model ids (`--allow-model`): each must be a base id (`provider.name...`), a
 * profile id or an ARN, never empty or with spaces. Returns them as given.
 */
export function checkExtraModels(ids: readonly string[], option = '--allow-model'): string[] {
  for (const id of ids) {
    if (typeof id !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,2047}$/.test(id) || !(id.includes('.') || id.startsWith('arn:'))) {
      throw new BatchError('E_BAD_OPTION', `${option}: "${String(id)}" is not a model id`, {
        hint: 'give a base model id (anthropic.claude-...-v1:0), a cross-region profile id (us.anthropic...) or an ARN',
      });
    }
  }
  return [...ids];
}
