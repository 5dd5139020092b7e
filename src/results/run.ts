/**
 * collect as one call, the way the CLI runs it: results stream from the Collector into a results
 * writer and the retry planner side by side, and the run ends with the token and cost report and
 * counts that reconcile (submitted = succeeded + failed + missing, per job and in total; and
 * failed + missing = retried + dead-lettered + pending).
 *
 * A run prepared with `--skip-answered` has the earlier answers of the calls it skipped in
 * `<run>/reused.jsonl` (src/results/reuse.ts): they follow the run's own rows in the results file,
 * marked `reused`, counted in `reused` and in none of the other counts (results rows = submitted +
 * reused: docs/daily-exports.md). A run whose every call was skipped has no job: its results are
 * the reused rows alone.
 *
 * A schema run's answers are checked (collect.ts, structured.ts): invalid ones are failures,
 * retried (the retry run keeps the schema); the results carry the fields. With `report`, every
 * result also goes to the HTML report (report-html.ts), written at the end with the object
 * `collect --json` prints (`jsonSummary`).
 */
import { BatchError } from '../errors.js';
import type { QuotaProfile } from '../bedrock/quotas.js';
import { quotaProfile } from '../bedrock/quotas.js';
import { openStore, type StoreOptions } from '../stores/index.js';
import type { Store } from '../stores/store.js';
import type { Writable } from 'node:stream';
import { answerSchemaOf, collectResults, lineageShape, type CollectOptions, type CollectProgress, type LineageShape } from './collect.js';
import { HtmlReport, type HtmlReportWritten, type ReportRow } from './report-html.js';
import { jsonSummary } from './json-summary.js';
import { schemaProperties, type AnswerSchema } from './structured.js';
import { fileTarget, readPrepared, storeOf } from './layout.js';
import { defaultPrices, type PriceTable } from './prices.js';
import { costReport, type CostReport } from './report.js';
import { planRetries, type RetryPlanSummary } from './retry.js';
import type { CollectResult, CollectSummary, RecordError } from './types.js';
import { formatOf, isFixedColumn, passthroughColumn, resultsWriter, type ResultsFormat } from './writers.js';
import { reusedRows } from './reuse.js';
import { isObject } from '../core/values.js';

export interface CollectRunOptions {
  outputs: string | Store;
  prepared: string | Store;
  /** The results file (local path or s3:// URI), or `-` for stdout (default `<prepared>/results.jsonl`). */
  results?: string;
  format?: ResultsFormat;
  /** Add the raw modelOutput JSON to every row. */
  raw?: boolean;
  /** CSV/TSV results: escape cells a spreadsheet would run (default true; see ResultsWriterOptions). */
  escapeFormulas?: boolean;
  /** Where the retry run goes (default `<prepared>/retry-<n>`, n the next attempt); false: no retry plan. */
  retry?: string | false;
  /** The dead-letter file (default `<prepared>/dead-letter.jsonl`). */
  deadLetter?: string;
  maxAttempts?: number;
  /** The retry run's quota profile (default: the prepared run's). */
  quotas?: QuotaProfile;
  /** Override the retry run's minimum records per job. */
  minRecords?: number;
  prices?: PriceTable;
  retryable?: (error: RecordError) => boolean;
  family?: CollectOptions['family'];
  ledger?: CollectOptions['ledger'];
  partial?: boolean;
  /** See CollectOptions.assumeEnded. */
  assumeEnded?: boolean;
  /** Validate the answers against this schema: see CollectOptions.schema (default: prepared.json's). */
  schema?: AnswerSchema;
  /** Also write the HTML report here (a local path or s3:// URI). */
  report?: string;
  /** The report's title and the calls it lists at most (see HtmlReportOptions). */
  reportOptions?: { title?: string; maxRows?: number };
  /** More figures for the report beside collect's own (`run` adds its prepare counts as `prepare`). */
  reportExtra?: Record<string, unknown>;
  stdout?: Writable;
  /** S3 client settings for the locations given as s3:// URIs (default: the SDK's own). */
  s3?: StoreOptions;
  signal?: AbortSignal;
  onProgress?: (p: CollectProgress) => void;
}

export interface CollectRunSummary {
  collect: CollectSummary;
  results: { uri: string; records: number; format: ResultsFormat };
  plan?: RetryPlanSummary;
  cost: CostReport;
  /** The HTML report, when one was asked for. */
  report?: { uri: string } & HtmlReportWritten;
}

/** Run a whole collection: see the module comment. */
export async function collectRun(options: CollectRunOptions): Promise<CollectRunSummary> {
  const prepared = storeOf(options.prepared, options.s3);
  const run = await readPrepared(prepared);
  const attempt = run.retry?.attempt ?? 1;
  const prices = options.prices ?? defaultPrices();
  const resultsUri = options.results ?? prepared.resolve('results.jsonl');
  const format = options.format ?? formatOf(resultsUri) ?? 'jsonl';
  const shape: LineageShape | undefined = format === 'jsonl' ? undefined : await lineageShape(prepared);
  if (shape && run.reused && run.reused.records > 0) await addReusedShape(shape, prepared, run.reused.key);
  const answer = answerSchemaOf(run, options.schema);
  const collector = collectResults({
    outputs: storeOf(options.outputs, options.s3),
    prepared,
    ...(options.family !== undefined ? { family: options.family } : {}),
    ...(options.ledger !== undefined ? { ledger: options.ledger } : {}),
    ...(options.partial ? { partial: true } : {}),
    ...(options.assumeEnded ? { assumeEnded: true } : {}),
    ...(options.schema ? { schema: options.schema } : {}),
    retryInputs: options.retry !== false,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  let quotas: QuotaProfile = options.quotas ?? run.quotas ?? quotaProfile('default');
  if (options.minRecords !== undefined) {
    if (!Number.isSafeInteger(options.minRecords) || options.minRecords < 1 || options.minRecords > quotas.maxRecordsPerJob) {
      throw new BatchError('E_BAD_OPTION', `the minimum records per job must be a whole number from 1 to ${quotas.maxRecordsPerJob}, got ${String(options.minRecords)}`);
    }
    quotas = { ...quotas, minRecordsPerJob: options.minRecords, name: quotas.name.endsWith('+overrides') ? quotas.name : `${quotas.name}+overrides` };
  }
  const deadLetterUri = options.deadLetter ?? prepared.resolve('dead-letter.jsonl');
  const planner =
    options.retry === false
      ? undefined
      : planRetries({
          out: storeOf(options.retry ?? prepared.resolve(`retry-${attempt + 1}`), options.s3),
          deadLetter: fileTarget(deadLetterUri, options.s3),
          quotas,
          model: run.model,
          from: { prepared: prepared.uri, outputs: typeof options.outputs === 'string' ? options.outputs : options.outputs.uri },
          ...(options.maxAttempts !== undefined ? { maxAttempts: options.maxAttempts } : {}),
          ...(options.retryable ? { retryable: options.retryable } : {}),
          ...(answer ? { structured: { name: answer.name, via: answer.via ?? 'prompt', schema: answer.schema } } : {}),
        });
  if (planner && sameLocation(planner.uri, prepared.uri)) {
    throw new BatchError('E_BAD_OPTION', `the retry run cannot go to the prepared run itself (${prepared.uri})`, { hint: 'give --retry another location' });
  }
  await planner?.check();
  const writer = resultsWriter({
    target: resultsUri === '-' ? { stream: options.stdout ?? process.stdout, name: '-' } : fileTarget(resultsUri, options.s3),
    format,
    ...(shape ? { passthroughColumns: shape.passthrough, truncated: shape.truncated, redacted: shape.redacted } : {}),
    ...(answer ? { fields: schemaProperties(answer.schema) } : {}),
    raw: options.raw === true,
    escapeFormulas: options.escapeFormulas !== false,
  });
  const report = options.report !== undefined ? new HtmlReport({ ...options.reportOptions, ...(options.s3 ? { s3: options.s3 } : {}) }) : undefined;
  let reused = 0;
  try {
    for await (const batch of collector.batches()) {
      for (const r of batch) {
        report?.add(() => reportRow(r));
        if (r.kind === 'success' || !planner) {
          const wait = writer.write(r);
          if (wait) await wait;
        } else {
          const d = await planner.add(r);
          const wait = writer.write(r, { next: d.disposition });
          if (wait) await wait;
        }
      }
    }
    // the earlier answers of the calls prepare skipped, after the run's own rows
    if (run.reused && run.reused.records > 0) {
      for await (const row of reusedRows(prepared, run.reused.key)) {
        report?.add(() => reusedReportRow(row));
        const wait = writer.writeReused(row);
        if (wait) await wait;
        reused++;
      }
    }
  } catch (error) {
    writer.abort(error as Error);
    await planner?.abort(error as Error);
    throw error;
  }
  const results = await writer.close();
  const plan = planner ? await planner.finish() : undefined;
  const summary = collector.summary;
  summary.reused = reused;
  if (run.reused && reused !== run.reused.records) {
    summary.warnings.push(`${prepared.resolve(run.reused.key)} holds ${reused} reused answers, prepared.json says ${run.reused.records}`);
  }
  if (plan) {
    const handled = plan.retry.records + plan.retry.rejected + plan.deadLetter.records + plan.pending;
    if (handled !== summary.failed + summary.missing) {
      throw new BatchError('E_COUNTS', `retry plan: ${summary.failed} failed + ${summary.missing} missing, but ${plan.retry.records} retried + ${plan.deadLetter.records} dead-lettered + ${plan.pending} pending`, {
        hint: 'this is a bug in collect; please report it',
      });
    }
  }
  const done: CollectRunSummary = { collect: summary, results, ...(plan ? { plan } : {}), cost: costReport(summary, prices) };
  if (report && options.report !== undefined) {
    const target = fileTarget(options.report, options.s3);
    const uri = target.store.resolve(target.key);
    // the same object `collect --json` prints (it names the report's location, known before it is written)
    const written = await report.write(options.report, { ...jsonSummary(done, uri), ...options.reportExtra }, answer?.schema);
    done.report = { uri, ...written };
  }
  return done;
}

/** A result as a row of the report's table of calls. */
function reportRow(r: CollectResult): ReportRow {
  const row: ReportRow = { key: r.key, status: r.kind, job: r.job };
  if (r.kind === 'success') {
    if (r.fields !== undefined) row.fields = r.fields;
    // a schema answer's text is its fields as JSON, already in their columns: the summary is prose only
    else if (r.text !== undefined) row.text = r.text;
  } else if (r.kind === 'invalid') {
    if (r.text !== undefined) row.text = r.text;
    row.error = r.reason;
  } else if (r.kind === 'error') {
    row.error = [r.error.code, r.error.message].filter((x) => x !== undefined).join(': ');
  } else {
    row.error = r.reason;
  }
  if (r.truncated !== undefined) row.truncated = r.truncated;
  if (r.redacted !== undefined) row.redacted = r.redacted;
  return row;
}

/** A reused answer as a row of the report's table of calls (status `reused`). */
function reusedReportRow(row: Record<string, unknown>): ReportRow {
  const out: ReportRow = { key: String(row.key ?? ''), status: 'reused' };
  if (typeof row.job === 'string') out.job = row.job;
  if (isObject(row.fields)) out.fields = row.fields;
  else if (typeof row.text === 'string') out.text = row.text;
  if (typeof row.truncated === 'number') out.truncated = row.truncated;
  if (isObject(row.redacted)) out.redacted = row.redacted as Record<string, number>;
  return out;
}

/** CSV/TSV results: the columns the reused rows hold beyond the run's own (a run whose every call was skipped has no lineage). */
async function addReusedShape(shape: LineageShape, prepared: Store, key: string): Promise<void> {
  const seen = new Set(shape.passthrough.map(passthroughColumn));
  for await (const row of reusedRows(prepared, key)) {
    for (const k in row) {
      if (isFixedColumn(k) || seen.has(k)) continue;
      seen.add(k);
      shape.passthrough.push(k);
    }
    if (row.truncated !== undefined) shape.truncated = true;
    if (row.redacted !== undefined) shape.redacted = true;
  }
}

function sameLocation(a: string, b: string): boolean {
  const norm = (u: string) => (/^s3:\/\//i.test(u) ? u.replace(/\/+$/, '') : openStoreRoot(u));
  return norm(a) === norm(b);
}

function openStoreRoot(uri: string): string {
  const store = openStore(uri) as Store & { root?: string };
  return store.root ?? uri.replace(/\/+$/, '');
}
