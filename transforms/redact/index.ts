/**
 * PII redaction: a stage between the adapter and the prompt that replaces payment card numbers,
 * US SSNs, email addresses, phone numbers, IBANs and IP addresses with typed placeholders
 * (`[CARD]`, `[SSN]`, `[EMAIL]`, `[PHONE]`, `[IBAN]`, `[IP]`) before anything leaves the machine,
 * and counts what it replaced per type. How each type is found is in detectors.ts; what is found
 * and what is not, and the measured precision and recall, in docs/redaction.md.
 *
 * - `createRedactor(options)`: a function from text to redacted text (the building block).
 * - `redactCalls(options)`: a Step over prepare's items: on every `call` it redacts each turn's text
 *   and speaker and every passthrough value, in place, and sets `call.redacted` to the counts when
 *   it replaced anything. The call's `key` is never touched: it is the join key back to the source.
 *   Other items pass through untouched.
 *
 * Nothing keeps the original text: values are replaced where they are, no cache, no log; the
 * counts hold numbers only. Options are plain data, so the stage can be rebuilt on worker threads.
 *
 * Speed: it runs on every turn of multi-GB exports, so a text is first scanned once for what the
 * detectors need (digits, `@`, `:`, `.`): a turn with no digit and no `@` costs one native regex
 * test; each detector then runs only when its type is on and the text can hold one (13 digits for
 * a card, 7 for a phone, and so on), in one pass of its own. A turn may be a whole call (prepare
 * hands a one-call-per-row CSV's transcript over as one turn), which always holds an `@` and a
 * colon somewhere, so the email and IP detectors never try their Unicode regexes across the whole
 * text: they find the `@` and the runs of hex digits, colons and dots first, and try them only
 * there, with the same result. bench/redact.ts measures it, per turn and per whole call.
 */
import { stepStream, type Step } from '../../src/core/step.js';
import type { PrepareItem } from '../../src/records/types.js';
import { createRedactor, type RedactOptions, type Redactor } from './redactor.js';
import { addCounts } from '../../src/core/values.js';

export { PII_TYPES, PLACEHOLDERS, type PiiType } from './detectors.js';
export { isCardNumber, luhnOk, plausibleIin, ssnIssuable } from './detectors.js';
export { IBAN_LENGTHS, ibanChecksumOk, isIban } from './iban.js';
export { checkRedactOptions, createRedactor, type RedactOptions, type Redactor, type ResolvedRedactOptions } from './redactor.js';
export { formatRedactionTable, measureRedaction, parseLabelled, type LabelledLine, type MeasureOptions, type RedactionMetrics, type Tally } from './metrics.js';
export type { CountryCode } from 'libphonenumber-js/max';

/**
 * Redact a passthrough value: strings, numbers long enough to be PII, and what arrays and objects
 * hold. A value is read after its column name (`order_id: 3348917502`, `ssn: 512483391`), because
 * the name says what the value is, as a label in a sentence would: an order id stays, a bare SSN
 * in an `ssn` column goes. The name itself is never changed. A whole number written as a float,
 * as spreadsheets and dataframes export a number column (`4111111111111111.0`), is read as the
 * number it is: in text a digit after the dot would glue it to a decimal, and a card would stay.
 */
function redactValue(value: unknown, name: string, redact: Redactor, counts: Record<string, number>, depth: number): unknown {
  if (typeof value === 'string') return redactNamed(value, name, redact, counts);
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || Math.abs(value) < 1e6) return value;
    const text = String(value);
    const out = redactNamed(text, name, redact, counts);
    return out === text ? value : out;
  }
  if (value === null || typeof value !== 'object' || depth > 16) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = redactValue(value[i], name, redact, counts, depth + 1);
    return value;
  }
  const obj = value as Record<string, unknown>;
  for (const k of Object.keys(obj)) obj[k] = redactValue(obj[k], k, redact, counts, depth + 1);
  return obj;
}

/** `order_id`, `orderId` → `order id: ` (a label the detectors read), or '' for a name with no letters. */
function labelOf(name: string): string {
  const words = name.replace(/([a-z])([A-Z])/g, '$1 $2').replace(/[^\p{L}\p{N}]+/gu, ' ').trim();
  return /\p{L}/u.test(words) ? `${words}: ` : '';
}

/** A whole number written as a float (`4111111111111111.0`, `2125550143.00`): the number, and its `.0`. */
const WHOLE_FLOAT = /^([+-]?\d{7,})(\.0+)$/;

function redactNamed(text: string, name: string, redact: Redactor, counts: Record<string, number>): string {
  const whole = WHOLE_FLOAT.exec(text);
  if (whole !== null) {
    const number = redactNamed(whole[1]!, name, redact, counts);
    return number === whole[1] ? text : number + whole[2]!;
  }
  const label = labelOf(name);
  if (label !== '') {
    const found: Record<string, number> = {};
    const out = redact(label + text, found);
    if (out.startsWith(label)) {
      addCounts(counts, found);
      return out.slice(label.length);
    }
  }
  return redact(text, counts);
}

/**
 * Redaction as a Step over prepare's items: each `call`'s turns (text and speaker) and passthrough
 * values are redacted in place, and `redacted` is set to the counts per type when anything was
 * replaced (added to counts a call already carries). The key is never redacted. Other items pass
 * through untouched.
 */
export function redactCalls(options: RedactOptions = {}): Step<PrepareItem, PrepareItem> {
  const redact = createRedactor(options);
  return {
    write(item, emit) {
      if (item.kind !== 'call') return emit(item);
      const counts: Record<string, number> = {};
      for (const turn of item.turns) {
        turn.text = redact(turn.text, counts);
        if (turn.speaker !== undefined) turn.speaker = redact(turn.speaker, counts);
      }
      if (item.passthrough !== undefined) redactValue(item.passthrough, '', redact, counts, 0);
      if (Object.keys(counts).length > 0) item.redacted = addCounts(item.redacted ?? {}, counts);
      emit(item);
    },
  };
}

/** `redactCalls` as an object-mode Transform. */
export function redactCallsStream(options: RedactOptions = {}) {
  return stepStream(redactCalls(options));
}
