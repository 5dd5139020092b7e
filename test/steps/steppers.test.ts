/**
 * Runs that outlive a machine: `submit --no-wait` is a step, and several steppers run it at once
 * on one run whose ledger is in S3 (moto's server), against the local service as its own process
 * (`serve`, reading and writing that S3). Each stepper loops until its step says collect can run.
 * What must be exact: one job per job folder on the service, and not one ledger line lost (every
 * event a step says it appended is in the ledger, and nothing else is).
 */
import { ListModelInvocationJobsCommand, BedrockClient } from '@aws-sdk/client-bedrock';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, type Finished } from '../support/cli.js';
import { ROLE, startStepWorld, type StepWorld } from './helpers.js';

let world: StepWorld;
const RUN = 's3://steps/run/batch';
const OUT = 's3://steps/run/out/';
const FOLDERS = 6;

beforeAll(async () => {
  world = await startStepWorld('steps', FOLDERS * 40);
  const p = await cli(['prepare', 'calls.csv', '--out', RUN, '--quotas', 'local', '--max-records', '40', '--max-job-records', '40', '--min-records', '1', '--quiet'], world.dir, world.env);
  expect(p.code, p.stderr).toBe(0);
}, 60_000);

afterAll(async () => {
  await world?.close();
});

interface Step {
  remaining: number;
  collectReady: boolean;
  created: number;
  ledgerEvents: number;
}

/** One stepper: the same command again and again until its step says collect can run. */
async function stepper(): Promise<{ steps: Step[]; failures: Finished[] }> {
  const steps: Step[] = [];
  const failures: Finished[] = [];
  for (let i = 0; i < 200; i++) {
    const r = await cli(['submit', RUN, '--no-wait', '--output', OUT, '--endpoint-url', world.endpoint, '--role-arn', ROLE, '--json', '--quiet'], world.dir, world.env);
    if (r.code !== 0) {
      failures.push(r);
      if (failures.length > 3) break;
      continue;
    }
    const step = JSON.parse(r.stdout) as Step;
    steps.push(step);
    if (step.collectReady) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  return { steps, failures };
}

describe('concurrent steppers on one S3 run', () => {
  it('create exactly one job per folder and lose no ledger line', async () => {
    const steppers = await Promise.all([stepper(), stepper(), stepper(), stepper()]);
    for (const s of steppers) expect(s.failures.map((f) => f.stderr)).toEqual([]);
    for (const s of steppers) expect(s.steps.at(-1)?.collectReady).toBe(true);

    // jobs per folder, on the service itself
    const client = new BedrockClient({ endpoint: world.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
    const jobs = (await client.send(new ListModelInvocationJobsCommand({ maxResults: 1000 }))).invocationJobSummaries ?? [];
    client.destroy();
    const perFolder = new Map<string, number>();
    for (const j of jobs) {
      const folder = /-(job-\d{4})$/.exec(j.jobName ?? '')?.[1] ?? '?';
      perFolder.set(folder, (perFolder.get(folder) ?? 0) + 1);
    }
    expect(perFolder.size).toBe(FOLDERS);
    expect([...perFolder.values()]).toEqual(Array(FOLDERS).fill(1));
    const created = steppers.flatMap((s) => s.steps).reduce((n, st) => n + st.created, 0);
    expect(created).toBe(FOLDERS);

    // ledger lines: every event a step appended is there, and nothing else
    const body = await (await world.s3.client.send(new GetObjectCommand({ Bucket: 'steps', Key: 'run/batch/ledger.jsonl' }))).Body!.transformToString();
    const lines = body.split('\n').filter((l) => l !== '');
    const appended = steppers.flatMap((s) => s.steps).reduce((n, st) => n + st.ledgerEvents, 0);
    expect(lines.length).toBe(appended);
    expect(new Set(lines).size).toBe(lines.length);
    const events = lines.map((l) => JSON.parse(l) as { event: string; job?: string; status?: string });
    expect(events.filter((e) => e.event === 'run')).toHaveLength(1);
    for (let i = 1; i <= FOLDERS; i++) {
      const job = `job-${String(i).padStart(4, '0')}`;
      expect(events.filter((e) => e.job === job && (e.event === 'submitted' || e.event === 'adopted')).length, job).toBe(1);
      expect(events.filter((e) => e.job === job && e.event === 'done').length, job).toBeGreaterThanOrEqual(1);
    }
  }, 240_000);
});
