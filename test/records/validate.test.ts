/** The validate stage (src/records/validate.ts): every rule, in order, and the one serialisation. */
import { describe, expect, it } from 'vitest';
import { serializeRecord, validateRecords } from '../../src/records/validate.js';
import { toRecords } from '../../src/records/to-records.js';
import { assignIds } from '../../src/records/ids.js';
import { estimateTokens } from '../../src/records/tokens.js';
import { FAMILIES, type FamilyName } from '../../src/models/index.js';
import type { PrepareItem, PreparedRecord, PromptItem, Reject } from '../../src/records/types.js';

const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0';
const MODELS: Record<FamilyName, string> = {
  anthropic: HAIKU,
  nova: 'amazon.nova-lite-v1:0',
  'titan-text': 'amazon.titan-text-express-v1',
  llama: 'meta.llama3-8b-instruct-v1:0',
  mistral: 'mistral.mistral-7b-instruct-v0:2',
  converse: 'cohere.command-r-v1:0',
};
const LIMIT = 6_000_000;

function record(modelInput: unknown, over: Partial<PreparedRecord> = {}): PreparedRecord {
  return { kind: 'record', file: 'calls.csv', line: 7, key: 'c-7', recordId: 'AbCdEfGh123', modelInput: modelInput as Record<string, unknown>, ...over };
}

function validate(items: PrepareItem[], options: Partial<Parameters<typeof validateRecords>[0]> = {}): PrepareItem[] {
  const step = validateRecords({ modelId: HAIKU, maxRecordBytes: LIMIT, ...options });
  const out: PrepareItem[] = [];
  for (const i of items) step.write(i, (x) => out.push(x));
  return out;
}
const one = (item: PrepareItem, options: Partial<Parameters<typeof validateRecords>[0]> = {}) => validate([item], options)[0]!;
const good = () => FAMILIES.anthropic.buildInput({ prompt: 'Summarise: hello' }, { modelId: HAIKU });

describe('validate: a good record', () => {
  it('is serialised once: the exact JSONL line, its bytes, its token counts; lineage kept', () => {
    const input = good();
    const out = one(record(input, { passthrough: { agent: 'Sam' }, inputTokens: 5, maxOutputTokens: 1024 })) as PreparedRecord;
    const line = `{"recordId":"AbCdEfGh123","modelInput":${JSON.stringify(input)}}\n`;
    expect(out).toEqual({
      kind: 'record',
      file: 'calls.csv',
      line: 7,
      key: 'c-7',
      recordId: 'AbCdEfGh123',
      modelInput: input,
      inputTokens: 5,
      maxOutputTokens: 1024,
      json: line,
      bytes: Buffer.byteLength(line),
      passthrough: { agent: 'Sam' },
    });
  });

  it('estimates the tokens and reads the output budget itself when the record does not carry them', () => {
    const out = one(record(good())) as PreparedRecord;
    expect(out.inputTokens).toBe(estimateTokens('Summarise: hello'));
    expect(out.maxOutputTokens).toBe(1024);
  });

  it('other items pass through untouched and in order', () => {
    const r: Reject = { kind: 'reject', file: 'f', line: 1, stage: 'decode', code: 'E_BAD_JSON', reason: 'x' };
    const prompt: PromptItem = { kind: 'prompt', file: 'f', line: 2, key: 'k', prompt: 'p' };
    const out = validate([r, prompt, record(good())]);
    expect(out[0]).toBe(r);
    expect(out[1]).toBe(prompt);
    expect(out[2]!.kind).toBe('record');
  });
});

describe('validate: rule 1, the recordId', () => {
  it.each([[''], ['AbCdEfGh12'], ['AbCdEfGh1234'], ['AbCd-fGh123'], ['AbCdEfGh12é'], [12345678901], [undefined]])('%j is E_BAD_RECORD_ID', (id) => {
    const r = one(record(good(), { recordId: id as string })) as Reject;
    expect(r).toMatchObject({ kind: 'reject', code: 'E_BAD_RECORD_ID', stage: 'validate', file: 'calls.csv', line: 7, key: 'c-7' });
    expect(r.reason).toMatch(/not 11 characters \[A-Za-z0-9\]; the ids stage must run before validation/);
  });

  it('comes first: a record with a bad id and a bad input is rejected for its id', () => {
    expect((one(record({ modelId: HAIKU }, { recordId: '' })) as Reject).code).toBe('E_BAD_RECORD_ID');
  });
});

describe('validate: rule 2, the family\'s rules', () => {
  it('modelInput must be an object', () => {
    for (const v of [null, 'text', [good()]]) expect(one(record(v))).toMatchObject({ code: 'E_INVALID_MODEL_INPUT', reason: 'modelInput must be a JSON object' });
  });

  it.each(Object.keys(MODELS) as FamilyName[])('%s: modelId inside modelInput is E_STRAY_KEY, a blank prompt E_MISSING_TEXT, a bad type E_INVALID_MODEL_INPUT', (name) => {
    const family = FAMILIES[name];
    const modelId = MODELS[name];
    const opts = { modelId, family: name };
    const input = family.buildInput({ prompt: 'hello' }, { modelId });
    expect(one(record(input), opts).kind).toBe('record');

    const stray = one(record({ ...input, modelId }), opts) as Reject;
    expect(stray).toMatchObject({ code: 'E_STRAY_KEY', stage: 'validate' });
    expect(stray.reason).toMatch(new RegExp(`^modelInput for ${name}: modelInput\\.modelId is not allowed`));

    expect((one(record(family.buildInput({ prompt: ' \n\t ' }, { modelId })), opts) as Reject).code).toBe('E_MISSING_TEXT');

    const wrongType = JSON.parse(JSON.stringify(input).replace(/"(max_tokens|maxTokens|maxTokenCount|max_gen_len)":\d+/, '"$1":"lots"'));
    const bad = one(record(wrongType), opts) as Reject;
    expect(bad.code).toBe('E_INVALID_MODEL_INPUT');
    expect(bad.reason).toMatch(/must be an integer from 1 to \d+, got the string "lots"|must be an integer from 0 to \d+, got the string "lots"/);
  });

  it.each([
    ['anthropic', { max_tokens: 4097 }, /max_tokens must be an integer from 1 to 4096, got 4097/],
    ['anthropic', { temperature: 1.2 }, /temperature must be a number from 0 to 1, got 1.2/],
    ['nova', { inferenceConfig: { maxTokens: 5001 } }, /inferenceConfig\.maxTokens must be an integer from 1 to 5000/],
    ['titan-text', { textGenerationConfig: { maxTokenCount: 8193 } }, /maxTokenCount must be an integer from 0 to 8192/],
    ['llama', { max_gen_len: 2049 }, /max_gen_len must be an integer from 1 to 2048/],
    ['mistral', { top_k: 500 }, /top_k must be an integer from 1 to 200/],
    ['converse', { inferenceConfig: { topP: 1.5 } }, /inferenceConfig\.topP must be a number from 0 to 1/],
  ] as const)('%s: %j is out of range, named with the allowed range', (name, patch, reason) => {
    const modelId = MODELS[name];
    const input = { ...FAMILIES[name].buildInput({ prompt: 'hello' }, { modelId }), ...patch };
    expect(one(record(input), { modelId, family: name })).toMatchObject({ code: 'E_INVALID_MODEL_INPUT', reason: expect.stringMatching(reason) });
  });

  it('an empty user turn inside a templated prompt is E_MISSING_TEXT (titan, llama, mistral)', () => {
    const express = MODELS['titan-text'];
    const titan = (inputText: string) => one(record({ inputText }), { modelId: express }) as Reject | PreparedRecord;
    expect((titan('Be brief.\n\nUser: \n \nBot:') as Reject).code).toBe('E_MISSING_TEXT');
    expect((titan('User:\nBot:') as Reject).code).toBe('E_MISSING_TEXT');
    expect(titan('User: hi\nBot:').kind).toBe('record');
    expect(titan('No template here\nBot:').kind).toBe('record');
    expect(titan('User: Customer: hi\nUser: \nBot:').kind).toBe('record');
    expect((one(record({ prompt: '<s>[INST]  [/INST]' }), { modelId: MODELS.mistral }) as Reject).code).toBe('E_MISSING_TEXT');
  });

  it('reports the first issue and how many more there are', () => {
    const r = one(record({ ...good(), modelId: HAIKU, temperature: 3, top_k: -1 })) as Reject;
    expect(r.code).toBe('E_STRAY_KEY');
    expect(r.reason).toMatch(/\(and 2 more issues\)$/);
    expect((one(record({ ...good(), temperature: 3, modelId: 'x' })) as Reject).reason).toMatch(/\(and 1 more issue\)$/);
  });

  it('the family follows the model id unless given (by name or as an object)', () => {
    const nova = FAMILIES.nova.buildInput({ prompt: 'hello' }, { modelId: MODELS.nova });
    expect(one(record(nova), { modelId: MODELS.nova }).kind).toBe('record');
    expect(one(record(nova)).kind).toBe('reject'); // checked as anthropic
    expect(one(record(nova), { modelId: 'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc', family: FAMILIES.nova }).kind).toBe('record');
    const converse = FAMILIES.converse.buildInput({ prompt: 'hello' }, { modelId: HAIKU });
    expect(one(record(converse), { invocationType: 'Converse' }).kind).toBe('record');
  });
});

describe('validate: rule 3, tokens against the model\'s context', () => {
  const express = MODELS['titan-text']; // 8,192 tokens of context
  const titan = (text: string, maxTokens = 512) => FAMILIES['titan-text'].buildInput({ prompt: text }, { modelId: express, maxTokens });

  it('input estimate + output budget over the context is E_TOO_MANY_TOKENS, saying it is an estimate', () => {
    const r = one(record(titan('word '.repeat(6600))), { modelId: express }) as Reject;
    expect(r.code).toBe('E_TOO_MANY_TOKENS');
    expect(r.reason).toMatch(/^about \d+ input tokens \(a rough estimate, not the model's count\) \+ 512 output tokens exceed the 8192-token context of amazon\.titan-text-express-v1; shorten the transcript, lower --max-tokens, or use --fit truncate$/);
  });

  it('the boundary: exactly the context passes, one token more does not', () => {
    const input = titan('x');
    expect(one(record(input, { inputTokens: 8192 - 512, maxOutputTokens: 512 }), { modelId: express }).kind).toBe('record');
    expect((one(record(input, { inputTokens: 8192 - 511, maxOutputTokens: 512 }), { modelId: express }) as Reject).code).toBe('E_TOO_MANY_TOKENS');
  });

  it('non-Latin scripts count more tokens per character (the safe side)', () => {
    expect(estimateTokens('abcd'.repeat(100))).toBe(100);
    expect(estimateTokens('日本語'.repeat(100))).toBe(300);
    expect(estimateTokens('😀'.repeat(100))).toBe(125);
    expect(estimateTokens('')).toBe(0);
    const cjk = one(record(titan('日本語の通話記録'.repeat(1000))), { modelId: express }) as Reject;
    expect(cjk.code).toBe('E_TOO_MANY_TOKENS'); // 8,000 characters: under 8k tokens as ASCII, not as CJK
    expect(one(record(titan('abcdefgh'.repeat(1000))), { modelId: express }).kind).toBe('record');
  });
});

describe('validate: rule 4, the serialised record against the byte limit', () => {
  it('a record over maxRecordBytes is E_RECORD_TOO_LARGE naming both sizes; exactly the limit passes', () => {
    const input = good();
    const { bytes } = serializeRecord('AbCdEfGh123', input);
    expect(one(record(input), { maxRecordBytes: bytes }).kind).toBe('record');
    const r = one(record(input), { maxRecordBytes: bytes - 1 }) as Reject;
    expect(r).toMatchObject({ code: 'E_RECORD_TOO_LARGE', key: 'c-7', line: 7 });
    expect(r.reason).toBe(`the record is ${bytes} bytes as a JSONL line, above the record limit of ${bytes - 1} bytes; shorten the transcript or raise --max-record-bytes`);
  });

  it('counts UTF-8 bytes, not characters', () => {
    const input = FAMILIES.anthropic.buildInput({ prompt: '😀'.repeat(100) }, { modelId: HAIKU });
    const chars = JSON.stringify({ recordId: 'AbCdEfGh123', modelInput: input }).length + 1;
    expect((one(record(input), { maxRecordBytes: chars + 10 }) as Reject).code).toBe('E_RECORD_TOO_LARGE');
  });

  it('a per-file limit below the record limit is the one that applies', () => {
    const r = one(record(good()), { maxRecordBytes: 1000, maxBytesPerFile: 100 }) as Reject;
    expect(r.reason).toMatch(/above the per-file limit of 100 bytes; shorten the transcript or use a quota profile with larger files/);
    expect(one(record(good()), { maxRecordBytes: 1000, maxBytesPerFile: 1_000_000 }).kind).toBe('record');
  });

  it('rejects never carry the record\'s text', () => {
    const secret = 'PRIVATE card 4111 1111 1111 1111';
    const input = FAMILIES.anthropic.buildInput({ prompt: `${secret} ${'x'.repeat(300)}` }, { modelId: HAIKU });
    const long = FAMILIES.anthropic.buildInput({ prompt: `${secret} ${'x'.repeat(900_000)}` }, { modelId: HAIKU });
    for (const r of [one(record(input), { maxRecordBytes: 100 }), one(record({ ...input, modelId: HAIKU, top_k: 'x' })), one(record(long))]) {
      expect(r.kind).toBe('reject');
      expect(JSON.stringify(r)).not.toContain('4111');
    }
  });
});

describe('serializeRecord', () => {
  it('writes {"recordId","modelInput"} in that order, one line, with its newline', () => {
    const { json, bytes } = serializeRecord('AbCdEfGh123', { b: 1, a: [1, 'é'] });
    expect(json).toBe('{"recordId":"AbCdEfGh123","modelInput":{"b":1,"a":[1,"é"]}}\n');
    expect(bytes).toBe(Buffer.byteLength(json));
    expect(bytes).toBe(json.length + 1);
  });

  it('escapes U+2028, U+2029 and U+0085, so no line splitter breaks the line; it parses back to the same value', () => {
    const text = 'one\u2028two\u2029three\u0085four \u000b\u000c\u001c\u001d\u001e and \r\n too';
    const modelInput = { messages: [{ role: 'user', content: [{ type: 'text', text }] }] };
    const { json, bytes } = serializeRecord('AbCdEfGh123', modelInput);
    expect(json).toContain('one\\u2028two\\u2029three\\u0085four');
    expect(json.slice(0, -1)).not.toMatch(/[\n\r\u000b\u000c\u001c\u001d\u001e\u0085\u2028\u2029]/); // Python's splitlines() breakers
    expect(json.endsWith('}\n')).toBe(true);
    expect(JSON.parse(json)).toEqual({ recordId: 'AbCdEfGh123', modelInput });
    expect(bytes).toBe(Buffer.byteLength(json));
  });

  it('validate uses that same line', () => {
    const modelInput = FAMILIES.anthropic.buildInput({ prompt: 'a\u2028b' }, { modelId: HAIKU });
    const out = one(record(modelInput)) as PreparedRecord;
    expect(out.json).toBe(serializeRecord('AbCdEfGh123', modelInput).json);
    expect(out.json).toContain('a\\u2028b');
  });
});

describe('validate: options', () => {
  it.each([
    [{ modelId: '' }, /modelId is required/],
    [{ maxRecordBytes: 0 }, /maxRecordBytes must be a positive integer/],
    [{ maxRecordBytes: 1.5 }, /maxRecordBytes/],
    [{ maxBytesPerFile: -1 }, /maxBytesPerFile/],
    [{ family: 'gpt' as never }, /family "gpt" is unknown/],
    [{ family: {} as never }, /family must be a family name or a ModelFamily/],
    [{ modelId: 'cohere.command-r-v1:0' }, /no model family knows/],
  ])('%j throws at construction', (patch, message) => {
    expect(() => validateRecords({ modelId: HAIKU, maxRecordBytes: LIMIT, ...patch })).toThrow(message);
  });
});

describe('prompt to line, for every family: toRecords -> assignIds -> validate', () => {
  it.each(Object.keys(MODELS) as FamilyName[])('%s', (name) => {
    const modelId = MODELS[name];
    const prompts: PromptItem[] = [
      { kind: 'prompt', file: 'calls.csv', line: 2, key: 'c1', prompt: 'Summarise: Agent: hi\nCustomer: hello', passthrough: { agent: 'Sam' } },
      { kind: 'prompt', file: 'calls.csv', line: 3, key: 'c2', prompt: '   ' }, // an empty transcript
      { kind: 'prompt', file: 'calls.csv', line: 4, key: 'c3', prompt: 'x'.repeat(5000) }, // over the byte limit
      { kind: 'prompt', file: 'calls.csv', line: 5, key: 'c1', prompt: 'again' }, // a duplicate call id
    ];
    const family = name === 'converse' ? { family: name } : {};
    const steps = [toRecords({ modelId, maxTokens: 100, ...family }), assignIds(), validateRecords({ modelId, maxRecordBytes: 2000, ...family })];
    let items: PrepareItem[] = prompts;
    for (const s of steps) {
      const next: PrepareItem[] = [];
      for (const i of items) s.write(i as never, (x) => next.push(x as PrepareItem));
      items = next;
    }
    expect(items.map((x) => (x.kind === 'reject' ? `${x.code}@${x.line}` : `${x.kind}@${x.line}`))).toEqual([
      'record@2',
      'E_MISSING_TEXT@3',
      'E_RECORD_TOO_LARGE@4',
      'E_DUPLICATE_KEY@5',
    ]);
    const rec = items[0] as PreparedRecord;
    expect(rec.recordId).toMatch(/^[A-Za-z0-9]{11}$/);
    expect(rec.passthrough).toEqual({ agent: 'Sam' });
    expect(rec.maxOutputTokens).toBe(100);
    const line = JSON.parse(rec.json!);
    expect(Object.keys(line)).toEqual(['recordId', 'modelInput']);
    expect(FAMILIES[name].validateInput(line.modelInput, modelId)).toEqual([]);
    expect(JSON.stringify(line.modelInput)).not.toContain('modelId');
  });
});
