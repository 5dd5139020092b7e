/**
 * The command as a package: `--version` is package.json's, and the exit codes are the ones
 * src/cli/exit-codes.ts owns and README.md's "Exit codes" table documents.
 */
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { describe, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.js';
import { cli } from '../support/cli.js';

const ROOT = new URL('../../', import.meta.url);
const here = tmpdir(); // nothing is written: every case fails before it would

// each case is a process of its own, so they run side by side
describe.concurrent('the bedrock-batch command', () => {
  it('--version and -V print the version of package.json', async ({ expect }) => {
    const { version } = JSON.parse(await readFile(new URL('package.json', ROOT), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = await cli([flag], here);
      expect([r.code, r.stdout]).toEqual([EXIT.ok, `${version}\n`]);
    }
  });

  it.for([
    { what: 'an unknown option', args: ['prepare', 'calls.csv', '--out', 'batch', '--no-such-option'] },
    { what: 'an unknown command', args: ['no-such-command'] },
    { what: 'a required option left out', args: ['prepare', 'calls.csv'] },
    { what: 'a value not among the choices', args: ['prepare', 'calls.csv', '--out', 'batch', '--quotas', 'no-such-profile'] },
    { what: 'no command', args: [] },
  ])('$what exits with the usage code', async ({ args }, { expect }) => {
    const r = await cli(args, here);
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).not.toBe('');
  });

  it('an error exits 1, naming its code', async ({ expect }) => {
    const r = await cli(['prepare', 'no-such-file.csv', '--out', 'no-such-dir'], here);
    expect(r.code).toBe(EXIT.error);
    expect(r.stderr).toMatch(/^bedrock-batch: error: E_READ: /);
  });

  it("README.md's Exit codes table lists exactly these codes", async ({ expect }) => {
    const readme = await readFile(new URL('README.md', ROOT), 'utf8');
    const section = readme.slice(readme.indexOf('\n## Exit codes\n'));
    const documented = [...section.matchAll(/^\| `(\d+)` \|/gm)].map((m) => Number(m[1]));
    expect(documented).toEqual(Object.values(EXIT).sort((a, b) => a - b));
  });
});
