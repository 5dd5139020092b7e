/**
 * node dist/bench/redact-metrics.js [--file test/fixtures/pii/labelled.jsonl] [--misses]
 *
 * Recall and precision of PII redaction (transforms/redact) on the labelled set, as a Markdown
 * table: overall, per type and per language, with each line's phone region as the set gives it
 * (en: US, es: ES, unless the line names one), then the same with every line read as `US`
 * (a deployment that leaves `--phone-region` at its default). `--misses` also lists what was
 * missed and what was replaced wrongly: the set is synthetic, so that text may be printed.
 */
import { readFileSync } from 'node:fs';
import { formatRedactionTable, measureRedaction, parseLabelled } from '../transforms/redact/index.js';
import { arg } from './driver.js';

const file = arg('file', 'test/fixtures/pii/labelled.jsonl');
const lines = parseLabelled(readFileSync(file, 'utf8'), file);

const byLine = measureRedaction(lines);
console.log(`PII redaction on ${file}: phone region per line (en: US, es: ES unless the line says)\n`);
console.log(formatRedactionTable(byLine));
const allUs = measureRedaction(
  lines.map(({ region: _region, ...l }) => l),
  { regionByLang: { en: 'US', es: 'US' } },
);
console.log(`\nthe same, every line read with --phone-region US\n`);
console.log(formatRedactionTable(allUs));

if (process.argv.includes('--misses')) {
  for (const m of byLine.misses) console.log(`miss  line ${m.line} (${m.lang}) ${m.type}: ${m.value}`);
  for (const f of byLine.falsePositives) console.log(`wrong line ${f.line} (${f.lang}) ${f.type}: ${f.original}`);
}
if (byLine.notIdempotent.length > 0) console.log(`\nnot idempotent on lines ${byLine.notIdempotent.join(', ')}`);
