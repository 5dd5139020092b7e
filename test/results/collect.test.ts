/**
 * The join, on the hand-written scenario in fixtures/outputs (see its README): 10 records in 3
 * shards of 2 jobs; outputs out of input order, a job folder with two output files, keys in another
 * order, errorCode as a number and as a string, U+2028 in text, a truncated last line, a manifest
 * that disagrees, a PartiallyCompleted job with a record that never came back.
 */
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { collectResults } from '../../src/results/collect.js';
import type { CollectResult, ErrorResult, MissingResult, SuccessResult } from '../../src/results/types.js';
import { LocalStore } from '../../src/stores/local.js';
import { chunkyStore, collectAll, OUTPUT_FIXTURES, scenario } from './helpers.js';

let s: Awaited<ReturnType<typeof scenario>>;
beforeEach(async () => {
  s = await scenario();
});
afterEach(async () => {
  await s.cleanup();
});

const byId = (results: CollectResult[]) => new Map(results.map((r) => [r.recordId, r]));
const useLedger = async (text?: string) => {
  if (text === undefined) await copyFile(join(OUTPUT_FIXTURES, 'ledger.jsonl'), join(s.run, 'ledger.jsonl'));
  else await writeFile(join(s.run, 'ledger.jsonl'), text);
};

describe('collect: the join', () => {
  it('gives one result per submitted record, and the counts reconcile per job and in total', async () => {
    const { results, summary } = await collectAll({ outputs: s.out, prepared: s.run });
    expect(results).toHaveLength(10);
    expect(new Set(results.map((r) => r.recordId)).size).toBe(10);
    expect(summary).toMatchObject({ submitted: 10, succeeded: 6, failed: 2, missing: 2, pending: 0 });
    expect(summary.jobs.map((j) => [j.job, j.submitted, j.succeeded, j.failed, j.missing])).toEqual([
      ['job-0001', 7, 4, 2, 1],
      ['job-0002', 3, 2, 0, 1],
    ]);
    expect(summary.outputFiles).toBe(3);
    expect(summary.errorsByCode).toEqual({ '400': 1, '429': 1 });
    // shard by shard; within a shard in output order, then what never came back
    expect(results.map((r) => r.recordId.slice(-2))).toEqual(['03', '01', '04', '02', '06', '05', '07', '10', '08', '09']);
  });

  it('joins by recordId, not by position: key, source file and line, passthrough, job and tokens', async () => {
    const r = byId((await collectAll({ outputs: s.out, prepared: s.run })).results);
    const c3 = r.get('CALL0000003') as SuccessResult;
    expect(c3).toMatchObject({
      kind: 'success',
      key: 'call-003',
      file: 'calls.csv',
      line: 9,
      passthrough: { agent: 'Chen Wei', queue: 'tech-support' },
      job: 'job-0001',
      shard: 'part-00001.jsonl',
      jobId: 'q1w2e3r4t5y6',
      attempt: 1,
      model: 'anthropic.claude-3-haiku-20240307-v1:0',
      stopReason: 'end_turn',
      inputTokens: 38,
      outputTokens: 16,
      output: { file: 'q1w2e3r4t5y6/part-00001.jsonl.out', line: 1 },
    });
    // U+2028 and U+2029 inside the text are kept, not taken for line breaks
    expect(c3.text).toBe('Login fails with "session expired"\u2028even after a password reset;\u2029the agent escalates.');
    expect((c3.raw as { id: string }).id).toBe('msg_bdrk_266');
    // keys in another order, with spaces
    expect(r.get('CALL0000001')).toMatchObject({ kind: 'success', key: 'call-001', text: 'The order never arrived; a replacement ships express.' });
    // a nested "modelOutput" / "recordId" in the model's own JSON is not the line's
    expect(r.get('CALL0000002')).toMatchObject({ kind: 'success', key: 'call-002', text: 'Double charge on the 3rd and 5th; a refund is issued.' });
    expect(r.has('NOTTHISONE1')).toBe(false);
  });

  it('keeps errors with their code as given (number or string) and their echoed modelInput for a retry', async () => {
    const r = byId((await collectAll({ outputs: s.out, prepared: s.run })).results);
    const input = JSON.parse((await readFile(join(s.run, 'input/job-0001/part-00002.jsonl'), 'utf8')).split('\n')[1]!).modelInput;
    const c6 = r.get('CALL0000006') as ErrorResult;
    expect(c6.error).toEqual({ code: '429', message: 'ThrottlingException: Too many requests, please wait before trying again.' });
    expect(JSON.parse(c6.modelInputJson!)).toEqual(input);
    expect((r.get('CALL0000004') as ErrorResult).error.code).toBe(400);
  });

  it('reports a truncated last line, not fatal: its record is missing, with its modelInput from the shard', async () => {
    const { results, summary } = await collectAll({ outputs: s.out, prepared: s.run });
    expect(summary.badLineCount).toBe(1);
    expect(summary.badLines[0]).toMatchObject({ file: 'q1w2e3r4t5y6/part-00002.jsonl.out', line: 3, truncated: true, recordId: 'CALL0000007', code: 'E_BAD_OUTPUT_LINE' });
    const c7 = byId(results).get('CALL0000007') as MissingResult;
    expect(c7).toMatchObject({ kind: 'missing', reason: 'output line truncated', key: 'call-007', jobId: 'q1w2e3r4t5y6' });
    const line = (await readFile(join(s.run, 'input/job-0001/part-00002.jsonl'), 'utf8')).split('\n')[2]!;
    expect(JSON.parse(c7.modelInputJson!)).toEqual(JSON.parse(line).modelInput);
  });

  it('reports where a manifest disagrees with what was parsed', async () => {
    const { summary } = await collectAll({ outputs: s.out, prepared: s.run });
    const issues = summary.manifestIssues.map((m) => [m.jobId, m.field, m.manifest, m.parsed]);
    expect(issues).toEqual([
      ['q1w2e3r4t5y6', 'successRecordCount', 5, 4],
      ['q1w2e3r4t5y6', 'processedRecordCount', 7, 6],
      ['q1w2e3r4t5y6', 'inputTokenCount', 176, 142],
      ['q1w2e3r4t5y6', 'outputTokenCount', 65, 57],
    ]);
    expect(summary.jobs[1]!.manifest).toEqual({ totalRecordCount: 3, processedRecordCount: 2, successRecordCount: 2, errorRecordCount: 0, inputTokenCount: 61, outputTokenCount: 19 });
  });

  it('reports a job folder without a manifest, and an unreadable one', async () => {
    await rm(join(s.out, 'z9x8c7v6b5n4/manifest.json.out'));
    await writeFile(join(s.out, 'q1w2e3r4t5y6/manifest.json.out'), '{"totalRecordCount": 7,');
    // with no ledger, a job folder without its manifest may belong to a job still running
    await expect(collectAll({ outputs: s.out, prepared: s.run })).rejects.toMatchObject({ code: 'E_JOBS_RUNNING', message: expect.stringContaining('job-0002 (no ledger, and no manifest.json.out from its job)') });
    const { summary } = await collectAll({ outputs: s.out, prepared: s.run, assumeEnded: true });
    expect(summary.manifestIssues.map((m) => [m.jobId, m.field, m.manifest])).toEqual([
      ['q1w2e3r4t5y6', 'manifest', 'unreadable'],
      ['z9x8c7v6b5n4', 'manifest', 'absent'],
    ]);
  });

  it('uses the ledger for job status: records of a PartiallyCompleted job are missing, with the status', async () => {
    await useLedger();
    const { results, summary } = await collectAll({ outputs: s.out, prepared: s.run });
    expect(summary.ledger).toBe(join(s.run, 'ledger.jsonl'));
    expect(summary.jobs.map((j) => [j.job, j.status, j.jobIds])).toEqual([
      ['job-0001', 'Completed', ['q1w2e3r4t5y6']],
      ['job-0002', 'PartiallyCompleted', ['z9x8c7v6b5n4']],
    ]);
    expect(byId(results).get('CALL0000009')).toMatchObject({ kind: 'missing', reason: 'no output line (job PartiallyCompleted)', jobStatus: 'PartiallyCompleted' });
    expect(summary.missingByReason).toEqual({ 'output line truncated (job Completed)': 1, 'no output line (job PartiallyCompleted)': 1 });
  });

  it('marks every record of a shard with no output at all as missing (a Failed job, or one that never ran)', async () => {
    await rm(join(s.out, 'z9x8c7v6b5n4'), { recursive: true });
    await expect(collectAll({ outputs: s.out, prepared: s.run })).rejects.toMatchObject({ code: 'E_JOBS_RUNNING' });
    let { results, summary } = await collectAll({ outputs: s.out, prepared: s.run, assumeEnded: true });
    expect(summary.jobs[1]).toMatchObject({ job: 'job-0002', submitted: 3, missing: 3, jobIds: [] });
    expect(results.filter((r) => r.job === 'job-0002').map((r) => (r as MissingResult).reason)).toEqual(['no output file', 'no output file', 'no output file']);
    await useLedger(
      (await readFile(join(OUTPUT_FIXTURES, 'ledger.jsonl'), 'utf8')).replace('"status":"PartiallyCompleted"', '"status":"Failed","message":"Validation failed: the role cannot read the bucket"'),
    );
    ({ results, summary } = await collectAll({ outputs: s.out, prepared: s.run }));
    const c8 = byId(results).get('CALL0000008') as MissingResult;
    expect(c8).toMatchObject({ reason: 'no output file (job Failed)', jobId: 'z9x8c7v6b5n4', jobStatus: 'Failed' });
    expect(c8.modelInputJson).toContain('My address changed');
  });

  it('a job whose end the ledger does not record may still answer: never retried, whatever the ledger lacks', async () => {
    const fixture = await readFile(join(OUTPUT_FIXTURES, 'ledger.jsonl'), 'utf8');
    const lines = fixture.split('\n').filter(Boolean);
    const withoutDone2 = lines.filter((l) => !(l.includes('"done"') && l.includes('job-0002'))).join('\n') + '\n';
    const cases: [string, string, string][] = [
      // submit --no-wait, or Ctrl-C, before the job's first status change: only its creation is recorded
      ['created, no status since', withoutDone2, 'job-0002 (z9x8c7v6b5n4: Submitted)'],
      // a Create sent whose answer was never recorded (the process died in between)
      ['a Create in doubt', lines.slice(0, 2).join('\n') + '\n' + lines[3] + '\n' + '{"v":1,"at":"2026-11-30T09:01:01.000Z","event":"submitting","job":"job-0002","jobName":"run-3f1c-job-0002","token":"t2","input":"s3://in/run/input/job-0002/"}\n', 'job-0002 (created, or being created'],
      // never submitted (quota wait, then Ctrl-C): a resumed submit would still create it
      ['never submitted', [lines[0], lines[1], lines[3]].join('\n') + '\n', 'job-0002 (never submitted)'],
    ];
    for (const [, ledger, named] of cases) {
      await useLedger(ledger);
      await expect(collectAll({ outputs: s.out, prepared: s.run })).rejects.toMatchObject({ code: 'E_JOBS_RUNNING', message: expect.stringContaining(named) });
      const { results, summary } = await collectAll({ outputs: s.out, prepared: s.run, partial: true });
      expect(summary.submitted).toBe(10);
      // job-0002's unanswered records are all pending, none missing for a retry
      const missing2 = results.filter((r) => r.job === 'job-0002' && r.kind === 'missing') as MissingResult[];
      expect(missing2.length).toBeGreaterThan(0);
      expect(missing2.every((r) => r.pending)).toBe(true);
      expect(summary.pending).toBe(missing2.length);
      const c9 = byId(results).get('CALL0000009') as MissingResult;
      expect(c9).toMatchObject({ kind: 'missing', pending: true });
      expect(c9.modelInputJson).toBeUndefined();
    }
  });

  it('refuses to collect while a job is still running, and with partial marks its records pending', async () => {
    await useLedger((await readFile(join(OUTPUT_FIXTURES, 'ledger.jsonl'), 'utf8')).replace('"status":"PartiallyCompleted"', '"status":"InProgress"'));
    await expect(collectAll({ outputs: s.out, prepared: s.run })).rejects.toMatchObject({ code: 'E_JOBS_RUNNING', message: expect.stringContaining('job-0002 (z9x8c7v6b5n4: InProgress)') });
    const { results, summary } = await collectAll({ outputs: s.out, prepared: s.run, partial: true });
    expect(summary).toMatchObject({ missing: 2, pending: 1 });
    expect(byId(results).get('CALL0000009')).toMatchObject({ kind: 'missing', pending: true, reason: 'job InProgress: not finished' });
    expect((byId(results).get('CALL0000009') as MissingResult).modelInputJson).toBeUndefined();
  });

  it('with a ledger, leaves out job folders of other runs in the same output location', async () => {
    await mkdir(join(s.out, 'otherrun0001'));
    await writeFile(join(s.out, 'otherrun0001/part-00001.jsonl.out'), '{"recordId":"CALL0000004","modelInput":{},"modelOutput":{"content":[{"type":"text","text":"from another run"}],"stop_reason":"end_turn"}}\n{"recordId":"XXXX0000001","modelInput":{},"modelOutput":{}}\n');
    // without a ledger, the folder is used: an answer for a record already answered is a duplicate, an unknown id is reported
    let { results, summary } = await collectAll({ outputs: s.out, prepared: s.run });
    expect(summary.duplicates + summary.unknownRecords).toBe(2);
    expect(summary.unknownSample[0]).toContain('XXXX0000001');
    expect(summary.submitted).toBe(10);
    await useLedger();
    ({ results, summary } = await collectAll({ outputs: s.out, prepared: s.run }));
    expect(summary.ignoredFolders).toEqual(['otherrun0001']);
    expect(summary).toMatchObject({ duplicates: 0, unknownRecords: 0, outputFiles: 3 });
    expect((byId(results).get('CALL0000004') as ErrorResult).kind).toBe('error');
  });

  it('reports output files that match no shard, and never reads manifest.json.out as data', async () => {
    await writeFile(join(s.out, 'q1w2e3r4t5y6/part-09999.jsonl.out'), '{"recordId":"CALL0000001","modelOutput":{}}\n');
    await writeFile(join(s.out, 'q1w2e3r4t5y6/notes.txt'), 'not an output');
    const { summary } = await collectAll({ outputs: s.out, prepared: s.run });
    expect(summary.unmatchedFiles).toEqual(['q1w2e3r4t5y6/part-09999.jsonl.out']);
    expect(summary.outputFiles).toBe(4);
    expect(summary.badLineCount).toBe(1); // only the truncated line: the manifests were never parsed as lines
  });

  it('accepts the job folder itself as the output location', async () => {
    const { summary } = await collectAll({ outputs: join(s.out, 'q1w2e3r4t5y6'), prepared: s.run, assumeEnded: true });
    expect(summary.jobs.map((j) => [j.job, j.jobIds, j.succeeded, j.missing])).toEqual([
      ['job-0001', ['q1w2e3r4t5y6'], 4, 1],
      ['job-0002', [], 0, 3],
    ]);
  });

  it('works through any Store, and yields the same results in batches as one by one', async () => {
    const c = collectResults({ outputs: new LocalStore(s.out), prepared: new LocalStore(s.run), retryInputs: false });
    const flat: CollectResult[] = [];
    let batches = 0;
    for await (const b of c.batches()) {
      batches++;
      flat.push(...b);
    }
    expect(batches).toBeGreaterThan(1);
    const { results } = await collectAll({ outputs: s.out, prepared: s.run, retryInputs: false });
    expect(flat).toEqual(results);
    expect(flat.some((r) => 'modelInputJson' in r)).toBe(false);
    await expect(async () => {
      for await (const _ of c) void _;
    }).rejects.toThrow(/iterated once/);
  });

  it('gives the same results through a generic Store that streams in tiny chunks (as S3 will)', async () => {
    const viaChunks = await collectAll({ outputs: await chunkyStore(s.out), prepared: await chunkyStore(s.run, 5) });
    const direct = await collectAll({ outputs: s.out, prepared: s.run });
    expect(viaChunks.results).toEqual(direct.results);
    expect({ ...viaChunks.summary, seconds: 0, outputs: '', prepared: '' }).toEqual({ ...direct.summary, seconds: 0, outputs: '', prepared: '' });
  });

  it('says clearly when the prepared run or its lineage is not there', async () => {
    await expect(collectAll({ outputs: s.out, prepared: join(s.dir, 'nope') })).rejects.toMatchObject({ code: 'E_NOT_PREPARED', hint: expect.stringContaining('prepare --out') });
    await rm(join(s.run, 'lineage/job-0002/part-00003.jsonl'));
    await expect(collectAll({ outputs: s.out, prepared: s.run })).rejects.toMatchObject({ code: 'E_NOT_PREPARED', message: expect.stringContaining('part-00003.jsonl') });
  });

  it('holds a line over the limit nowhere: it is reported and its record is missing', async () => {
    // CALL0000002's line (with its tool_use block) is the longest, 678 bytes
    const { results, summary } = await collectAll({ outputs: s.out, prepared: s.run, maxLineBytes: 600 });
    expect(summary.badLines.filter((b) => b.code === 'E_OUTPUT_LINE_TOO_LARGE').map((b) => [b.file, b.line])).toEqual([['q1w2e3r4t5y6/part-00001.jsonl.out', 4]]);
    expect(byId(results).get('CALL0000002')).toMatchObject({ kind: 'missing', reason: 'output line too large' });
    expect(results).toHaveLength(10);
    expect(summary.submitted).toBe(summary.succeeded + summary.failed + summary.missing);
  });
});
