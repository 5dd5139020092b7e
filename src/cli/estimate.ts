/**
 * `bedrock-batch estimate`: tokens and cost of a prepared run before submitting it. `--exact` adds
 * the model's own input-token count from Bedrock Runtime's CountTokens (src/results/count-tokens.ts,
 * docs/quotas.md): every record of a small run, else a seeded random sample with a 95% interval.
 * CountTokens goes to the Bedrock endpoint when that is on this machine (`--bedrock-endpoint-url`
 * or configured: the local service answers the runtime on its one port), else to the runtime endpoint
 * the environment or the profile names, else AWS's (runtimeClientOptions).
 */
import { Command } from 'commander';
import { countRunTokens, DEFAULT_COUNT_CONCURRENCY, DEFAULT_SAMPLE } from '../results/count-tokens.js';
import { estimateRun, withCountTokens, type EstimateReport } from '../results/estimate.js';
import { formatMoney } from '../results/report.js';
import { readPrices } from './collect.js';
import { formatCount } from './output.js';
import { int } from './parsers.js';
import { addAwsOptions, bedrockSettingsFrom, s3OptionsFrom, withInterrupts, type AwsFlags } from './s3-options.js';

/** What commander hands `estimate`'s action. */
interface EstimateFlags extends AwsFlags {
  prices?: string;
  json?: boolean;
  quiet?: boolean;
  exact?: boolean;
  sample?: number;
  seed?: number;
  concurrency?: number;
}

export function estimateCommand(): Command {
  const cmd = new Command('estimate')
    .summary('estimate the tokens and cost of a prepared run, before submitting it')
    .description(
      "Price a prepared run with the same table as collect's report. Input tokens are prepare's rough estimate; " +
        "output tokens are each record's budget (max_tokens), so the cost is a range: input alone up to the whole " +
        "budget. With --exact, the model's own count from Bedrock's CountTokens beside it (every record of a small run, " +
        'else a sample with a 95% interval; docs/quotas.md). An ESTIMATE from a table of list prices, not a bill.',
    )
    .argument('<run>', 'the prepared run (what prepare --out was given)')
    .option('--prices <file>', 'price table JSON (per 1,000 tokens), over the built-in illustrative one')
    .option(
      '--exact',
      "also count the input tokens with Bedrock's CountTokens (free, rate-limited): every record of a run of at most --sample records, " +
        'else a random sample with a 95% interval. A model that cannot count (Nova, ...) keeps the rough estimate',
    )
    .option('--sample <n>', `with --exact: records counted (default ${DEFAULT_SAMPLE})`, int('--sample', 2))
    .option('--seed <n>', 'with --exact: the seed of the sample (default: random, printed so the same sample can be drawn again)', int('--seed', 0))
    .option('--concurrency <n>', `with --exact: CountTokens requests at once (default ${DEFAULT_COUNT_CONCURRENCY})`, int('--concurrency', 1))
    .option('--json', 'print the estimate as one JSON object on stdout')
    .option('-q, --quiet', 'no summary on stderr');
  return addAwsOptions(cmd, { primary: 'S3', bedrock: true }).action(async (run: string, flags: EstimateFlags) => {
    const s3 = await s3OptionsFrom(flags);
    const prices = await readPrices(flags.prices, s3);
    let report = await estimateRun({ prepared: run, prices, s3 });
    if (flags.exact) {
      const bedrock = bedrockSettingsFrom(flags, 'S3');
      const counted = await withInterrupts(
        async (signal) =>
          countRunTokens({
            prepared: run,
            s3,
            aws: bedrock,
            ...(flags.sample !== undefined ? { sample: flags.sample } : {}),
            ...(flags.seed !== undefined ? { seed: flags.seed } : {}),
            ...(flags.concurrency !== undefined ? { concurrency: flags.concurrency } : {}),
            signal,
          }),
        'run the same command again: counting writes nothing',
      );
      report = withCountTokens(report, counted, prices);
    } else if (flags.sample !== undefined || flags.seed !== undefined || flags.concurrency !== undefined) {
      process.stderr.write('bedrock-batch: --sample, --seed and --concurrency only apply with --exact\n');
    }
    if (flags.json) process.stdout.write(JSON.stringify(report) + '\n');
    if (!flags.quiet) process.stderr.write(humanEstimate(run, report));
  });
}

export function humanEstimate(run: string, r: EstimateReport): string {
  const t = r.total;
  const lines = [
    `estimate for ${run}: ${formatCount(t.records)} records in ${formatCount(r.jobs.length)} job${r.jobs.length === 1 ? '' : 's'}, model ${r.model} (tokens from ${r.from})`,
    `  input:  ~${formatCount(t.inputTokens)} tokens (rough estimate)`,
    `  output: up to ${formatCount(t.outputTokens)} tokens (the records' max_tokens budget)`,
  ];
  if (t.cost && r.inputOnly !== undefined) {
    lines.push(`  cost:   ${formatMoney(r.inputOnly, r.currency)} (input only) to ${formatMoney(t.cost.total, r.currency)} (whole output budget)`);
  }
  const c = r.countTokens;
  if (c && !c.exact) lines.splice(2, 0, `  exact:  not counted: ${c.reason ?? 'CountTokens could not count'}`);
  if (c?.exact) {
    const how = c.sampled
      ? `${formatCount(c.inputTokens)} tokens, ${Math.round(c.interval.confidence * 100)}% interval ${formatCount(c.interval.low)} to ${formatCount(c.interval.high)}: CountTokens on a sample of ${formatCount(c.counted)} of ${formatCount(c.records)} records (seed ${c.seed})`
      : `${formatCount(c.inputTokens)} tokens: CountTokens on every record (${formatCount(c.counted)})`;
    const exact = [`  exact:  ${how}`];
    if (c.ratio !== undefined) {
      const off = Math.round((c.ratio - 1) * 100);
      exact.push(`          CountTokens / rough estimate: ${c.ratio.toFixed(2)} on the records counted (the rough estimate is ${off === 0 ? 'within 1%' : `${Math.abs(off)}% ${off > 0 ? 'low' : 'high'}`})`);
    }
    lines.splice(2, 0, ...exact);
    if (c.cost) {
      const range = (lo: number, hi: number) => (formatMoney(lo, r.currency) === formatMoney(hi, r.currency) ? formatMoney(lo, r.currency) : `${formatMoney(lo, r.currency)}..${formatMoney(hi, r.currency)}`);
      lines.push(`  cost with the counted input: ${range(c.cost.low, c.cost.high)} (input only) to ${range(c.cost.withOutput.low, c.cost.withOutput.high)} (whole output budget)`);
    }
  }
  lines.push(`  ${r.label}`);
  return lines.join('\n') + '\n';
}
