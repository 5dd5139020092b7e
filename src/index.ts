/**
 * bedrock-batch: the generic toolkit. Every stage of prepare is exported here so a user's own
 * `node` script can compose them with `stream/promises` `pipeline`:
 *
 *   pipeline(readInputs([...]), stepStream(fuse(adaptCalls(), promptCalls(), toRecords({...}),
 *            assignIds(), validateRecords({...}))), rollover({ store, quotas }))
 *
 * The call-center layer (source adapters, prompt templates) is `bedrock-batch/transforms`.
 */
export * from './errors.js';
export { fuse, mapStep, stepStream, type Emit, type Step, type StepStreamOptions } from './core/step.js';
export * from './read/index.js';
export * from './records/types.js';
export { assignIds, assignIdsStream, base62of64, checkIdOptions, digest64, duplicateKeyReject, IdRegistry, idSource, recordIdFor, RECORD_ID_PATTERN, type AssignIdsOptions, type DuplicateScope, type FirstSeen, type IdMode } from './records/ids.js';
export { toRecords, toRecordsStream, resolveModel, type ToRecordsOptions } from './records/to-records.js';
export { serializeRecord, validateRecords, validateRecordsStream, type ValidateRecordsOptions } from './records/validate.js';
export { estimateTokens } from './records/tokens.js';
export * from './models/index.js';
export { parseBytes, quotaProfile, QUOTA_PROFILES, type QuotaOverrides, type QuotaProfile } from './shards/quotas.js';
export { lineageLine, rejectLine, rollover, Rollover, type JobInfo, type RolloverOptions, type RolloverProblem, type RolloverResult, type ShardInfo } from './shards/rollover.js';
export * from './stores/index.js';
export { MANIFEST_KEY, prepareRecipe, prepareRun, type PrepareProgress, type PrepareRunOptions, type PrepareSummary } from './prepare.js';
// the prepared run, one owner: prepared.json, "is there a run here", its own files, its recipe
export { readPreparedRun, readPreparedRunIfAny, writePreparedRun, PREPARED_VERSION, type PreparedRunFile, type PreparedRunRead } from './run/prepared.js';
export { inspectRunLocation, refuseInTheWay, removeOwnFiles, type RunLocation } from './run/location.js';
export { recipeChanges, recipeOf, type Recipe } from './run/recipe.js';
export { prepareItems, type EngineItem, type EngineOptions, type EngineStats } from './parallel/engine.js';
export { loadStages, runtimeUrl, type PinnedStages, type StagesModule, type StagesSpec } from './parallel/stages.js';
export { type RecordBatch } from './shards/rollover.js';
// jobs and the local service (issue 4): submit / watch / resume / status / stop, and the embedded Bedrock batch service
export * from './jobs/index.js';
export * from './local/index.js';
// collect: output parsers, join, results writers, retry plans, token and cost report
export * from './results/index.js';
