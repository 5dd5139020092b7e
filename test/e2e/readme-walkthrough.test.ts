/**
 * The README's local command lines, run as written (`npx bedrock-batch` being the built CLI) in a
 * scratch directory holding the files they name: the prepare forms, estimate, submit, status, stop,
 * collect, run and serve. (Its s3:// and AWS lines are checked for their options by readme.test.ts;
 * the S3 and Bedrock paths they take are tested against the local S3 server and local service.)
 */
import { execFile, spawn } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BedrockClient, ListModelInvocationJobsCommand } from '@aws-sdk/client-bedrock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT } from '../prepare/helpers.js';
import { firstLine } from '../support/cli.js';

let readme: string;
let dir: string;

/** The README line that starts with `npx bedrock-batch <start>`, as written (comment dropped). */
function line(start: string): string {
  const found = readme.split('\n').map((l) => l.trim()).find((l) => l.startsWith(start));
  if (!found) throw new Error(`the README no longer shows \`${start}\``);
  return found.replace(/\s+#.*$/, '');
}

const sh = (command: string, cwd = dir) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const cli = `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)}`;
    execFile('sh', ['-c', command.replaceAll('npx bedrock-batch', cli).replaceAll(' fixtures/', ` ${ROOT}/fixtures/`)], { cwd, maxBuffer: 64 << 20 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });

const csv = (n: number, from = 0) =>
  'call_id,transcript\n' +
  Array.from({ length: n }, (_, i) => `c${from + i},"Customer: my order ${from + i} arrived damaged. Agent: I am sorry, I will send a replacement today."`).join('\n') +
  '\n';

beforeAll(async () => {
  readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  dir = await mkdtemp(join(tmpdir(), 'readme-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the README, line by line on this machine', () => {
  it('prepare forms: a file, stdin, a directory and a gzip glob', { timeout: 120_000 }, async () => {
    await writeFile(join(dir, 'calls.csv'), csv(1200));
    const a = await sh(line('npx bedrock-batch prepare calls.csv --out ./batch'));
    expect(a.code, a.stderr).toBe(0);
    expect(a.stderr).toContain('1,200 records');

    const pipe = join(dir, 'pipe');
    await mkdir(pipe);
    await writeFile(join(pipe, 'export.jsonl'), Array.from({ length: 1000 }, (_, i) => JSON.stringify({ id: `j${i}`, text: 'Agent: hello. Customer: my card was charged twice.' })).join('\n') + '\n');
    const b = await sh(line('cat export.jsonl | npx bedrock-batch prepare -'), pipe);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).toContain('1,000 records');

    const many = join(dir, 'many');
    await mkdir(join(many, 'exports'), { recursive: true });
    await mkdir(join(many, 'more'));
    await writeFile(join(many, 'exports/a.csv'), csv(600));
    await writeFile(join(many, 'more/b.csv.gz'), gzipSync(csv(600, 600)));
    const c = await sh(line('npx bedrock-batch prepare exports/ more/*.csv.gz'), many);
    expect(c.code, c.stderr).toBe(0);
    expect(JSON.parse(c.stdout)).toMatchObject({ read: 1200, written: 1200, rejected: 0 });
  });

  it('estimate, submit --wait, status, stop --all, collect', { timeout: 120_000 }, async () => {
    const e = await sh(line('npx bedrock-batch estimate ./batch'));
    expect(e.code, e.stderr).toBe(0);
    expect(e.stdout + e.stderr).toMatch(/ESTIMATE/);

    const s = await sh(line('npx bedrock-batch submit ./batch --output ./out --wait'));
    expect(s.code, s.stderr).toBe(0);
    expect(s.stderr).toMatch(/1,200\/1,200 records processed; jobs: 1 Completed/);

    const st = await sh(line('npx bedrock-batch status'));
    expect(st.code, st.stderr).toBe(0);
    expect(st.stdout + st.stderr).toContain('Completed');

    const stop = await sh(line('npx bedrock-batch stop --all'));
    expect(stop.code, stop.stderr).toBe(0);

    const c = await sh(line('npx bedrock-batch collect ./out --prepared ./batch'));
    expect(c.code, c.stderr).toBe(0);
    const rows = (await readFile(join(dir, 'results.jsonl'), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(rows).toHaveLength(1200);
    expect(rows.every((r) => r.status === 'success' && r.text)).toBe(true);
  });

  it('run with --max-records and --json', { timeout: 120_000 }, async () => {
    const r = await sh(line('npx bedrock-batch run fixtures/calls.csv --work ./demo --max-records 100 --json'));
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ read: 283, written: 283, succeeded: 283, failed: 0, missing: 0 });
  });

  it('serve prints its URL first and answers the Bedrock API', { timeout: 60_000 }, async () => {
    const command = line('npx bedrock-batch serve').replace('--port 8089', '--port 0'); // any free port here
    const cli = command.replace('npx bedrock-batch ', '').split(/\s+/);
    const child = spawn(process.execPath, [BIN, ...cli], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      const url = await firstLine(child);
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+/);
      // unsigned requests are refused, as Bedrock refuses them; any SDK with any credentials is let in
      expect((await fetch(`${url.replace(/\/$/, '')}/model-invocation-jobs`)).status).toBe(403);
      const bedrock = new BedrockClient({ endpoint: url, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
      const listed = await bedrock.send(new ListModelInvocationJobsCommand({}));
      expect(listed.invocationJobSummaries ?? []).toEqual([]);
      bedrock.destroy();
    } finally {
      // the server saves its state as it stops: wait for it, or the scratch folder is removed under it
      child.kill('SIGTERM');
      await exited;
    }
  });
});
