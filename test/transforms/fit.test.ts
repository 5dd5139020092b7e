/**
 * Long calls that fit (`fit` in transforms/prompts/call-summary.ts, docs/long-calls.md): a prompt
 * over its token budget gets whole turns from both ends and a marker, or, for one huge turn, a head
 * and a tail of its characters; the estimate always ends at or under the budget.
 */
import { describe, expect, it } from 'vitest';
import { charactersMarker, fitTranscript, promptCalls, renderTranscript, turnsMarker, type PromptOptions } from '../../transforms/prompts/call-summary.js';
import { estimateTokens } from '../../src/records/tokens.js';
import type { Call, PromptItem, Reject, Turn } from '../../src/records/types.js';
import { thrownBatchError } from '../support/errors.js';
import { run } from './helpers.js';

const TEMPLATE = 'Summarise this call.\n<transcript>\n{{transcript}}\n</transcript>\nAnswer briefly.';
const OPEN = 'Summarise this call.\n<transcript>\n';
const CLOSE = '\n</transcript>\nAnswer briefly.';

function call(turns: Turn[], over: Partial<Call> = {}): Call {
  return { kind: 'call', file: 'calls.jsonl', line: 7, key: 'c-7', turns, ...over };
}

/** `n` alternating turns, each a sentence naming its number (so every kept line is identifiable). */
function dialogue(n: number, words = 12): Turn[] {
  return Array.from({ length: n }, (_, i) => ({
    speaker: i % 2 === 0 ? 'Agent' : 'Customer',
    text: `turn ${i} ` + Array.from({ length: words }, (_, w) => `word${(i * 7 + w) % 13}`).join(' '),
  }));
}

function prompt(options: PromptOptions, c: Call): PromptItem | Reject {
  const out = run(promptCalls(options), [c]);
  expect(out).toHaveLength(1);
  return out[0] as PromptItem | Reject;
}

const truncate = (budgetTokens: number, extra: PromptOptions = {}): PromptOptions => ({ template: TEMPLATE, fit: { mode: 'truncate', budgetTokens }, ...extra });

/** The transcript inside TEMPLATE. */
function transcriptOf(p: PromptItem): string {
  expect(p.prompt.startsWith(OPEN) && p.prompt.endsWith(CLOSE)).toBe(true);
  return p.prompt.slice(OPEN.length, p.prompt.length - CLOSE.length);
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const cp = (s: string) => [...s].length;

/** Check a character cut of `original` (rendered): head a prefix, tail a suffix, marker counting exactly what is missing. */
function checkCharacterCut(original: string, transcript: string, labelAgain = ''): { head: string; tail: string; omitted: number } {
  const m = /\n?\[… (\d+) characters? omitted …\]\n?/.exec(transcript);
  expect(m, 'a characters marker').not.toBeNull();
  const head = transcript.slice(0, m!.index);
  let tail = transcript.slice(m!.index + m![0].length);
  if (labelAgain !== '' && tail.startsWith(labelAgain)) tail = tail.slice(labelAgain.length);
  expect(original.startsWith(head)).toBe(true);
  expect(original.endsWith(tail)).toBe(true);
  const omitted = Number(m![1]);
  expect(cp(head) + omitted + cp(tail)).toBe(cp(original));
  expect(transcript).not.toMatch(LONE_SURROGATE);
  return { head, tail, omitted };
}

describe('fit: calls that fit', () => {
  it('are untouched, with no truncated flag, in both modes and without fit', () => {
    const c = call(dialogue(6), { passthrough: { agent: 'Sam' }, redacted: { card: 1 } });
    const plain = prompt({ template: TEMPLATE }, c) as PromptItem;
    expect(plain.prompt).toBe(OPEN + renderTranscript(c.turns) + CLOSE);
    for (const fit of [{ mode: 'truncate', budgetTokens: 10_000 }, { mode: 'reject', budgetTokens: 10_000 }] as const) {
      const p = prompt({ template: TEMPLATE, fit }, c) as PromptItem;
      expect(p).toEqual(plain);
      expect(p).not.toHaveProperty('truncated');
      expect(p).toMatchObject({ passthrough: { agent: 'Sam' }, redacted: { card: 1 } });
    }
  });

  it('the budget edge: exactly at the budget is untouched, one token under is cut to fit', () => {
    const c = call(dialogue(40));
    const full = OPEN + renderTranscript(c.turns) + CLOSE;
    const at = estimateTokens(full);
    expect((prompt(truncate(at), c) as PromptItem).prompt).toBe(full);
    const under = prompt(truncate(at - 1), c) as PromptItem;
    expect(under.prompt).not.toBe(full);
    expect(estimateTokens(under.prompt)).toBeLessThanOrEqual(at - 1);
    expect(under.truncated).toBe(1); // one turn of ~20 tokens goes, for a single token over
    expect(transcriptOf(under)).toContain(turnsMarker(1));
    expect(turnsMarker(1)).toBe('[… 1 turn omitted …]');
  });
});

describe('fit: long multi-turn calls', () => {
  const c = call(dialogue(200));
  const lines = renderTranscript(c.turns).split('\n');
  const budget = 400;

  it('keeps whole turns from the start and the end, with one marker naming how many were left out', () => {
    const p = prompt(truncate(budget), c) as PromptItem;
    expect(estimateTokens(p.prompt)).toBeLessThanOrEqual(budget);
    const kept = transcriptOf(p).split('\n');
    const at = kept.findIndex((l) => l.startsWith('[…'));
    expect(kept.filter((l) => l.startsWith('[…'))).toHaveLength(1);
    const head = kept.slice(0, at);
    const tail = kept.slice(at + 1);
    const omitted = lines.length - head.length - tail.length;
    expect(kept[at]).toBe(`[… ${omitted} turns omitted …]`);
    expect(p.truncated).toBe(omitted);
    expect(omitted).toBeGreaterThan(100);
    // Whole turns, a prefix and a suffix of the original lines, speaker labels included.
    expect(head).toEqual(lines.slice(0, head.length));
    expect(tail).toEqual(lines.slice(lines.length - tail.length));
    for (const l of [...head, ...tail]) expect(l).toMatch(/^(Agent|Customer): turn \d+ /);
    // 40% head, 60% tail (the turns are of nearly equal size), and the room is used: one more turn would not fit.
    expect(head.length).toBeGreaterThan(0);
    expect(tail.length).toBeGreaterThan(head.length);
    expect(tail.length / (head.length + tail.length)).toBeCloseTo(0.6, 1);
    const oneMore = [...head, lines[head.length]!, `[… ${omitted - 1} turns omitted …]`, ...tail].join('\n');
    expect(estimateTokens(OPEN + oneMore + CLOSE)).toBeGreaterThan(budget);
  });

  it('gives the room one side cannot use to the other side', () => {
    // A huge last turn: the tail keeps nothing, so the head takes the whole room.
    const turns = [...dialogue(60), { speaker: 'Customer', text: 'x '.repeat(5000) }];
    const p = prompt(truncate(400), call(turns)) as PromptItem;
    const kept = transcriptOf(p).split('\n');
    expect(kept.at(-1)).toMatch(/^\[… \d+ turns omitted …\]$/);
    const headTokens = estimateTokens(kept.slice(0, -1).join('\n'));
    expect(headTokens).toBeGreaterThan(0.8 * (400 - estimateTokens(OPEN + CLOSE)));
    expect(estimateTokens(p.prompt)).toBeLessThanOrEqual(400);
  });

  it('is deterministic: the same prompt from a fresh step, twice', () => {
    const a = prompt(truncate(budget), c) as PromptItem;
    const b = prompt(truncate(budget), c) as PromptItem;
    expect(b).toEqual(a);
    const both = run(promptCalls(truncate(budget)), [c, c]) as PromptItem[];
    expect(both[1]).toEqual(both[0]);
  });

  it('fits every budget exactly, for many budgets and shapes (random calls, a fixed seed)', () => {
    let seed = 14;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const alphabet = ['a', 'é', 'ж', '中', '😀', ' ', ' ', '\n', 'z', 'ß'];
    for (let k = 0; k < 150; k++) {
      const turns: Turn[] = Array.from({ length: 1 + Math.floor(rnd() * 30) }, (_, i) => ({
        ...(rnd() < 0.8 ? { speaker: i % 2 ? 'Customer' : 'Agent' } : {}),
        text: Array.from({ length: Math.floor(rnd() * (rnd() < 0.1 ? 3000 : 200)) }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join(''),
      }));
      const c2 = call(turns);
      const full = OPEN + renderTranscript(turns) + CLOSE;
      const budget2 = estimateTokens(OPEN + CLOSE) + 40 + Math.floor(rnd() * 400);
      const p = prompt(truncate(budget2), c2);
      expect(p.kind).toBe('prompt');
      const out = (p as PromptItem).prompt;
      expect(estimateTokens(out)).toBeLessThanOrEqual(budget2);
      expect(out).not.toMatch(LONE_SURROGATE);
      if (estimateTokens(full) <= budget2) {
        expect(out).toBe(full);
        expect(p).not.toHaveProperty('truncated');
      } else {
        expect((p as PromptItem).truncated).toBeGreaterThanOrEqual(1);
        expect(out.match(/\[… \d+ (turns?|characters?) omitted …\]/g)).toHaveLength(1);
      }
    }
  });
});

describe('fit: one huge turn (one call per row, the transcript in one cell)', () => {
  it('is cut at line breaks: a head and a tail of whole lines, the marker counting the characters left out', () => {
    const text = Array.from({ length: 3000 }, (_, i) => `line ${i} of the transcript, the customer says something`).join('\n');
    const p = prompt(truncate(500), call([{ text }])) as PromptItem;
    expect(estimateTokens(p.prompt)).toBeLessThanOrEqual(500);
    expect(p.truncated).toBe(1);
    const { head, tail, omitted } = checkCharacterCut(text, transcriptOf(p));
    expect(head).toMatch(/^line 0 of/);
    expect(text[head.length]).toBe('\n'); // a whole line
    expect(text[text.length - tail.length - 1]).toBe('\n');
    expect(tail).toMatch(/^line \d+ of/);
    expect(tail.endsWith('line 2999 of the transcript, the customer says something')).toBe(true);
    expect(omitted).toBeGreaterThan(100_000);
    // Room used on both sides, the tail with more of it.
    expect(estimateTokens(tail)).toBeGreaterThan(estimateTokens(head));
    expect(estimateTokens(head) + estimateTokens(tail)).toBeGreaterThan(0.8 * (500 - estimateTokens(OPEN + CLOSE) - 10));
  });

  it('with no line breaks, at whitespace; with none at all, anywhere; the label stays on the head', () => {
    const words = Array.from({ length: 20_000 }, (_, i) => `w${i}`).join(' ');
    const p = prompt(truncate(300), call([{ speaker: 'Agent', text: words }])) as PromptItem;
    const { head, tail } = checkCharacterCut(`Agent: ${words}`, transcriptOf(p));
    expect(head).toMatch(/^Agent: w0 w1 /);
    expect(head).toMatch(/ w\d+$/);
    expect(tail).toMatch(/^w\d+ /);
    expect(words.split(' ')).toContain(head.split(' ').at(-1));
    expect(words.split(' ')).toContain(tail.split(' ')[0]);
    const blob = 'x'.repeat(50_000);
    const q = prompt(truncate(300), call([{ text: blob }])) as PromptItem;
    const cut = checkCharacterCut(blob, transcriptOf(q));
    expect(estimateTokens(q.prompt)).toBe(300); // a hard cut uses the room to the last token
    expect(cut.omitted).toBeGreaterThan(48_000);
  });

  it('multibyte and emoji text: never half a surrogate pair, and the estimate still within the budget', () => {
    const text = '😀中é😀'.repeat(5000); // no whitespace: hard cuts at every budget
    for (let budget = 60; budget < 90; budget++) {
      const p = prompt(truncate(budget), call([{ text }])) as PromptItem;
      const t = transcriptOf(p);
      expect(estimateTokens(p.prompt)).toBeLessThanOrEqual(budget);
      expect(Buffer.from(t, 'utf8').toString('utf8')).toBe(t);
      checkCharacterCut(text, t);
    }
  });

  it('a few short turns around huge ones: the characters are cut, the tail gets its speaker again', () => {
    const turns: Turn[] = [
      { speaker: 'Agent', text: 'Hello.' },
      { speaker: 'Customer', text: 'a '.repeat(20_000) + 'end of complaint' },
      { speaker: 'Agent', text: 'b '.repeat(20_000) + 'so it is refunded' },
    ];
    const p = prompt(truncate(400), call(turns)) as PromptItem;
    expect(estimateTokens(p.prompt)).toBeLessThanOrEqual(400);
    const t = transcriptOf(p);
    const { head, tail } = checkCharacterCut(renderTranscript(turns), t, 'Agent: ');
    expect(head).toMatch(/^Agent: Hello\.\nCustomer: a a /);
    expect(t).toMatch(/omitted …\]\nAgent: b b /);
    expect(tail.endsWith('so it is refunded')).toBe(true);
    expect(p.truncated).toBe(2); // the customer's and the agent's long turns are cut; the greeting is whole
  });
});

describe('fit: what cannot fit, and the options', () => {
  it('a template over the budget on its own is E_TOO_MANY_TOKENS at construction, naming the template', () => {
    const e = thrownBatchError(() => promptCalls({ template: 'Please summarise. '.repeat(100) + '{{transcript}}', fit: { mode: 'truncate', budgetTokens: 200 } }));
    expect(e).toMatchObject({ code: 'E_TOO_MANY_TOKENS', message: expect.stringMatching(/the template alone takes about \d+ tokens.*200-token prompt budget/) });
    expect(thrownBatchError(() => promptCalls({ fit: { mode: 'truncate', budgetTokens: 50 } }))).toMatchObject({ message: expect.stringMatching(/the default template alone/) });
    // In reject mode nothing is checked in the prompt stage.
    expect(() => promptCalls({ template: 'Please summarise. '.repeat(100) + '{{transcript}}', fit: { mode: 'reject', budgetTokens: 200 } })).not.toThrow();
  });

  it('a call whose fields fill the budget is one reject naming the template and the counts, never the text', () => {
    const secret = 'card 4111 1111 1111 1111 '.repeat(100);
    const c = call(dialogue(30), { passthrough: { notes: secret } });
    const out = run(promptCalls(truncate(300, { template: 'Notes: {{notes}}\n{{transcript}}' })), [c, call(dialogue(30), { key: 'c-8', passthrough: { notes: 'short' } })]);
    expect(out[0]).toMatchObject({ kind: 'reject', key: 'c-7', stage: 'prompt', code: 'E_TOO_MANY_TOKENS', reason: expect.stringMatching(/template with this call's fields takes about \d+ tokens.*300-token prompt budget/) });
    expect((out[0] as Reject).reason).not.toContain('4111');
    expect((out[0] as Reject).reason).not.toContain('turn ');
    expect(out[1]).toMatchObject({ kind: 'prompt', key: 'c-8', truncated: expect.any(Number) });
    expect(estimateTokens((out[1] as PromptItem).prompt)).toBeLessThanOrEqual(300);
  });

  it('a template that leaves room for the fields but not for the marker is a reject too', () => {
    const tpl = '{{transcript}}';
    const c = call(dialogue(30), { passthrough: {} });
    const r = prompt({ template: 'x'.repeat(4 * 20 - 4) + tpl, fit: { mode: 'truncate', budgetTokens: 22 } }, c);
    expect(r).toMatchObject({ kind: 'reject', code: 'E_TOO_MANY_TOKENS', reason: expect.stringMatching(/leaving no room for the transcript/) });
  });

  it('the transcript twice in a template: both copies cut alike, the whole within the budget', () => {
    const c = call(dialogue(100));
    const p = prompt({ template: 'A:\n{{transcript}}\nB:\n{{transcript}}', fit: { mode: 'truncate', budgetTokens: 500 } }, c) as PromptItem;
    expect(estimateTokens(p.prompt)).toBeLessThanOrEqual(500);
    const [, a, b] = /^A:\n([\s\S]*)\nB:\n([\s\S]*)$/.exec(p.prompt)!;
    expect(a).toBe(b);
    expect(a).toContain(turnsMarker(p.truncated!));
  });

  it("reject mode (and no fit) leave a long call as it was, for validation's E_TOO_MANY_TOKENS", () => {
    const c = call(dialogue(300));
    const plain = prompt({ template: TEMPLATE }, c) as PromptItem;
    expect(estimateTokens(plain.prompt)).toBeGreaterThan(100);
    expect(prompt({ template: TEMPLATE, fit: { mode: 'reject', budgetTokens: 100 } }, c)).toEqual(plain);
    expect(plain).not.toHaveProperty('truncated');
  });

  it('bad fit options are E_BAD_OPTION', () => {
    const bad: unknown[] = [null, 'truncate', [], { mode: 'cut', budgetTokens: 10 }, { budgetTokens: 10 }, { mode: 'truncate' }, { mode: 'truncate', budgetTokens: 0 }, { mode: 'truncate', budgetTokens: -5 }, { mode: 'truncate', budgetTokens: 1.5 }, { mode: 'truncate', budgetTokens: Number.NaN }, { mode: 'reject', budgetTokens: '100' }];
    for (const fit of bad) {
      expect(thrownBatchError(() => promptCalls({ fit } as unknown as PromptOptions))).toMatchObject({ code: 'E_BAD_OPTION', message: expect.stringMatching(/^fit/) });
    }
  });

  it('fitTranscript for a user prompt step: the transcript alone within a token count', () => {
    const turns = dialogue(50);
    expect(fitTranscript(turns, 10_000)).toEqual({ transcript: renderTranscript(turns), truncated: 0 });
    const f = fitTranscript(turns, 200)!;
    expect(estimateTokens(f.transcript)).toBeLessThanOrEqual(200);
    expect(f.transcript).toContain(turnsMarker(f.truncated));
    expect(fitTranscript(turns, 3)).toBeUndefined();
    expect(charactersMarker(1)).toBe('[… 1 character omitted …]');
  });
});
