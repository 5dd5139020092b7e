import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectResults, type CollectOptions } from '../../src/results/collect.js';
import type { CollectResult, CollectSummary } from '../../src/results/types.js';

export const OUTPUT_FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'outputs');

/** A scratch copy of the scenario (fixtures/outputs/run and out): collect writes beside the run. */
export async function scenario(): Promise<{ dir: string; run: string; out: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'collect-'));
  await cp(join(OUTPUT_FIXTURES, 'run'), join(dir, 'run'), { recursive: true });
  await cp(join(OUTPUT_FIXTURES, 'out'), join(dir, 'out'), { recursive: true });
  return { dir, run: join(dir, 'run'), out: join(dir, 'out'), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export async function collectAll(options: CollectOptions): Promise<{ results: CollectResult[]; summary: CollectSummary }> {
  const c = collectResults(options);
  const results: CollectResult[] = [];
  for await (const r of c) results.push(r);
  return { results, summary: c.summary };
}

export async function jsonLines(path: string): Promise<Record<string, unknown>[]> {
  return (await readFile(path, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
