/**
 * PII redaction (transforms/redact): each detector's edges, the options, idempotence, markers an
 * export already has, and the Step over prepare's items (turns, speakers, passthrough, key, counts).
 * The labelled set's recall and precision are in redact-metrics.test.ts.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { findPhoneNumbersInText, type CountryCode } from 'libphonenumber-js/max';
import { mulberry32 } from '../../src/core/random.js';
import type { Call, PrepareItem, PromptItem, Reject, SourceItem } from '../../src/records/types.js';
import {
  PII_TYPES,
  checkRedactOptions,
  createRedactor,
  ibanChecksumOk,
  isIban,
  luhnOk,
  redactCalls,
  redactCallsStream,
  type PiiType,
  type RedactOptions,
} from '../../transforms/redact/index.js';
import { dateAtStart } from '../../transforms/redact/detectors.js';
import { redactorWith } from '../../transforms/redact/redactor.js';
import { thrownBatchError } from '../support/errors.js';
import { run } from './helpers.js';

/** Redact one text; returns the text and the counts. */
function redact(text: string, options: RedactOptions = {}): { text: string; counts: Record<string, number> } {
  const counts: Record<string, number> = {};
  return { text: createRedactor(options)(text, counts), counts };
}
const out = (text: string, options: RedactOptions = {}) => redact(text, options).text;

describe('options', () => {
  it('defaults to every type and region US', () => {
    expect(checkRedactOptions({})).toEqual({ types: [...PII_TYPES], phoneRegion: 'US' });
    expect(checkRedactOptions(undefined)).toEqual({ types: [...PII_TYPES], phoneRegion: 'US' });
    expect(PII_TYPES).toEqual(['card', 'ssn', 'email', 'phone', 'iban', 'ip']);
  });

  it('a region in either case, types deduplicated', () => {
    expect(checkRedactOptions({ types: ['card', 'card', 'phone'], phoneRegion: 'es' })).toEqual({ types: ['card', 'phone'], phoneRegion: 'ES' });
  });

  it('an unknown type is E_BAD_OPTION naming it and the choices', () => {
    const e = thrownBatchError(() => createRedactor({ types: ['card', 'passport' as PiiType] }));
    expect(e.code).toBe('E_BAD_OPTION');
    expect(e.message).toContain('"passport"');
    expect(e.message).toContain('card, ssn, email, phone, iban, ip');
  });

  it('an empty or non-list types is E_BAD_OPTION', () => {
    expect(thrownBatchError(() => checkRedactOptions({ types: [] })).code).toBe('E_BAD_OPTION');
    expect(thrownBatchError(() => checkRedactOptions({ types: 'card' as unknown as PiiType[] })).hint).toContain('card, ssn');
  });

  it('an unknown region is E_BAD_OPTION naming it, with examples of good ones', () => {
    const e = thrownBatchError(() => checkRedactOptions({ phoneRegion: 'XX' }));
    expect(e.code).toBe('E_BAD_OPTION');
    expect(e.message).toContain('"XX"');
    expect(e.hint).toMatch(/US, ES, MX/);
    expect(thrownBatchError(() => checkRedactOptions({ phoneRegion: 'Spain' })).message).toContain('"Spain"');
    expect(thrownBatchError(() => checkRedactOptions({ phoneRegion: 34 as unknown as string })).code).toBe('E_BAD_OPTION');
  });

  it('options that are not an object are E_BAD_OPTION', () => {
    expect(thrownBatchError(() => checkRedactOptions('card' as unknown as RedactOptions)).code).toBe('E_BAD_OPTION');
  });

  it('only the types asked for are replaced', () => {
    const text = 'card 4111 1111 1111 1111, mail ana@example.com, ip 192.0.2.7';
    expect(redact(text, { types: ['email'] })).toEqual({ text: 'card 4111 1111 1111 1111, mail [EMAIL], ip 192.0.2.7', counts: { email: 1 } });
    expect(redact(text, { types: ['card', 'ip'] })).toEqual({ text: 'card [CARD], mail ana@example.com, ip [IP]', counts: { card: 1, ip: 1 } });
  });
});

describe('cards', () => {
  it('Luhn helper', () => {
    expect(luhnOk('4111111111111111')).toBe(true);
    expect(luhnOk('4111111111111112')).toBe(false);
    expect(luhnOk('79927398713')).toBe(true);
  });

  it.each([
    ['spaced', '4111 1111 1111 1111'],
    ['dashed', '5555-5555-5555-4444'],
    ['plain', '6011111111111117'],
    ['Amex 4-6-5', '3782 822463 10005'],
    ['Diners 4-6-4', '3056 930902 5904'],
    ['13-digit Visa', '4222222222222'],
    ['19-digit 4-4-4-4-3', '4000 0000 0000 0000 006'],
    ['Mastercard 2-series', '2223 0031 2200 3222'],
    ['JCB', '3530-1113-3330-0000'],
    ['read out in pairs (the whole run)', '41 11 11 11 11 11 11 11'],
    ['read out in threes', '401 288 888 888 1881'],
  ])('%s is replaced', (_name, card) => {
    expect(luhnOk(card.replace(/\D/g, ''))).toBe(true);
    expect(redact(`my card is ${card}, thanks`)).toEqual({ text: 'my card is [CARD], thanks', counts: { card: 1 } });
  });

  it.each([
    ['a failed Luhn check', '4111 1111 1111 1112'],
    ['an implausible IIN (Luhn-valid, starts with 9)', '9111 1111 1111 1113'],
    ['an implausible IIN (starts with 1)', '1000 0000 0000 0008'],
    ['Amex length on a Visa prefix', '4111 111111 11111'],
    ['12 digits', '4111 1111 1111'],
    ['20 digits', '41111111111111111113'],
    ['mixed separators', '4111 1111-1111 1111'],
    ['glued to a word', 'ID4111111111111111'],
    ['glued by a dash to a word', 'REF-4111111111111111'],
    ['a masked card', '**** **** **** 1111'],
    ['a masked card with X', 'XXXX-XXXX-XXXX-1111'],
    ['part of a decimal', '0.4111111111111111'],
  ])('%s stays', (_name, text) => {
    expect(out(text, { types: ['card'] })).toBe(text);
  });

  it('finds the card in a longer run of numbers, leaving the rest', () => {
    expect(out('extension 12 4111 1111 1111 1111 please')).toBe('extension 12 [CARD] please');
    expect(out('4111 1111 1111 1111 4012 8888 8888 1881')).toBe('[CARD] [CARD]');
  });

  it('odd groupings count only when the card is the whole run', () => {
    // pairs inside a longer run: not a card layout
    expect(out('12 41 11 11 11 11 11 11 11', { types: ['card'] })).toBe('12 41 11 11 11 11 11 11 11');
  });
});

describe('SSNs', () => {
  it('AAA-GG-SSSS anywhere', () => {
    expect(redact('it is 512-48-3391.')).toEqual({ text: 'it is [SSN].', counts: { ssn: 1 } });
  });

  it.each(['000-12-3456', '666-12-3456', '900-12-3456', '987-65-4321', '512-00-3391', '512-48-0000'])('the never-issued %s stays', (ssn) => {
    expect(out(`SSN ${ssn}`)).toBe(`SSN ${ssn}`);
  });

  it('bare and spaced 9 digits only after a context word', () => {
    expect(out('my social is 512483391')).toBe('my social is [SSN]');
    expect(out('Social Security number: 512 48 3391')).toBe('Social Security number: [SSN]');
    expect(out('SSN 512483391')).toBe('SSN [SSN]');
    expect(out('mi seguro social es el 512483391', { phoneRegion: 'US' })).toBe('mi seguro social es el [SSN]');
    expect(out('the routing number is 021000021')).toBe('the routing number is 021000021');
    expect(out('member 512483391 and 512 48 3391')).toBe('member 512483391 and 512 48 3391');
  });

  it('a dashed number labelled as another id stays, as do ZIP+4 and glued ids', () => {
    expect(out('order 512-48-3391')).toBe('order 512-48-3391');
    expect(out('ZIP 10001-1234')).toBe('ZIP 10001-1234');
    expect(out('part AB-512-48-3391')).toBe('part AB-512-48-3391');
    expect(out('512-48-3391-7', { types: ['ssn'] })).toBe('512-48-3391-7');
  });
});

describe('emails', () => {
  it.each([
    'juan.perez@example.com',
    'JUAN.PEREZ@EXAMPLE.COM',
    'soporte+pedidos@example.org',
    'dj.harris@sub.example.co.uk',
    'josé.fernández@example.com',
    'a_b-c@mail-server.example.net',
  ])('%s is replaced', (email) => {
    expect(redact(`write to ${email}.`)).toEqual({ text: 'write to [EMAIL].', counts: { email: 1 } });
  });

  it('two in a sentence, brackets and quotes around', () => {
    expect(out('(ana@example.com) or "bo@example.org"')).toBe('([EMAIL]) or "[EMAIL]"');
  });

  it.each(['my handle is @juan_perez', 'user@localhost', 'a@b', 'price @ 10.99', 'email at example dot com'])('%s stays', (text) => {
    expect(out(text)).toBe(text);
  });
});

describe('IBANs', () => {
  it('checksum and length helpers', () => {
    expect(ibanChecksumOk('ES9121000418450200051332')).toBe(true);
    expect(isIban('ES9121000418450200051332')).toBe(true);
    expect(isIban('ES9121000418450200051333')).toBe(false);
    expect(isIban('ES91210004184502000513')).toBe(false); // right checksum is impossible at the wrong length
    expect(isIban('GB82WEST12345698765432')).toBe(true);
    expect(isIban('ZZ82WEST12345698765432')).toBe(false);
  });

  it.each([
    ['spaced', 'ES91 2100 0418 4502 0005 1332'],
    ['plain', 'ES9121000418450200051332'],
    ['lower case', 'es91 2100 0418 4502 0005 1332'],
    ['letters in the BBAN', 'GB82 WEST 1234 5698 7654 32'],
    ['dashed', 'DE89-3704-0044-0532-0130-00'],
    ['French, a letter late in the BBAN', 'FR14 2004 1010 0505 0001 3M02 606'],
  ])('%s is replaced', (_name, iban) => {
    expect(redact(`IBAN ${iban} por favor`)).toEqual({ text: 'IBAN [IBAN] por favor', counts: { iban: 1 } });
  });

  it.each([
    ['a wrong checksum', 'ES91 2100 0418 4502 0005 1333'],
    ['too short', 'ES91 2100 0418 4502 0005 133'],
    ['too long', 'ES9121000418450200051332 7'.replace(' ', '')],
    ['an unknown country', 'ZZ91 2100 0418 4502 0005 1332'],
    ['mixed-case country', 'Es91 2100 0418 4502 0005 1332'],
    ['glued to a word', 'xES9121000418450200051332'],
  ])('%s stays', (_name, text) => {
    expect(out(text, { types: ['iban'] })).toBe(text);
  });
});

describe('IP addresses', () => {
  it('IPv4, a port kept', () => {
    expect(redact('from 192.0.2.15:8080 and 203.0.113.255.')).toEqual({ text: 'from [IP]:8080 and [IP].', counts: { ip: 2 } });
    expect(out('subnet 198.51.100.0/24')).toBe('subnet [IP]/24');
  });

  it.each([
    'octet over 255: 192.0.2.256',
    'leading zeros: 01.02.03.04',
    'three parts: 1.2.3',
    'five parts: 1.2.3.4.5',
    'a dotted date: 15.03.2024',
    'version 10.2.0.1',
    'v2.0.0.1',
    'firmware 4.2.2.1',
    'patch 4.2.2.1',
    'section 1.2.10.4',
    'apartado 1.2.10.4',
    'versión 3.12.0.45',
    'Windows 10.0.19045.3803',
  ])('%s stays', (text) => {
    expect(out(text)).toBe(text);
  });

  it('IPv6: full, compressed, IPv4-mapped', () => {
    expect(out('addr 2001:0db8:0000:0000:0000:ff00:0042:8329 ok')).toBe('addr [IP] ok');
    expect(out('addr 2001:db8::1, then 2001:db8:85a3::8a2e:370:7334.')).toBe('addr [IP], then [IP].');
    expect(out('mapped ::ffff:192.0.2.128 here')).toBe('mapped [IP] here');
  });

  it.each(['at 10:30:45', 'from 14:02:10 to 14:31:55', 'MAC 00:1A:2B:3C:4D:5E', 'ratio 10::30', 'note: see::this'])('%s stays', (text) => {
    expect(out(text)).toBe(text);
  });
});

describe('phones', () => {
  it.each([
    '(212) 555-0143',
    '212-555-0143',
    '212.555.0143',
    '2125550143',
    '+1 212 555 0143',
    '1-800-555-0199',
    '+1 (415) 555-0132',
    '+34 612 34 56 78',
    '+44 20 7946 0123',
    '011 44 20 7946 0123',
    '+52 55 1234 5678',
  ])('%s is replaced (region US)', (phone) => {
    expect(redact(`call me at ${phone} tomorrow`)).toEqual({ text: 'call me at [PHONE] tomorrow', counts: { phone: 1 } });
  });

  it('national numbers are read in the region', () => {
    expect(out('mi móvil es el 612 345 678', { phoneRegion: 'ES' })).toBe('mi móvil es el [PHONE]');
    expect(out('el fijo 91 123 45 67', { phoneRegion: 'ES' })).toBe('el fijo [PHONE]');
    expect(out('mi móvil es el 612 345 678', { phoneRegion: 'US' })).toBe('mi móvil es el 612 345 678');
    expect(out('call (212) 555-0143', { phoneRegion: 'ES' })).toBe('call (212) 555-0143');
    expect(out('call +1 212 555 0143', { phoneRegion: 'ES' })).toBe('call [PHONE]');
  });

  it('only valid numbers: an unassigned area code or exchange stays', () => {
    // 555 is no NANP area code and no exchange starts with 0; the fictional range is NXX-555-01XX
    expect(out('call (555) 010-0199')).toBe('call (555) 010-0199');
    expect(out('call 555-0199')).toBe('call 555-0199'); // no area code: not a complete number
  });

  it('numbers labelled as another kind of id stay', () => {
    for (const text of ['order 2125550143', 'Order number 4155550132 shipped', 'case #2125550143', 'invoice no. 3125550178', 'account number is 2125550143', 'RMA number 3125550123']) {
      expect(out(text)).toBe(text);
    }
    for (const text of ['pedido 912345678', 'número de pedido: 612345678', 'número de cliente es 612345678', 'Número de póliza 612345678', 'el localizador es 612345678']) {
      expect(out(text, { phoneRegion: 'ES' })).toBe(text);
    }
    // a weak word without a qualifier is not a label
    expect(out('the phone on the account is 212-555-0143')).toBe('the phone on the account is [PHONE]');
    expect(out('el teléfono del cliente es 699 12 34 56', { phoneRegion: 'ES' })).toBe('el teléfono del cliente es [PHONE]');
  });

  it('dates, amounts, times, ZIPs and ids stay', () => {
    for (const [text, region] of [
      ['on 2024-03-15 at 10:30 I paid $1,234.56', 'US'],
      ['el 15/03/2024 pagué 1.234,56 €', 'ES'],
      ['ZIP 90210-1234, case CS-2024-118822', 'US'],
      ['tracking 1Z999AA10123456784 and 9400 1000 0000 0000 0000 00', 'US'],
      ['meeting ID 943 2211 8765', 'US'],
      ['la fecha 20240315 y el 12-05-2024', 'ES'],
      ['Son 612 € con IVA y 750 € sin descuento', 'ES'],
      ['ZIP 90210-1234, or just 90210-1234', 'ES'],
      ['código postal 28013, CP 912345678', 'ES'],
    ] as const) {
      expect(out(text, { phoneRegion: region })).toBe(text);
    }
  });

  it('a number that continues a code, or a date and hour, stays (seen in third-party transcripts)', () => {
    expect(out('the tracking number is 1Z999AA1 2345678901. Please')).toBe('the tracking number is 1Z999AA1 2345678901. Please');
    expect(out('ref AB12-2125550143')).toBe('ref AB12-2125550143');
    expect(out('call after 5pm 212-555-0143 or the 2nd 212-555-0199')).toBe('call after 5pm [PHONE] or the 2nd [PHONE]');
    expect(out('StartTime 2025-12-05 02:00:00')).toBe('StartTime 2025-12-05 02:00:00');
    expect(out('vence el 05-04-2039', { phoneRegion: 'IT' })).toBe('vence el 05-04-2039');
    expect(out('Número de operación 0049-2024-000123.')).toBe('Número de operación 0049-2024-000123.');
    expect(out('on 15/03/2024 612 345 678', { phoneRegion: 'ES' })).toBe('on 15/03/2024 [PHONE]');
  });

  it('a number inside a longer run of numbers is found', () => {
    expect(out('2024-03-15 212-555-0143 was the caller')).toBe('2024-03-15 [PHONE] was the caller');
  });

  it('an extension after the number stays (it is no number by itself)', () => {
    expect(out('(212) 555-0199 ext. 204')).toBe('[PHONE] ext. 204');
  });

  it('the pre-filter never drops a number the library finds, and what it replaces the library finds valid', () => {
    // random digit strings in phone-like layouts, for several regions: whatever libphonenumber-js
    // finds valid in the run, the redactor replaces; what it replaces, the library finds valid
    const random = mulberry32(Number(process.env.REDACT_SEED ?? 7));
    const regions: CountryCode[] = ['US', 'ES', 'GB', 'MX', 'AR', 'DE', 'FR', 'BR', 'CO', 'IT'];
    const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)]!;
    let found = 0;
    for (let n = 0; n < 6000; n++) {
      const region = regions[n % regions.length]!;
      const length = 7 + Math.floor(random() * 8);
      let digits = '';
      for (let k = 0; k < length; k++) digits += String(Math.floor(random() * 10));
      // a leading digit that makes a valid number likelier in that region
      if (random() < 0.5) digits = pick(['2', '3', '4', '6', '7', '9', '1', '0', '00', '011', '34', '44', '52']) + digits.slice(1);
      const groups: string[] = [];
      for (let k = 0; k < digits.length; ) {
        const size = 2 + Math.floor(random() * 3);
        groups.push(digits.slice(k, k + size));
        k += size;
      }
      const sep = pick([' ', '-', '.', '']);
      let run = groups.join(sep);
      if (random() < 0.15) run = `(${groups[0]}) ${groups.slice(1).join(sep)}`;
      if (random() < 0.2) run = '+' + run;
      const text = `tel ${run} ok`;
      // the redactor leaves numbers under 7 digits alone by design
      const lib = findPhoneNumbersInText(run, { defaultCountry: region }).filter((m) => m.number.isValid() && m.number.nationalNumber.length >= 7);
      found += lib.length;
      const replaced: string[] = [];
      const ours = redactorWith({ types: ['phone'], phoneRegion: region }, (_type, original) => replaced.push(original))(text, {});
      // every number the library finds is gone (it may find it inside the run, after a bracket or a
      // date), but for what overlaps a date the run starts with: that the stage leaves, by design
      const date = dateAtStart(run)?.[0].length ?? 0;
      for (const m of lib) if (m.startsAt >= date) expect(ours, `${region} ${run}`).not.toContain(run.slice(m.startsAt, m.endsAt));
      // and whatever was replaced is a number the library finds valid on its own
      for (const r of replaced) {
        expect(findPhoneNumbersInText(r, { defaultCountry: region }).some((m) => m.number.isValid()), `${region} ${run} -> ${r}`).toBe(true);
      }
    }
    expect(found).toBeGreaterThan(100); // the sample holds many valid numbers, not only rejects
  });
});

describe('the redactor as a whole', () => {
  it('markers an export already has stay as they are', () => {
    for (const text of ['my card is [PII] and my name is [NAME]', 'SSN ***-**-1234, card ****', '[PII] [PHONE] [EMAIL] [CARD] [SSN] [IBAN] [IP] [ADDRESS]', 'XXXX-XXXX-XXXX-1881']) {
      expect(redact(text)).toEqual({ text, counts: {} });
    }
  });

  it('is idempotent: redacting the result again changes nothing and counts nothing', () => {
    const texts = [
      'card 4111 1111 1111 1111 then 4111-1111-1111-1111 and 4111111111111111',
      'email ana@example.com@example.org x@y.example.com',
      'IBAN ES91 2100 0418 4502 0005 1332 and 2001:db8::1 and 192.0.2.1:80',
      'call +34 612 34 56 78, (212) 555-0143, SSN 512-48-3391, social 512483391',
      '[CARD][CARD] 4111 [PHONE]555-0143 [EMAIL]@example.com',
    ];
    for (const text of texts) {
      const once = out(text, { phoneRegion: 'ES' });
      const again = redact(once, { phoneRegion: 'ES' });
      expect(again.text).toBe(once);
      expect(again.counts).toEqual({});
    }
  });

  it('counts add up per type over several texts', () => {
    const r = createRedactor({});
    const counts: Record<string, number> = {};
    r('4111 1111 1111 1111 and 5555 5555 5555 4444', counts);
    r('ana@example.com', counts);
    r('nothing here', counts);
    expect(counts).toEqual({ card: 2, email: 1 });
  });

  it('a text with no digit and no @ is returned as it is', () => {
    const text = 'Gracias por llamar, ¿en qué le puedo ayudar?';
    expect(out(text)).toBe(text);
  });

  it('works on Spanish text with accents and inverted punctuation', () => {
    expect(out('¿Me confirma el IBAN ES91 2100 0418 4502 0005 1332? Sí, y el correo es maría.núñez@example.com.', { phoneRegion: 'ES' })).toBe(
      '¿Me confirma el IBAN [IBAN]? Sí, y el correo es [EMAIL].',
    );
  });
});

// ---- the Step

function call(over: Partial<Call> = {}): Call {
  return {
    kind: 'call',
    file: 'calls.jsonl',
    line: 3,
    key: 'c-1',
    turns: [
      { speaker: 'Agent', role: 'agent', text: 'How can I help?' },
      { speaker: 'Customer', role: 'customer', text: 'My card is 4111 1111 1111 1111 and my email ana@example.com', startMs: 1000 },
    ],
    ...over,
  };
}

describe('redactCalls (the Step)', () => {
  it('redacts every turn, sets the counts, keeps everything else', () => {
    const [c] = run(redactCalls(), [call()]) as Call[];
    expect(c).toEqual({
      kind: 'call',
      file: 'calls.jsonl',
      line: 3,
      key: 'c-1',
      turns: [
        { speaker: 'Agent', role: 'agent', text: 'How can I help?' },
        { speaker: 'Customer', role: 'customer', text: 'My card is [CARD] and my email [EMAIL]', startMs: 1000 },
      ],
      redacted: { card: 1, email: 1 },
    });
  });

  it('redacts speakers and every passthrough value (strings, numbers, nested), never the key', () => {
    const c = call({
      key: 'ana@example.com 2125550143',
      turns: [{ speaker: 'Caller +1 212 555 0143', text: 'hi' }],
      passthrough: {
        agent: 'Alex Moreno',
        customer_phone: '(212) 555-0143',
        phone_number: 2125550143,
        queue: 'billing',
        duration: 312,
        contact: { email: 'BO@EXAMPLE.ORG', ips: ['192.0.2.1', 'none'] },
        started_at: '2024-09-02T08:12:10Z',
        flag: true,
        nothing: null,
      },
    });
    const [r] = run(redactCalls(), [c]) as Call[];
    expect(r!.key).toBe('ana@example.com 2125550143');
    expect(r!.turns[0]!.speaker).toBe('Caller [PHONE]');
    expect(r!.passthrough).toEqual({
      agent: 'Alex Moreno',
      customer_phone: '[PHONE]',
      phone_number: '[PHONE]',
      queue: 'billing',
      duration: 312,
      contact: { email: '[EMAIL]', ips: ['[IP]', 'none'] },
      started_at: '2024-09-02T08:12:10Z',
      flag: true,
      nothing: null,
    });
    expect(r!.redacted).toEqual({ phone: 3, email: 1, ip: 1 });
    // nothing of the originals is left anywhere in the item but the key
    const json = JSON.stringify({ ...r, key: undefined });
    for (const original of ['555', 'example', '192.0.2.1']) expect(json).not.toContain(original);
  });

  it('a passthrough value is read after its column name: an order id stays, a bare SSN goes', () => {
    const c = call({
      turns: [{ text: 'hello' }],
      passthrough: { order_id: '3348917502', orderId: 2125550143, ssn: '512483391', phone: '2125550143', 'Case Number': '2125550143', '7': '2125550143' },
    });
    const [r] = run(redactCalls(), [c]) as Call[];
    expect(r!.passthrough).toEqual({ order_id: '3348917502', orderId: 2125550143, ssn: '[SSN]', phone: '[PHONE]', 'Case Number': '2125550143', '7': '[PHONE]' });
    expect(r!.redacted).toEqual({ ssn: 1, phone: 2 });
  });

  it('a call with nothing to replace has no `redacted`, and is the same call', () => {
    const c = call({ turns: [{ text: 'Order 114-5829374-2201938 on 03/15/2024 for $1,234.56' }], passthrough: { zip: '90210' } });
    const before = structuredClone(c);
    const [r] = run(redactCalls(), [c]);
    expect(r).toBe(c);
    expect(r).toEqual(before);
    expect('redacted' in r!).toBe(false);
  });

  it('adds to counts a call already carries', () => {
    const [r] = run(redactCalls(), [call({ redacted: { card: 2, phone: 1 } })]) as Call[];
    expect(r!.redacted).toEqual({ card: 3, phone: 1, email: 1 });
  });

  it('counts per call, not across calls', () => {
    const out = run(redactCalls(), [call({ key: 'a' }), call({ key: 'b', turns: [{ text: 'ana@example.com' }] }), call({ key: 'c', turns: [{ text: 'none' }] })]) as Call[];
    expect(out.map((c) => c.redacted)).toEqual([{ card: 1, email: 1 }, { email: 1 }, undefined]);
  });

  it('other items pass through untouched and in order', () => {
    const source: SourceItem = { kind: 'item', file: 'a.csv', line: 2, value: { text: 'card 4111 1111 1111 1111' } };
    const prompt: PromptItem = { kind: 'prompt', file: 'a.csv', line: 3, key: 'k', prompt: 'email ana@example.com' };
    const rej: Reject = { kind: 'reject', file: 'a.csv', line: 4, stage: 'adapt', code: 'E_MISSING_TEXT', reason: 'no text' };
    const items: PrepareItem[] = [source, call({ key: 'x' }), prompt, rej];
    const copies = structuredClone(items);
    const result = run(redactCalls({ types: ['card', 'email'] }), items);
    expect(result).toHaveLength(4);
    expect(result[0]).toBe(source);
    expect(result[0]).toEqual(copies[0]);
    expect(result[2]).toEqual(copies[2]);
    expect(result[3]).toEqual(copies[3]);
    expect((result[1] as Call).turns[1]!.text).toBe('My card is [CARD] and my email [EMAIL]');
  });

  it('bad options fail when the step is built, not per call', () => {
    expect(thrownBatchError(() => redactCalls({ phoneRegion: 'ZZ' })).code).toBe('E_BAD_OPTION');
  });

  it('as a stream (redactCallsStream)', async () => {
    const got: PrepareItem[] = [];
    await pipeline(
      Readable.from([call({ key: 'a' }), call({ key: 'b', turns: [{ text: 'IBAN ES91 2100 0418 4502 0005 1332' }] })]),
      redactCallsStream({ phoneRegion: 'ES' }),
      async function* (source) {
        for await (const item of source) got.push(item as PrepareItem);
      },
    );
    expect(got.map((c) => [(c as Call).key, (c as Call).redacted])).toEqual([
      ['a', { card: 1, email: 1 }],
      ['b', { iban: 1 }],
    ]);
    expect((got[1] as Call).turns[0]!.text).toBe('IBAN [IBAN]');
  });
});
