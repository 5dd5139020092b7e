/**
 * What the step tests share: moto's S3 with a bucket, a working directory with a CSV export, and the
 * local service as its own process (`serve`, on that S3: it reads and writes the run's buckets there),
 * with two jobs in flight at most so that steps queue.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstLine, start } from '../support/cli.js';
import { motoCliEnv, startMoto, type MotoServer } from '../support/moto.js';

export const ROLE = 'arn:aws:iam::123456789012:role/bedrock-batch-steps';

export interface StepWorld {
  s3: MotoServer;
  dir: string;
  env: NodeJS.ProcessEnv;
  /** The local service's URL. */
  endpoint: string;
  close(): Promise<void>;
}

/** A CSV export of `calls` short calls, ids `<prefix>1`, `<prefix>2`, ... */
export function exportCsv(calls: number, prefix = 'C'): string {
  const lines = ['call_id,transcript'];
  for (let i = 1; i <= calls; i++) lines.push(`${prefix}${i},"Agent: Thanks for calling, how can I help? Customer: My order ${i} has not arrived yet."`);
  return lines.join('\n') + '\n';
}

export async function startStepWorld(bucket: string, calls: number): Promise<StepWorld> {
  const s3 = await startMoto();
  await s3.createBucket(bucket);
  const dir = await mkdtemp(join(tmpdir(), `${bucket}-`));
  const env = { ...motoCliEnv(s3), AWS_REGION: 'us-east-1' };
  await writeFile(join(dir, 'calls.csv'), exportCsv(calls));
  const serve: ChildProcess = start(['serve', '--no-state', '--quotas', 'local', '--min-records', '1', '--max-in-flight', '2', '--delay', '20', '--quiet'], dir, env);
  const endpoint = await firstLine(serve);
  return {
    s3,
    dir,
    env,
    endpoint,
    async close() {
      serve.kill('SIGTERM');
      await s3.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
