/**
 * The AWS "conversation intelligence using AI/ML on AWS" sample output (docs/formats.md §6):
 * `{RawTranscript[], SpeechSegments: [{SegmentSpeaker, DisplayText, SegmentStartTime,
 * SegmentEndTime, ...}], ConversationAnalytics}`. One turn per segment with text (segments with an
 * empty `DisplayText` are left out); consecutive segments are not merged. The labels are used as
 * given (`Agent`/`Customer`), even though in the published sample they look swapped.
 * Key: the base name of `ConversationAnalytics.SourceInformation.Key` (the input audio's S3 key,
 * `input/3232cec7-….mp3` -> `3232cec7-…`), else the file name.
 */
import { reject } from '../../src/records/types.js';
import type { SourceItem, Turn } from '../../src/records/types.js';
import { stepStream } from '../../src/core/step.js';
import { isObject } from '../../src/core/values.js';
import { baseName, documentStep, fileKey, keyString, makeCall, makeTurn, roleFromLabel, secondsToMs, textString, type AdapterOptions, type DocumentAdapter } from './common.js';

export const whisperAdapter: DocumentAdapter = {
  name: 'conversation-intelligence',
  description: 'AWS conversation-intelligence sample output ({SpeechSegments: [{SegmentSpeaker, DisplayText}]})',
  sniff(value) {
    return isObject(value) && Array.isArray(value.SpeechSegments);
  },
  adapt(item: SourceItem) {
    const v = item.value;
    if (!isObject(v) || !Array.isArray(v.SpeechSegments)) return reject(item, 'adapt', 'E_NOT_AN_OBJECT', 'expected {SpeechSegments: [...]}');
    const turns: Turn[] = [];
    for (const s of v.SpeechSegments) {
      if (!isObject(s)) continue;
      const text = (textString(s.DisplayText) ?? '').trim();
      if (text === '') continue;
      const speaker = textString(s.SegmentSpeaker);
      turns.push(makeTurn(text, speaker, roleFromLabel(speaker) ?? 'unknown', secondsToMs(s.SegmentStartTime), secondsToMs(s.SegmentEndTime)));
    }
    const analytics = isObject(v.ConversationAnalytics) ? v.ConversationAnalytics : {};
    const source = isObject(analytics.SourceInformation) ? analytics.SourceInformation : {};
    const audioKey = keyString(source.Key);
    return makeCall(item, audioKey !== undefined ? baseName(audioKey) : fileKey(item), turns, undefined);
  },
};

/** Conversation-intelligence sample output to calls, as a Step. */
export function whisperCalls(options: AdapterOptions = {}) {
  return documentStep(whisperAdapter, options);
}

/** Conversation-intelligence sample output to calls, as an object-mode Transform. */
export function whisperCallsStream(options: AdapterOptions = {}) {
  return stepStream(whisperCalls(options));
}
