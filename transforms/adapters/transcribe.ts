/**
 * Amazon Transcribe output, one job's JSON per item (docs/formats.md §2, §3):
 *
 * - Standard batch output `{jobName, results: {transcripts, items, speaker_labels?, channel_labels?,
 *   audio_segments?}}`. Turns come from, in order of preference: `results.audio_segments` (newer
 *   outputs); word items labelled with `speaker_label` or `channel_label` (consecutive words of one
 *   label make a turn, punctuation joins the word before it); for old outputs whose items carry no
 *   label, `speaker_labels.segments[].items` (joined to words by `start_time`) or
 *   `channel_labels.channels[].items` (merged by start time); else the plain
 *   `transcripts[0].transcript` as one unlabelled turn. Labels (`spk_0`, `ch_1`) are speakers, not
 *   roles: which channel is the agent is not in the file, so `role` is left unset.
 * - Call Analytics output `{JobName, Transcript: [{ParticipantRole, Content, BeginOffsetMillis,
 *   EndOffsetMillis}]}`: one turn per element, sorted by `BeginOffsetMillis` (stable: turns may
 *   overlap), speaker `Agent`/`Customer` and the matching role.
 *
 * Key: `jobName` / `JobName`, else the file name (see `fileKey`).
 */
import { reject } from '../../src/records/types.js';
import type { SourceItem, Turn } from '../../src/records/types.js';
import { stepStream } from '../../src/core/step.js';
import { isObject } from '../../src/core/values.js';
import { codedTurn, documentStep, fileKey, keyString, makeCall, makeTurn, msValue, pickPassthrough, secondsToMs, textString, type AdapterOptions, type DocumentAdapter } from './common.js';

function isStandard(v: Record<string, unknown>): boolean {
  return isObject(v.results) && (Array.isArray(v.results.transcripts) || Array.isArray(v.results.items));
}

function isCallAnalytics(v: Record<string, unknown>): boolean {
  if (!Array.isArray(v.Transcript) || isObject(v.CustomerMetadata)) return false;
  const first: unknown = v.Transcript[0];
  const turnLooksRight = isObject(first) && typeof first.ParticipantRole === 'string' && 'BeginOffsetMillis' in first;
  return typeof v.JobName === 'string' || (v.Transcript.length > 0 && turnLooksRight);
}

interface Word {
  label: string | undefined;
  text: string;
  startMs: number | undefined;
  endMs: number | undefined;
}

function contentOf(item: Record<string, unknown>): string | undefined {
  const alts = item.alternatives;
  if (!Array.isArray(alts) || !isObject(alts[0])) return undefined;
  return textString(alts[0].content);
}

/** Words from Transcribe items, punctuation glued to the word before it. */
function wordsOf(items: unknown[], labelOf: (item: Record<string, unknown>) => string | undefined): Word[] {
  const words: Word[] = [];
  for (const item of items) {
    if (!isObject(item)) continue;
    const content = contentOf(item);
    if (content === undefined || content === '') continue;
    const last = words[words.length - 1];
    if (item.type === 'punctuation' && last !== undefined) {
      last.text += content;
      continue;
    }
    words.push({ label: labelOf(item), text: content, startMs: secondsToMs(item.start_time), endMs: secondsToMs(item.end_time) });
  }
  return words;
}

/** Consecutive words of one label make one turn. */
function turnsOfWords(words: Word[]): Turn[] {
  const turns: Turn[] = [];
  let current: { label: string | undefined; parts: string[]; startMs: number | undefined; endMs: number | undefined } | undefined;
  const close = () => {
    if (current) turns.push(makeTurn(current.parts.join(' '), current.label, undefined, current.startMs, current.endMs));
  };
  for (const w of words) {
    if (current === undefined || w.label !== current.label) {
      close();
      current = { label: w.label, parts: [], startMs: w.startMs, endMs: w.endMs };
    }
    current.parts.push(w.text);
    if (w.endMs !== undefined) current.endMs = w.endMs;
  }
  close();
  return turns;
}

function standardTurns(results: Record<string, unknown>): Turn[] {
  // 1. Newer outputs: ready-made turns.
  if (Array.isArray(results.audio_segments) && results.audio_segments.length > 0) {
    const turns: Turn[] = [];
    for (const s of results.audio_segments) {
      if (!isObject(s)) continue;
      const text = textString(s.transcript) ?? '';
      const label = textString(s.speaker_label) ?? textString(s.channel_label);
      turns.push(makeTurn(text, label, undefined, secondsToMs(s.start_time), secondsToMs(s.end_time)));
    }
    return turns;
  }
  const items = Array.isArray(results.items) ? results.items : [];
  const labelled = items.some((i) => isObject(i) && (typeof i.speaker_label === 'string' || typeof i.channel_label === 'string'));
  // 2. Items that carry their own label.
  if (labelled) {
    return turnsOfWords(wordsOf(items, (i) => textString(i.speaker_label) ?? textString(i.channel_label)));
  }
  // 3. Old diarized outputs: the label is only in speaker_labels.segments, joined by start_time.
  const speakerLabels = results.speaker_labels;
  if (isObject(speakerLabels) && Array.isArray(speakerLabels.segments)) {
    const byStart = new Map<string, string>();
    for (const seg of speakerLabels.segments) {
      if (!isObject(seg) || !Array.isArray(seg.items)) continue;
      for (const si of seg.items) {
        if (isObject(si) && typeof si.start_time === 'string' && typeof si.speaker_label === 'string') byStart.set(si.start_time, si.speaker_label);
      }
    }
    if (byStart.size > 0) {
      return turnsOfWords(wordsOf(items, (i) => (typeof i.start_time === 'string' ? byStart.get(i.start_time) : undefined)));
    }
  }
  // 4. Old channel outputs: words per channel, merged by start time.
  const channelLabels = results.channel_labels;
  if (isObject(channelLabels) && Array.isArray(channelLabels.channels)) {
    const all: Word[] = [];
    for (const ch of channelLabels.channels) {
      if (!isObject(ch) || !Array.isArray(ch.items)) continue;
      const label = textString(ch.channel_label);
      all.push(...wordsOf(ch.items, () => label));
    }
    if (all.length > 0) {
      all.sort((a, b) => (a.startMs ?? 0) - (b.startMs ?? 0)); // Array.prototype.sort is stable
      return turnsOfWords(all);
    }
  }
  // 5. No speakers at all: the plain transcript.
  const transcripts = Array.isArray(results.transcripts) ? results.transcripts : [];
  const text = transcripts
    .map((t) => (isObject(t) ? textString(t.transcript) : undefined))
    .filter((t): t is string => t !== undefined)
    .join('\n');
  if (text.trim() !== '') return [makeTurn(text)];
  return turnsOfWords(wordsOf(items, () => undefined));
}

function callAnalyticsTurns(transcript: unknown[]): Turn[] {
  const turns: Turn[] = [];
  for (const t of transcript) {
    if (!isObject(t)) continue;
    turns.push(codedTurn(textString(t.Content) ?? '', textString(t.ParticipantRole), msValue(t.BeginOffsetMillis), msValue(t.EndOffsetMillis)));
  }
  // Stable sort by start; turns without a time keep their place relative to each other.
  return turns.map((t, i) => ({ t, i })).sort((a, b) => (a.t.startMs ?? 0) - (b.t.startMs ?? 0) || a.i - b.i).map((x) => x.t);
}

const STANDARD_USED = new Set(['jobName', 'results']);
const ANALYTICS_USED = new Set(['JobName', 'Transcript']);

/** Amazon Transcribe (standard and Call Analytics) as a document adapter. */
export const transcribeAdapter: DocumentAdapter = {
  name: 'transcribe',
  description: 'Amazon Transcribe job output (standard: speaker/channel labels, audio_segments; Call Analytics: Transcript[] with ParticipantRole)',
  sniff(value) {
    return isObject(value) && (isStandard(value) || isCallAnalytics(value));
  },
  adapt(item: SourceItem, options) {
    const v = item.value;
    if (!isObject(v) || !(isStandard(v) || Array.isArray(v.Transcript))) {
      return reject(item, 'adapt', 'E_MISSING_TEXT', 'not a Transcribe output: no results.transcripts and no Transcript[]; check the file or pick another --format');
    }
    if (isStandard(v)) {
      const key = keyString(v.jobName) ?? fileKey(item);
      return makeCall(item, key, standardTurns(v.results as Record<string, unknown>), pickPassthrough(v, STANDARD_USED, options.passthrough));
    }
    const key = keyString(v.JobName) ?? fileKey(item);
    return makeCall(item, key, callAnalyticsTurns(v.Transcript as unknown[]), pickPassthrough(v, ANALYTICS_USED, options.passthrough));
  },
};

/** Transcribe outputs to calls, as a Step (one call or reject per item). */
export function transcribeCalls(options: AdapterOptions = {}) {
  return documentStep(transcribeAdapter, options);
}

/** Transcribe outputs to calls, as an object-mode Transform. */
export function transcribeCallsStream(options: AdapterOptions = {}) {
  return stepStream(transcribeCalls(options));
}
