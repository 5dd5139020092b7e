/**
 * The model-family registry: which family builds `modelInput` for a job's model id.
 *
 *   familyFor('us.anthropic.claude-3-5-haiku-20241022-v1:0')           → anthropic
 *   familyFor('arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0') → nova
 *   familyFor(anyId, { invocationType: 'Converse' })                    → converse
 *   familyFor(customModelArn, { family: 'titan-text' })                 → titan-text
 */
import { BatchError } from '../errors.js';
import { anthropic } from './anthropic.js';
import { converse } from './converse.js';
import type { FamilyName, InvocationType, ModelFamily } from './family.js';
import { parseModelId } from './ids.js';
import { llama } from './llama.js';
import { mistral } from './mistral.js';
import { NATIVE } from './native.js';
import { nova } from './nova.js';
import { titanText } from './titan-text.js';

export type * from './family.js';
export { normalizeModelId, parseModelId, matchableBaseId, type ParsedModelId, type ModelIdKind } from './ids.js';
export { anthropic, converse, llama, mistral, nova, titanText };

/**
 * Every family by name. Where shapes overlap, the order decides: a shape guess (of a `modelInput` by
 * the local double, of a `modelOutput` by results) takes the first family that claims the body, so
 * Converse, whose input claim is any `messages` body, comes last.
 */
export const FAMILIES: Readonly<Record<FamilyName, ModelFamily>> = Object.freeze({
  anthropic,
  nova,
  'titan-text': titanText,
  llama,
  mistral,
  converse,
});

/** The model id patterns the native families recognise, for error messages and `--help`. */
export const SUPPORTED_MODEL_PATTERNS: readonly string[] = Object.freeze([
  'anthropic.claude-*            (anthropic: Claude 3, 3.5, 3.7, 4, 4.5 Messages API)',
  'amazon.nova-{micro,lite,pro,premier}-*, amazon.nova-2-lite-*  (nova)',
  'amazon.titan-text-{lite,express,premier}-*  (titan-text)',
  'meta.llama3-*, meta.llama4-*  (llama: Llama 3, 3.1, 3.2, 3.3, 4 Instruct)',
  'mistral.mistral-7b-*, mistral.mixtral-8x7b-*, mistral.mistral-{large,small}-2402-*  (mistral text completion)',
]);

export interface FamilyForOptions {
  /** Force a family: needed for custom-model and application-inference-profile ARNs. */
  family?: FamilyName | undefined;
  /** `Converse` selects the Converse family for any model. */
  invocationType?: InvocationType | undefined;
}

/**
 * The family for a job's model id: the forced `family`, Converse when asked for, else the native
 * family whose id pattern matches (base ids, region-prefixed profile ids such as `us.`/`eu.`/
 * `apac.`/`global.`, foundation-model and inference-profile ARNs). Throws E_UNKNOWN_MODEL when no
 * family knows the id, E_BAD_OPTION on a bad or contradictory option.
 */
export function familyFor(modelId: string, options: FamilyForOptions = {}): ModelFamily {
  if (typeof modelId !== 'string' || modelId.trim() === '') {
    throw new BatchError('E_BAD_OPTION', 'modelId is required', {
      hint: 'pass --model with a base model id, a cross-region profile id or an ARN',
    });
  }
  const { family, invocationType } = options;
  if (invocationType !== undefined && invocationType !== 'InvokeModel' && invocationType !== 'Converse') {
    throw new BatchError('E_BAD_OPTION', `invocationType ${JSON.stringify(invocationType)} is not InvokeModel or Converse`);
  }
  if (family !== undefined) {
    const chosen = (FAMILIES as Record<string, ModelFamily | undefined>)[family];
    if (chosen === undefined || !Object.hasOwn(FAMILIES, family)) {
      throw new BatchError('E_BAD_OPTION', `family ${JSON.stringify(family)} is unknown`, {
        hint: `use one of: ${Object.keys(FAMILIES).join(', ')}`,
      });
    }
    if (invocationType !== undefined && invocationType !== chosen.invocationType) {
      throw new BatchError(
        'E_BAD_OPTION',
        `family ${family} builds ${chosen.invocationType} records, but invocationType is ${invocationType}`,
        { hint: invocationType === 'Converse' ? 'drop --family or use --family converse' : 'drop --invocation-type or use another family' },
      );
    }
    if (chosen !== converse) {
      const other = NATIVE.find((f) => f !== chosen && f.matches(modelId));
      if (other !== undefined) {
        throw new BatchError('E_BAD_OPTION', `family ${family} does not fit ${modelId}, which is a ${other.name} model`, {
          hint: `drop --family or use --family ${other.name}`,
        });
      }
    }
    return chosen;
  }
  if (invocationType === 'Converse') return converse;
  const found = NATIVE.find((f) => f.matches(modelId));
  if (found) return found;
  const kind = parseModelId(modelId).kind;
  const why =
    kind === 'custom-model-arn' || kind === 'application-inference-profile-arn'
      ? `${modelId} is a ${kind.replace(/-/g, ' ').replace(' arn', ' ARN')}, whose model cannot be told from the id`
      : `no model family knows ${modelId}`;
  throw new BatchError('E_UNKNOWN_MODEL', `${why}. Supported ids (base ids, us./eu./apac./global. profile ids or their ARNs):\n  ${SUPPORTED_MODEL_PATTERNS.join('\n  ')}`, {
    hint: `name the family with --family (${Object.keys(FAMILIES).join(', ')}), or use --invocation-type Converse for any model`,
  });
}
