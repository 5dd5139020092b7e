/**
 * The token and cost report: tokens per job and in total, from the output lines and the jobs'
 * manifests, and their cost at the price table's batch price. Every cost is an ESTIMATE (a table
 * of list prices, not the bill) and says so. Per job, tokens come from the output lines when every
 * success line carried counts, else from the manifests (Mistral's text completions carry none),
 * else from the lines that had them (marked partial).
 */
import { costOf, onDemandPriceFor, priceFor, priceLabel, type PriceTable } from './prices.js';
import type { CollectSummary, JobTally } from './types.js';

export type TokenSource = 'outputs' | 'manifest' | 'outputs (partial)' | 'estimate';

export interface CostLine {
  job: string;
  records: number;
  inputTokens: number;
  outputTokens: number;
  tokens: TokenSource;
  /** Undefined when the table has no price for the model. */
  cost?: { input: number; output: number; total: number };
  /** The manifest's totals, when the job has manifests. */
  manifest?: { inputTokens?: number; outputTokens?: number };
  /** Answered on demand (priced without the batch discount); absent for a batch job. */
  mode?: 'on-demand';
}

function sumCosts(costs: { input: number; output: number; total: number }[]): { input: number; output: number; total: number } {
  return costs.reduce((a, c) => ({ input: a.input + c.input, output: a.output + c.output, total: a.total + c.total }), { input: 0, output: 0, total: 0 });
}

/** The output folder of a job answered on demand (src/ondemand/runner.ts `onDemandJobId`). */
export function isOnDemandJobId(jobId: string): boolean {
  return jobId.startsWith('on-demand-');
}

export interface CostReport {
  model: string;
  currency: string;
  /** Batch price per `per` tokens, when known. */
  price?: { input: number; output: number; per: number; match: string; batchDiscount: number };
  label: string;
  jobs: CostLine[];
  total: CostLine;
}

function tokensOf(t: JobTally): Pick<CostLine, 'inputTokens' | 'outputTokens' | 'tokens'> {
  if (t.tokensComplete) return { inputTokens: t.inputTokens, outputTokens: t.outputTokens, tokens: 'outputs' };
  const m = t.manifest;
  if (m && m.inputTokenCount !== undefined && m.outputTokenCount !== undefined) {
    return { inputTokens: m.inputTokenCount, outputTokens: m.outputTokenCount, tokens: 'manifest' };
  }
  return { inputTokens: t.inputTokens, outputTokens: t.outputTokens, tokens: 'outputs (partial)' };
}

/**
 * The report for a finished collection (`collector.summary`). A job answered on demand (its output
 * folder is `on-demand-…`, docs/on-demand.md) is priced at on-demand rates, the others at batch rates.
 */
export function costReport(summary: CollectSummary, prices: PriceTable): CostReport {
  const modelId = summary.model.modelId;
  const price = priceFor(prices, modelId);
  const onDemandPrice = onDemandPriceFor(prices, modelId);
  const jobs: CostLine[] = summary.jobs.map((t) => {
    const line: CostLine = { job: t.job, records: t.submitted, ...tokensOf(t) };
    const onDemand = t.jobIds.some(isOnDemandJobId);
    if (onDemand) line.mode = 'on-demand';
    const p = onDemand ? onDemandPrice : price;
    if (p) line.cost = costOf(p, line.inputTokens, line.outputTokens);
    if (t.manifest) {
      line.manifest = {};
      if (t.manifest.inputTokenCount !== undefined) line.manifest.inputTokens = t.manifest.inputTokenCount;
      if (t.manifest.outputTokenCount !== undefined) line.manifest.outputTokens = t.manifest.outputTokenCount;
    }
    return line;
  });
  // a run answered on demand only is labelled with the on-demand price
  const allOnDemand = jobs.length > 0 && jobs.every((j) => j.mode === 'on-demand');
  return assemble(modelId, prices, allOnDemand ? onDemandPrice : price, jobs);
}

/** Sum job lines into a report (shared with the pre-submit estimate). */
export function assemble(modelId: string, prices: PriceTable, price: ReturnType<typeof priceFor>, jobs: CostLine[]): CostReport {
  const sources = new Set(jobs.map((j) => j.tokens));
  const total: CostLine = {
    job: 'total',
    records: jobs.reduce((n, j) => n + j.records, 0),
    inputTokens: jobs.reduce((n, j) => n + j.inputTokens, 0),
    outputTokens: jobs.reduce((n, j) => n + j.outputTokens, 0),
    tokens: sources.size === 1 ? [...sources][0]! : sources.has('outputs (partial)') ? 'outputs (partial)' : 'manifest',
  };
  // Each line at its own price (batch or on-demand): the total is their sum.
  if (price && jobs.every((j) => j.cost)) total.cost = sumCosts(jobs.map((j) => j.cost!));
  else if (price) total.cost = costOf(price, total.inputTokens, total.outputTokens);
  const modes = new Set(jobs.map((j) => j.mode ?? 'batch'));
  const report: CostReport = { model: modelId, currency: prices.currency, label: priceLabel(prices, price, modelId), jobs, total };
  if (modes.has('on-demand') && modes.has('batch')) report.label += '; on-demand jobs at on-demand prices (no batch discount)';
  if (price) report.price = { input: price.input, output: price.output, per: price.per, match: price.match, batchDiscount: price.batchDiscount };
  return report;
}

/** Money for people: 4 significant digits under a cent, 2 decimals above. */
export function formatMoney(amount: number, currency: string): string {
  const v = amount >= 0.01 || amount === 0 ? amount.toFixed(2) : amount.toPrecision(2);
  return `${currency === 'USD' ? '$' : `${currency} `}${v}`;
}
