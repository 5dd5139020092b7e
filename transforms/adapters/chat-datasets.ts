/**
 * Research chat data sets (docs/formats.md §8, §9), one dialogue per item (JSON array elements or a
 * single object):
 * - ABCD (`abcd`): `{convo_id, scenario, original: [[speaker, text]], ...}`. Speakers `agent`,
 *   `customer` and `action`; `action` rows are system/tool events, kept as turns with role `system`
 *   (speaker `Action`) because they say what the agent did. Key: `convo_id`. Passthrough: the
 *   scenario's `flow` and `subflow` (the rest of the scenario is a customer profile and stays out).
 * - Taskmaster-1 (`taskmaster`): `{conversation_id, instruction_id, utterances: [{speaker:
 *   USER|ASSISTANT, text}]}`. USER is the customer, ASSISTANT the agent. Key: `conversation_id`.
 */
import { reject } from '../../src/records/types.js';
import type { SourceItem, Turn } from '../../src/records/types.js';
import { stepStream } from '../../src/core/step.js';
import { isObject } from '../../src/core/values.js';
import { codedTurn, documentStep, keyString, makeCall, pickPassthrough, textString, type AdapterOptions, type DocumentAdapter } from './common.js';

export const abcdAdapter: DocumentAdapter = {
  name: 'abcd',
  description: 'ASAPP ABCD dialogues ({convo_id, original: [[speaker, text]]})',
  sniff(value) {
    return isObject(value) && 'convo_id' in value && Array.isArray(value.original);
  },
  adapt(item: SourceItem, options) {
    const v = item.value;
    if (!isObject(v) || !Array.isArray(v.original)) return reject(item, 'adapt', 'E_NOT_AN_OBJECT', 'expected an ABCD dialogue {convo_id, original}');
    const key = keyString(v.convo_id);
    if (key === undefined) return reject(item, 'adapt', 'E_MISSING_KEY', 'the dialogue has no convo_id');
    const turns: Turn[] = [];
    for (const pair of v.original) {
      if (Array.isArray(pair)) turns.push(codedTurn(textString(pair[1]) ?? '', textString(pair[0])));
    }
    const scenario = isObject(v.scenario) ? v.scenario : {};
    const pick = options.passthrough === 'none' ? undefined : pickPassthrough({ flow: scenario.flow, subflow: scenario.subflow }, new Set(), 'auto');
    return makeCall(item, key, turns, pick);
  },
};

export const taskmasterAdapter: DocumentAdapter = {
  name: 'taskmaster',
  description: 'Google Taskmaster-1 dialogues ({conversation_id, utterances: [{speaker, text}]})',
  sniff(value) {
    return isObject(value) && 'conversation_id' in value && Array.isArray(value.utterances);
  },
  adapt(item: SourceItem, options) {
    const v = item.value;
    if (!isObject(v) || !Array.isArray(v.utterances)) return reject(item, 'adapt', 'E_NOT_AN_OBJECT', 'expected a Taskmaster dialogue {conversation_id, utterances}');
    const key = keyString(v.conversation_id);
    if (key === undefined) return reject(item, 'adapt', 'E_MISSING_KEY', 'the dialogue has no conversation_id');
    const turns: Turn[] = [];
    for (const u of v.utterances) {
      if (isObject(u)) turns.push(codedTurn(textString(u.text) ?? '', textString(u.speaker)));
    }
    return makeCall(item, key, turns, pickPassthrough(v, new Set(['conversation_id', 'utterances']), options.passthrough));
  },
};

/** ABCD dialogues to calls, as a Step. */
export function abcdCalls(options: AdapterOptions = {}) {
  return documentStep(abcdAdapter, options);
}

/** Taskmaster-1 dialogues to calls, as a Step. */
export function taskmasterCalls(options: AdapterOptions = {}) {
  return documentStep(taskmasterAdapter, options);
}

/** ABCD dialogues to calls, as an object-mode Transform. */
export function abcdCallsStream(options: AdapterOptions = {}) {
  return stepStream(abcdCalls(options));
}

/** Taskmaster-1 dialogues to calls, as an object-mode Transform. */
export function taskmasterCallsStream(options: AdapterOptions = {}) {
  return stepStream(taskmasterCalls(options));
}
