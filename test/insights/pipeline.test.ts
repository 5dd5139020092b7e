/**
 * Issue 14 end to end, through the command line, the real SDK clients and the embedded local
 * service: a schema run gives one column per field and a report; redaction leaves no original PII
 * anywhere under the run folder, in the results, the report or the output; a long call is truncated
 * to fit, flagged in lineage and results; and the parallel path counts what the one-thread path counts.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, mkdir, mkdtemp, rm, writeFile, lstat } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'csv-parse/sync';
import { BIN, ROOT } from '../prepare/helpers.js';
import { CALL_INSIGHTS } from '../../src/schema/index.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
// page.$$eval callbacks run in Chromium; the project compiles without the DOM lib
interface PageElement {
  textContent: string | null;
  getAttribute(name: string): string | null;
}

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

const run = (args: string[], cwd: string) =>
  new Promise<Ran>((resolve) =>
    execFile(process.execPath, [BIN, ...args], { cwd, maxBuffer: 64 << 20 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );

/** Every file under `dir` (symlinks not followed), with its bytes (gunzipped when gzip). */
async function* filesUnder(dir: string): AsyncGenerator<{ path: string; text: string }> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* filesUnder(path);
    else if ((await lstat(path)).isFile()) {
      let bytes = await readFile(path);
      if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
      yield { path, text: bytes.toString('utf8') };
    }
  }
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'insights-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('run --schema call-insights (the README quick start\'s third command)', () => {
  it('writes one CSV column per field, valid answers for every call, and the report', { timeout: 300_000 }, async () => {
    // the command as the README's quick start shows it
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const shown = readme.split('\n').map((l) => l.trim()).find((l) => l.startsWith('npx bedrock-batch run fixtures/calls.csv --work ./insights'));
    expect(shown).toBe('npx bedrock-batch run fixtures/calls.csv --work ./insights --schema call-insights --results ./insights/results.csv');
    const args = shown!.split(' ').slice(2).map((a) => (a.startsWith('fixtures/') ? join(ROOT, a) : a));
    const r = await run([...args, '--json'], dir);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ read: 283, written: 283, succeeded: 283, failed: 0, invalid: 0, missing: 0 });
    const rows = parse(await readFile(join(dir, 'insights/results.csv'), 'utf8'), { columns: true }) as Record<string, string>[];
    expect(rows).toHaveLength(283);
    const fields = Object.keys((CALL_INSIGHTS as { properties: Record<string, unknown> }).properties);
    for (const f of fields) expect(Object.keys(rows[0]!)).toContain(f);
    const enums = (CALL_INSIGHTS as { properties: Record<string, { enum?: string[] }> }).properties;
    for (const row of rows) {
      expect(row.status).toBe('success');
      expect(enums.reason_category!.enum).toContain(row.reason_category);
      expect(['true', 'false']).toContain(row.resolved);
    }
    // the report's field tallies are the CSV's counts
    const byCategory: Record<string, number> = {};
    for (const row of rows) byCategory[row.reason_category!] = (byCategory[row.reason_category!] ?? 0) + 1;
    for (const [value, n] of Object.entries(byCategory)) expect(report.fields.reason_category.counts[value]).toBe(n);
    const html = await readFile(join(dir, 'insights/report.html'), 'utf8');
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=["']https?:/); // self-contained

    // the report as a person sees it: headless Chromium shows the figures --json printed
    if (!existsSync(CHROMIUM)) throw new Error(`the report test needs Chromium at ${CHROMIUM}: apt-get install -y chromium`);
    const profile = await mkdtemp(join(tmpdir(), 'insights-chromium-'));
    const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    try {
      const page = await context.newPage();
      const requests: string[] = [];
      page.on('request', (q) => requests.push(q.url()));
      await page.goto(pathToFileURL(join(dir, 'insights/report.html')).href, { waitUntil: 'load' });
      const figures = new Map(
        (await page.$$eval('[data-figure]', (els) => (els as unknown as PageElement[]).map((e) => [e.getAttribute('data-figure')!, e.textContent ?? ''] as const))).map(([k, t]) => [k, Number(t.replace(/[^\d.-]/g, ''))]),
      );
      for (const k of ['read', 'written', 'rejected', 'succeeded', 'failed', 'invalid', 'missing', 'inputTokens', 'outputTokens']) expect(figures.get(k), k).toBe(report[k]);
      for (const [name, tally] of Object.entries(report.fields as Record<string, { counts: Record<string, number> }>)) {
        for (const [value, n] of Object.entries(tally.counts)) expect(figures.get(`fields.${name}.${value}`), `${name}=${value}`).toBe(n);
      }
      expect(figures.get('calls.shown')).toBe(283);
      expect(requests.every((u) => u.startsWith('file:'))).toBe(true);
      await mkdir(join(ROOT, 'test-artifacts'), { recursive: true });
      await page.screenshot({ path: join(ROOT, 'test-artifacts/insights-report.png'), fullPage: false });
    } finally {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    }
  });
});

describe('run --schema with answers that do not follow it (--fault invalid-fields)', () => {
  it('counts them as failed and invalid, plans them for a retry, and the retry run validates again', { timeout: 300_000 }, async () => {
    const r = await run(['run', join(ROOT, 'fixtures/calls.csv'), '--work', './faulty', '--schema', 'call-insights', '--fault', 'invalid-fields=0.2', '--json'], dir);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.invalid).toBeGreaterThan(30);
    expect(report.invalid).toBeLessThan(90);
    expect(report).toMatchObject({ read: 283, written: 283, failed: report.invalid, missing: 0 });
    expect(report.succeeded + report.failed).toBe(283);
    expect(report.retry.records).toBe(report.invalid);
    const rows = (await readFile(join(dir, 'faulty/results.jsonl'), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const invalid = rows.filter((x) => x.status === 'invalid');
    expect(invalid).toHaveLength(report.invalid);
    for (const x of invalid) {
      expect(x.errorCode).toBe('E_INVALID_ANSWER');
      expect(x.errorMessage).toMatch(/^#\S*:? /); // a pointer and a rule, never the answer
    }
    expect(rows.filter((x) => x.status === 'success').every((x) => typeof x.fields.resolved === 'boolean')).toBe(true);

    // the retry run: submitted and collected as the human report says, validated against the same schema
    const retry = report.retry.uri as string;
    const sub = await run(['submit', retry, '--output', './faulty/out-retry', '--wait', '--json', '--fault', 'invalid-fields=0.2'], dir);
    expect(sub.code, sub.stderr).toBe(0);
    const col = await run(['collect', './faulty/out-retry', '--prepared', retry, '--json'], dir);
    expect(col.code, col.stderr).toBe(0);
    const again = JSON.parse(col.stdout);
    expect(again.submitted).toBe(report.invalid);
    expect(again.structured).toMatchObject({ name: 'call_insights' });
    expect(again.invalid).toBeLessThan(report.invalid);
    expect(again.succeeded + again.failed + again.missing).toBe(report.invalid);
  });
});

// Synthetic PII (test card numbers, example.com, documentation IP ranges, 555 numbers): never real.
const PII = {
  card: '4111 1111 1111 1111',
  cardDashed: '5500-0000-0000-0004',
  email: 'Maria.Lopez@example.com',
  phone: '+34 612 34 56 78',
  phoneUs: '(201) 555-0123',
  iban: 'ES91 2100 0418 4502 0005 1332',
  ssn: '219-09-9999',
  ip: '192.0.2.44',
};
const DIGITS = (s: string) => s.replace(/\D/g, '');

function piiCsv(calls: number): string {
  const lines = ['call_id,agent,notes,transcript'];
  for (let i = 0; i < calls; i++) {
    const p = Object.values(PII)[i % Object.values(PII).length]!;
    const transcript =
      `Agent: Thank you for calling, order 88231-${i} is in front of me, placed on 2024-03-15 for $1,234.56.\n` +
      `Customer: My card is ${PII.card} and my email is ${PII.email}.\n` +
      `Agent: And a phone number? Customer: ${PII.phone}, or at work ${PII.phoneUs}. Refund to ${PII.iban}.\n` +
      `Customer: My SSN is ${PII.ssn}, I logged in from ${PII.ip}; the other card ${PII.cardDashed}. Agent: Resolved, thanks.`;
    lines.push(`call-${String(i).padStart(4, '0')},Agent ${i % 3},"callback on ${p}","${transcript.replace(/"/g, '""')}"`);
  }
  return lines.join('\n') + '\n';
}

describe('run --redact', () => {
  it('leaves no original PII under the run folder, in the results, the report or the output', { timeout: 300_000 }, async () => {
    await writeFile(join(dir, 'pii.csv'), piiCsv(40));
    const r = await run(
      ['run', 'pii.csv', '--work', './redacted', '--redact', '--phone-region', 'US', '--passthrough', 'agent,notes', '--schema', 'call-insights', '--results', './redacted/results.csv', '--min-records', '1', '--json'],
      dir,
    );
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ read: 40, written: 40, succeeded: 40 });
    // every call had 2 cards, 1 email, 2 phones, 1 IBAN, 1 SSN, 1 IP in its transcript, plus one in `notes`
    expect(report.redacted.card).toBeGreaterThanOrEqual(80);
    expect(report.redacted.phone).toBeGreaterThanOrEqual(80);
    for (const type of ['email', 'iban', 'ssn', 'ip']) expect(report.redacted[type], type).toBeGreaterThanOrEqual(40);
    const needles = [...Object.values(PII), ...Object.values(PII).map(DIGITS).filter((d) => d.length >= 8), 'maria.lopez@example.com'];
    let files = 0;
    for await (const f of filesUnder(join(dir, 'redacted'))) {
      files++;
      const lower = f.text.toLowerCase();
      for (const n of needles) expect(lower.includes(n.toLowerCase()), `${n} in ${f.path}`).toBe(false);
    }
    expect(files).toBeGreaterThan(8); // shards, lineage, outputs, manifest, ledger, results, report ...
    for (const n of needles) expect(r.stdout + r.stderr).not.toContain(n);
    // what must stay stays: the call ids (the join key), the order number, the date and the amount
    const rows = parse(await readFile(join(dir, 'redacted/results.csv'), 'utf8'), { columns: true }) as Record<string, string>[];
    expect(rows.map((x) => x.key).sort()).toEqual(Array.from({ length: 40 }, (_, i) => `call-${String(i).padStart(4, '0')}`));
    const shard = (await readFile(join(dir, 'redacted/batch/input/job-0001/part-00001.jsonl'), 'utf8'));
    expect(shard).toContain('order 88231-0');
    expect(shard).toContain('2024-03-15');
    expect(shard).toContain('$1,234.56');
    expect(shard).toContain('[CARD]');
    expect(rows[0]!.notes).toMatch(/^callback on \[[A-Z]+\]$/);
  });
});

describe('run --fit truncate', () => {
  it('cuts a call over the context to whole turns from both ends and flags it in lineage and results', { timeout: 300_000 }, async () => {
    // an utterance export (one row per turn): 800 turns of about 270 characters, far over Mistral's 32k context
    const lines = ['call_id,speaker,text'];
    for (let i = 0; i < 800; i++) lines.push(`long-1,${i % 2 ? 'Agent' : 'Customer'},turn ${i} ${'words and more words '.repeat(12)}`);
    lines.push('short-1,Customer,my bill is wrong.', 'short-1,Agent,"fixed, refund issued."');
    await writeFile(join(dir, 'long.csv'), lines.join('\n') + '\n');
    const base = ['run', 'long.csv', '--min-records', '1', '--model', 'mistral.mistral-small-2402-v1:0', '--json'];
    const rejected = await run([...base, '--work', './fit-reject'], dir);
    expect(rejected.code, rejected.stderr).toBe(0);
    expect(JSON.parse(rejected.stdout)).toMatchObject({ read: 2, written: 1, rejected: 1 });

    const r = await run([...base, '--work', './fit', '--fit', 'truncate', '--results', './fit/results.csv'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ read: 2, written: 2, rejected: 0, succeeded: 2, truncated: 1 });
    const lineage = (await readFile(join(dir, 'fit/batch/lineage/job-0001/part-00001.jsonl'), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const long = lineage.find((l) => l.key === 'long-1');
    expect(long.truncated).toBeGreaterThan(0);
    expect(lineage.find((l) => l.key === 'short-1').truncated).toBeUndefined();
    const shard = await readFile(join(dir, 'fit/batch/input/job-0001/part-00001.jsonl'), 'utf8');
    // (booleans, not toContain: a failure must not print a 200 KB shard)
    expect(shard.includes('Customer: turn 0 '), 'the first turn').toBe(true);
    expect(shard.includes('Agent: turn 799 '), 'the last turn').toBe(true);
    expect(shard.includes(`[… ${long.truncated} turns omitted …]`), 'the marker').toBe(true);
    expect(shard.includes('turn 400 '), 'a middle turn').toBe(false);
    const rows = parse(await readFile(join(dir, 'fit/results.csv'), 'utf8'), { columns: true }) as Record<string, string>[];
    expect(rows.find((x) => x.key === 'long-1')!.truncated).toBe(String(long.truncated));
    expect(rows.find((x) => x.key === 'short-1')!.truncated).toBe('0');
  });
});
