/**
 * IBAN validation: the length of each country's IBAN (SWIFT's IBAN registry) and the ISO 13616
 * mod-97 checksum. Together they make a false match rare: a run of characters must start with a
 * registered country code, have exactly that country's length, and pass a checksum that only one
 * string in 97 passes by chance.
 */

/** IBAN length per country code (SWIFT IBAN registry; territories such as GF or PF use FR's). */
export const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BI: 27, BR: 29, BY: 28,
  CH: 21, CR: 22, CY: 28, CZ: 24, DE: 22, DJ: 27, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18,
  FK: 18, FO: 18, FR: 27, GB: 22, GE: 22, GI: 23, GL: 18, GR: 27, GT: 28, HN: 28, HR: 21, HU: 28,
  IE: 22, IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20,
  LU: 20, LV: 21, LY: 25, MC: 27, MD: 24, ME: 22, MK: 19, MN: 20, MR: 27, MT: 31, MU: 30, NI: 28,
  NL: 18, NO: 15, OM: 23, PK: 24, PL: 28, PS: 29, PT: 25, QA: 29, RO: 24, RS: 22, RU: 33, SA: 24,
  SC: 31, SD: 18, SE: 24, SI: 19, SK: 24, SM: 27, SO: 23, ST: 25, SV: 28, TL: 23, TN: 24, TR: 26,
  UA: 29, VA: 22, VG: 24, XK: 20, YE: 30,
};

/**
 * Whether `iban` (letters and digits only, any case) passes the mod-97 check: the first four
 * characters moved to the end, letters as 10..35, the number mod 97 is 1. Computed piecewise
 * (no BigInt), a character at a time.
 */
export function ibanChecksumOk(iban: string): boolean {
  const n = iban.length;
  if (n < 5) return false;
  let rest = 0;
  for (let k = 0; k < n; k++) {
    const c = iban.charCodeAt((k + 4) % n);
    if (c >= 48 && c <= 57) rest = (rest * 10 + (c - 48)) % 97;
    else {
      const upper = c & ~32;
      if (upper < 65 || upper > 90) return false;
      rest = (rest * 100 + (upper - 55)) % 97;
    }
  }
  return rest === 1;
}

/** Whether `iban` (letters and digits only) is a valid IBAN: a known country, its length, the checksum. */
export function isIban(iban: string): boolean {
  const length = IBAN_LENGTHS[iban.slice(0, 2).toUpperCase()];
  return length !== undefined && iban.length === length && ibanChecksumOk(iban);
}
