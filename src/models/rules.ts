/**
 * Small, allocation-light checks shared by the model families' `validateInput` and `checkOptions`.
 * Each names the field and the rule in a `ValidationIssue` (one line) pushed onto `issues`.
 * These run on every record: no regex over whole texts, no copies of the input.
 */
import { isObject } from '../core/values.js';
import type { ModelLimits, ModelOptions, ValidationIssue } from './family.js';

export type Issues = ValidationIssue[];

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

/** The code of blank text: E_MISSING_TEXT where the prompt goes, E_INVALID_MODEL_INPUT elsewhere (a blank system block). */
export type BlankCode = 'E_MISSING_TEXT' | 'E_INVALID_MODEL_INPUT';

/** `obj[key]` must be a string with visible text: E_MISSING_TEXT when blank, E_INVALID_MODEL_INPUT when not a string. */
export function textField(obj: Record<string, unknown>, key: string, path: string, issues: Issues, blankCode: BlankCode = 'E_MISSING_TEXT'): void {
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

/** A text block's `text` (the block at `at`) must be a string with visible text. */
export function blockText(block: Record<string, unknown>, at: string, blankCode: BlankCode, issues: Issues): void {
  if (typeof block.text !== 'string') issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `${at}.text must be a string` });
  else if (!hasText(block.text)) issues.push({ code: blankCode, reason: `${at}.text is empty: the model needs some text` });
}

const MESSAGE_KEYS: ReadonlySet<string> = new Set(['role', 'content']);

/**
 * `messages`: a non-empty array of `{role: user|assistant, content}` (the Messages and Converse
 * shapes) that starts with the user's turn and alternates (Converse answers 400 "A conversation
 * must alternate between user and assistant roles", Claude on Bedrock "roles must alternate":
 * [3RD-PARTY] reports, docs/bedrock.md §1.2); `checkContent` checks each message's content, named
 * by its path. Written apart from the local double's `turnOrder` (local-double.ts): the two are
 * compared in test/local/independent-checks.test.ts.
 */
export function checkMessages(messages: unknown, checkContent: (content: unknown, path: string) => void, issues: Issues): void {
  if (!Array.isArray(messages) || messages.length === 0) {
    issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: 'messages is required: a non-empty array of {role, content}' });
    return;
  }
  for (let i = 0; i < messages.length; i++) {
    const m: unknown = messages[i];
    const at = `messages[${i}]`;
    if (!isObject(m)) {
      issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `${at} must be an object {role, content}` });
      continue;
    }
    strayKeys(m, MESSAGE_KEYS, at, issues);
    if (m.role !== 'user' && m.role !== 'assistant') {
      issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `${at}.role must be "user" or "assistant"` });
    } else if (i === 0 && m.role !== 'user') {
      issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `${at}.role must be "user": a conversation starts with the user's turn` });
    } else if (i > 0 && isObject(messages[i - 1]) && (messages[i - 1] as Record<string, unknown>).role === m.role) {
      issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `${at}.role: turns must alternate between "user" and "assistant", and messages[${i - 1}] is "${m.role}" too` });
    }
    checkContent(m.content, `${at}.content`);
  }
}

/** The range of temperature and top-p in every family here. */
export const UNIT: NumberRule = Object.freeze({ min: 0, max: 1 });

/**
 * `obj[key]`, when present, must be an object holding only `known` keys (a family's settings
 * object, e.g. `inferenceConfig`); returns it for the checks of its fields, else undefined.
 */
export function nestedObject(obj: Record<string, unknown>, key: string, known: ReadonlySet<string>, issues: Issues): Record<string, unknown> | undefined {
  const value = obj[key];
  if (value === undefined) return undefined;
  if (!isObject(value)) {
    issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `${key} must be an object` });
    return undefined;
  }
  strayKeys(value, known, key, issues);
  return value;
}

/**
 * The `checkOptions` every family shares: maxTokens an integer up to the model's output maximum,
 * temperature and topP from 0 to 1, system a string. `refusesTemperatureWithTopP` names the models
 * that refuse the two together.
 */
export function checkOptionsFor(
  limits: (modelId: string) => ModelLimits,
  refusesTemperatureWithTopP?: (modelId: string) => boolean,
): (options: ModelOptions) => ValidationIssue[] {
  return (options) => {
    const issues: Issues = [];
    const most = limits(options.modelId).maxOutputTokens;
    if (typeof options.modelId !== 'string' || options.modelId.length === 0) {
      issues.push({ code: 'E_BAD_OPTION', reason: 'modelId is required: a base model id, a profile id or an ARN' });
    }
    const { maxTokens, temperature, topP, system } = options;
    if (maxTokens !== undefined && (!Number.isInteger(maxTokens) || maxTokens < 1 || maxTokens > most)) {
      issues.push({
        code: 'E_BAD_OPTION',
        reason: `maxTokens ${String(maxTokens)} is out of range for ${options.modelId}: use an integer from 1 to ${most}`,
      });
    }
    if (temperature !== undefined && !inUnit(temperature)) {
      issues.push({ code: 'E_BAD_OPTION', reason: `temperature ${String(temperature)} is out of range: use a number from ${UNIT.min} to ${UNIT.max}` });
    }
    if (topP !== undefined && !inUnit(topP)) {
      issues.push({ code: 'E_BAD_OPTION', reason: `topP ${String(topP)} is out of range: use a number from ${UNIT.min} to ${UNIT.max}` });
    }
    if (temperature !== undefined && topP !== undefined && refusesTemperatureWithTopP?.(options.modelId)) {
      issues.push({ code: 'E_BAD_OPTION', reason: `${options.modelId} refuses temperature and topP together: set only one of them` });
    }
    if (system !== undefined && typeof system !== 'string') {
      issues.push({ code: 'E_BAD_OPTION', reason: `system must be a string, got ${typeof system}` });
    }
    return issues;
  };
}

function inUnit(value: unknown): boolean {
  return typeof value === 'number' && value >= UNIT.min && value <= UNIT.max;
}
