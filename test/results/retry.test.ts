/**
 * Retry plans and dead letters: failed (retryable) and missing records become a prepared run in
 * prepare's layout, with attempt and origin in its lineage; non-retryable errors and records out of
 * attempts go to the dead letters; the quota profile's minimum is honoured and reported.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FAMILIES } from '../../src/models/index.js';
import { readPrepared } from '../../src/results/layout.js';
import { collectRun } from '../../src/results/run.js';
import { quotaProfile } from '../../src/bedrock/quotas.js';
import { LocalStore } from '../../src/stores/local.js';
import { claude, jsonLines, scenario, writeOutputs } from './helpers.js';

let s: Awaited<ReturnType<typeof scenario>>;
beforeEach(async () => {
  s = await scenario();
});
afterEach(async () => {
  await s.cleanup();
});

describe('retry plan', () => {
  it('turns retryable failures and missing records into a prepared run that submit can take', async () => {
    const r = await collectRun({ outputs: s.out, prepared: s.run, results: join(s.dir, 'results.jsonl') });
    const retry = join(s.run, 'retry-2');
    expect(r.plan!.retry).toMatchObject({ uri: retry, records: 3, attempt: 2, submittable: true, rejected: 0 });
    expect(r.plan!.deadLetter).toMatchObject({ uri: join(s.run, 'dead-letter.jsonl'), records: 1, byReason: { 'not-retryable': 1 } });
    // failed + missing = retried + dead-lettered
    expect(r.plan!.retry.records + r.plan!.deadLetter.records).toBe(r.collect.failed + r.collect.missing);

    // prepared.json in prepare's shape, readable as a run
    const run = await readPrepared(new LocalStore(retry));
    expect(run.model).toEqual({ modelId: 'anthropic.claude-3-haiku-20240307-v1:0', family: 'anthropic', invocationType: 'InvokeModel' });
    expect(run.retry).toMatchObject({ attempt: 2, of: s.run, outputs: s.out });
    const manifest = JSON.parse(await readFile(join(retry, 'prepared.json'), 'utf8'));
    for (const k of ['version', 'read', 'written', 'rejected', 'shards', 'jobs', 'submittable', 'out', 'rejects', 'manifest', 'model', 'quotas', 'idMode', 'inputs']) expect(manifest).toHaveProperty(k);
    expect(manifest.jobs).toHaveLength(1);
    expect(manifest.jobs[0]).toMatchObject({ name: 'job-0001', prefix: 'input/job-0001/', records: 3 });
    // a job folder holds its shards and nothing else; lines are {recordId, modelInput} only
    expect(await readdir(join(retry, 'input/job-0001'))).toEqual(['part-00001.jsonl']);
    const shard = await jsonLines(join(retry, 'input/job-0001/part-00001.jsonl'));
    expect(shard.map((l) => Object.keys(l))).toEqual([['recordId', 'modelInput'], ['recordId', 'modelInput'], ['recordId', 'modelInput']]);
    expect(shard.map((l) => l.recordId)).toEqual(['CALL0000006', 'CALL0000007', 'CALL0000009']);
    const original = new Map(
      (await Promise.all(['input/job-0001/part-00002.jsonl', 'input/job-0002/part-00003.jsonl'].map((k) => jsonLines(join(s.run, k))))).flat().map((l) => [l.recordId, l.modelInput]),
    );
    for (const l of shard) {
      expect(l.modelInput).toEqual(original.get(l.recordId as string));
      expect(FAMILIES.anthropic.validateInput(l.modelInput as Record<string, unknown>, run.model.modelId)).toEqual([]);
    }
    const bytes = (await readFile(join(retry, 'input/job-0001/part-00001.jsonl'))).length;
    expect(manifest.jobs[0].shards[0].bytes).toBe(bytes);
    // lineage: line for line, the original key/file/line/passthrough plus attempt and origin
    const lineage = await jsonLines(join(retry, 'lineage/job-0001/part-00001.jsonl'));
    expect(lineage.map((l) => l.recordId)).toEqual(shard.map((l) => l.recordId));
    expect(lineage[0]).toEqual({
      recordId: 'CALL0000006',
      key: 'call-006',
      file: 'calls.csv',
      line: 23,
      attempt: 2,
      origin: { run: s.run, job: 'job-0001', shard: 'part-00002.jsonl', jobId: 'q1w2e3r4t5y6', status: 'error', code: '429' },
      agent: 'Eli Haddad',
      queue: 'billing',
    });
    expect(lineage[2]).toMatchObject({ recordId: 'CALL0000009', attempt: 2, origin: { status: 'missing', reason: 'no output line', job: 'job-0002' } });

    // dead letters: the last error, never the record's text
    const dead = await jsonLines(join(s.run, 'dead-letter.jsonl'));
    expect(dead).toEqual([
      {
        recordId: 'CALL0000004',
        key: 'call-004',
        file: 'calls.csv',
        line: 14,
        reason: 'not-retryable',
        attempts: 1,
        status: 'error',
        lastError: { code: 400, message: 'messages.0.content.0.text: text content blocks must contain non-whitespace text' },
        run: s.run,
        job: 'job-0001',
        shard: 'part-00001.jsonl',
        jobId: 'q1w2e3r4t5y6',
        passthrough: { agent: 'Ana Souza', queue: 'general' },
      },
    ]);
    // the results say what became of each record
    const rows = await jsonLines(join(s.dir, 'results.jsonl'));
    expect(Object.fromEntries(rows.filter((x) => x.next).map((x) => [x.recordId, x.next]))).toEqual({
      CALL0000004: 'dead-letter',
      CALL0000006: 'retry',
      CALL0000007: 'retry',
      CALL0000009: 'retry',
    });
  });

  it('counts attempts across retry runs and dead-letters a record after --max-attempts', async () => {
    const fail = () => ({ error: { errorCode: 503, errorMessage: 'ServiceUnavailableException' } });
    await collectRun({ outputs: s.out, prepared: s.run, results: join(s.dir, 'r1.jsonl'), maxAttempts: 3 });
    // attempt 2: CALL0000006 succeeds, the other two fail again
    const retry2 = join(s.run, 'retry-2');
    await writeOutputs(retry2, join(s.dir, 'out2'), (id) => (id === 'CALL0000006' ? claude('resent invoice') : fail()), 'bbb');
    const r2 = await collectRun({ outputs: join(s.dir, 'out2'), prepared: retry2, results: join(s.dir, 'r2.jsonl'), maxAttempts: 3 });
    expect(r2.collect).toMatchObject({ attempt: 2, submitted: 3, succeeded: 1, failed: 2, missing: 0 });
    expect(r2.plan!.retry).toMatchObject({ uri: join(retry2, 'retry-3'), records: 2, attempt: 3 });
    const l3 = await jsonLines(join(retry2, 'retry-3/lineage/job-0001/part-00001.jsonl'));
    expect(l3.map((l) => [l.recordId, l.attempt, l.key, l.agent])).toEqual([
      ['CALL0000009', 3, 'call-009', 'Chen Wei'],
      ['CALL0000007', 3, 'call-007', 'Farah Nasser'],
    ]);
    // attempt 3 fails too: out of attempts
    const retry3 = join(retry2, 'retry-3');
    await writeOutputs(retry3, join(s.dir, 'out3'), fail, 'ccc');
    const r3 = await collectRun({ outputs: join(s.dir, 'out3'), prepared: retry3, results: join(s.dir, 'r3.jsonl'), maxAttempts: 3 });
    expect(r3.plan!.retry).toMatchObject({ uri: null, records: 0 });
    expect(r3.plan!.deadLetter).toMatchObject({ records: 2, byReason: { 'max-attempts': 2 } });
    const dead = await jsonLines(join(retry3, 'dead-letter.jsonl'));
    // (this run's outputs came back in reverse order)
    expect(dead.map((d) => [d.recordId, d.attempts, d.reason, (d.lastError as { code: number }).code])).toEqual([
      ['CALL0000007', 3, 'max-attempts', 503],
      ['CALL0000009', 3, 'max-attempts', 503],
    ]);
    expect(dead[1]!.passthrough).toEqual({ agent: 'Chen Wei', queue: 'orders' });
    // results of the last run still carry the source key and columns
    const rows = await jsonLines(join(s.dir, 'r3.jsonl'));
    expect(rows.map((x) => [x.key, x.status, x.attempt, x.next, x.agent])).toEqual([
      ['call-007', 'error', 3, 'dead-letter', 'Farah Nasser'],
      ['call-009', 'error', 3, 'dead-letter', 'Chen Wei'],
    ]);
  });

  it('takes the modelInput of a failed record from the original shard when its line does not echo it', async () => {
    const file = join(s.out, 'q1w2e3r4t5y6/part-00002.jsonl.out');
    const text = await readFile(file, 'utf8');
    const lines = text.split('\n');
    lines[0] = JSON.stringify({ recordId: 'CALL0000006', error: { errorCode: 429, errorMessage: 'ThrottlingException' } });
    await writeFile(file, lines.join('\n'));
    const r = await collectRun({ outputs: s.out, prepared: s.run, results: join(s.dir, 'r.jsonl') });
    expect(r.collect).toMatchObject({ submitted: 10, failed: 2, missing: 2 });
    const shard = await jsonLines(join(s.run, 'retry-2/input/job-0001/part-00001.jsonl'));
    const original = (await jsonLines(join(s.run, 'input/job-0001/part-00002.jsonl'))).find((l) => l.recordId === 'CALL0000006')!;
    expect(shard.find((l) => l.recordId === 'CALL0000006')!.modelInput).toEqual(original.modelInput);
  });

  it('with maxAttempts 1, nothing is retried', async () => {
    const r = await collectRun({ outputs: s.out, prepared: s.run, results: join(s.dir, 'r.jsonl'), maxAttempts: 1 });
    expect(r.plan!.retry.records).toBe(0);
    expect(r.plan!.deadLetter.byReason).toEqual({ 'not-retryable': 1, 'max-attempts': 3 });
  });

  it('says clearly when the retry run is below the minimum records per job, and still writes it', async () => {
    const r = await collectRun({ outputs: s.out, prepared: s.run, results: join(s.dir, 'r.jsonl'), quotas: quotaProfile('documented') });
    expect(r.plan!.retry).toMatchObject({ records: 3, submittable: false, problem: { code: 'E_BELOW_MIN_RECORDS' } });
    expect(r.plan!.retry.problem!.message).toContain('below the minimum of 100 records per job (quota profile documented)');
    const manifest = JSON.parse(await readFile(join(s.run, 'retry-2/prepared.json'), 'utf8'));
    expect(manifest).toMatchObject({ submittable: false, problem: { code: 'E_BELOW_MIN_RECORDS' }, quotas: { name: 'documented' } });
    const r2 = await collectRun({ outputs: s.out, prepared: s.run, results: join(s.dir, 'r.jsonl'), quotas: quotaProfile('documented'), minRecords: 3 });
    expect(r2.plan!.retry).toMatchObject({ records: 3, submittable: true });
  });

  it('replaces an earlier retry run that was not submitted, and refuses one that was', async () => {
    await collectRun({ outputs: s.out, prepared: s.run, results: join(s.dir, 'r.jsonl') });
    const again = await collectRun({ outputs: s.out, prepared: s.run, results: join(s.dir, 'r.jsonl') });
    expect(again.plan!.retry.records).toBe(3);
    expect((await jsonLines(join(s.run, 'retry-2/input/job-0001/part-00001.jsonl'))).length).toBe(3);
    await writeFile(join(s.run, 'retry-2/ledger.jsonl'), '{"job":"job-0001","jobArn":"arn:aws:bedrock:us-east-1:1:model-invocation-job/abc"}\n');
    await expect(collectRun({ outputs: s.out, prepared: s.run, results: join(s.dir, 'r.jsonl') })).rejects.toMatchObject({
      code: 'E_BAD_OPTION',
      hint: expect.stringContaining('--no-retry'),
    });
    // the results file was not replaced by a partial one
    expect((await jsonLines(join(s.dir, 'r.jsonl'))).length).toBe(10);
  });

  it('plans nothing with retry: false, and a retryable override moves a 4xx into the retry run', async () => {
    const none = await collectRun({ outputs: s.out, prepared: s.run, results: join(s.dir, 'r.jsonl'), retry: false });
    expect(none.plan).toBeUndefined();
    expect((await jsonLines(join(s.dir, 'r.jsonl'))).some((x) => 'next' in x)).toBe(false);
    const r = await collectRun({ outputs: s.out, prepared: s.run, results: join(s.dir, 'r.jsonl'), retry: join(s.dir, 'elsewhere'), retryable: () => true });
    expect(r.plan!.retry).toMatchObject({ uri: join(s.dir, 'elsewhere'), records: 4 });
    expect(r.plan!.deadLetter.records).toBe(0);
  });
});
