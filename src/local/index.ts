/**
 * The embedded local Bedrock batch service: Bedrock's control-plane API for model invocation jobs
 * on 127.0.0.1, a job runner that reads and writes through the store interface, a pluggable local
 * model, and fault injection. See server.ts (HTTP), service.ts (the operations and a job's
 * lifecycle, composing jobs.ts, plan.ts, slots.ts and runner.ts), models.ts (the model).
 */
export { acquireLock, readLock, LocalLockedError, type LockInfo, type LockOptions, type StateLock } from './state.js';
export { startLocalService, localClientConfig, localCredentials, type LocalService, type StartLocalServiceOptions } from './server.js';
export { LocalBatchService, type LocalDelays, type LocalServiceOptions, type Transition } from './service.js';
export type { StoredJob } from './jobs.js';
export {
  extractiveSummariser,
  extractiveSummary,
  openAiChatModel,
  ModelCallError,
  STAND_IN_LABEL,
  type ExtractiveOptions,
  type LocalModel,
  type ModelContext,
  type OpenAiChatOptions,
} from './models.js';
export { familyOfShape, modelOutputFor, requestOf, type ChatTurn, type ModelAnswer, type ModelRequest } from './responses.js';
export { parseFaults, type JobSelector, type LocalFaults } from './faults.js';
export { mountResolver, rootResolver, s3Resolver, DotSafeStore, type StoreResolver } from './stores.js';
export { ConfinedStore, type ConfinedStoreOptions } from './confined.js';
export { ServiceError } from './errors.js';
