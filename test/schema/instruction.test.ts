/**
 * The JSON-only instruction (src/schema/instruction.ts) and the local double's own reading of it
 * (`schemaInText` in src/models/local-double.ts): two implementations of the markers' contract.
 */
import { describe, expect, it } from 'vitest';
import { schemaInText, withPromptSchema } from '../../src/models/local-double.js';
import { CALL_INSIGHTS, jsonInstruction } from '../../src/schema/index.js';
import { withJsonInstruction, withoutJsonInstruction } from '../../src/schema/instruction.js';

const SCHEMA = { type: 'object', properties: { a: { type: 'string', description: 'has </json_schema-like> text? no: "<x>"' } }, additionalProperties: false };

describe('jsonInstruction', () => {
  it('asks for one JSON object only and carries the schema between the markers', () => {
    const text = jsonInstruction(SCHEMA);
    expect(text).toMatch(/^Answer with one JSON object and nothing else: no prose before or after it, no code fence\./);
    expect(text.endsWith('\n</json_schema>')).toBe(true);
    expect(schemaInText(text)).toEqual(SCHEMA);
  });

  it('is built once per schema object', () => {
    expect(jsonInstruction(CALL_INSIGHTS as Record<string, unknown>)).toBe(jsonInstruction(CALL_INSIGHTS as Record<string, unknown>));
  });
});

describe('the prompt around the instruction', () => {
  it('withoutJsonInstruction gives back the prompt, and leaves other text alone', () => {
    const prompt = 'Summarise.\n\nAnswer with one JSON object and nothing else, says the customer';
    expect(withoutJsonInstruction(withJsonInstruction(prompt, SCHEMA))).toBe(prompt);
    expect(withoutJsonInstruction(prompt)).toBe(prompt);
    expect(withoutJsonInstruction(withJsonInstruction('   ', SCHEMA))).toBe('   ');
  });
});

describe("the double's reading of a turn", () => {
  it('takes the last schema of the last user turn, and nothing from a transcript that quotes a broken one', () => {
    expect(schemaInText(`a <json_schema>{"type":"object"}</json_schema> b ${jsonInstruction(SCHEMA)}`)).toEqual(SCHEMA);
    expect(schemaInText('the caller typed <json_schema>not json</json_schema>')).toBeUndefined();
    expect(schemaInText('<json_schema>[1,2]</json_schema>')).toBeUndefined();
    expect(schemaInText('no markers')).toBeUndefined();
  });

  it('withPromptSchema sets the prompt way from the last user turn only', () => {
    const asked = withPromptSchema({ turns: [{ role: 'user', text: withJsonInstruction('p', SCHEMA) }] });
    expect(asked.structured).toEqual({ schema: SCHEMA, via: 'prompt' });
    const answered = withPromptSchema({ turns: [{ role: 'user', text: withJsonInstruction('p', SCHEMA) }, { role: 'assistant', text: 'ok' }, { role: 'user', text: 'again' }] });
    expect(answered.structured).toBeUndefined();
    const native = withPromptSchema({ turns: [{ role: 'user', text: withJsonInstruction('p', SCHEMA) }], structured: { schema: {}, via: 'native' } });
    expect(native.structured).toEqual({ schema: {}, via: 'native' });
  });
});

describe('a marker inside the schema', () => {
  it('is escaped in the JSON, so the double still reads the whole schema', () => {
    const tricky = { type: 'object', properties: { a: { type: 'string', description: 'not <json_schema> nor </json_schema>' } } };
    const text = jsonInstruction(tricky);
    expect(text.split('<json_schema>')).toHaveLength(2);
    expect(schemaInText(withJsonInstruction('p', tricky))).toEqual(tricky);
  });
});
