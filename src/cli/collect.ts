/** `bedrock-batch collect`: job outputs back, joined to the source; a retry batch for what failed. */
import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { BatchError } from '../errors.js';
import type { FamilyName } from '../models/family.js';
import { FAMILIES } from '../models/index.js';
import { collectRun, type CollectRunOptions, type CollectRunSummary } from '../results/run.js';
import { jsonSummary } from '../results/json-summary.js';
import { loadSchema } from '../schema/index.js';
import { fileTarget } from '../results/layout.js';
import { defaultPrices, loadPrices, type PriceTable } from '../results/prices.js';
import { formatMoney } from '../results/report.js';
import { isRetryable } from '../results/retry.js';
import type { RecordError } from '../results/types.js';
import type { ResultsFormat } from '../results/writers.js';
import { QUOTA_PROFILES, quotaProfile } from '../bedrock/quotas.js';
import { readSmall } from '../results/layout.js';
import { openStore, type StoreOptions } from '../stores/index.js';
import { LEDGER_KEY, Ledger } from '../jobs/ledger.js';
import { resolve as resolvePath } from 'node:path';
import { isS3Uri } from '../stores/uri.js';
import { tagRunOutputs } from '../run/clean.js';
import { expireTags } from '../stores/tags.js';
import { addExpireOption, expireDaysFrom, withExpireTags, type ExpireFlags } from './expire.js';
import { formatBytes, formatCount, StatusLine } from './output.js';
import { int } from './parsers.js';
import { addAwsOptions, s3OptionsFrom, withInterrupts, type AwsFlags } from './s3-options.js';

/** What commander hands `collect`'s action. */
export interface CollectFlags extends Omit<AwsFlags, 'maxAttempts'>, ExpireFlags {
  prepared: string;
  results?: string;
  format?: ResultsFormat;
  raw?: boolean;
  csvEscapeFormulas?: boolean;
  retry?: string | false;
  deadLetter?: string;
  maxAttempts: number;
  retryableCodes?: string;
  quotas?: string;
  minRecords?: number;
  prices?: string;
  family?: FamilyName;
  ledger?: string | false;
  partial?: boolean;
  assumeEnded?: boolean;
  schema?: string;
  report?: string;
  json?: boolean;
  quiet?: boolean;
}

export function collectCommand(): Command {
  const cmd = new Command('collect')
    .summary('stream job outputs back, join them to the source, and plan retries')
    .description(
      'Read every <jobId>/*.jsonl.out under <outputs> (local or s3://; manifest.json.out excluded), join each line to its ' +
        "source call through the prepared run's lineage, and write one result per record (success, error or missing). " +
        'Records that failed with a retryable error or never came back become a retry run, ready for `submit`; ' +
        'non-retryable errors and records out of attempts go to a dead-letter file. Ends with counts that reconcile ' +
        '(submitted = succeeded + failed + missing) and a token and cost ESTIMATE. In a schema run every answer is ' +
        'validated against the schema: its fields become columns, and an answer that does not validate is `invalid` ' +
        '(counted as failed) and retried like a retryable error.',
    )
    .argument('<outputs>', 'the jobs\' output location (the outputDataConfig s3Uri, or a local directory)')
    .requiredOption('-p, --prepared <run>', 'the prepared run (what prepare --out was given)')
    .option('-r, --results <file>', 'results file: .jsonl, .csv or .tsv (optionally .gz), s3:// or - for stdout (default <run>/results.jsonl)')
    .addOption(new Option('--format <format>', 'results format (default: from the extension)').choices(['jsonl', 'csv', 'tsv']))
    .option('--raw', 'add the raw modelOutput (or error) JSON to every row')
    .option('--csv-escape-formulas', "CSV/TSV: prefix with ' every cell a spreadsheet would run as a formula (= + @ tab CR, or - unless a number): the default")
    .option('--no-csv-escape-formulas', 'CSV/TSV: write cells exactly as they are, formulas included')
    .option('--retry <run>', 'where the retry run goes (default <run>/retry-<next attempt>)')
    .option('--no-retry', 'plan no retries and write no dead letters')
    .option('--dead-letter <file>', 'dead-letter JSONL file (default <run>/dead-letter.jsonl)')
    .option('--max-attempts <n>', 'tries per record before it goes to the dead letters', int('--max-attempts', 1), 3)
    .option('--retryable-codes <codes>', 'error codes to retry although they are 4xx (comma-separated, e.g. 403)')
    .addOption(new Option('--quotas <profile>', 'quota profile for the retry run (default: the prepared run\'s)').choices(Object.keys(QUOTA_PROFILES)))
    .option('--min-records <n>', 'minimum records per job for the retry run', int('--min-records', 1))
    .option('--prices <file>', 'price table JSON (per 1,000 tokens), over the built-in illustrative one')
    .addOption(new Option('--family <name>', 'read outputs as this model family (default: the prepared run\'s)').choices(Object.keys(FAMILIES)))
    .option('--ledger <file>', 'submit\'s ledger (default <run>/ledger.jsonl, when present)')
    .option('--no-ledger', 'ignore the ledger')
    .option('--partial', 'collect while jobs may still answer (their unanswered records are pending, not retried)')
    .option('--assume-ended', 'take jobs whose end is not recorded (no ledger status; without a ledger, no manifest.json.out) as ended: their unanswered records are retried')
    .option('--schema <file>', "validate the answers against this JSON Schema (a file, or the built-in call-insights) instead of the prepared run's, or for a run prepared without one")
    .option('--report <file>', 'also write a self-contained HTML report (local path or s3://): the counts, jobs, errors, cost and, for a schema run, charts and a table of the calls')
    .option('--json', 'print the summary as one JSON object on stdout')
    .option('-q, --quiet', 'no summary on stderr');
  // --max-attempts is tries per record here: S3's attempts come from AWS_MAX_ATTEMPTS or the profile
  return addAwsOptions(addExpireOption(cmd), { primary: 'S3', maxAttempts: false }).action(async (outputs: string, flags: CollectFlags) => {
    if (flags.json && flags.results === '-') throw new BatchError('E_BAD_OPTION', '--results - and --json both want stdout', { hint: 'write the results to a file' });
    if (flags.report === '-' || flags.report === '') throw new BatchError('E_BAD_OPTION', '--report needs a file (a local path or s3:// URI)', { hint: 'e.g. --report report.html' });
    const days = expireDaysFrom(flags);
    const options = await collectOptionsFrom(outputs, flags, withExpireTags(await s3OptionsFrom(flags), days));
    await refuseCleaned(options);
    const summary = await runCollect(options, !flags.quiet && !flags.json);
    await recordCollected(options, summary);
    if (days !== undefined) await tagOutputs(options, outputs, days);
    if (flags.json) process.stdout.write(JSON.stringify(jsonSummary(summary)) + '\n');
    if (!flags.quiet) process.stderr.write(humanSummary(summary));
  });
}

/** collectRun's options from collect's flags (everything but the signal and progress; `given`: S3 settings resolved already); reads the price table. */
export async function collectOptionsFrom(outputs: string, flags: CollectFlags, given?: StoreOptions): Promise<CollectRunOptions> {
  const s3 = given ?? (await s3OptionsFrom(flags));
  const prices = await readPrices(flags.prices, s3);
  const extra = flags.retryableCodes ? new Set(flags.retryableCodes.split(',').map((s) => s.trim()).filter(Boolean)) : undefined;
  const retryable = extra ? (e: RecordError) => (e.code !== undefined && extra.has(String(e.code))) || isRetryable(e) : undefined;
  return {
    outputs,
    prepared: flags.prepared,
    ...(flags.results !== undefined ? { results: flags.results } : {}),
    ...(flags.format ? { format: flags.format } : {}),
    raw: flags.raw === true,
    escapeFormulas: flags.csvEscapeFormulas !== false,
    ...(flags.retry !== undefined ? { retry: flags.retry } : {}),
    ...(flags.deadLetter ? { deadLetter: flags.deadLetter } : {}),
    maxAttempts: flags.maxAttempts,
    ...(flags.quotas ? { quotas: quotaProfile(flags.quotas) } : {}),
    ...(flags.minRecords !== undefined ? { minRecords: flags.minRecords } : {}),
    prices,
    ...(retryable ? { retryable } : {}),
    ...(flags.family ? { family: flags.family } : {}),
    ...(flags.ledger === false ? { ledger: false as const } : typeof flags.ledger === 'string' ? { ledger: fileTarget(flags.ledger, s3) } : {}),
    ...(Object.keys(s3).length ? { s3 } : {}),
    partial: flags.partial === true,
    assumeEnded: flags.assumeEnded === true,
    ...(flags.schema !== undefined ? { schema: loadSchema(flags.schema) } : {}),
    ...(flags.report !== undefined ? { report: flags.report } : {}),
  };
}

/**
 * A collection of a run whose every job has ended goes into its ledger (`collected`): what `clean`
 * and a step (`run --no-wait`) go by. A partial one does not.
 */
export async function recordCollected(options: CollectRunOptions, c: CollectRunSummary): Promise<void> {
  if (options.ledger === false || c.collect.pending > 0 || options.partial) return;
  const uri = await ledgerOf(options);
  if (uri === undefined) return;
  const ledger = await Ledger.open(uri, options.s3);
  try {
    // absolute, so `clean` finds it from any directory
    const results = isS3Uri(c.results.uri) || c.results.uri === '-' ? c.results.uri : resolvePath(c.results.uri);
    await ledger.append({ event: 'collected', results, records: c.results.records, ...(c.collect.reused ? { reused: c.collect.reused } : {}) });
  } finally {
    await ledger.close();
  }
}

/** The run's ledger, when it has one. */
async function ledgerOf(options: CollectRunOptions): Promise<string | undefined> {
  if (options.ledger === false) return undefined;
  const where = options.ledger ?? { store: typeof options.prepared === 'string' ? openStore(options.prepared, options.s3) : options.prepared, key: LEDGER_KEY };
  return (await where.store.exists(where.key)) ? where.store.resolve(where.key) : undefined;
}

/**
 * A run that `clean` emptied has no outputs left: collecting it again would write every record as
 * missing over the results it collected. Refused, naming them.
 */
export async function refuseCleaned(options: CollectRunOptions): Promise<void> {
  const uri = await ledgerOf(options);
  if (uri === undefined) return;
  const state = await Ledger.read(uri, options.s3);
  if (!state.cleaned) return;
  throw new BatchError('E_CLEANED', `the run's shards and job outputs were removed by \`clean\` (${state.cleaned.at}): there is nothing left to collect`, {
    hint: `its results were collected into ${state.collected?.results ?? 'the results file'}; they are kept as they are`,
  });
}

/** `--expire-days`: tag the job outputs Bedrock wrote (the ledger's jobs), so the lifecycle rule removes them too. */
export async function tagOutputs(options: CollectRunOptions, outputs: string, days: number): Promise<void> {
  const uri = await ledgerOf(options);
  if (uri === undefined || !isS3Uri(outputs)) return;
  await tagRunOutputs(openStore(outputs, options.s3), await Ledger.read(uri, options.s3), expireTags(days));
}

/** collectRun with the command's progress line (when `progress`) and Ctrl-C handling. */
export async function runCollect(options: CollectRunOptions, progress: boolean): Promise<CollectRunSummary> {
  const status = new StatusLine(progress && process.stderr.isTTY === true);
  try {
    // Ctrl-C / SIGTERM: the results, retry and dead-letter writers are destroyed (a local file's
    // temporary is removed, an S3 upload aborted): nothing half-written is left in place.
    return await withInterrupts((signal) => collectRun({
      ...options,
      signal,
      onProgress: (p) =>
        status.update(`collect: ${formatCount(p.records)} records, ${formatBytes(p.bytes)}${p.totalBytes ? ` of ${formatBytes(p.totalBytes)}` : ''}`),
    }), 'run the same command again: collect only reads the outputs, and writes its files anew');
  } finally {
    status.clear();
  }
}

/** The price table: the built-in one, or a user's file over it. */
export async function readPrices(file: string | undefined, s3?: StoreOptions): Promise<PriceTable> {
  if (!file) return defaultPrices();
  let text: string;
  try {
    if (/^s3:\/\//i.test(file)) {
      const t = fileTarget(file, s3);
      text = await readSmall(t.store, t.key, 8 << 20);
    } else {
      text = await readFile(file, 'utf8');
    }
  } catch (error) {
    if (error instanceof BatchError) throw error;
    throw new BatchError('E_PRICES', `cannot read the price table ${file}: ${(error as Error).message}`, { hint: 'check the --prices path' });
  }
  return loadPrices(text, file);
}

/** The --json shape (src/results/json-summary.ts; the HTML report shows the same object). */
export { jsonSummary };

const plural = (n: number, word: string) => `${formatCount(n)} ${word}${n === 1 ? '' : 's'}`;

function reconcile(t: { submitted: number; succeeded: number; failed: number; missing: number; pending?: number }): string {
  return `${formatCount(t.submitted)} submitted = ${formatCount(t.succeeded)} succeeded + ${formatCount(t.failed)} failed + ${formatCount(t.missing)} missing${t.pending ? ` (${formatCount(t.pending)} pending)` : ''}`;
}

export function humanSummary(s: CollectRunSummary): string {
  const c = s.collect;
  const lines = [
    `collected ${plural(c.submitted, 'record')} of ${plural(c.jobs.length, 'job')} from ${plural(c.outputFiles, 'output file')} (${formatBytes(c.outputBytes)}) in ${c.seconds.toFixed(1)} s`,
  ];
  const shown = c.jobs.slice(0, 20);
  for (const j of shown) {
    const ids = j.jobIds.length ? ` ${j.jobIds.join(',')}` : ' (no output)';
    lines.push(`  ${j.job}${ids}${j.status ? ` ${j.status}` : ''}: ${reconcile(j)}`);
  }
  if (c.jobs.length > shown.length) lines.push(`  ... ${c.jobs.length - shown.length} more jobs (see --json)`);
  lines.push(`  total: ${reconcile(c)}`);
  if (c.reused) lines.push(`  reused: ${formatCount(c.reused)} earlier answers (--skip-answered), written after the run's own rows`);
  const cost = s.cost.total.cost ? `, cost ~ ${formatMoney(s.cost.total.cost.total, s.cost.currency)}` : '';
  lines.push(`  tokens: ${formatCount(c.inputTokens)} in, ${formatCount(c.outputTokens)} out (from ${s.cost.total.tokens})${cost}`);
  lines.push(`    ${s.cost.label}`);
  const codes = Object.entries(c.errorsByCode);
  if (codes.length) lines.push(`  errors: ${codes.map(([k, n]) => `${k} x${formatCount(n)}`).join(', ')}`);
  if (c.schema) {
    const how = c.schema.via ? `, asked by ${c.schema.via}` : '';
    lines.push(`  fields:  schema ${c.schema.name}${how}${c.schema.from === 'option' ? ' (--schema)' : ''}: ${plural(c.succeeded, 'valid answer')}, ${plural(c.invalid, 'invalid answer')}`);
    if (c.invalid) {
      lines.push(
        s.plan
          ? `           invalid answers (status invalid, counted as failed) are retried like retryable errors up to --max-attempts, then dead-lettered as E_INVALID_ANSWER`
          : `           invalid answers (status invalid, counted as failed) are not retried (--no-retry)`,
      );
    }
  }
  if (c.truncated) lines.push(`  truncated: ${plural(c.truncated, 'call')} lost turns to fit the context (column truncated)`);
  if (c.redacted) lines.push(`  redacted: ${Object.entries(c.redacted).map(([k, n]) => `${k} x${formatCount(n)}`).join(', ')}`);
  const reasons = Object.entries(c.missingByReason);
  if (reasons.length) lines.push(`  missing: ${reasons.map(([k, n]) => `${k} x${formatCount(n)}`).join(', ')}`);
  lines.push(`  results: ${s.results.uri} (${plural(s.results.records, 'row')}, ${s.results.format})`);
  if (s.report) lines.push(`  report:  ${s.report.uri} (${plural(s.report.rows, 'call')}${s.report.omitted ? `, ${formatCount(s.report.omitted)} more left out of its table` : ''})`);
  if (s.plan) {
    const r = s.plan.retry;
    if (r.uri) {
      lines.push(`  retry:   ${r.uri} (${plural(r.records, 'record')}, attempt ${r.attempt}, ${plural(r.jobs.length, 'job')})`);
      if (r.submittable) lines.push(`           submit it with: bedrock-batch submit ${r.uri}`);
      else if (r.problem) lines.push(`           NOT submittable as it is: ${r.problem.code}: ${r.problem.message}\n           hint: ${r.problem.hint}`);
      if (r.rejected) lines.push(`           ${plural(r.rejected, 'record')} refused by the retry run's quotas: see its rejects.jsonl`);
    } else {
      lines.push('  retry:   nothing to retry');
    }
    const d = s.plan.deadLetter;
    const why = Object.entries(d.byReason).map(([k, n]) => `${k} ${formatCount(n)}`).join(', ');
    lines.push(`  dead letters: ${d.uri} (${plural(d.records, 'record')}${why ? `: ${why}` : ''})`);
    if (s.plan.pending) lines.push(`  pending: ${plural(s.plan.pending, 'record')} of running jobs: collect again when they end`);
  }
  if (c.badLineCount) {
    const truncated = c.badLines.filter((b) => b.truncated);
    lines.push(`  unreadable output lines: ${formatCount(c.badLineCount)}${truncated.length ? ` (truncated: ${truncated.map((b) => `${b.file} line ${b.line}`).join(', ')})` : ''}; their records count as missing`);
    for (const b of c.badLines.filter((x) => !x.truncated).slice(0, 3)) lines.push(`    ${b.file}, line ${b.line}: ${b.code}: ${b.reason}`);
  }
  for (const m of c.manifestIssues.slice(0, 10)) {
    lines.push(
      m.field === 'manifest'
        ? `  manifest of ${m.jobId}: ${m.manifest}${m.note ? ` (${m.note})` : ''}`
        : `  manifest of ${m.jobId}${m.job ? ` (${m.job})` : ''} disagrees: ${m.field} ${m.manifest} in the manifest, ${m.parsed} parsed${m.note ? ` (${m.note})` : ''}`,
    );
  }
  if (c.unknownRecords) lines.push(`  ${plural(c.unknownRecords, 'output line')} for records not in the run (e.g. ${c.unknownSample.slice(0, 2).join(', ')}): left out`);
  if (c.duplicates) lines.push(`  ${plural(c.duplicates, 'output line')} repeated a record already answered: the first answer was kept`);
  if (c.unmatchedFiles.length) lines.push(`  ${plural(c.unmatchedFiles.length, 'output file')} match no shard of the run, left out: ${c.unmatchedFiles.slice(0, 3).join(', ')}`);
  if (c.ignoredFolders.length) lines.push(`  ${plural(c.ignoredFolders.length, 'job folder')} not in the ledger, left out: ${c.ignoredFolders.slice(0, 5).join(', ')}`);
  for (const w of c.warnings.slice(0, 10)) lines.push(`  warning: ${w}`);
  return lines.join('\n') + '\n';
}
