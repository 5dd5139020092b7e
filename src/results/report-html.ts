/**
 * The HTML report: one self-contained file a person opens from disk (file://) to see how a run went,
 * built from the object `collect --json` prints (or `run --json`, whose prepare counts sit at the
 * top level or under `prepare`) plus up to `maxRows` calls.
 *
 * Sections: the reconciliation (read = written + rejected, submitted = succeeded + failed + missing,
 * each said to add up or not), per-job status, rejects and errors by code, tokens and the estimated
 * cost, PII redaction counts and truncated calls, and for a schema run a bar chart per enum or
 * boolean field and a filterable table of calls (text, status and one select per enum/boolean field).
 *
 * Why it is built this way:
 * - Everything is inline (CSS, JS, no fonts, no images) and a Content-Security-Policy meta forbids
 *   any fetch, so the file works offline and never calls home, whatever the data holds.
 * - Every value is hostile: model text, call ids, error codes and schema names are escaped into
 *   HTML; the calls travel as JSON in a `<script type="application/json">` with `<`, `>` and `&`
 *   written as \u escapes (so `</script>` inside a summary cannot close it), and the table is built
 *   with textContent, never innerHTML. The one inline script is allowed by its sha256 hash only, so
 *   even a slip in escaping could not run injected script or event handlers.
 * - Each number shown carries `data-figure="<name>"` (`succeeded`, `errorsByCode.<code>`,
 *   `fields.<field>.<value>`, ...) so a test, or a person's script, can read the figures back and
 *   check them against `--json`.
 * - Light and dark follow the reader's setting; printing drops the filter controls and keeps the
 *   table headers on each page.
 */
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { fileTarget, type StoreOptions } from '../stores/index.js';
import { isObject } from '../core/values.js';

/** One call in the report's table. */
export interface ReportRow {
  key: string;
  status: string;
  fields?: Record<string, unknown>;
  text?: string;
  error?: string;
  job?: string;
  truncated?: number;
  redacted?: Record<string, number>;
}

export interface HtmlReportOptions {
  /** Calls kept for the table (the first ones added); the rest are only counted. Default 2000. */
  maxRows?: number;
  /** The page's title. Default `bedrock-batch report`. */
  title?: string;
  /** S3 settings for an `s3://` target. */
  s3?: StoreOptions;
}

export interface HtmlReportWritten {
  bytes: number;
  /** Calls in the table. */
  rows: number;
  /** Calls added beyond `maxRows`, left out of the table. */
  omitted: number;
}

export const DEFAULT_REPORT_ROWS = 2000;
/** A call's summary text is cut at this many characters in the report (the results file has it whole). */
export const REPORT_TEXT_LIMIT = 4000;

/** Collects calls (the first `maxRows`) and writes the report to a local path or `s3://` URI. */
export class HtmlReport {
  private readonly rows: ReportRow[] = [];
  private omitted = 0;
  private readonly maxRows: number;

  constructor(private readonly opts: HtmlReportOptions = {}) {
    this.maxRows = Math.max(0, Math.floor(opts.maxRows ?? DEFAULT_REPORT_ROWS));
  }

  /** Keeps the row while fewer than `maxRows` are kept, else counts it as omitted. `row` may be a
   * function that makes it: called only when the row is kept (a run of millions of calls builds
   * 2,000 rows, not a row per call). */
  add(row: ReportRow | (() => ReportRow)): void {
    if (this.rows.length < this.maxRows) this.rows.push(typeof row === 'function' ? row() : row);
    else this.omitted++;
  }

  /** Renders and writes the report; the file appears whole or not at all (the store's writer). */
  async write(target: string, json: Record<string, unknown>, schema?: Record<string, unknown>): Promise<HtmlReportWritten> {
    const html = renderReport(json, this.rows, schema, this.omitted, this.opts.title !== undefined ? { title: this.opts.title } : {});
    const t = fileTarget(target, this.opts.s3);
    const w = t.store.createWriteStream(t.key, { contentType: 'text/html; charset=utf-8' });
    await pipeline(async function* () {
      yield Buffer.from(html, 'utf8');
    }, w);
    return { bytes: Buffer.byteLength(html, 'utf8'), rows: this.rows.length, omitted: this.omitted };
  }
}

// ---------------------------------------------------------------------------------------------
// rendering

type Json = Record<string, unknown>;

const isObj = (v: unknown): v is Json => isObject(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Text for HTML content and attribute values alike. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** JSON that is safe inside a `<script>` element: no `<`, `>`, `&` or line separators in it. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** 1234567 → `1,234,567`; decimals kept as they are. */
function formatNumber(n: number): string {
  const [int, frac] = String(n).split('.');
  const grouped = int!.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return frac !== undefined ? `${grouped}.${frac}` : grouped;
}

function fig(name: string, n: number): string {
  return `<span class="num" data-figure="${escapeHtml(name)}">${escapeHtml(formatNumber(n))}</span>`;
}

/** A number of the report: at the top level, else under `prepare` or `collect` (run's shapes). */
function pick(json: Json, name: string): number | undefined {
  for (const o of [json, json.prepare, json.collect]) if (isObj(o) && isNum(o[name])) return o[name];
  return undefined;
}
function pickObj(json: Json, name: string): Json | undefined {
  for (const o of [json, json.prepare, json.collect]) if (isObj(o) && isObj(o[name])) return o[name];
  return undefined;
}

/** Counts by name, largest first, numbers only. */
function counts(o: Json | undefined): [string, number][] {
  if (!o) return [];
  return Object.entries(o)
    .filter((e): e is [string, number] => isNum(e[1]))
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

interface FieldInfo {
  name: string;
  type: 'enum' | 'boolean' | 'other';
  description?: string;
  /** Values in order (enum: the schema's, then any others counted; boolean: true, false). */
  values: string[];
  counts?: Record<string, number>;
}

/** The schema's properties (in its order) joined with the tallies of `json.fields`. */
function fieldInfos(json: Json, rows: readonly ReportRow[], schema?: Json): FieldInfo[] {
  const tallies = isObj(json.fields) ? json.fields : {};
  const props = schema && isObj(schema.properties) ? schema.properties : {};
  const names: string[] = [...Object.keys(props)];
  for (const n of Object.keys(tallies)) if (!names.includes(n)) names.push(n);
  if (!names.length) {
    for (const r of rows) for (const n of Object.keys(r.fields ?? {})) if (!names.includes(n)) names.push(n);
  }
  return names.map((name) => {
    const p = isObj(props[name]) ? props[name] : {};
    const t = isObj(tallies[name]) ? tallies[name] : undefined;
    const tc = t && isObj(t.counts) ? (Object.fromEntries(Object.entries(t.counts).filter((e) => isNum(e[1]))) as Record<string, number>) : undefined;
    const description = typeof p.description === 'string' ? p.description : undefined;
    const isEnum = t?.type === 'enum' || Array.isArray(p.enum);
    const isBool = t?.type === 'boolean' || (!isEnum && p.type === 'boolean');
    if (isEnum) {
      const values = Array.isArray(p.enum) ? p.enum.map((v) => String(v)) : [];
      for (const v of Object.keys(tc ?? {})) if (!values.includes(v)) values.push(v);
      return { name, type: 'enum' as const, values, ...(tc ? { counts: tc } : {}), ...(description ? { description } : {}) };
    }
    if (isBool) return { name, type: 'boolean' as const, values: ['true', 'false'], ...(tc ? { counts: tc } : {}), ...(description ? { description } : {}) };
    return { name, type: 'other' as const, values: [], ...(description ? { description } : {}) };
  });
}

function section(id: string, title: string, body: string): string {
  return `<section id="${id}" aria-labelledby="${id}-h"><h2 id="${id}-h">${escapeHtml(title)}</h2>${body}</section>`;
}

function reconciliation(json: Json): string {
  const read = pick(json, 'read');
  const written = pick(json, 'written');
  const rejected = pick(json, 'rejected');
  const skipped = pick(json, 'skipped');
  const submitted = pick(json, 'submitted');
  const succeeded = pick(json, 'succeeded');
  const failed = pick(json, 'failed');
  const invalid = pick(json, 'invalid');
  const missing = pick(json, 'missing');
  const pending = pick(json, 'pending');
  const reused = pick(json, 'reused');
  const rows: string[] = [];
  const row = (label: string, name: string, n: number | undefined, note = '') => {
    if (n !== undefined) rows.push(`<tr><th scope="row">${escapeHtml(label)}</th><td>${fig(name, n)}${note}</td></tr>`);
  };
  row('read (calls in the source)', 'read', read);
  row('rejected (not sent)', 'rejected', rejected);
  row('skipped (answered before: not sent)', 'skipped', skipped);
  row('written (records prepared)', 'written', written);
  row('submitted', 'submitted', submitted);
  row('succeeded', 'succeeded', succeeded);
  row('failed', 'failed', failed, invalid !== undefined ? ` <span class="aside">of which invalid (did not match the schema) ${fig('invalid', invalid)}</span>` : '');
  row('missing', 'missing', missing, pending ? ` <span class="aside">of which still running ${fig('pending', pending)}</span>` : '');
  if (reused || skipped) row('reused (earlier answers, in the results)', 'reused', reused);

  const checks: string[] = [];
  const check = (id: string, ok: boolean, text: string) =>
    checks.push(`<li class="${ok ? 'ok' : 'bad'}" data-check="${id}"><span class="mark" aria-hidden="true">${ok ? '✓' : '✗'}</span> ${escapeHtml(text)}: <strong>${ok ? 'adds up' : 'does not add up'}</strong></li>`);
  if (read !== undefined && written !== undefined && rejected !== undefined) {
    const sum = written + rejected + (skipped ?? 0);
    check('prepare', sum === read, `read ${formatNumber(read)} = written ${formatNumber(written)} + rejected ${formatNumber(rejected)}${skipped !== undefined ? ` + skipped ${formatNumber(skipped)}` : ''}`);
  }
  const base = submitted ?? written;
  if (base !== undefined && succeeded !== undefined && failed !== undefined && missing !== undefined) {
    const what = submitted !== undefined ? 'submitted' : 'written';
    check('collect', succeeded + failed + missing === base, `${what} ${formatNumber(base)} = succeeded ${formatNumber(succeeded)} + failed ${formatNumber(failed)} + missing ${formatNumber(missing)}`);
  }
  if (invalid !== undefined && failed !== undefined && invalid > failed) check('invalid', false, `invalid ${formatNumber(invalid)} ≤ failed ${formatNumber(failed)}`);
  if (!rows.length) return section('reconciliation', 'Reconciliation', '<p>No counts in this summary.</p>');
  return section(
    'reconciliation',
    'Reconciliation',
    `<table class="figures"><caption>Every call is accounted for</caption><tbody>${rows.join('')}</tbody></table>` +
      (checks.length ? `<ul class="checks">${checks.join('')}</ul>` : ''),
  );
}

const JOB_COLUMNS: [string, string][] = [
  ['submitted', 'submitted'],
  ['records', 'records'],
  ['succeeded', 'succeeded'],
  ['failed', 'failed'],
  ['missing', 'missing'],
  ['inputTokens', 'input tokens'],
  ['outputTokens', 'output tokens'],
];

function jobsSection(json: Json): string {
  const jobs = (Array.isArray(json.jobs) ? json.jobs : []).filter(isObj);
  if (!jobs.length) return '';
  const numeric = JOB_COLUMNS.filter(([k]) => jobs.some((j) => isNum(j[k])));
  const hasStatus = jobs.some((j) => typeof j.status === 'string');
  const ids = (j: Json): string =>
    Array.isArray(j.jobIds) ? j.jobIds.map(String).join(', ') : typeof j.jobArn === 'string' ? j.jobArn.replace(/^.*\//, '') : '';
  const hasIds = jobs.some((j) => ids(j) !== '');
  const head =
    '<tr><th scope="col">job</th>' +
    (hasStatus ? '<th scope="col">status</th>' : '') +
    (hasIds ? '<th scope="col">Bedrock job</th>' : '') +
    numeric.map(([, label]) => `<th scope="col" class="n">${escapeHtml(label)}</th>`).join('') +
    '</tr>';
  const body = jobs
    .map((j) => {
      const name = String(j.job ?? j.name ?? '');
      return (
        `<tr><th scope="row">${escapeHtml(name)}</th>` +
        (hasStatus ? `<td><span class="status s-${escapeHtml(String(j.status ?? '').toLowerCase().replace(/[^a-z]/g, ''))}">${escapeHtml(j.status ?? '')}</span></td>` : '') +
        (hasIds ? `<td class="id">${escapeHtml(ids(j))}</td>` : '') +
        numeric.map(([k]) => `<td class="n">${isNum(j[k]) ? fig(`job.${name}.${k}`, j[k]) : ''}</td>`).join('') +
        '</tr>'
      );
    })
    .join('');
  return section('jobs', 'Jobs', `<div class="scroll"><table><caption>Status of each batch job</caption><thead>${head}</thead><tbody>${body}</tbody></table></div>`);
}

function countTable(caption: string, prefix: string, entries: [string, number][], keyLabel: string): string {
  if (!entries.length) return '';
  return (
    `<table class="counts"><caption>${escapeHtml(caption)}</caption><thead><tr><th scope="col">${escapeHtml(keyLabel)}</th><th scope="col" class="n">calls</th></tr></thead><tbody>` +
    entries.map(([k, n]) => `<tr><th scope="row"><code>${escapeHtml(k)}</code></th><td class="n">${fig(`${prefix}.${k}`, n)}</td></tr>`).join('') +
    '</tbody></table>'
  );
}

function problemsSection(json: Json): string {
  const parts: string[] = [];
  parts.push(countTable('Rejected before sending, by code', 'rejectsByCode', counts(pickObj(json, 'rejectsByCode')), 'code'));
  parts.push(countTable('Record errors, by code', 'errorsByCode', counts(pickObj(json, 'errorsByCode')), 'code'));
  parts.push(countTable('Missing answers, by reason', 'missingByReason', counts(pickObj(json, 'missingByReason')), 'reason'));
  const dead = isObj(json.deadLetter) ? json.deadLetter : undefined;
  parts.push(countTable('Dead letters (out of attempts), by reason', 'deadLetter.byReason', counts(dead && isObj(dead.byReason) ? dead.byReason : undefined), 'reason'));
  const extra: string[] = [];
  const retry = isObj(json.retry) ? json.retry : undefined;
  if (retry && isNum(retry.records) && retry.records > 0) extra.push(`<li>${fig('retry.records', retry.records)} records to retry${typeof retry.uri === 'string' ? ` in <code>${escapeHtml(retry.uri)}</code>` : ''}</li>`);
  if (dead && isNum(dead.records) && dead.records > 0) extra.push(`<li>${fig('deadLetter.records', dead.records)} dead letters${typeof dead.uri === 'string' ? ` in <code>${escapeHtml(dead.uri)}</code>` : ''}</li>`);
  for (const [k, label] of [
    ['badLines', 'unreadable output lines'],
    ['unknownRecords', 'output lines for records of no lineage'],
    ['duplicates', 'duplicate output lines'],
  ] as const) {
    const n = pick(json, k);
    if (n) extra.push(`<li>${fig(k, n)} ${label}</li>`);
  }
  if (Array.isArray(json.manifestIssues) && json.manifestIssues.length) extra.push(`<li>${fig('manifestIssues', json.manifestIssues.length)} differences between the jobs' manifests and the outputs</li>`);
  if (extra.length) parts.push(`<ul>${extra.join('')}</ul>`);
  const warnings = Array.isArray(json.warnings) ? json.warnings.filter((w) => typeof w === 'string') : [];
  if (warnings.length) parts.push(`<h3>Warnings</h3><ul class="warnings">${warnings.map((w) => `<li>${escapeHtml(w)}</li>`).join('')}</ul>`);
  const body = parts.filter(Boolean).join('');
  return section('problems', 'Rejects and errors', body || '<p>None: no call was rejected and no record failed.</p>');
}

function costSection(json: Json): string {
  const input = pick(json, 'inputTokens');
  const output = pick(json, 'outputTokens');
  const cost = isObj(json.cost) ? json.cost : undefined;
  const rows: string[] = [];
  if (input !== undefined) rows.push(`<tr><th scope="row">input tokens</th><td class="n">${fig('inputTokens', input)}</td></tr>`);
  if (output !== undefined) rows.push(`<tr><th scope="row">output tokens</th><td class="n">${fig('outputTokens', output)}</td></tr>`);
  const currency = cost && typeof cost.currency === 'string' ? cost.currency : 'USD';
  const money = (name: string, n: number) => `<span class="cur">${escapeHtml(currency)}</span> ${fig(name, n)}`;
  if (cost) {
    if (isNum(cost.input)) rows.push(`<tr><th scope="row">estimated cost of input</th><td class="n">${money('cost.input', cost.input)}</td></tr>`);
    if (isNum(cost.output)) rows.push(`<tr><th scope="row">estimated cost of output</th><td class="n">${money('cost.output', cost.output)}</td></tr>`);
    rows.push(
      `<tr class="total"><th scope="row">estimated cost</th><td class="n">${isNum(cost.total) ? money('cost.total', cost.total) : 'unknown (no price for this model)'}</td></tr>`,
    );
  }
  if (!rows.length) return '';
  const label = cost && typeof cost.label === 'string' ? `<p class="note">${escapeHtml(cost.label)}</p>` : '';
  return section(
    'cost',
    'Tokens and estimated cost',
    `<table class="figures"><caption>Tokens read from the outputs</caption><tbody>${rows.join('')}</tbody></table>` +
      `<p class="note"><strong>An estimate</strong>: list batch prices from a price table, not your bill.</p>${label}`,
  );
}

function redactionSection(json: Json): string {
  const red = counts(pickObj(json, 'redacted'));
  const truncated = pick(json, 'truncated');
  if (!red.length && !truncated) return '';
  const parts: string[] = [];
  if (red.length) {
    const total = red.reduce((s, [, n]) => s + n, 0);
    parts.push(
      `<table class="counts"><caption>PII replaced before anything left the machine, by type</caption><thead><tr><th scope="col">type</th><th scope="col" class="n">replaced</th></tr></thead><tbody>` +
        red.map(([k, n]) => `<tr><th scope="row"><code>[${escapeHtml(k.toUpperCase())}]</code></th><td class="n">${fig(`redacted.${k}`, n)}</td></tr>`).join('') +
        `</tbody><tfoot><tr><th scope="row">total</th><td class="n">${fig('redacted.total', total)}</td></tr></tfoot></table>`,
    );
  }
  if (truncated) parts.push(`<p>${fig('truncated', truncated)} calls were too long for the model and were truncated to fit (turns from the middle left out).</p>`);
  return section('privacy', 'Redaction and truncation', parts.join(''));
}

function chartsSection(fields: FieldInfo[]): string {
  const charted = fields.filter((f) => f.type !== 'other' && f.counts);
  if (!charted.length) return '';
  const charts = charted.map((f) => {
    const c = f.counts!;
    const total = f.values.reduce((s, v) => s + (c[v] ?? 0), 0);
    const max = Math.max(1, ...f.values.map((v) => c[v] ?? 0));
    const bars = f.values
      .map((v) => {
        const n = c[v] ?? 0;
        const pct = total ? Math.round((n / total) * 100) : 0;
        const width = ((n / max) * 100).toFixed(1);
        return (
          `<tr><th scope="row">${escapeHtml(v)}</th>` +
          `<td class="barcell"><span class="bar" style="width:${width}%" aria-hidden="true"></span></td>` +
          `<td class="n">${fig(`fields.${f.name}.${v}`, n)}</td>` +
          `<td class="n pct">${fig(`fields.${f.name}.${v}.percent`, pct)}%</td></tr>`
        );
      })
      .join('');
    return (
      `<figure class="chart"><table><caption><code>${escapeHtml(f.name)}</code>${f.description ? ` <span class="desc">${escapeHtml(f.description)}</span>` : ''}</caption>` +
      `<thead><tr><th scope="col">value</th><th scope="col"><span class="sr">bar</span></th><th scope="col" class="n">calls</th><th scope="col" class="n">share</th></tr></thead>` +
      `<tbody>${bars}</tbody><tfoot><tr><th scope="row">valid answers</th><td></td><td class="n">${fig(`fields.${f.name}.total`, total)}</td><td></td></tr></tfoot></table></figure>`
    );
  });
  return section('fields', 'Fields', `<div class="charts">${charts.join('')}</div>`);
}

interface CallsData {
  columns: { kind: 'key' | 'status' | 'job' | 'field' | 'text' | 'error' | 'notes'; name?: string }[];
  rows: ReportRow[];
}

function callsSection(fields: FieldInfo[], rows: readonly ReportRow[], omitted: number): { html: string; data: CallsData } | undefined {
  if (!rows.length && !omitted) return undefined;
  // the summary next to the id, where a reader looks first; the fields after it; the job last
  // (a schema run's answers are their fields: no summary column unless some call has text)
  const columns: CallsData['columns'] = [{ kind: 'key' }, { kind: 'status' }, ...(rows.some((r) => r.text) || fields.length === 0 ? [{ kind: 'text' as const }] : [])];
  for (const f of fields) columns.push({ kind: 'field', name: f.name });
  if (rows.some((r) => r.error)) columns.push({ kind: 'error' });
  if (rows.some((r) => r.job)) columns.push({ kind: 'job' });
  if (rows.some((r) => r.truncated || (r.redacted && Object.keys(r.redacted).length))) columns.push({ kind: 'notes' });
  const label: Record<string, string> = { key: 'call', status: 'status', job: 'job', text: 'summary', error: 'error', notes: 'notes' };
  const head = columns.map((c) => `<th scope="col">${c.kind === 'field' ? `<code>${escapeHtml(c.name)}</code>` : label[c.kind]}</th>`).join('');

  const statuses = [...new Set(rows.map((r) => r.status))].sort();
  const selects = fields
    .filter((f) => f.type !== 'other')
    .map((f, i) => {
      const values = [...f.values];
      for (const r of rows) {
        const v = r.fields?.[f.name];
        if (v !== undefined && v !== null && !values.includes(String(v))) values.push(String(v));
      }
      return (
        `<label for="f-field-${i}"><code>${escapeHtml(f.name)}</code></label>` +
        `<select id="f-field-${i}" class="f-field" data-field="${escapeHtml(f.name)}"><option value="">any</option>` +
        values.map((v) => `<option value="${escapeHtml(v)}">${escapeHtml(v)}</option>`).join('') +
        '</select>'
      );
    })
    .join('');
  const controls =
    `<form class="filters" id="filters" role="search">` +
    `<label for="f-text">Search</label><input id="f-text" type="search" placeholder="call id, summary, field…" autocomplete="off">` +
    `<label for="f-status">status</label><select id="f-status"><option value="">any</option>${statuses.map((s) => `<option value="${escapeHtml(s)}">${escapeHtml(s)}</option>`).join('')}</select>` +
    selects +
    `<button type="reset" id="f-reset">Clear</button></form>`;
  const count =
    `<p id="calls-count" aria-live="polite"><span data-figure="calls.shown">${formatNumber(rows.length)}</span> of ` +
    `<span data-figure="calls.rows">${formatNumber(rows.length)}</span> calls shown` +
    (omitted ? `; ${fig('calls.omitted', omitted)} more calls are in the results file but not in this report` : '') +
    '</p>';
  const html = section(
    'calls',
    'Calls',
    controls +
      count +
      `<noscript><p>The table of calls needs JavaScript; the figures above do not.</p></noscript>` +
      `<div class="scroll"><table id="calls-table"><caption>Calls with their fields and summaries</caption><thead><tr>${head}</tr></thead><tbody id="calls-body"></tbody></table></div>`,
  );
  const kept = rows.map((r) => (r.text !== undefined && r.text.length > REPORT_TEXT_LIMIT ? { ...r, text: `${r.text.slice(0, REPORT_TEXT_LIMIT)}…` } : r));
  return { html, data: { columns, rows: kept } };
}

/** The page's one script: builds the calls table from the embedded JSON with textContent, and filters it. */
const SCRIPT = `(function () {
  'use strict';
  var holder = document.getElementById('calls-data');
  if (!holder) return;
  var data = JSON.parse(holder.textContent);
  var body = document.getElementById('calls-body');
  var text = document.getElementById('f-text');
  var status = document.getElementById('f-status');
  var selects = Array.prototype.slice.call(document.querySelectorAll('select.f-field'));
  var shown = document.querySelector('[data-figure="calls.shown"]');
  function own(o, k) { return o && Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined; }
  function str(v) {
    if (v === undefined || v === null) return '';
    if (Array.isArray(v)) return v.map(str).join('; ');
    if (typeof v === 'object') return JSON.stringify(v);
    return String(v);
  }
  function notes(r) {
    var out = [];
    if (r.truncated) out.push(r.truncated + ' turns omitted');
    if (r.redacted) Object.keys(r.redacted).forEach(function (k) { out.push(r.redacted[k] + ' ' + k + ' redacted'); });
    return out.join(', ');
  }
  var items = data.rows.map(function (r) {
    var tr = document.createElement('tr');
    var hay = [];
    data.columns.forEach(function (c) {
      var cell = document.createElement(c.kind === 'key' ? 'th' : 'td');
      var v;
      if (c.kind === 'key') { cell.setAttribute('scope', 'row'); v = r.key; }
      else if (c.kind === 'status') { v = r.status; cell.className = 'status s-' + String(r.status).toLowerCase().replace(/[^a-z]/g, ''); }
      else if (c.kind === 'job') v = r.job;
      else if (c.kind === 'field') v = own(r.fields, c.name);
      else if (c.kind === 'text') { v = r.text; cell.className = 'text'; }
      else if (c.kind === 'error') { v = r.error; cell.className = 'error'; }
      else { v = notes(r); cell.className = 'notes'; }
      var s = str(v);
      cell.textContent = s;
      hay.push(s);
      tr.appendChild(cell);
    });
    body.appendChild(tr);
    return { row: r, tr: tr, hay: hay.join('\\n').toLowerCase() };
  });
  function apply() {
    var q = text.value.trim().toLowerCase();
    var st = status.value;
    var n = 0;
    items.forEach(function (it) {
      var ok = (!q || it.hay.indexOf(q) >= 0) && (!st || it.row.status === st);
      for (var i = 0; ok && i < selects.length; i++) {
        var want = selects[i].value;
        if (want && str(own(it.row.fields, selects[i].getAttribute('data-field'))) !== want) ok = false;
      }
      it.tr.hidden = !ok;
      if (ok) n++;
    });
    shown.textContent = String(n).replace(/\\B(?=(\\d{3})+(?!\\d))/g, ',');
  }
  text.addEventListener('input', apply);
  status.addEventListener('change', apply);
  selects.forEach(function (s) { s.addEventListener('change', apply); });
  var form = document.getElementById('filters');
  form.addEventListener('submit', function (e) { e.preventDefault(); });
  form.addEventListener('reset', function () { setTimeout(apply, 0); });
  apply();
})();`;

const SCRIPT_HASH = createHash('sha256').update(SCRIPT, 'utf8').digest('base64');

const CSS = `
:root { color-scheme: light dark; --bg: #fff; --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --head: #f6f8fa; --bar: #2f6fbf; --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; }
@media (prefers-color-scheme: dark) { :root { --bg: #0d1117; --fg: #e6edf3; --muted: #9da7b3; --line: #30363d; --head: #161b22; --bar: #58a6ff; --ok: #3fb950; --bad: #f85149; --warn: #d29922; } }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 75rem; padding: 1.5rem; background: var(--bg); color: var(--fg); font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header p { margin: .2rem 0; color: var(--muted); }
h1 { font-size: 1.6rem; margin: 0 0 .4rem; }
h2 { font-size: 1.2rem; margin: 2rem 0 .6rem; border-bottom: 1px solid var(--line); padding-bottom: .3rem; }
h3 { font-size: 1rem; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .92em; }
table { border-collapse: collapse; margin: .5rem 0 1rem; }
caption { text-align: left; font-weight: 600; padding: .2rem 0; color: var(--muted); }
th, td { border-bottom: 1px solid var(--line); padding: .3rem .6rem; text-align: left; vertical-align: top; }
thead th { background: var(--head); }
.n, td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.num { font-variant-numeric: tabular-nums; font-weight: 600; }
.aside, .note, .desc { color: var(--muted); font-weight: normal; }
.checks { list-style: none; padding: 0; }
.checks li.ok .mark, .checks li.ok strong { color: var(--ok); }
.checks li.bad .mark, .checks li.bad strong { color: var(--bad); }
.status.s-completed, .status.s-success { color: var(--ok); }
.status.s-failed, .status.s-error, .status.s-invalid, .status.s-stopped, .status.s-expired { color: var(--bad); }
.status.s-missing, .status.s-partiallycompleted { color: var(--warn); }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(22rem, 1fr)); gap: 1rem; }
figure.chart { margin: 0; }
figure.chart table { width: 100%; }
td.barcell { width: 55%; }
.bar { display: block; height: 1rem; min-width: 1px; background: var(--bar); border-radius: 2px; print-color-adjust: exact; -webkit-print-color-adjust: exact; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.filters { display: flex; flex-wrap: wrap; gap: .4rem .6rem; align-items: center; margin: .5rem 0; }
.filters input, .filters select, .filters button { font: inherit; color: inherit; background: var(--bg); border: 1px solid var(--line); border-radius: 4px; padding: .2rem .4rem; }
.scroll { overflow-x: auto; }
#calls-table td.text { min-width: 20rem; white-space: pre-wrap; }
#calls-table td.notes, #calls-table td.error { min-width: 12rem; }
#calls-table td, #calls-table th { font-size: .9rem; }
td.id { font-family: ui-monospace, monospace; font-size: .85em; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  .filters, noscript { display: none; }
  .scroll { overflow: visible; }
  thead { display: table-header-group; }
  tr, figure.chart { break-inside: avoid; }
  h2 { break-after: avoid; }
}
`;

/**
 * The whole page for a `--json` summary and the calls to list. `schema` (the run's JSON Schema)
 * orders the fields and names enum values that no answer took; `omitted` is how many calls were
 * left out of `rows`.
 */
export function renderReport(json: Record<string, unknown>, rows: readonly ReportRow[], schema?: Record<string, unknown>, omitted = 0, opts: { title?: string } = {}): string {
  const title = opts.title ?? 'bedrock-batch report';
  const fields = fieldInfos(json, rows, schema);
  const model = isObj(json.model) ? json.model : undefined;
  const meta: string[] = [];
  if (model && typeof model.modelId === 'string') meta.push(`model <code>${escapeHtml(model.modelId)}</code>${typeof model.family === 'string' ? ` (${escapeHtml(model.family)})` : ''}`);
  else if (typeof json.model === 'string') meta.push(`model <code>${escapeHtml(json.model)}</code>`);
  if (isNum(json.attempt) && json.attempt > 1) meta.push(`attempt ${fig('attempt', json.attempt)}`);
  if (typeof json.service === 'string') meta.push(`service ${escapeHtml(json.service)}`);
  if (typeof json.quotas === 'string') meta.push(`quota profile ${escapeHtml(json.quotas)}`);
  const structured = isObj(json.structured) ? json.structured : undefined;
  if (structured && typeof structured.name === 'string') meta.push(`schema <code>${escapeHtml(structured.name)}</code>${typeof structured.via === 'string' ? ` asked for by ${escapeHtml(structured.via)}` : ''}`);
  else if (schema && typeof schema.title === 'string') meta.push(`schema <code>${escapeHtml(schema.title)}</code>`);
  const results = isObj(json.results) ? json.results : undefined;
  if (results && typeof results.uri === 'string') meta.push(`results <code>${escapeHtml(results.uri)}</code>`);

  const calls = callsSection(fields, rows, omitted);
  const csp = `default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-${SCRIPT_HASH}'; form-action 'none'; base-uri 'none'`;
  return (
    '<!doctype html>\n' +
    `<html lang="en"><head><meta charset="utf-8">` +
    `<meta http-equiv="Content-Security-Policy" content="${csp}">` +
    `<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="color-scheme" content="light dark">` +
    `<meta name="generator" content="bedrock-batch">` +
    `<title>${escapeHtml(title)}</title><style>${CSS}</style></head>\n<body>` +
    `<header><h1>${escapeHtml(title)}</h1>${meta.map((m) => `<p>${m}</p>`).join('')}</header><main>` +
    reconciliation(json) +
    jobsSection(json) +
    problemsSection(json) +
    costSection(json) +
    redactionSection(json) +
    chartsSection(fields) +
    (calls ? calls.html : '') +
    `</main>` +
    (calls ? `\n<script type="application/json" id="calls-data">${scriptJson(calls.data)}</script>\n<script>${SCRIPT}</script>` : '') +
    '\n</body></html>\n'
  );
}
