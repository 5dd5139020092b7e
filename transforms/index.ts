/**
 * The call-center layer: source adapters (export formats to calls) and prompts (calls to prompt
 * text). `adaptCalls` + `promptCalls` are what `prepare` uses; each adapter is also usable alone,
 * and a user's own transform has the same shape (a Step from `SourceItem` to `Call`).
 */
// adapters: export formats to calls, detected per file, or one format alone
export { ADAPTER_DESCRIPTIONS, ADAPTER_NAMES, adaptCalls, adaptCallsStream, type AdaptOptions } from './adapters/detect.js';
export { DEFAULT_MAX_CALL_BYTES, type AdapterOptions, type PassthroughOption } from './adapters/common.js';
export { rowCalls, rowCallsStream, type RowKind, type RowOptions } from './adapters/rows.js';
export { transcribeCalls, transcribeCallsStream } from './adapters/transcribe.js';
export { contactLensCalls, contactLensCallsStream } from './adapters/contact-lens.js';
export { textCalls, textCallsStream } from './adapters/text.js';
export { microsoftCalls, microsoftCallsStream } from './adapters/microsoft.js';
export { abcdCalls, abcdCallsStream, taskmasterCalls, taskmasterCallsStream } from './adapters/chat-datasets.js';
export { whisperCalls, whisperCallsStream } from './adapters/whisper.js';

// prompts: calls to prompt text
export { CALL_SUMMARY_TEMPLATE, fitTranscript, promptCalls, promptCallsStream, renderTranscript, type FitOptions, type PromptOptions } from './prompts/call-summary.js';
export { CALL_INSIGHTS_TEMPLATE } from './prompts/call-insights.js';

// redaction: PII out of calls before any prompt is built
export { PII_TYPES, checkRedactOptions, createRedactor, formatRedactionTable, measureRedaction, parseLabelled, redactCalls, redactCallsStream, type PiiType, type RedactOptions } from './redact/index.js';

// both, as prepareRun's stages on every worker thread
import type { StagesSpec } from '../src/parallel/stages.js';
import type { CallStageOptions } from './stages.js';

export type { CallStageOptions };

/**
 * The call stages as a spec for `prepareRun({ stages })`: the adapter and prompt built from these
 * options on every worker thread, so CSV and JSONL inputs are prepared on all cores.
 */
export function callStages(options: CallStageOptions = {}): StagesSpec<CallStageOptions> {
  return { module: new URL('./stages.js', import.meta.url).href, options };
}
