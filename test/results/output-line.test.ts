/**
 * The fast path of the output-line reader against JSON.parse of the whole line (the reference):
 * on every line, when the fast path answers, the full parse must succeed and say the same; when the
 * full parse fails, the fast path must give up. Nasty hand-made lines first, then a seeded fuzz of
 * valid lines and of their mutations.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../src/core/random.js';
import { parseOutputLine, parseOutputLineFull, scanOutputLine, skimOutputLine, sniffRecordId, type OutputLine } from '../../src/results/output-line.js';

const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'outputs', 'families');

function reference(b: Buffer): OutputLine | 'invalid' | 'not-object' {
  try {
    const v = parseOutputLineFull(b);
    return 'notAnObject' in v ? 'not-object' : v;
  } catch {
    return 'invalid';
  }
}

function same(fast: OutputLine, full: OutputLine): void {
  expect(fast.recordId).toBe(full.recordId);
  expect(fast.hasModelOutput).toBe(full.hasModelOutput);
  expect(fast.modelOutput).toEqual(full.modelOutput);
  expect(fast.hasError).toBe(full.hasError);
  expect(fast.error).toEqual(full.error);
  expect(fast.modelInputJson === undefined).toBe(full.modelInputJson === undefined);
  // the full parse re-serialises modelInput (1e400 -> null, -0 -> 0); the fast path keeps its text
  if (fast.modelInputJson !== undefined) expect(JSON.stringify(JSON.parse(fast.modelInputJson))).toBe(full.modelInputJson);
}

/** Checks one line both ways; returns whether the fast path answered. */
function check(text: string | Buffer): boolean {
  const b = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  const ref = reference(b);
  const fast = scanOutputLine(b);
  if (ref === 'invalid' || ref === 'not-object') {
    expect(fast, `the fast path accepted a line JSON.parse refuses: ${b.toString('utf8').slice(0, 200)}`).toBeUndefined();
    expect(parseOutputLine(b).ok).toBe(false);
    return false;
  }
  const outcome = parseOutputLine(b);
  expect(outcome.ok).toBe(true);
  if (outcome.ok) same(outcome.value, ref);
  if (fast) same(fast, ref);
  return fast !== undefined;
}

describe('output line: nasty cases', () => {
  const mi = '{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}';
  const mo = '{"content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":2}}';
  const cases: [string, string, boolean][] = [
    ['plain success', `{"recordId":"R1","modelInput":${mi},"modelOutput":${mo}}`, true],
    ['modelOutput first', `{"modelOutput":${mo},"recordId":"R1","modelInput":${mi}}`, true],
    ['spaces as in the AWS docs', `{ "recordId" : "R1", "modelInput" : ${mi}, "modelOutput" : ${mo} }`, true],
    ['error with a number code', `{"recordId":"R1","modelInput":${mi},"error":{"errorCode":400,"errorMessage":"bad"}}`, true],
    ['error with a string code', `{"recordId":"R1","modelInput":${mi},"error":{"errorCode":"429","errorMessage":"slow down"}}`, true],
    ['nested modelOutput key inside modelInput', `{"recordId":"R1","modelInput":{"x":{"modelOutput":{"fake":1},"recordId":"FAKE"}},"modelOutput":${mo}}`, true],
    ['nested modelOutput key inside modelOutput', `{"recordId":"R1","modelInput":${mi},"modelOutput":{"content":[{"type":"tool_use","input":{"modelOutput":1,"error":2}}]}}`, true],
    ['modelOutput key text inside a string', `{"recordId":"R1","modelInput":{"t":"\\"modelOutput\\": {\\"a\\":1}, \\"error\\":"},"modelOutput":${mo}}`, true],
    ['raw U+2028 and U+2029 in text', `{"recordId":"R1","modelInput":${mi},"modelOutput":{"content":[{"type":"text","text":"a\u2028b\u2029c"}]}}`, true],
    ['escapes of every kind', `{"recordId":"R1","modelInput":{"t":"\\" \\/ \\b \\f \\n \\r \\t \\u00e9 \\ud83d\\ude00"},"modelOutput":${mo}}`, true],
    ['backslash pairs before a quote', `{"recordId":"R1","modelInput":{"t":"ends with a backslash \\\\"},"modelOutput":${mo}}`, true],
    ['non-ASCII and emoji', `{"recordId":"R1","modelInput":{"t":"¿Puede? — 你好 😀"},"modelOutput":{"content":[{"type":"text","text":"é😀"}]}}`, true],
    ['numbers of every form', `{"recordId":"R1","modelInput":{"a":-0,"b":1.5e-3,"c":2E+10,"d":0.25,"e":[1,-2,3.0]},"modelOutput":${mo}}`, true],
    ['empty containers', `{"recordId":"R1","modelInput":{"a":[],"b":{},"c":[[],[{}]]},"modelOutput":{}}`, true],
    ['literals', `{"recordId":"R1","modelInput":{"a":true,"b":false,"c":null},"modelOutput":null}`, true],
    ['extra top-level keys', `{"recordId":"R1","jobArn":"arn","modelInput":${mi},"modelOutput":${mo},"extra":[1,{"modelOutput":2}]}`, true],
    ['no modelInput echo', `{"recordId":"R1","modelOutput":${mo}}`, true],
    ['recordId not a string', `{"recordId":12345678901,"modelInput":${mi},"modelOutput":${mo}}`, true],
    ['empty object', `{}`, true],
    // the fast path must give up (the full parse decides)
    ['escaped top-level key', `{"recordId":"R1","modelInput":${mi},"model\\u004futput":${mo}}`, false],
    ['escaped recordId key', `{"record\\u0049d":"R1","modelInput":${mi},"modelOutput":${mo}}`, false],
    ['repeated modelOutput key (last wins)', `{"recordId":"R1","modelInput":${mi},"modelOutput":{"a":1},"modelOutput":${mo}}`, false],
    ['repeated recordId', `{"recordId":"R1","recordId":"R2","modelInput":${mi},"modelOutput":${mo}}`, false],
    ['whitespace of every kind between tokens', `{"recordId":"R1",\t"modelInput" :\r${mi} , "modelOutput":${mo}}`, true],
    ['backslash pair then a space', `{"recordId":"R1","modelInput":{"t":"a\\\\ b"},"modelOutput":${mo}}`, true],
    ['backslash pair then x', `{"recordId":"R1","modelInput":{"t":"a\\\\x"},"modelOutput":${mo}}`, true],
    // invalid: both must refuse
    ['truncated in modelInput', `{"recordId":"R1","modelInput":{"anthropic_version":"bedrock-2023-05-31","max_tok`, false],
    ['truncated after modelOutput', `{"recordId":"R1","modelInput":${mi},"modelOutput":${mo}`, false],
    ['raw control character in a string', `{"recordId":"R1","modelInput":{"t":"a\u0001b"},"modelOutput":${mo}}`, false],
    ['bad escape', `{"recordId":"R1","modelInput":{"t":"a\\xb"},"modelOutput":${mo}}`, false],
    ['short unicode escape', `{"recordId":"R1","modelInput":{"t":"a\\u12"},"modelOutput":${mo}}`, false],
    ['trailing comma', `{"recordId":"R1","modelInput":{"a":1,},"modelOutput":${mo}}`, false],
    ['missing comma', `{"recordId":"R1" "modelInput":${mi},"modelOutput":${mo}}`, false],
    ['bad literal', `{"recordId":"R1","modelInput":{"a":tru},"modelOutput":${mo}}`, false],
    ['leading zero', `{"recordId":"R1","modelInput":{"a":01},"modelOutput":${mo}}`, false],
    ['bare dot number', `{"recordId":"R1","modelInput":{"a":1.},"modelOutput":${mo}}`, false],
    ['single quotes (old docs)', `{'recordId': 'R1', 'modelOutput': {}}`, false],
    ['two objects on a line', `{"recordId":"R1","modelOutput":{}}{"recordId":"R2"}`, false],
    ['garbage after the object', `{"recordId":"R1","modelOutput":{}} x`, false],
    ['mismatched brackets', `{"recordId":"R1","modelInput":{"a":[1,2}},"modelOutput":${mo}}`, false],
    ['an array, not an object', `[{"recordId":"R1"}]`, false],
    ['a string, not an object', `"R1"`, false],
  ];
  for (const [name, line, fastExpected] of cases) {
    it(name, () => {
      const fast = check(line);
      expect(fast).toBe(fastExpected);
    });
  }

  it('takes only the top-level values, whatever the nesting', () => {
    const v = scanOutputLine(Buffer.from(cases[5]![1]))!;
    expect(v.recordId).toBe('R1');
    expect(v.modelOutput).toEqual(JSON.parse(mo));
    expect(JSON.parse(v.modelInputJson!)).toEqual({ x: { modelOutput: { fake: 1 }, recordId: 'FAKE' } });
  });

  it('reads a line inside a larger buffer by offsets', () => {
    const line = cases[0]![1];
    const b = Buffer.from(`garbage\n${line}\nmore`);
    const v = scanOutputLine(b, 8, 8 + Buffer.byteLength(line))!;
    expect(v.recordId).toBe('R1');
  });

  it('checks string bodies four bytes at a time rightly at every alignment', () => {
    const bodies = ['plain text long enough to span words', 'ends with an escape \\n', 'a\\\\\\"b', '\\u00e9\\u00E9x', 'bad \\q escape', 'short \\u12 escape', 'raw \u0001 control', 'raw \u001f', 'raw \t tab', 'edge \\', '¿é😀\u2028'];
    for (const body of bodies) {
      const line = `{"recordId":"R1","modelInput":{"t":"${body}"},"modelOutput":{"t":"${body}"}}`;
      for (let pad = 0; pad < 8; pad++) {
        const b = Buffer.concat([Buffer.alloc(pad, 0x20), Buffer.from(line), Buffer.from('\n')]);
        const ref = reference(b.subarray(pad, b.length - 1));
        const fast = scanOutputLine(b, pad, b.length - 1);
        expect(fast === undefined, `${JSON.stringify(body)} at offset ${pad}`).toBe(ref === 'invalid');
      }
    }
  });

  it('finds the recordId at the start of a broken line', () => {
    const b = Buffer.from('{"recordId":"CALL0000007","modelInput":{"anthropic_version":"bed');
    expect(sniffRecordId(b, 0, b.length)).toBe('CALL0000007');
    expect(sniffRecordId(Buffer.from('{"modelInput":{}'), 0, 15)).toBeUndefined();
  });

  it('agrees with the full parse on every fixture line of every family', () => {
    let lines = 0;
    let fast = 0;
    for (const f of readdirSync(FIXTURES).filter((n) => n.endsWith('.jsonl.out'))) {
      for (const line of readFileSync(join(FIXTURES, f), 'utf8').split('\n')) {
        if (!line) continue;
        lines++;
        if (check(line)) fast++;
      }
    }
    expect(lines).toBe(18);
    expect(fast).toBe(18);
  });
});

const NASTY_STRINGS = [
  'plain text',
  '"modelOutput": {',
  '\\',
  '\\"',
  'line\nbreak',
  'tab\there',
  'a\u2028b\u2029c\u0085d',
  '¿Puede enviarme la factura? — é 你好 😀',
  '\ud83d',
  '}]},{"x":',
  '',
  '\u0000\u001f',
];
const KEYS = ['recordId', 'modelInput', 'modelOutput', 'error', 'text', 'content', 'usage', 'x'];

function randomValue(rand: () => number, depth: number): unknown {
  const r = rand();
  if (depth > 4 || r < 0.3) {
    const k = Math.floor(rand() * 6);
    if (k === 0) return NASTY_STRINGS[Math.floor(rand() * NASTY_STRINGS.length)];
    if (k === 1) return Math.floor(rand() * 1e6) - 5e5;
    if (k === 2) return rand() * 1e-3;
    if (k === 3) return rand() < 0.5;
    if (k === 4) return null;
    return 'x'.repeat(Math.floor(rand() * 50));
  }
  if (r < 0.6) return Array.from({ length: Math.floor(rand() * 4) }, () => randomValue(rand, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = Math.floor(rand() * 4); i > 0; i--) o[KEYS[Math.floor(rand() * KEYS.length)]!] = randomValue(rand, depth + 1);
  return o;
}

/** The members of a valid output line around an echoed prompt `text`, in random order: recordId,
 * modelInput, modelOutput (or, one time in five, error) and sometimes another key. */
function randomParts(rand: () => number, i: number, text: string): { parts: [string, unknown][]; isError: boolean } {
  const parts: [string, unknown][] = [
    ['recordId', `R${String(i).padStart(10, '0')}`],
    ['modelInput', { messages: [{ role: 'user', content: [{ text }] }], extra: randomValue(rand, 1) }],
  ];
  const isError = rand() >= 0.8;
  if (!isError) parts.push(['modelOutput', randomValue(rand, 1)]);
  else parts.push(['error', { errorCode: rand() < 0.5 ? 400 : '429', errorMessage: NASTY_STRINGS[i % NASTY_STRINGS.length] }]);
  if (rand() < 0.2) parts.push(['x', randomValue(rand, 1)]);
  for (let j = parts.length - 1; j > 0; j--) {
    const k = Math.floor(rand() * (j + 1));
    [parts[j], parts[k]] = [parts[k]!, parts[j]!];
  }
  return { parts, isError };
}

/** A valid output line with random key order, spacing and nasty content. */
function randomLine(rand: () => number, i: number): string {
  const { parts } = randomParts(rand, i, NASTY_STRINGS[i % NASTY_STRINGS.length]!);
  const sp = rand() < 0.2 ? ' ' : '';
  let json = `{${sp}${parts.map(([k, v]) => `"${k}"${sp}:${sp}${JSON.stringify(v)}`).join(`,${sp}`)}${sp}}`;
  // JSON.stringify escapes U+2028/U+2029; Bedrock may write them raw
  if (rand() < 0.5) json = json.replace(/\\u2028/g, '\u2028').replace(/\\u2029/g, '\u2029');
  return json;
}

const MUTATION_BYTES = [0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x20, 0x09, 0x30, 0x2d, 0x65, 0x01, 0x75];

describe('output line: seeded fuzz against the full parse', () => {
  it('agrees on 3,000 valid lines, most of them on the fast path', () => {
    const rand = mulberry32(7);
    let fast = 0;
    for (let i = 0; i < 3000; i++) if (check(randomLine(rand, i))) fast++;
    // only lines with a repeated top-level key go to the full parse
    expect(fast).toBeGreaterThan(2900);
  });

  it('never accepts what JSON.parse refuses, on 20,000 mutated lines', () => {
    const rand = mulberry32(11);
    let refused = 0;
    for (let i = 0; i < 20000; i++) {
      const b = Buffer.from(randomLine(rand, i), 'utf8');
      const kind = Math.floor(rand() * 4);
      const at = Math.floor(rand() * b.length);
      let m: Buffer;
      if (kind === 0) m = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
      else if (kind === 1) m = Buffer.concat([b.subarray(0, at), Buffer.from([MUTATION_BYTES[Math.floor(rand() * MUTATION_BYTES.length)]!]), b.subarray(at)]);
      else if (kind === 2) {
        m = Buffer.from(b);
        m[at] = MUTATION_BYTES[Math.floor(rand() * MUTATION_BYTES.length)]!;
      } else m = b.subarray(0, at);
      if (reference(m) === 'invalid') refused++;
      check(m);
    }
    expect(refused).toBeGreaterThan(10000);
  });
});

/**
 * The answer-first reader (`skimOutputLine`, collect's when the echo is not returned) against the
 * same reference, under the rule of the module comment: where it answers, its values are the full
 * parse's; it reads a line JSON.parse refuses only when every fault is inside a string body of the
 * echoed modelInput (that echo then with its string bodies blanked is JSON, and the rest of the line
 * reads the same as before the fault).
 */
describe('output line: the answer-first reader against the full parse', () => {
  /** A valid line as randomLine makes them (random key order, spacing, nasty content), and the byte range of its echoed modelInput. */
  function lineWithEcho(rand: () => number, i: number): { text: string; echo: [number, number]; isError: boolean } {
    // texts long and short, with the nasty part at their end (right before the closing quote)
    const { parts, isError } = randomParts(rand, i, 'Agent: hello. '.repeat(Math.floor(rand() * 8)) + NASTY_STRINGS[i % NASTY_STRINGS.length]);
    const sp = rand() < 0.2 ? ' ' : '';
    const raw = rand() < 0.5;
    // JSON.stringify escapes U+2028/U+2029 only in old engines; Bedrock may write them raw
    const json = (v: unknown) => (raw ? JSON.stringify(v).replace(/\\u2028/g, '\u2028').replace(/\\u2029/g, '\u2029') : JSON.stringify(v));
    let text = `{${sp}`;
    let echo: [number, number] = [0, 0];
    parts.forEach(([k, v], n) => {
      if (n > 0) text += `,${sp}`;
      text += `"${k}"${sp}:${sp}`;
      const value = json(v);
      if (k === 'modelInput') echo = [Buffer.byteLength(text), Buffer.byteLength(text) + Buffer.byteLength(value)];
      text += value;
    });
    text += `${sp}}`;
    return { text, echo, isError };
  }

  function sameAnswer(fast: OutputLine, full: OutputLine): void {
    expect(fast.recordId).toBe(full.recordId);
    expect(fast.hasModelOutput).toBe(full.hasModelOutput);
    expect(fast.modelOutput).toEqual(full.modelOutput);
    expect(fast.hasError).toBe(full.hasError);
    expect(fast.error).toEqual(full.error);
    expect(fast.modelInputJson).toBeUndefined();
  }

  it('agrees on the nasty cases, and gives up on what it must', () => {
    const mi = '{"anthropic_version":"bedrock-2023-05-31","messages":[{"role":"user","content":[{"type":"text","text":"a \\"q\\" \\\\ b"}]}]}';
    const mo = '{"content":[{"type":"text","text":"ok"}],"usage":{"input_tokens":1,"output_tokens":2}}';
    const lines: [string, boolean][] = [
      [`{"recordId":"R1","modelInput":${mi},"modelOutput":${mo}}`, true],
      [`{"modelOutput":${mo},"recordId":"R1","modelInput":${mi}}`, true],
      [`{ "recordId" : "R1" , "modelInput" : ${mi} , "modelOutput" : ${mo} }  `, true],
      [`{"recordId":"R1","modelInput":${mi},"modelOutput":${mo},"extra":1}`, true],
      [`{"recordId":"R1","modelInput":${mi},"error":{"errorCode":400,"errorMessage":"bad"}}`, true],
      [`{"recordId":"R1","modelInput":${mi},"modelOutput":${mo},"modelOutput":${mo}}`, false],
      [`{"recordId":"R1","modelInput":${mi},"model\\u004futput":${mo}}`, false],
      [`{"recordId":"R1","modelInput":${mi},"modelOutput":${mo},"error":{}}`, false],
      [`{"recordId":"R1","modelInput":${mi}}`, false],
      [`{"recordId":"R1","modelInput":${mi},"modelOutput":${mo}`, false],
      [`{"recordId":"R1","modelInput":${mi},"modelOutput":${mo}}}`, false],
      [`{"recordId":"R1","modelInput":{"a":[1,2}},"modelOutput":${mo}}`, false],
      [`{"recordId":"R1","modelInput":{"a":01},"modelOutput":${mo}}`, false],
      [`{"recordId":"R1","modelInput":${mi},"modelOutput":{"t":"a\u0001b"}}`, false],
      [`{"recordId":"R1\u0001","modelInput":${mi},"modelOutput":${mo}}`, false],
    ];
    for (const [text, answers] of lines) {
      const b = Buffer.from(text);
      const ref = reference(b);
      const fast = skimOutputLine(b, 0, b.length, 'never');
      expect(fast !== undefined, text).toBe(answers);
      if (fast) {
        expect(ref).not.toBe('invalid');
        sameAnswer(fast, ref as OutputLine);
      }
      const chained = parseOutputLine(b, 0, b.length, 'never');
      expect(chained.ok).toBe(ref !== 'invalid' && ref !== 'not-object');
      if (chained.ok) sameAnswer(chained.value, parseOutputLineFull(b, 0, b.length, 'never') as OutputLine);
    }
  });

  it('leaves an error line to the strict reader when its echo is wanted, so the echo is checked', () => {
    const b = Buffer.from('{"recordId":"R1","modelInput":{"t":"a\u0001b"},"error":{"errorCode":429,"errorMessage":"slow"}}');
    expect(skimOutputLine(b, 0, b.length, 'errors')).toBeUndefined();
    expect(skimOutputLine(b, 0, b.length, 'always')).toBeUndefined();
    expect(parseOutputLine(b, 0, b.length, 'errors').ok).toBe(false);
    // under 'never' the same line is read: its answer is sound, and the echo is not used (rule 2)
    expect(skimOutputLine(b, 0, b.length, 'never')?.error).toEqual({ errorCode: 429, errorMessage: 'slow' });
  });

  it('agrees on 3,000 valid lines, nearly all of them read answer first', () => {
    const rand = mulberry32(17);
    let skimmed = 0;
    for (let i = 0; i < 3000; i++) {
      const { text, isError } = lineWithEcho(rand, i);
      const b = Buffer.from(text);
      const ref = reference(b) as OutputLine;
      const mode = rand() < 0.5 ? 'never' : 'errors';
      const fast = skimOutputLine(b, 0, b.length, mode);
      if (mode === 'errors' && isError) {
        // its echo goes to a retry: the strict reader reads it
        expect(fast).toBeUndefined();
      } else {
        // these lines have no repeated top-level key: nothing to give up on
        expect(fast, text.slice(0, 200)).toBeDefined();
        skimmed++;
        sameAnswer(fast!, ref);
      }
      const chained = parseOutputLine(b, 0, b.length, mode);
      expect(chained.ok).toBe(true);
      if (chained.ok) {
        expect(chained.value.recordId).toBe(ref.recordId);
        expect(chained.value.modelOutput).toEqual(ref.modelOutput);
        expect(chained.value.error).toEqual(ref.error);
      }
    }
    expect(skimmed).toBeGreaterThan(2500);
  });

  it('reads a line JSON.parse refuses only for faults inside the echo\'s string bodies, on 20,000 mutated lines', () => {
    const rand = mulberry32(23);
    let refused = 0;
    let excused = 0;
    for (let i = 0; i < 20000; i++) {
      const { text, echo } = lineWithEcho(rand, i);
      const b = Buffer.from(text, 'utf8');
      const original = reference(b) as OutputLine;
      const kind = Math.floor(rand() * 4);
      const at = Math.floor(rand() * b.length);
      let m: Buffer;
      let delta = 0;
      if (kind === 0) {
        m = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
        delta = -1;
      } else if (kind === 1) {
        m = Buffer.concat([b.subarray(0, at), Buffer.from([MUTATION_BYTES[Math.floor(rand() * MUTATION_BYTES.length)]!]), b.subarray(at)]);
        delta = 1;
      } else if (kind === 2) {
        m = Buffer.from(b);
        m[at] = MUTATION_BYTES[Math.floor(rand() * MUTATION_BYTES.length)]!;
      } else m = b.subarray(0, at);
      const ref = reference(m);
      if (ref === 'invalid') refused++;
      const fast = skimOutputLine(m, 0, m.length, 'never');
      if (!fast) continue;
      if (ref !== 'invalid' && ref !== 'not-object') {
        sameAnswer(fast, ref);
        continue;
      }
      // read although JSON.parse refuses: the fault must be in the echo, in a string body
      excused++;
      expect(kind, 'a truncated line is never read').not.toBe(3);
      expect(at >= echo[0] && at < echo[1], `fault at ${at}, echo at ${echo[0]}-${echo[1]}: ${m.toString('utf8').slice(0, 300)}`).toBe(true);
      const echoText = m.toString('utf8', echo[0], echo[1] + delta);
      expect(() => JSON.parse(echoText.replace(/"(?:[^"\\]|\\[\s\S])*"/g, '""')), echoText).not.toThrow();
      sameAnswer(fast, original);
    }
    expect(refused).toBeGreaterThan(10000);
    // the exception exists (mutations land in echoed strings), and stays an exception
    expect(excused).toBeGreaterThan(0);
    expect(excused).toBeLessThan(refused / 4);
  });

  it('agrees on every fixture line of every family', () => {
    for (const f of readdirSync(FIXTURES).filter((n) => n.endsWith('.jsonl.out'))) {
      for (const line of readFileSync(join(FIXTURES, f), 'utf8').split('\n')) {
        if (!line) continue;
        const b = Buffer.from(line);
        const fast = skimOutputLine(b, 0, b.length, 'never');
        expect(fast, line.slice(0, 100)).toBeDefined();
        sameAnswer(fast!, reference(b) as OutputLine);
      }
    }
  });
});
