/**
 * The redactor made fast on whole-call texts (issue 14) gives what it gave before, byte for byte
 * and count for count: every text here goes through the real redactor and through the frozen copy
 * of the one before (redact-oracle.ts), which must agree on the output, the counts per type and
 * each value replaced, in order. The texts: the labelled set one line at a time and joined into
 * long multi-line texts, in both regions; random texts built to put emails, IP addresses, times
 * and versions at the edges of the windows the fast detectors look through (local parts and
 * domains of every length around the limits, astral letters, lone surrogates, `@` and `:` in
 * runs); texts of 1 MB. The email and IP detectors are also compared on their own, without the
 * redactor's gates in front. The speed is the bench's (`node dist/bench/redact.js --turns-per-text
 * 64`), not a test's: tests assert no timings.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { mulberry32, type Random } from '../../src/core/random.js';
import { redactCards, redactEmails, redactIps, type PiiType } from '../../transforms/redact/detectors.js';
import { parseLabelled } from '../../transforms/redact/metrics.js';
import { redactorWith, type RedactOptions, type Redactor } from '../../transforms/redact/redactor.js';
import * as oracle from './redact-oracle.js';

const labelled = parseLabelled(readFileSync(new URL('../fixtures/pii/labelled.jsonl', import.meta.url), 'utf8'));
const REGIONS = ['US', 'ES'] as const;

interface Run {
  out: string;
  counts: Record<string, number>;
  found: Array<[PiiType, string]>;
}

/** The real redactor and the oracle for these options, each recording what it replaced. */
function pair(options: RedactOptions) {
  const found = { real: [] as Array<[PiiType, string]>, oracle: [] as Array<[PiiType, string]> };
  const real = redactorWith(options, (type, original) => found.real.push([type, original]));
  const old = oracle.oracleRedactor(options, (type, original) => found.oracle.push([type, original]));
  const run = (redact: Redactor, into: Array<[PiiType, string]>, text: string): Run => {
    into.length = 0;
    const counts: Record<string, number> = {};
    const out = redact(text, counts);
    return { out, counts, found: [...into] };
  };
  return (text: string) => ({ real: run(real, found.real, text), oracle: run(old, found.oracle, text) });
}

/** Where two strings first differ, with some context: a readable failure even for 1 MB texts. */
function firstDifference(a: string, b: string): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return `at ${i}: real ${JSON.stringify(a.slice(Math.max(0, i - 60), i + 60))} vs oracle ${JSON.stringify(b.slice(Math.max(0, i - 60), i + 60))}`;
}

/** Expect the same output, counts and values replaced from both; returns the counts. */
function expectSame(compare: ReturnType<typeof pair>, text: string, what: string): Record<string, number> {
  const { real, oracle: old } = compare(text);
  if (real.out !== old.out) expect.fail(`${what}: output differs ${firstDifference(real.out, old.out)}`);
  expect(real.counts, what).toEqual(old.counts);
  expect(real.found, what).toEqual(old.found);
  return real.counts;
}

function add(into: Record<string, number>, counts: Record<string, number>): void {
  for (const [k, n] of Object.entries(counts)) into[k] = (into[k] ?? 0) + n;
}

function shuffled<T>(xs: readonly T[], random: Random): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const pick = <T>(xs: readonly T[], random: Random): T => xs[Math.floor(random() * xs.length)]!;
const int = (lo: number, hi: number, random: Random) => lo + Math.floor(random() * (hi - lo + 1));

// ---------------------------------------------------------------------------------------------
// Generators

/** Characters of every class the detectors tell apart: ASCII local-part and domain characters,
 * letters and digits outside ASCII (`é`, Arabic-Indic `٣`), an astral letter (`𝐀`) and an astral
 * non-letter (`😀`), lone surrogates, separators, and the `@`, `:` and `.` the windows hang on. */
const EMAIL_PIECES = ['a', 'Z', 'q', '0', '7', '.', '.', '_', '%', '+', '-', '@', '@', '@', 'é', 'ß', 'Ж', '٣', '𝐀', '😀', '\uD835', '\uDC00', ' ', '\n', ',', '<', '>', '"', '(', 'com', 'co', 'es', 'uk', 'x', 'mail', '.com', '.co.uk'];

function randomEmailish(random: Random): string {
  let s = '';
  const n = int(1, 120, random);
  for (let i = 0; i < n; i++) s += pick(EMAIL_PIECES, random);
  return s;
}

const LOCAL_CHARS = ['a', 'b', 'Z', '0', '9', '.', '_', '%', '+', '-', 'é', 'ñ', '𝐀', '٣'];
const DOMAIN_CHARS = ['a', 'b', 'z', '0', '9', '-', 'é', '𝐀', 'Ж'];
const TLD_CHARS = ['a', 'm', 'z', 'é', '𝐀'];
const CONTEXT = [' ', '\n', '.', ',', '_', '-', '+', '@', 'a', '9', 'é', '𝐀', '😀', '', '', '', ':', ';', '\uDC00'];

/** `n` characters drawn from `chars` (characters, not UTF-16 units: `𝐀` is one of them). */
function chars(chars: readonly string[], n: number, random: Random): string {
  let s = '';
  for (let i = 0; i < n; i++) s += pick(chars, random);
  return s;
}

/** An address near the limits: local parts of 1-70 characters (64 is the most EMAIL takes),
 * labels of 1-66 (63), 1-6 labels, TLDs of 1-26 (2-24), in random context on both sides. */
function edgeEmail(random: Random): string {
  const local = chars(LOCAL_CHARS, pick([1, 2, 5, 62, 63, 64, 64, 65, 66, 70, int(1, 70, random)], random), random);
  const labels: string[] = [];
  for (let k = int(1, 6, random); k > 0; k--) labels.push(chars(DOMAIN_CHARS, pick([1, 2, 61, 62, 63, 64, 66, int(1, 66, random)], random), random));
  const tld = chars(TLD_CHARS, pick([1, 2, 3, 24, 25, 26, int(1, 26, random)], random), random);
  return chars(CONTEXT, int(0, 3, random), random) + `${local}@${labels.join('.')}.${tld}` + chars(CONTEXT, int(0, 3, random), random);
}

const IP_PIECES = ['0', '1', '2', '5', '9', '25', '255', '256', '01', 'a', 'f', 'F', 'e8', 'g', ':', ':', '::', '.', '.', ',', '_', ' ', '\n', 'v', 'x', 'é', '𝐀', '1.2.3.4', '::1', 'fe80::1', '10:30', '12:30:45', '-', '/', 'version ', 'section '];

function randomIpish(random: Random): string {
  let s = '';
  const n = int(1, 60, random);
  for (let i = 0; i < n; i++) s += pick(IP_PIECES, random);
  return s;
}

const octet = (random: Random) => String(pick([0, 1, 9, 10, 99, 100, 192, 249, 250, 255, 256, 300, int(0, 299, random)], random));
const group = (random: Random) => int(0, 0xffff, random).toString(16).slice(0, int(1, 4, random));

/** An IPv4 or IPv6 address, a time, a version or heading, a MAC or a bare `::`, in random context. */
function edgeIp(random: Random): string {
  const v4 = () => `${octet(random)}.${octet(random)}.${octet(random)}.${octet(random)}`;
  const forms = [
    () => v4(),
    () => `${v4()}.${octet(random)}`,
    () => `${pick(['version ', 'v', 'ver. ', 'section ', 'apartado ', 'page: ', 'patch '], random)}${v4()}`,
    () => Array.from({ length: int(2, 9, random) }, () => group(random)).join(':'),
    () => `${group(random)}::${group(random)}`,
    () => `::ffff:${v4()}`,
    () => `fe80::${group(random)}:${group(random)}%eth0`,
    () => `${int(0, 23, random)}:${String(int(0, 59, random)).padStart(2, '0')}${random() < 0.5 ? `:${int(10, 59, random)}` : ''}`,
    () => Array.from({ length: 6 }, () => int(0, 255, random).toString(16).padStart(2, '0')).join(':'),
    () => '::',
    () => `${int(1, 9, random)},${v4()}`,
  ];
  return chars(CONTEXT, int(0, 2, random), random) + pick(forms, random)() + chars(CONTEXT, int(0, 2, random), random);
}

/** A text of many of `make`'s pieces, glued directly or by random separators. */
function glued(make: () => string, n: number, random: Random): string {
  let s = '';
  for (let i = 0; i < n; i++) s += make() + pick(['', '', ' ', '\n', '.', ',', '@', ':', 'x', '𝐀'], random);
  return s;
}

/** Turns of a call with a `Agent:`/`Customer:` prefix, as the bench export writes a whole call. */
function wholeCall(lines: readonly string[], random: Random): string {
  return lines.map((l, i) => `${i % 2 === 0 ? 'Agent' : 'Customer'}: ${l}${random() < 0.1 ? ` Reach me at user${int(0, 99, random)}@example.com.` : ''}`).join('\n');
}

// ---------------------------------------------------------------------------------------------

describe('the labelled set', () => {
  for (const region of REGIONS) {
    it(`gives the same output, counts and values, one line at a time (region ${region})`, () => {
      const compare = pair({ phoneRegion: region });
      const total: Record<string, number> = {};
      for (const [i, l] of labelled.entries()) add(total, expectSame(compare, l.text, `line ${i + 1}`));
      // the comparison is not empty: every type is found
      for (const type of oracle.PII_TYPES) expect(total[type], type).toBeGreaterThan(5);
    });

    it(`gives the same when its lines are joined into long multi-line texts (region ${region})`, () => {
      const random = mulberry32(region === 'US' ? 14 : 41);
      const compare = pair({ phoneRegion: region });
      const texts = labelled.map((l) => l.text);
      const total: Record<string, number> = {};
      for (const size of [2, 16, 64]) {
        for (let round = 0; round < 2; round++) {
          const lines = shuffled(texts, random);
          for (let i = 0; i < lines.length; i += size) {
            add(total, expectSame(compare, lines.slice(i, i + size).join('\n'), `${size} lines from ${i}`));
            add(total, expectSame(compare, wholeCall(lines.slice(i, i + size), random), `call of ${size} lines from ${i}`));
          }
        }
      }
      for (const type of oracle.PII_TYPES) expect(total[type], type).toBeGreaterThan(20);
    });

    it(`gives the same for each type on its own, on whole texts (region ${region})`, () => {
      const random = mulberry32(7);
      const lines = shuffled(
        labelled.map((l) => l.text),
        random,
      );
      for (const type of oracle.PII_TYPES) {
        const compare = pair({ phoneRegion: region, types: [type] });
        let n = 0;
        for (let i = 0; i < lines.length; i += 32) n += expectSame(compare, lines.slice(i, i + 32).join('\n'), `${type}, lines from ${i}`)[type] ?? 0;
        expect(n, type).toBeGreaterThan(5);
      }
    });
  }
});

describe('the email detector on its own', () => {
  const hits = (into: string[]) => (type: PiiType, original: string) => {
    into.push(original);
    return '[EMAIL]';
  };
  const same = (text: string) => {
    const a: string[] = [];
    const b: string[] = [];
    const real = redactEmails(text, hits(a));
    const old = oracle.redactEmails(text, hits(b));
    if (real !== old) expect.fail(`output differs for ${JSON.stringify(text)}: ${firstDifference(real, old)}`);
    expect(a).toEqual(b);
    return a.length;
  };

  it('finds the same in random texts of local-part, domain and separator characters', () => {
    const random = mulberry32(1);
    let found = 0;
    for (let i = 0; i < 20_000; i++) found += same(randomEmailish(random));
    expect(found).toBeGreaterThan(1000);
  });

  it('finds the same addresses at the length limits, next to each other and in any context', () => {
    const random = mulberry32(2);
    let found = 0;
    for (let i = 0; i < 4000; i++) found += same(glued(() => edgeEmail(random), int(1, 6, random), random));
    expect(found).toBeGreaterThan(500);
  });

  it('takes a local part of 64 characters and no more, ASCII or astral', () => {
    for (const c of ['a', '𝐀', 'é']) {
      for (const n of [63, 64, 65, 66, 127, 128, 129, 130]) {
        for (const before of ['', ' ', 'x', '.', '@', '😀', '\uDC00']) {
          const text = `${before}${c.repeat(n)}@example.com tail`;
          same(text);
          same(`${text}\n${text}`);
        }
      }
    }
    expect(redactEmails(`${'a'.repeat(64)}@example.com`, () => '[EMAIL]')).toBe('[EMAIL]');
    expect(redactEmails(`${'a'.repeat(65)}@example.com`, () => '[EMAIL]')).toBe(`${'a'.repeat(65)}@example.com`);
    expect(redactEmails(`${'𝐀'.repeat(64)}@example.com`, () => '[EMAIL]')).toBe('[EMAIL]');
  });

  it('finds the same with long domains and many `@` in a row', () => {
    const random = mulberry32(3);
    same(`x@${'a'.repeat(300)}.com and y@${Array.from({ length: 40 }, () => 'sub').join('.')}.example.org`);
    same(`${'a@'.repeat(500)}b.com`);
    same(`${'ab.'.repeat(100)}@x.com @@ a@@b.com a@b.com@c.com a@b.co.uk@c.com a@b.com.x@y.com`);
    for (let i = 0; i < 200; i++) same(glued(() => `${chars(LOCAL_CHARS, int(0, 140, random), random)}@${chars(DOMAIN_CHARS, int(0, 300, random), random)}.${chars(TLD_CHARS, int(0, 30, random), random)}`, 4, random));
  });
});

describe('the IP detector on its own', () => {
  const same = (text: string) => {
    let n = 0;
    for (const [v4, v6] of [
      [true, true],
      [true, false],
      [false, true],
    ] as const) {
      const a: string[] = [];
      const b: string[] = [];
      const real = redactIps(text, (_, original) => (a.push(original), '[IP]'), v4, v6);
      const old = oracle.redactIps(text, (_, original) => (b.push(original), '[IP]'), v4, v6);
      if (real !== old) expect.fail(`output differs for ${JSON.stringify(text)} (v4 ${v4}, v6 ${v6}): ${firstDifference(real, old)}`);
      expect(a).toEqual(b);
      n += a.length;
    }
    return n;
  };

  it('finds the same in random texts of hex digits, colons, dots and words', () => {
    const random = mulberry32(4);
    let found = 0;
    for (let i = 0; i < 20_000; i++) found += same(randomIpish(random));
    expect(found).toBeGreaterThan(1000);
  });

  it('finds the same addresses, times, versions and MACs next to each other and in any context', () => {
    const random = mulberry32(5);
    let found = 0;
    for (let i = 0; i < 4000; i++) found += same(glued(() => edgeIp(random), int(1, 6, random), random));
    expect(found).toBeGreaterThan(2000);
    same('version 10.2.0.1 from 192.0.2.15, at 10:30:45, MAC 00:1a:2b:3c:4d:5e, 10::30, fe80::1, ::ffff:10.0.0.1, 5,192.0.2.1');
  });
});

const CARDS = ['4111 1111 1111 1111', '4012-8888-8888-1881', '5355497781411937', '3760 091263 94052', '6011111111111117', '41 11 11 11 11 11 11 11', '4111111111111'];
const CARD_PIECES = ['1', '4', '0', '9', '12', '4111', '1111', ' ', ' ', '-', '-', '.', ',', '/', 'a', '_', 'x', '٣', '𝐀', '\n', '  ', '1234 5678', ...CARDS];

/** Cards, digit groups and what the card detector tells apart around them (`.`, `,`, `/`, letters,
 * digits outside ASCII, two separators in a row). */
function randomCardish(random: Random): string {
  let s = '';
  const n = int(1, 40, random);
  for (let i = 0; i < n; i++) s += pick(CARD_PIECES, random);
  return s;
}

describe('the card detector on its own', () => {
  const same = (text: string) => {
    const a: string[] = [];
    const b: string[] = [];
    const real = redactCards(text, (_, original) => (a.push(original), '[CARD]'));
    const old = oracle.redactCards(text, (_, original) => (b.push(original), '[CARD]'));
    if (real !== old) expect.fail(`output differs for ${JSON.stringify(text)}: ${firstDifference(real, old)}`);
    expect(a).toEqual(b);
    return a.length;
  };

  it('finds the same in random texts of digit groups, separators and cards', () => {
    const random = mulberry32(11);
    let found = 0;
    for (let i = 0; i < 20_000; i++) found += same(randomCardish(random));
    expect(found).toBeGreaterThan(1000);
  });

  it('finds the same cards at the edges of long runs of digit groups', () => {
    const random = mulberry32(12);
    for (const card of CARDS) {
      for (const before of ['', 'a', '1', '1 ', '1-', '1.', 'x-', ' ', '  ', '٣', '𝐀']) {
        for (const after of ['', 'a', '1', ' 1', '-1', '.5', '.', ' ', '_']) same(`${before}${card}${after} and ${before}${card}${after}`);
      }
    }
    for (let i = 0; i < 300; i++) same(Array.from({ length: int(1, 30, random) }, () => pick(['1', '4111', '12345', '0'], random)).join(pick([' ', '-'], random)));
  });
});

describe('the whole redactor on random texts', () => {
  it('gives the same on texts mixing every kind of value with the labelled lines', () => {
    const random = mulberry32(6);
    for (const region of REGIONS) {
      const compare = pair({ phoneRegion: region });
      const total: Record<string, number> = {};
      for (let i = 0; i < 300; i++) {
        const parts = Array.from({ length: int(4, 40, random) }, () => {
          const r = random();
          return r < 0.3 ? pick(labelled, random).text : r < 0.55 ? edgeEmail(random) : r < 0.8 ? edgeIp(random) : randomEmailish(random);
        });
        add(total, expectSame(compare, parts.join(pick(['\n', ' ', '', '\n\n'], random)), `random text ${i}`));
      }
      for (const type of oracle.PII_TYPES) expect(total[type], `${region} ${type}`).toBeGreaterThan(10);
    }
  });
});

describe('texts of 1 MB', () => {
  it('gives the same on 1 MB of whole calls, one text, in both regions', () => {
    const random = mulberry32(8);
    const parts: string[] = [];
    for (let size = 0; size < 1_000_000; ) {
      const r = random();
      const p = r < 0.6 ? pick(labelled, random).text : r < 0.8 ? edgeEmail(random) : edgeIp(random);
      parts.push(p);
      size += p.length + 1;
    }
    const text = wholeCall(parts, random);
    expect(text.length).toBeGreaterThan(1_000_000);
    for (const region of REGIONS) {
      const counts = expectSame(pair({ phoneRegion: region }), text, `1 MB (${region})`);
      for (const type of oracle.PII_TYPES) expect(counts[type], `${region} ${type}`).toBeGreaterThan(100);
    }
  });

  it('gives the same on 1 MB with no line breaks and on runs of `@`, colons and dots', () => {
    const compare = pair({});
    const random = mulberry32(9);
    const flat = glued(() => (random() < 0.5 ? edgeEmail(random) : edgeIp(random)), 40_000, random);
    expect(flat.length).toBeGreaterThan(1_000_000);
    expect(expectSame(compare, flat, '1 MB flat').email).toBeGreaterThan(1000);
    expectSame(compare, `${'x'.repeat(100)}@`.repeat(3000), 'long local runs');
    expectSame(compare, '1:2:'.repeat(50_000) + ' 1.2.3.4', 'one long run of colons');
    expectSame(compare, '1.2.'.repeat(50_000) + ' ::1', 'one long run of dots');
  });
});
