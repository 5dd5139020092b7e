/**
 * No command deletes or overwrites a file it did not write (issue 10, finding 2), and a resumed run
 * never goes on silently with records built from other inputs or settings (finding 9). A prepared
 * run that a crash left unreadable is a clear error, not a raw JSON one (finding 10). The CLI runs
 * as a user runs it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { appendFile, copyFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { useTempDir } from '../support/temp.js';
import { cli } from '../support/cli.js';

const CALLS = fileURLToPath(new URL('../../fixtures/calls.csv', import.meta.url));

const tmp = useTempDir('own-files-');

async function exportsFolder(): Promise<string> {
  const exports = join(tmp.dir, 'exports');
  await mkdir(join(exports, 'archive'), { recursive: true });
  await copyFile(CALLS, join(exports, 'calls.csv'));
  await writeFile(join(exports, 'notes.txt'), 'my notes\n');
  await writeFile(join(exports, 'archive', 'old.csv'), 'call_id,transcript\nx,Agent: hi\n');
  return exports;
}

describe('run --fresh and prepare --overwrite remove only what the run wrote', () => {
  it('run --work <folder of exports> --fresh keeps the export, notes and anything else; only the run is replaced', { timeout: 60_000 }, async () => {
    await exportsFolder();
    const first = await cli(['run', 'exports/calls.csv', '--work', 'exports', '-q'], tmp.dir);
    expect(first.code, first.stderr).toBe(0);
    expect(await readdir(join(tmp.dir, 'exports', 'batch'))).toContain('prepared.json');
    const again = await cli(['run', 'exports/calls.csv', '--work', 'exports', '--fresh', '--json'], tmp.dir);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ read: 283, succeeded: 283 });
    expect(readFileSync(join(tmp.dir, 'exports', 'calls.csv'))).toEqual(readFileSync(CALLS));
    expect(readFileSync(join(tmp.dir, 'exports', 'notes.txt'), 'utf8')).toBe('my notes\n');
    expect(existsSync(join(tmp.dir, 'exports', 'archive', 'old.csv'))).toBe(true);
    // the replaced run's job is listed and its ledger kept, never silently orphaned
    expect(again.stderr).toMatch(/job-0001 arn:aws:bedrock:[^ ]+ \(last seen Completed\)/);
    expect((await readdir(join(tmp.dir, 'exports'))).filter((n) => /^replaced-[0-9a-f]{8}-ledger\.jsonl$/.test(n))).toHaveLength(1);
  });

  it('run --fresh refuses, removing nothing, when something that is not the run is where the run writes', { timeout: 60_000 }, async () => {
    await exportsFolder();
    expect((await cli(['run', 'exports/calls.csv', '--work', 'exports', '-q'], tmp.dir)).code).toBe(0);
    await writeFile(join(tmp.dir, 'exports', 'batch', 'input', 'job-0001', 'mine.jsonl'), '{"not":"ours"}\n');
    const r = await cli(['run', 'exports/calls.csv', '--work', 'exports', '--fresh', '-q'], tmp.dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('E_IN_THE_WAY');
    expect(r.stderr).toContain('mine.jsonl');
    expect(existsSync(join(tmp.dir, 'exports', 'batch', 'prepared.json'))).toBe(true);
    expect(existsSync(join(tmp.dir, 'exports', 'batch', 'input', 'job-0001', 'mine.jsonl'))).toBe(true);
  });

  it('run never overwrites a results file it did not write', async () => {
    const exports = await exportsFolder();
    await writeFile(join(exports, 'results.jsonl'), 'my own results\n');
    const r = await cli(['run', 'exports/calls.csv', '--work', 'exports', '-q'], tmp.dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('E_IN_THE_WAY');
    expect(readFileSync(join(exports, 'results.jsonl'), 'utf8')).toBe('my own results\n');
    expect(existsSync(join(exports, 'batch'))).toBe(false);
  });

  it('prepare <folder> --out <same folder> --overwrite is refused before anything is written or deleted', async () => {
    const data = join(tmp.dir, 'data');
    await mkdir(data);
    await copyFile(CALLS, join(data, 'calls.csv'));
    for (const args of [['prepare', 'data', '--out', 'data', '--overwrite'], ['prepare', 'data', '--out', 'data/batch', '--overwrite']]) {
      const r = await cli([...args, '--quotas', 'local', '-q'], tmp.dir);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('overlap: prepare would read the run it writes');
    }
    expect(await readdir(data)).toEqual(['calls.csv']);
    expect(readFileSync(join(data, 'calls.csv'))).toEqual(readFileSync(CALLS));
  });

  it('prepare --overwrite removes the earlier run\'s own files only, and refuses a stranger in its folders', async () => {
    const data = join(tmp.dir, 'data');
    await mkdir(data);
    await copyFile(CALLS, join(data, 'calls.csv'));
    await writeFile(join(data, 'notes.txt'), 'keep me\n');
    const args = ['prepare', 'data/calls.csv', '--out', 'data', '--quotas', 'local', '-q'];
    expect((await cli(args, tmp.dir)).code).toBe(0);
    expect((await cli([...args, '--overwrite'], tmp.dir)).code).toBe(0);
    expect((await readdir(data)).sort()).toEqual(['calls.csv', 'input', 'lineage', 'notes.txt', 'prepared.json', 'rejects.jsonl']);
    await writeFile(join(data, 'lineage', 'job-0001', 'README'), 'mine\n');
    const r = await cli([...args, '--overwrite'], tmp.dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('E_IN_THE_WAY');
    expect(existsSync(join(data, 'prepared.json'))).toBe(true);
    expect(existsSync(join(data, 'lineage', 'job-0001', 'README'))).toBe(true);
  });
});

describe('a resumed run compares everything that shapes the records', () => {
  it('refuses, naming what changed (template, system, max tokens, the input itself), and lists the jobs already created', { timeout: 90_000 }, async () => {
    await mkdir(join(tmp.dir, 'exports'));
    await copyFile(CALLS, join(tmp.dir, 'exports', 'calls.csv'));
    const base = ['run', 'exports/calls.csv', '--work', 'w', '-q'];
    expect((await cli(base, tmp.dir)).code).toBe(0);
    await writeFile(join(tmp.dir, 'template.txt'), 'Summarise this call in one line.\n{{transcript}}\n');
    const cases: [string[], RegExp][] = [
      [['--template', 'template.txt'], /stages\.prompt\.template: unset -> "?text"?/],
      [['--system', 'You are terse.'], /stages\.prompt\.system: unset -> "You are terse\."/],
      [['--max-tokens', '64'], /model\.maxTokens: unset -> 64/],
    ];
    for (const [extra, named] of cases) {
      const r = await cli([...base, ...extra], tmp.dir);
      expect(r.code, extra.join(' ')).toBe(1);
      expect(r.stderr).toContain('E_RUN_CHANGED');
      expect(r.stderr).toMatch(named);
      expect(r.stderr).toMatch(/job-0001 [a-z0-9]{12} Completed/);
    }
    await appendFile(join(tmp.dir, 'exports', 'calls.csv'), 'late-1,Agent A,"Customer: one more call"\n');
    const changed = await cli(base, tmp.dir);
    expect(changed.code).toBe(1);
    expect(changed.stderr).toMatch(/input \S*calls\.csv changed \(\d+ -> \d+ bytes\)/);
    // the refusals touched nothing: the run is the one first prepared, its results in place
    expect(readFileSync(join(tmp.dir, 'w', 'results.jsonl'), 'utf8').split('\n').filter(Boolean)).toHaveLength(283);
  });

  it('the same command again goes on from where it was (nothing prepared again)', { timeout: 60_000 }, async () => {
    await mkdir(join(tmp.dir, 'exports'));
    await copyFile(CALLS, join(tmp.dir, 'exports', 'calls.csv'));
    const base = ['run', 'exports/calls.csv', '--work', 'w', '--system', 'You are terse.', '--max-tokens', '64'];
    expect((await cli([...base, '-q'], tmp.dir)).code).toBe(0);
    const again = await cli(base, tmp.dir);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('is already prepared (283 records');
  });

  it('an empty prepared.json (a crash on a disk that lost it) is a clear error naming the file; --fresh recovers', { timeout: 60_000 }, async () => {
    await mkdir(join(tmp.dir, 'exports'));
    await copyFile(CALLS, join(tmp.dir, 'exports', 'calls.csv'));
    const base = ['run', 'exports/calls.csv', '--work', 'w', '-q'];
    expect((await cli(base, tmp.dir)).code).toBe(0);
    await writeFile(join(tmp.dir, 'w', 'batch', 'prepared.json'), '');
    const r = await cli(base, tmp.dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/E_NOT_PREPARED: \S*prepared\.json: is empty \(0 bytes\)/);
    expect(r.stderr).not.toContain('Unexpected end of JSON input');
    const fresh = await cli([...base.slice(0, -1), '--fresh', '--json'], tmp.dir);
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(JSON.parse(fresh.stdout)).toMatchObject({ succeeded: 283 });
  });
});
