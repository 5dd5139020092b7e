/**
 * The HTML report in a real browser: Debian's headless Chromium, driven by playwright-core, with a
 * fresh profile. The report is written by HtmlReport and opened from file://; the test reads every
 * `data-figure` back and checks it against the `--json` object, filters the table of calls as a
 * person would (typing, picking a value), checks that hostile ids, codes and summaries render as text
 * with no script run, that no request leaves the page, that it reads in light and dark, prints, and
 * keeps a screenshot in test-artifacts/report.png (gitignored).
 *
 * Chromium is a prerequisite: without /usr/bin/chromium the suite FAILS with one line naming the
 * package, it never skips.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HtmlReport, renderReport, type ReportRow } from '../../src/results/report-html.js';
import { tempDir, type TempDir } from '../support/temp.js';
import { HOSTILE_CODE, HOSTILE_KEY, HOSTILE_TEXT, sampleRun, type Sample } from './helpers.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const ARTIFACTS = join(ROOT, 'test-artifacts');
const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const MAX_ROWS = 100;

// The callbacks given to page.evaluate / $$eval run in Chromium. The project compiles for Node (no
// DOM lib), so the few browser globals they touch are declared here, for this file only.
interface PageElement {
  id: string;
  tagName: string;
  hidden: boolean;
  textContent: string | null;
  children: ArrayLike<PageElement>;
  labels?: ArrayLike<unknown>;
  checkVisibility(): boolean;
  getAttribute(name: string): string | null;
}
declare const document: { body: PageElement; querySelector(selector: string): PageElement | null };
declare const window: Record<string, unknown>;
declare function getComputedStyle(element: unknown): { display: string; backgroundColor: string; color: string };

let context: BrowserContext;
let profile: TempDir;
let work: TempDir;
let sample: Sample;
let reportFile: string;
let written: { bytes: number; rows: number; omitted: number };

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`the report tests need Chromium at ${CHROMIUM}: apt-get install -y chromium`);
  profile = await tempDir('report-chromium-profile-');
  work = await tempDir('report-html-');
  context = await chromium.launchPersistentContext(profile.dir, { executablePath: CHROMIUM, headless: true, args: ARGS });
  sample = sampleRun();
  const report = new HtmlReport({ maxRows: MAX_ROWS, title: 'Call insights: March' });
  for (const r of sample.rows) report.add(r);
  reportFile = join(work.dir, 'nested', 'report.html');
  written = await report.write(reportFile, sample.json, sample.schema);
}, 120_000);

afterAll(async () => {
  await context?.close();
  await profile?.cleanup();
  await work?.cleanup();
});

interface Opened {
  page: Page;
  requests: string[];
  /** Console errors and warnings (a CSP violation lands here) and uncaught page errors. */
  problems: string[];
}

async function open(file: string, colorScheme: 'light' | 'dark' = 'light'): Promise<Opened> {
  const page = await context.newPage();
  await page.emulateMedia({ colorScheme });
  const requests: string[] = [];
  const problems: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
  return { page, requests, problems };
}

/** What each figure must read, worked out from the --json object and the rows (not from the report's code). */
function expectedFigures(s: Sample, tableRows: number, omitted: number): Map<string, number> {
  const j = s.json as Record<string, any>;
  const m = new Map<string, number>();
  for (const k of ['read', 'rejected', 'written', 'submitted', 'succeeded', 'failed', 'invalid', 'missing', 'inputTokens', 'outputTokens', 'truncated']) m.set(k, j[k]);
  const byName = (prefix: string, o: Record<string, number>) => Object.entries(o).forEach(([k, n]) => m.set(`${prefix}.${k}`, n));
  byName('rejectsByCode', j.rejectsByCode);
  byName('errorsByCode', j.errorsByCode);
  byName('missingByReason', j.missingByReason);
  byName('deadLetter.byReason', j.deadLetter.byReason);
  m.set('retry.records', j.retry.records);
  m.set('deadLetter.records', j.deadLetter.records);
  for (const job of j.jobs) for (const k of ['submitted', 'succeeded', 'failed', 'missing', 'inputTokens', 'outputTokens']) m.set(`job.${job.job}.${k}`, job[k]);
  for (const k of ['total', 'input', 'output']) m.set(`cost.${k}`, j.cost[k]);
  byName('redacted', j.redacted);
  m.set('redacted.total', Object.values(j.redacted as Record<string, number>).reduce((a, b) => a + b, 0));
  const props = (s.schema.properties ?? {}) as Record<string, any>;
  for (const [name, tally] of Object.entries(j.fields as Record<string, { type: string; counts: Record<string, number> }>)) {
    const values = tally.type === 'boolean' ? ['true', 'false'] : [...(props[name]?.enum ?? [])];
    for (const v of Object.keys(tally.counts)) if (!values.includes(v)) values.push(v);
    const total = values.reduce((a, v) => a + (tally.counts[v] ?? 0), 0);
    m.set(`fields.${name}.total`, total);
    for (const v of values) {
      const n = tally.counts[v] ?? 0;
      m.set(`fields.${name}.${v}`, n);
      m.set(`fields.${name}.${v}.percent`, Math.round((n / total) * 100));
    }
  }
  m.set('calls.shown', tableRows);
  m.set('calls.rows', tableRows);
  m.set('calls.omitted', omitted);
  return m;
}

/** Every figure on the page, by name, as shown (thousands separators removed), and whether it is visible. */
async function figures(page: Page): Promise<{ name: string; value: number; visible: boolean }[]> {
  const raw = await page.$$eval('[data-figure]', (els) => els.map((e) => ({ name: e.getAttribute('data-figure')!, text: e.textContent ?? '', visible: e.checkVisibility() })));
  return raw.map((f) => ({ name: f.name, value: Number(f.text.replace(/,/g, '')), visible: f.visible }));
}

const visibleRows = (page: Page) => page.$$eval('#calls-body tr', (trs) => trs.filter((tr) => !tr.hidden && (tr as PageElement).checkVisibility()).length);
const shownFigure = async (page: Page) => Number((await page.textContent('[data-figure="calls.shown"]'))!.replace(/,/g, ''));

describe('the HTML report in headless Chromium', () => {
  it('is written whole, with the first maxRows calls and the rest counted', async () => {
    expect(written).toEqual({ bytes: (await stat(reportFile)).size, rows: MAX_ROWS, omitted: sample.rows.length - MAX_ROWS });
  });

  it('shows every figure of the --json object, each as the JSON says, and says the counts add up', async () => {
    const { page, requests, problems } = await open(reportFile);
    const shown = await figures(page);
    const expected = expectedFigures(sample, MAX_ROWS, sample.rows.length - MAX_ROWS);
    const names = shown.map((f) => f.name);
    expect(new Set(names).size).toBe(names.length); // each figure once
    expect(Object.fromEntries(shown.map((f) => [f.name, f.value]))).toEqual(Object.fromEntries(expected));
    expect(shown.filter((f) => !f.visible).map((f) => f.name)).toEqual([]);
    // 'other' was never the reason: the schema's value is charted at 0, not dropped
    expect(expected.get('fields.reason.other')).toBe(0);
    expect(await page.textContent('[data-check="prepare"]')).toContain('adds up');
    expect(await page.textContent('[data-check="collect"]')).toMatch(/submitted 120 = succeeded 107 \+ failed 9 \+ missing 4: adds up/);
    expect(await page.textContent('#cost')).toMatch(/estimate/i);
    expect(await page.title()).toBe('Call insights: March');
    // the script ran under the page's CSP (no violation reported) and built the table
    expect(problems).toEqual([]);
    expect(await page.$$eval('#calls-body tr', (t) => t.length)).toBe(MAX_ROWS);
    expect(requests.filter((u) => !u.startsWith('file:'))).toEqual([]);
    await page.close();
  });

  it('filters the calls by typed text, status and field values, and counts what it shows', async () => {
    const { page, requests } = await open(reportFile);
    const kept = sample.rows.slice(0, MAX_ROWS);
    expect(await visibleRows(page)).toBe(MAX_ROWS);

    await page.locator('#f-text').pressSequentially('CALL-100');
    const byKey = kept.filter((r) => r.key.includes('CALL-100')).length;
    expect(byKey).toBe(9); // CALL-1000..1009 less the hostile id at i = 7
    expect(await visibleRows(page)).toBe(byKey);
    expect(await shownFigure(page)).toBe(byKey);

    await page.locator('#f-text').fill('opened a ticket');
    const unresolved = kept.filter((r) => r.text?.includes('opened a ticket')).length;
    expect(unresolved).toBeGreaterThan(10);
    expect(await visibleRows(page)).toBe(unresolved);

    await page.locator('#f-text').fill('');
    await page.selectOption('select[data-field="reason"]', 'billing');
    const billing = kept.filter((r) => r.fields?.reason === 'billing');
    expect(billing.length).toBeGreaterThan(5);
    expect(await visibleRows(page)).toBe(billing.length);
    expect(await shownFigure(page)).toBe(billing.length);
    // every shown row really is billing (the reason column reads so)
    const reasonCol = await page.$$eval('#calls-table thead th', (ths) => ths.findIndex((th) => th.textContent === 'reason'));
    const reasons = await page.$$eval('#calls-body tr:not([hidden])', (trs, i) => trs.map((tr) => tr.children[i]!.textContent), reasonCol);
    expect(new Set(reasons)).toEqual(new Set(['billing']));

    await page.selectOption('select[data-field="resolved"]', 'false');
    expect(await visibleRows(page)).toBe(billing.filter((r) => r.fields!.resolved === false).length);

    await page.click('#f-reset');
    await page.selectOption('#f-status', 'invalid');
    const invalid = kept.filter((r) => r.status === 'invalid').length;
    expect(invalid).toBe(3);
    expect(await visibleRows(page)).toBe(invalid);

    await page.click('#f-reset');
    await page.waitForFunction((n) => document.querySelector('[data-figure="calls.shown"]')!.textContent === String(n), MAX_ROWS);
    expect(await visibleRows(page)).toBe(MAX_ROWS);
    expect(requests.filter((u) => !u.startsWith('file:'))).toEqual([]);
    await page.close();
  });

  it('renders hostile ids, codes and summaries as text: no script runs, no element is injected', async () => {
    const { page, requests } = await open(reportFile);
    expect(await page.evaluate(() => window.__pwned)).toBeUndefined();
    expect(await page.$$eval('img', (i) => i.length)).toBe(0);
    expect(await page.$$eval('script', (s) => s.length)).toBe(2); // the data and the page's own script
    const row = await page.$$eval('#calls-body tr', (trs, key) => {
      const tr = trs.find((t) => t.children[0]!.textContent === key);
      return tr ? Array.from((tr as PageElement).children).map((c) => c.textContent) : undefined;
    }, HOSTILE_KEY);
    expect(row).toBeDefined();
    expect(row).toContain(HOSTILE_TEXT);
    expect(row).toContain('<script>window.__pwned = 5</script>');
    expect(await page.$$eval('#problems code', (cs) => cs.map((c) => c.textContent))).toContain(HOSTILE_CODE);
    // the hostile code's image would have fetched over http
    expect(requests.filter((u) => !u.startsWith('file:'))).toEqual([]);
    await page.close();
  });

  it('stays safe on escaping alone, with its Content-Security-Policy taken out', async () => {
    // hostile names everywhere a name is shown: title, model, job, field, enum value, warnings, codes
    const evil = (n: number) => `"'><img src="http://127.0.0.1:9/${n}.png" onerror="window.__pwned=${n}"><script>window.__pwned=${n}</script>`;
    const rows: ReportRow[] = [
      { key: evil(1), status: evil(2), job: evil(3), text: evil(4), error: evil(5), fields: { [evil(6)]: evil(7), mood: evil(8) }, redacted: { [evil(9)]: 1 }, truncated: 2 },
      { key: 'plain', status: 'success', fields: { [evil(6)]: 'x', mood: 'calm' }, text: 'fine' },
    ];
    const json = {
      submitted: 2, succeeded: 1, failed: 1, missing: 0, invalid: 0, truncated: 1,
      model: { modelId: evil(10), family: evil(11) },
      jobs: [{ job: evil(12), status: evil(13), jobIds: [evil(14)], submitted: 2, succeeded: 1, failed: 1, missing: 0 }],
      errorsByCode: { [evil(15)]: 1 },
      missingByReason: { [evil(16)]: 0 },
      fields: { [evil(6)]: { type: 'boolean', counts: { true: 1 } }, mood: { type: 'enum', counts: { calm: 1, [evil(17)]: 0 } } },
      redacted: { [evil(18)]: 3 },
      warnings: [evil(19)],
      results: { uri: evil(20) },
      cost: { currency: evil(21), total: 1, label: evil(22) },
    };
    const schema = { title: evil(23), properties: { [evil(6)]: { type: 'boolean', description: evil(24) }, mood: { type: 'string', enum: ['calm', evil(17)] } } };
    const html = renderReport(json, rows, schema, 0, { title: evil(25) });
    const csp = /<meta http-equiv="Content-Security-Policy"[^>]*>/;
    expect(html).toMatch(csp);
    const file = join(work.dir, 'no-csp.html');
    await writeFile(file, html.replace(csp, ''));
    const { page, requests, problems } = await open(file);
    expect(problems).toEqual([]);
    expect(await page.evaluate(() => window.__pwned)).toBeUndefined();
    expect(await page.$$eval('img', (i) => i.length)).toBe(0);
    expect(await page.$$eval('script', (s) => s.length)).toBe(2);
    expect(await page.title()).toBe(evil(25));
    const cells = await page.$$eval('#calls-body tr:first-child > *', (cs) => cs.map((c) => c.textContent));
    for (const n of [1, 2, 3, 7, 4, 5]) expect(cells).toContain(evil(n));
    // the filters still work with hostile field names and values
    await page.selectOption('select.f-field >> nth=1', evil(8));
    expect(await visibleRows(page)).toBe(1);
    expect(requests.filter((u) => !u.startsWith('file:'))).toEqual([]);
    await page.close();
  });

  it('is usable: labelled filters, table headers, readable in light and dark, prints', async () => {
    const light = await open(reportFile, 'light');
    const unlabelled = await light.page.$$eval('input, select, button', (els) =>
      els.filter((e) => e.tagName !== 'BUTTON' && (e as PageElement).labels!.length === 0).map((e) => e.id),
    );
    expect(unlabelled).toEqual([]);
    expect(await light.page.$$eval('table', (ts) => ts.filter((t) => !t.querySelector('caption') || !t.querySelector('th')).length)).toBe(0);
    const colours = (p: Page) => p.evaluate((): [string, string] => [getComputedStyle(document.body).backgroundColor, getComputedStyle(document.body).color]);
    const [lightBg, lightFg] = await colours(light.page);
    expect(lightBg).toBe('rgb(255, 255, 255)');

    await mkdir(ARTIFACTS, { recursive: true });
    await light.page.screenshot({ path: join(ARTIFACTS, 'report.png'), fullPage: true });
    const png = await readFile(join(ARTIFACTS, 'report.png'));
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(png.length).toBeGreaterThan(20_000);

    const dark = await open(reportFile, 'dark');
    const [darkBg, darkFg] = await colours(dark.page);
    expect(darkBg).not.toBe(lightBg);
    expect(darkFg).not.toBe(lightFg);
    const luminance = (rgb: string) => rgb.match(/\d+/g)!.slice(0, 3).reduce((a, c) => a + Number(c), 0);
    expect(luminance(darkBg)).toBeLessThan(100);
    expect(luminance(darkFg)).toBeGreaterThan(500);
    await dark.page.screenshot({ path: join(ARTIFACTS, 'report-dark.png'), fullPage: true });

    await light.page.emulateMedia({ media: 'print' });
    expect(await light.page.$eval('.filters', (f) => getComputedStyle(f).display)).toBe('none');
    expect(await light.page.$eval('#calls-table thead', (t) => getComputedStyle(t).display)).toBe('table-header-group');
    const pdf = await light.page.pdf({ format: 'A4' });
    expect(pdf.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    expect([...light.requests, ...dark.requests].filter((u) => !u.startsWith('file:'))).toEqual([]);
    await light.page.close();
    await dark.page.close();
  });
});
