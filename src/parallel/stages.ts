/**
 * How prepare's worker threads get the caller's stages. Steps are closures and cannot cross a thread,
 * so parallel prepare takes a module (by URL) and plain options, and every thread builds the same
 * steps from them. `bedrock-batch/transforms/stages` is the module for the call-center stages; a
 * user's own module of the same shape runs their own adapter and prompt in parallel too.
 */
import type { Step } from '../core/step.js';
import type { PrepareItem, SourceItem } from '../records/types.js';

export interface PinnedStages<O> {
  /** The options with every per-file decision fixed (format, columns). */
  options: O;
  /** When adjacent items with the same value of this field are one call (utterance rows), the field:
   * a file cut into pieces is then cut between groups. Undefined when every item is a call of its own. */
  groupKey: string | undefined;
}

/**
 * How the stages turn one CSV row into one call's prompt, when they do exactly this for every row of
 * a file: one call per row, the whole transcript one column (one turn, no speaker), a template. A
 * stages module that declares it lets prepare encode such rows by its fused path (fused.ts), which
 * writes byte for byte what the stages would; rows it cannot encode exactly still go through them.
 */
export interface RowRecipe {
  /** The call id's column (trimmed; a blank id is the adapter's reject). */
  key: string;
  /** The transcript's column: one turn without a speaker, the prompt's `{{transcript}}`. */
  text: string;
  /** The prompt: literal text and placeholders (`transcript`, `key`, or a passthrough column). */
  template: Array<{ text: string } | { field: string }>;
  /** The system prompt the prompt step gives every call, if any. */
  system?: string;
  /** The columns kept for the lineage (the adapters' `PassthroughOption` rule), never these. */
  passthrough: 'auto' | '*' | 'none' | string[];
  /** Columns the adapter reads for the call itself besides key and text (times): never passed through. */
  exclude: string[];
  /** The most text bytes a call may hold (the adapters' `maxCallBytes`). */
  maxCallBytes: number;
  /** With `--fit truncate`: the estimated tokens a rendered prompt may take; a row over it goes
   * through the stages, whose prompt step truncates it (a row under it is written unchanged). */
  fitBudget?: number;
  /** The adapter's own readers of a decoded row (a JSON Lines object), for the fused path of rows
   * that arrive decoded: the call id (trimmed), the transcript, the passthrough fields. */
  read?: {
    key(row: Record<string, unknown>): string | undefined;
    text(row: Record<string, unknown>): string | undefined;
    passthrough(row: Record<string, unknown>): Record<string, unknown> | undefined;
  };
}

export interface StagesModule<O = unknown> {
  /** The adapter (source items to calls) and prompt (calls to prompts) steps for these options. */
  createStages(options: O): { adapt: Step<PrepareItem, PrepareItem>; prompt: Step<PrepareItem, PrepareItem> };
  /** Fix what detection decides on a file's first source item; undefined to look at a later item. */
  pinStages(first: SourceItem, options: O): PinnedStages<O> | undefined;
  /** The group key of an item (see `groupKey`); undefined when the item has none (it joins no group). */
  groupKeyOf(item: SourceItem, groupKey: string): string | undefined;
  /** Optional: the row recipe of these pinned options (see RowRecipe), when a row is all they use. */
  rowRecipe?(pinned: O): RowRecipe | undefined;
}

/** A stages module by URL (`import.meta.resolve`-able, e.g. a `file:` URL) and its options. */
export interface StagesSpec<O = unknown> {
  module: string | URL;
  options: O;
}

/** Import a stages module (its default export, or the module itself); `built`: its build under
 * dist/ when running from sources (what worker threads need, see `runtimeUrl`). */
export async function loadStages<O>(spec: StagesSpec<O>, options: { built?: boolean } = {}): Promise<StagesModule<O>> {
  const href = options.built ? runtimeUrl(spec.module) : String(spec.module);
  const mod = (await import(href)) as { default?: StagesModule<O> } & Partial<StagesModule<O>>;
  const m = (mod.default ?? mod) as StagesModule<O>;
  for (const fn of ['createStages', 'pinStages', 'groupKeyOf'] as const) {
    if (typeof m[fn] !== 'function') throw new Error(`stages module ${String(spec.module)} does not export ${fn}()`);
  }
  return m;
}

/**
 * The URL of the built JavaScript for a module of this package. When the package runs from its
 * TypeScript sources (the test suite), a source URL (`.ts`, or a `.js` name resolved next to one)
 * maps to its build under `dist/`, which worker threads can load; any other URL passes unchanged.
 */
export function runtimeUrl(url: string | URL): string {
  const href = String(url);
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return href; // running the build: URLs already point at JavaScript
  const root = new URL('../../', here).href; // <root>/src/parallel/stages.ts
  if (!href.startsWith(root) || href.startsWith(`${root}dist/`)) return href;
  return `${root}dist/${href.slice(root.length).replace(/\.ts$/, '.js')}`;
}
