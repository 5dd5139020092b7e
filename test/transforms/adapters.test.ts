/** Every document adapter on the real samples in fixtures/ (see fixtures/README.md). */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { abcdCalls, taskmasterCalls } from '../../transforms/adapters/chat-datasets.js';
import { contactLensCalls } from '../../transforms/adapters/contact-lens.js';
import { microsoftCalls } from '../../transforms/adapters/microsoft.js';
import { parseTranscriptText, textCalls } from '../../transforms/adapters/text.js';
import { transcribeCalls } from '../../transforms/adapters/transcribe.js';
import { whisperCalls } from '../../transforms/adapters/whisper.js';
import { FIXTURES, calls, item, jsonArrayItems, jsonItem, only, rejects, run, textItem } from './helpers.js';

describe('transcribe: standard output', () => {
  it('diarization: one turn per speaker run, punctuation glued, times in ms, key from jobName', () => {
    const call = only(run(transcribeCalls(), [jsonItem('transcribe/diarization-output-batch.json')]));
    expect(call.key).toBe('my-first-transcription-job');
    expect(call.turns).toEqual([
      { text: "I've been on hold for an hour.", speaker: 'spk_0', startMs: 4870, endMs: 6880 },
      { text: 'Sorry about that.', speaker: 'spk_1', startMs: 8490, endMs: 9240 },
    ]);
    expect(call.passthrough).toEqual({ accountId: '111122223333', status: 'COMPLETED' });
  });

  it('channel identification: ch_0 / ch_1 turns, no role invented', () => {
    const call = only(run(transcribeCalls(), [jsonItem('transcribe/channel-id-output-batch.json')]));
    expect(call.turns.map((t) => [t.speaker, t.text, t.role])).toEqual([
      ['ch_0', "I've been on hold for an hour.", undefined],
      ['ch_1', 'Sorry about that.', undefined],
    ]);
  });

  it('channel identification with labels only under channel_labels (old outputs): merged by time', () => {
    const doc = JSON.parse(readFileSync(FIXTURES + 'transcribe/channel-id-output-batch.json', 'utf8'));
    for (const i of doc.results.items) delete i.channel_label;
    doc.results.items.reverse(); // must not matter: the channels' own items are used
    const call = only(run(transcribeCalls(), [item('x/old.json', 1, doc)]));
    expect(call.turns.map((t) => `${t.speaker}: ${t.text}`)).toEqual(["ch_0: I've been on hold for an hour.", 'ch_1: Sorry about that.']);
  });

  it('old diarized output (medical): speaker joined through speaker_labels.segments by start_time', () => {
    const call = only(run(transcribeCalls(), [jsonItem('transcribe/medical-conversation-diarization.json')]));
    expect(call.key).toBe('job ID');
    expect(call.turns).toEqual([{ text: 'Professional answer.', speaker: 'spk_0', startMs: 100, endMs: 1210 }]);
  });

  it('no speakers: the plain transcript as one unlabelled turn', () => {
    const call = only(run(transcribeCalls(), [jsonItem('transcribe/how-input-example.json')]));
    expect(call.turns).toEqual([{ text: 'Welcome to Amazon Transcribe.' }]);
  });

  it('newer outputs: audio_segments are the turns', () => {
    const doc = {
      jobName: 'job-2024',
      results: {
        transcripts: [{ transcript: 'Hello. Hi there.' }],
        items: [],
        audio_segments: [
          { id: 0, transcript: 'Hello.', start_time: '0.5', end_time: '1.2', speaker_label: 'spk_0', items: [0, 1] },
          { id: 1, transcript: 'Hi there.', start_time: '1.4', end_time: '2.0', speaker_label: 'spk_1', items: [2, 3, 4] },
        ],
      },
      status: 'COMPLETED',
    };
    const call = only(run(transcribeCalls(), [item('s3://b/out/job-2024.json', 1, doc)]));
    expect(call.turns).toEqual([
      { text: 'Hello.', speaker: 'spk_0', startMs: 500, endMs: 1200 },
      { text: 'Hi there.', speaker: 'spk_1', startMs: 1400, endMs: 2000 },
    ]);
  });

  it('no jobName: the key is the file base name', () => {
    const doc = JSON.parse(readFileSync(FIXTURES + 'transcribe/how-input-example.json', 'utf8'));
    delete doc.jobName;
    expect(only(run(transcribeCalls(), [item('s3://bucket/out/call-42.json.gz', 1, doc)])).key).toBe('call-42');
  });
});

describe('transcribe: Call Analytics', () => {
  const call = only(run(transcribeCalls(), [jsonItem('call-analytics/example-call.json')]));
  it('37 turns with roles, ms offsets and the JobName key', () => {
    expect(call.key).toBe('example-call.wav');
    expect(call.turns).toHaveLength(37);
    expect(call.turns[0]).toEqual({
      text: 'Thank you for calling Anchor Credit Union, the number one choice for captains worldwide, how can I help you?',
      speaker: 'Agent',
      role: 'agent',
      startMs: 40,
      endMs: 5050,
    });
    expect(call.turns.at(-1)).toMatchObject({ text: 'Bye.', role: 'agent' });
    expect(new Set(call.turns.map((t) => t.role))).toEqual(new Set(['agent', 'customer']));
    expect(call.turns.filter((t) => t.text.includes('[PII]'))).toHaveLength(10);
  });
  it('turns are sorted by BeginOffsetMillis', () => {
    const doc = JSON.parse(readFileSync(FIXTURES + 'call-analytics/example-call.json', 'utf8'));
    doc.Transcript.reverse();
    const sorted = only(run(transcribeCalls(), [item('f.json', 1, doc)]));
    expect(sorted.turns.map((t) => t.startMs)).toEqual(call.turns.map((t) => t.startMs));
  });
});

describe('contact lens', () => {
  it('voice: roles through Participants[], 10 turns, key from the file when no CustomerMetadata', () => {
    const call = only(run(contactLensCalls(), [jsonItem('contact-lens/voice-analyzed-original.REPAIRED.json')]));
    expect(call.key).toBe('voice-analyzed-original.REPAIRED');
    expect(call.turns).toHaveLength(10);
    expect(call.turns[0]).toEqual({ text: 'Okay.', speaker: 'Agent', role: 'agent', startMs: 0, endMs: 90 });
    expect(call.turns.at(-1)).toMatchObject({ text: 'Thank you. Sir. Have a nice evening.', role: 'customer', startMs: 30580 });
  });

  it('voice: a participant id that is not a role is mapped through Participants[]', () => {
    const doc = JSON.parse(readFileSync(FIXTURES + 'contact-lens/voice-analyzed-original.REPAIRED.json', 'utf8'));
    doc.Participants = [
      { ParticipantId: 'p-1', ParticipantRole: 'CUSTOMER' },
      { ParticipantId: 'p-2', ParticipantRole: 'AGENT' },
    ];
    for (const t of doc.Transcript) t.ParticipantId = t.ParticipantId === 'AGENT' ? 'p-2' : 'p-1';
    const call = only(run(contactLensCalls(), [item('Analysis/Voice/2024/01/02/abc-123_analysis_2024-01-02T10:00:00Z.json', 1, doc)]));
    expect(call.key).toBe('abc-123');
    expect(call.turns[0]!.role).toBe('agent');
    expect(call.turns[1]!.role).toBe('customer');
  });

  it('chat: MESSAGE entries only (31 of 35), SYSTEM kept as system, key from CustomerMetadata', () => {
    const call = only(run(contactLensCalls(), [jsonItem('contact-lens/chat-analyzed-original.json')]));
    expect(call.key).toBe('b49644f6-672f-445c-b209-f76b36482830');
    expect(call.turns).toHaveLength(31);
    expect(call.turns.filter((t) => t.role === 'system')).toHaveLength(3);
    expect(call.turns[0]).toMatchObject({ speaker: 'System', role: 'system' });
    expect(call.turns.at(-1)).toEqual({ text: 'Ok great! Have a great day.', speaker: 'Agent', role: 'agent' });
    expect(call.turns.every((t) => t.startMs === undefined)).toBe(true);
  });

  it('redacted chat: speaker is the role, never the [PII] display name', () => {
    const call = only(run(contactLensCalls(), [jsonItem('contact-lens/chat-analyzed-redacted.json')]));
    expect(call.turns).toHaveLength(31);
    expect(call.turns.some((t) => t.speaker === '[PII]')).toBe(false);
    expect(new Set(call.turns.map((t) => t.speaker))).toEqual(new Set(['System', 'Agent', 'Customer']));
  });
});

describe('plain text', () => {
  /** An independent count: lines that start with a known speaker label. */
  const labelled = (rel: string) => readFileSync(FIXTURES + rel, 'utf8').split('\n').filter((l) => /^(Customer|Agent|Supervisor|Financial Advisor):/.test(l)).length;

  it.each([
    ['1034', 16],
    ['316', 37],
    ['1016', 31],
    ['609', 50],
    ['1', 28],
  ])('%s.txt: one turn per speaker line (%i), key from the file name', (n, count) => {
    const rel = `text/${n}.txt`;
    const call = only(run(textCalls(), [textItem(rel)]));
    expect(call.key).toBe(n);
    expect(call.turns).toHaveLength(count);
    expect(labelled(rel)).toBe(count);
  });

  it('1034.txt: first and last turns', () => {
    const call = only(run(textCalls(), [textItem('text/1034.txt')]));
    expect(call.turns[0]!.speaker).toBe('Customer');
    expect(call.turns[0]!.role).toBe('customer');
    expect(call.turns[0]!.text.startsWith('*sighs heavily* Ugh, finally got through to someone.')).toBe(true);
    expect(call.turns.at(-1)).toEqual({ text: 'Goodbye, sir. *call ends*', speaker: 'Agent', role: 'agent' });
  });

  it('316.txt: label-like lines and stage directions stay inside turns', () => {
    const call = only(run(textCalls(), [textItem('text/316.txt')]));
    const withOrder = call.turns.find((t) => t.text.includes('Order number: 12345'))!;
    expect(withOrder.speaker).toBe('Agent');
    expect(withOrder.text).toContain('Estimated delivery date: June 15th\nTotal: $99.99');
    expect(call.turns.some((t) => t.speaker === 'Total' || t.speaker === 'Order number')).toBe(false);
    const pause = call.turns.find((t) => t.text.includes('*brief pause*'))!;
    expect(pause.text).toContain('*brief pause*\nAh, I see what happened here.');
    expect(call.turns.at(-1)).toEqual({ text: '*gratefully* You too, bye!\n*call ends*', speaker: 'Customer', role: 'customer' });
  });

  it('rare speakers are agent-side; non-ASCII text is kept', () => {
    const sup = only(run(textCalls(), [textItem('text/1016.txt')]));
    expect(sup.turns.filter((t) => t.speaker === 'Supervisor').every((t) => t.role === 'agent')).toBe(true);
    const fa = only(run(textCalls(), [textItem('text/609.txt')]));
    expect(fa.turns.at(-1)).toMatchObject({ speaker: 'Financial Advisor', role: 'agent', text: 'Goodbye, {NAME}.\n*call ends*' });
    const es = only(run(textCalls(), [textItem('text/1.txt')]));
    expect(es.turns.some((t) => /[^\x00-\x7f]/.test(t.text))).toBe(true);
  });

  it('parses CRLF, a BOM, text before the first label, and repeated unknown labels', () => {
    expect(parseTranscriptText('\uFEFFHold music\r\nJane: Hi\r\n\r\nBob: Hello\r\nJane: Bye')).toEqual([
      { text: 'Hold music' },
      { text: 'Hi', speaker: 'Jane', role: 'agent' },
      { text: 'Hello', speaker: 'Bob', role: 'agent' },
      { text: 'Bye', speaker: 'Jane', role: 'agent' },
    ]);
    // a label seen once that is not a role is text; "Note: ..." twice would be a speaker.
    expect(parseTranscriptText('Caller: hi\nNote: one\nAgent: ok').map((t) => t.speaker)).toEqual(['Caller', 'Agent']);
  });

  it('an empty or whitespace-only file is one E_MISSING_TEXT reject', () => {
    const out = run(textCalls(), [item('calls/empty.txt', 1, '  \n\n ')]);
    expect(rejects(out)).toMatchObject([{ code: 'E_MISSING_TEXT', key: 'empty', stage: 'adapt' }]);
  });
});

describe('other formats', () => {
  it('microsoft: markdown turns, title dropped, ConversationId key, times passed through', () => {
    const call = only(run(microsoftCalls(), [jsonItem('microsoft/convo_0b7ecd6e-f37c-4bcb-8ea5-4b48906d37c0_2025-12-05020000.json')]));
    expect(call.key).toBe('0b7ecd6e-f37c-4bcb-8ea5-4b48906d37c0');
    expect(call.turns).toHaveLength(35);
    expect(call.turns[0]).toEqual({ text: 'Thank you for calling Woodgrove  IT Helpdesk. My name is Chris. How can I assist you today?', speaker: 'Agent', role: 'agent' });
    expect(call.turns.at(-1)).toMatchObject({ text: 'Goodbye, Helena. Take care!', role: 'agent' });
    expect(call.passthrough).toEqual({ ClientId: '10013', StartTime: '2025-12-05 02:00:00', EndTime: '2025-12-05 02:24:00' });
  });

  it('microsoft: collapsed newlines in the processed array still split into turns; long summary not passed through', () => {
    const out = run(microsoftCalls(), jsonArrayItems('microsoft/sample_processed_data.first3.json'));
    expect(calls(out).map((c) => c.turns.length)).toEqual([32, 25, 31]);
    expect(calls(out)[0]!.passthrough).toMatchObject({ satisfied: 'Yes', sentiment: 'Neutral' });
    expect(calls(out)[0]!.passthrough).not.toHaveProperty('summary'); // over 256 characters
  });

  it('abcd: three dialogues, action rows as system turns, scenario flow passed through', () => {
    const out = calls(run(abcdCalls(), jsonArrayItems('chat-datasets/abcd_sample.json')));
    expect(out.map((c) => [c.key, c.turns.length])).toEqual([
      ['3592', 29],
      ['9489', 21],
      ['3695', 22],
    ]);
    expect(out[0]!.turns[0]).toEqual({ text: 'Hi!', speaker: 'Agent', role: 'agent' });
    expect(out[0]!.turns.at(-1)).toEqual({ text: "That's it. Take care.", speaker: 'Customer', role: 'customer' });
    expect(out[0]!.turns.some((t) => t.role === 'system' && t.speaker === 'Action')).toBe(true);
    expect(out[0]!.passthrough).toEqual({ flow: 'product_defect', subflow: 'return_size' });
  });

  it('taskmaster: USER is the customer, ASSISTANT the agent', () => {
    const call = only(run(taskmasterCalls(), [jsonItem('chat-datasets/taskmaster-sample.json')]));
    expect(call.key).toBe('dlg-00055f4e-4a46-48bf-8d99-4e477663eb23');
    expect(call.turns).toHaveLength(20);
    expect(call.turns[0]).toEqual({ text: "Hi, I'm looking to book a table for Korean food.", speaker: 'User', role: 'customer' });
    expect(call.turns.at(-1)).toMatchObject({ speaker: 'Assistant', role: 'agent', text: 'Great. You will get a confirmation to your phone soon.' });
  });

  it('conversation-intelligence sample: 41 turns (5 empty segments left out), key from the audio key', () => {
    const call = only(run(whisperCalls(), [jsonItem('conversation-intelligence/dashboard-sample.json')]));
    expect(call.key).toBe('3232cec7-ba0a-439f-ba07-cb54c8072959');
    expect(call.turns).toHaveLength(41);
    expect(call.turns[0]).toEqual({ text: 'Um', speaker: 'Agent', role: 'agent', startMs: 6103, endMs: 6494 });
    expect(call.turns[1]!.text).toBe('हैलो, हाई आड़ियो');
    expect(call.turns.at(-1)).toMatchObject({ text: 'Yeah.', speaker: 'Customer' });
  });
});

describe('document adapters: bounds and pass-through', () => {
  it('a call over maxCallBytes is one E_CALL_TOO_LARGE reject carrying no text', () => {
    const out = run(textCalls({ maxCallBytes: 1000 }), [textItem('text/1034.txt')]);
    expect(out).toHaveLength(1);
    const r = rejects(out)[0]!;
    expect(r).toMatchObject({ code: 'E_CALL_TOO_LARGE', key: '1034', file: 'fixtures/text/1034.txt', line: 1 });
    expect(r.reason).not.toContain('sighs');
    expect(r.reason.length).toBeLessThan(200);
  });

  it('other items (rejects, calls) pass through unchanged and in order', () => {
    const upstream = { kind: 'reject' as const, file: 'a.json', line: 3, stage: 'decode' as const, code: 'E_BAD_JSON' as const, reason: 'bad' };
    const out = run(transcribeCalls(), [upstream, jsonItem('transcribe/how-input-example.json')]);
    expect(out[0]).toBe(upstream);
    expect(out[1]!.kind).toBe('call');
  });

  it('passthrough: none drops the fields, a list keeps exactly those', () => {
    expect(only(run(transcribeCalls({ passthrough: 'none' }), [jsonItem('transcribe/how-input-example.json')])).passthrough).toBeUndefined();
    expect(only(run(transcribeCalls({ passthrough: ['status', 'nope'] }), [jsonItem('transcribe/how-input-example.json')])).passthrough).toEqual({
      status: 'COMPLETED',
    });
  });

  it('bad options throw E_BAD_OPTION at construction', () => {
    expect(() => textCalls({ maxCallBytes: 0 })).toThrow(expect.objectContaining({ code: 'E_BAD_OPTION' }));
    expect(() => textCalls({ passthrough: 'some' as never })).toThrow(/passthrough/);
  });
});
