/**
 * Spend only what you meant: the cost of a prepared run, estimated before any job is created and
 * held against `--max-cost` (docs/cost.md). Input tokens are prepare's estimate; output tokens are
 * each record's whole budget (max_tokens), so the figure is a ceiling: models usually stop short.
 * Folders answered on demand are priced at on-demand rates, the others at batch rates.
 */
import { BatchError } from '../errors.js';
import { estimateRun } from '../results/estimate.js';
import { costOf, defaultPrices, onDemandPriceFor, priceFor, priceLabel, type PriceTable } from '../results/prices.js';
import { formatMoney } from '../results/report.js';
import type { PreparedRun } from './run.js';

export interface BudgetCheck {
  model: string;
  currency: string;
  /** Records, input tokens (estimated) and output tokens (the whole budget) of the run. */
  records: number;
  inputTokens: number;
  outputTokens: number;
  /** The ceiling: input and the whole output budget, priced; undefined without a price for the model. */
  cost?: { input: number; output: number; total: number };
  /** Split by how the folders run. */
  batch: { jobs: number; records: number; cost?: number };
  onDemand: { jobs: number; records: number; cost?: number };
  maxCost?: number;
  label: string;
}

export interface BudgetOptions {
  run: PreparedRun;
  /** The model the jobs are created for (may differ from prepare's: a profile id). */
  modelId: string;
  /** Job folders answered on demand. */
  onDemandJobs: ReadonlySet<string>;
  prices?: PriceTable;
  maxCost?: number;
  signal?: AbortSignal;
}

/** The estimate; E_OVER_BUDGET when it is above `maxCost`, E_NO_PRICE when there is no price to check. */
export async function checkBudget(o: BudgetOptions): Promise<BudgetCheck> {
  const prices = o.prices ?? defaultPrices();
  if (o.maxCost !== undefined && (!Number.isFinite(o.maxCost) || o.maxCost < 0)) {
    throw new BatchError('E_BAD_OPTION', `--max-cost must be an amount of at least 0, got ${o.maxCost}`);
  }
  const estimate = await estimateRun({ prepared: o.run.store, prices, ...(o.run.s3 ? { s3: o.run.s3 } : {}), ...(o.signal ? { signal: o.signal } : {}) });
  const batchPrice = priceFor(prices, o.modelId);
  const onDemandPrice = onDemandPriceFor(prices, o.modelId);
  const check: BudgetCheck = {
    model: o.modelId,
    currency: prices.currency,
    records: 0,
    inputTokens: 0,
    outputTokens: 0,
    batch: { jobs: 0, records: 0 },
    onDemand: { jobs: 0, records: 0 },
    label: priceLabel(prices, batchPrice, o.modelId),
    ...(o.maxCost !== undefined ? { maxCost: o.maxCost } : {}),
  };
  let input = 0;
  let output = 0;
  let priced = batchPrice !== undefined;
  for (const line of estimate.jobs) {
    const onDemand = o.onDemandJobs.has(line.job);
    const part = onDemand ? check.onDemand : check.batch;
    const price = onDemand ? onDemandPrice : batchPrice;
    part.jobs++;
    part.records += line.records;
    check.records += line.records;
    check.inputTokens += line.inputTokens;
    check.outputTokens += line.outputTokens;
    if (!price) {
      priced = false;
      continue;
    }
    const c = costOf(price, line.inputTokens, line.outputTokens);
    part.cost = (part.cost ?? 0) + c.total;
    input += c.input;
    output += c.output;
  }
  if (priced) check.cost = { input, output, total: input + output };
  if (check.onDemand.jobs > 0) check.label += '; on-demand folders at on-demand prices';
  if (o.maxCost === undefined) return check;
  if (!check.cost) {
    throw new BatchError('E_NO_PRICE', `--max-cost ${o.maxCost}: the price table has no price for ${o.modelId}, so the cost cannot be checked; nothing was submitted`, {
      hint: 'give --prices a table with a row for this model (docs/cost.md), or drop --max-cost',
    });
  }
  if (check.cost.total > o.maxCost) {
    const money = (v: number) => formatMoney(v, check.currency);
    throw new BatchError(
      'E_OVER_BUDGET',
      `the run may cost up to ${money(check.cost.total)} (input ~${check.inputTokens.toLocaleString('en-US')} tokens ${money(check.cost.input)}, ` +
        `output budget ${check.outputTokens.toLocaleString('en-US')} tokens ${money(check.cost.output)}${check.onDemand.jobs ? `; ${check.onDemand.records} records on demand at full price` : ''}), above --max-cost ${money(o.maxCost)}: nothing was submitted`,
      {
        hint:
          check.cost.output >= check.cost.input
            ? 'the output budget is most of it: lower --max-tokens (the ceiling assumes every answer uses it all), or split the input, or choose a cheaper model, or raise --max-cost'
            : 'the input is most of it: --fit truncate or a shorter prompt lowers it, or split the input, or choose a cheaper model, or raise --max-cost',
      },
    );
  }
  return check;
}

/** One line for people: the ceiling and the split. */
export function describeBudget(b: BudgetCheck): string {
  const money = (v: number | undefined) => (v === undefined ? 'unknown (no price)' : formatMoney(v, b.currency));
  const split = [
    b.batch.jobs ? `${b.batch.jobs} batch job${b.batch.jobs === 1 ? '' : 's'} ${money(b.batch.cost)}` : '',
    b.onDemand.jobs ? `${b.onDemand.jobs} on-demand folder${b.onDemand.jobs === 1 ? '' : 's'} ${money(b.onDemand.cost)}` : '',
  ].filter(Boolean);
  return (
    `estimated cost: up to ${money(b.cost?.total)} for ${b.records.toLocaleString('en-US')} records (${split.join(', ')}); ` +
    `input ~${b.inputTokens.toLocaleString('en-US')} tokens, output budget ${b.outputTokens.toLocaleString('en-US')} tokens${b.maxCost !== undefined ? `; --max-cost ${money(b.maxCost)}` : ''}`
  );
}
