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
 */
import { readFileSync } from 'node:fs';
import { BatchError, preview } from '../../src/errors.js';
import { reject } from '../../src/records/types.js';
import type { Call, PrepareItem, PromptItem, Turn } from '../../src/records/types.js';
import { stepStream, type Step } from '../../src/core/step.js';

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
    const label = t.speaker ?? (t.role !== undefined && t.role !== 'unknown' ? t.role.charAt(0).toUpperCase() + t.role.slice(1) : undefined);
    out += label !== undefined ? `${label}: ${t.text}` : t.text;
  }
  return out;
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
  return {
    write(item, emit) {
      if (item.kind !== 'call') return emit(item);
      const out = render(item, parts);
      if (typeof out !== 'string') {
        emit(
          reject(item, 'prompt', 'E_TEMPLATE', `the template names {{${out.missing}}} but the call has no field ${JSON.stringify(out.missing)}; add the column, pass it through (--passthrough), or drop the placeholder`),
        );
        return;
      }
      const p: PromptItem = { kind: 'prompt', file: item.file, line: item.line, key: item.key, prompt: out };
      if (item.passthrough !== undefined) p.passthrough = item.passthrough;
      if (item.redacted !== undefined) p.redacted = item.redacted;
      if (item.truncated !== undefined) p.truncated = item.truncated;
      if (system !== undefined) p.system = system;
      emit(p);
    },
  };
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

function render(call: Call, parts: Part[]): string | { missing: string } {
  let out = '';
  for (const part of parts) {
    if ('text' in part) {
      out += part.text;
      continue;
    }
    if (part.field === 'transcript') out += renderTranscript(call.turns);
    else if (part.field === 'key') out += call.key;
    else {
      const v = call.passthrough?.[part.field];
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
