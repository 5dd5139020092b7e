/**
 * What the local service answers about models, for `doctor` and any tool that asks Bedrock's
 * control plane (restJson1, as `@aws-sdk/client-bedrock` speaks it):
 *
 *   GET /foundation-models                                ListFoundationModels
 *   GET /foundation-models/{modelIdentifier}              GetFoundationModel
 *   GET /inference-profiles/{inferenceProfileIdentifier}  GetInferenceProfile
 *
 * answered from the batch model catalogue (src/bedrock/batch-models.ts, docs/bedrock.md §1.4) and
 * the ids the service was given with `extraModels`. This double knows only models that run batch
 * jobs: a model Bedrock has but the catalogue lacks (an on-demand-only model) is not found here.
 *
 * Documented assumptions, where no page these tools could read says what Bedrock answers:
 * - every catalogued model exists in the service's region (Bedrock offers each model in some
 *   regions only; the catalogue's regions are for batch, and `doctor` checks them itself);
 * - an identifier outside the API's pattern is a ValidationException ("1 validation error detected:
 *   ..."); a well-formed one of no model is a ResourceNotFoundException;
 * - `inferenceTypesSupported` is `ON_DEMAND` for a model its own id runs, `INFERENCE_PROFILE` for a
 *   profile-only one (Nova Premier), as ListFoundationModels shows them;
 * - a system-defined profile exists in the regions of its geography (`us.` in `us-*`, `eu.` in
 *   `eu-*`, `apac.` in `ap-*`, `global.` everywhere ...); elsewhere it is not found.
 */
import { BATCH_MODELS, lookupBatchModel, type BatchModel } from '../bedrock/batch-models.js';
import { ServiceError } from './errors.js';

/** What the handlers need of the service. */
export interface CatalogueContext {
  readonly region: string;
  readonly accountId: string;
  /** Base ids (and profile ids / ARNs) accepted beyond the catalogue. */
  readonly extraModels: ReadonlySet<string>;
}

/** When the catalogue was built into this service: the lifecycle's start for every model. */
const START_OF_LIFE = '2024-01-01T00:00:00Z';

/** The base-model id pattern of the API (`provider.name[-version][:n]`). */
const BASE_ID = /^[a-z0-9-]{1,63}\.[a-z0-9-]{1,63}(?:[.:]?[a-z0-9-]{1,63}){0,2}$/;
const FOUNDATION_ARN = /^arn:aws(?:-[a-z-]+)?:bedrock:([a-z0-9-]{1,20})::foundation-model\/(.+)$/;
const PROFILE_ARN = /^arn:aws(?:-[a-z-]+)?:bedrock:([a-z0-9-]{1,20}):([0-9]{12}):(inference-profile|application-inference-profile)\/(.+)$/;
const PROFILE_ID = /^([a-z]{2,6}(?:-[a-z]{2,5})?)\.([a-z0-9-]{1,63}\..+)$/;

/** The regions a system-defined profile of this prefix routes within (see the module comment). */
function inGeography(prefix: string, region: string): boolean {
  switch (prefix) {
    case 'global':
      return true;
    case 'us':
      return /^us-(?:east|west)-\d$/.test(region);
    case 'us-gov':
      return region.startsWith('us-gov-');
    case 'eu':
      return region.startsWith('eu-');
    case 'apac':
      return region.startsWith('ap-');
    case 'jp':
      return region === 'ap-northeast-1' || region === 'ap-northeast-3';
    case 'au':
      return region === 'ap-southeast-2' || region === 'ap-southeast-4';
    case 'ca':
      return region.startsWith('ca-');
    default:
      return false;
  }
}

function validation(value: string, member: string, pattern: string): ServiceError {
  return new ServiceError(
    'ValidationException',
    `1 validation error detected: Value '${value.slice(0, 200)}' at '${member}' failed to satisfy constraint: Member must satisfy regular expression pattern: ${pattern}`,
  );
}

/** A model as the service knows it: from the catalogue, or an extra id with what its id tells. */
interface KnownModel {
  modelId: string;
  name: string;
  provider: string;
  output: 'text' | 'embedding';
  ownId: boolean;
}

function fromCatalogue(m: BatchModel): KnownModel {
  return { modelId: m.modelId, name: m.name, provider: m.provider, output: m.output, ownId: m.modes.includes('single-region') };
}

function extraModel(id: string): KnownModel {
  const provider = id.slice(0, id.indexOf('.'));
  return { modelId: id, name: id, provider: provider.charAt(0).toUpperCase() + provider.slice(1), output: 'text', ownId: true };
}

/** The base model behind a base id, or undefined. */
function knownBase(ctx: CatalogueContext, id: string): KnownModel | undefined {
  const found = lookupBatchModel(id);
  if (found.kind === 'found' && found.form === 'base') return fromCatalogue(found.model);
  if (ctx.extraModels.has(id)) return extraModel(id);
  return undefined;
}

function summary(ctx: CatalogueContext, m: KnownModel): Record<string, unknown> {
  return {
    modelArn: `arn:aws:bedrock:${ctx.region}::foundation-model/${m.modelId}`,
    modelId: m.modelId,
    modelName: m.name,
    providerName: m.provider,
    inputModalities: ['TEXT'],
    outputModalities: [m.output === 'embedding' ? 'EMBEDDING' : 'TEXT'],
    responseStreamingSupported: m.output === 'text',
    customizationsSupported: [],
    inferenceTypesSupported: [m.ownId ? 'ON_DEMAND' : 'INFERENCE_PROFILE'],
    modelLifecycle: { status: 'ACTIVE', startOfLifeTime: START_OF_LIFE },
  };
}

/** ListFoundationModels: every known model, filtered by `byProvider`, `byOutputModality`, `byInferenceType`, `byCustomizationType`. */
export function listFoundationModels(ctx: CatalogueContext, query: URLSearchParams): { modelSummaries: Record<string, unknown>[] } {
  const byProvider = query.get('byProvider');
  if (byProvider !== null && !/^[A-Za-z0-9- ]{1,63}$/.test(byProvider)) throw validation(byProvider, 'byProvider', '^[A-Za-z0-9- ]{1,63}$');
  const byOutput = query.get('byOutputModality');
  if (byOutput !== null && !['TEXT', 'IMAGE', 'EMBEDDING'].includes(byOutput)) throw validation(byOutput, 'byOutputModality', '[TEXT, IMAGE, EMBEDDING]');
  const byInference = query.get('byInferenceType');
  if (byInference !== null && !['ON_DEMAND', 'PROVISIONED'].includes(byInference)) throw validation(byInference, 'byInferenceType', '[ON_DEMAND, PROVISIONED]');
  const byCustomization = query.get('byCustomizationType');
  const models = [...BATCH_MODELS.map(fromCatalogue), ...[...ctx.extraModels].filter((id) => BASE_ID.test(id) && lookupBatchModel(id).kind !== 'found').map(extraModel)];
  const out = models
    .map((m) => summary(ctx, m))
    .filter(
      (s) =>
        (byProvider === null || String(s.providerName).toLowerCase() === byProvider.toLowerCase()) &&
        (byOutput === null || (s.outputModalities as string[]).includes(byOutput)) &&
        (byInference === null || (s.inferenceTypesSupported as string[]).includes(byInference)) &&
        (byCustomization === null || (s.customizationsSupported as string[]).includes(byCustomization)),
    );
  return { modelSummaries: out };
}

/** GetFoundationModel for a base id or a foundation-model ARN. */
export function getFoundationModel(ctx: CatalogueContext, identifier: string): { modelDetails: Record<string, unknown> } {
  let id = identifier;
  const arn = FOUNDATION_ARN.exec(identifier);
  if (arn) {
    if (arn[1] !== ctx.region) {
      throw new ServiceError('ValidationException', `The provided model ARN ${identifier} is not in this region (${ctx.region}).`);
    }
    id = arn[2]!;
  }
  if (!BASE_ID.test(id)) {
    throw validation(identifier, 'modelIdentifier', 'arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}::foundation-model/[a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}([.:]?[a-z0-9-]{1,63}){0,2}|[a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}([.:]?[a-z0-9-]{1,63}){0,2}');
  }
  const model = knownBase(ctx, id);
  if (!model) throw new ServiceError('ResourceNotFoundException', 'Could not resolve the foundation model from the provided model identifier.');
  return { modelDetails: summary(ctx, model) };
}

/** GetInferenceProfile for a system-defined profile id or ARN (application profiles are the account's: not found here). */
export function getInferenceProfile(ctx: CatalogueContext, identifier: string): Record<string, unknown> {
  let id = identifier;
  const arn = PROFILE_ARN.exec(identifier);
  if (arn) {
    if (arn[1] !== ctx.region || arn[2] !== ctx.accountId || arn[3] !== 'inference-profile') {
      throw new ServiceError('ResourceNotFoundException', `The inference profile ${identifier} was not found.`);
    }
    id = arn[4]!;
  }
  if (!/^[a-zA-Z0-9-:.]{1,64}$/.test(id)) {
    throw validation(identifier, 'inferenceProfileIdentifier', '^(arn:aws(|-us-gov|-cn|-iso|-iso-b):bedrock:(|[0-9a-z-]{0,20}):(|[0-9]{12}):(inference-profile|application-inference-profile)/)?[a-zA-Z0-9-:.]+$');
  }
  const p = PROFILE_ID.exec(id);
  const m = p ? knownBase(ctx, p[2]!) : undefined;
  if (!p || !m || !inGeography(p[1]!, ctx.region)) {
    throw new ServiceError('ResourceNotFoundException', `The inference profile ${identifier} was not found in ${ctx.region}.`);
  }
  const catalogued = lookupBatchModel(m.modelId);
  const known = catalogued.kind === 'found' ? catalogued.model.regions?.profile : undefined;
  const regions = (known?.filter((r) => inGeography(p[1]!, r)) ?? []).concat(known?.includes(ctx.region) ? [] : [ctx.region]);
  const geography = { us: 'US', 'us-gov': 'US Gov', eu: 'EU', apac: 'APAC', jp: 'JP', au: 'AU', ca: 'CA', global: 'Global' }[p[1]!] ?? p[1]!.toUpperCase();
  return {
    inferenceProfileName: `${geography} ${m.provider} ${m.name}`,
    description: `Routes requests to ${m.provider} ${m.name} in ${regions.join(', ')}.`,
    createdAt: START_OF_LIFE,
    updatedAt: START_OF_LIFE,
    inferenceProfileArn: `arn:aws:bedrock:${ctx.region}:${ctx.accountId}:inference-profile/${id}`,
    models: [...new Set(regions)].map((r) => ({ modelArn: `arn:aws:bedrock:${r}::foundation-model/${m.modelId}` })),
    inferenceProfileId: id,
    status: 'ACTIVE',
    type: 'SYSTEM_DEFINED',
  };
}
