/**
 * Ctrl-C, SIGTERM or a kill leaves nothing half-written or open, and nothing lost or counted twice
 * (issue 10, finding 10). prepare and collect run as a user runs them (the built CLI) on a generated
 * export big enough to be stopped mid-way, at several points; then the same command (or
 * --overwrite) finishes, and every call is exactly one record or one reject.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/temp.js';
import { claude, writeOutputs } from '../results/helpers.js';
import { cli, finish, start, until } from '../support/cli.js';

const CALLS = 24_000;
let dir: string;
let cleanup: () => Promise<void>;

/** Every file below `root`, relative. */
function files(root: string): string[] {
  if (!existsSync(root)) return [];
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name), `${rel}${e.name}/`);
      else out.push(`${rel}${e.name}`);
    }
  };
  walk(root, '');
  return out;
}
const partials = (root: string) => files(root).filter((f) => /\.partial-\d+-\d+$/.test(f));
const state = (run: string) => (JSON.parse(readFileSync(join(run, 'prepared.json'), 'utf8')) as { state: string }).state;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('interrupts-'));
  // ~36 MB of calls: a one-thread prepare takes about a second, long enough to be stopped mid-way
  const filler = 'and the agent checked the account history, the last invoices and the open tickets again. '.repeat(12);
  const lines = ['call_id,agent,transcript'];
  for (let i = 0; i < CALLS; i++) lines.push(`call-${i},Agent ${i % 9},"Customer: my order ${i} never came.\nAgent: I am sorry, ${filler}\nAgent: A refund for order ${i} is on its way."`);
  await writeFile(join(dir, 'big.csv'), lines.join('\n') + '\n');
}, 60_000);
afterAll(() => cleanup());

const prepareArgs = (out: string) => ['prepare', 'big.csv', '--out', out, '--quotas', 'local', '--max-records', '2000', '--workers', '0', '-q'];

describe('prepare stopped mid-way', () => {
  const moments: [string, (run: string) => boolean][] = [
    ['once it has claimed the location', (run) => existsSync(join(run, 'prepared.json'))],
    ['as the first shard is in place', (run) => existsSync(join(run, 'input', 'job-0001', 'part-00001.jsonl'))],
    ['with several shards in place', (run) => files(join(run, 'input')).filter((f) => f.endsWith('.jsonl')).length >= 4],
  ];
  for (const [when, ready] of moments) {
    it(`SIGKILL ${when}: the run stays claimed, never looks complete; --overwrite then prepares every call once`, { timeout: 60_000 }, async () => {
      const run = join(dir, `kill-${moments.findIndex((m) => m[0] === when)}`);
      const child = start(prepareArgs(run), dir);
      const done = finish(child);
      await until(child, () => ready(run), when);
      child.kill('SIGKILL');
      expect((await done).signal).toBe('SIGKILL');
      expect(state(run)).toBe('preparing');
      // submit refuses a run whose prepare did not finish
      const submit = await cli(['submit', run, '--output', join(run, '..', 'out-never')], dir);
      expect(submit.code).toBe(1);
      expect(submit.stderr).toContain('did not finish');
      // prepare again: only the claimed files are replaced, and every call is there once
      const again = await cli([...prepareArgs(run).slice(0, -1), '--overwrite', '--json'], dir);
      expect(again.code, again.stderr).toBe(0);
      const s = JSON.parse(again.stdout);
      expect(s).toMatchObject({ read: CALLS, written: CALLS, rejected: 0 });
      expect(state(run)).toBe('prepared');
      expect(partials(run)).toEqual([]);
      const lineage = files(join(run, 'lineage')).flatMap((f) => readFileSync(join(run, 'lineage', f), 'utf8').split('\n').filter(Boolean));
      const keys = new Set(lineage.map((l) => (JSON.parse(l) as { key: string }).key));
      expect(lineage.length).toBe(CALLS);
      expect(keys.size).toBe(CALLS);
    });
  }

  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`${signal}: exits ${code}, leaves no temporary file, and the same command with --overwrite finishes`, { timeout: 60_000 }, async () => {
      const run = join(dir, `sig-${signal}`);
      const child = start(prepareArgs(run), dir);
      const done = finish(child);
      await until(child, () => existsSync(join(run, 'input', 'job-0001', 'part-00001.jsonl')), 'the first shard');
      child.kill(signal);
      const r = await done;
      expect(r.code).toBe(code);
      expect(r.stderr).toContain('E_INTERRUPTED');
      expect(partials(run)).toEqual([]);
      expect(state(run)).toBe('preparing');
      const again = await cli([...prepareArgs(run).slice(0, -1), '--overwrite', '--json'], dir);
      expect(again.code, again.stderr).toBe(0);
      expect(JSON.parse(again.stdout)).toMatchObject({ read: CALLS, written: CALLS });
    });
  }
});

describe('collect stopped mid-way', () => {
  let run: string;
  let out: string;
  beforeAll(async () => {
    run = join(dir, 'collect-run');
    out = join(dir, 'collect-out');
    const p = await cli([...prepareArgs(run).slice(0, -1).map((a) => (a === '0' ? '2' : a)), '-q'], dir);
    expect(p.code, p.stderr).toBe(0);
    await mkdir(out, { recursive: true });
    // every record answered, one in ten with a retryable error (so a retry run is being written too)
    await writeOutputs(run, out, (id, _input, i) => (i % 10 === 0 ? { error: { errorCode: 503, errorMessage: 'Service unavailable' } } : claude(`Summary of ${id}: refund issued.`)));
  }, 120_000);

  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`${signal} while results are written: exits ${code}; no results file, no retry run, no temporary file left`, { timeout: 60_000 }, async () => {
      const results = join(dir, `results-${signal}.csv`);
      const child = start(['collect', out, '--prepared', run, '--results', results], dir);
      const done = finish(child);
      await until(child, () => readdirSync(dir).some((n) => n.startsWith(`results-${signal}.csv.partial-`) && statSync(join(dir, n)).size > 0), 'results being written');
      child.kill(signal);
      const r = await done;
      expect(r.code, r.stderr).toBe(code);
      expect(readdirSync(dir).filter((n) => n.startsWith(`results-${signal}.csv`))).toEqual([]);
      expect(partials(run)).toEqual([]);
      expect(existsSync(join(run, 'retry-2', 'prepared.json'))).toBe(false);
    });
  }

  it('SIGKILL while results are written, then the same command: one result per record, no temporary file left behind', { timeout: 90_000 }, async () => {
    const results = join(dir, 'results-kill.jsonl');
    const args = ['collect', out, '--prepared', run, '--results', results, '--retry', join(dir, 'retry-kill')];
    const child = start(args, dir);
    const done = finish(child);
    await until(child, () => readdirSync(dir).some((n) => n.startsWith('results-kill.jsonl.partial-')), 'results being written');
    child.kill('SIGKILL');
    await done;
    expect(existsSync(results)).toBe(false);
    const again = await cli([...args, '--json', '-q'], dir);
    expect(again.code, again.stderr).toBe(0);
    const s = JSON.parse(again.stdout);
    expect(s).toMatchObject({ submitted: CALLS, succeeded: CALLS - CALLS / 10, failed: CALLS / 10, missing: 0, results: { records: CALLS } });
    const ids = readFileSync(results, 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { recordId: string }).recordId);
    expect(new Set(ids).size).toBe(CALLS);
    // the killed writer's temporary file was removed when the key was written again
    expect(readdirSync(dir).filter((n) => n.includes('.partial-'))).toEqual([]);
    expect(partials(join(dir, 'retry-kill'))).toEqual([]);
  });
});

describe('a short write is an error, never a torn event taken for a whole one', () => {
  it('a ledger append that the file system cuts short (a size limit, a full disk) fails loudly', async () => {
    const ledger = join(dir, 'short', 'ledger.jsonl');
    await mkdir(join(dir, 'short'));
    const script = `
      import { Ledger } from ${JSON.stringify(new URL('../../dist/src/jobs/ledger.js', import.meta.url).href)};
      process.on('SIGXFSZ', () => {});
      const l = await Ledger.open(${JSON.stringify(ledger)});
      try {
        await l.append({ event: 'create-failed', job: 'job-0001', jobName: 'n', error: 'x'.repeat(3000) });
        console.log('appended');
      } catch (e) {
        console.log('failed', e.code ?? '', e.message);
      }`;
    await writeFile(join(dir, 'short', 'append.mjs'), script);
    // a 2 KiB file size limit: the 3 KB event can only be written in part
    const r = await new Promise<{ out: string }>((resolve) => {
      const c = spawn('bash', ['-c', `ulimit -f 2; exec "${process.execPath}" append.mjs`], { cwd: join(dir, 'short') });
      let outText = '';
      c.stdout.on('data', (d) => (outText += d));
      c.on('close', () => resolve({ out: outText }));
    });
    expect(r.out).toMatch(/^failed (EFBIG|ENOSPC)/);
    // and what did get written is left out as a torn event, not read as one
    const state = await (await import('../../src/jobs/ledger.js')).Ledger.read(ledger);
    expect(state.events).toBe(0);
  });
});

