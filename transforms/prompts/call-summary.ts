/**
 * The call-summary prompt: `Call` in, `PromptItem` out. The transcript is rendered as
 * `Speaker: text` lines (a turn with no speaker is its text alone, so a single unlabelled turn is
 * just the plain transcript) and put into a template.
 *
 * Templates use `{{name}}` placeholders (spaces inside the braces allowed):
 * - `{{transcript}}`: the rendered turns; every template must use it.
 * - `{{key}}`: the call's key.
 * - `{{<passthrough field>}}`: a source field carried by the call (`{{agent}}`, `{{queue}}`).
 *   Whether a call has one is only known per call, so a call that lacks a field the template
 *   names becomes an `E_TEMPLATE` reject naming the field (and the fix), not a run-stopping error.
 *   (With `passthrough: 'auto'`, values over 256 characters are not carried; use `'*'` or a list.)
 *   When the fields are known in advance (`options.fields`), an unknown placeholder is instead an
 *   `E_TEMPLATE` error at construction, naming it.
 * A template that is empty, has no `{{transcript}}`, or holds a malformed placeholder (`{{}}`,
 * `{{ bad name! }}`) is an `E_TEMPLATE` error at construction.
 *
 * Long calls (`fit`, docs/long-calls.md): with `fit: {mode: 'truncate', budgetTokens}` a rendered
 * prompt whose estimate (src/records/tokens.ts) exceeds the budget gets a shorter transcript: whole
 * turns from the start (the reason for the call) and the end (its resolution), 40% / 60% of the room,
 * each side taking what the other leaves, and one marker line `[… 37 turns omitted …]` between them.
 * When whole turns would fill less than half the room (one huge turn, as one-call-per-row exports
 * have, or huge turns at both ends), the rendered transcript is cut by characters instead, at a line
 * break, else at whitespace, else anywhere but inside a surrogate pair, with `[… N characters
 * omitted …]` (N in code points). `truncated` on the PromptItem counts the turns NOT sent whole
 * (left out, or cut: so a cut single turn is 1). Calls that fit pay one estimate; only long ones
 * pay for the cut. The estimate is additive over text, so the cut is exact: the result's estimate
 * is at most the budget, marker included. `fit: {mode: 'reject'}` (or no `fit`) changes nothing:
 * validation rejects a call over the model's context (E_TOO_MANY_TOKENS).
 */
import { readFileSync } from 'node:fs';
import { BatchError, preview } from '../../src/errors.js';
import { reject } from '../../src/records/types.js';
import type { Call, PrepareItem, PromptItem, Turn } from '../../src/records/types.js';
import { stepStream, type Step } from '../../src/core/step.js';
import { estimateTokens } from '../../src/records/tokens.js';

/** The default template: what AWS's own batch summarisation sample asks for, kept concise. */
export const CALL_SUMMARY_TEMPLATE = `You are given the transcript of a customer-service call between an agent and a customer.

<transcript>
{{transcript}}
</transcript>

Summarise the call in plain text, concisely, covering:
1. The reason for the call.
2. The resolution, or what was done about it.
3. Any next steps, and who owns them.
4. The customer's sentiment, and how it changed during the call.

Answer with the summary only: no preamble, no Markdown.`;

export interface PromptOptions {
  /** The template text (placeholders as in the file comment). Default: `CALL_SUMMARY_TEMPLATE`. */
  template?: string;
  /** A file holding the template, read once when the step is built (UTF-8). Exclusive with `template`. */
  templateFile?: string;
  /** A system prompt for every call; when absent the model family's own `system` option applies. */
  system?: string;
  /** The passthrough fields the calls will carry, when known in advance (say, the columns given to
   * `--passthrough`): a placeholder outside them, `transcript` and `key` is then an `E_TEMPLATE`
   * error at construction instead of a reject per call. */
  fields?: string[];
  /** What to do with a call whose rendered prompt is over `budgetTokens` estimated tokens (template,
   * transcript and placeholders; the caller computes it as the model's context − the output budget −
   * the request's other text − a margin): `'truncate'` shortens the transcript to fit (see the file
   * comment), `'reject'` leaves it to validation as without `fit`. `budgetTokens`: a positive integer. */
  fit?: FitOptions;
}

export interface FitOptions {
  mode: 'truncate' | 'reject';
  budgetTokens: number;
}

export type Part = { text: string } | { field: string };

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;
const NAME = /^[A-Za-z_][\w.:-]{0,99}$/;

/** Split a template into literal text and placeholders; throws `E_TEMPLATE` on a bad template. */
export function compileTemplate(template: string, source = 'the template'): Part[] {
  if (template.trim() === '') throw new BatchError('E_TEMPLATE', `${source} is empty`);
  const parts: Part[] = [];
  let last = 0;
  let hasTranscript = false;
  for (const m of template.matchAll(PLACEHOLDER)) {
    const name = m[1]!;
    if (!NAME.test(name)) {
      throw new BatchError('E_TEMPLATE', `${source} has a malformed placeholder ${JSON.stringify(preview(m[0]))}`, {
        hint: 'placeholders are {{transcript}}, {{key}} or {{<passthrough column>}}',
      });
    }
    if (m.index > last) parts.push({ text: template.slice(last, m.index) });
    parts.push({ field: name });
    if (name === 'transcript') hasTranscript = true;
    last = m.index + m[0].length;
  }
  if (last < template.length) parts.push({ text: template.slice(last) });
  if (!hasTranscript) {
    throw new BatchError('E_TEMPLATE', `${source} has no {{transcript}} placeholder, so the model would never see the call`, {
      hint: 'add {{transcript}} where the transcript goes',
    });
  }
  return parts;
}

/** Turns as `Speaker: text` lines; a turn without a speaker is its text alone. */
export function renderTranscript(turns: readonly Turn[]): string {
  let out = '';
  for (let i = 0; i < turns.length; i++) {
    const t = turns[i]!;
    if (i > 0) out += '\n';
    const label = turnLabel(t);
    out += label !== undefined ? `${label}: ${t.text}` : t.text;
  }
  return out;
}

/** The label a turn is rendered with: its speaker, else its known role capitalised, else none. */
function turnLabel(t: Turn): string | undefined {
  return t.speaker ?? (t.role !== undefined && t.role !== 'unknown' ? t.role.charAt(0).toUpperCase() + t.role.slice(1) : undefined);
}

/** Calls to prompts as a Step: each `Call` becomes one `PromptItem` (or an `E_TEMPLATE` reject). */
export function promptCalls(options: PromptOptions = {}): Step<PrepareItem, PrepareItem> {
  if (options.template !== undefined && options.templateFile !== undefined) {
    throw new BatchError('E_BAD_OPTION', 'give template or templateFile, not both');
  }
  if (options.template !== undefined && typeof options.template !== 'string') {
    throw new BatchError('E_BAD_OPTION', `template must be a string, got ${preview(options.template)}`);
  }
  if (options.system !== undefined && (typeof options.system !== 'string' || options.system.trim() === '')) {
    throw new BatchError('E_BAD_OPTION', `system must be a non-empty string, got ${preview(options.system)}`);
  }
  const parts = promptTemplate(options);
  if (options.fields !== undefined) {
    const source = templateSource(options);
    const known = new Set(['transcript', 'key', ...options.fields]);
    const unknown = parts.filter((p): p is { field: string } => 'field' in p && !known.has(p.field)).map((p) => p.field);
    if (unknown.length > 0) {
      throw new BatchError('E_TEMPLATE', `${source} names unknown placeholder${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `{{${u}}}`).join(', ')}`, {
        hint: `placeholders are {{transcript}}, {{key}} and the passthrough fields ${options.fields.map((f) => `{{${f}}}`).join(', ') || '(none)'}`,
      });
    }
  }
  const system = options.system;
  const fit = fitOption(options.fit);
  // Only truncation does anything here; 'reject' leaves the check to validation, as without `fit`.
  const budget = fit?.mode === 'truncate' ? fit.budgetTokens : undefined;
  if (budget !== undefined) checkTemplateFits(parts, budget, templateSource(options));
  return {
    write(item, emit) {
      if (item.kind !== 'call') return emit(item);
      let out = render(item, parts);
      if (typeof out !== 'string') {
        emit(
          reject(item, 'prompt', 'E_TEMPLATE', `the template names {{${out.missing}}} but the call has no field ${JSON.stringify(out.missing)}; add the column, pass it through (--passthrough), or drop the placeholder`),
        );
        return;
      }
      let truncated = item.truncated;
      if (budget !== undefined && estimateTokens(out) > budget) {
        const fitted = fitPrompt(item, parts, budget);
        if (typeof fitted === 'string') {
          emit(reject(item, 'prompt', 'E_TOO_MANY_TOKENS', fitted));
          return;
        }
        out = fitted.prompt;
        truncated = fitted.truncated;
      }
      const p: PromptItem = { kind: 'prompt', file: item.file, line: item.line, key: item.key, prompt: out };
      if (item.passthrough !== undefined) p.passthrough = item.passthrough;
      if (item.redacted !== undefined) p.redacted = item.redacted;
      if (truncated !== undefined) p.truncated = truncated;
      if (system !== undefined) p.system = system;
      emit(p);
    },
  };
}

/** `fit` checked: undefined, or a mode and a positive integer budget (`E_BAD_OPTION` otherwise). */
function fitOption(fit: unknown): FitOptions | undefined {
  if (fit === undefined) return undefined;
  if (typeof fit !== 'object' || fit === null || Array.isArray(fit)) {
    throw new BatchError('E_BAD_OPTION', `fit must be an object {mode, budgetTokens}, got ${preview(fit)}`);
  }
  const { mode, budgetTokens } = fit as Record<string, unknown>;
  if (mode !== 'truncate' && mode !== 'reject') {
    throw new BatchError('E_BAD_OPTION', `fit.mode must be 'truncate' or 'reject', got ${preview(mode)}`, { hint: 'use --fit truncate or --fit reject' });
  }
  if (typeof budgetTokens !== 'number' || !Number.isSafeInteger(budgetTokens) || budgetTokens < 1) {
    throw new BatchError('E_BAD_OPTION', `fit.budgetTokens must be a positive integer (estimated tokens the prompt may take), got ${preview(budgetTokens)}`, {
      hint: "the model's context less the output budget, the request's other text and a margin; a context too small for the output budget leaves none",
    });
  }
  return { mode, budgetTokens };
}

// ---------------------------------------------------------------------------------------------
// Fitting a long call. Every size below is a WEIGHT: twice the estimate's per-character weight, so
// that it is an integer and additive over concatenation: estimateTokens(s) = ceil(weight(s) / 8),
// hence estimateTokens(s) <= budget exactly when weight(s) <= 8 * budget. An ASCII code unit weighs
// 2, a 2-byte character 5, a 3-byte one (or a lone surrogate, encoded as U+FFFD) 8, a surrogate pair
// 10. Additivity holds as long as no pair is split, and no cut here ever splits one.

/** The estimate's weight of `text` (see above). */
function weight(text: string): number {
  return 2 * text.length + 3 * (Buffer.byteLength(text, 'utf8') - text.length);
}

const PER_TOKEN = 8;
/** Head's share of the room; the tail (the resolution) gets the rest, then each side the other's leftover. */
const HEAD_SHARE = 0.4;

/** The marker put where turns were left out. */
export function turnsMarker(n: number): string {
  return `[… ${n} turn${n === 1 ? '' : 's'} omitted …]`;
}

/** The marker put where part of a turn's text was left out (`n` in code points). */
export function charactersMarker(n: number): string {
  return `[… ${n} character${n === 1 ? '' : 's'} omitted …]`;
}

/** The literal template alone (placeholders empty) over the budget: no call could fit, so say so once. */
function checkTemplateFits(parts: Part[], budget: number, source: string): void {
  let w = 0;
  for (const p of parts) if ('text' in p) w += weight(p.text);
  if (w > PER_TOKEN * budget) {
    throw new BatchError('E_TOO_MANY_TOKENS', `${source} alone takes about ${Math.ceil(w / PER_TOKEN)} tokens (a rough estimate), above the ${budget}-token prompt budget, so no transcript could fit`, {
      hint: 'shorten the template, lower --max-tokens, or use a model with a larger context',
    });
  }
}

/**
 * The call's prompt cut to the budget: the template with a shortened transcript and how many turns
 * were not sent whole, or the reason for an E_TOO_MANY_TOKENS reject (counts only, no text).
 */
function fitPrompt(call: Call, parts: Part[], budget: number): { prompt: string; truncated: number } | string {
  const fixed = render(call, parts, '') as string; // fields were checked by the first render
  const uses = parts.reduce((n, p) => n + ('field' in p && p.field === 'transcript' ? 1 : 0), 0);
  const spare = PER_TOKEN * budget - weight(fixed);
  const fixedTokens = estimateTokens(fixed);
  if (spare < 0) {
    return `the template with this call's fields takes about ${fixedTokens} tokens (a rough estimate), above the ${budget}-token prompt budget, so no part of the transcript fits; shorten the template or the fields it names, or lower --max-tokens`;
  }
  const fitted = fitTurns(call.turns, Math.floor(spare / uses));
  if (fitted === undefined) {
    return `the template with this call's fields takes about ${fixedTokens} of the ${budget}-token prompt budget, leaving no room for the transcript and its omission marker; shorten the template or lower --max-tokens`;
  }
  const prompt = render(call, parts, fitted.transcript) as string;
  // Exact by construction (weights add up); kept as a guard so a prompt over the budget never leaves here.
  if (estimateTokens(prompt) > budget) {
    return `about ${estimateTokens(prompt)} tokens (a rough estimate) after truncation, above the ${budget}-token prompt budget; lower --max-tokens`;
  }
  return { prompt, truncated: fitted.truncated };
}

/**
 * The transcript of `turns` shortened so that its estimate is at most `maxTokens` (as in the file
 * comment), for a user's own prompt step; undefined when not even the marker fits. A transcript
 * that already fits comes back whole with `truncated: 0`.
 */
export function fitTranscript(turns: readonly Turn[], maxTokens: number): { transcript: string; truncated: number } | undefined {
  const whole = renderTranscript(turns);
  if (estimateTokens(whole) <= maxTokens) return { transcript: whole, truncated: 0 };
  return fitTurns(turns, PER_TOKEN * maxTokens);
}

/** The turns rendered within `room` (a weight, see above); the whole transcript must not fit it. */
function fitTurns(turns: readonly Turn[], room: number): { transcript: string; truncated: number } | undefined {
  const lines = turns.map((t) => {
    const label = turnLabel(t);
    return label !== undefined ? `${label}: ${t.text}` : t.text;
  });
  const byTurns = wholeTurns(lines, room);
  // Whole turns when they fill at least half the room; else (one huge turn, or huge turns at both
  // ends) the characters: a few short turns around an omission would tell the model next to nothing.
  if (byTurns !== undefined && byTurns.used * 2 >= byTurns.room) return byTurns;
  const byChars = cutCharacters(turns, lines, room);
  return byChars ?? byTurns;
}

interface Fitted {
  transcript: string;
  truncated: number;
  /** The weight kept of the room left once the marker is paid for (to compare cuts). */
  used: number;
  room: number;
}

/** Whole turns from both ends around a turns marker; undefined when the marker alone does not fit. */
function wholeTurns(lines: string[], room: number): Fitted | undefined {
  const n = lines.length;
  // The marker's weight for the most turns it could name: a shorter count only weighs less.
  const r = room - weight(turnsMarker(n));
  if (r < 0) return undefined;
  const cost = (i: number) => weight(lines[i]!) + 2; // the line and its newline
  let h = 0;
  let head = 0;
  const headRoom = Math.floor(r * HEAD_SHARE);
  while (h < n && head + cost(h) <= headRoom) head += cost(h++);
  let t = 0;
  let tail = 0;
  while (n - t - 1 >= h && head + tail + cost(n - t - 1) <= r) tail += cost(n - ++t);
  while (h < n - t && head + tail + cost(h) <= r) head += cost(h++);
  const omitted = n - h - t;
  if (omitted === 0) return undefined; // cannot happen when the whole does not fit; kept for safety
  const kept = [...lines.slice(0, h), turnsMarker(omitted), ...lines.slice(n - t)];
  return { transcript: kept.join('\n'), truncated: omitted, used: head + tail, room: r };
}

/**
 * The rendered transcript cut by characters: a head and a tail around a characters marker, each cut
 * at a line break, else whitespace, else anywhere outside a surrogate pair. A tail that starts
 * inside a turn the head does not reach gets that turn's label again, so the model knows who speaks.
 * Undefined when nothing of the text fits.
 */
function cutCharacters(turns: readonly Turn[], lines: string[], room: number): Fitted | undefined {
  const s = lines.join('\n');
  const starts: number[] = [];
  let at = 0;
  let labelRoom = 0;
  for (let i = 0; i < lines.length; i++) {
    starts.push(at);
    at += lines[i]!.length + 1;
    const label = turnLabel(turns[i]!);
    if (label !== undefined) labelRoom = Math.max(labelRoom, weight(`${label}: `));
  }
  // Two newlines around the marker, the marker for the most characters it could name, a label.
  const r = room - 4 - weight(charactersMarker(s.length)) - labelRoom;
  if (r <= 0) return undefined;
  let a = snapHead(s, headEnd(s, Math.floor(r * HEAD_SHARE)));
  let b = snapTail(s, tailStart(s, r - weight(s.slice(0, a))));
  const grown = snapHead(s, headEnd(s, r - weight(s.slice(b))));
  if (grown > a) a = grown;
  if (a === 0 && b === s.length) return undefined;
  // The turn the tail starts in, and its label when the tail starts past it and the head does not reach it.
  let j = lines.length - 1;
  while (j > 0 && starts[j]! > b) j--;
  let prefix = '';
  const label = turnLabel(turns[j]!);
  if (b < s.length && b > starts[j]! && a <= starts[j]! && label !== undefined) {
    prefix = `${label}: `;
    b = Math.max(b, starts[j]! + prefix.length); // never a piece of the label itself after the marker
  }
  const head = s.slice(0, a);
  const tail = s.slice(b);
  const omitted = codePoints(s, a, b);
  let truncated = 0;
  for (let i = 0; i < lines.length; i++) if (!(starts[i]! + lines[i]!.length <= a || starts[i]! >= b)) truncated++;
  const transcript = (head !== '' ? `${head}\n` : '') + charactersMarker(omitted) + (tail !== '' ? `\n${prefix}${tail}` : '');
  return { transcript, truncated, used: weight(head) + weight(tail), room: r };
}

const isHigh = (c: number) => c >= 0xd800 && c <= 0xdbff;
const isLow = (c: number) => c >= 0xdc00 && c <= 0xdfff;

/** The weight of the code unit at `i` read forward, and how many units it takes (2 for a pair). */
function unitAt(s: string, i: number): [number, number] {
  const c = s.charCodeAt(i);
  if (c < 0x80) return [2, 1];
  if (c < 0x800) return [5, 1];
  if (isHigh(c) && i + 1 < s.length && isLow(s.charCodeAt(i + 1))) return [10, 2];
  return [8, 1];
}

/** The largest end such that `s.slice(0, end)` weighs at most `room`, never inside a pair. */
function headEnd(s: string, room: number): number {
  let w = 0;
  let i = 0;
  while (i < s.length) {
    const [cw, units] = unitAt(s, i);
    if (w + cw > room) break;
    w += cw;
    i += units;
  }
  return i;
}

/** The smallest start such that `s.slice(start)` weighs at most `room`, never inside a pair. */
function tailStart(s: string, room: number): number {
  let w = 0;
  let i = s.length;
  while (i > 0) {
    const c = s.charCodeAt(i - 1);
    const pair = isLow(c) && i >= 2 && isHigh(s.charCodeAt(i - 2));
    const cw = pair ? 10 : unitAt(s, i - 1)[0];
    if (w + cw > room) break;
    w += cw;
    i -= pair ? 2 : 1;
  }
  return i;
}

const SPACE = /\s/;
const isSpace = (s: string, i: number) => SPACE.test(s.charAt(i));
/** How far back (or on) a cut may move to land on whitespace, in code units. */
const WORD_WINDOW = 100;

/** A head ending at or before `end`: at a line break within the last quarter, else at whitespace
 * nearby, else at `end`; with its trailing whitespace left out. */
function snapHead(s: string, end: number): number {
  let a = end;
  if (end < s.length && s.charCodeAt(end) !== 10) {
    const nl = s.lastIndexOf('\n', end - 1);
    if (nl >= 0 && nl >= end - Math.floor(end / 4)) a = nl;
    else if (!isSpace(s, end)) {
      const stop = Math.max(0, end - Math.min(WORD_WINDOW, Math.floor(end / 4)));
      for (let i = end - 1; i >= stop; i--) {
        if (isSpace(s, i)) {
          a = i;
          break;
        }
      }
    }
  }
  while (a > 0 && isSpace(s, a - 1)) a--;
  return a;
}

/** A tail starting at or after `start`: after a line break within the first quarter, else after
 * whitespace nearby, else at `start`; with its leading whitespace left out. */
function snapTail(s: string, start: number): number {
  let b = start;
  if (start > 0 && s.charCodeAt(start - 1) !== 10) {
    const rest = s.length - start;
    const nl = s.indexOf('\n', start);
    if (nl >= 0 && nl < start + Math.floor(rest / 4)) b = nl + 1;
    else if (!isSpace(s, start - 1)) {
      const stop = Math.min(s.length, start + Math.min(WORD_WINDOW, Math.floor(rest / 4)));
      for (let i = start; i < stop; i++) {
        if (isSpace(s, i)) {
          b = i + 1;
          break;
        }
      }
    }
  }
  while (b < s.length && isSpace(s, b)) b++;
  return b;
}

/** Code points in `s.slice(from, to)` (a pair counts once). */
function codePoints(s: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    if (isHigh(s.charCodeAt(i)) && i + 1 < to && isLow(s.charCodeAt(i + 1))) i++;
    n++;
  }
  return n;
}

/** Where the template comes from, as errors name it. */
function templateSource(options: PromptOptions): string {
  if (options.templateFile !== undefined) return `template file ${options.templateFile}`;
  return options.template !== undefined ? 'the template' : 'the default template';
}

/** The compiled template of these options (the default, `template` or `templateFile`). */
export function promptTemplate(options: PromptOptions): Part[] {
  let template = options.template ?? CALL_SUMMARY_TEMPLATE;
  const source = templateSource(options);
  if (options.templateFile !== undefined) {
    try {
      template = readFileSync(options.templateFile, 'utf8').replace(/^\uFEFF/, '');
    } catch (error) {
      throw new BatchError('E_TEMPLATE', `cannot read ${source}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, {
        file: options.templateFile,
        cause: error,
      });
    }
  }
  return compileTemplate(template, source);
}

/** The prompt of `call`; `transcript` in place of the rendered turns when given (fitting a long call). */
function render(call: Call, parts: Part[], transcript?: string): string | { missing: string } {
  let out = '';
  for (const part of parts) {
    if ('text' in part) {
      out += part.text;
      continue;
    }
    if (part.field === 'transcript') out += transcript ?? renderTranscript(call.turns);
    else if (part.field === 'key') out += call.key;
    else {
      // own fields only: `{{constructor}}` names no column, not Object's
      const v = call.passthrough !== undefined && Object.hasOwn(call.passthrough, part.field) ? call.passthrough[part.field] : undefined;
      if (v === undefined || v === null || (typeof v === 'object')) return { missing: part.field };
      out += String(v);
    }
  }
  return out;
}

/** `promptCalls` as an object-mode Transform. */
export function promptCallsStream(options: PromptOptions = {}) {
  return stepStream(promptCalls(options));
}
