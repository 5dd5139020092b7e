/**
 * `bedrock-batch clean` as a user runs it (the CLI's code in this process): the summary on stderr,
 * `--json` on stdout, exit 1 with E_NOT_COLLECTED and its hint on a run not collected, a dry run
 * that lists each file; and `--expire-days`, the flag prepare, collect and run take.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { addExpireOption, expireDaysFrom, withExpireTags } from '../../src/cli/expire.js';
import { EXPIRE_TAG_KEY } from '../../src/stores/index.js';
import { s3ClientFor } from '../../src/stores/s3.js';
import { inProcess } from '../support/cli.js';
import { useTempDir } from '../support/temp.js';
import { collect, prepare, submit, TRANSCRIPT_WORDS, type Where } from '../run/clean-helpers.js';

const tmp = useTempDir('clean-cli-');

describe('bedrock-batch clean', () => {
  it('refuses a run not collected (exit 1, E_NOT_COLLECTED, a hint), then lists, removes, and finds nothing left', async () => {
    const w: Where = { run: join(tmp.dir, 'batch'), out: join(tmp.dir, 'out'), results: join(tmp.dir, 'results.jsonl'), scratch: tmp.dir };
    await prepare(w, 12, 6);
    const { jobs } = await submit(w);
    const refused = await inProcess(['clean', w.run]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`bedrock-batch: error: E_NOT_COLLECTED: ${w.run} has not been collected: its ledger records no collect`);
    expect(refused.stderr).toMatch(/hint: run collect first .*clean --force/);
    expect(existsSync(join(w.run, 'input/job-0001/part-00001.jsonl'))).toBe(true);

    await collect(w);
    const dry = await inProcess(['clean', w.run, '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stderr).toMatch(/^clean: would remove 8 file\(s\), [\d.]+ kB, from .* \(dry run: nothing was removed\)$/m);
    expect(dry.stderr).toContain(`would remove ${join(w.out, jobs[0]!.jobId, 'manifest.json.out')} (`);
    expect(dry.stderr).toMatch(/^ {2}shards +2 file\(s\)/m);
    expect(existsSync(join(w.run, 'input/job-0001/part-00001.jsonl'))).toBe(true);

    const json = await inProcess(['clean', w.run, '--json']);
    expect(json.code, json.stderr).toBe(0);
    expect(json.stderr).toBe('');
    const summary = JSON.parse(json.stdout);
    expect(summary).toMatchObject({ run: w.run, dryRun: false, total: { files: 8 }, removed: { shards: { files: 2 }, lineage: { files: 2 }, outputs: { files: 4 } }, failed: [], nothingLeft: false });
    expect(json.stdout).not.toContain(TRANSCRIPT_WORDS);
    expect(existsSync(join(w.run, 'input/job-0001/part-00001.jsonl'))).toBe(false);

    const again = await inProcess(['clean', w.run]);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain(`clean: nothing left to remove in ${w.run}`);
    expect(again.stderr).toContain(`${w.results}: the results`);
  });

  it('shows its options in --help', async () => {
    const help = await inProcess(['clean', '--help']);
    for (const flag of ['--dry-run', '--force', '--retry-files', '--json', '--endpoint-url']) expect(help.stdout).toContain(flag);
  });
});

describe('--expire-days', () => {
  const parse = (args: string[]) => {
    const cmd = addExpireOption(new Command('x').exitOverride());
    cmd.parse(args, { from: 'user' });
    return expireDaysFrom(cmd.opts());
  };

  it('takes a whole number of days, at least 1', () => {
    expect(parse(['--expire-days', '30'])).toBe(30);
    expect(parse([])).toBeUndefined();
    expect(() => parse(['--expire-days', '0'])).toThrow(/--expire-days must be a whole number of at least 1/);
    expect(() => parse(['--expire-days', '2.5'])).toThrow(/--expire-days/);
  });

  it('tags the store options, keeping their client and other tags; no days, the same options', () => {
    const s3 = { region: 'us-east-1', tags: { team: 'cc' } };
    const tagged = withExpireTags(s3, 7);
    expect(tagged.tags).toEqual({ team: 'cc', [EXPIRE_TAG_KEY]: '7' });
    expect(s3ClientFor(tagged)).toBe(s3ClientFor(s3));
    expect(withExpireTags(s3, undefined)).toBe(s3);
  });
});
