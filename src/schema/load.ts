/**
 * Loading the schema of `--schema`: the built-in `call-insights`, or a JSON Schema file checked
 * against the subset every way of asking takes (docs/structured.md, "The supported subset"):
 *
 *   top level   type "object", properties, required (names that exist), description, title, $schema,
 *               additionalProperties false (added when absent: Bedrock structured outputs need it)
 *   properties  type string (optionally enum of strings), number, integer (minimum, maximum),
 *               boolean, array (items {type: string, optionally enum}; minItems, maxItems);
 *               description anywhere
 *
 * Anything else ($ref, oneOf, nested objects, pattern, format, ...) is refused with the JSON pointer
 * of its place and what to write instead: a schema the models cannot all take would fail records
 * at Bedrock (400) or answers at collect, long after prepare. Errors name the file and the place,
 * never a value of the file beyond a key.
 */
import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { BatchError } from '../errors.js';
import { isObject } from '../core/values.js';
import { jsonParseReason } from '../read/json-error.js';
import { CALL_INSIGHTS, CALL_INSIGHTS_NAME } from './call-insights.js';

/** A schema ready for `ModelOptions.structured`: its name (the tool or format name) and the schema. */
export interface LoadedSchema {
  name: string;
  schema: Record<string, unknown>;
}

/** The name of the built-in schema, as `--schema` takes it. */
export const BUILT_IN_SCHEMA = 'call-insights';

const HINT = `give --schema ${BUILT_IN_SCHEMA} or a JSON Schema file in the supported subset (docs/structured.md)`;

/**
 * `call-insights` (built in) or the path of a JSON Schema file, checked and completed: the schema
 * in the supported subset, with `additionalProperties: false`, and its name from the file's `title`
 * or file name. Throws E_BAD_OPTION naming the place of the first problems.
 */
export function loadSchema(spec: string): LoadedSchema {
  if (typeof spec !== 'string' || spec.trim() === '') throw new BatchError('E_BAD_OPTION', '--schema needs a value', { hint: HINT });
  if (spec === BUILT_IN_SCHEMA) return { name: CALL_INSIGHTS_NAME, schema: CALL_INSIGHTS as Record<string, unknown> };
  let text: string;
  try {
    text = readFileSync(spec, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'an error';
    throw new BatchError('E_BAD_OPTION', `the schema file cannot be read (${code})`, { file: spec, hint: HINT, cause: e });
  }
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (e) {
    // the place in fixed words, never V8's quote of the text: a transcript given as --schema by mistake stays out of the message
    throw new BatchError('E_BAD_OPTION', `the schema file is not valid JSON (${jsonParseReason(e, body).reason})`, { file: spec, hint: HINT });
  }
  const schema = checkSchema(parsed, spec);
  const title = isObject(parsed) && typeof parsed.title === 'string' ? parsed.title : undefined;
  return { name: schemaName(title ?? basename(spec, extname(spec))), schema };
}

/** A schema name: runs of characters outside [A-Za-z0-9_-] become `_`, at most 64 characters, `fields` when nothing is left. */
export function schemaName(raw: string): string {
  const name = raw.replace(/[^A-Za-z0-9_-]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 64);
  return name === '' ? 'fields' : name;
}

const TOP_KEYS = new Set(['type', 'properties', 'required', 'additionalProperties', 'description', 'title', '$schema']);
const TYPES = new Set(['string', 'number', 'integer', 'boolean', 'array']);
const KEYS_OF: Record<string, ReadonlySet<string>> = {
  string: new Set(['type', 'description', 'enum']),
  number: new Set(['type', 'description', 'minimum', 'maximum']),
  integer: new Set(['type', 'description', 'minimum', 'maximum']),
  boolean: new Set(['type', 'description']),
  array: new Set(['type', 'description', 'items', 'minItems', 'maxItems']),
};
const ITEM_KEYS = new Set(['type', 'description', 'enum']);
/** Property names Claude takes in a schema (Anthropic answers 400 "property keys should match pattern ^[a-zA-Z0-9_.-]{1,64}$"). */
const PROPERTY_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
/** Why a keyword outside the subset is refused, and what to write instead. */
const WHY: Record<string, string> = {
  $ref: 'references are not supported: write the property out in place',
  $defs: 'definitions are not supported: write each property out in place',
  definitions: 'definitions are not supported: write each property out in place',
  oneOf: 'combinations are not supported: use one type per property, or a string enum',
  anyOf: 'combinations are not supported: use one type per property, or a string enum',
  allOf: 'combinations are not supported: use one type per property, or a string enum',
  not: 'negations are not supported',
  if: 'conditions are not supported',
  pattern: 'string patterns are not supported: say the format in the description',
  format: 'string formats are not supported: say the format in the description',
  minLength: 'string lengths are not supported: say the length in the description',
  maxLength: 'string lengths are not supported: say the length in the description',
  const: 'const is not supported: use an enum of one string',
  default: 'defaults are not supported: say the default in the description',
  patternProperties: 'pattern properties are not supported: name every property',
  uniqueItems: 'uniqueItems is not supported: say it in the description',
  multipleOf: 'multipleOf is not supported: say it in the description',
  exclusiveMinimum: 'exclusive bounds are not supported: use minimum',
  exclusiveMaximum: 'exclusive bounds are not supported: use maximum',
};

/** Why `key` is refused: its own reason, else `otherwise` (a key such as `constructor` is no entry of WHY). */
function why(key: string, otherwise: string): string {
  return Object.hasOwn(WHY, key) ? WHY[key]! : otherwise;
}

/**
 * `value` checked against the supported subset (see the module comment) and completed with
 * `additionalProperties: false`; `title` and `$schema` are dropped (the title names the schema).
 * Throws E_BAD_OPTION listing the first problems by JSON pointer; `source` names the file.
 */
export function checkSchema(value: unknown, source?: string): Record<string, unknown> {
  const problems: string[] = [];
  const out = checked(value, problems);
  if (problems.length > 0 || out === undefined) {
    const shown = problems.slice(0, 5).join('; ') + (problems.length > 5 ? `; and ${problems.length - 5} more` : '');
    throw new BatchError('E_BAD_OPTION', `the schema is outside the supported subset: ${shown}`, { ...(source ? { file: source } : {}), hint: HINT });
  }
  return out;
}

function checked(value: unknown, problems: string[]): Record<string, unknown> | undefined {
  if (!isObject(value)) {
    problems.push('#: the schema must be a JSON object with "type": "object" and "properties"');
    return undefined;
  }
  for (const key of Object.keys(value)) if (!TOP_KEYS.has(key)) problems.push(`#/${pointer(key)}: ${why(key, `"${key}" is not in the supported subset`)}`);
  if (value.type !== 'object') problems.push('#/type: the top level must be "type": "object" (one object of fields per call)');
  if (value.description !== undefined && typeof value.description !== 'string') problems.push('#/description: must be a string');
  if (value.title !== undefined && typeof value.title !== 'string') problems.push('#/title: must be a string');
  if (value.additionalProperties !== undefined && value.additionalProperties !== false) {
    problems.push('#/additionalProperties: must be false (or left out): Bedrock structured outputs take closed objects only');
  }
  const properties: Record<string, unknown> = {};
  if (!isObject(value.properties) || Object.keys(value.properties).length === 0) {
    problems.push('#/properties: must be an object naming at least one property');
  } else {
    for (const [name, p] of Object.entries(value.properties)) {
      const at = `#/properties/${pointer(name)}`;
      if (!PROPERTY_NAME.test(name)) problems.push(`${at}: property names are 1 to 64 of A-Z, a-z, 0-9, _, . and -`);
      if (name === '__proto__') {
        // JavaScript takes it as an object's prototype: the property would vanish from the schema,
        // the answers, the columns and the local stand-in's fields without a word
        problems.push(`${at}: "__proto__" cannot be a property name (JavaScript objects take it as their prototype): rename it`);
        continue;
      }
      properties[name] = checkedProperty(p, at, problems);
    }
  }
  const required = value.required;
  if (required !== undefined) {
    if (!Array.isArray(required) || required.some((r) => typeof r !== 'string')) problems.push('#/required: must be an array of property names');
    else {
      required.forEach((r: string, i) => {
        if (!Object.hasOwn(properties, r)) problems.push(`#/required/${i}: names no property (${JSON.stringify(r).slice(0, 40)})`);
        else if (required.indexOf(r) !== i) problems.push(`#/required/${i}: names a property twice`);
      });
    }
  }
  const out: Record<string, unknown> = { type: 'object' };
  if (typeof value.description === 'string') out.description = value.description;
  out.properties = properties;
  if (Array.isArray(required)) out.required = [...required];
  out.additionalProperties = false;
  return out;
}

function checkedProperty(p: unknown, at: string, problems: string[]): Record<string, unknown> {
  const before = problems.length;
  if (!isObject(p)) {
    problems.push(`${at}: must be an object with a "type"`);
    return {};
  }
  const type = p.type;
  if (type === 'object') {
    problems.push(`${at}/type: nested objects are not supported: flatten them into top-level properties (address_city, address_zip)`);
    return {};
  }
  if (Array.isArray(type)) {
    problems.push(`${at}/type: one type per property (a "null" type is not supported: leave the property out of "required" instead)`);
    return {};
  }
  if (typeof type !== 'string' || !TYPES.has(type)) {
    problems.push(`${at}/type: must be one of string, number, integer, boolean, array${type === undefined ? ` (${Object.hasOwn(p, '$ref') ? WHY.$ref : 'no type given'})` : ''}`);
    return {};
  }
  for (const key of Object.keys(p)) {
    if (!KEYS_OF[type]!.has(key)) problems.push(`${at}/${pointer(key)}: ${why(key, `"${key}" is not supported on a ${type} property`)}`);
  }
  if (p.description !== undefined && typeof p.description !== 'string') problems.push(`${at}/description: must be a string`);
  if (type === 'string' && p.enum !== undefined) checkEnum(p.enum, `${at}/enum`, problems);
  if (type === 'number' || type === 'integer') checkBounds(p, 'minimum', 'maximum', type === 'integer', at, problems);
  if (type === 'array') {
    checkBounds(p, 'minItems', 'maxItems', true, at, problems, 0);
    const items = p.items;
    if (!isObject(items)) problems.push(`${at}/items: must be {"type": "string"} (arrays of strings only)`);
    else {
      if (items.type !== 'string') problems.push(`${at}/items/type: must be "string" (arrays of strings only)`);
      for (const key of Object.keys(items)) if (!ITEM_KEYS.has(key)) problems.push(`${at}/items/${pointer(key)}: ${why(key, `"${key}" is not supported on array items`)}`);
      if (items.description !== undefined && typeof items.description !== 'string') problems.push(`${at}/items/description: must be a string`);
      if (items.enum !== undefined) checkEnum(items.enum, `${at}/items/enum`, problems);
    }
  }
  // A property that passed holds strings, numbers and arrays of strings only; one that did not may
  // hold anything (a description nested 100,000 deep), which the schema never keeps: not cloned.
  return problems.length > before ? {} : structuredClone(p);
}

function checkEnum(values: unknown, at: string, problems: string[]): void {
  if (!Array.isArray(values) || values.length === 0 || values.some((v) => typeof v !== 'string')) {
    problems.push(`${at}: must be a non-empty array of strings`);
  } else if (new Set(values).size !== values.length) {
    problems.push(`${at}: lists a value twice`);
  }
}

function checkBounds(p: Record<string, unknown>, low: string, high: string, integer: boolean, at: string, problems: string[], floor?: number): void {
  for (const key of [low, high]) {
    const v = p[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v)) || (floor !== undefined && v < floor)) {
      problems.push(`${at}/${key}: must be ${integer ? 'an integer' : 'a number'}${floor !== undefined ? ` of at least ${floor}` : ''}`);
    }
  }
  if (typeof p[low] === 'number' && typeof p[high] === 'number' && (p[low] as number) > (p[high] as number)) {
    problems.push(`${at}: ${low} is above ${high}`);
  }
}

/** A key as a JSON pointer segment (RFC 6901). */
function pointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}
