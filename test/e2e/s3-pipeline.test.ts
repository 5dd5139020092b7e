/**
 * The whole pipeline on S3, through the built CLI: prepare reads an export from moto's S3 server
 * and writes the run to it; submit runs the jobs on the embedded local service, which reads the
 * shards from and writes Bedrock's outputs to that S3 server; collect reads the outputs from S3 and
 * joins them to the run's lineage in S3. moto on 127.0.0.1, real SDK clients.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/stores/index.js';
import { motoCliEnv, startMoto, type MotoServer } from '../support/moto.js';
import { BIN, ROOT } from '../prepare/helpers.js';

let s3: MotoServer;
let dir: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  s3 = await startMoto();
  for (const b of ['exports', 'batch-in', 'batch-out']) await s3.createBucket(b);
  const csv = await readFile(join(ROOT, 'fixtures/calls.csv'));
  await pipeline(Readable.from([gzipSync(csv)]), openStore('s3://exports/2026-11/', s3.clientOptions).createWriteStream('calls.csv.gz'));
  dir = await mkdtemp(join(tmpdir(), 's3-e2e-'));
  env = motoCliEnv(s3);
});
afterAll(async () => {
  await s3?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: dir, env, maxBuffer: 64 << 20 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('prepare, submit and collect on S3', () => {
  it('every call of an S3 export comes back as a summary, joined by recordId', async () => {
    const prep = await cli(['prepare', 's3://exports/2026-11/calls.csv.gz', '--out', 's3://batch-in/run-1/', '--quotas', 'local', '--max-records', '100', '--json']);
    expect(prep.code, prep.stderr).toBe(0);
    expect(JSON.parse(prep.stdout)).toMatchObject({ read: 283, written: 283, rejected: 0 });

    const sub = await cli(['submit', 's3://batch-in/run-1/', '--output', 's3://batch-out/run-1/', '--local', '--wait', '--json']);
    expect(sub.code, sub.stderr).toBe(0);
    const jobs = JSON.parse(sub.stdout).jobs;
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({ status: 'Completed', input: 's3://batch-in/run-1/input/job-0001/', records: { total: 283, success: 283 } });
    // the service wrote Bedrock's layout into the S3 bucket
    const out = openStore('s3://batch-out/run-1/', s3.clientOptions);
    const keys: string[] = [];
    for await (const o of out.list('')) keys.push(o.key);
    const jobId = jobs[0].jobArn.split('/').pop();
    expect(keys.sort()).toEqual([`${jobId}/manifest.json.out`, `${jobId}/part-00001.jsonl.out`, `${jobId}/part-00002.jsonl.out`, `${jobId}/part-00003.jsonl.out`]);

    const results = join(dir, 'results.csv');
    const col = await cli(['collect', 's3://batch-out/run-1/', '--prepared', 's3://batch-in/run-1/', '--results', results, '--json']);
    expect(col.code, col.stderr).toBe(0);
    const summary = JSON.parse(col.stdout);
    expect(summary).toMatchObject({ succeeded: 283, failed: 0, missing: 0, results: { uri: results, records: 283 } });
    expect(summary.inputTokens).toBeGreaterThan(0);
    const csv = await readFile(results, 'utf8');
    expect(csv.split('\n')[0]).toMatch(/call_id|key/);
    expect(csv).toContain('call-0000');
    // nothing left open on the server
    for (const b of ['batch-in', 'batch-out']) expect(await s3.pendingUploads(b)).toEqual([]);
  });
});
