import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { scenario } from './helpers.js';

let s: Awaited<ReturnType<typeof scenario>>;
let stdout: string[];
let stderr: string[];
beforeEach(async () => {
  s = await scenario();
  stdout = [];
  stderr = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => (stdout.push(String(chunk)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: unknown) => (stderr.push(String(chunk)), true));
});
afterEach(async () => {
  vi.restoreAllMocks();
  await s.cleanup();
});

const run = (...args: string[]) => main(['node', 'bedrock-batch', ...args]);

describe('bedrock-batch collect', () => {
  it('--json prints one JSON object whose counts reconcile', async () => {
    const code = await run('collect', s.out, '--prepared', s.run, '--results', join(s.dir, 'results.csv'), '--json', '-q');
    expect(code).toBe(0);
    expect(stdout).toHaveLength(1);
    const j = JSON.parse(stdout[0]!);
    expect(j).toMatchObject({
      submitted: 10,
      succeeded: 6,
      failed: 2,
      missing: 2,
      inputTokens: 203,
      outputTokens: 76,
      results: { uri: join(s.dir, 'results.csv'), records: 10, format: 'csv' },
      retry: { uri: join(s.run, 'retry-2'), records: 3, attempt: 2, submittable: true },
      deadLetter: { uri: join(s.run, 'dead-letter.jsonl'), records: 1 },
      cost: { currency: 'USD', estimate: true },
      errorsByCode: { '400': 1, '429': 1 },
      badLines: 1,
      truncatedFiles: ['q1w2e3r4t5y6/part-00002.jsonl.out'],
    });
    expect(j.succeeded + j.failed + j.missing).toBe(j.submitted);
    expect(j.jobs.map((x: { job: string; submitted: number }) => [x.job, x.submitted])).toEqual([['job-0001', 7], ['job-0002', 3]]);
    expect(j.manifestIssues).toHaveLength(4);
    expect(stderr.join('')).toBe('');
  });

  it('prints the reconciliation per job and in total, the cost estimate, the retry and the dead letters', async () => {
    expect(await run('collect', s.out, '-p', s.run, '-r', join(s.dir, 'r.jsonl'))).toBe(0);
    const err = stderr.join('');
    expect(err).toContain('job-0001 q1w2e3r4t5y6: 7 submitted = 4 succeeded + 2 failed + 1 missing');
    expect(err).toContain('job-0002 z9x8c7v6b5n4: 3 submitted = 2 succeeded + 0 failed + 1 missing');
    expect(err).toContain('total: 10 submitted = 6 succeeded + 2 failed + 2 missing');
    expect(err).toMatch(/cost ~ \$0\.\d+/);
    expect(err).toContain('ESTIMATE');
    expect(err).toContain(`submit it with: bedrock-batch submit ${join(s.run, 'retry-2')}`);
    expect(err).toContain('dead letters:');
    expect(err).toContain('truncated: q1w2e3r4t5y6/part-00002.jsonl.out line 3');
    expect(err).toContain('manifest of q1w2e3r4t5y6 (job-0001) disagrees: successRecordCount 5 in the manifest, 4 parsed');
  });

  it('says the retry run cannot be submitted as it is when it is below the minimum', async () => {
    expect(await run('collect', s.out, '-p', s.run, '-r', join(s.dir, 'r.jsonl'), '--quotas', 'documented')).toBe(0);
    expect(stderr.join('')).toMatch(/NOT submittable as it is: E_BELOW_MIN_RECORDS: 3 records in total, below the minimum of 100[\s\S]*hint:/);
  });

  it('writes the results to stdout with --results -', async () => {
    expect(await run('collect', s.out, '-p', s.run, '--results', '-', '--format', 'jsonl', '--no-retry', '-q')).toBe(0);
    const rows = stdout.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(rows).toHaveLength(10);
    expect(await run('collect', s.out, '-p', s.run, '--results', '-', '--json')).toBe(1);
    expect(stderr.join('')).toContain('E_BAD_OPTION');
  });

  it('reads a price table with --prices and names a bad one', async () => {
    const prices = join(s.dir, 'prices.json');
    await writeFile(prices, JSON.stringify({ source: 'test', models: [{ match: 'anthropic.claude-3-haiku', input: 1, output: 1, batchDiscount: 0 }] }));
    expect(await run('collect', s.out, '-p', s.run, '-r', join(s.dir, 'r.jsonl'), '--prices', prices, '--json', '-q')).toBe(0);
    expect(JSON.parse(stdout[0]!).cost.total).toBeCloseTo((203 + 76) / 1000, 9);
    await writeFile(prices, '{"models":[{"match":"x"}]}');
    expect(await run('collect', s.out, '-p', s.run, '--prices', prices)).toBe(1);
    expect(stderr.join('')).toMatch(/E_PRICES: .*prices\.json, models\[0\]: input must be a number/);
  });
});

describe('bedrock-batch estimate', () => {
  it('prices a prepared run before it is submitted', async () => {
    expect(await run('estimate', s.run, '--json')).toBe(0);
    const j = JSON.parse(stdout[0]!);
    expect(j).toMatchObject({ model: 'anthropic.claude-3-haiku-20240307-v1:0', from: 'shards', total: { records: 10, outputTokens: 2000 } });
    expect(stderr.join('')).toMatch(/output: up to 2,000 tokens[\s\S]*cost: +\$[\d.e-]+ \(input only\) to \$[\d.e-]+ \(whole output budget\)/);
  });
});
