import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { text } from 'node:stream/consumers';
import { gunzipSync } from 'node:zlib';
import { parse } from 'csv-parse/sync';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lineageColumns } from '../../src/results/collect.js';
import { collectRun } from '../../src/results/run.js';
import type { CollectResult, SuccessResult } from '../../src/results/types.js';
import { escapeFormula, formatOf, resultJsonLine, resultRow, resultsWriter, RESULT_COLUMNS } from '../../src/results/writers.js';
import { LocalStore } from '../../src/stores/local.js';
import { scenario } from './helpers.js';

let s: Awaited<ReturnType<typeof scenario>>;
beforeEach(async () => {
  s = await scenario();
});
afterEach(async () => {
  await s.cleanup();
});

const success: SuccessResult = {
  kind: 'success',
  recordId: 'R0000000001',
  key: 'call-1',
  file: 'calls.csv',
  line: 2,
  passthrough: { agent: 'Ana', text: 'a source column named text', status: 'open' },
  job: 'job-0001',
  shard: 'part-00001.jsonl',
  jobId: 'abc123def456',
  attempt: 1,
  model: 'anthropic.claude-3-haiku-20240307-v1:0',
  text: 'Line one\nline "two", with a comma\u2028and U+2028',
  stopReason: 'end_turn',
  inputTokens: 10,
  outputTokens: 5,
  raw: { content: [{ type: 'text', text: 'x' }] },
  output: { file: 'abc123def456/part-00001.jsonl.out', line: 1 },
};

describe('results rows', () => {
  it('are flat, with passthrough columns after ours and clashing names prefixed', () => {
    const row = resultRow(success, { raw: true });
    expect(Object.keys(row)).toEqual(['recordId', 'key', 'status', 'text', 'stopReason', 'inputTokens', 'outputTokens', 'model', 'attempt', 'job', 'jobId', 'file', 'line', 'reused', 'modelOutput', 'agent', '_text', '_status']);
    expect(Object.keys(resultRow({ ...success, request: '0123456789abcdef0123456789abcdef' })).slice(12, 15)).toEqual(['line', 'request', 'reused']);
    expect(row).toMatchObject({ status: 'success', text: success.text, _text: 'a source column named text', modelOutput: success.raw });
  });

  it('as JSONL lines are exactly JSON.stringify of the row, for every kind of result', () => {
    const error: CollectResult = { ...success, kind: 'error', error: { code: '429', message: 'slow \u2028 down' }, raw: { errorCode: '429' }, output: success.output } as CollectResult;
    const missing: CollectResult = { ...success, kind: 'missing', reason: 'no output line (job Expired)', jobStatus: 'Expired' } as CollectResult;
    const bare: CollectResult = { ...success, passthrough: { agent: 'Ana', nested: { a: [1, 'é'] }, gone: undefined, n: null }, text: undefined, inputTokens: undefined, jobId: undefined } as CollectResult;
    const clash: CollectResult = { ...success, passthrough: { text: 'x', _text: 'y' } };
    const hashed: CollectResult = { ...success, request: '0123456789abcdef0123456789abcdef' };
    for (const r of [success, error, missing, bare, clash, hashed]) {
      for (const options of [{}, { raw: true }, { next: 'retry' as const }, { next: 'done' as const, raw: true }]) {
        const line = resultJsonLine(r, options);
        expect(line).toBe(JSON.stringify(resultRow(r, options)) + '\n');
        JSON.parse(line);
      }
    }
  });

  it('tell the format by extension', () => {
    expect(['a.jsonl', 'a.ndjson', 'a.JSONL.gz', 'b.csv', 'b.csv.gz', 'c.tsv', 'd.txt'].map(formatOf)).toEqual(['jsonl', 'jsonl', 'jsonl', 'csv', 'csv', 'tsv', undefined]);
  });
});

describe('results writers', () => {
  it('write CSV that a CSV parser reads back exactly: newlines, quotes, commas, U+2028 and passthrough columns', async () => {
    const r = await collectRun({ outputs: s.out, prepared: s.run, results: join(s.dir, 'results.csv') });
    expect(r.results).toEqual({ uri: join(s.dir, 'results.csv'), records: 10, format: 'csv' });
    const rows = parse(await readFile(join(s.dir, 'results.csv')), { columns: true }) as Record<string, string>[];
    expect(rows).toHaveLength(10);
    expect(Object.keys(rows[0]!)).toEqual([...RESULT_COLUMNS, 'agent', 'queue']);
    const c3 = rows.find((x) => x.recordId === 'CALL0000003')!;
    expect(c3).toMatchObject({ key: 'call-003', status: 'success', text: 'Login fails with "session expired"\u2028even after a password reset;\u2029the agent escalates.', inputTokens: '38', agent: 'Chen Wei', queue: 'tech-support', line: '9' });
    expect(rows.find((x) => x.recordId === 'CALL0000006')).toMatchObject({ status: 'error', errorCode: '429', next: 'retry', text: '' });
    expect(rows.find((x) => x.recordId === 'CALL0000009')).toMatchObject({ status: 'missing', errorMessage: 'no output line', next: 'retry' });
    expect(await lineageColumns(s.run)).toEqual(['agent', 'queue']);
  });

  it('write TSV and gzip by extension, and JSONL by default', async () => {
    await collectRun({ outputs: s.out, prepared: s.run, results: join(s.dir, 'results.tsv.gz'), retry: false });
    const rows = parse(gunzipSync(await readFile(join(s.dir, 'results.tsv.gz'))), { columns: true, delimiter: '\t' }) as Record<string, string>[];
    expect(rows.map((x) => x.recordId)).toHaveLength(10);
    await collectRun({ outputs: s.out, prepared: s.run, results: join(s.dir, 'results.out'), retry: false });
    const first = JSON.parse((await readFile(join(s.dir, 'results.out'), 'utf8')).split('\n')[0]!);
    expect(first).toMatchObject({ recordId: 'CALL0000003', status: 'success', agent: 'Chen Wei' });
  });

  it('compose with stream/promises pipeline: collector.stream() into writer.asWritable()', async () => {
    const { pipeline } = await import('node:stream/promises');
    const { collectResults } = await import('../../src/results/collect.js');
    const w = resultsWriter({ target: { store: new LocalStore(s.dir), key: 'piped.jsonl' } });
    await pipeline(collectResults({ outputs: s.out, prepared: s.run }).stream(), w.asWritable());
    const rows = (await readFile(join(s.dir, 'piped.jsonl'), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(rows.map((r) => r.status).sort()).toEqual(['error', 'error', 'missing', 'missing', 'success', 'success', 'success', 'success', 'success', 'success']);
  });

  it('escapes every cell a spreadsheet would run, by default, in CSV and TSV; a negative amount stays a number; off on request', async () => {
    const cells: [string, string][] = [
      ['=HYPERLINK("http://evil.example","click")', `'=HYPERLINK("http://evil.example","click")`],
      ['@SUM(9*9)', "'@SUM(9*9)"],
      ["+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"],
      ["-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"],
      ['\t=1+1', "'\t=1+1"],
      ['\r=1+1', "'\r=1+1"],
      ['\uFF1D1+1', "'\uFF1D1+1"],
      ['- a bullet', "'- a bullet"],
      ['-12.5', '-12.5'],
      ['-3e4', '-3e4'],
      ['plain text = fine', 'plain text = fine'],
      ['', ''],
    ];
    for (const format of ['csv', 'tsv'] as const) {
      for (const escapeFormulas of [undefined, false]) {
        const store = new LocalStore(s.dir);
        const key = `f-${format}-${String(escapeFormulas)}.${format}`;
        const w = resultsWriter({ target: { store, key }, ...(escapeFormulas === undefined ? {} : { escapeFormulas }) });
        for (const [cell] of cells) await w.write({ ...success, text: cell, passthrough: { queue: cell } });
        await w.close();
        const rows = parse(await readFile(join(s.dir, key)), { columns: true, delimiter: format === 'tsv' ? '\t' : ',', relax_quotes: true }) as Record<string, string>[];
        expect(rows.map((r) => r.text)).toEqual(cells.map(([raw, escaped]) => (escapeFormulas === false ? raw : escaped)));
        expect(rows.map((r) => r.queue)).toEqual(cells.map(([raw, escaped]) => (escapeFormulas === false ? raw : escaped)));
        // numbers are numbers, never escaped
        expect(rows[0]!.inputTokens).toMatch(/^\d+$/);
      }
    }
    expect(escapeFormula('=1')).toBe("'=1");
  });

  it('write to a stream (stdout) without ending it', async () => {
    const out = new PassThrough();
    const w = resultsWriter({ target: { stream: out, name: '-' }, format: 'jsonl' });
    await w.write(success);
    const done = await w.close();
    expect(done).toEqual({ uri: '-', records: 1, format: 'jsonl' });
    expect(out.writableEnded).toBe(false);
    out.end();
    expect(JSON.parse(await text(out))).toMatchObject({ recordId: 'R0000000001' });
  });

  it('leave nothing behind when aborted', async () => {
    const w = resultsWriter({ target: { store: new LocalStore(s.dir), key: 'gone.jsonl' } });
    for (let i = 0; i < 700; i++) await w.write({ ...success, text: 'x'.repeat(2000) }); // past the 1 MiB chunk: bytes reached the store
    for (let i = 0; i < 100 && !(await readdir(s.dir)).some((n) => n.startsWith('gone.jsonl.partial')); i++) await new Promise((r) => setTimeout(r, 10));
    expect((await readdir(s.dir)).some((n) => n.startsWith('gone.jsonl.partial'))).toBe(true);
    w.abort(new Error('stop'));
    await new Promise((r) => setTimeout(r, 20));
    expect((await readdir(s.dir)).filter((n) => n.startsWith('gone'))).toEqual([]);
  });
});
