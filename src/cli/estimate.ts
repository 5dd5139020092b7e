/** `bedrock-batch estimate`: tokens and cost of a prepared run before submitting it. */
import { Command } from 'commander';
import { estimateRun, type EstimateReport } from '../results/estimate.js';
import { formatMoney } from '../results/report.js';
import { readPrices } from './collect.js';
import { formatCount } from './output.js';
import { addAwsOptions, s3OptionsFrom, type AwsFlags } from './s3-options.js';

/** What commander hands `estimate`'s action. */
interface EstimateFlags extends AwsFlags {
  prices?: string;
  json?: boolean;
  quiet?: boolean;
}

export function estimateCommand(): Command {
  const cmd = new Command('estimate')
    .summary('estimate the tokens and cost of a prepared run, before submitting it')
    .description(
      "Price a prepared run with the same table as collect's report. Input tokens are prepare's rough estimate; " +
        "output tokens are each record's budget (max_tokens), so the cost is a range: input alone up to the whole " +
        'budget. An ESTIMATE from a table of list prices, not a bill.',
    )
    .argument('<run>', 'the prepared run (what prepare --out was given)')
    .option('--prices <file>', 'price table JSON (per 1,000 tokens), over the built-in illustrative one')
    .option('--json', 'print the estimate as one JSON object on stdout')
    .option('-q, --quiet', 'no summary on stderr');
  return addAwsOptions(cmd, { primary: 'S3' }).action(async (run: string, flags: EstimateFlags) => {
    const s3 = await s3OptionsFrom(flags);
    const report = await estimateRun({ prepared: run, prices: await readPrices(flags.prices, s3), s3 });
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
  lines.push(`  ${r.label}`);
  return lines.join('\n') + '\n';
}
