/**
 * `run --no-wait` as a scheduler calls it: each call is one step (prepare if needed, a submit step,
 * collect once every job has ended), writes `<work>/step.json`, and exits. Against moto's S3 and the
 * local service as its own process (`serve`), through the built CLI. Also: the question before
 * submitting on a terminal (a pseudo-terminal from util-linux `script`), and never without one.
 */
import { BedrockClient, ListModelInvocationJobsCommand } from '@aws-sdk/client-bedrock';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, cli } from '../support/cli.js';
import type { MotoServer } from '../support/moto.js';
import type { StepStatus } from '../../src/run/step.js';
import { ROLE, startStepWorld, type StepWorld } from './helpers.js';

let world: StepWorld;
let s3: MotoServer;
let dir: string;
let env: NodeJS.ProcessEnv;
let endpoint: string;
const SHARDS = ['--quotas', 'local', '--max-records', '40', '--max-job-records', '40', '--min-records', '1', '--poll', '0.1'];

async function objectText(bucket: string, key: string): Promise<string> {
  return (await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString();
}

beforeAll(async () => {
  world = await startStepWorld('stepping', 100);
  ({ s3, dir, env, endpoint } = world);
}, 60_000);

afterAll(async () => {
  await world?.close();
});


describe('run --no-wait', () => {
  it('steps a run from nothing to its results, one call at a time, writing step.json', async () => {
    const work = 's3://stepping/daily/';
    const args = ['run', 'calls.csv', '--work', work, '--bedrock-endpoint-url', endpoint, '--role-arn', ROLE, ...SHARDS, '--no-wait', '--json', '--quiet'];
    const phases: string[] = [];
    let last: StepStatus | undefined;
    for (let i = 0; i < 100 && !last?.done; i++) {
      const r = await cli(args, dir, env);
      expect(r.code, r.stderr).toBe(0);
      last = JSON.parse(r.stdout) as StepStatus;
      phases.push(last.phase);
      // step.json says what stdout said
      expect(JSON.parse(await objectText('stepping', 'daily/step.json'))).toEqual(last);
      if (!last.done) await new Promise((res) => setTimeout(res, 100));
    }
    expect(last).toMatchObject({ phase: 'collected', done: true, collectReady: true, results: 's3://stepping/daily/results.jsonl' });
    expect(last!.jobs).toMatchObject({ total: 3, created: 3, ended: 3, remaining: 0 });
    expect(last!.jobNamePrefix).toMatch(/^batch-[0-9a-f]{8}-$/);
    // the quota (2 in flight) made at least one step leave a folder without a job
    expect(phases[0]).toBe('submitting');
    const results = (await objectText('stepping', 'daily/results.jsonl')).trim().split('\n');
    expect(results).toHaveLength(100);
    const ledger = (await objectText('stepping', 'daily/batch/ledger.jsonl')).trim().split('\n').map((l) => JSON.parse(l) as { event: string });
    expect(ledger.filter((e) => e.event === 'collected')).toHaveLength(1);

    // another step of a collected run does nothing and says it is done
    const again = await cli(args, dir, env);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ phase: 'collected', done: true, ledgerEvents: 0 });
    expect((await objectText('stepping', 'daily/batch/ledger.jsonl')).trim().split('\n')).toHaveLength(ledger.length);
  }, 180_000);

  it('leaves the preparing to the step that holds the lease', async () => {
    await s3.client.send(new PutObjectCommand({ Bucket: 'stepping', Key: 'leased/prepare.lease', Body: JSON.stringify({ owner: 'another-machine', at: new Date().toISOString() }) }));
    const r = await cli(['run', 'calls.csv', '--work', 's3://stepping/leased/', '--bedrock-endpoint-url', endpoint, '--role-arn', ROLE, ...SHARDS, '--no-wait', '--json', '--quiet'], dir, env);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ phase: 'preparing', done: false, note: expect.stringContaining('another step has been preparing since') });
    await expect(objectText('stepping', 'leased/batch/prepared.json')).rejects.toThrow();
  });
});

describe('the question before submitting to AWS', () => {
  /** The CLI on a pseudo-terminal (util-linux `script`), with `answer` typed in. */
  function onTerminal(args: string[], answer: string): Promise<{ code: number | null; out: string }> {
    const command = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const child = spawn('script', ['-qefc', command, '/dev/null'], { cwd: dir, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('submit? [y/N]')) child.stdin.end(`${answer}\n`);
    });
    child.stderr.on('data', (d) => (out += d));
    return new Promise((resolve) => child.on('close', (code) => resolve({ code, out })));
  }

  async function jobsNamed(prefix: string): Promise<number> {
    const client = new BedrockClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
    const jobs = (await client.send(new ListModelInvocationJobsCommand({ maxResults: 1000, nameContains: prefix }))).invocationJobSummaries ?? [];
    client.destroy();
    return jobs.length;
  }

  it('shows the estimate and creates nothing on a no; a yes submits', async () => {
    const args = (work: string) => ['run', 'calls.csv', '--work', work, '--bedrock-endpoint-url', endpoint, '--role-arn', ROLE, ...SHARDS];
    const no = await onTerminal(args('s3://stepping/asked-no/'), 'n');
    expect(no.out).toMatch(/estimated cost: up to \$[0-9.]+ for 100 records \(3 batch jobs \$[0-9.]+\)/);
    expect(no.out).toContain('E_CANCELLED');
    expect(no.code).not.toBe(0);
    const prepared = JSON.parse(await objectText('stepping', 'asked-no/batch/prepared.json')) as { out: string };
    expect(prepared.out).toBe('s3://stepping/asked-no/batch');
    const ledger = (await objectText('stepping', 'asked-no/batch/ledger.jsonl').catch(() => '')).trim();
    expect(ledger.split('\n').filter((l) => l && !l.includes('"event":"run"'))).toEqual([]);

    const yes = await onTerminal(args('s3://stepping/asked-no/'), 'y');
    expect(yes.code, yes.out).toBe(0);
    expect(yes.out).toContain('100 summaries written');
  }, 120_000);

  it('never asks without a terminal, nor with --yes', async () => {
    const r = await cli(['run', 'calls.csv', '--work', 's3://stepping/no-tty/', '--bedrock-endpoint-url', endpoint, '--role-arn', ROLE, ...SHARDS], dir, env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('submit? [y/N]');
    const yes = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const command = [process.execPath, BIN, 'run', 'calls.csv', '--work', 's3://stepping/with-yes/', '--bedrock-endpoint-url', endpoint, '--role-arn', ROLE, ...SHARDS, '--yes']
        .map((a) => `'${a}'`)
        .join(' ');
      const child = spawn('script', ['-qefc', command, '/dev/null'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.on('close', (code) => resolve({ code, out }));
    });
    expect(yes.code, yes.out).toBe(0);
    expect(yes.out).not.toContain('submit? [y/N]');
    expect(await jobsNamed('batch-')).toBeGreaterThanOrEqual(6);
  }, 120_000);
});
