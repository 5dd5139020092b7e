/**
 * Nothing paid twice: collect never plans a retry of a record whose job may still answer it. A job
 * counts as ended only with a terminal status in the ledger; `submit --no-wait`, or a submit stopped
 * with Ctrl-C before the job's first status change, leaves jobs that collect must not retry.
 * (Issue 10, finding 1.) The CLI runs as a user runs it; the service is the local one over HTTP.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LocalService } from '../../src/local/server.js';
import { ROLE, startFast } from '../local/helpers.js';
import { tempDir } from '../support/temp.js';
import { cli, finish, start, until } from '../support/cli.js';

const CALLS = fileURLToPath(new URL('../../fixtures/calls.csv', import.meta.url));

let dir: string;
let cleanup: () => Promise<void>;
let local: LocalService | undefined;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('billed-once-'));
});
afterEach(async () => {
  await local?.close();
  local = undefined;
  await cleanup();
});

async function preparedRun(): Promise<{ run: string; out: string; submit: string[] }> {
  const run = join(dir, 'root', 'in-bucket', 'run');
  const out = join(dir, 'root', 'out-bucket', 'o');
  await mkdir(join(dir, 'root', 'out-bucket'), { recursive: true });
  const p = await cli(['prepare', CALLS, '--out', run, '--quotas', 'local', '-q'], dir);
  expect(p.code, p.stderr).toBe(0);
  // jobs that stay Submitted: the service takes a minute to validate them
  local = await startFast({ root: join(dir, 'root'), delays: { submitted: 60_000 } });
  return { run, out, submit: ['submit', run, '--endpoint-url', local.endpoint, '--s3-root', join(dir, 'root'), '--output', out, '--role-arn', ROLE, '--poll', '0.02'] };
}

const retryRuns = async (run: string) => (await readdir(run)).filter((n) => n.startsWith('retry-'));

describe('collect never retries a record its job may still answer', () => {
  it('after submit --no-wait: collect refuses while the jobs are queued; --partial leaves every record pending, nothing to retry', async () => {
    const { run, out, submit } = await preparedRun();
    const s = await cli([...submit, '--no-wait'], dir);
    expect(s.code, s.stderr).toBe(0);
    // every status submit learnt is in the ledger
    const ledger = readFileSync(join(run, 'ledger.jsonl'), 'utf8');
    expect(ledger.match(/"event":"status","job":"job-0001","jobArn":"[^"]+","status":"Submitted"/g)).toHaveLength(1);

    const refused = await cli(['collect', out, '--prepared', run], dir);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('E_JOBS_RUNNING');
    expect(refused.stderr).toMatch(/job-0001 \([a-z0-9]{12}: Submitted\)/);
    expect(await retryRuns(run)).toEqual([]);

    const partial = await cli(['collect', out, '--prepared', run, '--partial', '--json', '-q'], dir);
    expect(partial.code, partial.stderr).toBe(0);
    const summary = JSON.parse(partial.stdout);
    expect(summary).toMatchObject({ submitted: 283, succeeded: 0, missing: 283, pending: 283, retry: { uri: null, records: 0 }, deadLetter: { records: 0 } });
    expect(await retryRuns(run)).toEqual([]);
  });

  it('after Ctrl-C before a job first changes status: collect refuses, and a resumed submit adopts the job', async () => {
    const { run, out, submit } = await preparedRun();
    const child = start(submit, dir);
    const done = finish(child);
    const ledger = () => (existsSync(join(run, 'ledger.jsonl')) ? readFileSync(join(run, 'ledger.jsonl'), 'utf8') : '');
    await until(child, () => /"event":"submitted"/.test(ledger()), 'the job created');
    child.kill('SIGINT');
    expect((await done).code).toBe(130);

    const refused = await cli(['collect', out, '--prepared', run], dir);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('E_JOBS_RUNNING');
    expect(await retryRuns(run)).toEqual([]);
    // the job is the service's one, and a resumed submit creates no second
    const again = await cli([...submit, '--no-wait', '--json'], dir);
    expect(again.code, again.stderr).toBe(0);
    expect(local!.service.snapshot()).toHaveLength(1);
  });
});
