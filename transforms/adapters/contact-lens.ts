/**
 * Amazon Connect Contact Lens post-call analysis, one file per contact (docs/formats.md §4).
 *
 * - Voice: `Transcript[]` turns carry only `ParticipantId`; the role comes from `Participants[]`
 *   (`{ParticipantId, ParticipantRole}`), falling back to the id itself when it reads as a role.
 * - Chat: only `Type == "MESSAGE"` entries become turns; `EVENT` entries (joined, left, ended) carry
 *   no text and are dropped. The role is the entry's own `ParticipantRole`, else `Participants[]`.
 *   Chat has no millisecond offsets, so turns have no times.
 *
 * The speaker is the role as a label (`Agent`, `Customer`, `System`), not the `DisplayName`, which
 * may be a person's name or `[PII]` in redacted output. Key: `CustomerMetadata.ContactId`, else the
 * contact id at the start of the file name (`<contactId>_analysis_<ts>.json`), else the file name.
 */
import { reject } from '../../src/records/types.js';
import type { SourceItem, Turn } from '../../src/records/types.js';
import { stepStream } from '../../src/core/step.js';
import { isObject } from '../../src/core/values.js';
import { baseName, codedTurn, documentStep, fileKey, keyString, makeCall, msValue, pickPassthrough, roleFromLabel, textString, type AdapterOptions, type DocumentAdapter } from './common.js';

function looksLikeContactLens(v: Record<string, unknown>): boolean {
  if (!Array.isArray(v.Transcript) || typeof v.JobName === 'string') return false;
  if (isObject(v.CustomerMetadata)) return true;
  const version = typeof v.Version === 'string' ? v.Version : '';
  return Array.isArray(v.Participants) && (/^(VOICE|CHAT)-/.test(version) || /^\d+\.\d+\.\d+$/.test(version));
}

const USED = new Set(['Transcript', 'Participants', 'CustomerMetadata']);

/** Contact Lens voice and chat analysis files as a document adapter. */
export const contactLensAdapter: DocumentAdapter = {
  name: 'contact-lens',
  description: 'Amazon Connect Contact Lens analysis (voice: roles via Participants[]; chat: MESSAGE entries)',
  sniff(value) {
    return isObject(value) && looksLikeContactLens(value);
  },
  adapt(item: SourceItem, options) {
    const v = item.value;
    if (!isObject(v) || !Array.isArray(v.Transcript)) {
      return reject(item, 'adapt', 'E_MISSING_TEXT', 'not a Contact Lens analysis: no Transcript[]; check the file or pick another --format');
    }
    const roles = new Map<string, string>();
    if (Array.isArray(v.Participants)) {
      for (const p of v.Participants) {
        if (isObject(p) && typeof p.ParticipantId === 'string' && typeof p.ParticipantRole === 'string') roles.set(p.ParticipantId, p.ParticipantRole);
      }
    }
    const turns: Turn[] = [];
    for (const t of v.Transcript) {
      if (!isObject(t)) continue;
      if (typeof t.Type === 'string' && t.Type !== 'MESSAGE') continue; // chat EVENT rows
      const id = textString(t.ParticipantId);
      const code = textString(t.ParticipantRole) ?? (id !== undefined ? roles.get(id) : undefined) ?? (roleFromLabel(id) ? id : undefined);
      turns.push(codedTurn(textString(t.Content) ?? '', code, msValue(t.BeginOffsetMillis), msValue(t.EndOffsetMillis)));
    }
    const meta = isObject(v.CustomerMetadata) ? v.CustomerMetadata : undefined;
    const fromName = /^(.+?)_analysis_/.exec(baseName(item.file))?.[1];
    const key = keyString(meta?.ContactId) ?? fromName ?? fileKey(item);
    return makeCall(item, key, turns, pickPassthrough(v, USED, options.passthrough));
  },
};

/** Contact Lens files to calls, as a Step. */
export function contactLensCalls(options: AdapterOptions = {}) {
  return documentStep(contactLensAdapter, options);
}

/** Contact Lens files to calls, as an object-mode Transform. */
export function contactLensCallsStream(options: AdapterOptions = {}) {
  return stepStream(contactLensCalls(options));
}
