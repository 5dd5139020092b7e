/**
 * collect as one call, the way the CLI runs it: results stream from the Collector into a results
 * writer and the retry planner side by side, and the run ends with the token and cost report and
 * counts that reconcile (submitted = succeeded + failed + missing, per job and in total; and
 * failed + missing = retried + dead-lettered + pending).
 */
import { BatchError } from '../errors.js';
import type { QuotaProfile } from '../bedrock/quotas.js';
import { quotaProfile } from '../bedrock/quotas.js';
import { openStore, type StoreOptions } from '../stores/index.js';
import type { Store } from '../stores/store.js';
import type { Writable } from 'node:stream';
import { collectResults, lineageColumns, type CollectOptions, type CollectProgress } from './collect.js';
import { fileTarget, readPrepared, storeOf } from './layout.js';
import { defaultPrices, type PriceTable } from './prices.js';
import { costReport, type CostReport } from './report.js';
import { planRetries, type RetryPlanSummary } from './retry.js';
import type { CollectSummary, RecordError } from './types.js';
import { formatOf, resultsWriter, type ResultsFormat } from './writers.js';

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
}

/** Run a whole collection: see the module comment. */
export async function collectRun(options: CollectRunOptions): Promise<CollectRunSummary> {
  const prepared = storeOf(options.prepared, options.s3);
  const run = await readPrepared(prepared);
  const attempt = run.retry?.attempt ?? 1;
  const prices = options.prices ?? defaultPrices();
  const resultsUri = options.results ?? prepared.resolve('results.jsonl');
  const format = options.format ?? formatOf(resultsUri) ?? 'jsonl';
  const passthroughColumns = format === 'jsonl' ? undefined : await lineageColumns(prepared);
  const collector = collectResults({
    outputs: storeOf(options.outputs, options.s3),
    prepared,
    ...(options.family !== undefined ? { family: options.family } : {}),
    ...(options.ledger !== undefined ? { ledger: options.ledger } : {}),
    ...(options.partial ? { partial: true } : {}),
    ...(options.assumeEnded ? { assumeEnded: true } : {}),
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
        });
  if (planner && sameLocation(planner.uri, prepared.uri)) {
    throw new BatchError('E_BAD_OPTION', `the retry run cannot go to the prepared run itself (${prepared.uri})`, { hint: 'give --retry another location' });
  }
  await planner?.check();
  const writer = resultsWriter({
    target: resultsUri === '-' ? { stream: options.stdout ?? process.stdout, name: '-' } : fileTarget(resultsUri, options.s3),
    format,
    ...(passthroughColumns ? { passthroughColumns } : {}),
    raw: options.raw === true,
    escapeFormulas: options.escapeFormulas !== false,
  });
  try {
    for await (const batch of collector.batches()) {
      for (const r of batch) {
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
  } catch (error) {
    writer.abort(error as Error);
    await planner?.abort(error as Error);
    throw error;
  }
  const results = await writer.close();
  const plan = planner ? await planner.finish() : undefined;
  const summary = collector.summary;
  if (plan) {
    const handled = plan.retry.records + plan.retry.rejected + plan.deadLetter.records + plan.pending;
    if (handled !== summary.failed + summary.missing) {
      throw new BatchError('E_COUNTS', `retry plan: ${summary.failed} failed + ${summary.missing} missing, but ${plan.retry.records} retried + ${plan.deadLetter.records} dead-lettered + ${plan.pending} pending`, {
        hint: 'this is a bug in collect; please report it',
      });
    }
  }
  return { collect: summary, results, ...(plan ? { plan } : {}), cost: costReport(summary, prices) };
}

function sameLocation(a: string, b: string): boolean {
  const norm = (u: string) => (/^s3:\/\//i.test(u) ? u.replace(/\/+$/, '') : openStoreRoot(u));
  return norm(a) === norm(b);
}

function openStoreRoot(uri: string): string {
  const store = openStore(uri) as Store & { root?: string };
  return store.root ?? uri.replace(/\/+$/, '');
}
