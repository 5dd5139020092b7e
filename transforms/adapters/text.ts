/**
 * Plain-text transcripts, one call per file, `Speaker: text` per turn (docs/formats.md §5: the
 * synthetic AWS set of the Bedrock batch summarisation sample).
 *
 * Rules, in the order they apply:
 * - A line `Label: text` starts a turn when `Label` is a speaker. A label is a speaker when it reads
 *   as a role (`Customer`, `Agent`, `Supervisor`, `Financial Advisor`, ...), holds a `{PLACEHOLDER}`,
 *   starts a line at least twice in the file, or (seen once) opens a paragraph, has text after the
 *   colon and is not followed by another label-like line. So blocks of label-like data lines
 *   (`Order number: 12345` / `Total: $99.99`) stay text of the turn they sit in. A label is at most 40 characters and
 *   5 words, starts with a letter or `{`, and has no sentence punctuation. Markdown bold labels
 *   (`**Agent:**`) are accepted too.
 * - Any other line (continuation paragraphs, `*stage directions*`) continues the current turn,
 *   lines joined with `\n` (blank lines between paragraphs are not kept). Text before the first
 *   label is one turn with no speaker.
 * - Roles by the data set's rule: a customer-like label (`Customer`, `Caller`, `User`) is the
 *   customer, a system-like label (`System`, `IVR`) is the system, anything else is agent-side.
 *
 * Key: the file's base name without extension (`textual/1034.txt` -> `1034`).
 */
import { reject } from '../../src/records/types.js';
import type { Role, SourceItem, Turn } from '../../src/records/types.js';
import { stepStream } from '../../src/core/step.js';
import { documentStep, fileKey, makeCall, makeTurn, roleFromLabel, type AdapterOptions, type DocumentAdapter } from './common.js';

const LABEL_LINE = /^[ \t]*(?:\*\*)?([A-Za-z{][^:*\n]{0,39}?)[ \t]*(?:\*\*)?:(?:\*\*)?(?:[ \t]+(.*))?$/;

function labelOf(line: string): { label: string; rest: string } | undefined {
  const m = LABEL_LINE.exec(line);
  if (!m) return undefined;
  const label = m[1]!.trim();
  if (/[.,!?;"]/.test(label) || label.split(/\s+/).length > 5) return undefined;
  if (/^(https?|ftp|mailto)$/i.test(label)) return undefined;
  return { label, rest: (m[2] ?? '').trim() };
}

/** The role of a plain-text speaker label: customer-like, system-like, else agent-side. */
export function textRole(label: string): Role {
  const r = roleFromLabel(label);
  return r === 'customer' || r === 'system' ? r : 'agent';
}

/** Parse a `Speaker: text` transcript into turns (see the file comment for the rules). */
export function parseTranscriptText(input: string): Turn[] {
  const text = input.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
  const lines = text.split('\n');
  const counts = new Map<string, number>();
  const parsed = lines.map((line) => {
    const l = labelOf(line);
    if (l) counts.set(l.label, (counts.get(l.label) ?? 0) + 1);
    return l;
  });
  const known = (l: { label: string }) => roleFromLabel(l.label) !== undefined || l.label.includes('{') || (counts.get(l.label) ?? 0) >= 2;
  const isSpeaker = (i: number, l: { label: string; rest: string }) => {
    if (known(l)) return true;
    // A label seen once is a speaker only when it opens a paragraph with text after it and the next
    // line is not label-like data too (`Order number: 1` / `Total: $9` blocks are data, not turns).
    const next = parsed[i + 1];
    const opensParagraph = i === 0 || lines[i - 1]!.trim() === '';
    return opensParagraph && l.rest !== '' && (next === undefined || known(next));
  };
  const turns: Turn[] = [];
  let speaker: string | undefined;
  let parts: string[] = [];
  let open = false;
  const close = () => {
    if (open) turns.push(speaker === undefined ? makeTurn(parts.join('\n')) : makeTurn(parts.join('\n'), speaker, textRole(speaker)));
    open = false;
    parts = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const l = parsed[i];
    if (l && isSpeaker(i, l)) {
      close();
      speaker = l.label;
      open = true;
      if (l.rest !== '') parts.push(l.rest);
      continue;
    }
    const line = lines[i]!.trim();
    if (line === '') continue;
    if (!open) {
      speaker = undefined;
      open = true;
    }
    parts.push(line);
  }
  close();
  return turns;
}

/** Plain-text transcripts as a document adapter (the item's value is the whole file as a string). */
export const textAdapter: DocumentAdapter = {
  name: 'text',
  description: 'plain-text transcripts, one call per file, "Speaker: text" turns (key: the file name)',
  sniff(value) {
    return typeof value === 'string';
  },
  adapt(item: SourceItem) {
    if (typeof item.value !== 'string') {
      return reject(item, 'adapt', 'E_MISSING_TEXT', 'expected the text of a transcript file; check the file or pick another --format');
    }
    return makeCall(item, fileKey(item), parseTranscriptText(item.value), undefined);
  },
};

/** Plain-text transcripts to calls, as a Step. */
export function textCalls(options: AdapterOptions = {}) {
  return documentStep(textAdapter, options);
}

/** Plain-text transcripts to calls, as an object-mode Transform. */
export function textCallsStream(options: AdapterOptions = {}) {
  return stepStream(textCalls(options));
}
