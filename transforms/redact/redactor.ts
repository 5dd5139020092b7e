/**
 * The redactor: options, their check, and the function from text to redacted text that runs the
 * detectors (detectors.ts) a text can hold, each in one pass, after one cheap scan of the text.
 */
import { getCountries, isSupportedCountry, type CountryCode } from 'libphonenumber-js/max';
import { BatchError, preview } from '../../src/errors.js';
import { PII_TYPES, PLACEHOLDERS, redactCards, redactEmails, redactIbans, redactIps, redactPhones, redactSsns, type Hit, type PiiType } from './detectors.js';

export interface RedactOptions {
  /** The types to replace (default: all of `PII_TYPES`). */
  types?: PiiType[];
  /** The country national-format phone numbers are read in, ISO 3166 alpha-2 in either case
   * (default `US`); checked by `checkRedactOptions`, so a CLI flag's string may go here as it is.
   * Numbers written with a `+` and country code are found whatever it is. */
  phoneRegion?: CountryCode | (string & {});
}

/** Options with defaults applied and checked. */
export interface ResolvedRedactOptions {
  types: PiiType[];
  phoneRegion: CountryCode;
}

/** Redacts one text: returns it with PII replaced, adding to `counts` per type. */
export type Redactor = (text: string, counts: Record<string, number>) => string;

/**
 * Check redaction options and apply the defaults; throws `E_BAD_OPTION` naming the bad type or
 * region and the choices. A region is accepted in either case (`es` is `ES`).
 */
export function checkRedactOptions(options: RedactOptions | undefined = {}): ResolvedRedactOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new BatchError('E_BAD_OPTION', `redaction options must be an object, got ${preview(options)}`);
  }
  let types: PiiType[] = [...PII_TYPES];
  if (options.types !== undefined) {
    if (!Array.isArray(options.types) || options.types.length === 0) {
      throw new BatchError('E_BAD_OPTION', `redaction types must be a non-empty list, got ${preview(options.types)}`, {
        hint: `choose from ${PII_TYPES.join(', ')}`,
      });
    }
    for (const t of options.types) {
      if (!(PII_TYPES as readonly unknown[]).includes(t)) {
        throw new BatchError('E_BAD_OPTION', `unknown PII type ${JSON.stringify(preview(t))}: choose from ${PII_TYPES.join(', ')}`, {
          hint: `for example --redact ${PII_TYPES.join(',')}`,
        });
      }
    }
    types = [...new Set(options.types)];
  }
  let phoneRegion: CountryCode = 'US';
  if (options.phoneRegion !== undefined) {
    const region = typeof options.phoneRegion === 'string' ? options.phoneRegion.trim().toUpperCase() : '';
    if (!isSupportedCountry(region)) {
      throw new BatchError('E_BAD_OPTION', `unknown phone region ${JSON.stringify(preview(options.phoneRegion))}: use a two-letter country code (ISO 3166-1 alpha-2)`, {
        hint: `one of the ${getCountries().length} regions libphonenumber-js knows, such as US, ES, MX, GB, FR, DE, CO, AR`,
      });
    }
    phoneRegion = region;
  }
  return { types, phoneRegion };
}

/** A redactor for these options (checked: throws `E_BAD_OPTION` on bad ones). */
export function createRedactor(options: RedactOptions = {}): Redactor {
  return redactorWith(options);
}

/**
 * What a text holds that the detectors need: its digits (counted up to 13, the most any
 * detector's gate asks for), whether it has an `@`, and its colons and dots (up to 2 and 3).
 * Native `indexOf` for the characters and a count that stops at the 13th digit, so a whole call
 * (whose first line already holds 13 digits) costs next to nothing.
 */
interface Scan {
  digits: number;
  at: boolean;
  colons: number;
  dots: number;
}

function scan(text: string): Scan {
  return { digits: countDigits(text), at: text.includes('@'), colons: occurrences(text, ':', 2), dots: occurrences(text, '.', 3) };
}

/** How many times `c` occurs in the text, counted up to `max`. */
function occurrences(text: string, c: string, max: number): number {
  let n = 0;
  for (let i = text.indexOf(c); i >= 0 && n < max; i = text.indexOf(c, i + 1)) n++;
  return n;
}

/** The digits of a text, counted up to 13. */
function countDigits(text: string): number {
  let digits = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57 && ++digits === 13) return 13;
  }
  return digits;
}

const MAYBE_PII = /[\d@]/;

/**
 * A redactor that also tells `observe` what it replaced (type and original text). For measuring
 * it against a labelled set (metrics.ts) only: the stage itself never observes, so never holds an
 * original.
 */
export function redactorWith(options: RedactOptions, observe?: (type: PiiType, original: string) => void): Redactor {
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

