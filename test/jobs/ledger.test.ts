/** The ledger: readable after a crash at any byte; an event cut short never glues onto the next, nothing is cut off; names and tokens. */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Ledger, parseLedger, reduceLedger, type NewLedgerEvent } from '../../src/jobs/ledger.js';
import { clientRequestTokenFor, jobNameFor, slugOf, verifyJobFolder, loadPreparedRun, type JobSettings } from '../../src/jobs/run.js';
import { decideMode } from '../../src/target.js';
import { PATTERNS } from '../../src/bedrock/vocabulary.js';
import { tempDir } from '../support/temp.js';
import { prepareCalls } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('ledger-'));
});
afterEach(() => cleanup());

const records = { total: 3, processed: 0, success: 0, error: 0 };
const EVENTS: NewLedgerEvent[] = [
  { event: 'run', runId: 'f'.repeat(64), run: './batch', mode: 'local', output: '/tmp/out', outputUri: 's3://bedrock-batch-output/', modelId: 'm', invocationType: 'InvokeModel', roleArn: 'arn:aws:iam::123456789012:role/R', jobs: 2 },
  { event: 'submitting', job: 'job-0001', jobName: 'batch-ffffffff-job-0001', token: 'a'.repeat(64), input: 's3://bedrock-batch-input/input/job-0001/' },
  { event: 'submitted', job: 'job-0001', jobName: 'batch-ffffffff-job-0001', token: 'a'.repeat(64), input: 's3://bedrock-batch-input/input/job-0001/', jobArn: 'arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/aaaaaaaaaaaa', output: '/tmp/out/aaaaaaaaaaaa/' },
  { event: 'status', job: 'job-0001', jobArn: 'arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/aaaaaaaaaaaa', status: 'InProgress', records },
  { event: 'submitting', job: 'job-0002', jobName: 'batch-ffffffff-job-0002', token: 'b'.repeat(64), input: 's3://bedrock-batch-input/input/job-0002/' },
  { event: 'done', job: 'job-0001', jobArn: 'arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/aaaaaaaaaaaa', status: 'Completed', records: { ...records, processed: 3, success: 3 } },
];

async function writeLedger(path: string): Promise<string> {
  const ledger = await Ledger.open(path);
  for (const e of EVENTS) await ledger.append(e);
  await ledger.close();
  return readFileSync(path, 'utf8');
}

describe('the ledger', () => {
  it('folds events into per-job state: submitted, in doubt, done', async () => {
    const path = join(dir, 'ledger.jsonl');
    await writeLedger(path);
    const state = await Ledger.read(path);
    expect(state.run?.mode).toBe('local');
    expect(state.jobs.get('job-0001')).toMatchObject({ jobArn: expect.stringMatching(/aaaaaaaaaaaa$/), status: 'Completed', done: true, inDoubt: false, output: '/tmp/out/aaaaaaaaaaaa/' });
    expect(state.jobs.get('job-0002')).toMatchObject({ inDoubt: true, token: 'b'.repeat(64), done: false });
    expect(state.jobs.get('job-0002')?.jobArn).toBeUndefined();
  });

  it('is readable after a crash at every byte: the complete lines count, a torn one is noted', async () => {
    const full = await writeLedger(join(dir, 'ledger.jsonl'));
    const bytes = Buffer.from(full);
    const ends = [...full.matchAll(/\n/g)].map((m) => Buffer.byteLength(full.slice(0, m.index! + 1)));
    for (let cut = 0; cut <= bytes.length; cut++) {
      const text = bytes.subarray(0, cut).toString('utf8');
      const { events, notes } = parseLedger(text, 'ledger.jsonl');
      // a line whose JSON is whole counts, with or without its newline
      const complete = ends.filter((e) => e - 1 <= cut).length;
      expect(events).toHaveLength(complete);
      expect(notes).toHaveLength(ends.includes(cut) || ends.includes(cut + 1) || cut === 0 ? 0 : 1);
      // and folding never throws
      reduceLedger(events);
    }
  });

  it('closes a torn line before appending: nothing is cut off, and no event glues onto it', async () => {
    const path = join(dir, 'ledger.jsonl');
    const full = await writeLedger(path);
    const torn = full + '{"v":1,"at":"2026-01-01T00:00:00Z","event":"sta';
    await writeFile(path, torn);
    const ledger = await Ledger.open(path);
    expect(ledger.state.notes[0]).toMatch(/ignored line 7 \(\d+ bytes\), an event cut short by an interrupted write/);
    await ledger.append({ event: 'stop-requested', job: 'job-0001', jobArn: 'arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/aaaaaaaaaaaa' });
    await ledger.close();
    const after = readFileSync(path, 'utf8');
    expect(after.startsWith(torn + '\n')).toBe(true);
    const state = await Ledger.read(path);
    expect(state.events).toBe(EVENTS.length + 1);
    expect(state.notes).toHaveLength(1);
    expect(after.split('\n').filter(Boolean).at(-1)).toContain('"stop-requested"');
  });

  it("never cuts another process's lines: a stop appending beside a submit, after a torn tail, loses nothing", async () => {
    const path = join(dir, 'ledger.jsonl');
    const full = await writeLedger(path);
    await writeFile(path, full + '{"v":1,"at":"2026-01-01T00:00:00Z","event":"sta');
    // both open the ledger while its tail is torn; the submit appends first, then the stop
    const submit = await Ledger.open(path);
    const stop = await Ledger.open(path);
    const arn = 'arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/bbbbbbbbbbbb';
    await submit.append({ event: 'submitted', job: 'job-0002', jobName: 'batch-ffffffff-job-0002', token: 'b'.repeat(64), input: 's3://bedrock-batch-input/input/job-0002/', jobArn: arn, output: '/tmp/out/bbbbbbbbbbbb/' });
    await submit.append({ event: 'status', job: 'job-0002', jobArn: arn, status: 'Submitted', records });
    await stop.append({ event: 'stop-requested', job: 'job-0002', jobArn: arn });
    await submit.append({ event: 'done', job: 'job-0002', jobArn: arn, status: 'Stopped', records });
    await Promise.all([submit.close(), stop.close()]);
    const state = await Ledger.read(path);
    expect(state.events).toBe(EVENTS.length + 4);
    expect(state.jobs.get('job-0002')).toMatchObject({ jobArn: arn, status: 'Stopped', done: true });
  });

  it('leaves out an event cut short in the middle of the ledger (a crash, then a resumed run), with a note', async () => {
    const path = join(dir, 'ledger.jsonl');
    const lines = (await writeLedger(path)).split('\n');
    lines[2] = lines[2]!.slice(0, 40);
    await writeFile(path, lines.join('\n'));
    const state = await Ledger.read(path);
    expect(state.events).toBe(EVENTS.length - 1);
    expect(state.notes).toEqual([expect.stringContaining('ignored line 3')]);
  });

  it('refuses a broken line that is not an event, naming the line', async () => {
    const path = join(dir, 'ledger.jsonl');
    const lines = (await writeLedger(path)).split('\n');
    lines[2] = 'job-0001 done, I think';
    await writeFile(path, lines.join('\n'));
    await expect(Ledger.open(path)).rejects.toMatchObject({ code: 'E_LEDGER', line: 3, message: expect.stringContaining('line 3') });
  });
});

describe('names, tokens and folders', () => {
  const settings: JobSettings = {
    modelId: 'anthropic.claude-3-haiku-20240307-v1:0',
    invocationType: 'InvokeModel',
    roleArn: 'arn:aws:iam::123456789012:role/R',
    inputUri: 's3://in-bucket/run/input/job-0001/',
    outputUri: 's3://out-bucket/',
  };

  it('derives valid, stable job names and tokens that change with the content and every setting', async () => {
    const run = join(dir, 'Run 42 (final)');
    await prepareCalls(run, 4, 2);
    const prepared = await loadPreparedRun(run);
    expect(prepared.slug).toBe('Run-42-final');
    const job = prepared.manifest.jobs[0]!;
    const name = jobNameFor(prepared, job);
    expect(name).toBe(`Run-42-final-${prepared.runId.slice(0, 8)}-job-0001`);
    expect(name).toMatch(new RegExp(PATTERNS.jobName));
    const token = clientRequestTokenFor(prepared, job, settings);
    expect(token).toMatch(new RegExp(PATTERNS.clientRequestToken));
    expect(clientRequestTokenFor(prepared, job, settings)).toBe(token);
    const variants: Partial<JobSettings>[] = [
      { roleArn: 'arn:aws:iam::123456789012:role/Other' },
      { outputUri: 's3://out-bucket/b/' },
      { timeoutHours: 48 },
      { kmsKeyId: 'alias/k' },
      { tags: [{ key: 'a', value: 'b' }] },
      { vpc: { subnetIds: ['s'], securityGroupIds: ['g'] } },
      { invocationType: 'Converse' },
    ];
    const tokens = new Set([token, ...variants.map((v) => clientRequestTokenFor(prepared, job, { ...settings, ...v }))]);
    expect(tokens.size).toBe(variants.length + 1);
    expect(clientRequestTokenFor(prepared, { ...job, shards: [{ ...job.shards[0]!, bytes: job.shards[0]!.bytes + 1 }] }, settings)).not.toBe(token);
    expect(clientRequestTokenFor({ runId: '0'.repeat(64) }, job, settings)).not.toBe(token);
    expect(jobNameFor(prepared, job, 2)).toBe(`${name}-a2`);
  });

  it('makes a name-safe slug of any location', () => {
    expect(slugOf('./batch')).toBe('batch');
    expect(slugOf('s3://batch-in/run-42/')).toBe('run-42');
    expect(slugOf('/tmp/__x__/')).toBe('x');
    expect(slugOf('/')).toBe('run');
    expect(slugOf('/data/' + 'a'.repeat(40))).toHaveLength(24);
  });

  it('checks a job folder against prepared.json: extra, missing and resized files', async () => {
    const run = join(dir, 'batch');
    await prepareCalls(run, 4, 2);
    const prepared = await loadPreparedRun(run);
    const job = prepared.manifest.jobs[0]!;
    await verifyJobFolder(prepared, job);
    const shard = join(run, job.shards[0]!.key);
    const original = readFileSync(shard);
    await writeFile(shard, Buffer.concat([original, Buffer.from('\n')]));
    await expect(verifyJobFolder(prepared, job)).rejects.toMatchObject({ code: 'E_SHARDS_CHANGED', message: expect.stringContaining('prepared.json says') });
    await writeFile(shard, original);
    await writeFile(join(run, job.prefix, 'extra.jsonl'), '{}\n');
    await expect(verifyJobFolder(prepared, job)).rejects.toMatchObject({ code: 'E_SHARDS_CHANGED', message: expect.stringContaining('extra.jsonl') });
  });

  it('refuses a run that prepare could not make submittable, and a location without prepared.json', async () => {
    await expect(loadPreparedRun(join(dir, 'nothing'))).rejects.toMatchObject({ code: 'E_NOT_PREPARED', hint: expect.stringContaining('prepare --out') });
    const run = join(dir, 'batch');
    await prepareCalls(run, 2, 2);
    const manifest = JSON.parse(readFileSync(join(run, 'prepared.json'), 'utf8'));
    await writeFile(join(run, 'prepared.json'), JSON.stringify({ ...manifest, submittable: false, problem: { code: 'E_BELOW_MIN_RECORDS', message: '2 records in total, below the minimum', hint: 'add records' } }));
    await expect(loadPreparedRun(run)).rejects.toMatchObject({ code: 'E_NOT_PREPARED', message: expect.stringContaining('E_BELOW_MIN_RECORDS'), hint: 'answer the small folder on demand with --mode auto (the default), or add records' });
    // with the on-demand path allowed, the same run is taken as it is
    await expect(loadPreparedRun(run, undefined, { belowMinimum: true })).resolves.toMatchObject({ manifest: { submittable: false } });
  });
});

describe('local or AWS', () => {
  it.each([
    [{ run: './batch', output: './out' }, 'local', 'local directories'],
    [{ run: 's3://in/run/', output: 's3://out/' }, 'aws', 'an s3:// location'],
    [{ run: './batch', output: 's3://out/' }, 'aws', 'an s3:// location'],
    [{ run: './batch', output: './out', endpointUrl: 'http://127.0.0.1:8089' }, 'aws', '--endpoint-url http://127.0.0.1:8089'],
    [{ run: 's3://in/run/', output: 's3://out/', local: true }, 'local', '--local'],
    [{ run: './batch', output: './out', aws: true }, 'aws', '--aws'],
    [{ run: './batch', ledgerMode: 'aws' as const }, 'aws', 'as recorded in the ledger'],
  ])('%j -> %s', (options, mode, reason) => {
    expect(decideMode(options)).toEqual({ mode, reason });
  });

  it('refuses contradictions', () => {
    expect(() => decideMode({ run: './b', local: true, aws: true })).toThrow('contradict');
    expect(() => decideMode({ run: './b', local: true, ledgerMode: 'aws' })).toThrow('submitted in aws mode');
    expect(() => decideMode({ run: './b', local: true, endpointUrl: 'http://x' })).toThrow('drop --endpoint-url');
  });
});
