/**
 * prepare -> (Bedrock's outputs) -> collect -> retry run -> (outputs) -> collect, with the real
 * prepare pipeline on the sample export: every source call ends with exactly one answer or one
 * dead letter, joined back to its call id and columns.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { prepareRun } from '../../src/prepare.js';
import { collectRun } from '../../src/results/run.js';
import { quotaProfile } from '../../src/bedrock/quotas.js';
import { adaptCalls, promptCalls } from '../../transforms/index.js';
import { useTempDir } from '../support/temp.js';
import { claude, jsonLines, writeOutputs } from './helpers.js';

const tmp = useTempDir('chain-');

describe('prepare, collect, retry, collect', () => {
  it('accounts for every source call across attempts', async () => {
    const run = join(tmp.dir, 'batch');
    const p = await prepareRun({
      inputs: [join(import.meta.dirname, '..', '..', 'fixtures', 'calls.csv')],
      out: run,
      adapt: adaptCalls({ passthrough: ['agent', 'queue'] }),
      prompt: promptCalls({}),
      model: { modelId: 'anthropic.claude-3-haiku-20240307-v1:0', maxTokens: 300 },
      quotas: quotaProfile('local', { maxRecordsPerFile: 60, maxRecordsPerJob: 120, minRecordsPerJob: 10 }),
    });
    expect(p.written).toBe(283);
    expect(p.jobs.length).toBeGreaterThan(1);

    // first attempt: every 17th throttled, every 23rd a bad request, every 29th never comes back
    const ids = await writeOutputs(run, join(tmp.dir, 'out1'), (id, _input, i) => {
      if (i % 29 === 5) return null;
      if (i % 23 === 4) return { error: { errorCode: 400, errorMessage: 'Malformed input request' } };
      if (i % 17 === 3) return { error: { errorCode: '429', errorMessage: 'ThrottlingException' } };
      return claude(`summary of ${id}`, 900, 40);
    });
    expect(ids).toHaveLength(p.jobs.length);
    const r1 = await collectRun({ outputs: join(tmp.dir, 'out1'), prepared: run, results: join(tmp.dir, 'results-1.jsonl') });
    const c1 = r1.collect;
    expect(c1.submitted).toBe(283);
    expect(c1.succeeded + c1.failed + c1.missing).toBe(283);
    expect(c1.missing).toBe(10);
    expect(c1.manifestIssues).toEqual([]);
    const retried = r1.plan!.retry.records;
    const dead = r1.plan!.deadLetter.records;
    expect(retried + dead).toBe(c1.failed + c1.missing);
    expect(dead).toBe(c1.errorsByCode['400']);
    expect(r1.plan!.retry.submittable).toBe(true);

    // the join is right: each result carries the key and columns of its own call
    const lineage = new Map<string, Record<string, unknown>>();
    for (const job of p.jobs) for (const key of job.shards) for (const l of await jsonLines(join(run, key.replace(/^input\//, 'lineage/')))) lineage.set(l.recordId as string, l);
    const rows1 = await jsonLines(join(tmp.dir, 'results-1.jsonl'));
    expect(rows1).toHaveLength(283);
    for (const row of rows1) {
      const l = lineage.get(row.recordId as string)!;
      expect([row.key, row.file, row.line, row.agent, row.queue]).toEqual([l.key, l.file, l.line, l.agent, l.queue]);
      if (row.status === 'success') expect(row.text).toBe(`summary of ${row.recordId}`);
    }

    // second attempt: everything answers
    const retryRun = r1.plan!.retry.uri!;
    await writeOutputs(retryRun, join(tmp.dir, 'out2'), (id) => claude(`retried ${id}`), 'rty');
    const r2 = await collectRun({ outputs: join(tmp.dir, 'out2'), prepared: retryRun, results: join(tmp.dir, 'results-2.jsonl') });
    expect(r2.collect).toMatchObject({ attempt: 2, submitted: retried, succeeded: retried, failed: 0, missing: 0 });
    expect(r2.plan!.retry.uri).toBeNull();
    const rows2 = await jsonLines(join(tmp.dir, 'results-2.jsonl'));
    for (const row of rows2) {
      const l = lineage.get(row.recordId as string)!;
      expect([row.key, row.agent, row.attempt]).toEqual([l.key, l.agent, 2]);
    }

    // every call: one success (first or second attempt) or one dead letter
    const answered = new Set([...rows1.filter((x) => x.status === 'success'), ...rows2].map((x) => x.key));
    const deadKeys = (await jsonLines(join(run, 'dead-letter.jsonl'))).map((x) => x.key);
    expect(answered.size + deadKeys.length).toBe(283);
    for (const k of deadKeys) expect(answered.has(k)).toBe(false);
  });
});
