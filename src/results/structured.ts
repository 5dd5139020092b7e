/**
 * The answers of a schema run (`--schema`, docs/structured.md): what collect does with each success
 * line's model output before it is a result.
 *
 *   extract    the answer is the forced tool's input when the output holds a tool call
 *              (`toolInput`, read by the family), else the first JSON object in the text: the
 *              first balanced `{...}` that JSON.parses, so a ```json fence or words around it
 *              do no harm (a model asked for JSON only still adds them now and then)
 *   validate   against the run's JSON Schema with ajv, compiled once per run; an answer that does
 *              not validate, or an output with no JSON object at all, is `invalid` with a reason
 *              `#/pointer: message` (ajv's message names the rule, never the value; a pointer
 *              segment that is not a property the schema declares, nor an index of an array in the
 *              answer, is shown as `*`, since it is a key the model wrote: `{"512483391": ...}`
 *              is no index). The answer's text is never in a reason.
 *   tally      the enum and boolean properties over the valid answers (the report charts them)
 *
 * and how fields become cells: a CSV/TSV column per schema property, in schema order.
 */
import { Ajv, type ErrorObject, type Options, type ValidateFunction } from 'ajv';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { BatchError } from '../errors.js';
import type { StructuredVia } from '../models/family.js';
import type { FieldTally } from './types.js';
import { isObject } from '../core/values.js';

/** The error code of an answer that does not validate (status `invalid`): in errorsByCode, results and dead letters. */
export const INVALID_ANSWER_CODE = 'E_INVALID_ANSWER';

/** A schema run's answer schema, as prepared.json carries it (`structured`) or `collect --schema` gives it. */
export interface AnswerSchema {
  name: string;
  /** How records asked for it, when known (prepared.json's). */
  via?: StructuredVia;
  schema: Record<string, unknown>;
}

/** What one model output gives: its answer's fields, or why there are none. */
export type AnswerCheck = { ok: true; fields: Record<string, unknown> } | { ok: false; reason: string };

/** Candidate `{` positions tried in one text before giving up (each try scans at most the rest of it). */
const MAX_TRIES = 64;
/** The longest reason kept (ajv's messages are short; a schema's pattern may not be). */
const MAX_REASON = 300;


/**
 * Index just past the `}` closing the object that opens at `open`, following strings (a brace in
 * a string does not count) and brackets; -1 when it does not close within the text.
 */
function closingBrace(text: string, open: number): number {
  let depth = 0;
  let inString = false;
  for (let i = open; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) {
      if (--depth === 0) return c === 0x7d ? i + 1 : -1;
    }
  }
  return -1;
}

/**
 * The first JSON object in a text: the first balanced `{...}` (from left to right) that JSON.parses
 * to an object; undefined when there is none.
 */
export function firstJsonObject(text: string): Record<string, unknown> | undefined {
  let from = 0;
  for (let tries = 0; tries < MAX_TRIES; tries++) {
    const open = text.indexOf('{', from);
    if (open < 0) return undefined;
    const end = closingBrace(text, open);
    if (end > 0) {
      try {
        const v: unknown = JSON.parse(text.slice(open, end));
        if (isObject(v)) return v;
      } catch {
        // words in braces, or not JSON: the next `{`
      }
    }
    from = open + 1;
  }
  return undefined;
}

/** The property names a schema declares anywhere (pointer segments that may be shown in a reason). */
function declaredNames(schema: unknown, into: Set<string>, depth = 0): Set<string> {
  if (depth > 32 || typeof schema !== 'object' || schema === null) return into;
  if (Array.isArray(schema)) {
    for (const s of schema) declaredNames(s, into, depth + 1);
    return into;
  }
  const o = schema as Record<string, unknown>;
  if (isObject(o.properties)) for (const k of Object.keys(o.properties)) into.add(k);
  if (Array.isArray(o.required)) for (const k of o.required) if (typeof k === 'string') into.add(k);
  for (const v of Object.values(o)) if (typeof v === 'object' && v !== null) declaredNames(v, into, depth + 1);
  return into;
}

/** An ajv class for the schema's dialect (`$schema`): 2020-12, 2019-09, else draft-07. */
function ajvFor(schema: Record<string, unknown>): { ajv: Ajv; schema: Record<string, unknown> } {
  const options: Options = { allErrors: false, strict: false, logger: false, validateFormats: false };
  const dialect = typeof schema.$schema === 'string' ? schema.$schema : '';
  if (dialect.includes('2020-12')) return { ajv: new Ajv2020(options) as unknown as Ajv, schema };
  if (dialect.includes('2019-09')) return { ajv: new Ajv2019(options) as unknown as Ajv, schema };
  if (dialect && !dialect.includes('draft-07')) {
    // draft-04/06 and others: the subset a schema run uses reads the same under draft-07
    const { $schema: _dialect, ...rest } = schema;
    return { ajv: new Ajv(options), schema: rest };
  }
  return { ajv: new Ajv(options), schema };
}

/** Checks the answers of one run against its schema: see the module comment. */
export class AnswerValidator {
  readonly name: string;
  readonly via: StructuredVia | undefined;
  /** The schema's top-level properties, in its order (the CSV columns). */
  readonly properties: readonly string[];
  private readonly validate: ValidateFunction;
  private readonly names: Set<string>;
  private readonly schema: Record<string, unknown>;

  constructor(answer: AnswerSchema) {
    if (!isObject(answer?.schema)) throw new BatchError('E_BAD_OPTION', 'the answer schema must be a JSON object');
    this.name = answer.name;
    this.via = answer.via;
    this.schema = answer.schema;
    this.properties = schemaProperties(answer.schema);
    this.names = declaredNames(answer.schema, new Set());
    const { ajv, schema } = ajvFor(answer.schema);
    try {
      this.validate = ajv.compile(schema);
    } catch (error) {
      throw new BatchError('E_BAD_OPTION', `the schema ${JSON.stringify(answer.name)} cannot be compiled: ${(error as Error).message.slice(0, 300)}`, {
        hint: 'check it with a JSON Schema validator; collect --schema <file> validates against another one',
      });
    }
  }

  /** The answer of one model output (its text and the tool input its family read), checked. */
  check(output: { text?: string | undefined; toolInput?: unknown }): AnswerCheck {
    let answer: unknown;
    if (output.toolInput !== undefined) answer = output.toolInput;
    else if (output.text === undefined) return { ok: false, reason: '#: the output has neither a tool call nor text' };
    else {
      answer = firstJsonObject(output.text);
      if (answer === undefined) return { ok: false, reason: '#: the answer holds no JSON object' };
    }
    if (this.validate(answer)) return { ok: true, fields: answer as Record<string, unknown> };
    const e = this.validate.errors?.[0];
    return { ok: false, reason: e ? this.reasonOf(e, answer) : '#: does not match the schema' };
  }

  /**
   * `#/pointer: message`, the pointer's segments kept only when the schema names them, or when they
   * index an array of the answer (followed along the pointer: digits that key an object are a key).
   */
  private reasonOf(e: ErrorObject, answer: unknown): string {
    const segments = e.instancePath === '' ? [] : e.instancePath.slice(1).split('/');
    let at: unknown = answer;
    const shown = segments.map((s) => {
      const name = s.replace(/~1/g, '/').replace(/~0/g, '~');
      const keep = Array.isArray(at) ? /^(0|[1-9]\d{0,8})$/.test(s) : this.names.has(name);
      at = typeof at === 'object' && at !== null && Object.hasOwn(at, name) ? (at as Record<string, unknown>)[name] : undefined;
      return keep ? s : '*';
    });
    const reason = `#${shown.length ? '/' + shown.join('/') : ''}: ${e.message ?? e.keyword}`;
    return reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON - 1)}…` : reason;
  }

  /** A zero tally of each enum and boolean property (enum values in the schema's order). */
  tallies(): Record<string, FieldTally> | undefined {
    const props = this.schema.properties;
    if (!isObject(props)) return undefined;
    const out: Record<string, FieldTally> = {};
    let any = false;
    for (const name of this.properties) {
      const p = props[name];
      if (!isObject(p)) continue;
      const types = Array.isArray(p.type) ? p.type : [p.type];
      if (Array.isArray(p.enum)) {
        out[name] = { type: 'enum', counts: Object.fromEntries(p.enum.map((v) => [cellKey(v), 0])) };
        any = true;
      } else if (types.includes('boolean')) {
        out[name] = { type: 'boolean', counts: { true: 0, false: 0 } };
        any = true;
      }
    }
    return any ? out : undefined;
  }
}

/** A schema's top-level properties, in its order (a schema run's CSV columns). */
export function schemaProperties(schema: Record<string, unknown>): string[] {
  return isObject(schema.properties) ? Object.keys(schema.properties) : [];
}

/** The key of a value in a tally. */
function cellKey(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v) ?? String(v);
}

/** Count one valid answer's enum and boolean values into the tallies. */
export function countFields(tallies: Record<string, FieldTally>, fields: Record<string, unknown>): void {
  for (const name in tallies) {
    if (!Object.hasOwn(fields, name)) continue;
    const t = tallies[name]!;
    const key = cellKey(fields[name]);
    if (Object.hasOwn(t.counts, key)) t.counts[key]!++;
  }
}

/** A field's CSV cell: arrays joined with `; ` (objects in them as JSON), booleans `true`/`false`, objects as JSON. */
export function fieldCell(v: unknown): unknown {
  if (v === undefined || v === null) return undefined;
  if (Array.isArray(v)) return v.map((x) => (typeof x === 'string' ? x : x === null || x === undefined ? '' : typeof x === 'object' ? JSON.stringify(x) : String(x))).join('; ');
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'object') return JSON.stringify(v);
  return v;
}

/** The `redacted` CSV cell: `card:1;phone:2`, in the lineage's order. */
export function redactedCell(r: Record<string, number> | undefined): string {
  if (!r) return '';
  return Object.entries(r)
    .map(([k, n]) => `${k}:${n}`)
    .join(';');
}

/** Each schema property's column name: its own, or `field_<name>` when a column of that name is already there. */
export function fieldColumns(properties: readonly string[], taken: Iterable<string>): [property: string, column: string][] {
  const used = new Set(taken);
  const out: [string, string][] = [];
  for (const p of properties) {
    let c = p;
    while (used.has(c)) c = `field_${c}`;
    used.add(c);
    out.push([p, c]);
  }
  return out;
}
