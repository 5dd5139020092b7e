/**
 * What the model families share to ask for structured fields (docs/structured.md): the model facts
 * (which ways each model takes, strongest first), the refusal every family gives for a way its model
 * lacks, the schema as Bedrock's structured outputs take it, and prepare's checks of the pieces.
 *
 * The ways, per family (docs/structured.md has the table and its sources):
 * - anthropic: `native` (`output_config.format`) for the Claude 4.5 generation and later (Sonnet 4.5,
 *   Haiku 4.5, Opus 4.5, Opus 4.6: AWS's "Get validated JSON results" page for Claude), `tool` for
 *   Claude 3 and later (a forced tool), `prompt` for every Claude;
 * - nova: `tool` (`toolConfig`; Nova decodes tool input under the schema's grammar), `prompt`;
 * - converse: `native` (`outputConfig.textFormat`) where the model has structured outputs, else
 *   `prompt`; never `tool` (Converse-type batch records with `toolConfig` fail with 400);
 * - titan-text, llama, mistral: `prompt` (their InvokeModel bodies document no schema field).
 *
 * The facts are the model's, so the local double's checks use them too (see local-double.ts).
 */
import type { FamilyName, ModelOptions, PromptText, StructuredRequest, StructuredVia, ValidationIssue } from './family.js';
import { normalizeModelId } from './ids.js';
import { isObject } from '../core/values.js';
import { withJsonInstruction } from '../schema/instruction.js';
import { checkSchema } from '../schema/load.js';

export const VIAS: readonly StructuredVia[] = Object.freeze(['native', 'tool', 'prompt']);
const NATIVE_TOOL_PROMPT: readonly StructuredVia[] = Object.freeze(['native', 'tool', 'prompt']);
const NATIVE_PROMPT: readonly StructuredVia[] = Object.freeze(['native', 'prompt']);
const TOOL_PROMPT: readonly StructuredVia[] = Object.freeze(['tool', 'prompt']);
export const PROMPT_ONLY: readonly StructuredVia[] = Object.freeze(['prompt']);

/** A Claude model's generation (3.5 is `[3, 5]`, Sonnet 4 `[4, 0]`), or undefined when the id cannot tell. */
export function claudeGeneration(modelId: string): readonly [number, number] | undefined {
  const base = normalizeModelId(modelId);
  const named = /^anthropic\.claude-(?:opus|sonnet|haiku)-(\d+)(?:-(\d))?(?![0-9])/.exec(base);
  if (named) return [Number(named[1]), Number(named[2] ?? 0)];
  const numbered = /^anthropic\.claude-(\d)(?:-(\d))?-/.exec(base);
  if (numbered) return [Number(numbered[1]), Number(numbered[2] ?? 0)];
  if (/^anthropic\.claude-(?:v2|instant)/.test(base)) return [2, 0];
  return undefined;
}

/**
 * The Claude models Bedrock documents structured outputs for (docs/structured.md §2): a list, not a
 * generation rule, because newer models have refused `output_config.format` on Bedrock ("Extra
 * inputs are not permitted", reported for Opus 4.7); a model not listed asks by a forced tool.
 */
const STRUCTURED_CLAUDE = /^anthropic\.claude-(?:(?:sonnet|haiku|opus)-4-5|opus-4-6|sonnet-4-6)(?![0-9])/;

/** Whether Bedrock has structured outputs (`output_config.format`, `outputConfig.textFormat`) for the model. */
export function hasStructuredOutputs(modelId: string): boolean {
  return STRUCTURED_CLAUDE.test(normalizeModelId(modelId));
}

/** The ways a Claude model takes through InvokeModel; an id that cannot tell (an application profile ARN) gets tool and prompt. */
export function claudeVias(modelId: string): readonly StructuredVia[] {
  const gen = claudeGeneration(modelId);
  if (gen === undefined) return TOOL_PROMPT;
  if (hasStructuredOutputs(modelId)) return NATIVE_TOOL_PROMPT;
  return gen[0] >= 3 ? TOOL_PROMPT : PROMPT_ONLY;
}

/** Nova's native body: a forced tool (`toolConfig`), else the prompt. */
export const novaVias = (): readonly StructuredVia[] => TOOL_PROMPT;

/** Converse: structured outputs where the model has them, else the prompt; never a tool. */
export const converseVias = (modelId: string): readonly StructuredVia[] => (hasStructuredOutputs(modelId) ? NATIVE_PROMPT : PROMPT_ONLY);

/** Why `family` cannot ask `modelId` the `via` way (one line, for checkOptions and --schema-via). */
export function viaRefusal(family: FamilyName, modelId: string, via: string, allowed: readonly StructuredVia[]): string {
  const use = `use --schema-via ${allowed.join(' or ')}`;
  if (!(VIAS as readonly string[]).includes(via)) return `--schema-via ${JSON.stringify(via).slice(0, 30)} is not a way: ${use}`;
  if (family === 'converse' && via === 'tool') {
    return (
      `${modelId} in a Converse batch job cannot take --schema-via tool: Bedrock fails Converse-type batch records ` +
      `that carry toolConfig with 400 (tool calling is not supported for the Converse invocation type); ${use}`
    );
  }
  if (via === 'native') {
    return `${modelId} (${family}) has no Bedrock structured outputs for this request shape; ${use}`;
  }
  if (via === 'tool') return `${modelId} (${family}) takes no forced tool in this request shape; ${use}`;
  return `${modelId} (${family}) cannot take --schema-via ${via}; ${use}`;
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** checkOptions' part for `options.structured`: its shape, and a way the model takes. */
export function checkStructuredOption(
  options: ModelOptions,
  family: FamilyName,
  vias: (modelId: string) => readonly StructuredVia[],
): ValidationIssue[] {
  const s: unknown = options.structured;
  if (s === undefined) return [];
  const bad = (reason: string): ValidationIssue[] => [{ code: 'E_BAD_OPTION', reason }];
  if (!isObject(s)) return bad('structured must be an object {schema, name, via}');
  if (!isObject(s.schema) || s.schema.type !== 'object' || !isObject(s.schema.properties)) {
    return bad('structured.schema must be an object schema with properties (load it with loadSchema, docs/structured.md)');
  }
  if (typeof s.name !== 'string' || !NAME.test(s.name)) return bad('structured.name must be 1 to 64 of A-Z, a-z, 0-9, _ and -');
  // a schema given through the library meets the same subset as a --schema file
  try {
    checkSchema(s.schema, 'structured.schema');
  } catch (error) {
    return bad((error as Error).message);
  }
  const allowed = vias(options.modelId);
  if (typeof s.via !== 'string' || !allowed.includes(s.via as StructuredVia)) {
    return bad(viaRefusal(family, options.modelId, String(s.via), allowed));
  }
  return [];
}

/** A builder met a way its family does not take (checkOptions refuses it first). */
export function unsupportedVia(family: FamilyName, via: StructuredVia): never {
  throw new Error(`${family} builds no --schema-via ${via} request: checkOptions should have refused it`);
}

/** The text of a family that asks for fields only the `prompt` way: the prompt, and the JSON-only instruction after it when asked. */
export function promptOnlyText(family: FamilyName, prompt: PromptText, options: ModelOptions): string {
  const s = options.structured;
  if (s === undefined) return prompt.prompt;
  if (s.via !== 'prompt') unsupportedVia(family, s.via);
  return withJsonInstruction(prompt.prompt, s.schema);
}

const SENT = new WeakMap<object, Record<string, unknown>>();
const SENT_TEXT = new WeakMap<object, string>();
/** Keywords Bedrock's structured outputs refuse (AWS structured-output page, Anthropic's schema limits): moved into descriptions. */
const UNSENT = ['minimum', 'maximum', 'minItems', 'maxItems'] as const;

/**
 * The schema as Bedrock's structured outputs take it (`output_config.format`, `outputConfig.textFormat`):
 * the subset's numeric and array bounds (`minimum`, `maximum`, `maxItems`, `minItems` above 1) are
 * refused there with 400, so each moves into its property's description ("at most 5 items"); the
 * answer is still validated against the whole schema by collect. Built once per schema object.
 */
export function nativeSchema(schema: Record<string, unknown>): Record<string, unknown> {
  let sent = SENT.get(schema);
  if (sent === undefined) {
    sent = { ...schema };
    if (isObject(schema.properties)) {
      const properties: Record<string, unknown> = {};
      for (const [name, p] of Object.entries(schema.properties)) properties[name] = isObject(p) ? withoutBounds(p) : p;
      sent.properties = properties;
    }
    SENT.set(schema, sent);
  }
  return sent;
}

/** `nativeSchema` as the JSON text Converse's `jsonSchema.schema` takes. */
export function nativeSchemaText(schema: Record<string, unknown>): string {
  let text = SENT_TEXT.get(schema);
  if (text === undefined) {
    text = JSON.stringify(nativeSchema(schema));
    SENT_TEXT.set(schema, text);
  }
  return text;
}

function withoutBounds(p: Record<string, unknown>): Record<string, unknown> {
  const notes: string[] = [];
  const num = (k: string) => (typeof p[k] === 'number' ? (p[k] as number) : undefined);
  const min = num('minimum');
  const max = num('maximum');
  if (min !== undefined && max !== undefined) notes.push(`from ${min} to ${max}`);
  else if (min !== undefined) notes.push(`at least ${min}`);
  else if (max !== undefined) notes.push(`at most ${max}`);
  const minItems = num('minItems');
  const maxItems = num('maxItems');
  const keepMinItems = minItems !== undefined && minItems <= 1;
  if (minItems !== undefined && !keepMinItems) notes.push(`at least ${minItems} items`);
  if (maxItems !== undefined) notes.push(`at most ${maxItems} items`);
  if (notes.length === 0) return p;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p)) {
    if ((UNSENT as readonly string[]).includes(k) && !(k === 'minItems' && keepMinItems)) continue;
    out[k] = v;
  }
  const said = typeof p.description === 'string' && p.description.length > 0 ? `${p.description} ` : '';
  out.description = `${said}(${notes.join(', ')})`;
  return out;
}

/** The description of the forced tool: the schema's own, else a plain one. */
export function toolDescription(s: StructuredRequest): string {
  const d = s.schema.description;
  return typeof d === 'string' && d.trim() !== '' ? d : `Record the ${s.name} fields of the answer.`;
}

// Prepare's checks of the pieces (each family's validateInput), written from the documented shapes.

const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/** `value` must be a JSON Schema object with `type: "object"` (a tool's or a format's schema). */
export function checkObjectSchema(value: unknown, path: string, issues: ValidationIssue[]): void {
  if (!isObject(value)) issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `${path} must be a JSON Schema object` });
  else if (value.type !== 'object') issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `${path}.type must be "object"` });
}

/** A tool name: 1 to 64 of letters, digits, `_` and `-` (Anthropic and Converse tool names). */
export function checkToolName(value: unknown, path: string, issues: ValidationIssue[]): void {
  if (typeof value !== 'string' || !TOOL_NAME.test(value)) {
    issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `${path} must be 1 to 64 of letters, digits, _ and -` });
  }
}
