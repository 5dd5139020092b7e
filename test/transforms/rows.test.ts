/**
 * The row adapter (transforms/adapters/rows.ts), format detection (detect.ts) and the call-summary
 * prompt (prompts/call-summary.ts).
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { adaptCalls, detectFormat } from '../../transforms/adapters/detect.js';
import { detectRowColumns, normaliseColumn, rowCalls, sniffRows } from '../../transforms/adapters/rows.js';
import { CALL_SUMMARY_TEMPLATE, compileTemplate, promptCalls, renderTranscript } from '../../transforms/prompts/call-summary.js';
import { assignIds } from '../../src/records/ids.js';
import type { Call, PrepareItem, PromptItem, Reject, SourceItem } from '../../src/records/types.js';
import { thrownBatchError } from '../support/errors.js';
import { FIXTURES, calls, csvItems, item, jsonItem, jsonlItems, only, rejects, run, textItem } from './helpers.js';

/** Rows as SourceItems: the first line is the header, rows start on line 2 (one line each). */
function rows(file: string, header: string[], ...data: unknown[][]): SourceItem[] {
  return data.map((r, i) => item(file, i + 2, Object.fromEntries(header.map((h, c) => [h, r[c]])), 10));
}

describe('rows: one call per row', () => {
  it('the real export (fixtures/calls.csv): 283 calls, the transcript as one turn, the other columns passed through', () => {
    const src = csvItems('calls.csv');
    const out = run(rowCalls(), src);
    expect(out).toHaveLength(283);
    const all = calls(out);
    expect(all).toHaveLength(283);
    expect(new Set(all.map((c) => c.key)).size).toBe(283);
    const first = all[0]!;
    expect(first).toMatchObject({ kind: 'call', file: 'fixtures/calls.csv', line: 2, key: 'call-0000' });
    expect(first.turns).toEqual([{ text: (src[0]!.value as Record<string, string>).transcript }]);
    expect(first.passthrough).toEqual({ agent: 'Alex Moreno', queue: 'promotions', started_at: '2024-09-02T08:12:10Z' });
    expect(all.map((c) => c.line)).toEqual(src.map((s) => s.line));
  });

  it('the real JSONL export: contact_id is the key', () => {
    const all = calls(run(rowCalls(), jsonlItems('calls.jsonl')));
    expect(all).toHaveLength(12);
    expect(all[0]!.key).toBe('c-1050');
    expect(all.map((c) => c.line)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
  });

  it('numbers as keys and text (JSONL), keys trimmed', () => {
    const out = run(rowCalls(), [item('a.jsonl', 1, { id: 42, text: 7 }), item('a.jsonl', 2, { id: ' k2 ', text: 'x' })]);
    expect(calls(out).map((c) => [c.key, c.turns[0]!.text])).toEqual([
      ['42', '7'],
      ['k2', 'x'],
    ]);
  });
});

describe('rows: adjacent rows with the same key are one call only in an utterance export', () => {
  it('one call per row: two adjacent rows with the same id are two calls (the second is rejected by the id stage, naming both lines), never one merged prompt', () => {
    const src = rows('c.csv', ['call_id', 'transcript', 'agent'], ['A', 'first call', 'Sam'], ['A', 'second call', 'Kim'], ['B', 'b', 'Sam']);
    const adapted = run(rowCalls(), src);
    expect(adapted.map((x) => (x.kind === 'call' ? `${x.key}@${x.line}:${x.turns.map((t) => t.text).join('|')}:${x.passthrough?.agent}` : x.kind))).toEqual([
      'A@2:first call:Sam',
      'A@3:second call:Kim',
      'B@4:b:Sam',
    ]);
    const ids = assignIds();
    const out: unknown[] = [];
    for (const c of calls(adapted)) ids.write({ kind: 'record', recordId: '', modelInput: {}, file: c.file, line: c.line, key: c.key }, (x) => out.push(x));
    expect(out[1]).toMatchObject({ kind: 'reject', code: 'E_DUPLICATE_KEY', key: 'A', line: 3, file: 'c.csv' });
    expect((out[1] as Reject).reason).toMatch(/"A" was already seen at line 2/);
  });

  it('a speaker or role column, or rows: "utterances", makes the export one utterance per row; rows: "calls" says it is not', () => {
    const keys = (items: PrepareItem[]) => calls(items).map((c) => `${c.key}@${c.line}x${c.turns.length}`);
    expect(keys(run(rowCalls(), rows('s.csv', ['call_id', 'speaker', 'text'], ['A', 'Agent', 'x'], ['A', 'Customer', 'y'])))).toEqual(['A@2x2']);
    expect(keys(run(rowCalls(), rows('r.csv', ['call_id', 'role', 'text'], ['A', 'agent', 'x'], ['A', 'customer', 'y'])))).toEqual(['A@2x2']);
    expect(keys(run(rowCalls(), rows('n.csv', ['call_id', 'text'], ['A', 'x'], ['A', 'y'])))).toEqual(['A@2x1', 'A@3x1']);
    expect(keys(run(rowCalls({ rows: 'utterances' }), rows('n.csv', ['call_id', 'text'], ['A', 'x'], ['A', 'y'])))).toEqual(['A@2x2']);
    expect(keys(run(rowCalls({ rows: 'calls' }), rows('s.csv', ['call_id', 'speaker', 'text'], ['A', 'Agent', 'x'], ['A', 'Customer', 'y'])))).toEqual(['A@2x1', 'A@3x1']);
    expect(thrownBatchError(() => rowCalls({ rows: 'lines' as never }))).toMatchObject({ code: 'E_BAD_OPTION', message: expect.stringMatching(/rows must be "calls" or "utterances"/) });
  });
});

describe('rows: one utterance per row, grouped', () => {
  it('the real export (fixtures/utterances.csv): 12 calls, speakers and roles, times in ms, varying columns not passed through', () => {
    const src = csvItems('utterances.csv');
    const out = run(rowCalls(), src);
    const all = calls(out);
    expect(out).toHaveLength(12);
    expect(all.map((c) => c.key)).toEqual(Array.from({ length: 12 }, (_, i) => `U-${1000 + i}`));
    expect(all.map((c) => c.turns.length)).toEqual([27, 24, 24, 24, 24, 27, 26, 27, 36, 28, 22, 22]);
    const first = all[0]!;
    expect(first.line).toBe(2);
    expect(first.turns[0]).toMatchObject({ speaker: 'Customer', role: 'customer', startMs: 100, endMs: 12_100 });
    expect(first.turns[1]).toMatchObject({ speaker: 'Agent', role: 'agent', startMs: 13_300 });
    expect(first.passthrough).toBeUndefined(); // `turn` differs on every row
    const raw = readFileSync(`${FIXTURES}utterances.csv`, 'utf8');
    expect(all[1]!.line).toBe(raw.slice(0, raw.indexOf('\nU-1001,')).split('\n').length + 1); // quoted texts span lines
  });

  it('rows of one call become its turns, in order; the group\'s bytes are its rows\' bytes', () => {
    const out = run(rowCalls(), rows('u.csv', ['call_id', 'speaker', 'text', 'queue'], ['A', 'Agent', 'Hello', 'billing'], ['A', 'Customer', 'Hi', 'billing'], ['B', 'AGENT', 'Yes?', 'sales']));
    expect(out).toEqual([
      {
        kind: 'call',
        file: 'u.csv',
        line: 2,
        key: 'A',
        turns: [
          { text: 'Hello', speaker: 'Agent', role: 'agent' },
          { text: 'Hi', speaker: 'Customer', role: 'customer' },
        ],
        passthrough: { queue: 'billing' },
      },
      { kind: 'call', file: 'u.csv', line: 4, key: 'B', turns: [{ text: 'Yes?', speaker: 'AGENT', role: 'agent' }], passthrough: { queue: 'sales' } },
    ]);
  });

  it('a role column gives the role; the speaker label stays as written', () => {
    const [call] = calls(run(rowCalls(), rows('r.csv', ['conversation_id', 'participant', 'role', 'message'], ['c', 'Jane D.', 'CUSTOMER', 'hi'], ['c', 'Sam', 'AGENT', 'hello'])));
    expect(call!.turns).toEqual([
      { text: 'hi', speaker: 'Jane D.', role: 'customer' },
      { text: 'hello', speaker: 'Sam', role: 'agent' },
    ]);
  });

  it('times: *_ms columns are milliseconds, others seconds; a date is not a time', () => {
    const a = only(run(rowCalls(), rows('t.csv', ['call_id', 'text', 'start_ms', 'end_ms'], ['c', 'x', '1500', 2500])));
    expect(a.turns[0]).toMatchObject({ startMs: 1500, endMs: 2500 });
    const b = only(run(rowCalls(), rows('t.csv', ['call_id', 'text', 'start_time'], ['c', 'x', '2025-12-05 02:00:00'])));
    expect(b.turns[0]!.startMs).toBeUndefined();
    expect(b.passthrough).toEqual({ start_time: '2025-12-05 02:00:00' });
  });

  it('counts calls, not rows: empty-text rows inside a call vanish into it; a call with no text is one reject naming its rows', () => {
    const src = rows('e.csv', ['call_id', 'text'], ['A', 'hi'], ['A', '  '], ['A', ''], ['B', ''], ['B', '\n'], ['C', 'ok']);
    const out = run(rowCalls({ rows: 'utterances' }), src);
    expect(out.map((x) => x.kind)).toEqual(['call', 'reject', 'call']);
    expect((out[0] as Call).turns).toHaveLength(1);
    expect(out[1]).toMatchObject({ code: 'E_MISSING_TEXT', key: 'B', line: 5, stage: 'adapt', bytes: 20 });
    expect((out[1] as Reject).reason).toMatch(/2 rows from line 5.*"text"/);
  });

  it('a row without a key or not an object is a reject of its own, and does not end the call around it', () => {
    const out = run(rowCalls({ rows: 'utterances' }), [
      ...rows('k.csv', ['call_id', 'text'], ['A', 'one'], ['', 'SECRET orphan text that is long enough to be cut off in a preview']),
      item('k.csv', 4, ['not', 'an', 'object'], 5),
      ...rows('k.csv', ['call_id', 'text'], ['A', 'two']).map((x) => ({ ...x, line: 5 })),
    ]);
    expect(out.map((x) => (x.kind === 'reject' ? `${x.code}@${x.line}` : `call@${x.line}`))).toEqual(['E_MISSING_KEY@3', 'E_NOT_AN_OBJECT@4', 'call@2']);
    expect((out[2] as Call).turns.map((t) => t.text)).toEqual(['one', 'two']);
    const missing = out[0] as Reject;
    expect(missing.reason).toMatch(/no call id in column "call_id".*--key/);
    expect(JSON.stringify(missing)).not.toContain('SECRET'); // not even a preview
    expect(JSON.stringify(out[1])).not.toContain('"not"');
    expect(missing.bytes).toBe(10);
  });

  it('a key that comes back after another is not merged: a second call, which the id stage rejects naming both lines', () => {
    const src = rows('d.csv', ['call_id', 'text'], ['A', 'first'], ['B', 'b'], ['A', 'again']);
    const adapted = run(rowCalls(), src);
    expect(calls(adapted).map((c) => `${c.key}@${c.line}`)).toEqual(['A@2', 'B@3', 'A@4']);
    const records: PrepareItem[] = calls(adapted).map((c) => ({ kind: 'record', recordId: '', modelInput: {}, file: c.file, line: c.line, key: c.key }));
    const ids = assignIds();
    const out: unknown[] = [];
    for (const r of records) ids.write(r, (x) => out.push(x));
    expect((out[2] as Reject).code).toBe('E_DUPLICATE_KEY');
    expect((out[2] as Reject).reason).toMatch(/"A" was already seen at line 2.*adjacent/);
    expect((out[2] as Reject).line).toBe(4);
  });

  it('a new file ends the call: the same key in two files is two calls', () => {
    const out = run(rowCalls(), [...rows('a.csv', ['call_id', 'text'], ['A', 'x']), ...rows('b.csv', ['call_id', 'text'], ['A', 'y'])]);
    expect(calls(out).map((c) => `${c.file}:${c.key}`)).toEqual(['a.csv:A', 'b.csv:A']);
  });

  it('a call over maxCallBytes is one E_CALL_TOO_LARGE reject for all its rows, with no text; the next call is fine', () => {
    const src = rows('big.csv', ['call_id', 'speaker', 'text'], ...Array.from({ length: 10 }, (_, i) => ['A', 'Agent', `PRIVATE turn ${i} ${'x'.repeat(50)}`]), ['B', 'Agent', 'short']);
    const out = run(rowCalls({ maxCallBytes: 200 }), src);
    expect(out.map((x) => x.kind)).toEqual(['reject', 'call']);
    const r = out[0] as Reject;
    expect(r).toMatchObject({ code: 'E_CALL_TOO_LARGE', key: 'A', line: 2, bytes: 100 });
    expect(r.reason).toMatch(/10 rows from line 2\) passed 200 bytes of text at line 4/); // 71 bytes a turn
    expect(JSON.stringify(r)).not.toContain('PRIVATE');
  });

  it('passthrough: auto leaves out long values; * keeps them; none drops all; a list keeps exactly those', () => {
    const long = 'y'.repeat(300);
    const src = rows('p.csv', ['call_id', 'text', 'agent', 'notes', 'n'], ['A', 'x', 'Sam', long, 3]);
    expect(only(run(rowCalls(), src)).passthrough).toEqual({ agent: 'Sam', n: 3 });
    expect(only(run(rowCalls({ passthrough: '*' }), src)).passthrough).toEqual({ agent: 'Sam', notes: long, n: 3 });
    expect(only(run(rowCalls({ passthrough: 'none' }), src)).passthrough).toBeUndefined();
    expect(only(run(rowCalls({ passthrough: ['notes', 'text', 'missing'] }), src)).passthrough).toEqual({ notes: long });
  });

  it('other items pass through untouched and in order', () => {
    const upstream: Reject = { kind: 'reject', file: 'x.csv', line: 7, stage: 'decode', code: 'E_BAD_QUOTE', reason: 'r' };
    const out = run(rowCalls(), [...rows('x.csv', ['call_id', 'text'], ['A', 'a']), upstream, ...rows('x.csv', ['call_id', 'text'], ['B', 'b'])]);
    expect(out[0]).toBe(upstream); // the open call A is still open when the reject passes
    expect(calls(out).map((c) => c.key)).toEqual(['A', 'B']);
  });
});

describe('rows: finding the columns', () => {
  const detect = (cols: string[], options = {}) => detectRowColumns(Object.fromEntries(cols.map((c) => [c, 'v'])), 'f.csv', options);

  it('names are compared case- and separator-insensitively; the best key name wins', () => {
    expect(normaliseColumn('Conversation-ID')).toBe('conversationid');
    expect(detect(['CallId', 'Transcript'])).toEqual({ key: 'CallId', text: 'Transcript' });
    expect(detect(['contact_id', 'call_id', 'text'])).toMatchObject({ key: 'call_id' });
    expect(detect(['id', 'conversation'])).toMatchObject({ key: 'id', text: 'conversation' });
    expect(detect(['call_id', 'speaker', 'text', 'speaker_role'])).toEqual({ key: 'call_id', text: 'text', speaker: 'speaker', role: 'speaker_role' });
  });

  it.each([
    [['call_id', 'CallID', 'text'], 'E_AMBIGUOUS_FORMAT', /several columns could be the call id: \["call_id", "CallID"\]/],
    [['call_id', 'transcript', 'text'], 'E_AMBIGUOUS_FORMAT', /several columns could be the transcript text: \["transcript", "text"\]/],
    [['ticket', 'transcript'], 'E_UNKNOWN_FORMAT', /no call-id column among the columns \["ticket", "transcript"\]/],
    [['call_id', 'notes'], 'E_UNKNOWN_FORMAT', /no transcript-text column among the columns \["call_id", "notes"\]/],
  ])('columns %j: %s naming the columns and the flags', (cols, code, message) => {
    const e = thrownBatchError(() => detect(cols));
    expect(e.code).toBe(code);
    expect(e.message).toMatch(message);
    expect(e.file).toBe('f.csv');
    expect(e.hint).toMatch(/--key <column> and --text <column>/);
  });

  it('--key, --text and --speaker override detection (exact name, or one normalised match)', () => {
    expect(detect(['call_id', 'CallID', 'text'], { key: 'CallID' })).toMatchObject({ key: 'CallID' });
    expect(detect(['ticket', 'body_text', 'who'], { key: 'Ticket', text: 'body_text', speaker: 'who' })).toEqual({ key: 'ticket', text: 'body_text', speaker: 'who' });
    expect(detect(['call_id', 'transcript', 'text'], { text: 'transcript' })).toMatchObject({ text: 'transcript' });
    // --text naming the detected key's column moves the key detection elsewhere
    expect(detect(['call_id', 'contact_id'], { text: 'call_id' })).toEqual({ key: 'contact_id', text: 'call_id' });
  });

  it('a bad override names the flag and the columns', () => {
    expect(thrownBatchError(() => detect(['call_id', 'text'], { key: 'nope' }))).toMatchObject({
      code: 'E_UNKNOWN_FORMAT',
      message: expect.stringMatching(/--key "nope" is not a column; the columns are \["call_id", "text"\]/),
    });
    expect(thrownBatchError(() => detect(['Call_ID', 'call-id', 'text'], { key: 'callid' }))).toMatchObject({ code: 'E_AMBIGUOUS_FORMAT', message: expect.stringMatching(/matches several columns/) });
    expect(thrownBatchError(() => detect(['call_id', 'text'], { key: 'text', text: 'text' }))).toMatchObject({ code: 'E_BAD_OPTION', message: expect.stringMatching(/same column "text"/) });
    expect(thrownBatchError(() => rowCalls({ key: '' }))).toMatchObject({ code: 'E_BAD_OPTION', message: expect.stringMatching(/key must be a non-empty column name/) });
  });

  it('detection errors name columns, never values', () => {
    const e = thrownBatchError(() => detectRowColumns({ ticket: 'PRIVATE-VALUE', body: 'x', transcript: 'PRIVATE' }, 'f.csv'));
    expect(e.message).not.toContain('PRIVATE');
  });

  it('sniffRows: false for what is not rows, throws on ambiguity', () => {
    expect(sniffRows({ call_id: 'a', text: 'b' }, 'f')).toBe(true);
    expect(sniffRows({ foo: 1 }, 'f')).toBe(false);
    expect(sniffRows('text', 'f')).toBe(false);
    expect(() => sniffRows({ call_id: 'a', text: 'b', transcript: 'c' }, 'f')).toThrow(/several columns/);
  });

  it('the adapter detects once per file, on the file\'s first row', () => {
    const out = run(rowCalls(), [...rows('a.csv', ['call_id', 'text'], ['A', 'x']), ...rows('b.csv', ['contact_id', 'message'], ['C', 'y'])]);
    expect(calls(out).map((c) => c.key)).toEqual(['A', 'C']);
    const bad = rowCalls();
    expect(() => run(bad, rows('c.csv', ['ticket', 'body'], ['T', 'x']))).toThrow(expect.objectContaining({ code: 'E_UNKNOWN_FORMAT', file: 'c.csv' }));
  });
});

describe('adaptCalls: format detection per file', () => {
  it('picks the adapter per file from its first item', () => {
    expect(detectFormat(rows('a.csv', ['call_id', 'text'], ['A', 'x'])[0]!)).toBe('rows');
    expect(detectFormat(jsonItem('transcribe/diarization-output-batch.json'))).toBe('transcribe');
    expect(detectFormat(jsonItem('contact-lens/chat-analyzed-original.json'))).toBe('contact-lens');
    expect(detectFormat(textItem('text/1034.txt'))).toBe('text');
    const out = run(adaptCalls(), [
      ...rows('a.csv', ['call_id', 'speaker', 'text'], ['A', 'Agent', 'x'], ['A', 'Customer', 'y']),
      jsonItem('transcribe/diarization-output-batch.json'),
      textItem('text/1034.txt'),
    ]);
    expect(calls(out).map((c) => c.key)).toEqual(['A', 'my-first-transcription-job', '1034']);
  });

  it('an unknown shape is E_UNKNOWN_FORMAT naming the fields seen (never values) and the flags', () => {
    const e = thrownBatchError(() => detectFormat(item('x.json', 1, { ticket: 'PRIVATE', payload: { a: 1 } })));
    expect(e.code).toBe('E_UNKNOWN_FORMAT');
    expect(e.message).toMatch(/fields \["ticket", "payload"\].*tried rows, .*; as rows: no call-id column/);
    expect(e.message).not.toContain('PRIVATE');
    expect(e.hint).toMatch(/--format <rows\|.*--key <column> --text <column>/);
    expect(thrownBatchError(() => detectFormat(item('x.json', 1, 42)))).toMatchObject({ code: 'E_UNKNOWN_FORMAT', message: expect.stringMatching(/a number/) });
  });

  it('ambiguous rows stop with E_AMBIGUOUS_FORMAT', () => {
    expect(thrownBatchError(() => run(adaptCalls(), rows('a.csv', ['call_id', 'text', 'transcript'], ['A', 'x', 'y'])))).toMatchObject({ code: 'E_AMBIGUOUS_FORMAT' });
  });

  it('a forced format, column flags implying rows, and conflicting options', () => {
    const out = run(adaptCalls({ key: 'ticket', text: 'body' }), rows('a.csv', ['ticket', 'body'], ['T1', 'x']));
    expect(only(out).key).toBe('T1');
    expect(only(run(adaptCalls({ format: 'text' }), [item('notes/call-7.md', 1, 'Agent: hi\nCustomer: bye')])).turns).toHaveLength(2);
    expect(thrownBatchError(() => adaptCalls({ format: 'xml' }))).toMatchObject({ code: 'E_BAD_OPTION', message: expect.stringMatching(/format must be one of rows, /) });
    expect(thrownBatchError(() => adaptCalls({ format: 'transcribe', key: 'x' }))).toMatchObject({ code: 'E_BAD_OPTION', message: expect.stringMatching(/--key applies to row formats only/) });
  });

  it('rejects from the readers pass through; read = calls + rejects', () => {
    const upstream: Reject = { kind: 'reject', file: 'a.csv', line: 3, stage: 'decode', code: 'E_COLUMN_COUNT', reason: 'r' };
    const src: PrepareItem[] = [...rows('a.csv', ['call_id', 'text'], ['A', 'x'], ['B', '']), upstream, ...rows('a.csv', ['call_id', 'text'], ['C', 'z']).map((x) => ({ ...x, line: 4 }))];
    const out = run(adaptCalls(), src);
    expect(out).toContain(upstream);
    expect(calls(out)).toHaveLength(2);
    expect(rejects(out).map((r) => r.code).sort()).toEqual(['E_COLUMN_COUNT', 'E_MISSING_TEXT']);
  });
});

describe('call-summary prompt', () => {
  const call = (over: Partial<Call> = {}): Call => ({
    kind: 'call',
    file: 'calls.csv',
    line: 2,
    key: 'c-1',
    turns: [
      { speaker: 'Agent', role: 'agent', text: 'Hello, how can I help?' },
      { speaker: 'Customer', text: 'My card was charged twice.' },
    ],
    passthrough: { agent: 'Sam', queue: 'billing' },
    ...over,
  });
  const prompt = (options: Parameters<typeof promptCalls>[0], c = call()) => run(promptCalls(options), [c])[0] as PromptItem | Reject;

  it('the default template: the transcript as Speaker: text lines, asking for reason, resolution, next steps, sentiment', () => {
    const p = prompt({}) as PromptItem;
    expect(p).toMatchObject({ kind: 'prompt', file: 'calls.csv', line: 2, key: 'c-1', passthrough: { agent: 'Sam', queue: 'billing' } });
    expect(p.prompt).toContain('<transcript>\nAgent: Hello, how can I help?\nCustomer: My card was charged twice.\n</transcript>');
    for (const word of ['reason for the call', 'resolution', 'next steps', 'sentiment']) expect(p.prompt.toLowerCase()).toContain(word);
    expect(p.prompt).toBe(CALL_SUMMARY_TEMPLATE.replace('{{transcript}}', renderTranscript(call().turns)));
    expect(p.system).toBeUndefined();
  });

  it('renders a turn without a speaker as its text, or with its role as the label', () => {
    expect(renderTranscript([{ text: 'plain transcript\nwith lines' }])).toBe('plain transcript\nwith lines');
    expect(renderTranscript([{ role: 'customer', text: 'hi' }, { role: 'unknown', text: 'who?' }, { role: 'system', text: 'on hold' }])).toBe('Customer: hi\nwho?\nSystem: on hold');
  });

  it('a user template: {{key}}, passthrough fields, spaces inside braces; the transcript is not expanded again', () => {
    const c = call({ turns: [{ text: 'I typed {{key}} and {{agent}} on purpose' }] });
    const p = prompt({ template: 'Call {{ key }} by {{agent}} ({{queue}}):\n{{transcript}}' }, c) as PromptItem;
    expect(p.prompt).toBe('Call c-1 by Sam (billing):\nI typed {{key}} and {{agent}} on purpose');
  });

  it('a call without a field the template names is one E_TEMPLATE reject naming the field, not a stopped run', () => {
    const out = run(promptCalls({ template: '{{supervisor}}: {{transcript}}' }), [call(), call({ key: 'c-2', passthrough: { supervisor: 'Kim' } })]);
    expect(out[0]).toMatchObject({ kind: 'reject', code: 'E_TEMPLATE', key: 'c-1', stage: 'prompt', reason: expect.stringMatching(/\{\{supervisor\}\}.*--passthrough/) });
    expect((out[1] as PromptItem).prompt).toMatch(/^Kim: /);
  });

  it('bad templates are E_TEMPLATE at construction', () => {
    expect(thrownBatchError(() => promptCalls({ template: '   ' }))).toMatchObject({ code: 'E_TEMPLATE', message: expect.stringMatching(/empty/) });
    expect(thrownBatchError(() => promptCalls({ template: 'Summarise {{key}}' }))).toMatchObject({ code: 'E_TEMPLATE', message: expect.stringMatching(/no \{\{transcript\}\}/) });
    expect(thrownBatchError(() => compileTemplate('{{}} {{transcript}}'))).toMatchObject({ code: 'E_TEMPLATE', message: expect.stringMatching(/malformed placeholder/) });
    expect(thrownBatchError(() => compileTemplate('{{ bad name! }} {{transcript}}'))).toMatchObject({ code: 'E_TEMPLATE' });
    expect(thrownBatchError(() => promptCalls({ template: '{{agnet}} {{transcript}}', fields: ['agent'] }))).toMatchObject({
      code: 'E_TEMPLATE',
      message: expect.stringMatching(/unknown placeholder \{\{agnet\}\}/),
      hint: expect.stringMatching(/\{\{agent\}\}/),
    });
  });

  it('a template file (BOM stripped), errors naming it, and the system option', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bb-tpl-'));
    try {
      const file = join(dir, 'summary.txt');
      await writeFile(file, '\ufeffKey {{key}}\n{{transcript}}');
      expect((prompt({ templateFile: file }) as PromptItem).prompt).toBe('Key c-1\nAgent: Hello, how can I help?\nCustomer: My card was charged twice.');
      expect(thrownBatchError(() => promptCalls({ templateFile: join(dir, 'missing.txt') }))).toMatchObject({ code: 'E_TEMPLATE', message: expect.stringContaining('missing.txt') });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    expect(thrownBatchError(() => promptCalls({ template: '{{transcript}}', templateFile: 'x' }))).toMatchObject({ code: 'E_BAD_OPTION' });
    expect((prompt({ system: 'You summarise calls.' }) as PromptItem).system).toBe('You summarise calls.');
    expect(thrownBatchError(() => promptCalls({ system: '  ' }))).toMatchObject({ code: 'E_BAD_OPTION' });
  });

  it('other items pass through untouched', () => {
    const upstream: Reject = { kind: 'reject', file: 'f', line: 1, stage: 'adapt', code: 'E_MISSING_TEXT', reason: 'r' };
    expect(run(promptCalls(), [upstream])[0]).toBe(upstream);
  });
});
