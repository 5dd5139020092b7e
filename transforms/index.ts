/**
 * The call-center layer: source adapters (export formats to calls) and prompts (calls to prompt
 * text). `adaptCalls` + `promptCalls` are what `prepare` uses; each adapter is also usable alone,
 * and a user's own transform has the same shape (a Step from `SourceItem` to `Call`).
 */
export {
  DEFAULT_MAX_CALL_BYTES,
  PASSTHROUGH_MAX_CHARS,
  baseName,
  callBytes,
  checkCall,
  documentStep,
  fileKey,
  normaliseAdapterOptions,
  pickPassthrough,
  roleFromLabel,
  type AdapterOptions,
  type DocumentAdapter,
  type NormalisedAdapterOptions,
  type PassthroughOption,
} from './adapters/common.js';
export {
  KEY_COLUMNS,
  TEXT_COLUMNS,
  detectRowColumns,
  normaliseColumn,
  rowCalls,
  rowCallsStream,
  utteranceRows,
  type RowColumns,
  type RowKind,
  type RowOptions,
} from './adapters/rows.js';
export { transcribeAdapter, transcribeCalls, transcribeCallsStream } from './adapters/transcribe.js';
export { contactLensAdapter, contactLensCalls, contactLensCallsStream } from './adapters/contact-lens.js';
export { parseTranscriptText, textAdapter, textCalls, textCallsStream, textRole } from './adapters/text.js';
export { microsoftAdapter, microsoftCalls, microsoftCallsStream, parseMarkdownTranscript } from './adapters/microsoft.js';
export {
  abcdAdapter,
  abcdCalls,
  abcdCallsStream,
  taskmasterAdapter,
  taskmasterCalls,
  taskmasterCallsStream,
} from './adapters/chat-datasets.js';
export { whisperAdapter, whisperCalls, whisperCallsStream } from './adapters/whisper.js';
export {
  ADAPTER_DESCRIPTIONS,
  ADAPTER_NAMES,
  DOCUMENT_ADAPTERS,
  adaptCalls,
  adaptCallsStream,
  detectFormat,
  type AdaptOptions,
} from './adapters/detect.js';
export {
  CALL_SUMMARY_TEMPLATE,
  compileTemplate,
  promptCalls,
  promptCallsStream,
  renderTranscript,
  type PromptOptions,
} from './prompts/call-summary.js';
export { createStages, groupKeyOf, pinStages, type CallStageOptions } from './stages.js';

import type { StagesSpec } from '../src/parallel/stages.js';
import type { CallStageOptions } from './stages.js';

/**
 * The call stages as a spec for `prepareRun({ stages })`: the adapter and prompt built from these
 * options on every worker thread, so CSV and JSONL inputs are prepared on all cores.
 */
export function callStages(options: CallStageOptions = {}): StagesSpec<CallStageOptions> {
  return { module: new URL('./stages.js', import.meta.url).href, options };
}
