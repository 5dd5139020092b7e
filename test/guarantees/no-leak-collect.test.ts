/**
 * collect never copies transcript or model text into its summary, errors, dead letters or retry
 * lineage (issue 10, finding 3, collect's side): an output line it cannot read is reported by file,
 * line, recordId and a reason in fixed words, never by a quote of the line.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { prepareCalls } from '../jobs/helpers.js';
import { tempDir } from '../support/temp.js';
import { claude, writeOutputs } from '../results/helpers.js';
import { cli } from '../support/cli.js';

const PII = 'Zebediah Quarrington, card 4111 1111 1111 1111, SSN 078-05-1120, phone +1 555 867 5309';
/** Pieces short enough to be caught in a quote of a few characters. */
const SENTINELS = ['Zebedia', 'Quarrin', '4111 11', '078-05', '867 53'];

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('no-leak-collect-'));
});
afterEach(() => cleanup());

describe('collect with unreadable output lines full of personal data', () => {
  it('names file, line and recordId, in fixed words; the text is nowhere but the outputs themselves', async () => {
    const run = join(dir, 'batch');
    const out = join(dir, 'out');
    await prepareCalls(run, 12, 6);
    const [job] = await writeOutputs(run, out, (id) => claude(`Summary of ${id}.`));
    // three lines broken three ways, each around the personal data, as a model might have written it
    const file = join(out, job!, 'part-00001.jsonl.out');
    const lines = (await readFile(file, 'utf8')).split('\n').filter(Boolean);
    const id = (l: string) => (JSON.parse(l) as { recordId: string }).recordId;
    lines[0] = `{"recordId":"${id(lines[0]!)}","modelOutput":${PII} }`; // an unexpected token: V8 quotes what follows
    lines[1] = `{"recordId":"${id(lines[1]!)}","modelOutput":{"content":[{"type":"text","text":"${PII}"}]},}`; // a trailing comma
    lines[2] = `{"recordId":"${id(lines[2]!)}","modelOutput":{"content":[{"type":"text","text":"${PII}`; // cut short
    await writeFile(file, lines.join('\n') + '\n');
    const r = await cli(['collect', out, '--prepared', run, '--results', join(dir, 'results.jsonl'), '--json'], dir);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ submitted: 12, succeeded: 9, missing: 3, badLines: 3 });
    const human = await cli(['collect', out, '--prepared', run, '--results', join(dir, 'results2.jsonl')], dir);
    expect(human.stderr).toMatch(/part-00001\.jsonl\.out, line 1: E_BAD_OUTPUT_LINE: not valid JSON/);
    const results = readFileSync(join(dir, 'results.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { status: string });
    const notSuccess = JSON.stringify(results.filter((x) => x.status !== 'success'));
    const retry = join(run, 'retry-2');
    const places: [string, string][] = [
      ['stdout', r.stdout],
      ['stderr', r.stderr + human.stderr],
      ['results rows that are not successes', notSuccess],
      ['dead letters', readFileSync(join(run, 'dead-letter.jsonl'), 'utf8')],
      ['retry lineage', readdirSync(join(retry, 'lineage'), { recursive: true }).filter((f) => String(f).endsWith('.jsonl')).map((f) => readFileSync(join(retry, 'lineage', String(f)), 'utf8')).join('')],
      ['retry prepared.json', readFileSync(join(retry, 'prepared.json'), 'utf8')],
    ];
    for (const [where, text] of places) for (const s of SENTINELS) expect(text.includes(s), `${s} in ${where}`).toBe(false);
  });
});
