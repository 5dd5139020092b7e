/** Helpers for the jobs tests: prepared runs of synthetic calls, and reading what jobs wrote. */
import type { SubmitRunOptions } from '../../src/jobs/submit.js';
import { readFileSync } from 'node:fs';
import { readdir, readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { prepareRun, type PrepareSummary } from '../../src/prepare.js';
import { quotaProfile } from '../../src/bedrock/quotas.js';
import { adaptCalls, promptCalls } from '../../transforms/index.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export const ROLE = 'arn:aws:iam::123456789012:role/BatchRole';
export const FAST_LOCAL = { delays: { submitted: 1, validating: 1, scheduled: 1, stopping: 1 } } as const;
export const QUICK = { pollMs: 10, maxPollMs: 40, backoff: { baseMs: 5, maxMs: 20 } } as const;

/** A CSV of `calls` synthetic calls, each with a reason, a resolution and a next step. */
export async function callsCsv(path: string, calls: number, seed = 0): Promise<void> {
  let csv = 'call_id,agent,transcript\n';
  for (let i = 0; i < calls; i++) {
    const n = seed * 100_000 + i;
    const transcript =
      `Customer: Hi, I am calling about order ${n}, which arrived damaged.\n` +
      `Agent: I am sorry to hear that. I have issued a replacement for order ${n}.\n` +
      `Agent: You will receive a tracking email within 2 business days.`;
    csv += `call-${n},Agent ${i % 7},"${transcript}"\n`;
  }
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, csv);
}

/** Prepare `calls` calls into `out`, `perJob` records per job (one shard each). */
export async function prepareCalls(out: string, calls: number, perJob: number, options: { seed?: number; modelId?: string; minPerJob?: number } = {}): Promise<PrepareSummary> {
  const csv = `${out}.source.csv`;
  await callsCsv(csv, calls, options.seed ?? 0);
  return prepareRun({
    inputs: [csv],
    out,
    adapt: adaptCalls(),
    prompt: promptCalls(),
    model: { modelId: options.modelId ?? 'anthropic.claude-3-haiku-20240307-v1:0', maxTokens: 200 },
    quotas: quotaProfile('local', { maxRecordsPerFile: perJob, maxRecordsPerJob: perJob, ...(options.minPerJob !== undefined ? { minRecordsPerJob: options.minPerJob } : {}) }),
  });
}

/** recordIds of a job folder's shards. */
export function shardIds(run: string, job: string): string[] {
  const manifest = JSON.parse(readFileSync(join(run, 'prepared.json'), 'utf8'));
  const j = manifest.jobs.find((x: { name: string }) => x.name === job);
  return j.shards.flatMap((s: { key: string }) =>
    readFileSync(join(run, s.key), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l).recordId as string),
  );
}

/** Every output line a job wrote (manifest excluded). */
export async function outputLines(dir: string): Promise<any[]> {
  const out: any[] = [];
  for (const name of (await readdir(dir)).sort()) {
    if (!name.endsWith('.jsonl.out')) continue;
    for (const l of (await readFile(join(dir, name), 'utf8')).split('\n')) if (l) out.push(JSON.parse(l));
  }
  return out;
}

export function ledgerEvents(path: string): any[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

/** submitRun's options for a run on the embedded local service, fast (the tests' usual settings), with `over` on top. */
export const localRun = (run: string, out: string, over: Partial<SubmitRunOptions> = {}): SubmitRunOptions => ({
  run,
  output: out,
  ...QUICK,
  ...over,
  localService: { ...FAST_LOCAL, ...over.localService },
});
