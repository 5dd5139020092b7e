/**
 * The redactor as it was before it was made fast on whole-call texts (issue 14): a frozen copy of
 * what that rewrite changed (the card, email and IP detectors, run over the whole text, and the
 * composition in redactor.ts), the rest taken from the real module, kept as the oracle that
 * redact-equivalence.test.ts compares the real redactor with, byte for byte and count for
 * count. Not used by the product; do not "fix" it: it is the reference behaviour.
 */
import { isIPv6 } from 'node:net';
import { checkRedactOptions, type RedactOptions, type Redactor } from '../../transforms/redact/redactor.js';
// What the rewrite did not change is the real module's: types, placeholders, the id-label
// context, the card number check, and the SSN, IBAN and phone detectors.
import {
  isCardNumber,
  PLACEHOLDERS,
  redactIbans,
  redactPhones,
  redactSsns,
  type Hit,
  type PiiType,
} from '../../transforms/redact/detectors.js';

export { PII_TYPES } from '../../transforms/redact/detectors.js';

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
  if (CARD_HINT.exec(text) === null) return text;
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
// Email

const EMAIL =
  /(?<![\p{L}\p{N}._%+-])[\p{L}\p{N}_%+-](?:[\p{L}\p{N}._%+-]{0,62}[\p{L}\p{N}_%+-])?@(?:[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?\.)+\p{L}{2,24}(?![\p{L}\p{N}_-]|\.[\p{L}\p{N}])/gu;

export function redactEmails(text: string, hit: Hit): string {
  return text.replace(EMAIL, (m: string) => hit('email', m));
}

// ---------------------------------------------------------------------------------------------
// IP addresses

/** Word boundaries that know letters outside ASCII. */
const B = '(?<![\\p{L}\\p{N}_])';
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
  return groups.length > 2 || (groups.length === 2 && groups.some((g) => g.length >= 3 || /[a-f]/i.exec(g) !== null));
}

export function redactIps(text: string, hit: Hit, v4: boolean, v6: boolean): string {
  if (!v6 && !(v4 && (IPV4_HINT.exec(text) !== null))) return text;
  return text.replace(IP, (m: string, six: string | undefined, at: number) => {
    if (six !== undefined) return isIpv6Address(m) ? hit('ip', m) : m;
    return (NOT_AN_ADDRESS_BEFORE.exec(text.slice(Math.max(0, at - 24), at)) !== null) ? m : hit('ip', m);
  });
}

// ---------------------------------------------------------------------------------------------
// Phone numbers: not changed by the rewrite, so the real detector (imported above)

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
    if (typeof text !== 'string' || text.length < 6 || MAYBE_PII.exec(text) === null) return text;
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

