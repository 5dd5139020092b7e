/**
 * Structured fields in every model family (docs/structured.md): for each family and each way its
 * model takes, the exact documented request shape, prepare's validation and the local double's
 * check both take it, the double reads the schema back, and a tool answer round-trips as
 * `toolInput`. Then the refusals: a way the model lacks, tools in a Converse record, malformed keys.
 */
import { describe, expect, it } from 'vitest';
import type { FamilyName, ModelFamily, StructuredRequest, StructuredVia } from '../../src/models/family.js';
import { FAMILIES } from '../../src/models/index.js';
import type { ModelAnswer } from '../../src/models/local-double.js';
import { nativeSchema } from '../../src/models/structured.js';
import { CALL_INSIGHTS, jsonInstruction, loadSchema } from '../../src/schema/index.js';

const SONNET_4_5 = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';
const HAIKU_3 = 'anthropic.claude-3-haiku-20240307-v1:0';
const MODEL: Record<FamilyName, string> = {
  anthropic: SONNET_4_5,
  nova: 'amazon.nova-lite-v1:0',
  'titan-text': 'amazon.titan-text-express-v1',
  llama: 'meta.llama3-1-8b-instruct-v1:0',
  mistral: 'mistral.mistral-7b-instruct-v0:2',
  converse: SONNET_4_5,
};
const PROMPT = 'Summarise the call: the caller asks about a refund of 42.50 for order 1234.';
const { name: NAME, schema: SCHEMA } = loadSchema('call-insights');
const FIELDS = {
  reason: 'A refund.',
  reason_category: 'billing',
  resolution: 'Refund issued.',
  resolved: true,
  next_steps: [],
  next_step_owner: 'none',
  sentiment_start: 'negative',
  sentiment_end: 'positive',
  topics: ['refund'],
  follow_up_needed: false,
};
const CONTEXT = { modelName: 'stand-in', answerId: 'abc123', latencyMs: 3 };
const ask = (via: StructuredVia): StructuredRequest => ({ schema: SCHEMA, name: NAME, via });
const build = (family: FamilyName, via: StructuredVia, modelId = MODEL[family]) =>
  FAMILIES[family].buildInput({ prompt: PROMPT }, { modelId, structured: ask(via) }) as Record<string, any>;
const occurrences = (text: string, part: string) => text.split(part).length - 1;
const INSTRUCTION = jsonInstruction(SCHEMA);

describe('the ways each family takes, strongest first', () => {
  it.each([
    ['anthropic', SONNET_4_5, ['native', 'tool', 'prompt']],
    ['anthropic', 'anthropic.claude-haiku-4-5-20251001-v1:0', ['native', 'tool', 'prompt']],
    ['anthropic', 'global.anthropic.claude-opus-4-5-20251101-v1:0', ['native', 'tool', 'prompt']],
    ['anthropic', 'anthropic.claude-opus-4-6-v1', ['native', 'tool', 'prompt']],
    ['anthropic', 'anthropic.claude-sonnet-4-6', ['native', 'tool', 'prompt']],
    ['anthropic', 'us.anthropic.claude-opus-4-7', ['tool', 'prompt']],
    ['anthropic', 'anthropic.claude-opus-4-8-v1:0', ['tool', 'prompt']],
    ['converse', 'anthropic.claude-opus-4-7', ['prompt']],
    ['anthropic', 'anthropic.claude-opus-4-1-20250805-v1:0', ['tool', 'prompt']],
    ['anthropic', 'anthropic.claude-sonnet-4-20250514-v1:0', ['tool', 'prompt']],
    ['anthropic', 'us.anthropic.claude-3-7-sonnet-20250219-v1:0', ['tool', 'prompt']],
    ['anthropic', HAIKU_3, ['tool', 'prompt']],
    ['anthropic', 'anthropic.claude-v2:1', ['prompt']],
    ['anthropic', 'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abcdefghijkl', ['tool', 'prompt']],
    ['nova', 'amazon.nova-pro-v1:0', ['tool', 'prompt']],
    ['converse', SONNET_4_5, ['native', 'prompt']],
    ['converse', HAIKU_3, ['prompt']],
    ['converse', 'qwen.qwen3-32b-v1:0', ['prompt']],
    ['titan-text', MODEL['titan-text'], ['prompt']],
    ['llama', 'us.meta.llama4-maverick-17b-instruct-v1:0', ['prompt']],
    ['mistral', MODEL.mistral, ['prompt']],
  ] as const)('%s %s: %j', (family, modelId, vias) => {
    expect(FAMILIES[family].structuredVias(modelId)).toEqual(vias);
  });
});

describe('the exact documented shapes', () => {
  it('anthropic native: output_config.format with the schema, bounds moved into descriptions', () => {
    expect(build('anthropic', 'native')).toEqual({
      anthropic_version: 'bedrock-2023-05-31',
      max_tokens: 1024,
      messages: [{ role: 'user', content: [{ type: 'text', text: PROMPT }] }],
      output_config: { format: { type: 'json_schema', schema: nativeSchema(SCHEMA) } },
    });
    const topics = (nativeSchema(SCHEMA).properties as Record<string, Record<string, unknown>>).topics!;
    expect(topics.maxItems).toBeUndefined();
    expect(topics.description).toMatch(/\(at most 5 items\)$/);
    expect((SCHEMA.properties as Record<string, Record<string, unknown>>).topics!.maxItems).toBe(5);
  });

  it('anthropic tool: tools [{name, description, input_schema}] and tool_choice {type: tool, name}', () => {
    expect(build('anthropic', 'tool', HAIKU_3)).toEqual({
      anthropic_version: 'bedrock-2023-05-31',
      max_tokens: 1024,
      messages: [{ role: 'user', content: [{ type: 'text', text: PROMPT }] }],
      tools: [{ name: 'call_insights', description: CALL_INSIGHTS.description, input_schema: SCHEMA }],
      tool_choice: { type: 'tool', name: 'call_insights' },
    });
  });

  it('anthropic prompt: the instruction as a second text block of the user turn', () => {
    expect(build('anthropic', 'prompt', HAIKU_3).messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: PROMPT }, { type: 'text', text: INSTRUCTION }] },
    ]);
  });

  it('nova tool: toolConfig with a toolSpec and toolChoice.tool', () => {
    expect(build('nova', 'tool')).toEqual({
      messages: [{ role: 'user', content: [{ text: PROMPT }] }],
      inferenceConfig: { maxTokens: 1024 },
      toolConfig: {
        tools: [{ toolSpec: { name: 'call_insights', description: CALL_INSIGHTS.description, inputSchema: { json: SCHEMA } } }],
        toolChoice: { tool: { name: 'call_insights' } },
      },
    });
  });

  it('nova and converse prompt: the instruction as a second block', () => {
    for (const family of ['nova', 'converse'] as const) {
      expect(build(family, 'prompt').messages).toEqual([{ role: 'user', content: [{ text: PROMPT }, { text: INSTRUCTION }] }]);
    }
  });

  it('converse native: outputConfig.textFormat with the schema as JSON text, its name and description', () => {
    const input = build('converse', 'native');
    expect(input).toEqual({
      messages: [{ role: 'user', content: [{ text: PROMPT }] }],
      inferenceConfig: { maxTokens: 1024 },
      outputConfig: {
        textFormat: {
          type: 'json_schema',
          structure: { jsonSchema: { schema: JSON.stringify(nativeSchema(SCHEMA)), name: 'call_insights', description: CALL_INSIGHTS.description } },
        },
      },
    });
    expect(typeof input.outputConfig.textFormat.structure.jsonSchema.schema).toBe('string');
  });

  it('titan, llama and mistral: the instruction after the prompt inside the user turn', () => {
    expect(build('titan-text', 'prompt').inputText).toBe(`User: ${PROMPT}\n\n${INSTRUCTION}\nBot:`);
    expect(build('llama', 'prompt').prompt).toBe(
      `<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n${PROMPT}\n\n${INSTRUCTION}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n`,
    );
    expect(build('mistral', 'prompt').prompt).toBe(`<s>[INST] ${PROMPT}\n\n${INSTRUCTION} [/INST]`);
  });

  it('the instruction holds the schema between the markers, as JSON', () => {
    const inner = INSTRUCTION.slice(INSTRUCTION.indexOf('<json_schema>') + 13, INSTRUCTION.indexOf('</json_schema>'));
    expect(JSON.parse(inner)).toEqual(SCHEMA);
    expect(INSTRUCTION).toMatch(/^Answer with one JSON object and nothing else/);
  });
});

/** Every family with every way its model takes. */
const CASES: [FamilyName, StructuredVia, string][] = [
  ['anthropic', 'native', SONNET_4_5],
  ['anthropic', 'tool', SONNET_4_5],
  ['anthropic', 'tool', HAIKU_3],
  ['anthropic', 'prompt', HAIKU_3],
  ['nova', 'tool', MODEL.nova],
  ['nova', 'prompt', MODEL.nova],
  ['converse', 'native', SONNET_4_5],
  ['converse', 'prompt', 'qwen.qwen3-32b-v1:0'],
  ['titan-text', 'prompt', MODEL['titan-text']],
  ['llama', 'prompt', MODEL.llama],
  ['llama', 'prompt', 'us.meta.llama4-scout-17b-instruct-v1:0'],
  ['mistral', 'prompt', MODEL.mistral],
];

describe.each(CASES)('%s, the %s way, for %s', (name, via, modelId) => {
  const family: ModelFamily = FAMILIES[name];
  const input = build(name, via, modelId);

  it('is a way checkOptions takes, and the prompt is in the request once, verbatim', () => {
    expect(family.checkOptions({ modelId, structured: ask(via) })).toEqual([]);
    expect(occurrences(JSON.stringify(input), JSON.stringify(PROMPT).slice(1, -1))).toBe(1);
  });

  it("passes prepare's validation and the local double's check", () => {
    expect(family.validateInput(input, modelId)).toEqual([]);
    expect(family.local.checkRequest(input, modelId)).toEqual([]);
  });

  it('the double reads the schema back, with the way and the name', () => {
    const request = family.local.readRequest(input);
    const schema = via === 'native' ? nativeSchema(SCHEMA) : SCHEMA;
    const named = via === 'tool' || (via === 'native' && name === 'converse');
    expect(request.structured).toEqual({ schema, via, ...(named ? { name: NAME } : {}) });
    expect(request.turns[0]!.text.startsWith(PROMPT)).toBe(true);
  });

  it('an answer round-trips: a tool call as toolInput, else the JSON text', () => {
    const base: ModelAnswer = { text: JSON.stringify(FIELDS), inputTokens: 20, outputTokens: 9, stop: 'end' };
    const answer = via === 'tool' ? { ...base, text: '', tool: { name: NAME, input: FIELDS } } : base;
    const output = family.local.writeOutput(answer, CONTEXT);
    const read = family.readOutput(output);
    expect(Object.values(FAMILIES).filter((f) => f.ownsOutput(output)).map((f) => f.name)).toEqual([name]);
    if (via === 'tool') {
      expect(read.toolInput).toEqual(FIELDS);
      expect(read.stopReason).toBe('tool_use');
    } else {
      expect(read.toolInput).toBeUndefined();
      expect(JSON.parse(read.text!)).toEqual(FIELDS);
    }
  });
});

describe('tool answers in each shape', () => {
  it('anthropic writes a tool_use block with an id, and a cut answer still says max_tokens', () => {
    const tool = { name: NAME, input: FIELDS };
    const output = FAMILIES.anthropic.local.writeOutput({ text: '', inputTokens: 1, outputTokens: 2, stop: 'end', tool }, CONTEXT) as Record<string, any>;
    expect(output.content).toEqual([{ type: 'tool_use', id: 'toolu_bdrk_local_abc123', name: NAME, input: FIELDS }]);
    expect(output.stop_reason).toBe('tool_use');
    const cut = FAMILIES.anthropic.local.writeOutput({ text: '', inputTokens: 1, outputTokens: 2, stop: 'length', tool }, CONTEXT) as Record<string, any>;
    expect(cut.stop_reason).toBe('max_tokens');
  });

  it('nova writes a toolUse block with stopReason tool_use', () => {
    const output = FAMILIES.nova.local.writeOutput({ text: '', inputTokens: 1, outputTokens: 2, stop: 'end', tool: { name: NAME, input: FIELDS } }, CONTEXT) as Record<string, any>;
    expect(output.output.message.content).toEqual([{ toolUse: { toolUseId: 'tooluse_local_abc123', name: NAME, input: FIELDS } }]);
    expect(output.stopReason).toBe('tool_use');
  });

  it('readOutput takes the first tool call after any text (a real Claude may lead with text)', () => {
    const output = { type: 'message', content: [{ type: 'text', text: 'Here.' }, { type: 'tool_use', id: 't', name: NAME, input: { a: 1 } }], stop_reason: 'tool_use' };
    expect(FAMILIES.anthropic.readOutput(output)).toMatchObject({ text: 'Here.', toolInput: { a: 1 } });
    const keyed = { output: { message: { content: [{ text: 'x' }, { toolUse: { toolUseId: 't', name: NAME, input: { b: 2 } } }] } }, stopReason: 'tool_use' };
    expect(FAMILIES.converse.readOutput(keyed).toolInput).toEqual({ b: 2 });
  });
});

describe('refusals', () => {
  const reasons = (family: FamilyName, modelId: string, via: string) =>
    FAMILIES[family].checkOptions({ modelId, structured: { ...ask('prompt'), via: via as StructuredVia } }).map((i) => `${i.code}: ${i.reason}`);

  it('a Converse record never asks with a tool: refused quoting the 400', () => {
    const [reason] = reasons('converse', SONNET_4_5, 'tool');
    expect(reason).toMatch(/^E_BAD_OPTION: .*Converse batch job cannot take --schema-via tool.*toolConfig with 400.*use --schema-via native or prompt/);
  });

  it.each([
    ['anthropic', HAIKU_3, 'native', /has no Bedrock structured outputs.*use --schema-via tool or prompt/],
    ['anthropic', 'anthropic.claude-instant-v1', 'tool', /takes no forced tool.*use --schema-via prompt/],
    ['nova', MODEL.nova, 'native', /has no Bedrock structured outputs/],
    ['converse', 'qwen.qwen3-32b-v1:0', 'native', /has no Bedrock structured outputs.*use --schema-via prompt/],
    ['llama', MODEL.llama, 'native', /use --schema-via prompt/],
    ['mistral', MODEL.mistral, 'tool', /takes no forced tool/],
    ['titan-text', MODEL['titan-text'], 'json', /"json" is not a way/],
  ] as const)('%s %s refuses the %s way', (family, modelId, via, pattern) => {
    const found = reasons(family, modelId, via);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(pattern);
  });

  it('checkOptions refuses a malformed structured option', () => {
    const check = (structured: unknown) => FAMILIES.anthropic.checkOptions({ modelId: SONNET_4_5, structured: structured as StructuredRequest }).map((i) => i.reason);
    expect(check({ ...ask('tool'), name: 'has space' })[0]).toMatch(/structured.name must be 1 to 64/);
    expect(check({ ...ask('tool'), schema: { type: 'string' } })[0]).toMatch(/structured.schema must be an object schema/);
    expect(check('call-insights')[0]).toMatch(/structured must be an object/);
  });

  it('a builder never builds a way it lacks (checkOptions refuses it first)', () => {
    expect(() => build('llama', 'tool')).toThrow(/checkOptions should have refused it/);
    expect(() => build('converse', 'tool')).toThrow(/checkOptions should have refused it/);
  });

  /** Bodies both checks refuse, each side in its own words. */
  const BAD: [string, FamilyName, string, (input: Record<string, any>) => void, RegExp, RegExp][] = [
    ['output_config for a model without structured outputs', 'anthropic', HAIKU_3, (i) => (i.output_config = { format: { type: 'json_schema', schema: SCHEMA } }), /has no Bedrock structured outputs/, /does not support structured outputs/],
    ['output_config.format of another type', 'anthropic', SONNET_4_5, (i) => (i.output_config.format.type = 'json'), /format.type must be "json_schema"/, /format\/type: expected "json_schema"/],
    ['output_config.format without a schema object', 'anthropic', SONNET_4_5, (i) => (i.output_config.format.schema = '{}'), /format.schema must be a JSON Schema object/, /format\/schema: expected an object/],
    ['output_config with a stray key', 'anthropic', SONNET_4_5, (i) => (i.output_config.schema = {}), /output_config.schema is not a known request key/, /output_config\/schema: not a key/],
    ['tool_choice naming no tool', 'anthropic', HAIKU_3, (i) => { i.tools = [{ name: 'x', input_schema: SCHEMA }]; i.tool_choice = { type: 'tool', name: 'y' }; }, /tool_choice.name must name one of the tools/, /no tool named "y"/],
    ['a tool without input_schema', 'anthropic', HAIKU_3, (i) => { i.tools = [{ name: 'x' }]; }, /input_schema must be a JSON Schema object/, /tools\/0\/input_schema: required/],
    ['tool_choice of an unknown type', 'anthropic', HAIKU_3, (i) => { i.tools = [{ name: 'x', input_schema: SCHEMA }]; i.tool_choice = { type: 'force' }; }, /tool_choice.type must be one of/, /tool_choice\/type: expected one of/],
    ['tools for a model without tool use', 'anthropic', 'anthropic.claude-v2:1', (i) => { i.tools = [{ name: 'x', input_schema: SCHEMA }]; }, /has no tool use/, /does not support tool use/],
    ['nova toolChoice naming no tool', 'nova', MODEL.nova, (i) => (i.toolConfig = { tools: [{ toolSpec: { name: 'x', inputSchema: { json: SCHEMA } } }], toolChoice: { tool: { name: 'y' } } }), /toolChoice.tool.name must name one of the tools/, /no tool named "y"/],
    ['nova inputSchema as the schema itself', 'nova', MODEL.nova, (i) => (i.toolConfig = { tools: [{ toolSpec: { name: 'x', inputSchema: SCHEMA } }] }), /inputSchema.type is not a known request key/, /inputSchema\/type: not a key/],
    ['nova empty tools', 'nova', MODEL.nova, (i) => (i.toolConfig = { tools: [] }), /tools must be a non-empty array/, /tools: expected at least 1/],
    ['converse schema as an object, not JSON text', 'converse', SONNET_4_5, (i) => (i.outputConfig.textFormat.structure.jsonSchema.schema = SCHEMA), /schema must be a string/, /jsonSchema\/schema: expected a string holding a JSON object/],
    ['converse schema text that is not JSON', 'converse', SONNET_4_5, (i) => (i.outputConfig.textFormat.structure.jsonSchema.schema = '{type:'), /must hold a JSON Schema object/, /not valid JSON/],
    ['converse outputConfig for a model without structured outputs', 'converse', 'qwen.qwen3-32b-v1:0', (i) => (i.outputConfig = { textFormat: { type: 'json_schema', structure: { jsonSchema: { schema: '{"type":"object"}' } } } }), /has no Bedrock structured outputs/, /does not support structured outputs/],
    ['converse toolConfig (a forced tool)', 'converse', SONNET_4_5, (i) => (i.toolConfig = { tools: [{ toolSpec: { name: 'x', inputSchema: { json: SCHEMA } } }], toolChoice: { tool: { name: 'x' } } }), /toolConfig is refused in Converse batch jobs/, /tools are not accepted in Converse batch jobs/],
  ];

  it.each(BAD)('%s', (_, family, modelId, change, prepare, double) => {
    const via: StructuredVia = family === 'nova' ? 'prompt' : FAMILIES[family].structuredVias(modelId)[0]!;
    const input = structuredClone(build(family, via, modelId));
    change(input);
    const issues = FAMILIES[family].validateInput(input, modelId);
    expect(issues.map((i) => i.reason).join('\n')).toMatch(prepare);
    expect(issues.every((i) => i.code === 'E_INVALID_MODEL_INPUT' || i.code === 'E_STRAY_KEY')).toBe(true);
    expect(FAMILIES[family].local.checkRequest(input, modelId).join('\n')).toMatch(double);
  });

  it.each(['anthropic', 'nova', 'converse', 'titan-text', 'llama', 'mistral'] as const)(
    '%s: a blank prompt is still E_MISSING_TEXT with the instruction after it',
    (family) => {
      const modelId = family === 'anthropic' || family === 'converse' ? HAIKU_3 : MODEL[family];
      const input = FAMILIES[family].buildInput({ prompt: '   ' }, { modelId, structured: ask('prompt') });
      expect(FAMILIES[family].validateInput(input, modelId).map((i) => i.code)).toContain('E_MISSING_TEXT');
    },
  );
});
