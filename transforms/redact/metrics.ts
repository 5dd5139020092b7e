/**
 * Measuring the redactor against a labelled set (test/fixtures/pii/labelled.jsonl, or a user's
 * own): one JSON object a line, `{"lang": "en", "text": "...", "pii": [{"type": "card", "value":
 * "4111 1111 1111 1111"}], "region": "US"}` (`region` optional: the phone region that line is
 * read in, by default `en` → US and `es` → ES).
 *
 * - recall: labelled values that were replaced, as their own type / labelled values;
 * - precision: replacements that are a labelled value of their type / all replacements.
 * A replacement matches a label when both are the same once case and everything but letters,
 * digits and `@` are set aside (a phone replaced without its bracket still counts). Each label
 * matches one replacement at most. Also checked: redacting the output again changes nothing.
 *
 * The misses and false positives are returned with their text, to read when tuning on a
 * synthetic set; never run this on real transcripts where that text would be logged.
 */
import type { CountryCode } from 'libphonenumber-js/max';
import { BatchError } from '../../src/errors.js';
import { PII_TYPES, type PiiType } from './detectors.js';
import { redactorWith, type RedactOptions, type Redactor } from './redactor.js';

export interface LabelledLine {
  lang: string;
  text: string;
  pii: Array<{ type: PiiType; value: string }>;
  /** The phone region this line is read in (default by language: en → US, es → ES). */
  region?: string;
}

export interface Tally {
  /** Labelled values. */
  labelled: number;
  /** Labelled values replaced as their own type. */
  recalled: number;
  /** Replacements made. */
  replaced: number;
  /** Replacements that are a labelled value of their type. */
  correct: number;
  /** recalled / labelled (1 when nothing is labelled). */
  recall: number;
  /** correct / replaced (1 when nothing was replaced). */
  precision: number;
}

export interface RedactionMetrics {
  lines: number;
  overall: Tally;
  byType: Record<PiiType, Tally>;
  byLang: Record<string, Tally>;
  /** Labelled values left in place (or replaced as another type), by 1-based line. */
  misses: Array<{ line: number; lang: string; type: PiiType; value: string }>;
  /** Replacements of text that is not a labelled value of that type. */
  falsePositives: Array<{ line: number; lang: string; type: PiiType; original: string }>;
  /** Lines whose redacted text changes when redacted again (should be none). */
  notIdempotent: number[];
}

export interface MeasureOptions extends RedactOptions {
  /** Phone region per language for lines without their own `region` (default en: US, es: ES). */
  regionByLang?: Record<string, string>;
}

/** Parse a labelled set (JSON Lines); throws `E_BAD_JSON` naming the line of a malformed one. */
export function parseLabelled(jsonl: string, file = 'labelled.jsonl'): LabelledLine[] {
  const out: LabelledLine[] = [];
  const lines = jsonl.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (raw === '') continue;
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch (error) {
      throw new BatchError('E_BAD_JSON', 'not a JSON object', { file, line: i + 1, cause: error });
    }
    const l = v as LabelledLine;
    const ok =
      typeof l === 'object' && l !== null && typeof l.lang === 'string' && typeof l.text === 'string' && Array.isArray(l.pii) &&
      l.pii.every((p) => typeof p === 'object' && p !== null && (PII_TYPES as readonly unknown[]).includes(p.type) && typeof p.value === 'string' && p.value !== '');
    if (!ok) {
      throw new BatchError('E_BAD_JSON', 'a labelled line needs lang, text and pii: [{type, value}] with a known type', {
        file,
        line: i + 1,
        hint: `types are ${PII_TYPES.join(', ')}`,
      });
    }
    out.push(l);
  }
  return out;
}

const norm = (s: string) => s.toLowerCase().replace(/[^\p{L}\p{N}@]/gu, '');

function tally(): Tally {
  return { labelled: 0, recalled: 0, replaced: 0, correct: 0, recall: 1, precision: 1 };
}

function finish(t: Tally): Tally {
  t.recall = t.labelled === 0 ? 1 : t.recalled / t.labelled;
  t.precision = t.replaced === 0 ? 1 : t.correct / t.replaced;
  return t;
}

/** Run the redactor over a labelled set and count recall and precision overall, per type and per language. */
export function measureRedaction(lines: LabelledLine[], options: MeasureOptions = {}): RedactionMetrics {
  const regionByLang: Record<string, string> = { en: 'US', es: 'ES', ...(options.regionByLang ?? {}) };
  let found: Array<{ type: PiiType; original: string }> = [];
  const redactors = new Map<string, Redactor>();
  const redactorFor = (region: string): Redactor => {
    let r = redactors.get(region);
    if (r === undefined) {
      r = redactorWith({ ...options, phoneRegion: region as CountryCode }, (type, original) => found.push({ type, original }));
      redactors.set(region, r);
    }
    return r;
  };
  const overall = tally();
  const byType = Object.fromEntries(PII_TYPES.map((t) => [t, tally()])) as Record<PiiType, Tally>;
  const byLang: Record<string, Tally> = {};
  const metrics: RedactionMetrics = { lines: lines.length, overall, byType, byLang, misses: [], falsePositives: [], notIdempotent: [] };
  lines.forEach((l, index) => {
    const lang = (byLang[l.lang] ??= tally());
    const region = l.region ?? regionByLang[l.lang] ?? options.phoneRegion ?? 'US';
    const redact = redactorFor(region);
    found = [];
    const out = redact(l.text, {});
    const replacements = found;
    found = [];
    if (redact(out, {}) !== out || found.length > 0) metrics.notIdempotent.push(index + 1);
    const matched = new Array<boolean>(l.pii.length).fill(false);
    for (const r of replacements) {
      const key = norm(r.original);
      const i = l.pii.findIndex((p, k) => !matched[k] && p.type === r.type && norm(p.value) === key);
      for (const t of [overall, byType[r.type], lang]) t.replaced++;
      if (i >= 0) {
        matched[i] = true;
        for (const t of [overall, byType[r.type], lang]) t.correct++;
      } else {
        metrics.falsePositives.push({ line: index + 1, lang: l.lang, type: r.type, original: r.original });
      }
    }
    l.pii.forEach((p, k) => {
      for (const t of [overall, byType[p.type], lang]) {
        t.labelled++;
        if (matched[k]) t.recalled++;
      }
      if (!matched[k]) metrics.misses.push({ line: index + 1, lang: l.lang, type: p.type, value: p.value });
    });
  });
  for (const t of [overall, ...Object.values(byType), ...Object.values(byLang)]) finish(t);
  return metrics;
}

/** The metrics as a Markdown table: overall, then each type, then each language. */
export function formatRedactionTable(m: RedactionMetrics): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const row = (name: string, t: Tally) => `| ${name} | ${t.labelled} | ${t.replaced} | ${t.correct} | ${pct(t.recall)} | ${pct(t.precision)} |`;
  return [
    `| scope | labelled | replaced | correct | recall | precision |`,
    `|---|---:|---:|---:|---:|---:|`,
    row(`**all** (${m.lines} lines)`, m.overall),
    ...PII_TYPES.map((t) => row(t, m.byType[t])),
    ...Object.entries(m.byLang).map(([lang, t]) => row(`lang ${lang}`, t)),
  ].join('\n');
}
