/**
 * README.md's library example is examples/library.mjs, word for word, and it works: run with node
 * as a user's script, importing the built package by its name (`bedrock-batch` resolves to the
 * package itself through package.json's "exports").
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ENV } from '../support/cli.js';
import { useTempDir } from '../support/temp.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/library.mjs', import.meta.url));
const CALLS = fileURLToPath(new URL('../../fixtures/calls.csv', import.meta.url));

const tmp = useTempDir('library-example-');

const jsonLines = async (path: string) => (await readFile(path, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);

describe('the library example', () => {
  it('is what README.md shows under "Use it as a library"', async () => {
    const readme = await readFile(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
    const section = readme.slice(readme.indexOf('\n## Use it as a library\n'));
    const block = /\n```js\n([\s\S]*?)```\n/.exec(section)?.[1];
    expect(block).toBe(await readFile(EXAMPLE, 'utf8'));
  });

  it('prepares fixtures/calls.csv less the calls of the queue it leaves out', async () => {
    const out = join(tmp.dir, 'batch');
    const { stdout } = await promisify(execFile)(process.execPath, [EXAMPLE, CALLS, out], { cwd: tmp.dir, env: ENV });
    expect(stdout).toBe(`240 records in 1 job(s), 0 rejected: ${out}\n`); // 283 calls, 43 of them in "promotions"
    const records = await jsonLines(join(out, 'input/job-0001/part-00001.jsonl'));
    const lineage = await jsonLines(join(out, 'lineage/job-0001/part-00001.jsonl'));
    expect([records.length, lineage.length]).toEqual([240, 240]);
    expect(lineage.map((l) => l.recordId)).toEqual(records.map((r) => r.recordId));
    expect(lineage.filter((l) => l.queue === 'promotions')).toEqual([]);
    expect(records.every((r) => r.modelInput.system === 'You summarise calls.' && r.modelInput.max_tokens === 512)).toBe(true);
  });
});
