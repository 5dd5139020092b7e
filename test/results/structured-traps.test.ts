/**
 * The fast output-line readers (output-line.ts) on a schema run's lines, whose answer is often a
 * tool call with no text at all and whose tool input is the model's own JSON, free to hold keys named
 * like the line's (`modelOutput`, `error`, `recordId`) and strings that look like JSON. Each trap is
 * read by the line readers in every mode and checked against JSON.parse of the whole line, and
 * collected end to end (through a store that cuts lines across chunks) against the reference: the
 * whole line JSON.parsed, its output read by the family and checked by the same validator.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FAMILIES } from '../../src/models/index.js';
import { readModelOutput } from '../../src/results/model-output.js';
import { parseOutputLine, parseOutputLineFull, skimOutputLine, type OutputLine } from '../../src/results/output-line.js';
import { AnswerValidator } from '../../src/results/structured.js';
import type { CollectResult } from '../../src/results/types.js';
import { chunkyStore, collectAll, jsonLines, scenario } from './helpers.js';

const SCHEMA = {
  type: 'object',
  properties: {
    reason: { type: 'string', enum: ['billing', 'other'] },
    resolved: { type: 'boolean' },
    note: { type: 'string' },
  },
  required: ['reason', 'resolved'],
};
const validator = new AnswerValidator({ name: 'fields', schema: SCHEMA });

const tool = (input: unknown, extra: unknown[] = []) => ({
  id: 'msg_1',
  type: 'message',
  role: 'assistant',
  content: [...extra, { type: 'tool_use', id: 'toolu_1', name: 'fields', input }],
  stop_reason: 'tool_use',
  stop_sequence: null,
  usage: { input_tokens: 10, output_tokens: 5 },
});

/** Line makers per record: the recordId and its echoed modelInput in, one output line (text) out. */
type Trap = [name: string, line: (recordId: string, modelInput: unknown) => string];

const TRAPS: Trap[] = [
  ['tool input with keys named like the line\'s', (id, mi) =>
    JSON.stringify({ recordId: id, modelInput: mi, modelOutput: tool({ reason: 'billing', resolved: true, modelOutput: { error: 1 }, error: null, recordId: 'NOT0THE0ID0', text: 'x' }) })],
  ['tool input strings that look like JSON and close the line', (id, mi) =>
    JSON.stringify({ recordId: id, modelInput: mi, modelOutput: tool({ reason: 'other', resolved: false, note: '"}}, "modelOutput": {"reason": "billing"}\\" \u2028 \u2029 }' }) })],
  ['an invalid tool input that holds a valid-looking text block', (id, mi) =>
    JSON.stringify({ recordId: id, modelInput: mi, modelOutput: tool({ reason: 'weather', resolved: true }, [{ type: 'text', text: '{"reason": "billing", "resolved": true}' }]) })],
  ['the answer first, the echo last, the echo quoting "modelOutput":', (id, mi) =>
    `{"modelOutput":${JSON.stringify(tool({ reason: 'billing', resolved: true }))},"recordId":${JSON.stringify(id)},"modelInput":${JSON.stringify({ ...(mi as object), note: '"modelOutput": {"content": []}' })}}`],
  ['white space between every token', (id, mi) =>
    JSON.stringify({ recordId: id, modelInput: mi, modelOutput: tool({ reason: 'billing', resolved: 'no' }) }, null, 1).replace(/\n/g, ' ')],
  ['a top-level modelOutput twice (the last one counts)', (id, mi) =>
    `{"recordId":${JSON.stringify(id)},"modelInput":${JSON.stringify(mi)},"modelOutput":${JSON.stringify(tool({ reason: 'billing', resolved: true }))},"modelOutput":${JSON.stringify(tool({ reason: 'nope', resolved: true }))}}`],
  ['an escaped top-level key', (id, mi) =>
    `{"recordId":${JSON.stringify(id)},"modelInput":${JSON.stringify(mi)},"model\\u004futput":${JSON.stringify(tool({ reason: 'other', resolved: true }))}}`],
  ['a tool call with an empty input and no text', (id, mi) => JSON.stringify({ recordId: id, modelInput: mi, modelOutput: tool({}) })],
  ['a Nova toolUse whose input nests toolUse', (id, mi) =>
    JSON.stringify({ recordId: id, modelInput: mi, modelOutput: { output: { message: { role: 'assistant', content: [{ toolUse: { toolUseId: 't', name: 'fields', input: { reason: 'other', resolved: true, note: 'x', toolUse: { input: {} } } } }] } }, stopReason: 'tool_use', usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 } } })],
  ['an error line whose echo holds a tool input', (id, mi) =>
    JSON.stringify({ recordId: id, modelInput: { ...(mi as object), tools: [{ name: 'fields', input_schema: SCHEMA }] }, error: { errorCode: 400, errorMessage: 'ValidationException' } })],
];

function reading(v: OutputLine) {
  return { recordId: v.recordId, hasModelOutput: v.hasModelOutput, hasError: v.hasError, value: v.hasModelOutput ? v.modelOutput : v.error };
}

let s: Awaited<ReturnType<typeof scenario>>;
beforeEach(async () => {
  s = await scenario();
  const p = join(s.run, 'prepared.json');
  const prepared = JSON.parse(await readFile(p, 'utf8')) as Record<string, unknown>;
  prepared.structured = { name: 'fields', via: 'tool', schema: SCHEMA };
  await writeFile(p, JSON.stringify(prepared));
});
afterEach(async () => {
  await s.cleanup();
});

describe('tool-use answers and the fast line readers', () => {
  it('every reader, in every mode, reads each trap as JSON.parse of the whole line does', async () => {
    const mi = { anthropic_version: 'bedrock-2023-05-31', max_tokens: 9, messages: [{ role: 'user', content: [{ type: 'text', text: 'Summarize: "modelOutput": {"x": 1}' }] }] };
    for (const [name, make] of TRAPS) {
      const line = make('CALL0000001', mi);
      const full = parseOutputLineFull(Buffer.from(line), 0, Buffer.byteLength(line), 'always') as OutputLine;
      const b = Buffer.from(`junk\n${line}\nmore`);
      const end = 5 + Buffer.byteLength(line);
      for (const mode of ['never', 'errors', 'always'] as const) {
        const r = parseOutputLine(b, 5, end, mode);
        expect(r.ok, `${name} (${mode})`).toBe(true);
        if (r.ok) expect(reading(r.value), `${name} (${mode})`).toEqual(reading(full));
      }
      const skim = skimOutputLine(b, 5, end, 'never');
      if (skim) expect(reading(skim), name).toEqual(reading(full));
    }
  });

  it('collect gives each trap the result the reference gives it, lines cut across chunks', async () => {
    // record i (1..10) gets trap (i - 1) % TRAPS.length, in Bedrock's folders
    const prepared = JSON.parse(await readFile(join(s.run, 'prepared.json'), 'utf8')) as { jobs: { name: string; shards: { key: string }[] }[] };
    const out = join(s.dir, 'traps');
    const expected = new Map<string, { kind: string; fields?: unknown; reason?: string }>();
    let i = 0;
    for (const job of prepared.jobs) {
      const folder = join(out, `trap${job.name.slice(-4)}xxxx`);
      await mkdir(folder, { recursive: true });
      let ok = 0;
      let failed = 0;
      for (const shard of job.shards) {
        const lines: string[] = [];
        for (const rec of await jsonLines(join(s.run, shard.key))) {
          const [, make] = TRAPS[i++ % TRAPS.length]!;
          const line = make(rec.recordId as string, rec.modelInput);
          lines.push(line);
          // the reference: the whole line parsed, the output read and checked
          const v = JSON.parse(line) as Record<string, unknown>;
          if ('error' in v) {
            failed++;
            expected.set(rec.recordId as string, { kind: 'error' });
            continue;
          }
          ok++;
          const check = validator.check(readModelOutput(v.modelOutput, FAMILIES.anthropic));
          expected.set(rec.recordId as string, check.ok ? { kind: 'success', fields: check.fields } : { kind: 'invalid', reason: check.reason });
        }
        const name = shard.key.slice(shard.key.lastIndexOf('/') + 1);
        await writeFile(join(folder, `${name}.out`), lines.reverse().join('\n') + '\n');
      }
      await writeFile(join(folder, 'manifest.json.out'), JSON.stringify({ totalRecordCount: ok + failed, processedRecordCount: ok + failed, successRecordCount: ok, errorRecordCount: failed }));
    }
    expect(new Set([...expected.values()].map((e) => e.kind))).toEqual(new Set(['success', 'invalid', 'error']));

    const { results, summary } = await collectAll({ outputs: await chunkyStore(out, 29), prepared: s.run });
    const got = new Map<string, CollectResult>(results.map((r) => [r.recordId, r]));
    for (const [id, want] of expected) {
      const r = got.get(id)!;
      expect(r.kind, id).toBe(want.kind);
      if (r.kind === 'success') expect(r.fields, id).toEqual(want.fields);
      if (r.kind === 'invalid') {
        expect(r.reason, id).toBe(want.reason);
        // the echo came along for the retry, whatever the line holds
        expect(JSON.parse(r.modelInputJson!), id).toHaveProperty('anthropic_version');
      }
    }
    expect(summary.succeeded + summary.failed + summary.missing).toBe(summary.submitted);
    expect(summary.missing).toBe(0);
    expect(summary.manifestIssues.filter((m) => m.field !== 'inputTokenCount' && m.field !== 'outputTokenCount')).toEqual([]);
  });
});
