/** collect: output and manifest parsers, the join, results writers, retry plans, the token and cost report. */
export type * from './types.js';
export { Collector, collectResults, lineageColumns, type CollectOptions, type CollectProgress } from './collect.js';
export { recordErrorOf } from './join.js';
export { LINEAGE_RESERVED, parseLineageLine } from '../run/sidecars.js';
export { parseOutputLine, parseOutputLineFull, scanOutputLine, scanRanges, sniffRecordId, type OutputLine, type ParseOutcome, type ScannedRanges } from './output-line.js';
export { familyOfOutput, readModelOutput } from './model-output.js';
export { addManifest, parseManifest, reconcileManifest, type ParsedCounts } from './manifest.js';
export { readLedger as readOutputLedger, type OutputLedger, type OutputLedgerJob } from './ledger.js';
export { fileTarget, PREPARED_KEY, readPrepared, type PreparedRunFile } from './layout.js';
export { findOutputFolders, type OutputFolder } from '../run/outputs.js';
export { OUTPUT_MANIFEST } from '../bedrock/vocabulary.js';
export { formatOf, passthroughColumn, RESULT_COLUMNS, resultJsonLine, resultRow, resultsWriter, ResultsWriter, type ResultsFormat, type ResultsWriterOptions, type RowOptions } from './writers.js';
export { DEFAULT_MAX_ATTEMPTS, isRetryable as isRetryableRecordError, planRetries, RetryPlanner, type Decision, type Disposition, type RetryPlanOptions, type RetryPlanSummary } from './retry.js';
export { costOf, defaultPrices, loadPrices, priceFor, priceLabel, type ModelPrice, type PriceRow, type PriceTable } from './prices.js';
export { costReport, formatMoney, type CostLine, type CostReport, type TokenSource } from './report.js';
export { estimateFromTotals, estimateRun, recordTokens, type EstimateOptions, type EstimateReport } from './estimate.js';
export type { RetryLineage } from '../run/sidecars.js';
export { collectRun, type CollectRunOptions, type CollectRunSummary } from './run.js';
