/**
 * Small, allocation-light checks shared by the model families' `validateInput` and `checkOptions`.
 * Each pushes a `ValidationIssue` (one line naming the field and the rule) onto `issues`.
 * These run on every record: no regex over whole texts, no copies of the input.
 */
import type { ModelOptions, ValidationIssue } from './family.js';

export type Issues = ValidationIssue[];

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Does the text hold anything but whitespace? Stops at the first non-blank character. */
export function hasText(text: string): boolean {
  // Fast path: most prompts start with a visible character.
  const c = text.charCodeAt(0);
  if (c > 32 && c !== 160) return true;
  return /\S/.test(text);
}

/** Every key of `obj` outside `known` is an E_STRAY_KEY: Bedrock answers "Extra inputs are not permitted". */
export function strayKeys(obj: Record<string, unknown>, known: ReadonlySet<string>, path: string, issues: Issues): void {
  for (const key in obj) {
    if (known.has(key)) continue;
    const where = path ? `${path}.${key}` : key;
    issues.push({
      code: 'E_STRAY_KEY',
      reason:
        key === 'modelId' && !path
          ? 'modelInput.modelId is not allowed: the model is set on the job, and Bedrock rejects the record ("Extra inputs are not permitted")'
          : `${where} is not a known request key for this model; Bedrock rejects the record ("Extra inputs are not permitted")`,
    });
  }
}

export interface NumberRule {
  min: number;
  max: number;
  integer?: boolean;
  required?: boolean;
}

function describe(rule: NumberRule): string {
  return `${rule.integer ? 'an integer' : 'a number'} from ${rule.min} to ${rule.max}`;
}

/** `obj[key]` must be a number (an integer when asked) within [min, max]; absent is fine unless required. */
export function numberField(obj: Record<string, unknown>, key: string, path: string, rule: NumberRule, issues: Issues): void {
  const value = obj[key];
  if (value === undefined) {
    if (rule.required) issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `${path}${key} is required (${describe(rule)})` });
    return;
  }
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    (rule.integer && !Number.isInteger(value)) ||
    value < rule.min ||
    value > rule.max
  ) {
    const got = typeof value === 'number' ? String(value) : typeof value === 'string' ? `the string ${JSON.stringify(value.slice(0, 20))}` : typeof value;
    issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `${path}${key} must be ${describe(rule)}, got ${got}` });
  }
}

/** `obj[key]`, when present, must be an array of strings of at most `maxItems` entries. */
export function stringArrayField(obj: Record<string, unknown>, key: string, path: string, maxItems: number, issues: Issues): void {
  const value = obj[key];
  if (value === undefined) return;
  if (!Array.isArray(value) || value.length > maxItems || value.some((s) => typeof s !== 'string')) {
    issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `${path}${key} must be an array of at most ${maxItems} strings` });
  }
}

/** `obj[key]` must be a string with visible text: E_MISSING_TEXT when blank, E_INVALID_MODEL_INPUT when not a string. */
export function textField(obj: Record<string, unknown>, key: string, path: string, issues: Issues, blankCode: 'E_MISSING_TEXT' | 'E_INVALID_MODEL_INPUT' = 'E_MISSING_TEXT'): void {
  const value = obj[key];
  if (typeof value !== 'string') {
    issues.push({
      code: 'E_INVALID_MODEL_INPUT',
      reason: value === undefined ? `${path}${key} is required (a non-empty string)` : `${path}${key} must be a string, got ${Array.isArray(value) ? 'array' : typeof value}`,
    });
  } else if (!hasText(value)) {
    issues.push({ code: blankCode, reason: `${path}${key} is empty: the model needs some text` });
  }
}

/** Ranges one family accepts for the shared generation options. */
export interface OptionRanges {
  /** The model's output-token maximum (from `limits`). */
  maxTokens: number;
  temperature: readonly [number, number];
  topP: readonly [number, number];
  /** Whether temperature and topP together are refused by this model. */
  temperatureXorTopP?: boolean;
}

/** The shared `checkOptions`: maxTokens, temperature, topP, system, named with the allowed range. */
export function checkCommonOptions(options: ModelOptions, ranges: OptionRanges, issues: Issues = []): Issues {
  if (typeof options.modelId !== 'string' || options.modelId.length === 0) {
    issues.push({ code: 'E_BAD_OPTION', reason: 'modelId is required: a base model id, a profile id or an ARN' });
  }
  const { maxTokens, temperature, topP, system } = options;
  if (maxTokens !== undefined && (!Number.isInteger(maxTokens) || maxTokens < 1 || maxTokens > ranges.maxTokens)) {
    issues.push({
      code: 'E_BAD_OPTION',
      reason: `maxTokens ${String(maxTokens)} is out of range for ${options.modelId}: use an integer from 1 to ${ranges.maxTokens}`,
    });
  }
  if (temperature !== undefined && (typeof temperature !== 'number' || !(temperature >= ranges.temperature[0] && temperature <= ranges.temperature[1]))) {
    issues.push({
      code: 'E_BAD_OPTION',
      reason: `temperature ${String(temperature)} is out of range: use a number from ${ranges.temperature[0]} to ${ranges.temperature[1]}`,
    });
  }
  if (topP !== undefined && (typeof topP !== 'number' || !(topP >= ranges.topP[0] && topP <= ranges.topP[1]))) {
    issues.push({ code: 'E_BAD_OPTION', reason: `topP ${String(topP)} is out of range: use a number from ${ranges.topP[0]} to ${ranges.topP[1]}` });
  }
  if (ranges.temperatureXorTopP && temperature !== undefined && topP !== undefined) {
    issues.push({ code: 'E_BAD_OPTION', reason: `${options.modelId} refuses temperature and topP together: set only one of them` });
  }
  if (system !== undefined && typeof system !== 'string') {
    issues.push({ code: 'E_BAD_OPTION', reason: `system must be a string, got ${typeof system}` });
  }
  return issues;
}

/** The system prompt to send: the per-record one, else the option; blank counts as none. */
export function systemOf(prompt: { system?: string | undefined }, options: ModelOptions): string | undefined {
  const system = prompt.system ?? options.system;
  return system !== undefined && system.length > 0 && hasText(system) ? system : undefined;
}

/** Join the `text` of blocks `[{text}]` or `[{type:'text', text}]`; undefined when none holds text. */
export function joinTexts(blocks: unknown): string | undefined {
  if (!Array.isArray(blocks)) return undefined;
  let out: string | undefined;
  for (const block of blocks) {
    if (isObject(block) && typeof block.text === 'string' && (block.type === undefined || block.type === 'text')) {
      out = out === undefined ? block.text : out + block.text;
    }
  }
  return out;
}

/** A finite number or undefined. */
export function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** A string or undefined. */
export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
