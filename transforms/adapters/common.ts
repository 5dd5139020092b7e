/**
 * Helpers shared by the source adapters: option normalising, keys from file names, roles from
 * labels, passthrough columns, and `documentStep`, which turns a one-item-one-call adapter into a
 * Step. Adapters that need no state between items (one JSON document, array element or text file
 * per call) are a `DocumentAdapter`; the row adapter (`rows.ts`) groups rows and is a Step of its own.
 * The rules every format shares (key fallback, roles from labels, passthrough, the size bound) are
 * docs/formats.md §0.
 */
import { isObject } from '../../src/core/values.js';
import { BatchError, preview } from '../../src/errors.js';
import { reject } from '../../src/records/types.js';
import type { Call, PrepareItem, Reject, Role, SourceItem, Turn } from '../../src/records/types.js';
import type { Step } from '../../src/core/step.js';

/** Default bound on one call's text: 1 MiB of UTF-8 (text and speaker labels, summed over turns). */
export const DEFAULT_MAX_CALL_BYTES = 1024 * 1024;

/** In `auto` passthrough mode, values longer than this many characters are left out. */
export const PASSTHROUGH_MAX_CHARS = 256;

/**
 * Which source fields travel to the lineage sidecar (never to the model):
 * - `'auto'` (default): the other scalar fields (string, number, boolean) whose value is at most
 *   256 characters; for grouped rows, only the fields whose value is the same on every row of the call.
 * - `'*'`: every other scalar field, whatever its length (from the call's first row).
 * - `'none'`: nothing.
 * - a list of field names: exactly those fields, when present and scalar (from the call's first row).
 * Fields that feed the call itself (key, text, speaker, role, times) are never passed through.
 */
export type PassthroughOption = 'auto' | '*' | 'none' | string[];

/** Options every adapter understands. */
export interface AdapterOptions {
  /** Most UTF-8 bytes of text (with speaker labels) one call may hold (default 1 MiB); a larger
   * call becomes one `E_CALL_TOO_LARGE` reject. */
  maxCallBytes?: number;
  /** Source fields kept for the results file (default `'auto'`). */
  passthrough?: PassthroughOption;
}

export interface NormalisedAdapterOptions {
  maxCallBytes: number;
  passthrough: PassthroughOption;
}

/** Check and default the options every adapter shares; a bad value throws `E_BAD_OPTION`. */
export function normaliseAdapterOptions(options: AdapterOptions = {}): NormalisedAdapterOptions {
  const maxCallBytes = options.maxCallBytes ?? DEFAULT_MAX_CALL_BYTES;
  if (!Number.isInteger(maxCallBytes) || maxCallBytes < 1) {
    throw new BatchError('E_BAD_OPTION', `maxCallBytes must be a positive integer, got ${preview(maxCallBytes)}`);
  }
  const passthrough = options.passthrough ?? 'auto';
  const okList = Array.isArray(passthrough) && passthrough.every((p) => typeof p === 'string' && p.length > 0);
  if (!okList && passthrough !== 'auto' && passthrough !== '*' && passthrough !== 'none') {
    throw new BatchError(
      'E_BAD_OPTION',
      `passthrough must be 'auto', '*', 'none' or a list of column names, got ${preview(passthrough)}`,
    );
  }
  return { maxCallBytes, passthrough: Array.isArray(passthrough) ? [...passthrough] : passthrough };
}

/** A format whose every source item is one whole call (a JSON document, an array element, a text file). */
export interface DocumentAdapter {
  /** The name `--format` takes. */
  readonly name: string;
  /** One line for `--help`. */
  readonly description: string;
  /** Whether a file's first item looks like this format (cheap: looks at keys, not at all values). */
  sniff(value: unknown): boolean;
  /** One item to one call, or a reject naming what is missing. Size and empty-text checks follow in
   * `documentStep`, so an adapter only builds turns. */
  adapt(item: SourceItem, options: NormalisedAdapterOptions): Call | Reject;
}

/**
 * Run a document adapter as a Step: each `SourceItem` becomes exactly one `Call` or one `Reject`
 * (`E_MISSING_TEXT` when the call has no text, `E_CALL_TOO_LARGE` over `maxCallBytes`); every other
 * item passes through untouched.
 */
export function documentStep(adapter: DocumentAdapter, options: AdapterOptions = {}): Step<PrepareItem, PrepareItem> {
  const opts = normaliseAdapterOptions(options);
  return {
    write(item, emit) {
      if (item.kind !== 'item') return emit(item);
      emit(checkCall(adapter.adapt(item, opts), opts, item.bytes));
    },
  };
}

/** Reject a call with no text or with more text than the bound; pass a good call (or a reject) on. */
export function checkCall(out: Call | Reject, options: NormalisedAdapterOptions, bytes?: number): Call | Reject {
  if (out.kind === 'reject') {
    if (bytes !== undefined && out.bytes === undefined) out.bytes = bytes;
    return out;
  }
  const extra = bytes !== undefined ? { bytes } : {};
  out.turns = out.turns.filter((t) => t.text.trim() !== '');
  if (out.turns.length === 0) {
    return reject(out, 'adapt', 'E_MISSING_TEXT', 'the call has no transcript text; check that the export holds the transcript', extra);
  }
  const size = callBytes(out.turns);
  if (size > options.maxCallBytes) {
    return reject(
      out,
      'adapt',
      'E_CALL_TOO_LARGE',
      `the call holds ${size} bytes of text, over the ${options.maxCallBytes}-byte bound; raise maxCallBytes (--max-call-bytes) or split the call`,
      extra,
    );
  }
  return out;
}

/** The bytes a call's turns count against `maxCallBytes`: UTF-8 text plus speaker label plus one per turn. */
export function callBytes(turns: Turn[]): number {
  let n = 0;
  for (const t of turns) n += turnBytes(t.text, t.speaker);
  return n;
}

export function turnBytes(text: string, speaker?: string): number {
  return Buffer.byteLength(text) + (speaker ? Buffer.byteLength(speaker) : 0) + 1;
}

/** `dir/sub/1034.txt` -> `1034`; `s3://b/k/x.json.gz` -> `x`. */
export function baseName(file: string): string {
  let name = file.replace(/[?#].*$/, '');
  name = name.slice(Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\')) + 1);
  name = name.replace(/\.(gz|gzip)$/i, '');
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(0, dot) : name;
}

/**
 * The key of a call that names none: the file's base name for the first unit of a file (line 1: a
 * whole document or a text file), `<base>:<line>` for a later one (an array element, a JSONL line),
 * so keys stay distinct within a file.
 */
export function fileKey(item: SourceItem): string {
  const base = baseName(item.file) || item.file;
  return item.line <= 1 ? base : `${base}:${item.line}`;
}

const CUSTOMER = /^(customer|caller|client|user|end[ _-]?user|consumer|visitor|patient|guest|member|external)\b/i;
const SYSTEM = /^(system|system[ _-]?message|bot|ivr|automated[ _-]?agent|virtual[ _-]?agent|action|event)\b/i;
const AGENT =
  /^(agent|rep|representative|assistant|advisor|adviser|associate|operator|support|supervisor|manager|specialist|consultant|internal|staff|employee|csr|host)\b/i;

const AGENT_TITLE = /\b(agent|rep|representative|advisor|adviser|specialist|associate|operator|supervisor|manager)\s*\d*$/i;

/** A role from a label when the label clearly says it (`AGENT`, `customer`, `USER`, `system`); else undefined. */
export function roleFromLabel(label: string | undefined): Role | undefined {
  if (!label) return undefined;
  const l = label.trim();
  if (SYSTEM.test(l)) return 'system';
  if (AGENT_TITLE.test(l)) return 'agent'; // `Customer Support Agent`, `Agent 2`
  if (CUSTOMER.test(l)) return 'customer';
  if (AGENT.test(l)) return 'agent';
  return undefined;
}

/** `AGENT` -> `Agent`, `end_user` -> `End user`: a readable speaker label from a role-like code. */
export function labelFromCode(code: string): string {
  const words = code.replace(/[_-]+/g, ' ').trim().toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export function isScalar(value: unknown): value is string | number | boolean {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

/** A non-empty string for a key (strings trimmed, finite numbers as text), else undefined. */
export function keyString(value: unknown): string | undefined {
  if (typeof value === 'string') return value.trim() === '' ? undefined : value.trim();
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'bigint') return String(value);
  return undefined;
}

/** Text from a string or a number; anything else is no text. */
export function textString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

/** Milliseconds from seconds given as a number or a numeric string (`"4.87"`); else undefined. */
export function secondsToMs(value: unknown): number | undefined {
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
  return Number.isFinite(n) ? Math.round(n * 1000) : undefined;
}

/** Milliseconds from an integer-millisecond field; else undefined. */
export function msValue(value: unknown): number | undefined {
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
  return Number.isFinite(n) ? Math.round(n) : undefined;
}

/** The passthrough fields of one source object, by the option's rule (see `PassthroughOption`). */
export function pickPassthrough(
  source: Record<string, unknown>,
  exclude: ReadonlySet<string>,
  option: PassthroughOption,
): Record<string, unknown> | undefined {
  if (option === 'none') return undefined;
  const out: Record<string, unknown> = {};
  let any = false;
  if (Array.isArray(option)) {
    for (const name of option) {
      const v = source[name];
      if (Object.hasOwn(source, name) && isScalar(v) && !exclude.has(name)) {
        out[name] = v;
        any = true;
      }
    }
  } else {
    for (const name of Object.keys(source)) {
      if (exclude.has(name)) continue;
      const v = source[name];
      if (!isScalar(v)) continue;
      if (option === 'auto' && typeof v === 'string' && v.length > PASSTHROUGH_MAX_CHARS) continue;
      out[name] = v;
      any = true;
    }
  }
  return any ? out : undefined;
}

/** Build a call, leaving `passthrough` off when there is none. */
export function makeCall(
  item: SourceItem,
  key: string,
  turns: Turn[],
  passthrough: Record<string, unknown> | undefined,
): Call {
  const call: Call = { kind: 'call', file: item.file, line: item.line, key, turns };
  if (passthrough !== undefined) call.passthrough = passthrough;
  return call;
}

/** A turn, leaving unknown fields off (so tests and JSON stay tidy). */
export function makeTurn(text: string, speaker?: string, role?: Role, startMs?: number, endMs?: number): Turn {
  const t: Turn = { text };
  if (speaker !== undefined && speaker !== '') t.speaker = speaker;
  if (role !== undefined) t.role = role;
  if (startMs !== undefined) t.startMs = startMs;
  if (endMs !== undefined) t.endMs = endMs;
  return t;
}

/**
 * A turn spoken by a role code (`AGENT`, `end_user`, `action`): the code as a readable label (never a
 * person's name) and the role it names, else `unknown`. An empty or missing code leaves both off.
 */
export function codedTurn(text: string, code: string | undefined, startMs?: number, endMs?: number): Turn {
  return makeTurn(text, code ? labelFromCode(code) : undefined, roleFromLabel(code) ?? 'unknown', startMs, endMs);
}

/** Top-level keys of a value, for error messages (names only, never values; at most 20). */
export function describeShape(value: unknown): string {
  if (typeof value === 'string') return 'a text document';
  if (Array.isArray(value)) return 'a JSON array';
  if (!isObject(value)) return `a ${value === null ? 'null' : typeof value}`;
  const keys = Object.keys(value);
  const shown = keys.slice(0, 20).map((k) => JSON.stringify(preview(k, 40)));
  return `fields [${shown.join(', ')}${keys.length > 20 ? `, … ${keys.length - 20} more` : ''}]`;
}
