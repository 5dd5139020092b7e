/**
 * The HTML report's page text, without a browser: escaping of hostile values, the embedded JSON, the
 * Content-Security-Policy's script hash, no external references, the row limit, the other `--json`
 * shapes (run's, with prepare counts at the top or nested), counts that do not add up, and writing
 * to S3 (moto's server) through the stores.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_REPORT_ROWS, HtmlReport, REPORT_TEXT_LIMIT, renderReport, scriptJson, type ReportRow } from '../../src/results/report-html.js';
import { openStore, readSmall } from '../../src/stores/index.js';
import { startMoto, type MotoServer } from '../support/moto.js';
import { useTempDir } from '../support/temp.js';
import { HOSTILE_CODE, HOSTILE_KEY, HOSTILE_TEXT, sampleRun } from './helpers.js';

const tmp = useTempDir('report-render-');

/** The value of every data-figure in the page, as shown (the page's own markup: name="…">text<). */
function figuresIn(html: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of html.matchAll(/data-figure="([^"]*)">([^<]*)</g)) out[m[1]!] = m[2]!;
  return out;
}
/** The embedded calls, parsed back. */
function embedded(html: string): { columns: unknown[]; rows: ReportRow[] } {
  const m = /<script type="application\/json" id="calls-data">([^<]*)<\/script>/.exec(html);
  expect(m).not.toBeNull();
  return JSON.parse(m![1]!);
}

describe('renderReport', () => {
  it('escapes hostile ids, codes and summaries, and carries them intact in the embedded JSON', () => {
    const s = sampleRun();
    const html = renderReport(s.json, s.rows, s.schema);
    for (const raw of [HOSTILE_KEY, HOSTILE_TEXT, HOSTILE_CODE, '<img', 'onerror="']) expect(html).not.toContain(raw);
    expect(html).toContain('&lt;img src=&quot;http://127.0.0.1:9/x.png&quot; onerror=&quot;window.__pwned = 4&quot;&gt;');
    expect(html.match(/<script/g)).toHaveLength(2);
    expect(html.match(/<\/script>/g)).toHaveLength(2);
    const data = embedded(html);
    expect(data.rows).toEqual(s.rows);
    expect(data.rows[7]!.key).toBe(HOSTILE_KEY);
    expect(data.rows[7]!.text).toBe(HOSTILE_TEXT);
  });

  it('scriptJson round-trips any text and never writes <, >, & or line separators', () => {
    const value = { a: '</script><!-- & \u2028\u2029 -->', b: ['<', '>'], c: 1 };
    const text = scriptJson(value);
    expect(text).not.toMatch(/[<>&\u2028\u2029]/);
    expect(JSON.parse(text)).toEqual(value);
  });

  it("allows exactly its own script by hash, and references nothing outside the file", () => {
    const s = sampleRun();
    const html = renderReport(s.json, s.rows, s.schema);
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html)![1]!;
    expect(csp).toContain("default-src 'none'");
    const script = /<script>([\s\S]*?)<\/script>/.exec(html)![1]!;
    const hash = createHash('sha256').update(script, 'utf8').digest('base64');
    expect(csp).toContain(`script-src 'sha256-${hash}'`);
    expect(csp).not.toContain("script-src 'unsafe-inline'");
    // the markup (the embedded calls hold a hostile summary's `src=`, as text)
    const markup = html.replace(/(<script type="application\/json" id="calls-data">)[^<]*/, '$1');
    expect(markup.length).toBeLessThan(html.length);
    const tags = markup.match(/<[a-z][^>]*>/gi)!;
    expect(tags.length).toBeGreaterThan(100);
    // attribute names only (every value is double-quoted, and escaped values hold no quote)
    const names = tags.map((t) => t.replace(/"[^"]*"/g, '""'));
    expect(names.filter((t) => /\s(src|href|action|srcset|formaction|poster|on[a-z]+)=/i.test(t))).toEqual([]);
    expect(markup).not.toMatch(/url\(|@import|@font-face/i);
  });

  it('shows figures from run --json: prepare counts at the top or under `prepare`, no submitted', () => {
    const run = {
      read: 283, written: 280, rejected: 3, succeeded: 279, failed: 1, missing: 0, inputTokens: 1000, outputTokens: 200,
      cost: { total: 0.0042, currency: 'USD', estimate: true, label: 'estimate' },
      jobs: [{ job: 'job-0001', status: 'Completed', jobArn: 'arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/abc123def456' }],
      quotas: 'local', service: 'local service on 127.0.0.1:4000',
    };
    for (const json of [run, { ...run, read: undefined, written: undefined, rejected: undefined, prepare: { read: 283, written: 280, rejected: 3 } }]) {
      const html = renderReport(json, []);
      expect(figuresIn(html)).toEqual({ read: '283', written: '280', rejected: '3', succeeded: '279', failed: '1', missing: '0', inputTokens: '1,000', outputTokens: '200', 'cost.total': '0.0042' });
      expect(html).toContain('data-check="prepare"');
      expect(html).toMatch(/written 280 = succeeded 279 \+ failed 1 \+ missing 0: <strong>adds up/);
      expect(html).toContain('abc123def456');
      expect(html).not.toContain('<script'); // no calls, no table, no script
    }
  });

  it('says so when the counts do not add up', () => {
    const html = renderReport({ read: 10, written: 8, rejected: 1, submitted: 8, succeeded: 5, failed: 1, missing: 1, invalid: 0 }, []);
    expect(html).toMatch(/data-check="prepare"[^]*?read 10 = written 8 \+ rejected 1: <strong>does not add up/);
    expect(html).toMatch(/data-check="collect"[^]*?submitted 8 = succeeded 5 \+ failed 1 \+ missing 1: <strong>does not add up/);
  });

  it('says the cost is unknown when there is no price, and an estimate when there is', () => {
    expect(renderReport({ inputTokens: 5, outputTokens: 1, cost: { currency: 'USD', total: null } }, [])).toContain('unknown (no price for this model)');
    expect(renderReport({ inputTokens: 5, outputTokens: 1, cost: { currency: 'USD', total: 1.5 } }, [])).toMatch(/An estimate/);
  });

  it('cuts a long summary at the limit, leaving the rest of the row as it is', () => {
    const long = 'x'.repeat(REPORT_TEXT_LIMIT + 500);
    const rows = [{ key: 'a', status: 'success', text: long, fields: { n: 1 } }];
    const data = embedded(renderReport({}, rows));
    expect(data.rows[0]).toEqual({ key: 'a', status: 'success', text: `${'x'.repeat(REPORT_TEXT_LIMIT)}…`, fields: { n: 1 } });
  });

  it('without a schema, lists the fields the rows have and charts nothing', () => {
    const html = renderReport({ succeeded: 1 }, [{ key: 'a', status: 'success', fields: { colour: 'red' } }]);
    expect(html).not.toContain('id="fields"');
    expect(html).toContain('<code>colour</code>');
    expect(html).not.toContain('class="f-field"');
  });
});

describe('HtmlReport', () => {
  it('keeps the first maxRows calls in order and counts the rest', async () => {
    const report = new HtmlReport({ maxRows: 3 });
    for (let i = 0; i < 10; i++) report.add({ key: `k${i}`, status: 'success' });
    const file = join(tmp.dir, 'r.html');
    const w = await report.write(file, { succeeded: 10 });
    expect(w.rows).toBe(3);
    expect(w.omitted).toBe(7);
    const html = await readFile(file, 'utf8');
    expect(w.bytes).toBe(Buffer.byteLength(html));
    expect(embedded(html).rows.map((r) => r.key)).toEqual(['k0', 'k1', 'k2']);
    expect(figuresIn(html)['calls.omitted']).toBe('7');
    expect(DEFAULT_REPORT_ROWS).toBe(2000);
    const all = new HtmlReport();
    for (let i = 0; i < 2001; i++) all.add({ key: `k${i}`, status: 'success' });
    expect(await all.write(join(tmp.dir, 'all.html'), {})).toMatchObject({ rows: 2000, omitted: 1 });
  });
});

describe('HtmlReport to S3', () => {
  let s3: MotoServer;
  beforeAll(async () => {
    s3 = await startMoto();
    await s3.createBucket('reports');
  });
  afterAll(() => s3?.stop());

  it('writes the page to an s3:// key as text/html, byte for byte what renderReport gives', async () => {
    const s = sampleRun();
    const report = new HtmlReport({ s3: s3.clientOptions, maxRows: 50 });
    for (const r of s.rows) report.add(r);
    const w = await report.write('s3://reports/runs/march/report.html', s.json, s.schema);
    const text = await readSmall(openStore('s3://reports/runs/march/', s3.clientOptions), 'report.html');
    expect(text).toBe(renderReport(s.json, s.rows.slice(0, 50), s.schema, 70));
    expect(w).toEqual({ bytes: Buffer.byteLength(text), rows: 50, omitted: 70 });
    const head = await s3.client.send(new HeadObjectCommand({ Bucket: 'reports', Key: 'runs/march/report.html' }));
    expect(head.ContentType).toBe('text/html; charset=utf-8');
  });
});
