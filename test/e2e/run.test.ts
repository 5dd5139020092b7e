/**
 * `bedrock-batch run`: the README's quick start exactly as written, in a fresh clone; and a run over
 * moto's S3 server killed mid-way, then resumed to completion with every call accounted for.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/stores/index.js';
import { motoCliEnv, startMoto, type MotoServer } from '../support/moto.js';
import { BIN, ROOT } from '../prepare/helpers.js';

const sh = (command: string, cwd: string, env: NodeJS.ProcessEnv = process.env) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile('sh', ['-c', command], { cwd, env, maxBuffer: 64 << 20 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });

/** The README's quick start: the first two commands of its first code block. */
async function quickStart(): Promise<string[]> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Quick start'));
  return section.split('\n').filter((l) => l.startsWith('    ')).slice(0, 2).map((l) => l.trim());
}

describe('the README quick start', () => {
  it('its first commands set up and run the main job, and run the tests', async () => {
    const [first, second] = await quickStart();
    expect(first).toMatch(/^npm ci && npx bedrock-batch run fixtures\/\S+ --work \.\/demo$/);
    expect(second).toBe('npm test');
  });

  it('runs exactly as written in a fresh clone: results and report', { timeout: 600_000 }, async () => {
    const [first] = await quickStart();
    const dir = await mkdtemp(join(tmpdir(), 'clone-'));
    try {
      // A clone of what is committed (what CI and a new user get).
      const clone = await sh(`git clone --quiet "${ROOT}" repo`, dir);
      expect(clone.code, clone.stderr).toBe(0);
      const repo = join(dir, 'repo');
      const r = await sh(first!, repo, { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' });
      expect(r.code, r.stderr.slice(-2000)).toBe(0);
      expect(r.stderr).toMatch(/run: 283 calls read, 283 summaries written, 0 rejected, 0 failed, 0 missing/);
      expect(r.stderr).toMatch(/estimated cost at Bedrock batch prices \$\d/);
      expect(r.stderr).toMatch(/quota profile local/);
      expect(r.stderr).toMatch(/results: \.\/demo\/results\.jsonl/);
      const rows = (await readFile(join(repo, 'demo/results.jsonl'), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l));
      expect(rows).toHaveLength(283);
      expect(new Set(rows.map((x) => x.key)).size).toBe(283);
      for (const x of rows) {
        expect(x.status).toBe('success');
        expect(x.text).toMatch(/Reason: /);
        expect(x.inputTokens).toBeGreaterThan(0);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('run over S3 (moto\'s server), killed mid-way and resumed', () => {
  let s3: MotoServer;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    s3 = await startMoto();
    await s3.createBucket('work');
    dir = await mkdtemp(join(tmpdir(), 'run-s3-'));
    env = motoCliEnv(s3);
  });
  afterAll(async () => {
    await s3?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('every call ends up in the results exactly once, with one job for the job folder', { timeout: 120_000 }, async () => {
    const args = ['run', join(ROOT, 'fixtures/calls.csv'), '--work', 's3://work/run-7/', '--local', '--max-records', '100', '--local-record-delay', '15', '--results', join(dir, 'results.jsonl')];
    // 1. start, and kill it (SIGKILL: no cleanup at all) once its job is running (283 records x 15 ms: ~4 s)
    const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    await new Promise<void>((resolve, reject) => {
      const t = setInterval(() => {
        if (/InProgress \d+\/\d+ records/.test(stderr)) {
          clearInterval(t);
          child.kill('SIGKILL');
          resolve();
        }
      }, 20);
      child.on('exit', () => {
        clearInterval(t);
        reject(new Error(`run ended before it could be killed:\n${stderr}`));
      });
    });
    await new Promise((r) => child.once('close', r));
    expect(existsSync(join(dir, 'results.jsonl'))).toBe(false);

    // 2. the same command again finishes the run
    const again = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, [BIN, ...args, '--json'], { cwd: dir, env, maxBuffer: 64 << 20 }, (error, stdout, err) =>
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr: err }),
      ),
    );
    expect(again.code, again.stderr).toBe(0);
    const report = JSON.parse(again.stdout);
    expect(report).toMatchObject({ read: 283, written: 283, rejected: 0, succeeded: 283, failed: 0, missing: 0, quotas: 'local' });
    expect(report.jobs.map((j: { status: string }) => j.status)).toEqual(['Completed']);

    // one job for the one job folder (three shards of 100, 100, 83): one output folder, three files
    const out = openStore('s3://work/run-7/out/', s3.clientOptions);
    const keys: string[] = [];
    for await (const o of out.list('')) keys.push(o.key);
    expect(new Set(keys.map((k) => k.split('/')[0])).size).toBe(1);
    expect(keys.filter((k) => k.endsWith('.jsonl.out'))).toHaveLength(3);
    const rows = (await readFile(join(dir, 'results.jsonl'), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(rows).toHaveLength(283);
    expect(new Set(rows.map((r) => r.recordId)).size).toBe(283);
  });
});

describe('run after a prepare that was interrupted', () => {
  it('replaces the partial prepared run and goes on; a finished run is not prepared again', { timeout: 120_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'run-partial-'));
    try {
      // what a prepare killed mid-way leaves: the prepared.json that claims the location while it
      // prepares, a shard renamed into place, a writer's temporary file (src/run/prepared.ts)
      const { mkdir, writeFile } = await import('node:fs/promises');
      await mkdir(join(dir, 'demo/batch/input/job-0001'), { recursive: true });
      await writeFile(join(dir, 'demo/batch/prepared.json'), JSON.stringify({ version: 2, state: 'preparing', createdAt: '2026-12-01T00:00:00Z', jobs: [], model: { modelId: 'm' }, rejectsKey: 'rejects.jsonl' }));
      await writeFile(join(dir, 'demo/batch/input/job-0001/part-00001.jsonl'), '{"recordId":"AAAAAAAAAAA","modelInput":{}}\n');
      await writeFile(join(dir, 'demo/batch/input/job-0001/part-00002.jsonl.partial-99999-1'), '{"recordId":"trunc');
      const args = [BIN, 'run', join(ROOT, 'fixtures/calls.csv'), '--work', './demo', '--json'];
      const command = (argv: string[]) => [process.execPath, ...argv].map((a) => JSON.stringify(a)).join(' ');
      const first = await sh(command(args), dir);
      expect(first.code, first.stderr).toBe(0);
      expect(JSON.parse(first.stdout)).toMatchObject({ read: 283, written: 283, succeeded: 283, missing: 0 });
      const second = await sh(command(args.slice(0, -1)), dir);
      expect(second.code, second.stderr).toBe(0);
      expect(second.stderr).toContain('is already prepared (283 records');
      expect(second.stderr).toContain('283 summaries written');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
