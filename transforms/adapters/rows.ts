/**
 * Row formats: CSV/TSV rows or JSONL objects, either one call per row (`call_id, transcript`) or
 * one utterance per row (`call_id, speaker, text[, start, end, role]`). An export is one utterance
 * per row when it has a speaker or role column (detected, or named with `speaker`) or when the user
 * says so (`rows: 'utterances'`); then rows that share a key on ADJACENT lines of one file are one
 * call's utterances, in order (docs/contracts.md, "Inputs"). In a one-call-per-row export (`rows: 'calls'`,
 * or no speaker or role column) every row is a call of its own: two rows with the same key, adjacent
 * or not, are two calls, and the id stage rejects the second (E_DUPLICATE_KEY naming both lines),
 * never one call with two transcripts.
 *
 * Columns are found on the first row of each file (names compared case- and separator-insensitively:
 * `call_id`, `CallId`, `call-id` are one name) unless `key` / `text` / `speaker` name them; an
 * ambiguous or failed detection throws `E_AMBIGUOUS_FORMAT` / `E_UNKNOWN_FORMAT` before any call flows.
 *
 * Counting (what "read" means for rows): the unit downstream is the CALL. Every group of adjacent
 * rows leaves as exactly one item, a `Call` or a `Reject` (`E_MISSING_TEXT` when no row had text,
 * `E_CALL_TOO_LARGE` when the call's text passed `maxCallBytes`; the reason says how many rows it
 * stands for). A row that cannot join any call (no key: `E_MISSING_KEY`; not an object:
 * `E_NOT_AN_OBJECT`) leaves as one reject of its own. So read = calls + rejects, with rows counted
 * inside them; rows with an empty text cell inside a call that has text are not separate units.
 *
 * A key that comes back after another key (A, B, A) is NOT merged here and no set of seen keys is
 * kept: the second run of A leaves as a second call with the same key, and the id stage downstream
 * rejects duplicate keys naming both lines. Memory is bounded by one call (`maxCallBytes`): once a
 * call passes the bound its turns are dropped and its remaining rows only counted.
 *
 * The column names detection looks for, and the rest of the format's contract: docs/formats.md §1.
 */
import { BatchError, preview } from '../../src/errors.js';
import { reject } from '../../src/records/types.js';
import type { Call, PrepareItem, Role, SourceItem, Turn } from '../../src/records/types.js';
import { stepStream, type Step } from '../../src/core/step.js';
import { isObject } from '../../src/core/values.js';
import { isScalar, keyString, makeTurn, normaliseAdapterOptions, pickPassthrough, roleFromLabel, secondsToMs, textString, turnBytes, type AdapterOptions, type PassthroughOption } from './common.js';

export interface RowOptions extends AdapterOptions {
  /** The call-id column (`--key`); detected when absent. */
  key?: string;
  /** The transcript or utterance text column (`--text`); detected when absent. */
  text?: string;
  /** The speaker column (`--speaker`); detected when absent, optional. */
  speaker?: string;
  /** What a row is (`--rows`): `calls` (one call per row) or `utterances` (adjacent rows with the
   * same key are one call). Default: utterances when the file has a speaker or role column. */
  rows?: RowKind;
  /** Every column role, already decided (say, on the file's first row by another thread): no
   * detection is done, so each piece of a file read in parallel maps its rows the same way. */
  columns?: RowColumns;
}

export type RowKind = 'calls' | 'utterances';

/** Whether a file with these columns is one utterance per row (its adjacent rows with the same key are one call). */
export function utteranceRows(columns: RowColumns, rows: RowKind | undefined): boolean {
  return rows === undefined ? columns.speaker !== undefined || columns.role !== undefined : rows === 'utterances';
}

/** Column names (normalised: lower case, letters and digits only) that hold a call id, best first. */
export const KEY_COLUMNS = [
  'callid',
  'contactid',
  'conversationid',
  'convoid',
  'dialogueid',
  'dialogid',
  'interactionid',
  'sessionid',
  'chatid',
  'transcriptid',
] as const;
/** Column names that hold the text; two of them in one file is ambiguous. */
export const TEXT_COLUMNS = [
  'transcript',
  'transcripttext',
  'fulltranscript',
  'text',
  'utterance',
  'utterancetext',
  'conversation',
  'content',
  'message',
  'messagetext',
  'body',
  'dialogue',
  'dialog',
] as const;
const SPEAKER_COLUMNS = ['speaker', 'speakerlabel', 'speakername', 'participant', 'author', 'sender', 'from', 'party', 'displayname'];
const ROLE_COLUMNS = ['role', 'speakerrole', 'participantrole', 'authorrole', 'speakertype', 'participanttype', 'sendertype'];
const START_COLUMNS = ['starttime', 'start', 'startms', 'startoffset', 'beginoffsetmillis', 'beginoffset', 'begin', 'startseconds', 'startsec', 'offset'];
const END_COLUMNS = ['endtime', 'end', 'endms', 'endoffset', 'endoffsetmillis', 'endseconds', 'endsec'];

/** `call_id` -> `callid`, `Conversation-ID` -> `conversationid`. */
export function normaliseColumn(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/** The columns a file's rows map to, found once per file. */
export interface RowColumns {
  key: string;
  text: string;
  speaker?: string;
  role?: string;
  start?: { column: string; unit: 'ms' | 's' };
  end?: { column: string; unit: 'ms' | 's' };
}

const FLAGS = 'name the columns with --key <column> and --text <column> (or --format to pick another adapter)';

function columnList(columns: string[]): string {
  const shown = columns.slice(0, 30).map((c) => JSON.stringify(preview(c, 40)));
  return `[${shown.join(', ')}${columns.length > 30 ? `, … ${columns.length - 30} more` : ''}]`;
}

function findExplicit(columns: string[], wanted: string, flag: string, file: string): string {
  if (columns.includes(wanted)) return wanted;
  const n = normaliseColumn(wanted);
  const matches = columns.filter((c) => normaliseColumn(c) === n);
  if (matches.length === 1) return matches[0]!;
  throw new BatchError(
    matches.length > 1 ? 'E_AMBIGUOUS_FORMAT' : 'E_UNKNOWN_FORMAT',
    matches.length > 1
      ? `--${flag} ${JSON.stringify(wanted)} matches several columns ${columnList(matches)}; give the exact name`
      : `--${flag} ${JSON.stringify(wanted)} is not a column; the columns are ${columnList(columns)}`,
    { file, hint: `--${flag} takes one of the column names shown` },
  );
}

/** The one column found for a role, else `E_AMBIGUOUS_FORMAT` (several) or `E_UNKNOWN_FORMAT` (none), naming the columns. */
function onlyCandidate(found: string[], columns: string[], role: { several: string; none: string }, file: string): string {
  if (found.length === 1) return found[0]!;
  throw new BatchError(
    found.length > 1 ? 'E_AMBIGUOUS_FORMAT' : 'E_UNKNOWN_FORMAT',
    found.length > 1 ? `several columns could be ${role.several}: ${columnList(found)}` : `no ${role.none} column among the columns ${columnList(columns)}`,
    { file, hint: FLAGS },
  );
}

/** Columns whose normalised name is in `names`, grouped by the first (best) name matched. */
function candidates(columns: string[], names: readonly string[]): string[] {
  for (const name of names) {
    const found = columns.filter((c) => normaliseColumn(c) === name);
    if (found.length > 0) return found;
  }
  return [];
}

function timeColumn(columns: string[], names: string[], first: Record<string, unknown>): RowColumns['start'] {
  for (const c of candidates(columns, names)) {
    const v = first[c];
    // Only offsets count as turn times: a number or a numeric string (a date such as
    // "2025-12-05 02:00:00" stays a passthrough column).
    if (!(typeof v === 'number' || (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))))) continue;
    const n = normaliseColumn(c);
    return { column: c, unit: /(ms|millis|milliseconds)$/.test(n) ? 'ms' : 's' };
  }
  return undefined;
}

/**
 * Map a file's columns from its first row. Throws `E_AMBIGUOUS_FORMAT` when two columns could be the
 * key or the text, `E_UNKNOWN_FORMAT` when none could; both name the columns seen and the flags.
 */
export function detectRowColumns(first: Record<string, unknown>, file: string, options: RowOptions = {}): RowColumns {
  const columns = Object.keys(first);
  let key: string;
  if (options.key !== undefined) key = findExplicit(columns, options.key, 'key', file);
  else {
    let found = candidates(columns.filter((c) => c !== options.text), KEY_COLUMNS);
    if (found.length === 0) found = columns.filter((c) => normaliseColumn(c) === 'id');
    key = onlyCandidate(found, columns, { several: 'the call id', none: 'call-id' }, file);
  }
  let text: string;
  if (options.text !== undefined) text = findExplicit(columns, options.text, 'text', file);
  else {
    const found = columns.filter((c) => c !== key && (TEXT_COLUMNS as readonly string[]).includes(normaliseColumn(c)));
    text = onlyCandidate(found, columns, { several: 'the transcript text', none: 'transcript-text' }, file);
  }
  if (key === text) {
    throw new BatchError('E_BAD_OPTION', `the key and the text are the same column ${JSON.stringify(key)}`, { file, hint: FLAGS });
  }
  const used = (c: string) => c === key || c === text;
  const out: RowColumns = { key, text };
  if (options.speaker !== undefined) out.speaker = findExplicit(columns, options.speaker, 'speaker', file);
  else {
    const s = candidates(columns.filter((c) => !used(c)), SPEAKER_COLUMNS)[0];
    if (s !== undefined) out.speaker = s;
  }
  const role = candidates(columns.filter((c) => !used(c) && c !== out.speaker), ROLE_COLUMNS)[0];
  if (role !== undefined) out.role = role;
  const start = timeColumn(columns, START_COLUMNS, first);
  if (start) out.start = start;
  const end = timeColumn(columns, END_COLUMNS, first);
  if (end) out.end = end;
  return out;
}

/** Whether the row adapter can read a file whose first item is `value` (throws on ambiguity). */
export function sniffRows(value: unknown, file: string, options: RowOptions = {}): boolean {
  if (!isObject(value)) return false;
  try {
    detectRowColumns(value, file, options);
    return true;
  } catch (error) {
    if (error instanceof BatchError && error.code === 'E_UNKNOWN_FORMAT') return false;
    throw error;
  }
}

interface Group {
  file: string;
  line: number;
  key: string;
  turns: Turn[];
  /** Text bytes counted against maxCallBytes. */
  size: number;
  rows: number;
  /** Input bytes of the rows, when the decoder told them. */
  inputBytes: number | undefined;
  /** Line of the row that passed the bound, once it has. */
  overAt: number | undefined;
  passthrough: Record<string, unknown> | undefined;
}

/**
 * The row adapter as a Step: `SourceItem` rows in, one `Call` or `Reject` per row (one call per
 * row) or per group of adjacent rows with the same key (utterances) out (see the file comment for
 * the counting rule). Other items pass through.
 */
export function rowCalls(options: RowOptions = {}): Step<PrepareItem, PrepareItem> {
  const opts = normaliseAdapterOptions(options);
  for (const flag of ['key', 'text', 'speaker'] as const) {
    const v = options[flag];
    if (v !== undefined && (typeof v !== 'string' || v === '')) {
      throw new BatchError('E_BAD_OPTION', `${flag} must be a non-empty column name, got ${preview(v)}`);
    }
  }
  if (options.rows !== undefined && options.rows !== 'calls' && options.rows !== 'utterances') {
    throw new BatchError('E_BAD_OPTION', `rows must be "calls" or "utterances", got ${preview(options.rows)}`);
  }
  const { maxCallBytes, passthrough } = opts;
  let file: string | undefined;
  let columns: RowColumns | undefined;
  let grouped = false;
  let exclude = new Set<string>();
  let group: Group | undefined;

  const flush = (emit: (item: PrepareItem) => void) => {
    const g = group;
    group = undefined;
    if (!g) return;
    const extra = g.inputBytes !== undefined ? { bytes: g.inputBytes } : {};
    const rows = g.rows === 1 ? '1 row' : `${g.rows} rows`;
    if (g.overAt !== undefined) {
      emit(
        reject(
          g,
          'adapt',
          'E_CALL_TOO_LARGE',
          `the call (${rows} from line ${g.line}) passed ${maxCallBytes} bytes of text at line ${g.overAt}; raise maxCallBytes (--max-call-bytes) or split the call`,
          extra,
        ),
      );
    } else if (g.turns.length === 0) {
      emit(
        reject(
          g,
          'adapt',
          'E_MISSING_TEXT',
          `the call (${rows} from line ${g.line}) has no text in column ${JSON.stringify(columns?.text)}; fill it or name the text column with --text`,
          extra,
        ),
      );
    } else {
      const call: Call = { kind: 'call', file: g.file, line: g.line, key: g.key, turns: g.turns };
      if (g.passthrough !== undefined && Object.keys(g.passthrough).length > 0) call.passthrough = g.passthrough;
      emit(call);
    }
  };

  const startFile = (item: SourceItem & { value: Record<string, unknown> }) => {
    file = item.file;
    columns = options.columns ?? detectRowColumns(item.value, item.file, options);
    grouped = utteranceRows(columns, options.rows);
    exclude = new Set([columns.key, columns.text]);
    for (const c of [columns.speaker, columns.role, columns.start?.column, columns.end?.column]) if (c) exclude.add(c);
  };

  return {
    write(item, emit) {
      if (item.kind !== 'item') return emit(item);
      if (item.file !== file) {
        flush(emit);
        file = undefined;
        columns = undefined;
      }
      const value = item.value;
      if (!isObject(value)) {
        emit(
          reject(item, 'adapt', 'E_NOT_AN_OBJECT', `expected a row of named columns, got ${Array.isArray(value) ? 'an array' : typeof value}`,
            item.bytes !== undefined ? { bytes: item.bytes } : {}),
        );
        return;
      }
      if (columns === undefined) startFile(item as SourceItem & { value: Record<string, unknown> });
      const cols = columns!;
      const key = keyString(value[cols.key]);
      const text = textString(value[cols.text]);
      if (key === undefined) {
        emit(
          reject(item, 'adapt', 'E_MISSING_KEY', `the row has no call id in column ${JSON.stringify(cols.key)}; fill it or name the id column with --key`,
            item.bytes !== undefined ? { bytes: item.bytes } : {}),
        );
        return;
      }
      if (group !== undefined && (!grouped || group.key !== key)) flush(emit);
      if (group === undefined) {
        group = {
          file: item.file,
          line: item.line,
          key,
          turns: [],
          size: 0,
          rows: 0,
          inputBytes: 0,
          overAt: undefined,
          passthrough: pickPassthrough(value, exclude, passthrough),
        };
      } else if (passthrough === 'auto' && group.passthrough !== undefined) {
        keepConstant(group.passthrough, value);
      }
      const g = group;
      g.rows++;
      g.inputBytes = item.bytes !== undefined && g.inputBytes !== undefined ? g.inputBytes + item.bytes : undefined;
      if (g.overAt !== undefined) return; // over the bound: the rest of the call is only counted
      if (text === undefined || text.trim() === '') return;
      const speakerValue = cols.speaker !== undefined ? textString(value[cols.speaker])?.trim() : undefined;
      const roleValue = cols.role !== undefined ? textString(value[cols.role])?.trim() : undefined;
      const speaker = speakerValue || roleValue || undefined;
      const role: Role | undefined = roleFromLabel(roleValue) ?? roleFromLabel(speakerValue);
      g.size += turnBytes(text, speaker);
      if (g.size > maxCallBytes) {
        g.overAt = item.line;
        g.turns = [];
        g.passthrough = undefined;
        return;
      }
      g.turns.push(makeTurn(text, speaker, role, timeOf(value, cols.start), timeOf(value, cols.end)));
    },
    end(emit) {
      flush(emit);
      file = undefined;
      columns = undefined;
    },
  };
}

/** The row adapter as an object-mode Transform. */
export function rowCallsStream(options: RowOptions = {}) {
  return stepStream(rowCalls(options));
}

function timeOf(row: Record<string, unknown>, col: RowColumns['start']): number | undefined {
  if (!col) return undefined;
  const v = row[col.column];
  if (col.unit === 's') return secondsToMs(v);
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? Math.round(n) : undefined;
}

/** In `auto` mode a grouped call keeps only the passthrough columns that are the same on every row. */
function keepConstant(passthrough: Record<string, unknown>, row: Record<string, unknown>): void {
  for (const name of Object.keys(passthrough)) {
    const v = row[name];
    if (!isScalar(v) || v !== passthrough[name]) delete passthrough[name];
  }
}

export type { PassthroughOption };
