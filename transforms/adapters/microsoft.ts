/**
 * Microsoft Conversation Knowledge Mining solution-accelerator calls (docs/formats.md §7):
 * `{ConversationId, StartTime, EndTime, Content, ...}`, one per file or as a JSON array. All the
 * speaker information is inside `Content`, in one of three forms: Markdown labels (`**Agent:** ...`,
 * also with the newlines collapsed to spaces), `Label: text` lines (parsed as plain text, see
 * `text.ts`), or one unlabelled line (one turn). A leading bold title (`**Customer Service Call
 * Transcript**`) is dropped. Key: `ConversationId`. Passthrough: the other scalar fields
 * (`StartTime`, `EndTime`, `ClientId`, ...; see `PassthroughOption`).
 */
import { reject } from '../../src/records/types.js';
import type { SourceItem, Turn } from '../../src/records/types.js';
import { stepStream } from '../../src/core/step.js';
import { isObject } from '../../src/core/values.js';
import { documentStep, keyString, makeCall, makeTurn, pickPassthrough, type AdapterOptions, type DocumentAdapter } from './common.js';
import { parseTranscriptText, textRole } from './text.js';

const BOLD_LABEL = /\*\*([A-Za-z{][^*:\n]{0,39}?):\*\*/g;

/** Turns from a Microsoft `Content` string (Markdown labels, plain labels, or one unlabelled turn). */
export function parseMarkdownTranscript(content: string): Turn[] {
  const matches = [...content.matchAll(BOLD_LABEL)];
  if (matches.length === 0) return parseTranscriptText(content);
  const turns: Turn[] = [];
  const head = content.slice(0, matches[0]!.index).trim();
  if (head !== '' && !/^(\*\*[^*]+\*\*\s*)+$/.test(head)) turns.push(makeTurn(head));
  for (let i = 0; i < matches.length; i++) {
    const m = matches[i]!;
    const end = i + 1 < matches.length ? matches[i + 1]!.index : content.length;
    const text = content.slice(m.index + m[0].length, end).trim();
    const speaker = m[1]!.trim();
    turns.push(makeTurn(text, speaker, textRole(speaker)));
  }
  return turns;
}

const USED = new Set(['ConversationId', 'Content']);

/** Microsoft knowledge-mining calls as a document adapter. */
export const microsoftAdapter: DocumentAdapter = {
  name: 'microsoft',
  description: 'Microsoft Conversation Knowledge Mining JSON ({ConversationId, Content} with "**Agent:**" turns)',
  sniff(value) {
    return isObject(value) && 'ConversationId' in value && typeof value.Content === 'string';
  },
  adapt(item: SourceItem, options) {
    const v = item.value;
    if (!isObject(v)) return reject(item, 'adapt', 'E_NOT_AN_OBJECT', 'expected a {ConversationId, Content} object');
    const key = keyString(v.ConversationId);
    if (key === undefined) return reject(item, 'adapt', 'E_MISSING_KEY', 'the call has no ConversationId; fill it or use --format rows with --key');
    const content = typeof v.Content === 'string' ? v.Content : '';
    return makeCall(item, key, parseMarkdownTranscript(content), pickPassthrough(v, USED, options.passthrough));
  },
};

/** Microsoft knowledge-mining calls to calls, as a Step. */
export function microsoftCalls(options: AdapterOptions = {}) {
  return documentStep(microsoftAdapter, options);
}

/** Microsoft knowledge-mining calls to calls, as an object-mode Transform. */
export function microsoftCallsStream(options: AdapterOptions = {}) {
  return stepStream(microsoftCalls(options));
}
