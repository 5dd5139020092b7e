/**
 * PII redaction measured on the labelled set (test/fixtures/pii/labelled.jsonl): recall and
 * precision overall, per type and per language, with the table printed (docs/redaction.md quotes
 * it; `node dist/bench/redact-metrics.js` prints the same). Also: the set is what its README
 * says (size, languages, synthetic values), and the measuring itself counts what it should.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Call } from '../../src/records/types.js';
import { formatRedactionTable, isIban, luhnOk, measureRedaction, parseLabelled, redactCalls, ssnIssuable, type LabelledLine } from '../../transforms/redact/index.js';
import { thrownBatchError } from '../support/errors.js';
import { run } from './helpers.js';

const FILE = fileURLToPath(new URL('../fixtures/pii/labelled.jsonl', import.meta.url));
const lines = parseLabelled(readFileSync(FILE, 'utf8'), 'test/fixtures/pii/labelled.jsonl');

describe('the labelled set', () => {
  it('has a few hundred lines, at least 40% Spanish, PII lines and hard negatives', () => {
    expect(lines.length).toBeGreaterThanOrEqual(300);
    const es = lines.filter((l) => l.lang === 'es').length;
    expect(es / lines.length).toBeGreaterThanOrEqual(0.4);
    expect(new Set(lines.map((l) => l.lang))).toEqual(new Set(['en', 'es']));
    expect(lines.filter((l) => l.pii.length === 0).length).toBeGreaterThanOrEqual(150);
    const types = new Set(lines.flatMap((l) => l.pii.map((p) => p.type)));
    expect(types).toEqual(new Set(['card', 'ssn', 'email', 'phone', 'iban', 'ip']));
    for (const lang of ['en', 'es']) {
      const langTypes = new Set(lines.filter((l) => l.lang === lang).flatMap((l) => l.pii.map((p) => p.type)));
      expect(langTypes.size, lang).toBeGreaterThanOrEqual(6);
    }
  });

  it('every labelled value is in its text, and is synthetic in the way the README says', () => {
    for (const [i, l] of lines.entries()) {
      for (const p of l.pii) {
        const where = `line ${i + 1}`;
        expect(l.text, where).toContain(p.value);
        const digits = p.value.replace(/\D/g, '');
        switch (p.type) {
          case 'card':
            expect(luhnOk(digits), where).toBe(true);
            break;
          case 'iban':
            expect(isIban(p.value.replace(/[ -]/g, '')), where).toBe(true);
            break;
          case 'ssn':
            expect(ssnIssuable(digits.slice(0, 3), digits.slice(3, 5), digits.slice(5)), where).toBe(true);
            break;
          case 'email':
            expect(p.value.toLowerCase(), where).toMatch(/(^|[@.])example\.(com|org|net)$/);
            break;
          case 'ip':
            expect(p.value, where).toMatch(/^(192\.0\.2\.|198\.51\.100\.|203\.0\.113\.|2001:0?db8:)/);
            break;
          case 'phone':
            // North American numbers are all in the fictional 555-01XX range
            if (/^(\+1|1-|\(|\d{3}[-. ]?\d{3}[-. ]?\d{4}$)/.test(p.value) && digits.length >= 10) expect(digits, where).toMatch(/55501\d\d$/);
            if (/^\+44/.test(p.value)) expect(digits, where).toMatch(/^4420794600\d\d|^44207946\d{4}$/);
            break;
        }
      }
    }
  });
});

describe('recall and precision on the labelled set', () => {
  const m = measureRedaction(lines);

  it('overall: recall >= 0.95, precision >= 0.97 (table printed)', () => {
    console.log(`\nPII redaction on test/fixtures/pii/labelled.jsonl\n${formatRedactionTable(m)}\n`);
    if (m.misses.length > 0 || m.falsePositives.length > 0) console.log({ misses: m.misses, falsePositives: m.falsePositives });
    expect(m.overall.labelled).toBe(lines.reduce((n, l) => n + l.pii.length, 0));
    expect(m.overall.recall).toBeGreaterThanOrEqual(0.95);
    expect(m.overall.precision).toBeGreaterThanOrEqual(0.97);
  });

  it('per language: the same bars', () => {
    for (const lang of ['en', 'es']) {
      expect(m.byLang[lang]!.recall, lang).toBeGreaterThanOrEqual(0.95);
      expect(m.byLang[lang]!.precision, lang).toBeGreaterThanOrEqual(0.97);
    }
  });

  it('per type: recall >= 0.9 and precision >= 0.95 for every type', () => {
    for (const [type, t] of Object.entries(m.byType)) {
      expect(t.labelled, type).toBeGreaterThan(0);
      expect(t.recall, type).toBeGreaterThanOrEqual(0.9);
      expect(t.precision, type).toBeGreaterThanOrEqual(0.95);
    }
  });

  it('redacting any line twice gives the same text', () => {
    expect(m.notIdempotent).toEqual([]);
  });

  it('read as US throughout, Spanish national numbers are missed: the region matters', () => {
    const us = measureRedaction(
      lines.map(({ region: _region, ...l }) => l),
      { regionByLang: { es: 'US' } },
    );
    expect(us.byType.phone.recall).toBeLessThan(m.byType.phone.recall);
    expect(us.byLang.en).toEqual(m.byLang.en);
  });

  it('through the Step, every value it recalls is gone from the call, and the counts match', () => {
    const spanish = lines.filter((l) => l.lang === 'es' && l.region === undefined);
    const call: Call = { kind: 'call', file: 'labelled.jsonl', line: 1, key: 'all-es', turns: spanish.map((l) => ({ speaker: 'Cliente', text: l.text })) };
    const [out] = run(redactCalls({ phoneRegion: 'ES' }), [call]) as Call[];
    const sub = measureRedaction(spanish);
    const json = JSON.stringify(out);
    const missed = new Set(sub.misses.map((x) => x.value));
    for (const l of spanish) for (const p of l.pii) if (!missed.has(p.value)) expect(json).not.toContain(p.value);
    const total = Object.values(out!.redacted ?? {}).reduce((a, b) => a + b, 0);
    expect(total).toBe(sub.overall.replaced);
  });
});

describe('measureRedaction itself', () => {
  it('counts a miss, a false positive, and a replacement of the wrong type as both', () => {
    const set: LabelledLine[] = [
      // the phone is not labelled: a false positive; the card is found
      { lang: 'en', text: 'card 4111 1111 1111 1111, call (212) 555-0143', pii: [{ type: 'card', value: '4111 1111 1111 1111' }] },
      // a 7-digit local number is not found: a miss
      { lang: 'en', text: 'call 555-0187', pii: [{ type: 'phone', value: '555-0187' }] },
      // labelled as a phone but replaced as a card: a miss and a false positive
      { lang: 'en', text: 'number 5555 5555 5555 4444', pii: [{ type: 'phone', value: '5555 5555 5555 4444' }] },
      // nothing labelled, nothing found
      { lang: 'es', text: 'pedido 4500123987 del 15/03/2024', pii: [] },
    ];
    const m = measureRedaction(set);
    expect(m.overall).toEqual({ labelled: 3, recalled: 1, replaced: 3, correct: 1, recall: 1 / 3, precision: 1 / 3 });
    expect(m.byType.card).toMatchObject({ labelled: 1, recalled: 1, replaced: 2, correct: 1 });
    expect(m.byType.phone).toMatchObject({ labelled: 2, recalled: 0, replaced: 1, correct: 0 });
    expect(m.byLang.es).toMatchObject({ labelled: 0, replaced: 0, recall: 1, precision: 1 });
    expect(m.misses.map((x) => [x.line, x.type])).toEqual([
      [2, 'phone'],
      [3, 'phone'],
    ]);
    expect(m.falsePositives.map((x) => [x.line, x.type])).toEqual([
      [1, 'phone'],
      [3, 'card'],
    ]);
    expect(formatRedactionTable(m)).toContain('| **all** (4 lines) | 3 | 3 | 1 | 33.3% | 33.3% |');
  });

  it('parseLabelled names the line of a malformed entry', () => {
    const e = thrownBatchError(() => parseLabelled('{"lang":"en","text":"a","pii":[]}\n\n{"lang":"en","text":"b","pii":[{"type":"name","value":"x"}]}\n'));
    expect(e.code).toBe('E_BAD_JSON');
    expect(e.line).toBe(3);
    expect(thrownBatchError(() => parseLabelled('{oops')).line).toBe(1);
  });
});
