/**
 * What the local double (src/local) asks of every model family: the family-neutral request a
 * `modelInput` makes, the answer a local model gives, the `local` part each family declares to
 * check, read and answer its own shapes (docs/bedrock.md §1.2), and the few readers and the
 * request check those parts share.
 *
 * Independent on purpose: the double exists to check what prepare wrote, so these readers and
 * checks are written from the request shapes and never call the families' builders or rules
 * (rules.ts, fields.ts, keyed-blocks.ts' checks). Prepare's rules and the double's check are two
 * implementations of one contract that test each other (test/local/independent-checks.test.ts).
 */
import { isObject } from '../core/values.js';

export interface ChatTurn {
  role: 'user' | 'assistant';
  text: string;
}

/** One record's request, family-neutral. */
export interface ModelRequest {
  system?: string;
  turns: ChatTurn[];
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  /** The JSON Schema the record asks its answer to follow, and how it asks (docs/structured.md). */
  structured?: { schema: Record<string, unknown>; via: 'native' | 'tool' | 'prompt'; name?: string };
}

/** What a local model answers. */
export interface ModelAnswer {
  text: string;
  inputTokens: number;
  outputTokens: number;
  /** `end`: the model finished; `length`: it ran into the output budget. */
  stop: 'end' | 'length';
  /** A tool call to answer with (a forced tool's input) instead of text: families with tools write it as their tool-use block. */
  tool?: { name: string; input: unknown };
}

/** What an answer's `modelOutput` may carry besides the answer itself. */
export interface AnswerContext {
  /** The name the stand-in reports in place of the real model's. */
  modelName: string;
  /** A stable id of this record's answer (hex), for shapes that carry a message id. */
  answerId: string;
  /** How long the answer took, in whole milliseconds. */
  latencyMs: number;
}

/** Where a family's request schema comes from: the provider's published page and the day it was read. */
export interface SchemaSource {
  readonly url: string;
  /** ISO date (YYYY-MM-DD) the check was last compared with the page. */
  readonly checked: string;
  /** Other pages the check follows (the provider's own API reference, a newer version's page). */
  readonly also?: readonly string[];
}

/** How the local double checks one family's `modelInput`, reads it and answers it. */
export interface LocalShape {
  /** The published request schema `checkRequest` is written from (listed in docs/bedrock.md §1.2). */
  readonly source: SchemaSource;
  /**
   * Why a real model would refuse this `modelInput` for the job's model (none for a body it takes):
   * stray keys, missing or mistyped fields, settings out of range, blank text, turns out of order.
   * Each reason names its place as a JSON pointer (`#/messages/0/role: ...`).
   */
  checkRequest(modelInput: Record<string, unknown>, modelId: string): string[];
  /**
   * Whether a `modelInput` has this family's shape, for jobs whose model id cannot tell (custom
   * models, application inference profiles); the first family in the registry that claims it wins.
   * Absent when the shape is another family's too (Nova's native body reads as a Converse one).
   */
  claimsInput?(modelInput: Record<string, unknown>): boolean;
  /** The request a `modelInput` makes. Never throws: unknown shapes give what can be read. */
  readRequest(modelInput: Record<string, unknown>): ModelRequest;
  /** The `modelOutput` this family answers with. */
  writeOutput(answer: ModelAnswer, context: AnswerContext): Record<string, unknown>;
}

/** The object itself, or an empty one for anything else. */
export function objectOr(value: unknown): Record<string, unknown> {
  return isObject(value) ? value : {};
}

/** A string's text, or the `text` of content blocks joined by newlines; '' for anything else. */
export function blocksText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((b) => objectOr(b).text)
    .filter((t): t is string => typeof t === 'string' && t !== '')
    .join('\n');
}

/** The request of a chat body: `messages` `[{role, content}]` and an optional `system` (a string or blocks). */
export function chatRequest(messages: unknown, system: unknown): ModelRequest {
  const turns = Array.isArray(messages)
    ? messages.filter(isObject).map((m): ChatTurn => ({ role: m.role === 'assistant' ? 'assistant' : 'user', text: blocksText(m.content) }))
    : [];
  const req: ModelRequest = { turns };
  const text = blocksText(system);
  if (text) req.system = text;
  return req;
}

/** `req` with the generation settings that are finite numbers. */
export function withSettings(req: ModelRequest, maxTokens: unknown, temperature: unknown, topP: unknown): ModelRequest {
  if (isFiniteNumber(maxTokens)) req.maxTokens = maxTokens;
  if (isFiniteNumber(temperature)) req.temperature = temperature;
  if (isFiniteNumber(topP)) req.topP = topP;
  return req;
}

/** A record's structured request (`ModelRequest.structured`). */
export type StructuredAsk = NonNullable<ModelRequest['structured']>;

/**
 * The JSON Schema a JSON-only instruction carries in `text` (the last user turn): the JSON object
 * between the last `<json_schema>` and the `</json_schema>` after it (docs/structured.md), or
 * undefined. The double's own reading of the documented markers, not the builder's.
 */
export function schemaInText(text: string): Record<string, unknown> | undefined {
  const close = text.lastIndexOf('</json_schema>');
  if (close < 0) return undefined;
  const open = text.lastIndexOf('<json_schema>', close);
  if (open < 0) return undefined;
  try {
    const parsed: unknown = JSON.parse(text.slice(open + '<json_schema>'.length, close));
    return isObject(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** `req` with `structured` set the `prompt` way when its last user turn carries a schema between the markers. */
export function withPromptSchema(req: ModelRequest): ModelRequest {
  if (req.structured !== undefined) return req;
  for (let i = req.turns.length - 1; i >= 0; i--) {
    const turn = req.turns[i]!;
    if (turn.role !== 'user') continue;
    const schema = schemaInText(turn.text);
    if (schema !== undefined) req.structured = { schema, via: 'prompt' };
    break;
  }
  return req;
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

// The double's request check: each family describes its documented body (docs/bedrock.md §1.2)
// with the schemas below, and `refusals` walks a `modelInput` against it. A schema says what a
// value must be; objects are closed (a key they do not name is refused: docs/bedrock.md §1.1, §6.12).

/** What one value of a request must be. */
export type Schema =
  /** A string; `visible`: with some non-whitespace text; `oneOf`: one of these strings. */
  | { readonly kind: 'string'; readonly visible?: boolean; readonly oneOf?: readonly string[] }
  | { readonly kind: 'number'; readonly integer?: boolean; readonly min: number; readonly max: number }
  /** An output-token budget: an integer from `min` to the most output tokens of the job's model. */
  | { readonly kind: 'tokens'; readonly min: number }
  | { readonly kind: 'list'; readonly items: Schema; readonly min?: number; readonly max?: number }
  /** An object of these fields and no others; `one`: exactly one of them present (keyed content blocks). */
  | { readonly kind: 'object'; readonly fields: Readonly<Record<string, Schema>>; readonly required?: readonly string[]; readonly one?: boolean }
  /**
   * An object whose `tag` field names its variant (Anthropic's `{"type": "text", ...}` blocks);
   * `untagged`: the schema of an object without the tag (Anthropic's custom tools may omit `type`);
   * `others`: the schema of a tag the variants do not name (tools the double does not look into).
   */
  | {
      readonly kind: 'tagged';
      readonly tag: string;
      readonly variants: Readonly<Record<string, Schema>>;
      readonly untagged?: Schema;
      readonly others?: Schema;
    }
  | { readonly kind: 'boolean' }
  /** Any JSON object, its keys not looked into (a JSON Schema, a tool's input). */
  | { readonly kind: 'record' }
  /** A string holding one JSON object (Converse's `jsonSchema.schema`). */
  | { readonly kind: 'jsonText' }
  /** The first alternative whose JSON type the value has (a string or a list of blocks). */
  | { readonly kind: 'either'; readonly of: readonly Schema[] }
  /** Anything: a field the double does not look into (tool definitions, images, ...). */
  | { readonly kind: 'any' }
  /** Never accepted, for the reason given. */
  | { readonly kind: 'refused'; readonly why: string };

/** Schema builders, read as `max_tokens: is.tokens(1)`, `messages: is.list(MESSAGE, { min: 1 })`. */
export const is = {
  string: { kind: 'string' } satisfies Schema,
  /** A string with some non-whitespace text: models refuse blank text. */
  text: { kind: 'string', visible: true } satisfies Schema,
  oneOf: (...values: string[]): Schema => ({ kind: 'string', oneOf: values }),
  /** Temperature and top-p: a number from 0 to 1 in every family here. */
  unit: { kind: 'number', min: 0, max: 1 } satisfies Schema,
  integer: (min: number, max: number): Schema => ({ kind: 'number', integer: true, min, max }),
  tokens: (min: number): Schema => ({ kind: 'tokens', min }),
  list: (items: Schema, count: { min?: number; max?: number } = {}): Schema => ({ kind: 'list', items, ...count }),
  /** An object of these fields and no others, the `required` ones present. */
  object: (fields: Record<string, Schema>, required: string[] = []): Schema => ({ kind: 'object', fields, required }),
  /** A content block keyed by its kind (`{text}`, `{image}`, ...): exactly one of these fields. */
  oneKeyOf: (fields: Record<string, Schema>): Schema => ({ kind: 'object', fields, one: true }),
  tagged: (tag: string, variants: Record<string, Schema>, more: { untagged?: Schema; others?: Schema } = {}): Schema => ({ kind: 'tagged', tag, variants, ...more }),
  boolean: { kind: 'boolean' } satisfies Schema,
  /** Any JSON object (a JSON Schema, a tool's input): its keys are not looked into. */
  record: { kind: 'record' } satisfies Schema,
  /** A string that holds one JSON object. */
  jsonText: { kind: 'jsonText' } satisfies Schema,
  either: (...of: Schema[]): Schema => ({ kind: 'either', of }),
  any: { kind: 'any' } satisfies Schema,
  refused: (why: string): Schema => ({ kind: 'refused', why }),
};

/** `messages` of a chat body: a non-empty list of `{role: user|assistant, content}`. */
export function chatMessages(content: Schema): Schema {
  return is.list(is.object({ role: is.oneOf('user', 'assistant'), content }, ['role', 'content']), { min: 1 });
}

/**
 * Why a model would refuse the order of a chat body's turns: the first turn must be the user's and
 * turns alternate. Claude on Bedrock and Converse answer 400 otherwise ([3RD-PARTY] evidence only,
 * the errors users report; not yet in docs/bedrock.md); Nova's native body is taken to follow
 * Converse. Messages that are not `{role}` objects are the schema's to refuse.
 */
export function turnOrder(messages: unknown): string[] {
  if (!Array.isArray(messages)) return [];
  const roles = messages.map((m) => objectOr(m).role);
  if (roles[0] === 'assistant') return ["#/messages/0/role: the first turn must be the user's"];
  const twice = roles.findIndex((role, i) => i > 0 && role === roles[i - 1] && (role === 'user' || role === 'assistant'));
  return twice < 0 ? [] : [`#/messages/${twice}/role: turns must alternate between user and assistant, found two ${String(roles[twice])} turns in a row`];
}

/**
 * Why a model would refuse `value` as `schema` describes it, each reason led by the JSON pointer
 * of its place (`#/inferenceConfig/topP: 2 is above the maximum 1`). `maxOutputTokens` is the job's
 * model's, for `tokens` budgets. A key holding `undefined` counts as absent, as in the JSON line.
 */
export function refusals(value: unknown, schema: Schema, maxOutputTokens: number): string[] {
  const found: string[] = [];
  walk(value, schema, '#', maxOutputTokens, found);
  return found;
}

function walk(value: unknown, schema: Schema, at: string, maxOutputTokens: number, found: string[]): void {
  switch (schema.kind) {
    case 'string':
      if (typeof value !== 'string') found.push(`${at}: expected a string, found ${shown(value)}`);
      else if (schema.oneOf && !schema.oneOf.includes(value)) found.push(`${at}: expected ${schema.oneOf.map((v) => JSON.stringify(v)).join(' or ')}, found ${shown(value)}`);
      else if (schema.visible && !/\S/.test(value)) found.push(`${at}: blank, the model needs some text`);
      return;
    case 'number':
    case 'tokens': {
      const integer = schema.kind === 'tokens' || schema.integer === true;
      if (typeof value !== 'number' || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
        found.push(`${at}: expected ${integer ? 'an integer' : 'a number'}, found ${shown(value)}`);
      } else if (value < schema.min) {
        found.push(`${at}: ${value} is below the minimum ${schema.min}`);
      } else if (schema.kind === 'number' && value > schema.max) {
        found.push(`${at}: ${value} is above the maximum ${schema.max}`);
      } else if (schema.kind === 'tokens' && value > maxOutputTokens) {
        found.push(`${at}: ${value} is above ${maxOutputTokens}, the most output tokens of this model`);
      }
      return;
    }
    case 'list':
      if (!Array.isArray(value)) return void found.push(`${at}: expected a list, found ${shown(value)}`);
      if (schema.min !== undefined && value.length < schema.min) found.push(`${at}: expected at least ${schema.min} item(s), found ${value.length}`);
      if (schema.max !== undefined && value.length > schema.max) found.push(`${at}: expected at most ${schema.max} item(s), found ${value.length}`);
      value.forEach((item, i) => walk(item, schema.items, `${at}/${i}`, maxOutputTokens, found));
      return;
    case 'object': {
      if (!isObject(value)) return void found.push(`${at}: expected an object, found ${shown(value)}`);
      let known = 0;
      for (const [key, field] of Object.entries(value)) {
        if (field === undefined) continue;
        if (!Object.hasOwn(schema.fields, key)) found.push(`${at}/${key}: not a key of this request (extra inputs are not permitted)`);
        else {
          known++;
          walk(field, schema.fields[key]!, `${at}/${key}`, maxOutputTokens, found);
        }
      }
      for (const key of schema.required ?? []) if (value[key] === undefined) found.push(`${at}/${key}: required`);
      if (schema.one && known !== 1) found.push(`${at}: expected exactly one of ${Object.keys(schema.fields).join(', ')}, found ${known}`);
      return;
    }
    case 'tagged': {
      if (!isObject(value)) return void found.push(`${at}: expected an object, found ${shown(value)}`);
      const tag = value[schema.tag];
      if (tag === undefined && schema.untagged) return walk(value, schema.untagged, at, maxOutputTokens, found);
      if (typeof tag === 'string' && !Object.hasOwn(schema.variants, tag) && schema.others) return walk(value, schema.others, at, maxOutputTokens, found);
      if (typeof tag !== 'string' || !Object.hasOwn(schema.variants, tag)) {
        return void found.push(`${at}/${schema.tag}: expected one of ${Object.keys(schema.variants).join(', ')}, found ${shown(tag)}`);
      }
      walk(value, schema.variants[tag]!, at, maxOutputTokens, found);
      return;
    }
    case 'boolean':
      if (typeof value !== 'boolean') found.push(`${at}: expected true or false, found ${shown(value)}`);
      return;
    case 'record':
      if (!isObject(value)) found.push(`${at}: expected an object, found ${shown(value)}`);
      return;
    case 'jsonText': {
      if (typeof value !== 'string') return void found.push(`${at}: expected a string holding a JSON object, found ${shown(value)}`);
      let parsed: unknown;
      try {
        parsed = JSON.parse(value);
      } catch {
        return void found.push(`${at}: not valid JSON`);
      }
      if (!isObject(parsed)) found.push(`${at}: expected a string holding a JSON object, found one holding ${shown(parsed)}`);
      return;
    }
    case 'either': {
      const fit = schema.of.find((s) => takes(s) === undefined || takes(s) === typeOf(value));
      if (fit) walk(value, fit, at, maxOutputTokens, found);
      else found.push(`${at}: expected ${schema.of.map((s) => A_TYPE[takes(s)!]).join(' or ')}, found ${shown(value)}`);
      return;
    }
    case 'any':
      return;
    case 'refused':
      found.push(`${at}: ${schema.why}`);
      return;
  }
}

type JsonType = 'string' | 'number' | 'list' | 'object';
const A_TYPE: Record<JsonType, string> = { string: 'a string', number: 'a number', list: 'a list', object: 'an object' };

/** The JSON type a schema takes; undefined when it takes any. */
function takes(schema: Schema): JsonType | undefined {
  if (schema.kind === 'tokens') return 'number';
  if (schema.kind === 'tagged' || schema.kind === 'record') return 'object';
  if (schema.kind === 'jsonText') return 'string';
  if (schema.kind === 'any' || schema.kind === 'refused' || schema.kind === 'either' || schema.kind === 'boolean') return undefined;
  return schema.kind;
}

function typeOf(value: unknown): JsonType | undefined {
  if (typeof value === 'string') return 'string';
  if (typeof value === 'number') return 'number';
  if (Array.isArray(value)) return 'list';
  return isObject(value) ? 'object' : undefined;
}

/** A value as a reason shows it: numbers and short strings as they are, others by their type. */
function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 24 ? `${value.slice(0, 24)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  if (value === undefined) return 'nothing';
  const type = typeOf(value);
  return type ? A_TYPE[type] : typeof value;
}
