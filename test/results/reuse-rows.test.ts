/**
 * Reused answers as results rows (src/results/reuse.ts, writers.ts `writeReused`): a JSONL row is
 * written as it was, marked `reused`; a CSV/TSV row gets this file's columns (PII counts, a schema
 * run's fields, the spreadsheet escaping); a CSV source's cells are read back as they were before
 * the writer escaped them; reused.jsonl is read line by line and a broken line names itself.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { openStore } from '../../src/stores/index.js';
import { reusedRows, unescapeCell } from '../../src/results/reuse.js';
import { escapeFormula, resultsWriter } from '../../src/results/writers.js';
import { useTempDir } from '../support/temp.js';

const tmp = useTempDir('reuse-rows-');

const earlier = {
  recordId: 'AAAAAAAAAAA',
  key: 'call-7',
  status: 'success',
  text: '=HYPERLINK("x") is what the model wrote',
  stopReason: 'end_turn',
  inputTokens: 120,
  outputTokens: 30,
  model: 'anthropic.claude-3-haiku-20240307-v1:0',
  attempt: 1,
  job: 'job-0001',
  jobId: 'abcdefabcdef',
  file: 'day-1.csv',
  line: 9,
  request: '0123456789abcdef0123456789abcdef',
  reused: false,
  redacted: { card: 1, phone: 2 },
  agent: 'Ana',
  fields: { reason: 'refund', topics: ['a', 'b'], resolved: true },
  reusedFrom: 'results-1.jsonl',
};

describe('reused rows in the results', () => {
  it('JSONL: the row as it was, reused true, reusedFrom kept', async () => {
    const path = join(tmp.dir, 'r.jsonl');
    const w = resultsWriter({ target: { store: openStore(tmp.dir), key: 'r.jsonl' } });
    await w.writeReused(earlier);
    expect(await w.close()).toMatchObject({ records: 1 });
    const line = (await readFile(path, 'utf8')).trim();
    expect(JSON.parse(line)).toEqual({ ...earlier, reused: true });
    expect(Object.keys(JSON.parse(line))).toEqual(Object.keys(earlier)); // in its order
  });

  it("CSV: this file's columns, PII counts and fields as the run's own rows write them, cells escaped for spreadsheets", async () => {
    const w = resultsWriter({
      target: { store: openStore(tmp.dir), key: 'r.csv' },
      passthroughColumns: ['agent'],
      redacted: true,
      truncated: true,
      fields: ['reason', 'topics', 'resolved'],
    });
    await w.writeReused(earlier);
    await w.close();
    const [row] = parse(await readFile(join(tmp.dir, 'r.csv')), { columns: true }) as Record<string, string>[];
    expect(row).toMatchObject({
      key: 'call-7',
      status: 'success',
      text: `'${earlier.text}`,
      request: earlier.request,
      reused: 'true',
      redacted: 'card:1;phone:2',
      truncated: '0',
      agent: 'Ana',
      reason: 'refund',
      topics: 'a; b',
      resolved: 'true',
      line: '9',
    });
    expect(Object.keys(row!)).not.toContain('reusedFrom');
  });

  it('a CSV cell reads back as it was before the writer escaped it', () => {
    for (const s of ['=1+1', '+x', '@me', '-bullet', '-12.5', '\tx', 'plain', "'quoted", "it's", '', "'", '＝full']) {
      expect(unescapeCell(escapeFormula(s)), s).toBe(s);
    }
    // the one text it cannot tell: one that began with a quote before what the writer escapes
    expect(unescapeCell(escapeFormula("'=x"))).toBe('=x');
  });

  it('reused.jsonl is read a row at a time; a broken line is an error naming it', async () => {
    await writeFile(join(tmp.dir, 'reused.jsonl'), `${JSON.stringify(earlier)}\n${JSON.stringify({ ...earlier, key: 'call-8' })}\n`);
    const got: unknown[] = [];
    for await (const r of reusedRows(openStore(tmp.dir))) got.push(r);
    expect(got).toEqual([earlier, { ...earlier, key: 'call-8' }]);
    await writeFile(join(tmp.dir, 'reused.jsonl'), `${JSON.stringify(earlier)}\n{not json\n`);
    const read = async () => {
      for await (const _ of reusedRows(openStore(tmp.dir))) void _;
    };
    await expect(read()).rejects.toMatchObject({ code: 'E_STORE', message: expect.stringMatching(/reused\.jsonl, line 2/) });
  });
});
