/**
 * A schema run's answers through collect: extracted (tool input, else the first JSON object of the
 * text, fenced or not), validated with ajv, written as fields (JSONL) and columns (CSV), counted
 * (invalid in failed, fields tallied, redacted and truncated from lineage), and retried until they
 * are dead letters. The outputs are written in each family's real response shape and read by the
 * real family readers (src/models).
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { collectRun } from '../../src/results/run.js';
import { AnswerValidator, firstJsonObject, fieldColumns, fieldCell, redactedCell } from '../../src/results/structured.js';
import { RESULT_COLUMNS, resultJsonLine, resultRow } from '../../src/results/writers.js';
import type { CollectResult, CollectSummary } from '../../src/results/types.js';
import { BatchError } from '../../src/errors.js';
import { collectAll, jsonLines, scenario, writeOutputs, type Answer } from './helpers.js';

/** A number no answer, reason, dead letter or summary may repeat when it is the answer's text. */
const SECRET = '4111 1111 1111 1111';

const SCHEMA = {
  type: 'object',
  properties: {
    reason: { type: 'string', enum: ['billing', 'cancel', 'tech', 'other'], description: 'why the customer called' },
    resolved: { type: 'boolean', description: 'whether the call solved it' },
    topics: { type: 'array', items: { type: 'string' } },
    sentiment: { type: 'string', enum: ['negative', 'neutral', 'positive'] },
    text: { type: 'string', description: 'clashes with the results column' },
    queue: { type: 'string', description: 'clashes with a passthrough column' },
    score: { type: 'integer', minimum: 0, maximum: 10 },
  },
  required: ['reason', 'resolved', 'sentiment'],
  additionalProperties: false,
};
const PROPS = Object.keys(SCHEMA.properties);

const valid = (i: number) => ({
  reason: (['billing', 'cancel', 'tech'] as const)[i % 3],
  resolved: i % 2 === 0,
  topics: ['refund', `topic ${i}`],
  sentiment: i % 4 === 0 ? 'negative' : 'positive',
  text: `field text ${i}`,
  queue: 'q',
  score: i,
});

// -- the families' response shapes -------------------------------------------------------------

const usageA = { input_tokens: 100, output_tokens: 20 };
const anthropicText = (text: string) => ({
  modelOutput: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude', content: [{ type: 'text', text }], stop_reason: 'end_turn', stop_sequence: null, usage: usageA },
});
const anthropicTool = (input: unknown, withText = false) => ({
  modelOutput: {
    id: 'msg_1',
    type: 'message',
    role: 'assistant',
    model: 'claude',
    content: [...(withText ? [{ type: 'text', text: 'Recording the fields.' }] : []), { type: 'tool_use', id: 'toolu_01', name: 'fields', input }],
    stop_reason: 'tool_use',
    stop_sequence: null,
    usage: usageA,
  },
});
const novaTool = (input: unknown) => ({
  modelOutput: { output: { message: { role: 'assistant', content: [{ toolUse: { toolUseId: 't-1', name: 'fields', input } }] } }, stopReason: 'tool_use', usage: { inputTokens: 50, outputTokens: 9, totalTokens: 59 } },
});
const converseText = (text: string) => ({
  modelOutput: { output: { message: { role: 'assistant', content: [{ text }] } }, stopReason: 'end_turn', usage: { inputTokens: 40, outputTokens: 12, totalTokens: 52 }, metrics: { latencyMs: 300 } },
});

let s: Awaited<ReturnType<typeof scenario>>;
let out: string;
beforeEach(async () => {
  s = await scenario();
  out = join(s.dir, 'schema-out');
  await setStructured(s.run, { name: 'fields', via: 'tool', schema: SCHEMA });
});
afterEach(async () => {
  await s.cleanup();
});

async function setStructured(run: string, structured: unknown): Promise<void> {
  const p = join(run, 'prepared.json');
  const prepared = JSON.parse(await readFile(p, 'utf8')) as Record<string, unknown>;
  if (structured === undefined) delete prepared.structured;
  else prepared.structured = structured;
  await writeFile(p, JSON.stringify(prepared, null, 2));
}

/** Give some calls `truncated` and `redacted` in their lineage, as prepare writes them (sidecars.ts). */
async function markLineage(run: string): Promise<void> {
  const marks: Record<string, Record<string, unknown>> = {
    CALL0000002: { truncated: 12 },
    CALL0000003: { redacted: { card: 1, phone: 2 } },
    CALL0000008: { redacted: { email: 1 }, truncated: 3 },
  };
  for (const f of ['lineage/job-0001/part-00001.jsonl', 'lineage/job-0002/part-00003.jsonl']) {
    const lines = (await readFile(join(run, f), 'utf8')).split('\n').filter(Boolean);
    const next = lines.map((l) => {
      const o = JSON.parse(l) as Record<string, unknown>;
      const m = marks[o.recordId as string];
      if (!m) return l;
      const { recordId, key, file, line, ...rest } = o;
      return JSON.stringify({ recordId, key, file, line, ...(m.redacted ? { redacted: m.redacted } : {}), ...(m.truncated ? { truncated: m.truncated } : {}), ...rest });
    });
    await writeFile(join(run, f), next.join('\n') + '\n');
  }
}

const idx = (recordId: string) => Number(recordId.slice(4));
const byId = (results: CollectResult[]) => new Map(results.map((r) => [r.recordId, r]));

/** Submitted = succeeded + failed + missing per job and in total; invalid within failed; codes add up to failed. */
function expectReconciled(summary: CollectSummary): void {
  expect(summary.succeeded + summary.failed + summary.missing).toBe(summary.submitted);
  for (const j of summary.jobs) {
    expect(j.succeeded + j.failed + j.missing, j.job).toBe(j.submitted);
    expect(j.invalid).toBeLessThanOrEqual(j.failed);
  }
  expect(summary.jobs.reduce((n, j) => n + j.invalid, 0)).toBe(summary.invalid);
  expect(Object.values(summary.errorsByCode).reduce((a, b) => a + b, 0)).toBe(summary.failed);
  expect(summary.errorsByCode.E_INVALID_ANSWER ?? 0).toBe(summary.invalid);
}

describe('the answer in a text', () => {
  it('is the first balanced {...} that parses, fenced or among words', () => {
    expect(firstJsonObject('{"a":1}')).toEqual({ a: 1 });
    expect(firstJsonObject('Here it is:\n```json\n{\n  "a": [1, {"b": "}"}]\n}\n```\nAnything else?')).toEqual({ a: [1, { b: '}' }] });
    // braces in words first, then the object; braces and quotes inside its strings
    expect(firstJsonObject('Note {see below} and "quotes {": {"x": "a \\" } {", "y": {"z": true}} trailing }')).toEqual({ x: 'a " } {', y: { z: true } });
    // a non-JSON outer brace around the object: the inner one is the first that parses
    expect(firstJsonObject('{ answer: {"ok": false} }')).toEqual({ ok: false });
    expect(firstJsonObject('no JSON here, just [1, 2] and "quotes"')).toBeUndefined();
    expect(firstJsonObject('{"unclosed": 1')).toBeUndefined();
    expect(firstJsonObject('')).toBeUndefined();
    expect(firstJsonObject('[{"in": "an array"}]')).toEqual({ in: 'an array' });
  });
});

describe('AnswerValidator', () => {
  const v = new AnswerValidator({ name: 'fields', schema: SCHEMA });

  it('takes the tool input over the text, validates, and names the broken rule as #/pointer: message', () => {
    expect(v.check({ text: 'ignored', toolInput: valid(1) })).toEqual({ ok: true, fields: valid(1) });
    expect(v.check({ text: JSON.stringify(valid(2)) })).toEqual({ ok: true, fields: valid(2) });
    expect(v.check({ text: 'x', toolInput: { ...valid(1), reason: 'weather' } })).toEqual({ ok: false, reason: '#/reason: must be equal to one of the allowed values' });
    const { sentiment: _s, ...noSentiment } = valid(1);
    expect(v.check({ toolInput: noSentiment })).toEqual({ ok: false, reason: "#: must have required property 'sentiment'" });
    expect(v.check({ toolInput: { ...valid(1), topics: ['a', 7] } })).toEqual({ ok: false, reason: '#/topics/1: must be string' });
    expect(v.check({ toolInput: { ...valid(1), score: 11 } })).toEqual({ ok: false, reason: '#/score: must be <= 10' });
    expect(v.check({ toolInput: 'a string' })).toEqual({ ok: false, reason: '#: must be object' });
    expect(v.check({ text: 'Sorry, no JSON today.' })).toEqual({ ok: false, reason: '#: the answer holds no JSON object' });
    expect(v.check({})).toEqual({ ok: false, reason: '#: the output has neither a tool call nor text' });
  });

  it('never puts the answer in a reason, not even a key the model chose', () => {
    const maps = new AnswerValidator({ name: 'm', schema: { type: 'object', properties: { amounts: { type: 'object', additionalProperties: { type: 'number' } } } } });
    const answers: [AnswerValidator, unknown][] = [
      [v, { ...valid(1), reason: SECRET }],
      [v, { ...valid(1), [SECRET]: 1 }],
      [v, { ...valid(1), topics: [SECRET, { card: SECRET }] }],
      [v, { ...valid(1), resolved: SECRET }],
      [maps, { amounts: { [SECRET]: 'x' } }],
    ];
    for (const [validator, answer] of answers) {
      const r = validator.check({ text: `The card is ${SECRET}: ${JSON.stringify(answer)}` });
      expect(r.ok).toBe(false);
      const reason = (r as { reason: string }).reason;
      expect(reason).toMatch(/^#(\/[^/: ]+)*: /);
      expect(reason).not.toContain('4111');
    }
    expect((maps.check({ toolInput: { amounts: { [SECRET]: 'x' } } }) as { reason: string }).reason).toBe('#/amounts/*: must be number');
  });

  it('tallies enum and boolean properties in the schema order, zeros included', () => {
    expect(v.tallies()).toEqual({
      reason: { type: 'enum', counts: { billing: 0, cancel: 0, tech: 0, other: 0 } },
      resolved: { type: 'boolean', counts: { true: 0, false: 0 } },
      sentiment: { type: 'enum', counts: { negative: 0, neutral: 0, positive: 0 } },
    });
    expect(Object.keys(v.tallies()!.reason!.counts)).toEqual(['billing', 'cancel', 'tech', 'other']);
    expect(v.properties).toEqual(PROPS);
  });

  it('reads the 2020-12 dialect, and refuses a schema that does not compile', () => {
    const v2020 = new AnswerValidator({ name: 'x', schema: { $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'object', properties: { pair: { type: 'array', prefixItems: [{ type: 'string' }, { type: 'number' }] } } } });
    expect(v2020.check({ toolInput: { pair: ['a', 1] } }).ok).toBe(true);
    expect(v2020.check({ toolInput: { pair: [1, 1] } })).toEqual({ ok: false, reason: '#/pair/0: must be string' });
    expect(() => new AnswerValidator({ name: 'bad', schema: { type: 'object', properties: { a: { type: 'no-such-type' } } } })).toThrow(BatchError);
  });

  it('makes cells: arrays joined with "; ", booleans as words, clashing columns prefixed', () => {
    expect(fieldCell(['a', 'b', 3, { o: 1 }, null])).toBe('a; b; 3; {"o":1}; ');
    expect(fieldCell(true)).toBe('true');
    expect(fieldCell(false)).toBe('false');
    expect(fieldCell(null)).toBeUndefined();
    expect(fieldCell({ a: 1 })).toBe('{"a":1}');
    expect(fieldCell(4)).toBe(4);
    expect(redactedCell({ card: 1, phone: 2 })).toBe('card:1;phone:2');
    expect(fieldColumns(['a', 'text', 'field_text', 'queue'], ['text', 'queue'])).toEqual([
      ['a', 'a'],
      ['text', 'field_text'],
      ['field_text', 'field_field_text'],
      ['queue', 'field_queue'],
    ]);
  });
});

describe('collect: each family\'s answer shape', () => {
  // [name, family, valid answer, invalid answer]
  const shapes: [string, 'anthropic' | 'nova' | 'converse', (i: number) => { modelOutput: unknown }, (i: number) => { modelOutput: unknown }][] = [
    ['anthropic text JSON', 'anthropic', (i) => anthropicText(JSON.stringify(valid(i))), (i) => anthropicText(JSON.stringify({ ...valid(i), sentiment: 'furious' }))],
    ['anthropic fenced JSON', 'anthropic', (i) => anthropicText(`Sure.\n\`\`\`json\n${JSON.stringify(valid(i), null, 2)}\n\`\`\`\nDone.`), (i) => anthropicText(`The card was ${SECRET}; no fields.`)],
    ['anthropic tool_use', 'anthropic', (i) => anthropicTool(valid(i), i % 2 === 0), (i) => anthropicTool({ ...valid(i), resolved: 'yes' })],
    ['nova toolUse', 'nova', (i) => novaTool(valid(i)), (i) => novaTool({ ...valid(i), reason: SECRET })],
    ['converse text', 'converse', (i) => converseText(`\`\`\`json\n${JSON.stringify(valid(i))}\n\`\`\``), (i) => converseText(`{"reason": "billing", "resolved": true}`)],
  ];
  for (const [name, family, good, bad] of shapes) {
    it(`${name}: valid answers are successes with fields, the others invalid`, async () => {
      // even records valid, odd ones invalid, the 10th left out (missing)
      await writeOutputs(s.run, out, (id) => (idx(id) === 10 ? null : idx(id) % 2 === 0 ? good(idx(id)) : bad(idx(id))));
      const { results, summary } = await collectAll({ outputs: out, prepared: s.run, family, retryInputs: true });
      const got = byId(results);
      for (const [id, r] of got) {
        const i = idx(id);
        if (i === 10) expect(r.kind).toBe('missing');
        else if (i % 2 === 0) {
          expect(r.kind, id).toBe('success');
          expect((r as { fields?: unknown }).fields).toEqual(valid(i));
        } else {
          expect(r.kind, id).toBe('invalid');
          const reason = (r as { reason: string }).reason;
          expect(reason).toMatch(/^#/);
          expect(reason).not.toContain('4111');
          // retried later: it carries its modelInput
          expect(JSON.parse((r as { modelInputJson: string }).modelInputJson)).toHaveProperty('anthropic_version');
        }
      }
      expect(summary).toMatchObject({ submitted: 10, succeeded: 4, failed: 5, invalid: 5, missing: 1 });
      expectReconciled(summary);
      expect(summary.schema).toEqual({ name: 'fields', via: 'tool', from: 'prepared', properties: PROPS });
      expect(summary.fields!.reason!.counts).toEqual({ billing: 1, cancel: 1, tech: 2, other: 0 });
      expect(summary.fields!.resolved!.counts).toEqual({ true: 4, false: 0 });
      expect(summary.fields!.sentiment!.counts).toEqual({ negative: 2, neutral: 0, positive: 2 });
      // the folder's manifest counts invalid answers as Bedrock does: successes
      if (family === 'anthropic') expect(summary.manifestIssues).toEqual([]);
    });
  }

  it('without a schema nothing is validated (and no fields)', async () => {
    await setStructured(s.run, undefined);
    await writeOutputs(s.run, out, (id) => anthropicText(idx(id) % 2 ? 'plain summary' : JSON.stringify(valid(1))));
    const { results, summary } = await collectAll({ outputs: out, prepared: s.run });
    expect(results.every((r) => r.kind === 'success' && r.fields === undefined)).toBe(true);
    expect(summary).toMatchObject({ succeeded: 10, invalid: 0 });
    expect(summary.fields).toBeUndefined();
    expect(summary.schema).toBeUndefined();
  });

  it('collect --schema validates a run prepared without one, or over its own', async () => {
    await setStructured(s.run, undefined);
    await writeOutputs(s.run, out, (id) => anthropicText(JSON.stringify({ only: idx(id) })));
    const own = { name: 'only', schema: { type: 'object', properties: { only: { type: 'integer', maximum: 5 } }, required: ['only'] } };
    const { summary } = await collectAll({ outputs: out, prepared: s.run, schema: own });
    expect(summary).toMatchObject({ succeeded: 5, invalid: 5, schema: { name: 'only', via: 'prompt', from: 'option', properties: ['only'] } });
    await setStructured(s.run, { name: 'fields', via: 'native', schema: SCHEMA });
    const over = await collectAll({ outputs: out, prepared: s.run, schema: own });
    expect(over.summary).toMatchObject({ succeeded: 5, invalid: 5, schema: { name: 'only', via: 'native', from: 'option' } });
  });

  it('an invalid answer whose line does not echo its input takes it from the shard', async () => {
    await writeOutputs(s.run, out, (id) => (idx(id) === 3 ? anthropicText('no JSON') : anthropicText(JSON.stringify(valid(idx(id))))));
    // drop the echo from every line
    const file = join(out, 'job0001xxxxx', 'part-00001.jsonl.out');
    const lines = (await readFile(file, 'utf8')).split('\n').filter(Boolean).map((l) => {
      const { modelInput: _m, ...rest } = JSON.parse(l) as Record<string, unknown>;
      return JSON.stringify(rest);
    });
    await writeFile(file, lines.join('\n') + '\n');
    const { results } = await collectAll({ outputs: out, prepared: s.run });
    const r = byId(results).get('CALL0000003')!;
    expect(r.kind).toBe('invalid');
    const shard = (await jsonLines(join(s.run, 'input/job-0001/part-00001.jsonl'))).find((l) => l.recordId === 'CALL0000003')!;
    expect(JSON.parse((r as { modelInputJson: string }).modelInputJson)).toEqual(shard.modelInput);
  });
});

describe('results: fields as columns, lineage flags, counts', () => {
  const answer: Answer = (id) => {
    const i = idx(id);
    if (i === 5) return { error: { errorCode: 429, errorMessage: 'ThrottlingException' } };
    if (i === 9) return null;
    if (i === 4 || i === 7) return anthropicTool({ ...valid(i), sentiment: SECRET });
    return anthropicTool(valid(i), true);
  };

  it('CSV: a column per property in schema order after the others, invalid rows with their reason', async () => {
    await markLineage(s.run);
    await writeOutputs(s.run, out, answer);
    const r = await collectRun({ outputs: out, prepared: s.run, results: join(s.dir, 'results.csv') });
    const rows = parse(await readFile(join(s.dir, 'results.csv'), 'utf8'), { columns: false }) as string[][];
    const header = rows[0]!;
    expect(header).toEqual([...RESULT_COLUMNS, 'truncated', 'redacted', 'agent', 'queue', 'reason', 'resolved', 'topics', 'sentiment', 'field_text', 'field_queue', 'score']);
    const records = rows.slice(1).map((row) => Object.fromEntries(header.map((h, k) => [h, row[k]!])));
    const of = (id: string) => records.find((x) => x.recordId === id)!;
    expect(of('CALL0000002')).toMatchObject({ status: 'success', text: 'Recording the fields.', reason: 'tech', resolved: 'true', topics: 'refund; topic 2', sentiment: 'positive', field_text: 'field text 2', field_queue: 'q', queue: 'billing', score: '2', truncated: '12', redacted: '' });
    expect(of('CALL0000003')).toMatchObject({ status: 'success', resolved: 'false', truncated: '0', redacted: 'card:1;phone:2' });
    expect(of('CALL0000004')).toMatchObject({ status: 'invalid', errorCode: 'E_INVALID_ANSWER', errorMessage: '#/sentiment: must be equal to one of the allowed values', next: 'retry', reason: '', resolved: '', sentiment: '' });
    expect(of('CALL0000005')).toMatchObject({ status: 'error', errorCode: '429', reason: '' });
    expect(of('CALL0000008')).toMatchObject({ truncated: '3', redacted: 'email:1' });
    expect(of('CALL0000009')).toMatchObject({ status: 'missing', reason: '' });
    expect(records.map((x) => x.status).sort()).toEqual(['error', 'invalid', 'invalid', 'missing', 'success', 'success', 'success', 'success', 'success', 'success']);
    expect(r.collect).toMatchObject({ submitted: 10, succeeded: 6, failed: 3, invalid: 2, missing: 1, truncated: 2, redacted: { card: 1, phone: 2, email: 1 } });
    expectReconciled(r.collect);
    // failed + missing = retried + dead-lettered
    expect(r.plan!.retry.records + r.plan!.deadLetter.records).toBe(r.collect.failed + r.collect.missing);
  });

  it('JSONL: fields as an object, the text kept, truncated and redacted on the rows that have them', async () => {
    await markLineage(s.run);
    await writeOutputs(s.run, out, answer);
    const r = await collectRun({ outputs: out, prepared: s.run, results: join(s.dir, 'results.jsonl') });
    const rows = await jsonLines(join(s.dir, 'results.jsonl'));
    const of = (id: string) => rows.find((x) => x.recordId === id)!;
    expect(of('CALL0000002')).toMatchObject({ status: 'success', text: 'Recording the fields.', truncated: 12, fields: valid(2), queue: 'billing' });
    expect(Object.keys(of('CALL0000002')).at(-1)).toBe('fields');
    expect(of('CALL0000003')).toMatchObject({ redacted: { card: 1, phone: 2 } });
    expect(of('CALL0000003')).not.toHaveProperty('truncated');
    expect(of('CALL0000004')).toMatchObject({ status: 'invalid', errorCode: 'E_INVALID_ANSWER', errorMessage: '#/sentiment: must be equal to one of the allowed values', next: 'retry', inputTokens: 100 });
    expect(of('CALL0000004')).not.toHaveProperty('fields');
    expect(of('CALL0000001')).not.toHaveProperty('redacted');
    expect(r.collect.fields!.sentiment!.counts).toEqual({ negative: 1, neutral: 0, positive: 5 });
    // the invalid answers held the number in their tool input only: no row holds it (no --raw)
    expect(await readFile(join(s.dir, 'results.jsonl'), 'utf8')).not.toContain('4111');
  });

  it('the JSONL writer\'s line is JSON.stringify of the row, for every kind', async () => {
    await markLineage(s.run);
    await writeOutputs(s.run, out, answer);
    const { results } = await collectAll({ outputs: out, prepared: s.run });
    expect(new Set(results.map((r) => r.kind))).toEqual(new Set(['success', 'error', 'invalid', 'missing']));
    for (const r of results) {
      for (const options of [{}, { raw: true }, { next: 'retry' as const }]) expect(resultJsonLine(r, options)).toBe(JSON.stringify(resultRow(r, options)) + '\n');
    }
  });
});

describe('retries of invalid answers', () => {
  it('are retried with the schema kept, then dead letters E_INVALID_ANSWER at --max-attempts', async () => {
    await markLineage(s.run);
    // CALL0000003 never validates; everything else does
    const answer: Answer = (id) => (id === 'CALL0000003' ? anthropicText(`Card ${SECRET}, sorry, no JSON`) : anthropicText(JSON.stringify(valid(idx(id)))));
    await writeOutputs(s.run, out, answer);
    const first = await collectRun({ outputs: out, prepared: s.run, results: join(s.dir, 'r1.jsonl') });
    expect(first.collect).toMatchObject({ succeeded: 9, failed: 1, invalid: 1 });
    const retry2 = join(s.run, 'retry-2');
    expect(first.plan!.retry).toMatchObject({ uri: retry2, records: 1, attempt: 2 });
    const prepared2 = JSON.parse(await readFile(join(retry2, 'prepared.json'), 'utf8'));
    expect(prepared2.structured).toEqual({ name: 'fields', via: 'tool', schema: SCHEMA });
    const lineage2 = await jsonLines(join(retry2, 'lineage/job-0001/part-00001.jsonl'));
    expect(lineage2).toEqual([
      expect.objectContaining({ recordId: 'CALL0000003', attempt: 2, redacted: { card: 1, phone: 2 }, origin: expect.objectContaining({ status: 'invalid', code: 'E_INVALID_ANSWER', reason: '#: the answer holds no JSON object' }) }),
    ]);

    // attempt 2: invalid again, retried again (its collect validates: the schema came along)
    const out2 = join(s.dir, 'out2');
    await mkdir(out2);
    await writeOutputs(retry2, out2, answer, 'rtwo');
    const second = await collectRun({ outputs: out2, prepared: retry2 });
    expect(second.collect).toMatchObject({ submitted: 1, succeeded: 0, failed: 1, invalid: 1, attempt: 2, redacted: { card: 1, phone: 2 } });
    const retry3 = join(retry2, 'retry-3');
    expect(second.plan!.retry).toMatchObject({ uri: retry3, records: 1, attempt: 3 });

    // attempt 3 = --max-attempts (3): a dead letter, with the rule broken and never the answer
    const out3 = join(s.dir, 'out3');
    await mkdir(out3);
    await writeOutputs(retry3, out3, answer, 'rthree');
    const third = await collectRun({ outputs: out3, prepared: retry3, results: join(s.dir, 'r3.jsonl') });
    expect(third.collect).toMatchObject({ submitted: 1, failed: 1, invalid: 1, attempt: 3 });
    expect(third.plan!.retry).toMatchObject({ uri: null, records: 0 });
    expect(third.plan!.deadLetter).toMatchObject({ records: 1, byReason: { 'max-attempts': 1 } });
    const dead = await jsonLines(join(retry3, 'dead-letter.jsonl'));
    expect(dead).toEqual([
      expect.objectContaining({ recordId: 'CALL0000003', key: 'call-003', reason: 'max-attempts', attempts: 3, status: 'invalid', lastError: { code: 'E_INVALID_ANSWER', message: '#: the answer holds no JSON object' } }),
    ]);
    const rows = await jsonLines(join(s.dir, 'r3.jsonl'));
    expect(rows[0]).toMatchObject({ status: 'invalid', next: 'dead-letter', attempt: 3 });
    // nothing but the results' own text column holds the answer
    for (const f of [join(retry3, 'dead-letter.jsonl'), join(retry2, 'lineage/job-0001/part-00001.jsonl'), join(retry3, 'lineage/job-0001/part-00001.jsonl'), join(retry3, 'prepared.json')]) {
      expect(await readFile(f, 'utf8'), f).not.toContain('4111');
    }
    expect(JSON.stringify([first.collect, second.collect, third.collect])).not.toContain('4111');
  });

  it('--max-attempts 1 dead-letters an invalid answer at once; --no-retry leaves it in the results only', async () => {
    await writeOutputs(s.run, out, (id) => anthropicText(id === 'CALL0000006' ? '{"reason": "billing"}' : JSON.stringify(valid(idx(id)))));
    const once = await collectRun({ outputs: out, prepared: s.run, maxAttempts: 1 });
    expect(once.plan!.deadLetter).toMatchObject({ records: 1, byReason: { 'max-attempts': 1 } });
    expect(once.plan!.retry.records).toBe(0);
    const none = await collectRun({ outputs: out, prepared: s.run, retry: false, results: join(s.dir, 'n.jsonl') });
    expect(none.plan).toBeUndefined();
    expect(none.collect.invalid).toBe(1);
    expect((await jsonLines(join(s.dir, 'n.jsonl'))).find((x) => x.recordId === 'CALL0000006')).toMatchObject({ status: 'invalid', errorMessage: "#: must have required property 'resolved'" });
  });
});

describe('bedrock-batch collect on a schema run', () => {
  let stdout: string[];
  let stderr: string[];
  beforeEach(() => {
    stdout = [];
    stderr = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => (stdout.push(String(chunk)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: unknown) => (stderr.push(String(chunk)), true));
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });
  const cli = (...args: string[]) => main(['node', 'bedrock-batch', ...args]);

  const insights = (i: number) => ({
    reason: `reason ${i}`,
    reason_category: i % 2 ? 'billing' : 'cancellation',
    resolution: 'refund issued',
    resolved: i % 3 === 0,
    next_steps: ['send the refund', 'call back'],
    next_step_owner: 'agent',
    sentiment_start: 'negative',
    sentiment_end: i % 2 ? 'positive' : 'neutral',
    topics: ['refund'],
    follow_up_needed: false,
  });

  it('--schema call-insights --report --json: fields, invalid answers, the report drawn from the same figures', async () => {
    await setStructured(s.run, undefined);
    await markLineage(s.run);
    await writeOutputs(s.run, out, (id) => (idx(id) === 7 ? anthropicText('{"reason": "no category"}') : anthropicTool(insights(idx(id)))));
    const report = join(s.dir, 'report.html');
    const code = await cli('collect', out, '-p', s.run, '-r', join(s.dir, 'r.csv'), '--schema', 'call-insights', '--report', report, '--json', '-q');
    expect(stderr.join('')).toBe('');
    expect(code).toBe(0);
    const j = JSON.parse(stdout.join(''));
    expect(j).toMatchObject({
      submitted: 10,
      succeeded: 9,
      failed: 1,
      invalid: 1,
      missing: 0,
      truncated: 2,
      redacted: { card: 1, phone: 2, email: 1 },
      structured: { name: 'call_insights', via: 'prompt', from: 'option' },
      report,
      retry: { records: 1 },
      errorsByCode: { E_INVALID_ANSWER: 1 },
    });
    expect(j.fields.reason_category).toEqual({ type: 'enum', counts: { billing: 4, technical_support: 0, account: 0, sales: 0, cancellation: 5, complaint: 0, information: 0, other: 0 } });
    expect(j.fields.follow_up_needed).toEqual({ type: 'boolean', counts: { true: 0, false: 9 } });
    expect(j.jobs.map((x: { invalid: number }) => x.invalid)).toEqual([1, 0]);
    const header = (await readFile(join(s.dir, 'r.csv'), 'utf8')).split('\n')[0]!;
    expect(header.split(',').slice(-10)).toEqual(['reason', 'reason_category', 'resolution', 'resolved', 'next_steps', 'next_step_owner', 'sentiment_start', 'sentiment_end', 'topics', 'follow_up_needed']);
    // the retry run validates against the schema collect was given
    expect(JSON.parse(await readFile(join(s.run, 'retry-2', 'prepared.json'), 'utf8')).structured).toMatchObject({ name: 'call_insights', via: 'prompt' });
    const html = await readFile(report, 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('data-figure="invalid">1<');
    expect(html).toContain('data-figure="fields.reason_category.cancellation">5<');
  });

  it('says how many answers were invalid and how they are retried', async () => {
    await writeOutputs(s.run, out, (id) => anthropicTool(idx(id) < 3 ? { reason: 'billing' } : valid(idx(id))));
    expect(await cli('collect', out, '-p', s.run, '-r', join(s.dir, 'r.jsonl'))).toBe(0);
    const err = stderr.join('');
    expect(err).toContain('total: 10 submitted = 8 succeeded + 2 failed + 0 missing');
    expect(err).toContain('fields:  schema fields, asked by tool: 8 valid answers, 2 invalid answers');
    expect(err).toContain('retried like retryable errors up to --max-attempts, then dead-lettered as E_INVALID_ANSWER');
    expect(err).toContain('E_INVALID_ANSWER x2');
  });

  it('refuses --report - and a schema file that cannot be read', async () => {
    expect(await cli('collect', out, '-p', s.run, '--report', '-')).not.toBe(0);
    expect(stderr.join('')).toContain('--report needs a file');
    expect(await cli('collect', out, '-p', s.run, '--schema', join(s.dir, 'nope.json'))).not.toBe(0);
    expect(stderr.join('')).toMatch(/E_BAD_OPTION: .*nope\.json.*the schema file cannot be read/);
  });
});
