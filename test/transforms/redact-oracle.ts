/**
 * The redactor as it was before it was made fast on whole-call texts (issue 14): a frozen copy of
 * transforms/redact/detectors.ts and of the composition in redactor.ts, kept as the oracle that
 * redact-speed-equivalence.test.ts compares the real redactor with, byte for byte and count for
 * count. Not used by the product; do not "fix" it: it is the reference behaviour.
 */
import { isIPv6 } from 'node:net';
import { Metadata, findPhoneNumbersInText, type CountryCode } from 'libphonenumber-js/max';
import { checkRedactOptions, type RedactOptions, type Redactor } from '../../transforms/redact/redactor.js';
import { IBAN_LENGTHS, ibanChecksumOk } from '../../transforms/redact/iban.js';

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

export function redactCards(text: string, hit: Hit): string {
  if (!CARD_HINT.test(text)) return text;
  return text.replace(DIGIT_RUN, (run: string) => {
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
  });
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

export function redactEmails(text: string, hit: Hit): string {
  return text.replace(EMAIL, (m: string) => hit('email', m));
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

export function redactIps(text: string, hit: Hit, v4: boolean, v6: boolean): string {
  if (!v6 && !(v4 && IPV4_HINT.test(text))) return text;
  return text.replace(IP, (m: string, six: string | undefined, at: number) => {
    if (six !== undefined) return isIpv6Address(m) ? hit('ip', m) : m;
    return NOT_AN_ADDRESS_BEFORE.test(text.slice(Math.max(0, at - 24), at)) ? m : hit('ip', m);
  });
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

// ---------------------------------------------------------------------------------------------
// The redactor (redactor.ts)

/** What a text holds that the detectors need, counted in one pass. */
interface Scan {
  digits: number;
  at: boolean;
  colons: number;
  dots: number;
}

function scan(text: string): Scan {
  let digits = 0;
  let at = false;
  let colons = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c <= 64) {
      if (c >= 48 && c <= 57) digits++;
      else if (c === 64) at = true;
      else if (c === 58) colons++;
      else if (c === 46) dots++;
    }
  }
  return { digits, at, colons, dots };
}

function countDigits(text: string): number {
  let digits = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) digits++;
  }
  return digits;
}

const MAYBE_PII = /[\d@]/;

export function oracleRedactor(options: RedactOptions, observe?: (type: PiiType, original: string) => void): Redactor {
  const { types, phoneRegion } = checkRedactOptions(options);
  const on = new Set(types);
  const card = on.has('card');
  const ssn = on.has('ssn');
  const email = on.has('email');
  const phone = on.has('phone');
  const iban = on.has('iban');
  const ip = on.has('ip');
  return (text, counts) => {
    // the shortest value any detector takes is 6 characters (a@b.co, 1.1.1.1 is 7)
    if (typeof text !== 'string' || text.length < 6 || !MAYBE_PII.test(text)) return text;
    const s = scan(text);
    const hit: Hit = (type, original) => {
      counts[type] = (counts[type] ?? 0) + 1;
      observe?.(type, original);
      return PLACEHOLDERS[type];
    };
    let out = text;
    let digits = s.digits;
    // Longest and most certain first: an email or IBAN holds digits a card or phone could take.
    if (email && s.at) out = redactEmails(out, hit);
    if (iban && digits >= 10) out = recount(redactIbans(out, hit));
    if (card && digits >= 13) out = recount(redactCards(out, hit));
    if (ssn && digits >= 9) out = recount(redactSsns(out, hit));
    if (ip && ((s.colons >= 2 && digits >= 1) || (s.dots >= 3 && digits >= 4))) out = recount(redactIps(out, hit, s.dots >= 3 && digits >= 4, s.colons >= 2));
    if (phone && digits >= 7) out = redactPhones(out, hit, phoneRegion);
    return out;

    function recount(next: string): string {
      if (next !== out) digits = countDigits(next);
      return next;
    }
  };
}

