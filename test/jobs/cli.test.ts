import { fileURLToPath } from 'node:url';
/**
 * The commands as a user runs them, in real child processes: serve prints its URL first; submit
 * --json and status --json print the documented shape; exit codes; and the crash test: a submit
 * killed with SIGKILL at different moments, then run again, creates no second job for any folder
 * and loses no record.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateModelInvocationJobCommand } from '@aws-sdk/client-bedrock';
import { describe, expect, it } from 'vitest';
import { clientOf, createInput, jsonl, put, waitFor } from '../local/helpers.js';
import { firstLine, inProcess } from '../support/cli.js';
import { useTempDir } from '../support/temp.js';
import { ledgerEvents, outputLines, prepareCalls, shardIds } from './helpers.js';

// The built CLI (`npm test` builds dist/ first), what `npx bedrock-batch` runs.
const bin = fileURLToPath(new URL('../../dist/src/cli/bin.js', import.meta.url));

const tmp = useTempDir('cli-');

const ENV = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', NO_COLOR: '1' };

function start(args: string[]): ChildProcess {
  return spawn(process.execPath, [bin, ...args], { cwd: tmp.dir, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
}

function finish(child: ChildProcess): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

const cli = (args: string[]) => finish(start(args));

/** Wait until `test` holds (polling) while `child` runs; the guard only stops a hung test. */
async function until(child: ChildProcess, test: () => boolean, what: string, guardMs = 30_000): Promise<void> {
  const end = Date.now() + guardMs;
  while (!test()) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the process ended (${child.exitCode ?? child.signalCode}) before ${what}`);
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const ledgerOf = (run: string) => (existsSync(join(run, 'ledger.jsonl')) ? readFileSync(join(run, 'ledger.jsonl'), 'utf8') : '');
const count = (text: string, needle: string) => text.split(needle).length - 1;

describe('serve', () => {
  it('prints its URL as the first stdout line once it listens, serves the SDK, and saves its jobs on SIGTERM', async () => {
    await put(tmp.dir, 'root/in-bucket/run/a.jsonl', jsonl(3));
    await mkdir(join(tmp.dir, 'root', 'out-bucket'));
    const child = start(['serve', '--port', '0', '--root', 'root', '--quotas', 'local', '--delay', '1']);
    const done = finish(child);
    const url = await firstLine(child);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const client = clientOf(url);
    const { jobArn } = await client.send(new CreateModelInvocationJobCommand(createInput()));
    expect((await waitFor(client, jobArn!, ['Completed', 'Failed'])).status).toBe('Completed');
    client.destroy();
    child.kill('SIGTERM');
    const r = await done;
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${url}\n`);
    expect(r.stderr).toContain('Validating -> Scheduled');
    const state = JSON.parse(readFileSync(join(tmp.dir, 'root', '.local-service', 'jobs.json'), 'utf8'));
    expect(state.jobs.map((j: { jobArn: string; status: string }) => [j.jobArn, j.status])).toEqual([[jobArn, 'Completed']]);
  });
});

describe('submit, status, stop', () => {
  it('submit --json prints {"jobs": [...]} with the six keys; status --json agrees; failures exit 1', async () => {
    const run = join(tmp.dir, 'batch');
    const outDir = join(tmp.dir, 'out');
    await prepareCalls(run, 9, 3);
    const r = await inProcess(['submit', run, '--output', outDir, '--wait', '--json', '--local-delay', '1', '--poll', '0.01']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('submit: using the local service (in this process, http://127.0.0.1:');
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const out = JSON.parse(lines[0]!);
    expect(Object.keys(out)).toEqual(['jobs', 'remaining', 'running', 'collectReady', 'created', 'ledgerEvents', 'onDemand']);
    expect(out).toMatchObject({ remaining: 0, running: 0, collectReady: true, created: 3, onDemand: { jobs: 0, requests: 0 } });
    expect(out.ledgerEvents).toBeGreaterThanOrEqual(1 + 3 * 3); // the run, and per job: submitting, submitted, its statuses
    expect(out.jobs).toHaveLength(3);
    for (const j of out.jobs) {
      expect(Object.keys(j)).toEqual(['jobArn', 'jobName', 'status', 'input', 'output', 'records']);
      expect(j).toMatchObject({ status: 'Completed', input: `${run}/input/${j.jobName.slice(-8)}/`, records: { total: 3, processed: 3, success: 3, error: 0 } });
      expect(j.output).toBe(`${join(outDir, j.jobArn.split('/')[1])}/`);
    }
    const status = await inProcess(['status', run, '--json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toEqual({ jobs: out.jobs });
    const table = await inProcess(['status', run]);
    expect(table.stdout).toMatch(/^JOB\s+STATUS\s+RECORDS\s+ERRORS\s+JOB ID\s+NAME\n/);
    expect(table.stdout).toContain('3 jobs: 3 Completed; 9/9 records processed, 0 errors');

    await prepareCalls(join(tmp.dir, 'failing'), 4, 2);
    const bad = await inProcess(['submit', join(tmp.dir, 'failing'), '--output', join(tmp.dir, 'out2'), '--fault', 'fail=job-0002', '--local-delay', '1', '--poll', '0.01']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/job-0002 Failed: The job failed while processing records/);
    const usage = await inProcess(['submit', join(tmp.dir, 'nowhere'), '--output', outDir]);
    expect(usage.code).toBe(1);
    expect(usage.stderr).toMatch(/^bedrock-batch: error: E_NOT_PREPARED: .*prepared\.json: does not exist/);
  });

  it('status and stop --all from other processes reach the running submit, which ends with the jobs Stopped', async () => {
    await prepareCalls(join(tmp.dir, 'batch'), 40, 20);
    // one job at a time, 20 records of 150 ms each: job-0002 is still waiting or running when stop
    // comes, even on a busy machine where each CLI process takes a second to start
    const submit = start(['submit', './batch', '--output', './out', '--json', '--local-delay', '1', '--local-record-delay', '150', '--local-concurrency', '1', '--poll', '0.02']);
    const done = finish(submit);
    await until(submit, () => ledgerOf(join(tmp.dir, 'batch')).includes('"status":"InProgress"'), 'a job in progress');
    const status = await cli(['status', '--json']);
    expect(status.code).toBe(0);
    const live = JSON.parse(status.stdout).jobs;
    expect(live.map((j: { status: string }) => j.status)).toContain('InProgress');
    const stop = await cli(['stop', '--all']);
    expect(stop.code).toBe(0);
    expect(stop.stderr).toMatch(/stop: job-0002 stopping/);
    const r = await done;
    expect(r.code).toBe(0);
    const statuses = JSON.parse(r.stdout).jobs.map((j: { status: string }) => j.status);
    expect(statuses[0]).toMatch(/^(Completed|Stopped)$/);
    expect(statuses[1]).toBe('Stopped');
  });

  it('SIGINT stops watching with exit 130 and a resume hint; the same command then finishes', async () => {
    const run = join(tmp.dir, 'batch');
    await prepareCalls(run, 30, 15);
    const submit = start(['submit', './batch', '--output', './out', '--local-delay', '1', '--local-record-delay', '20', '--poll', '0.02']);
    const done = finish(submit);
    await until(submit, () => ledgerOf(run).includes('"status":"InProgress"'), 'a job in progress');
    submit.kill('SIGINT');
    const r = await done;
    expect(r.code).toBe(130);
    expect(r.stderr).toContain('run the same command to resume');
    const again = await inProcess(['submit', run, '--json', '--local-delay', '1', '--poll', '0.01']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).jobs.map((j: { records: { processed: number } }) => j.records.processed)).toEqual([15, 15]);
  });
});

describe('a submit killed with SIGKILL, then run again', () => {
  const moments: [string, (ledger: string) => boolean][] = [
    ['as the first Create goes out', (l) => l.includes('"event":"submitting"')],
    ['between two Creates', (l) => count(l, '"event":"submitted"') === 2],
    ['while jobs run', (l) => count(l, '"event":"submitted"') === 3 && l.includes('"status":"InProgress"')],
  ];
  it.each(moments)('killed %s: no second job for any folder, no record lost', async (_when, ready) => {
    const run = join(tmp.dir, 'batch');
    await prepareCalls(run, 36, 12);
    const child = start(['submit', './batch', '--output', './out', '--local-delay', '2', '--local-record-delay', '10', '--local-concurrency', '1', '--poll', '0.01']);
    const done = finish(child);
    await until(child, () => ready(ledgerOf(run)), 'the moment to kill');
    child.kill('SIGKILL');
    const killed = await done;
    expect(killed.signal).toBe('SIGKILL');

    const again = await inProcess(['submit', run, '--json', '--local-delay', '1', '--poll', '0.01']);
    expect(again.stderr).not.toContain('error');
    expect(again.code).toBe(0);
    const jobs = JSON.parse(again.stdout).jobs;
    expect(jobs.map((j: { status: string }) => j.status)).toEqual(['Completed', 'Completed', 'Completed']);

    // one job per folder on the service, and in the ledger
    const state = JSON.parse(readFileSync(join(run, 'local-service', 'jobs.json'), 'utf8'));
    expect(state.jobs).toHaveLength(3);
    expect(new Set(state.jobs.map((j: { jobName: string }) => j.jobName)).size).toBe(3);
    const events = ledgerEvents(join(run, 'ledger.jsonl'));
    for (const folder of ['job-0001', 'job-0002', 'job-0003']) {
      const arns = new Set(events.filter((e) => e.job === folder && e.jobArn).map((e) => e.jobArn));
      expect(arns.size).toBe(1);
    }
    // every record answered exactly once, and no temporary file of the killed writers is left
    for (const [i, j] of jobs.entries()) {
      const folder = `job-000${i + 1}`;
      const ids = (await outputLines(j.output)).map((l: { recordId: string }) => l.recordId);
      expect(ids.sort()).toEqual(shardIds(run, folder).sort());
      expect((await readdir(j.output)).filter((n) => n.includes('.partial-'))).toEqual([]);
    }
  });
});
