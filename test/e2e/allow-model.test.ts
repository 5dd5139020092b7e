/**
 * The embedded local service refuses a model outside its batch catalogue at create, as Bedrock
 * does, and `run` says how to go on: `--allow-model` for a new or custom model; `--keep-order` for
 * output lines in input order (shuffled by default, as Bedrock keeps none).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../prepare/helpers.js';
import { cli } from '../support/cli.js';
import { useTempDir } from '../support/temp.js';

const TITAN = 'amazon.titan-text-express-v1'; // prepare builds its records; Bedrock lists no batch quota for it

async function outputLines(work: string): Promise<string[]> {
  const out = join(work, 'out');
  const [job] = (await readdir(out, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  const files = (await readdir(join(out, job!))).filter((f) => f.endsWith('.jsonl.out')).sort();
  const lines: string[] = [];
  for (const f of files) lines.push(...(await readFile(join(out, job!, f), 'utf8')).split('\n').filter(Boolean));
  return lines;
}

describe('run on the local service: the batch catalogue and output order', () => {
  const tmp = useTempDir('allow-model-');

  it('a model outside the catalogue: prepare notes it, the local service refuses it at create, --allow-model runs it', { timeout: 120_000 }, async () => {
    const prepared = await cli(['prepare', join(ROOT, 'fixtures/calls.csv'), '--out', 'p1', '--model', TITAN, '--quotas', 'local'], tmp.dir);
    expect(prepared.code, prepared.stderr).toBe(0);
    expect(prepared.stderr).toMatch(new RegExp(`note: +${TITAN.replaceAll('.', '\\.')} is not in the batch model catalogue of \\d{4}-\\d{2}-\\d{2}`));
    const known = await cli(['prepare', join(ROOT, 'fixtures/calls.csv'), '--out', 'p2', '--quotas', 'local'], tmp.dir);
    expect(known.stderr).not.toContain('batch model catalogue');

    const refused = await cli(['run', join(ROOT, 'fixtures/calls.csv'), '--work', 'w1', '--model', TITAN, '--json'], tmp.dir);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('ValidationException');
    expect(refused.stderr).toContain('--allow-model');

    const allowed = await cli(['run', join(ROOT, 'fixtures/calls.csv'), '--work', 'w2', '--model', TITAN, '--allow-model', TITAN, '--json'], tmp.dir);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(JSON.parse(allowed.stdout)).toMatchObject({ read: 283, succeeded: 283, failed: 0, missing: 0 });
  });

  it('output lines are shuffled by default and in input order with --keep-order; the results join either way', { timeout: 120_000 }, async () => {
    const shuffled = await cli(['run', join(ROOT, 'fixtures/calls.csv'), '--work', 'w3', '--json'], tmp.dir);
    const ordered = await cli(['run', join(ROOT, 'fixtures/calls.csv'), '--work', 'w4', '--keep-order', '--json'], tmp.dir);
    for (const r of [shuffled, ordered]) {
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ read: 283, succeeded: 283 });
    }
    const idsOf = async (work: string) => (await outputLines(join(tmp.dir, work))).map((l) => JSON.parse(l).recordId as string);
    const a = await idsOf('w3');
    const b = await idsOf('w4');
    expect([...a].sort()).toEqual([...b].sort());
    // the shard order: what the input files list, line by line
    const shardIds: string[] = [];
    const input = join(tmp.dir, 'w4', 'batch', 'input');
    for (const job of (await readdir(input)).sort()) {
      for (const f of (await readdir(join(input, job))).sort()) {
        shardIds.push(...(await readFile(join(input, job, f), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l).recordId as string));
      }
    }
    expect(b).toEqual(shardIds);
    // shuffled: most lines are not where the input had them
    expect(a.filter((id, i) => id !== shardIds[i]).length).toBeGreaterThan(a.length / 2);
  });
});
