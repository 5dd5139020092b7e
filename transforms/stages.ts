/**
 * The call-center stages as a module that prepare's worker threads can import: the same adapter and
 * prompt built from plain, serialisable options on every thread (see `StagesModule` in
 * src/parallel/stages.ts). `pinStages` fixes what detection decided on a file's first item, so every
 * piece of a file read in parallel is adapted exactly as one thread would adapt the whole file.
 */
import type { Step } from '../src/core/step.js';
import type { PrepareItem, SourceItem } from '../src/records/types.js';
import type { PinnedStages, RowRecipe, StagesModule } from '../src/parallel/stages.js';
import { adaptCalls, detectFormat, type AdaptOptions } from './adapters/detect.js';
import { isObject } from '../src/core/values.js';
import { keyString, normaliseAdapterOptions, pickPassthrough, textString } from './adapters/common.js';
import { detectRowColumns, utteranceRows } from './adapters/rows.js';
import { promptCalls, promptTemplate, type PromptOptions } from './prompts/call-summary.js';
import { redactCalls, type RedactOptions } from './redact/index.js';
import { fuse } from '../src/core/step.js';

export interface CallStageOptions {
  adapt?: AdaptOptions;
  /** Replace PII in every call before its prompt is built (transforms/redact, docs/redaction.md). */
  redact?: RedactOptions;
  prompt?: PromptOptions;
}

/** The adapter (then the redaction, when asked for) and prompt steps for these options. */
export function createStages(options: CallStageOptions = {}): { adapt: Step<PrepareItem, PrepareItem>; prompt: Step<PrepareItem, PrepareItem> } {
  const adapt = adaptCalls(options.adapt ?? {});
  return {
    adapt: options.redact !== undefined ? fuse<PrepareItem, PrepareItem>(adapt, redactCalls(options.redact)) : adapt,
    prompt: promptCalls(options.prompt ?? {}),
  };
}

/**
 * The options with the format (and, for rows, every column) detected on `first` fixed; undefined
 * when `first` cannot decide (a row that is not an object: the row adapter rejects it and looks at
 * the next one).
 */
export function pinStages(first: SourceItem, options: CallStageOptions = {}): PinnedStages<CallStageOptions> | undefined {
  const adapt = options.adapt ?? {};
  const implied = adapt.key !== undefined || adapt.text !== undefined || adapt.speaker !== undefined ? 'rows' : undefined;
  const format = adapt.format ?? implied ?? detectFormat(first, adapt);
  if (format !== 'rows') return { options: { ...options, adapt: { ...adapt, format } }, groupKey: undefined };
  if (adapt.columns === undefined && !isObject(first.value)) return undefined;
  const columns = adapt.columns ?? detectRowColumns(first.value as Record<string, unknown>, first.file, adapt);
  // Only an utterance export groups adjacent rows: a one-call-per-row file is cut anywhere between rows.
  return { options: { ...options, adapt: { ...adapt, format, columns } }, groupKey: utteranceRows(columns, adapt.rows) ? columns.key : undefined };
}

/** The key adjacent rows are grouped by, as the row adapter reads it (undefined: no key). */
export function groupKeyOf(item: SourceItem, column: string): string | undefined {
  return isObject(item.value) ? keyString(item.value[column]) : undefined;
}

/**
 * What the row adapter and the call-summary prompt do with each row of a file pinned to these
 * options, when it is that simple (see RowRecipe): one call per row, no speaker or role column
 * (the transcript is the text column as it is), no redaction (it rewrites the text, which the
 * fused path copies byte for byte). With `--fit truncate`, rows over the budget go to the stages.
 * Undefined otherwise: prepare then runs the stages.
 */
export function rowRecipe(pinned: CallStageOptions): RowRecipe | undefined {
  if (pinned.redact !== undefined) return undefined;
  const adapt = pinned.adapt ?? {};
  const columns = adapt.columns;
  if (adapt.format !== 'rows' || columns === undefined) return undefined;
  if (columns.speaker !== undefined || columns.role !== undefined || utteranceRows(columns, adapt.rows)) return undefined;
  const { maxCallBytes, passthrough } = normaliseAdapterOptions(adapt);
  const prompt = pinned.prompt ?? {};
  const exclude = [columns.start?.column, columns.end?.column].filter((c): c is string => c !== undefined);
  const excluded = new Set([columns.key, columns.text, ...exclude]);
  return {
    key: columns.key,
    text: columns.text,
    template: promptTemplate(prompt),
    ...(prompt.system !== undefined ? { system: prompt.system } : {}),
    passthrough,
    exclude,
    maxCallBytes,
    ...(prompt.fit?.mode === 'truncate' ? { fitBudget: prompt.fit.budgetTokens } : {}),
    read: {
      key: (row) => keyString(row[columns.key]),
      text: (row) => textString(row[columns.text]),
      passthrough: (row) => pickPassthrough(row, excluded, passthrough),
    },
  };
}

const stages: StagesModule<CallStageOptions> = { createStages, pinStages, groupKeyOf, rowRecipe };
export default stages;
