/**
 * The cost estimate before submitting: tokens of a prepared run, priced with the same table as the
 * post-run report. Input tokens are prepare's rough estimate (`estimateTokens` over the prompt text
 * the model family finds in each modelInput); output tokens are the budget each record asks for
 * (max_tokens and the like), so the output cost is an upper bound: models usually stop well short.
 *
 * When prepared.json carries token totals (`jobs[].tokens` / `tokens`, see the report's note on the
 * prepare hook), they are used as they are; otherwise the shards are streamed once.
 *
 * `estimate --exact` adds the model's own count beside the rough one (src/results/count-tokens.ts:
 * CountTokens, every record or a sample with a 95% interval), priced at the interval's ends
 * (`withCountTokens`). The rough figures stay as they are, so the two can be compared.
 */
import { FAMILIES } from '../models/index.js';
import type { ModelFamily } from '../models/family.js';
import { estimateTokens } from '../records/tokens.js';
import type { Store } from '../stores/store.js';
import type { StoreOptions } from '../stores/index.js';
import { BatchError } from '../errors.js';
import { readPrepared, storeOf, type PreparedJob } from './layout.js';
import { LineSplitter } from '../core/lines.js';
import { costOf, priceFor, type PriceTable } from './prices.js';
import { assemble, type CostLine, type CostReport } from './report.js';
import type { ExactTokens } from './count-tokens.js';

export interface EstimateOptions {
  prepared: string | Store;
  /** S3 client settings for a run given as an s3:// URI (default: the SDK's own). */
  s3?: StoreOptions;
  prices: PriceTable;
  signal?: AbortSignal;
}

export interface EstimateReport extends CostReport {
  /** Cost of the input tokens alone: the floor. `total.cost` prices the whole output budget: the ceiling. */
  inputOnly?: number;
  /** Where the token counts came from: prepared.json totals, or a pass over the shards. */
  from: 'prepared.json' | 'shards';
  /** `--exact`: the input tokens as CountTokens counts them, beside the rough estimate above. */
  countTokens?: CountedEstimate;
}

/** CountTokens' count of the input (count-tokens.ts), priced. */
export interface CountedEstimate extends ExactTokens {
  /**
   * The cost at the interval's ends (its low and high input tokens): the input alone, and with the
   * whole output budget. Absent when the model has no price, or CountTokens could not count.
   */
  cost?: { low: number; high: number; withOutput: { low: number; high: number } };
}

/** `report` with CountTokens' count beside its rough estimate, priced with the same table. */
export function withCountTokens(report: EstimateReport, counted: ExactTokens, prices: PriceTable): EstimateReport {
  const c: CountedEstimate = { ...counted };
  const price = priceFor(prices, report.model);
  if (price && counted.exact) {
    const out = report.total.outputTokens;
    c.cost = {
      low: costOf(price, counted.interval.low, 0).total,
      high: costOf(price, counted.interval.high, 0).total,
      withOutput: { low: costOf(price, counted.interval.low, out).total, high: costOf(price, counted.interval.high, out).total },
    };
  }
  return { ...report, countTokens: c };
}

/** Token estimates of one record line `{recordId, modelInput}`. */
export function recordTokens(family: ModelFamily, modelInput: Record<string, unknown>): { input: number; maxOutput: number } {
  return {
    input: estimateTokens(family.inputTextOf(modelInput)),
    maxOutput: family.maxOutputTokensOf(modelInput) ?? family.defaultMaxTokens,
  };
}

/** Price totals that prepare counted (the hook): model id, records, input tokens, output budget. */
export function estimateFromTotals(
  modelId: string,
  prices: PriceTable,
  jobs: { name: string; records: number; inputTokens: number; maxOutputTokens: number }[],
): EstimateReport {
  const price = priceFor(prices, modelId);
  const lines: CostLine[] = jobs.map((j) => {
    const line: CostLine = { job: j.name, records: j.records, inputTokens: j.inputTokens, outputTokens: j.maxOutputTokens, tokens: 'estimate' };
    if (price) line.cost = costOf(price, j.inputTokens, j.maxOutputTokens);
    return line;
  });
  const report = assemble(modelId, prices, price, lines) as EstimateReport;
  report.from = 'prepared.json';
  if (price) report.inputOnly = costOf(price, report.total.inputTokens, 0).total;
  return report;
}

/** Estimate a prepared run's tokens and cost (see the module comment). */
export async function estimateRun(options: EstimateOptions): Promise<EstimateReport> {
  const store = storeOf(options.prepared, options.s3);
  const run = await readPrepared(store);
  const family = FAMILIES[run.model.family];
  if (!family) throw new BatchError('E_NOT_PREPARED', `prepared.json names an unknown model family "${run.model.family}"`);
  const withTotals = run.jobs.every((j) => hasTokens(j));
  const jobs: { name: string; records: number; inputTokens: number; maxOutputTokens: number }[] = [];
  for (const job of run.jobs) {
    if (withTotals) {
      const t = (job as PreparedJob & { tokens: { input: number; maxOutput: number } }).tokens;
      jobs.push({ name: job.name, records: job.records, inputTokens: t.input, maxOutputTokens: t.maxOutput });
      continue;
    }
    let input = 0;
    let maxOutput = 0;
    let records = 0;
    for (const shard of job.shards) {
      const splitter = new LineSplitter();
      const onLine = (buf: Buffer, start: number, end: number, line: number) => {
        let rec: { modelInput?: unknown };
        try {
          rec = JSON.parse(buf.toString('utf8', start, end)) as { modelInput?: unknown };
        } catch {
          throw new BatchError('E_BAD_JSON', 'a shard line is not valid JSON', { file: store.resolve(shard.key), line });
        }
        if (typeof rec.modelInput !== 'object' || rec.modelInput === null) return;
        const t = recordTokens(family, rec.modelInput as Record<string, unknown>);
        input += t.input;
        maxOutput += t.maxOutput;
        records++;
      };
      for await (const chunk of store.createReadStream(shard.key) as AsyncIterable<Buffer>) {
        if (options.signal?.aborted) throw options.signal.reason ?? new Error('aborted');
        splitter.push(chunk, onLine);
      }
      splitter.end(onLine);
    }
    jobs.push({ name: job.name, records, inputTokens: input, maxOutputTokens: maxOutput });
  }
  const report = estimateFromTotals(run.model.modelId, options.prices, jobs);
  report.from = withTotals ? 'prepared.json' : 'shards';
  return report;
}

function hasTokens(job: PreparedJob): boolean {
  const t = (job as PreparedJob & { tokens?: { input?: unknown; maxOutput?: unknown } }).tokens;
  return typeof t?.input === 'number' && typeof t.maxOutput === 'number';
}
