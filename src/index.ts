/**
 * bedrock-batch: the generic toolkit's public API, what a pipeline author composes. Every stage of
 * prepare is here so a user's own `node` script can compose them with `stream/promises` `pipeline`:
 *
 *   pipeline(readInputs([...]), stepStream(fuse(adaptCalls(), promptCalls(), toRecords({...}),
 *            assignIds(), validateRecords({...}))), rollover({ store, quotas }))
 *
 * and so are the later stages (submit, watch, collect) and the embedded local service. The
 * call-center layer (source adapters, prompt templates) is `bedrock-batch/transforms`. What is not
 * listed here is internal; test/package/api.test.ts pins this list, so a change to it is deliberate.
 */

// errors: every failure is a BatchError with a code (README.md, "Errors")
export { BatchError, isBatchError, type ErrorCode, type ErrorContext } from './errors.js';

// steps: a stage's logic as a Step, run as a stream or fused with others into one
export { decoderStream, fuse, mapStep, stepStream, type Decoder, type DecoderStreamOptions, type Emit, type Step, type StepStreamOptions } from './core/step.js';

// what flows between the stages (docs/contracts.md)
export {
  reject,
  type Call,
  type Lineage,
  type Origin,
  type PreparedRecord,
  type PrepareItem,
  type PromptItem,
  type Reject,
  type RejectStage,
  type Role,
  type SourceItem,
  type Turn,
} from './records/types.js';

// sources: inputs expanded, opened (gzip, s3://, stdin), decoded by format
export {
  decodeInput,
  decoderFor,
  expandInputs,
  INPUT_FORMATS,
  openInput,
  openSource,
  readInput,
  readInputs,
  type ByteReader,
  type InputFormat,
  type OpenedInput,
  type OpenOptions,
  type ReadInputsOptions,
} from './read/index.js';

// decoders: bytes to source items, one Transform per format
export { csvRows, jsonItems, jsonlRows, textDocument, type CsvEngine, type CsvOptions, type JsonlOptions, type JsonOptions, type TextOptions } from './read/index.js';

// records: prompts to model records, recordIds, validation
export { toRecords, toRecordsStream, type ToRecordsOptions } from './records/to-records.js';
export { assignIds, assignIdsStream, IdRegistry, idSource, RECORD_ID_PATTERN, recordIdFor, type AssignIdsOptions, type DuplicateScope, type IdMode } from './records/ids.js';
export { serializeRecord, validateRecords, validateRecordsStream, type ValidateRecordsOptions } from './records/validate.js';
export { estimateTokens } from './records/tokens.js';

// model families: which family builds a model's records and reads its outputs
export {
  FAMILIES,
  familyFor,
  parseModelId,
  SUPPORTED_MODEL_PATTERNS,
  type FamilyForOptions,
  type FamilyName,
  type InvocationType,
  type ModelFamily,
  type ModelIdKind,
  type ModelLimits,
  type ModelOptions,
  type ModelOutputSummary,
  type ParsedModelId,
  type PromptText,
  type StructuredRequest,
  type StructuredVia,
  type ValidationIssue,
} from './models/index.js';

// Bedrock's vocabulary: job statuses
export { isTerminal, TERMINAL_STATUSES, type JobStatus } from './bedrock/vocabulary.js';

// shards within the quotas
export { QUOTA_PROFILES, quotaProfile, type QuotaOverrides, type QuotaProfile } from './bedrock/quotas.js';
export { rollover, Rollover, type JobInfo, type RolloverOptions, type RolloverProblem, type RolloverResult, type ShardInfo } from './shards/rollover.js';

// stores: where runs, outputs and results live (a local directory or S3)
export { LocalStore, openStore, S3Store, type ObjectInfo, type S3StoreOptions, type Store, type StoreOptions, type WriteOptions } from './stores/index.js';

// prepare in one call, and the prepared run it writes
export { prepareRun, type PrepareProgress, type PrepareRunOptions, type PrepareSummary } from './prepare.js';
export type { PinnedStages, StagesModule, StagesSpec } from './parallel/stages.js';
export {
  PREPARED_VERSION,
  readPreparedRun,
  readPreparedRunIfAny,
  writePreparedRun,
  type PreparedJob,
  type PreparedRunFile,
  type PreparedRunRead,
  type PreparedShard,
  type RetryOrigin,
} from './run/prepared.js';

// jobs: submit a prepared run, watch its jobs, status, stop
export { createBedrockClient, type BedrockClientOptions } from './jobs/client.js';
// one AWS configuration for every client: the profile's region and endpoints, as the AWS CLI reads them
export { resolveAwsOptions, resolveAwsSettings, type AwsClientOptions, type AwsSettings } from './aws/config.js';
export { JobWatch, watchJobs, type PollOptions, type Progress, type RetryEvent, type WatchedJob, type WatchOptions } from './jobs/watch.js';
export { runStatus, stopJobs, type RunStatus, type RunStatusOptions, type StopJobsOptions, type StopOutcome } from './jobs/status.js';
export { RunSubmission, submitRun, type JobState, type SubmitMode, type SubmitResult, type SubmitRunOptions, type SubmittedEvent, type TargetEvent, type WaitingEvent } from './jobs/submit.js';
export { checkBudget, describeBudget, type BudgetCheck, type BudgetOptions } from './jobs/budget.js';
export { createBedrockRuntimeClient } from './jobs/client.js';
export { Ledger, isOnDemandArn, type LedgerEvent, type LedgerState } from './jobs/ledger.js';
// on demand: a job folder answered record by record through the Bedrock Runtime (docs/on-demand.md)
export { onDemandJobId, runOnDemandJob, type OnDemandJobOptions, type OnDemandLimits, type OnDemandResult } from './ondemand/runner.js';
export { onDemandModelId } from './ondemand/profiles.js';
// steps, cleanup and expiry tags (docs/deploy.md, docs/cleanup.md)
export { acquireLease, writeStepStatus, type StepStatus } from './run/step.js';
export { cleanRun, tagRunOutputs, type CleanOptions, type CleanSummary } from './run/clean.js';
export { EXPIRE_TAG_KEY, expireTags } from './stores/tags.js';
export type { BackoffOptions } from './jobs/backoff.js';
export type { LocalRunOptions, Mode } from './target.js';
export type { RecordCounts } from './jobs/ledger.js';

// the embedded local Bedrock batch service, and the local models it answers with
export { extractiveSummariser, ModelCallError, openAiChatModel, type ExtractiveOptions, type LocalModel, type ModelContext, type OpenAiChatOptions } from './local/models.js';
export { localClientConfig, startLocalService, type LocalService, type StartLocalServiceOptions } from './local/server.js';
export type { ChatTurn, ModelAnswer, ModelRequest } from './local/responses.js';
export type { JobSelector, LocalFaults } from './local/faults.js';
export type { LocalBatchService, LocalDelays, LocalServiceOptions, Transition } from './local/service.js';
export type { StoredJob } from './local/jobs.js';
export type { StoreResolver } from './local/stores.js';

// collect: outputs joined to their calls by recordId, one typed result per record
export { answerSchemaOf, collectResults, Collector, lineageColumns, lineageShape, type CollectOptions, type CollectProgress } from './results/collect.js';
export { AnswerValidator, firstJsonObject, type AnswerSchema } from './results/structured.js';
export { jsonSummary as collectJsonSummary } from './results/json-summary.js';
export { collectRun, type CollectRunOptions, type CollectRunSummary } from './results/run.js';
export { readModelOutput } from './results/model-output.js';
export type { BadLine, CollectResult, CollectSummary, ErrorResult, FieldTally, InvalidResult, JobTally, ManifestIssue, MissingResult, RecordError, ResultKind, SuccessResult } from './results/types.js';

// results writers: JSONL, CSV, TSV
export { RESULT_COLUMNS, resultJsonLine, resultRow, ResultsWriter, resultsWriter, type ResultsFormat, type ResultsWriterOptions, type RowOptions } from './results/writers.js';

// retry planning: retry runs and dead letters
export { DEFAULT_MAX_ATTEMPTS, isRetryable as isRetryableRecordError, planRetries, RetryPlanner, type Decision, type Disposition, type RetryPlanOptions, type RetryPlanSummary } from './results/retry.js';

// estimate and prices: tokens and cost, before submitting and after collecting
export { costOf, defaultPrices, loadPrices, onDemandPriceFor, priceFor, type ModelPrice, type PriceRow, type PriceTable } from './results/prices.js';
export { costReport, isOnDemandJobId, type CostLine, type CostReport, type TokenSource } from './results/report.js';
export { loadSchema, checkSchema, schemaName, BUILT_IN_SCHEMA, CALL_INSIGHTS, CALL_INSIGHTS_NAME, chooseVia, structuredVias, jsonInstruction, nativeSchema, type LoadedSchema } from './schema/index.js';
export { fitBudget, FIT_MARGIN } from './records/fit.js';
export { HtmlReport, renderReport, DEFAULT_REPORT_ROWS, type ReportRow, type HtmlReportOptions, type HtmlReportWritten } from './results/report-html.js';
export { estimateRun, withCountTokens, type EstimateOptions, type EstimateReport } from './results/estimate.js';
// daily exports: nothing answered twice (docs/daily-exports.md)
export { AnsweredIndex, resolveAnsweredSources, reusedRows } from './results/reuse.js';
export { recordRequest } from './records/request-hash.js';
export { countRunTokens, type CountRunTokensOptions, type ExactTokens } from './results/count-tokens.js';
export { describeQuotaSources, resolveQuotaProfile, type ResolvedQuotaProfile } from './aws/service-quotas.js';
export { QUOTA_CHOICES } from './bedrock/quotas.js';
