/**
 * Jobs: submit a prepared run as Bedrock batch jobs through `@aws-sdk/client-bedrock` (AWS or the
 * local service), keep a resumable ledger, watch to the end, and status / stop.
 */
export {
  submitRun,
  RunSubmission,
  countJobsInFlight,
  type JobState,
  type SubmitResult,
  type SubmitRunOptions,
  type SubmittedEvent,
  type TargetEvent,
  type WaitingEvent,
} from './submit.js';
export { watchJobs, JobWatch, withRetries, type PollOptions, type Progress, type RetryEvent, type WatchedJob, type WatchOptions } from './watch.js';
export { runStatus, stopJobs, type RunStatus, type RunStatusOptions, type StopJobsOptions, type StopOutcome } from './status.js';
export { Ledger, LEDGER_KEY, parseLedger, reduceLedger, type LedgerEvent, type LedgerJob, type LedgerState, type RecordCounts } from './ledger.js';
export {
  clientRequestTokenFor,
  jobNameFor,
  loadPreparedRun,
  verifyJobFolder,
  type JobSettings,
  type PreparedJob,
  type PreparedManifest,
  type PreparedRun,
} from './run.js';
export { decideMode, LOCAL_INPUT_BUCKET, LOCAL_OUTPUT_BUCKET, LOCAL_ROLE_ARN, type LocalRunOptions, type Mode } from '../target.js';
export { createBedrockClient, describeError, isRetryable, type BedrockClientOptions } from './client.js';
export { backoffDelay, type BackoffOptions } from './backoff.js';
export { reportSubmission, type ReporterOptions } from './progress.js';
