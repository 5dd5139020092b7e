/**
 * `loadSchema` and `checkSchema` (src/schema/load.ts): the built-in call-insights schema, schema
 * files in the supported subset (completed with additionalProperties: false, named from the title
 * or the file), and the refusals of everything outside it, each naming the JSON pointer.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { CALL_INSIGHTS, checkSchema, loadSchema, schemaName } from '../../src/schema/index.js';
import { thrownBatchError } from '../support/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'schema-load-'));
function file(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}
const TICKET = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  title: 'Ticket fields (v2)',
  type: 'object',
  description: 'One ticket.',
  properties: {
    priority: { type: 'string', enum: ['low', 'high'], description: 'How urgent.' },
    score: { type: 'number', minimum: 0, maximum: 1 },
    turns: { type: 'integer', minimum: 1 },
    escalated: { type: 'boolean' },
    tags: { type: 'array', items: { type: 'string', enum: ['a', 'b'] }, minItems: 1, maxItems: 3 },
    'agent.name': { type: 'string' },
  },
  required: ['priority', 'escalated'],
};

describe('the built-in call-insights schema', () => {
  it('loads by name, in the subset, with every field required and the documented enums', () => {
    const { name, schema } = loadSchema('call-insights');
    expect(name).toBe('call_insights');
    expect(schema).toBe(CALL_INSIGHTS);
    expect(checkSchema(schema)).toEqual(schema);
    const properties = schema.properties as Record<string, Record<string, unknown>>;
    expect(Object.keys(properties)).toEqual([
      'reason', 'reason_category', 'resolution', 'resolved', 'next_steps', 'next_step_owner',
      'sentiment_start', 'sentiment_end', 'topics', 'follow_up_needed',
    ]);
    expect(schema.required).toEqual(Object.keys(properties));
    expect(schema.additionalProperties).toBe(false);
    expect(properties.reason_category!.enum).toEqual(['billing', 'technical_support', 'account', 'sales', 'cancellation', 'complaint', 'information', 'other']);
    expect(properties.next_step_owner!.enum).toEqual(['agent', 'customer', 'both', 'none']);
    expect(properties.sentiment_start!.enum).toEqual(['negative', 'neutral', 'positive']);
    expect(properties.topics!.maxItems).toBe(5);
    for (const p of Object.values(properties)) expect(String(p.description).length).toBeGreaterThan(20);
  });

  it('is frozen: no run can change it for the next', () => {
    expect(() => ((CALL_INSIGHTS.properties as Record<string, unknown>).extra = {})).toThrow(TypeError);
  });

  it('a well-kept validator (ajv) compiles it and takes a good answer, refuses a bad one', () => {
    const validate = new Ajv({ strict: true }).compile(CALL_INSIGHTS);
    const good = {
      reason: 'r', reason_category: 'billing', resolution: 's', resolved: true, next_steps: [], next_step_owner: 'none',
      sentiment_start: 'neutral', sentiment_end: 'positive', topics: ['refund'], follow_up_needed: false,
    };
    expect(validate(good)).toBe(true);
    expect(validate({ ...good, topics: ['a', 'b', 'c', 'd', 'e', 'f'] })).toBe(false);
    expect(validate({ ...good, extra: 1 })).toBe(false);
    expect(validate({ ...good, reason_category: 'weather' })).toBe(false);
  });
});

describe('schema files', () => {
  it('loads the subset, adds additionalProperties: false, drops title and $schema, names it from the title', () => {
    const { name, schema } = loadSchema(file('ticket.json', TICKET));
    expect(name).toBe('Ticket_fields_v2');
    expect(schema).toEqual({
      type: 'object',
      description: 'One ticket.',
      properties: TICKET.properties,
      required: ['priority', 'escalated'],
      additionalProperties: false,
    });
    expect(new Ajv({ strict: true }).compile(schema)({ priority: 'low', escalated: false })).toBe(true);
  });

  it('names a schema without a title from its file name', () => {
    const { title: _, ...untitled } = TICKET;
    expect(loadSchema(file('my call fields.schema.json', untitled)).name).toBe('my_call_fields_schema');
  });

  it.each([
    ['Call Insights (ES)', 'Call_Insights_ES'],
    ['résumé', 'r_sum'],
    ['***', 'fields'],
    ['x'.repeat(80), 'x'.repeat(64)],
    ['keep-dashes_and_underscores', 'keep-dashes_and_underscores'],
  ])('schemaName(%j) is %j', (raw, name) => {
    expect(schemaName(raw)).toBe(name);
    expect(name).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
  });

  it('takes a file with a byte-order mark', () => {
    expect(loadSchema(file('bom.json', `\uFEFF${JSON.stringify(TICKET)}`)).name).toBe('Ticket_fields_v2');
  });

  it('names the file and what to do when it cannot be read or parsed', () => {
    const missing = thrownBatchError(() => loadSchema(join(dir, 'nope.json')));
    expect(missing.code).toBe('E_BAD_OPTION');
    expect(missing.message).toMatch(/nope\.json: the schema file cannot be read \(ENOENT\)/);
    expect(missing.hint).toMatch(/--schema call-insights or a JSON Schema file/);
    const broken = thrownBatchError(() => loadSchema(file('broken.json', '{"type": "object",')));
    expect(broken.message).toMatch(/broken\.json: the schema file is not valid JSON/);
    expect(thrownBatchError(() => loadSchema('')).message).toMatch(/--schema needs a value/);
  });
});

describe('refusals outside the subset, by JSON pointer', () => {
  const base = { type: 'object', properties: { a: { type: 'string' } } };
  const refused = (schema: unknown) => thrownBatchError(() => checkSchema(schema, 'fields.json'));

  it.each([
    ['a $ref', { ...base, properties: { a: { $ref: '#/$defs/x' } } }, '#/properties/a/type: must be one of string, number, integer, boolean, array (references are not supported'],
    ['oneOf', { ...base, properties: { a: { type: 'string', oneOf: [] } } }, '#/properties/a/oneOf: combinations are not supported'],
    ['a nested object', { ...base, properties: { address: { type: 'object', properties: {} } } }, '#/properties/address/type: nested objects are not supported: flatten them'],
    ['a pattern', { ...base, properties: { a: { type: 'string', pattern: '^x' } } }, '#/properties/a/pattern: string patterns are not supported'],
    ['a nullable type', { ...base, properties: { a: { type: ['string', 'null'] } } }, '#/properties/a/type: one type per property'],
    ['an array of numbers', { ...base, properties: { a: { type: 'array', items: { type: 'number' } } } }, '#/properties/a/items/type: must be "string"'],
    ['an array without items', { ...base, properties: { a: { type: 'array' } } }, '#/properties/a/items: must be {"type": "string"}'],
    ['an enum on a number', { ...base, properties: { a: { type: 'number', enum: [1, 2] } } }, '#/properties/a/enum: "enum" is not supported on a number property'],
    ['an enum of numbers on a string', { ...base, properties: { a: { type: 'string', enum: [1] } } }, '#/properties/a/enum: must be a non-empty array of strings'],
    ['minimum above maximum', { ...base, properties: { a: { type: 'integer', minimum: 5, maximum: 1 } } }, '#/properties/a: minimum is above maximum'],
    ['a fractional maxItems', { ...base, properties: { a: { type: 'array', items: { type: 'string' }, maxItems: 1.5 } } }, '#/properties/a/maxItems: must be an integer of at least 0'],
    ['required naming no property', { ...base, required: ['a', 'b'] }, '#/required/1: names no property ("b")'],
    ['additionalProperties true', { ...base, additionalProperties: true }, '#/additionalProperties: must be false (or left out)'],
    ['a top-level array', { type: 'array', items: { type: 'string' } }, '#/type: the top level must be "type": "object"'],
    ['no properties', { type: 'object', properties: {} }, '#/properties: must be an object naming at least one property'],
    ['$defs at the top', { ...base, $defs: {} }, '#/$defs: definitions are not supported'],
    ['a property name Claude refuses', { ...base, properties: { 'has space': { type: 'string' } } }, '#/properties/has space: property names are 1 to 64 of'],
    ['a slash in a name, escaped in the pointer', { ...base, properties: { 'a/b': { type: 'object' } } }, '#/properties/a~1b/type: nested objects'],
    ['not an object at all', [base], '#: the schema must be a JSON object'],
  ])('%s', (_, schema, expected) => {
    const e = refused(schema);
    expect(e.code).toBe('E_BAD_OPTION');
    expect(e.message).toContain('fields.json: the schema is outside the supported subset: ');
    expect(e.message).toContain(expected);
  });

  it('lists several problems at once, five at most and a count of the rest', () => {
    const properties = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`p${i}`, { type: 'object' }]));
    const e = refused({ type: 'object', properties });
    expect(e.message.match(/nested objects/g)).toHaveLength(5);
    expect(e.message).toMatch(/and 3 more$/);
  });
});
