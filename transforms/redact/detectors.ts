/**
 * The PII detectors behind `createRedactor` (index.ts): one function per type, each a single pass
 * over the text that replaces what it finds through `hit` and leaves everything else as it is.
 *
 * Each detector finds candidates with one regular expression and then validates them, because
 * precision matters as much as recall in a call-center transcript full of order numbers, dates,
 * amounts and times:
 * - card:  runs of digit groups; a window of 13-19 digits in a card's grouping (4-4-4-4[-3],
 *          4-6-5, 4-6-4, none, or any groups of 2-6 digits when the card is the whole run) that
 *          passes the Luhn check and starts with a plausible IIN.
 * - ssn:   AAA-GG-SSSS outside the SSA's never-issued ranges (area 000, 666, 9xx; group 00;
 *          serial 0000); the spaced and bare 9-digit forms only after a context word
 *          (ssn, social security, "my social", seguro social).
 * - email: a conservative address pattern (Unicode letters allowed, a dotted domain, a TLD of letters).
 * - iban:  a country code and two check digits, then exactly that country's length (spaces or
 *          dashes between characters allowed), then ISO 13616 mod-97.
 * - ip:    dotted-quad IPv4 (octets ≤ 255, no leading zeros, not after a version or heading word) and
 *          IPv6 (validated by node:net, at least two groups with digits).
 * - phone: runs of phone-like characters holding 7 or more digits, handed to libphonenumber-js
 *          (full metadata, so numbers are validated against each country's number plan), with
 *          the region as the default country for national numbers.
 * Candidates labelled as another kind of id (`order 2125550143`, `pedido 912345678`, `case
 * number ...`) or continuing a code (`1Z999AA1 2345678901`) are not phone numbers or SSNs, so
 * phone and SSN matches right after such a label or code stay.
 *
 * Placeholders hold no digit, `@` or `:`, so no detector ever matches one: redacting twice gives
 * the same text. Markers an export already has (`[PII]`, `[NAME]`, `***`) hold none either.
 *
 * A text may be a whole call (64 lines and more), which always holds an `@`, colons and numbers
 * somewhere, so the email, IP and card detectors do not try their Unicode regexes (lookbehinds,
 * tried at every position: 10-30 MB/s) across it: they find what every match must hold first (an
 * `@`; two colons or four dotted numbers; 13 digits) with `indexOf` or an ASCII regex, and try
 * theirs only there. Each finds exactly what the whole-text scan found, byte for byte:
 * test/transforms/redact-speed-equivalence.test.ts compares them with a copy of that scan.
 */
import { isIPv6 } from 'node:net';
import { Metadata, findPhoneNumbersInText, type CountryCode } from 'libphonenumber-js/max';
import { IBAN_LENGTHS, ibanChecksumOk } from './iban.js';

export type PiiType = 'card' | 'ssn' | 'email' | 'phone' | 'iban' | 'ip';

/** Every PII type (the redactor runs them as email, iban, card, ssn, ip, phone: see index.ts). */
export const PII_TYPES: readonly PiiType[] = ['card', 'ssn', 'email', 'phone', 'iban', 'ip'];

/** What each type is replaced with. */
export const PLACEHOLDERS: Readonly<Record<PiiType, string>> = {
  card: '[CARD]',
  ssn: '[SSN]',
  email: '[EMAIL]',
  phone: '[PHONE]',
  iban: '[IBAN]',
  ip: '[IP]',
};

/** Called once per value found: counts it and returns its placeholder. */
export type Hit = (type: PiiType, original: string) => string;

// ---------------------------------------------------------------------------------------------
// Context: labels that say a number is some other kind of id

/** Word boundaries that know letters outside ASCII (`\b` takes `ó` for a non-letter). */
const B = '(?<![\\p{L}\\p{N}_])';
const E = '(?![\\p{L}\\p{N}_])';
const ID_WORDS_STRONG =
  'order|orden|pedido|ticket|case|caso|incidencia|incident|tracking|seguimiento|env[ií]o|shipment|factura|invoice|reference|referencia|ref|confirmation|confirmaci[oó]n|localizador|expediente|serial|serie|model|modelo|sku|part|claim|reclamaci[oó]n|transaction|transacci[oó]n|operaci[oó]n|recibo|receipt|rma|albar[aá]n|zip|zip\\s?code|postcode|postal|c\\.?p\\.?|sn|s\\/n';
const ID_WORDS_WEAK = 'account|cuenta|member|membership|socio|policy|p[oó]liza|customer|cliente|contract|contrato|routing|id';
const ID_QUALIFIER = '(?:number|no\\.?|num\\.?|n[uú]mero|n[ºo°]\\.?|#|id)';
/**
 * Text that ends with a label naming another kind of id: `order`, `pedido nº`, `account number is`,
 * `número de cliente:`. A weak word (account, customer, policy) needs a qualifier (`number`, `#`),
 * so "the phone on the account is ..." is not a label.
 */
const ID_LABEL = new RegExp(
  `(?:${B}(?:${ID_WORDS_STRONG})${E}(?:\\s*${ID_QUALIFIER})?|${B}(?:${ID_WORDS_WEAK})\\s*${ID_QUALIFIER}|${B}(?:n[uú]mero|number|no\\.?|n[ºo°])\\s+(?:de\\s+|del\\s+|de\\s+la\\s+)?(?:${ID_WORDS_STRONG}|${ID_WORDS_WEAK}))` +
    `\\s*(?:is|was|es|era|ser[ií]a|:)?\\s*(?:the\\s+|el\\s+|la\\s+)?#?\\s*$`,
  'iu',
);

/** A code of letters and digits right before (`1Z999AA1 2345678901`): the number goes on with it.
 * Not a time or an ordinal (`5pm`, `10h`, `2nd`, `3º`), which a phone number may well follow. */
const AFTER_CODE = /(?<![\p{L}\p{N}_])(?=[\p{L}\p{N}]*\p{L})(?=[\p{L}\p{N}]*\p{N})(?!\d+(?:am|pm|h|hrs?|st|nd|rd|th|º|ª|o|a|er|ers|ro|do|to)[ -]$)[\p{L}\p{N}]{3,}[ -]$/iu;

/**
 * Whether the text just before `at` makes the number starting there another kind of id: a label
 * (`order`, `pedido nº`) or a code of letters and digits that it continues.
 */
function labelledAsId(text: string, at: number): boolean {
  const before = text.slice(Math.max(0, at - 48), at);
  return ID_LABEL.test(before) || AFTER_CODE.test(before);
}

// ---------------------------------------------------------------------------------------------
// Cards

/** Luhn (mod 10) check of a string of digits. */
export function luhnOk(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/**
 * Whether a card number of this length may start with these digits: Visa (4; 13, 16, 19),
 * Mastercard (51-55, 2221-2720; 16), Maestro (50, 56-58, 6x; 13-19), Amex (34, 37; 15),
 * Diners (300-305, 36, 38, 39; 14-19), JCB (3528-3589; 16-19), Discover and UnionPay (60-65; 16-19).
 */
export function plausibleIin(digits: string): boolean {
  const n = digits.length;
  const p2 = (digits.charCodeAt(0) - 48) * 10 + (digits.charCodeAt(1) - 48);
  switch (digits.charCodeAt(0) - 48) {
    case 4:
      return n === 13 || n === 16 || n === 19;
    case 5:
      if (p2 >= 51 && p2 <= 55) return n === 16;
      return p2 !== 59 && n >= 13; // Maestro 50, 56-58
    case 2: {
      const p4 = Number(digits.slice(0, 4));
      return p4 >= 2221 && p4 <= 2720 && n === 16;
    }
    case 3: {
      if (p2 === 34 || p2 === 37) return n === 15;
      const p3 = Number(digits.slice(0, 3));
      if ((p3 >= 300 && p3 <= 305) || p2 === 36 || p2 === 38 || p2 === 39) return n >= 14;
      const p4 = Number(digits.slice(0, 4));
      return p4 >= 3528 && p4 <= 3589 && n >= 16;
    }
    case 6:
      if (p2 === 61 || p2 >= 68) return false;
      return p2 === 60 || p2 === 63 || p2 === 67 ? n >= 13 : n >= 16;
    default:
      return false;
  }
}

/** A card number: Luhn and a plausible IIN for its length. */
export function isCardNumber(digits: string): boolean {
  return digits.length >= 13 && digits.length <= 19 && plausibleIin(digits) && luhnOk(digits);
}

/** Maximal runs of digit groups joined by single spaces or dashes, not glued to a word or to
 * another number (`CS-2024-118822`, `1.5`). The lookahead-and-backreference makes the run
 * atomic: a run that fails is never tried shorter. */
const DIGIT_RUN = /(?<![\p{L}\p{N}_]|[\p{L}\p{N}_][.,\/-]|\d )(?=(\d+(?:[ -]\d+)*))\1(?![\p{L}_]|[.,\/]\d)/gu;

/**
 * Whether groups i..j (their lengths and the separators between them) are laid out as a card is:
 * one group; or one separator throughout and 4-4-4-4 (the last group 1-4), 4-6-5 or 4-6-4; or,
 * when the card is the whole run, any groups of 2-6 digits (a number read out in pairs or threes).
 */
function cardShape(lengths: number[], seps: string[], i: number, j: number): boolean {
  if (i === j) return true;
  for (let k = i; k < j - 1; k++) if (seps[k] !== seps[j - 1]) return false;
  if (i === 0 && j === lengths.length - 1) {
    let spoken = true;
    for (let k = i; k <= j; k++) if (lengths[k]! < 2 || lengths[k]! > 6) spoken = false;
    if (spoken) return true;
  }
  if (lengths[i] !== 4) return false;
  if (j - i === 2 && lengths[i + 1] === 6) return lengths[j] === 5 || lengths[j] === 4; // Amex, Diners
  for (let k = i + 1; k < j; k++) if (lengths[k] !== 4) return false;
  return lengths[j]! >= 1 && lengths[j]! <= 4;
}

/** Thirteen digits in a row, single spaces or dashes between them: a text without them holds no card. */
export const CARD_HINT = /\d(?:[ -]?\d){12}/;
const CARD_HINTS = new RegExp(CARD_HINT.source, 'g');
/** DIGIT_RUN tried at one position only (`lastIndex`). */
const DIGIT_RUN_AT = new RegExp(DIGIT_RUN.source, 'uy');

const isDigit = (c: number) => c >= 48 && c <= 57;

/** The cards in one run of digit groups (a DIGIT_RUN match) replaced. */
function cardsInRun(run: string, hit: Hit): string {
  if (run.length < 13) return run;
  // the run's groups: their digits, start offsets and the separator after each
  const groups: string[] = [];
  const starts: number[] = [];
  const seps: string[] = [];
  let start = 0;
  for (let k = 0; k <= run.length; k++) {
    const c = run.charCodeAt(k);
    if (k === run.length || c === 32 || c === 45) {
      groups.push(run.slice(start, k));
      starts.push(start);
      if (k < run.length) seps.push(run[k]!);
      start = k + 1;
    }
  }
  const lengths = groups.map((g) => g.length);
  let out = '';
  let done = 0; // offset in run up to which `out` is written
  for (let i = 0; i < groups.length; i++) {
    let digits = '';
    for (let j = i; j < groups.length; j++) {
      digits += groups[j];
      if (digits.length > 19) break;
      if (digits.length >= 13 && cardShape(lengths, seps, i, j) && isCardNumber(digits)) {
        const from = starts[i]!;
        const to = starts[j]! + lengths[j]!;
        out += run.slice(done, from) + hit('card', run.slice(from, to));
        done = to;
        i = j;
        break;
      }
    }
  }
  return done === 0 ? run : out + run.slice(done);
}

/**
 * Cards, found as `text.replace(DIGIT_RUN, ...)` finds them but without trying DIGIT_RUN (and its
 * Unicode lookbehind) at every position of a long text, which a whole call full of dates, amounts
 * and order numbers makes slow. A run holding a card holds 13 digits in a row, which CARD_HINT
 * finds fast (ASCII, no lookbehind); its lookbehind refuses any position right after a digit or a
 * digit and a separator, so a DIGIT_RUN match can only start where the sequence of digit groups
 * holding those 13 digits starts: DIGIT_RUN is tried there and nowhere else, on the whole text.
 * Runs with fewer than 13 digits, which the whole-text scan also matched, never held a card.
 */
export function redactCards(text: string, hit: Hit): string {
  let out = '';
  let done = 0; // offset in text up to which `out` is written
  CARD_HINTS.lastIndex = 0;
  for (let h = CARD_HINTS.exec(text); h !== null; h = CARD_HINTS.exec(text)) {
    // The sequence of digit groups (single spaces or dashes between them) holding the 13 digits:
    // CARD_HINTS, tried from the end of the previous sequence on, first matches where the
    // sequence starts (a match is digits and single separators, so it lies in one sequence).
    const from = h.index;
    let to = from + h[0].length;
    for (;;) {
      const c = text.charCodeAt(to);
      if (isDigit(c)) to++;
      else if ((c === 32 || c === 45) && isDigit(text.charCodeAt(to + 1))) to += 2;
      else break;
    }
    CARD_HINTS.lastIndex = to;
    DIGIT_RUN_AT.lastIndex = from;
    const m = DIGIT_RUN_AT.exec(text);
    if (m === null) continue;
    const redacted = cardsInRun(m[0], hit);
    if (redacted === m[0]) continue;
    out += text.slice(done, from) + redacted;
    done = from + m[0].length;
  }
  return done === 0 ? text : out + text.slice(done);
}

// ---------------------------------------------------------------------------------------------
// SSN

const SSN = /(?<![\p{L}\p{N}_]|[\p{L}\p{N}_][.,/-])(\d{3})([- ]?)(\d{2})\2(\d{4})(?![\p{L}\p{N}_]|[.,/-]\d)/gu;
/** Words that say a spaced or bare 9-digit number is an SSN, within 60 characters before it. */
const SSN_CONTEXT = /\bssn\b|\bss\s?#|\bs\.\s?s\.|\bsocial\b|\bseguro\s+social\b/i;

/** Whether the SSA could have issued this area, group and serial (it never issues 000, 666 or 9xx areas, 00 groups, 0000 serials). */
export function ssnIssuable(area: string, group: string, serial: string): boolean {
  return area !== '000' && area !== '666' && area.charCodeAt(0) !== 57 && group !== '00' && serial !== '0000';
}

/** Nine digits in an SSN's layout: a text without them holds no SSN. */
const SSN_HINT = /\d{3}[- ]?\d{2}[- ]?\d{4}/;

export function redactSsns(text: string, hit: Hit): string {
  if (!SSN_HINT.test(text)) return text;
  return text.replace(SSN, (m: string, area: string, sep: string, group: string, serial: string, at: number) => {
    if (!ssnIssuable(area, group, serial) || labelledAsId(text, at)) return m;
    if (sep !== '-' && !SSN_CONTEXT.test(text.slice(Math.max(0, at - 60), at))) return m;
    return hit('ssn', m);
  });
}

// ---------------------------------------------------------------------------------------------
// Email

const EMAIL =
  /(?<![\p{L}\p{N}._%+-])[\p{L}\p{N}_%+-](?:[\p{L}\p{N}._%+-]{0,62}[\p{L}\p{N}_%+-])?@(?:[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?\.)+\p{L}{2,24}(?![\p{L}\p{N}_-]|\.[\p{L}\p{N}])/gu;

/** EMAIL tried at one position only (`lastIndex`): the same match there, or none. */
const EMAIL_AT = new RegExp(EMAIL.source, 'uy');

/** [A-Za-z0-9._%+-]: the ASCII characters of a local part (and of EMAIL's lookbehind). */
const LOCAL_ASCII = new Uint8Array(128);
for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-') LOCAL_ASCII[c.charCodeAt(0)] = 1;
const LETTER_OR_NUMBER = /^[\p{L}\p{N}]$/u;

/**
 * Where the run of local-part characters ([\p{L}\p{N}._%+-], read by code point as EMAIL reads
 * them) that ends right before `at` starts; -1 when it is longer than any local part (64 code
 * points, so 128 UTF-16 units).
 */
function localRunStart(text: string, at: number): number {
  let s = at;
  while (s > 0) {
    if (at - s > 128) return -1;
    const c = text.charCodeAt(s - 1);
    if (c < 128) {
      if (LOCAL_ASCII[c] === 0) break;
      s--;
      continue;
    }
    // a surrogate pair is one code point
    const w = c >= 0xdc00 && c <= 0xdfff && s >= 2 && (text.charCodeAt(s - 2) & 0xfc00) === 0xd800 ? 2 : 1;
    if (!LETTER_OR_NUMBER.test(text.slice(s - w, s))) break;
    s -= w;
  }
  return s;
}

/**
 * Emails, found as `text.replace(EMAIL, ...)` finds them but without trying EMAIL at every
 * position of a long text (its lookbehind and Unicode classes make that slow: 10-15 MB/s on a
 * whole call). Every match holds exactly one `@`, and its lookbehind says the character before it
 * is no local-part character, so a match holding a given `@` can only start where the run of
 * local-part characters before that `@` starts: EMAIL is tried there and nowhere else, on the whole
 * text (so its lookbehind and lookahead read what they read in a whole-text scan).
 */
export function redactEmails(text: string, hit: Hit): string {
  let out = '';
  let done = 0; // offset in text up to which `out` is written (the end of the last match)
  for (let at = text.indexOf('@'); at >= 0; at = text.indexOf('@', at + 1)) {
    const s = localRunStart(text, at);
    // no local part, too long a one, or one that starts inside the previous match (whose end
    // is followed by a local-part character, which the lookbehind refuses everywhere after it)
    if (s < 0 || s === at || s < done) continue;
    EMAIL_AT.lastIndex = s;
    const m = EMAIL_AT.exec(text);
    if (m === null) continue;
    out += text.slice(done, s) + hit('email', m[0]);
    done = s + m[0].length;
  }
  return done === 0 ? text : out + text.slice(done);
}

// ---------------------------------------------------------------------------------------------
// IBAN

/** Where an IBAN may start: two letters of one case and two check digits, not inside a word. */
const IBAN_START = /(?<![\p{L}\p{N}_])(?:[A-Z]{2}|[a-z]{2})\d{2}/gu;

function isAsciiAlnum(c: number): boolean {
  return (c >= 48 && c <= 57) || ((c | 32) >= 97 && (c | 32) <= 122);
}

/** Two letters and two digits: a text without them holds no IBAN. */
const IBAN_HINT = /[A-Za-z]{2}\d{2}/;

export function redactIbans(text: string, hit: Hit): string {
  if (!IBAN_HINT.test(text)) return text;
  IBAN_START.lastIndex = 0;
  let out = '';
  let done = 0;
  for (let m = IBAN_START.exec(text); m !== null; m = IBAN_START.exec(text)) {
    const length = IBAN_LENGTHS[m[0].slice(0, 2).toUpperCase()];
    if (length === undefined) continue;
    // read exactly `length` letters and digits, a single space or dash allowed between two of them
    let iban = '';
    let k = m.index;
    while (iban.length < length && k < text.length) {
      const c = text.charCodeAt(k);
      if (isAsciiAlnum(c)) iban += text[k++];
      else if ((c === 32 || c === 45) && iban.length >= 4 && isAsciiAlnum(text.charCodeAt(k + 1))) k++;
      else break;
    }
    if (iban.length !== length || (k < text.length && isAsciiAlnum(text.charCodeAt(k))) || !ibanChecksumOk(iban)) continue;
    out += text.slice(done, m.index) + hit('iban', text.slice(m.index, k));
    done = k;
    IBAN_START.lastIndex = k;
  }
  return done === 0 ? text : out + text.slice(done);
}

// ---------------------------------------------------------------------------------------------
// IP addresses

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4 = `(?<![\\p{L}\\p{N}_.]|\\d[.,])${OCTET}(?:\\.${OCTET}){3}(?![\\p{L}\\p{N}_]|\\.\\d)`;
/** A version (`version 10.2.0.1`, `patch 4.2.2.1`) or a numbered heading (`section 1.2.10.4`,
 * `apartado 3.1.2.4`) looks like an address but is not one. */
const NOT_AN_ADDRESS_BEFORE = new RegExp(
  `${B}(?:v|ver|version|versi[oó]n|build|compilaci[oó]n|firmware|release|update|actualizaci[oó]n|patch|parche|section|secci[oó]n|apartado|clause|cl[aá]usula|paragraph|p[aá]rrafo|article|art[ií]culo|chapter|cap[ií]tulo|page|p[aá]gina|item|punto|rule|norma)` +
    `\\.?\\s*(?:is|es|:|n[uú]mero|number|no\\.?)?\\s*$`,
  'iu',
);
/** Four dotted numbers: a text without them holds no IPv4 address. */
const IPV4_HINT = /\d\.\d{1,3}\.\d{1,3}\.\d/;
const IPV6 = '(?<![\\p{L}\\p{N}_:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|\\d{1,3}(?:\\.\\d{1,3}){3})?(?![\\p{L}\\p{N}_:]|\\.\\d)';
/** Both in one pass: an IPv6 candidate (two colons or more) or else an IPv4 one. */
const IP = new RegExp(`(${IPV6})|${IPV4}`, 'gu');

/** Whether an IPv6 candidate is an address: valid, with at least two groups, and more than two
 * unless one has a letter or 3+ characters (not `10::30`). */
function isIpv6Address(m: string): boolean {
  if (!isIPv6(m)) return false;
  const groups = m.split(/[:.]/).filter((g) => g !== '');
  return groups.length > 2 || (groups.length === 2 && groups.some((g) => g.length >= 3 || /[a-f]/i.test(g)));
}

/** What every match of IP holds: two colons with 0-4 hex digits between them (IPv6), or four
 * dotted numbers (IPv4). ASCII only and no lookbehind, so a long text is scanned fast. */
const IP_CANDIDATE = /:[0-9A-Fa-f]{0,4}:|\d\.\d{1,3}\.\d{1,3}\.\d/g;

/** Whether a character may be part of an IP match: a hex digit, `:` or `.`. */
function ipChar(c: number): boolean {
  return (c >= 48 && c <= 58) || c === 46 || ((c | 32) >= 97 && (c | 32) <= 102);
}

/**
 * IP addresses, found as `text.replace(IP, ...)` finds them (the same candidates, the rejected
 * ones consumed as well) but without trying IP at every position of a long text. Every match
 * lies inside one run of hex digits, colons and dots and holds an IP_CANDIDATE, so IP runs only
 * on the runs that hold one, from the run's start as the whole-text scan would reach it, with two
 * units of context either side for the lookbehinds and the lookahead.
 */
export function redactIps(text: string, hit: Hit, v4: boolean, v6: boolean): string {
  if (!v6 && !(v4 && IPV4_HINT.test(text))) return text;
  let out = '';
  let done = 0; // offset in text up to which `out` is written
  IP_CANDIDATE.lastIndex = 0;
  for (let c = IP_CANDIDATE.exec(text); c !== null; c = IP_CANDIDATE.exec(text)) {
    let from = c.index;
    while (from > 0 && ipChar(text.charCodeAt(from - 1))) from--;
    let to = c.index + c[0].length;
    while (to < text.length && ipChar(text.charCodeAt(to))) to++;
    const start = Math.max(0, from - 2);
    const window = text.slice(start, Math.min(text.length, to + 2));
    IP.lastIndex = from - start;
    for (let m = IP.exec(window); m !== null && start + m.index < to; m = IP.exec(window)) {
      const at = start + m.index;
      const ip = m[0];
      const address = m[1] !== undefined ? isIpv6Address(ip) : !NOT_AN_ADDRESS_BEFORE.test(text.slice(Math.max(0, at - 24), at));
      if (!address) continue;
      out += text.slice(done, at) + hit('ip', ip);
      done = at + ip.length;
    }
    IP_CANDIDATE.lastIndex = to;
  }
  return done === 0 ? text : out + text.slice(done);
}

// ---------------------------------------------------------------------------------------------
// Phone numbers

/** Runs of phone-like characters (digits, spaces, dots, dashes, slashes, brackets, a leading +),
 * not glued to a word or to another number by a dash, dot or slash. */
const PHONE_RUN = /(?<![\p{L}\p{N}_+]|[\p{L}\p{N}_][.,\/-])(?:\+\s?)?\(?\d[\d ().\/-]{5,}\d/gu;
/** Seven digits close together: a text without them holds no phone number. */
export const PHONE_HINT = /\d(?:[ ().\/-]{0,3}\d){6}/;

/**
 * A cheap necessary condition for a national number in the region, from libphonenumber-js's own
 * metadata: a possible length and a type pattern of the region's calling code (after the national
 * prefix, if written), or the international dialling prefix (`011`, `00`) ahead of 7-15 digits.
 * Only runs that pass it go to the library, whose validation costs 10-80 µs a call (most of it on the numbers it
 * then rejects: order numbers, dates, amounts).
 */
interface PlanFilter {
  lengths: Set<number>;
  /** The type patterns of every country sharing the calling code, anchored. */
  pattern: RegExp | undefined;
  /** The national prefix as the library parses it (`1` for US, `0` for ES, a carrier code or `15` for AR). */
  nationalPrefix: RegExp | undefined;
  /** A region whose prefix rewrites the number (AR, BR, MX...): after such a prefix, any length goes. */
  transforms: boolean;
  idd: RegExp | undefined;
  /** The region's calling code, which the library also accepts written without its `+` (`34 612 345 678`). */
  callingCode: string | undefined;
}

const planFilters = new Map<string, PlanFilter>();
const NUMBER_TYPES = ['FIXED_LINE', 'MOBILE', 'TOLL_FREE', 'PREMIUM_RATE', 'PERSONAL_NUMBER', 'VOICEMAIL', 'UAN', 'PAGER', 'VOIP', 'SHARED_COST'];

/** The parts of libphonenumber-js's metadata the filter reads. Only `possibleLengths` and `IDDPrefix`
 * are in its typings; the rest exist at run time, and where one is missing the filter is looser
 * (still correct, only slower). */
interface PlanAtRunTime {
  possibleLengths(): number[];
  IDDPrefix(): string | undefined;
  nationalNumberPattern?(): string | undefined;
  nationalPrefixForParsing?(): string | undefined;
  nationalPrefixTransformRule?(): string | undefined;
  callingCode?(): string;
  type?(type: string): { pattern(): string } | undefined;
}

function planFilter(region: CountryCode): PlanFilter {
  let f = planFilters.get(region);
  if (f !== undefined) return f;
  const metadata = new Metadata();
  metadata.selectNumberingPlan(region);
  const plan = metadata.numberingPlan as unknown as PlanAtRunTime;
  const lengths = new Set(plan.possibleLengths());
  // A valid national number matches a type pattern (fixed line, mobile, toll free, ...) of a
  // country that shares the region's calling code (for US: every NANP country).
  const patterns: string[] = [];
  const shared = (metadata as unknown as { getCountryCodesForCallingCode?(code: string): string[] | undefined }).getCountryCodesForCallingCode?.(plan.callingCode?.() ?? '');
  for (const country of shared ?? [region]) {
    const other = new Metadata();
    other.selectNumberingPlan(country as CountryCode);
    const p = other.numberingPlan as unknown as PlanAtRunTime;
    for (const l of p.possibleLengths()) lengths.add(l);
    for (const t of NUMBER_TYPES) {
      const pattern = p.type?.(t)?.pattern();
      if (pattern) patterns.push(pattern);
    }
  }
  const pattern = patterns.length > 0 ? patterns.join('|') : plan.nationalNumberPattern?.();
  const idd = plan.IDDPrefix();
  const prefix = plan.nationalPrefixForParsing?.();
  f = {
    lengths,
    pattern: pattern ? new RegExp(`^(?:${pattern})$`) : undefined,
    nationalPrefix: prefix ? new RegExp(`^(?:${prefix})`) : undefined,
    transforms: Boolean(plan.nationalPrefixTransformRule?.()),
    idd: idd ? new RegExp(`^(?:${idd})`) : undefined,
    callingCode: plan.callingCode?.() || undefined,
  };
  planFilters.set(region, f);
  return f;
}

function nationalOk(digits: string, f: PlanFilter): boolean {
  return f.lengths.has(digits.length) && (f.pattern === undefined || f.pattern.test(digits));
}

/** Whether these digits (`plus`: written after a `+`) may be one phone number read in the region. */
function plausiblePhone(digits: string, plus: boolean, f: PlanFilter): boolean {
  const n = digits.length;
  if (plus) return n >= 7 && n <= 15;
  if (plausibleNational(digits, f)) return true;
  if (f.callingCode !== undefined && digits.startsWith(f.callingCode) && plausibleNational(digits.slice(f.callingCode.length), f)) return true;
  const idd = f.idd?.exec(digits);
  return idd != null && n - idd[0].length >= 7 && n - idd[0].length <= 15;
}

/** A national number in the region, with or without its national prefix. */
function plausibleNational(digits: string, f: PlanFilter): boolean {
  if (nationalOk(digits, f)) return true;
  const prefix = f.nationalPrefix?.exec(digits);
  if (prefix == null || prefix[0] === '') return false;
  if (f.transforms) return digits.length >= 7 && digits.length <= 17;
  return nationalOk(digits.slice(prefix[0].length), f);
}

/** The digit groups of a run: [start, end) offsets. */
function digitGroups(run: string): Array<[number, number]> {
  const groups: Array<[number, number]> = [];
  let start = -1;
  for (let k = 0; k <= run.length; k++) {
    const c = k < run.length ? run.charCodeAt(k) : -1;
    const digit = c >= 48 && c <= 57;
    if (digit && start < 0) start = k;
    else if (!digit && start >= 0) {
      groups.push([start, k]);
      start = -1;
    }
  }
  return groups;
}

/** A date at the start of a run: year (19xx, 20xx) first or last, with dashes, slashes or dots. */
const DATE_AT_START = /^(?:(?:19|20)\d\d([-/.])(\d{1,2})\1(\d{1,2})|(\d{1,2})([-/.])(\d{1,2})\5(?:19|20)\d\d)(?!\d)/;

/** The date a run starts with, if its day and month are a day and a month; null otherwise. */
export function dateAtStart(run: string): RegExpExecArray | null {
  const m = DATE_AT_START.exec(run);
  if (m === null) return null;
  const [a, b] = m[2] !== undefined ? [Number(m[2]), Number(m[3])] : [Number(m[4]), Number(m[6])];
  const ok = m[2] !== undefined ? a >= 1 && a <= 12 && b >= 1 && b <= 31 : a >= 1 && b >= 1 && a <= 31 && b <= 31 && (a <= 12 || b <= 12);
  return ok ? m : null;
}

const ZIP4 = /^\d{5}-\d{4}$/;

/** Library calls allowed per run when looking inside it (each costs 10-80 µs). */
const MAX_TRIES_PER_RUN = 6;

export function redactPhones(text: string, hit: Hit, region: CountryCode): string {
  if (!PHONE_HINT.test(text)) return text;
  const f = planFilter(region);
  return text.replace(PHONE_RUN, (run: string, at: number) => {
    const groups = digitGroups(run);
    let digits = '';
    /** offsets[k]: where group k's digits start in `digits` (offsets[groups.length]: its length). */
    const offsets: number[] = [0];
    for (const [a, b] of groups) {
      digits += run.slice(a, b);
      offsets.push(digits.length);
    }
    // a ZIP+4 code is no phone number, whatever a region's plan says of its nine digits
    if (digits.length < 7 || ZIP4.test(run)) return run;
    let out = '';
    let done = 0;
    /** Hand run[from, to) to the library; replace the valid numbers it finds there. */
    const attempt = (from: number, to: number): boolean => {
      let any = false;
      for (const m of findPhoneNumbersInText(run.slice(from, to), { defaultCountry: region })) {
        const a = from + m.startsAt;
        if (a < done || !m.number.isValid() || labelledAsId(text, at + a)) continue;
        out += run.slice(done, a) + hit('phone', run.slice(a, from + m.endsAt));
        done = from + m.endsAt;
        any = true;
      }
      return any;
    };
    // a run that starts with a date (`2025-12-05 02:00`, `15/03/2024 612...`) is no number as a whole
    const date = dateAtStart(run);
    let first = 0;
    if (date !== null) while (first < groups.length && groups[first]![0] < date[0].length) first++;
    if (date === null && plausiblePhone(digits, run.charCodeAt(0) === 43, f)) attempt(0, run.length);
    else if (groups.length - first > 1 || (date !== null && first < groups.length)) {
      // Not one number as a whole (a date or a stray digit before it, two numbers in a row): look
      // for one in consecutive groups, longest first, as the library looks inside a candidate.
      let tries = 0;
      for (let i = first; i < groups.length && tries < MAX_TRIES_PER_RUN; i++) {
        let from = groups[i]![0];
        if (from < done) continue;
        // a group glued to the one before by a dash, slash or dot goes on with it (`0049-2024-000123`)
        if (i > first && /[-/.]/.test(run[from - 1]!)) continue;
        if (run[from - 1] === '(') from--;
        const plus = run[from - 1] === '+' || (run[from - 1] === ' ' && run[from - 2] === '+');
        if (plus) from -= run[from - 1] === '+' ? 1 : 2;
        // from the most groups that hold at most 15 digits down to 7 digits: at most 15 groups a start
        let last = i;
        while (last + 1 < groups.length && offsets[last + 2]! - offsets[i]! <= 15) last++;
        for (let j = last; j >= i && tries < MAX_TRIES_PER_RUN; j--) {
          const length = offsets[j + 1]! - offsets[i]!;
          if (length < 7) break;
          if (!plausiblePhone(digits.slice(offsets[i], offsets[j + 1]), plus, f)) continue;
          tries++;
          if (attempt(from, groups[j]![1])) {
            i = j;
            break;
          }
        }
      }
    }
    return done === 0 ? run : out + run.slice(done);
  });
}
