import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { estimateRun } from '../../src/results/estimate.js';
import { costOf, defaultPrices, loadPrices, priceFor, priceLabel } from '../../src/results/prices.js';
import { costReport } from '../../src/results/report.js';
import { collectAll, scenario } from './helpers.js';

describe('price table', () => {
  const table = defaultPrices();

  it('is labelled as illustrative, with where the prices and the batch discount came from', () => {
    const raw = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'src', 'results', 'prices.json'), 'utf8'));
    expect(raw.description).toMatch(/ESTIMATES, not a bill/);
    expect(raw.asOf).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(raw.batchDiscountSource).toContain('docs.aws.amazon.com');
    expect(priceLabel(table, priceFor(table, 'anthropic.claude-3-haiku-20240307-v1:0'), 'x')).toMatch(/^ESTIMATE .*not a bill/);
  });

  it('finds a model by its base id through profile prefixes and ARNs, longest match first', () => {
    const a = priceFor(table, 'anthropic.claude-3-haiku-20240307-v1:0')!;
    expect(a).toMatchObject({ match: 'anthropic.claude-3-haiku', batchDiscount: 0.5, per: 1000, currency: 'USD' });
    expect(a.input).toBeCloseTo(0.000125, 12);
    expect(priceFor(table, 'us.anthropic.claude-3-haiku-20240307-v1:0')).toEqual(a);
    expect(priceFor(table, 'arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0')).toEqual(a);
    expect(priceFor(table, 'anthropic.claude-opus-4-5-20251101-v1:0')!.match).toBe('anthropic.claude-opus-4-5');
    expect(priceFor(table, 'anthropic.claude-opus-4-20250514-v1:0')!.match).toBe('anthropic.claude-opus-4');
    expect(priceFor(table, 'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc')).toBeUndefined();
    expect(costOf(a, 2000, 1000)).toEqual({ input: 0.00025, output: 0.000625, total: 0.000875 });
  });

  it('takes a user\'s table over the defaults, or instead of them', () => {
    const mine = loadPrices('{"source":"our contract","models":[{"match":"anthropic.claude-3-haiku","input":0.001,"output":0.002,"batchDiscount":0}]}', 'mine.json');
    expect(priceFor(mine, 'anthropic.claude-3-haiku-20240307-v1:0')).toMatchObject({ input: 0.001, output: 0.002, batchDiscount: 0 });
    expect(priceFor(mine, 'amazon.nova-lite-v1:0')).toBeDefined();
    expect(mine.source).toBe('our contract');
    const only = loadPrices({ extends: false, models: [{ match: 'custom', input: 1, output: 2, batchInput: 0.3, batchOutput: 0.6 }] });
    expect(priceFor(only, 'amazon.nova-lite-v1:0')).toBeUndefined();
    expect(priceFor(only, 'custom-model')).toMatchObject({ input: 0.3, output: 0.6, batchDiscount: 0 });
  });

  it('names the row and the problem in a bad table', () => {
    expect(() => loadPrices('{"models":[{"match":"x","input":"cheap","output":1}]}', 'p.json')).toThrow(/p\.json, models\[0\]: input must be a number/);
    expect(() => loadPrices('{"models":', 'p.json')).toThrow(/p\.json is not valid JSON/);
    expect(() => loadPrices({ batchDiscount: 2 })).toThrow(/fraction/);
    expect(() => loadPrices([])).toThrow(/JSON object/);
  });
});

describe('token and cost report', () => {
  let s: Awaited<ReturnType<typeof scenario>>;
  beforeEach(async () => {
    s = await scenario();
  });
  afterEach(async () => {
    await s.cleanup();
  });

  it('totals tokens per job and overall from the outputs, and prices them', async () => {
    const { summary } = await collectAll({ outputs: s.out, prepared: s.run });
    const r = costReport(summary, defaultPrices());
    expect(r.jobs.map((j) => [j.job, j.records, j.inputTokens, j.outputTokens, j.tokens])).toEqual([
      ['job-0001', 7, 142, 57, 'outputs'],
      ['job-0002', 3, 61, 19, 'outputs'],
    ]);
    expect(r.jobs[0]!.manifest).toEqual({ inputTokens: 176, outputTokens: 65 });
    expect(r.total).toMatchObject({ records: 10, inputTokens: 203, outputTokens: 76 });
    expect(r.total.cost!.total).toBeCloseTo((203 / 1000) * 0.000125 + (76 / 1000) * 0.000625, 12);
  });

  it('falls back to the manifest when output lines carry no token counts (Mistral)', async () => {
    const { summary } = await collectAll({ outputs: s.out, prepared: s.run });
    summary.jobs[1]!.tokensComplete = false;
    const r = costReport(summary, defaultPrices());
    expect(r.jobs[1]).toMatchObject({ tokens: 'manifest', inputTokens: 61, outputTokens: 19 });
  });

  it('estimates before submitting, from the shards: input tokens and the output budget', async () => {
    const r = await estimateRun({ prepared: s.run, prices: defaultPrices() });
    expect(r.from).toBe('shards');
    expect(r.jobs.map((j) => [j.job, j.records, j.outputTokens])).toEqual([
      ['job-0001', 7, 1400],
      ['job-0002', 3, 600],
    ]);
    expect(r.total.inputTokens).toBeGreaterThan(100);
    expect(r.inputOnly!).toBeLessThan(r.total.cost!.total);
    // with prepare's totals in prepared.json (the proposed hook), the shards are not read
    const { writeFile, readFile, rm } = await import('node:fs/promises');
    const p = JSON.parse(await readFile(join(s.run, 'prepared.json'), 'utf8'));
    for (const j of p.jobs) j.tokens = { input: 1000, maxOutput: 2000 };
    await writeFile(join(s.run, 'prepared.json'), JSON.stringify(p));
    await rm(join(s.run, 'input'), { recursive: true });
    const t = await estimateRun({ prepared: s.run, prices: defaultPrices() });
    expect(t).toMatchObject({ from: 'prepared.json', total: { inputTokens: 2000, outputTokens: 4000 } });
  });
});
