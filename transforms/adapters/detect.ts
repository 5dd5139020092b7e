/**
 * `adaptCalls(options)`: the one adapter Step the CLI uses. For each input file it looks at the
 * file's first item, picks the format (or takes `options.format`), and hands that file's items to
 * the matching adapter. Detection throws before any of the file's calls flow: `E_UNKNOWN_FORMAT`
 * when nothing matches (naming the fields or columns seen, never values, and the flags to use),
 * `E_AMBIGUOUS_FORMAT` when the row columns are ambiguous. The formats, and the order detection
 * tries them in, are docs/formats.md §0.
 *
 * Files are taken one after the other, as the readers deliver them; when an item from a new file
 * arrives, the previous file's adapter is ended first (so a grouped call never spans two files).
 * Items that are not `SourceItem`s (rejects from the readers above all) pass through untouched.
 */
import { BatchError, preview } from '../../src/errors.js';
import type { PrepareItem, SourceItem } from '../../src/records/types.js';
import { stepStream, type Step } from '../../src/core/step.js';
import { isObject } from '../../src/core/values.js';
import { describeShape, documentStep, normaliseAdapterOptions, type DocumentAdapter } from './common.js';
import { abcdAdapter, taskmasterAdapter } from './chat-datasets.js';
import { contactLensAdapter } from './contact-lens.js';
import { microsoftAdapter } from './microsoft.js';
import { detectRowColumns, rowCalls, type RowOptions } from './rows.js';
import { textAdapter } from './text.js';
import { transcribeAdapter } from './transcribe.js';
import { whisperAdapter } from './whisper.js';

/** The whole-document adapters, in the order detection tries them (most specific first). */
export const DOCUMENT_ADAPTERS: readonly DocumentAdapter[] = [
  contactLensAdapter,
  transcribeAdapter,
  whisperAdapter,
  microsoftAdapter,
  abcdAdapter,
  taskmasterAdapter,
  textAdapter,
];

/** Every name `--format` takes. */
export const ADAPTER_NAMES = ['rows', ...DOCUMENT_ADAPTERS.map((a) => a.name)] as const;

/** `name: description` lines for `--help`. */
export const ADAPTER_DESCRIPTIONS: ReadonlyArray<{ name: string; description: string }> = [
  { name: 'rows', description: 'CSV/TSV rows or JSONL objects: one call per row, or one utterance per row grouped by adjacent call id' },
  ...DOCUMENT_ADAPTERS.map((a) => ({ name: a.name, description: a.description })),
];

export interface AdaptOptions extends RowOptions {
  /** Force one adapter (one of `ADAPTER_NAMES`) instead of detecting per file. `key`, `text` or
   * `speaker` without a format imply `rows`. */
  format?: string;
}

const FLAG_HINT = `pick the format with --format <${ADAPTER_NAMES.join('|')}>, or name the row columns with --key <column> --text <column>`;

/**
 * The format of a file from its first item: the first document adapter whose sniff matches, else
 * `rows` when the row columns can be found. Throws `E_UNKNOWN_FORMAT` (or the rows detector's
 * `E_AMBIGUOUS_FORMAT`) naming what was seen.
 */
export function detectFormat(first: SourceItem, options: RowOptions = {}): string {
  for (const adapter of DOCUMENT_ADAPTERS) if (adapter.sniff(first.value)) return adapter.name;
  let rowsWhy = '';
  if (isObject(first.value)) {
    try {
      detectRowColumns(first.value, first.file, options);
      return 'rows';
    } catch (error) {
      if (!(error instanceof BatchError) || error.code !== 'E_UNKNOWN_FORMAT') throw error;
      rowsWhy = `; as rows: ${error.message.replace(/^.*?: (?=no )/, '')}`;
    }
  }
  throw new BatchError(
    'E_UNKNOWN_FORMAT',
    `cannot tell the call format from the first item, ${describeShape(first.value)}: no adapter matches (tried ${ADAPTER_NAMES.join(', ')})${rowsWhy}`,
    { file: first.file, line: first.line, hint: FLAG_HINT },
  );
}

/** Source items to calls for any supported format, detected per file (see the file comment). */
export function adaptCalls(options: AdaptOptions = {}): Step<PrepareItem, PrepareItem> {
  normaliseAdapterOptions(options);
  const forced = options.format;
  if (forced !== undefined && !(ADAPTER_NAMES as readonly string[]).includes(forced)) {
    throw new BatchError('E_BAD_OPTION', `format must be one of ${ADAPTER_NAMES.join(', ')}, got ${preview(forced)}`);
  }
  const rowFlags = (['key', 'text', 'speaker'] as const).filter((f) => options[f] !== undefined);
  if (forced !== undefined && forced !== 'rows' && rowFlags.length > 0) {
    throw new BatchError('E_BAD_OPTION', `--${rowFlags[0]} applies to row formats only, not to --format ${forced}`, {
      hint: 'drop the column flags or use --format rows',
    });
  }
  const format = forced ?? (rowFlags.length > 0 ? 'rows' : undefined);
  const rows = rowCalls(options);
  const steps = new Map<string, Step<PrepareItem, PrepareItem>>([['rows', rows]]);
  for (const a of DOCUMENT_ADAPTERS) steps.set(a.name, documentStep(a, options));
  let file: string | undefined;
  let active: Step<PrepareItem, PrepareItem> | undefined;
  return {
    write(item, emit) {
      if (item.kind !== 'item') return emit(item);
      if (item.file !== file || active === undefined) {
        active?.end?.(emit);
        file = item.file;
        active = steps.get(format ?? detectFormat(item, options))!;
      }
      active.write(item, emit);
    },
    end(emit) {
      active?.end?.(emit);
      active = undefined;
      file = undefined;
    },
  };
}

/** `adaptCalls` as an object-mode Transform. */
export function adaptCallsStream(options: AdaptOptions = {}) {
  return stepStream(adaptCalls(options));
}
