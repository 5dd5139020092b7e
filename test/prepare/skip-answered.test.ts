/**
 * `--skip-answered` (docs/daily-exports.md): two daily exports that overlap, run through prepare,
 * the embedded local Bedrock service and collect. Day 1 holds calls 1..300, day 2 calls 201..450:
 * day 2 skips the 100 calls day 1 answered (same model, same request), writes 150, and its results
 * hold all 250, the 100 reused ones with day 1's answers. A changed prompt, another model, an error
 * row, a row without a request hash: nothing skipped. Sources: a JSONL or CSV results file, a run
 * folder, an S3 object and an S3 run folder (moto's S3 server). Every call of a day is exactly one
 * record, one reject or one skip.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quotaProfile } from '../../src/bedrock/quotas.js';
import { submitRun } from '../../src/jobs/submit.js';
import { prepareRun, type PrepareRunOptions, type PrepareSummary } from '../../src/prepare.js';
import { collectRun, type CollectRunSummary } from '../../src/results/run.js';
import { openStore } from '../../src/stores/index.js';
import { adaptCalls, callStages, promptCalls } from '../../transforms/index.js';
import { FAST_LOCAL, QUICK } from '../jobs/helpers.js';
import { startMoto, type MotoServer } from '../support/moto.js';
import { useTempDir } from '../support/temp.js';
import { cli, MODEL, readRun } from './helpers.js';

const tmp = useTempDir('skip-answered-', { shared: true });

/** The transcript of call n: the same text on every day it is exported (quotes, commas, é, a phone number). */
function transcript(n: number): string {
  return (
    `Agent: Thanks for calling, this is desk ${n % 7}. How can I help?\n` +
    `Customer: My order ${n} arrived "damaged", naïve packaging — call me at 415-555-${String(1000 + (n % 9000)).padStart(4, '0')}.\n` +
    `Agent: I have sent a replacement for order ${n}; you will get a tracking e-mail.`
  );
}

/** An export of calls `from`..`to` (one call per row). */
function exportCsv(from: number, to: number): string {
  let csv = 'call_id,agent,transcript\n';
  for (let n = from; n <= to; n++) csv += `call-${n},Agent ${n % 5},"${transcript(n).replace(/"/g, '""')}"\n`;
  return csv;
}

const keys = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `call-${from + i}`);

async function rows(path: string): Promise<Record<string, unknown>[]> {
  return (await readFile(path, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function jsonl(path: string, list: Record<string, unknown>[]): Promise<void> {
  await writeFile(path, list.map((r) => JSON.stringify(r) + '\n').join(''));
}

type Style = 'stages' | 'steps';

/** prepare: the call stages on this thread in small pieces (record batches), or adapt/prompt steps (records one by one). */
function prepare(input: string, out: string, extra: Partial<PrepareRunOptions> = {}, style: Style = 'stages', system?: string): Promise<PrepareSummary> {
  const prompt = system !== undefined ? { system } : {};
  return prepareRun({
    inputs: [input],
    out,
    ...(style === 'stages' ? { stages: callStages({ prompt }), workers: 0, pieceBytes: 4096 } : { adapt: adaptCalls(), prompt: promptCalls(prompt) }),
    model: { modelId: MODEL, maxTokens: 300 },
    quotas: quotaProfile('local', { maxRecordsPerFile: 120 }),
    ...extra,
  });
}

/** submit on the in-process local service, then collect into `results`. */
async function submitAndCollect(run: string, out: string, results: string): Promise<CollectRunSummary> {
  await submitRun({ run, output: out, ...QUICK, localService: FAST_LOCAL }).done();
  return collectRun({ outputs: out, prepared: run, results });
}

/** Every key of the export is exactly one lineage line, one reject or one reused row, and nothing else is. */
async function accounted(run: string, expected: string[]): Promise<{ written: string[]; rejected: string[]; reused: string[] }> {
  const files = await readRun(run);
  const written = [...files.lineage.values()].flatMap((t) => t.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { key: string }).key));
  const rejected = files.rejects.map((l) => (JSON.parse(l) as { key: string }).key);
  const reused = await readFile(join(run, 'reused.jsonl'), 'utf8').then(
    (t) => t.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { key: string }).key),
    () => [] as string[],
  );
  const all = [...written, ...rejected, ...reused];
  expect(all.length, 'each call once').toBe(new Set(all).size);
  expect([...all].sort()).toEqual([...expected].sort());
  return { written, rejected, reused };
}

describe('two daily exports that overlap', () => {
  let day1: string;
  let day2: string;
  let results1: string;
  let byKey1: Map<string, Record<string, unknown>>;

  beforeAll(async () => {
    day1 = join(tmp.dir, 'day-1.csv');
    day2 = join(tmp.dir, 'day-2.csv');
    await writeFile(day1, exportCsv(1, 300));
    await writeFile(day2, exportCsv(201, 450));
    const run1 = join(tmp.dir, 'run-1');
    const s1 = await prepare(day1, run1);
    expect(s1).toMatchObject({ read: 300, written: 300, rejected: 0, skipped: 0 });
    results1 = join(tmp.dir, 'results-1.jsonl');
    const c1 = await submitAndCollect(run1, join(tmp.dir, 'out-1'), results1);
    expect(c1.collect).toMatchObject({ submitted: 300, succeeded: 300, reused: 0 });
    byKey1 = new Map((await rows(results1)).map((r) => [r.key as string, r]));
  }, 120_000);

  it('day 2 skips the 100 calls day 1 answered, writes 150, and its results hold all 250', { timeout: 120_000 }, async () => {
    // every day-1 row carries its request hash and reused: false
    for (const r of byKey1.values()) {
      expect(r.request).toMatch(/^[0-9a-f]{32}$/);
      expect(r.reused).toBe(false);
    }
    const run2 = join(tmp.dir, 'run-2');
    const s2 = await prepare(day2, run2, { skipAnswered: [results1] });
    expect(s2).toMatchObject({ read: 250, written: 150, rejected: 0, skipped: 100 });
    expect(s2.read).toBe(s2.written + s2.rejected + s2.skipped);
    expect(s2.reused).toMatchObject({ key: 'reused.jsonl', records: 100, indexed: 300, notes: [] });
    expect(s2.reused!.sources).toEqual([{ source: results1, file: results1, rows: 300, indexed: 300, notAnswered: 0, otherModel: 0, noRequest: 0, unreadable: 0 }]);
    expect(s2.parallel.fused).toBe(0); // the fused path is off with --skip-answered
    const prepared = JSON.parse(await readFile(join(run2, 'prepared.json'), 'utf8'));
    expect(prepared).toMatchObject({ read: 250, written: 150, skipped: 100, submittable: true, reused: { key: 'reused.jsonl', records: 100 } });
    expect(prepared.skippedAll).toBeUndefined();

    const parts = await accounted(run2, keys(201, 450));
    expect(parts.reused.sort()).toEqual(keys(201, 300).sort());
    expect(parts.written.sort()).toEqual(keys(301, 450).sort());
    // the sidecar: day 1's rows as they were, plus where they came from
    for (const r of await rows(join(run2, 'reused.jsonl'))) {
      const { reusedFrom, ...row } = r;
      expect(reusedFrom).toBe(results1);
      expect(row).toEqual(byKey1.get(r.key as string));
    }

    const results2 = join(tmp.dir, 'results-2.jsonl');
    const c2 = await submitAndCollect(run2, join(tmp.dir, 'out-2'), results2);
    expect(c2.collect).toMatchObject({ submitted: 150, succeeded: 150, failed: 0, missing: 0, reused: 100 });
    expect(c2.results.records).toBe(c2.collect.submitted + c2.collect.reused);
    const got = await rows(results2);
    expect(got).toHaveLength(250);
    expect(new Set(got.map((r) => r.key)).size).toBe(250);
    const reused = got.filter((r) => r.reused === true);
    const own = got.filter((r) => r.reused === false);
    expect(reused).toHaveLength(100);
    expect(own).toHaveLength(150);
    // a key is reused or answered, never both
    expect(own.filter((r) => reused.some((x) => x.key === r.key))).toEqual([]);
    for (const r of reused) {
      const before = byKey1.get(r.key as string)!;
      expect(r).toMatchObject({ status: 'success', text: before.text, model: before.model, request: before.request, recordId: before.recordId, reusedFrom: results1 });
    }
    // the same request hash for the same call, asked on day 1 or day 2
    const fresh1 = [...byKey1.values()].find((r) => r.key === 'call-300')!;
    const reusedRow = reused.find((r) => r.key === 'call-300')!;
    expect(reusedRow.request).toBe(fresh1.request);

    // day 3: all of it answered before, in day 2's results (its reused rows count too): a complete run with no job
    const day3 = join(tmp.dir, 'day-3.csv');
    await writeFile(day3, exportCsv(251, 400));
    const run3 = join(tmp.dir, 'run-3');
    const s3 = await prepare(day3, run3, { skipAnswered: [results2] });
    expect(s3).toMatchObject({ read: 150, written: 0, skipped: 150, skippedAll: true, submittable: false, jobs: [] });
    expect(s3.problem).toBeUndefined();
    expect(JSON.parse(await readFile(join(run3, 'prepared.json'), 'utf8'))).toMatchObject({ skippedAll: true, written: 0, skipped: 150, submittable: false });
    await accounted(run3, keys(251, 400));
    const results3 = join(tmp.dir, 'results-3.csv');
    const c3 = await collectRun({ outputs: join(tmp.dir, 'out-3'), prepared: run3, results: results3 });
    expect(c3.collect).toMatchObject({ submitted: 0, succeeded: 0, reused: 150 });
    expect(c3.results.records).toBe(150);
    const csv = (await readFile(results3, 'utf8')).split('\n');
    const header = csv[0]!.split(',');
    expect(header).toContain('request');
    expect(header).toContain('reused');
    expect(csv.filter((l, i) => i > 0 && l.includes(',true'))).not.toHaveLength(0);
  });

  it('the record-by-record path (adapt and prompt steps) skips the same calls, and the batch path keeps the counts of the calls it writes', async () => {
    const steps = await prepare(day2, join(tmp.dir, 'steps'), { skipAnswered: [results1] }, 'steps');
    expect(steps).toMatchObject({ read: 250, written: 150, skipped: 100 });
    const stepsRun = await readRun(join(tmp.dir, 'steps'));
    const batch = await readRun(join(tmp.dir, 'run-2'));
    expect([...stepsRun.shards.values()]).toEqual([...batch.shards.values()]);
    // the new calls alone, prepared without --skip-answered: the same output budgets; input tokens within a token per skipped call
    await writeFile(join(tmp.dir, 'new-only.csv'), exportCsv(301, 450));
    const alone = await prepare(join(tmp.dir, 'new-only.csv'), join(tmp.dir, 'new-only'));
    const skipping = await prepare(day2, join(tmp.dir, 'batch-again'), { skipAnswered: [results1] });
    expect(skipping.maxOutputTokens).toBe(alone.maxOutputTokens);
    expect(Math.abs(skipping.inputTokens - alone.inputTokens)).toBeLessThanOrEqual(skipping.skipped);
    expect(steps.inputTokens).toBe(alone.inputTokens);
  });

  it('PII counts are those of the calls written (redaction before the request is compared)', async () => {
    const r1 = join(tmp.dir, 'redact-1');
    await prepareRun({ inputs: [day1], out: r1, stages: callStages({ redact: {} }), workers: 0, pieceBytes: 4096, model: { modelId: MODEL, maxTokens: 300 }, quotas: quotaProfile('local') });
    const res = join(tmp.dir, 'redact-1.jsonl');
    await submitAndCollect(r1, join(tmp.dir, 'redact-out'), res);
    const common = { stages: callStages({ redact: {} }), workers: 0, pieceBytes: 4096, model: { modelId: MODEL, maxTokens: 300 }, quotas: quotaProfile('local') };
    const s = await prepareRun({ inputs: [day2], out: join(tmp.dir, 'redact-2'), ...common, skipAnswered: [res] });
    const alone = await prepareRun({ inputs: [join(tmp.dir, 'new-only.csv')], out: join(tmp.dir, 'redact-alone'), ...common });
    expect(s).toMatchObject({ written: 150, skipped: 100 });
    expect(s.redacted).toEqual(alone.redacted);
    expect(Object.keys(s.redacted).length).toBeGreaterThan(0);
    // an unredacted run asks for other text: nothing of the redacted day is reused
    expect(await prepare(day2, join(tmp.dir, 'plain-2'), { skipAnswered: [res] })).toMatchObject({ written: 250, skipped: 0 });
  }, 60_000);

  it('a changed prompt or another model asks another request: nothing is skipped', async () => {
    const changed = await prepare(day2, join(tmp.dir, 'system'), { skipAnswered: [results1] }, 'stages', 'You summarise calls in French.');
    expect(changed).toMatchObject({ read: 250, written: 250, skipped: 0 });
    expect(changed.reused).toMatchObject({ records: 0, indexed: 300 });
    await expect(readFile(join(tmp.dir, 'system', 'reused.jsonl'))).rejects.toThrow(/ENOENT/);
    const other = await prepare(day2, join(tmp.dir, 'other-model'), { skipAnswered: [results1], model: { modelId: 'anthropic.claude-3-5-haiku-20241022-v1:0', maxTokens: 300 } });
    expect(other).toMatchObject({ written: 250, skipped: 0 });
    expect(other.reused!.sources[0]).toMatchObject({ rows: 300, otherModel: 300, indexed: 0 });
    // a cross-region profile of the same model is the same model
    const profile = await prepare(day2, join(tmp.dir, 'profile'), { skipAnswered: [results1], model: { modelId: `us.${MODEL}`, maxTokens: 300 } });
    expect(profile).toMatchObject({ written: 150, skipped: 100 });
  });

  it('an error row is not an answer; rows without a request hash are counted, named and never reused', async () => {
    const all = [...byKey1.values()];
    const edited = all.map((r) => (r.key === 'call-210' || r.key === 'call-211' ? { ...r, status: 'error', text: undefined, errorCode: 500 } : r));
    const withErrors = join(tmp.dir, 'errors.jsonl');
    await jsonl(withErrors, edited);
    const s = await prepare(day2, join(tmp.dir, 'errors'), { skipAnswered: [withErrors] });
    expect(s).toMatchObject({ written: 152, skipped: 98 });
    expect(s.reused!.sources[0]).toMatchObject({ notAnswered: 2, indexed: 298 });
    const parts = await accounted(join(tmp.dir, 'errors'), keys(201, 450));
    expect(parts.written).toContain('call-210');

    const old = join(tmp.dir, 'old.jsonl');
    await jsonl(old, all.map(({ request: _r, reused: _u, ...r }) => r));
    const o = await prepare(day2, join(tmp.dir, 'old'), { skipAnswered: [old] });
    expect(o).toMatchObject({ written: 250, skipped: 0 });
    expect(o.reused!.sources[0]).toMatchObject({ rows: 300, noRequest: 300, indexed: 0 });
    expect(o.reused!.notes).toEqual([`300 rows of ${old} have no request hash: their run was prepared before prepare recorded one; they are not reused`]);

    // a later source's answer wins on a key, but a later error does not undo an earlier answer
    const later = await prepare(day2, join(tmp.dir, 'later'), { skipAnswered: [results1, withErrors] });
    expect(later).toMatchObject({ skipped: 100 });
    const from = new Map((await rows(join(tmp.dir, 'later', 'reused.jsonl'))).map((r) => [r.key, r.reusedFrom]));
    expect(from.get('call-210')).toBe(results1);
    expect(from.get('call-212')).toBe(withErrors);
  });

  it('sources: a CSV results file, a run folder, several at once; a folder without results is refused by name', async () => {
    const run1 = join(tmp.dir, 'run-1');
    const csv = join(tmp.dir, 'results-1.csv');
    await collectRun({ outputs: join(tmp.dir, 'out-1'), prepared: run1, results: csv, retry: false });
    const s = await prepare(day2, join(tmp.dir, 'from-csv'), { skipAnswered: [csv] });
    expect(s).toMatchObject({ written: 150, skipped: 100 });
    expect(s.reused!.sources[0]).toMatchObject({ file: csv, rows: 300, indexed: 300 });
    // the CSV row comes back as a results row: numbers as numbers, reused as a boolean, the same text
    for (const r of await rows(join(tmp.dir, 'from-csv', 'reused.jsonl'))) {
      const before = byKey1.get(r.key as string)!;
      expect(r).toMatchObject({ text: before.text, inputTokens: before.inputTokens, line: before.line, request: before.request, reused: false, reusedFrom: csv });
    }

    // a run folder: `run --work` layout (run.json listing its results), and a folder with results.jsonl
    const work = join(tmp.dir, 'work');
    await mkdir(work, { recursive: true });
    await writeFile(join(work, 'results.jsonl'), await readFile(results1));
    await writeFile(join(work, 'run.json'), JSON.stringify({ version: 1, tool: 'bedrock-batch run', createdAt: '', batch: 'batch', output: 'out', results: [join(work, 'results.jsonl')] }));
    const f = await prepare(day2, join(tmp.dir, 'from-folder'), { skipAnswered: [work] });
    expect(f).toMatchObject({ written: 150, skipped: 100 });
    expect(f.reused!.sources.map((x) => x.file)).toEqual([join(work, 'results.jsonl')]);
    const both = await prepare(day2, join(tmp.dir, 'from-both'), { skipAnswered: [csv, work] });
    expect(both).toMatchObject({ written: 150, skipped: 100 });
    expect(both.reused!.sources).toHaveLength(2);
    expect(await rows(join(tmp.dir, 'from-both', 'reused.jsonl')).then((r) => new Set(r.map((x) => x.reusedFrom)))).toEqual(new Set([join(work, 'results.jsonl')]));

    const empty = join(tmp.dir, 'empty-folder');
    await mkdir(empty, { recursive: true });
    await expect(prepare(day2, join(tmp.dir, 'refused'), { skipAnswered: [empty] })).rejects.toMatchObject({ code: 'E_NO_INPUT', message: expect.stringContaining(empty) });
    await expect(prepare(day2, join(tmp.dir, 'refused'), { skipAnswered: [join(tmp.dir, 'nope.jsonl')] })).rejects.toMatchObject({ code: 'E_NO_INPUT' });
    // refused before anything was written
    await expect(readFile(join(tmp.dir, 'refused', 'prepared.json'))).rejects.toThrow(/ENOENT/);
  });

  it('the CLI: --skip-answered takes several sources; the summary and --json say what was skipped, and why some rows were not used', { timeout: 60_000 }, async () => {
    const old = join(tmp.dir, 'old-cli.jsonl');
    await jsonl(old, [...byKey1.values()].slice(0, 3).map(({ request: _r, ...r }) => r));
    const out = join(tmp.dir, 'cli-run');
    const r = await cli(['prepare', day2, '-o', out, '--quotas', 'local', '--max-tokens', '300', '--skip-answered', results1, old, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(r.stdout);
    expect(json).toMatchObject({ read: 250, written: 150, rejected: 0, skipped: 100, reused: { records: 100, indexed: 300 } });
    expect(json.reused.sources.map((x: { file: string }) => x.file)).toEqual([results1, old]);
    expect(json.reused.notes).toEqual([expect.stringMatching(/^3 rows of .*old-cli\.jsonl have no request hash/)]);
    const again = await cli(['prepare', day2, '-o', out, '--overwrite', '--quotas', 'local', '--max-tokens', '300', '--skip-answered', results1, '--skip-answered', old]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/skipped: {2}100 answered before with the same model and request \(of 300 answers in 2 results files\); their answers -> .*reused\.jsonl/);
    expect(again.stderr).toMatch(/note: {5}3 rows of .*old-cli\.jsonl have no request hash/);
  });

  describe('sources in S3 (moto)', () => {
    let s3: MotoServer;
    beforeAll(async () => {
      s3 = await startMoto();
      await s3.createBucket('answers');
    });
    afterAll(async () => {
      await s3?.stop();
    });

    it('an s3:// results file (gzipped) and an s3:// run folder', async () => {
      const { gzipSync } = await import('node:zlib');
      const store = openStore('s3://answers/', s3.clientOptions);
      const put = async (key: string, body: Buffer) => {
        const w = store.createWriteStream(key);
        await new Promise<void>((resolve, reject) => {
          w.once('error', reject);
          w.end(body, () => resolve());
        });
      };
      await put('daily/2024-05-01/results.jsonl.gz', gzipSync(await readFile(results1)));
      await put('work-1/results.jsonl', await readFile(results1));
      const file = await prepare(day2, join(tmp.dir, 's3-file'), { skipAnswered: ['s3://answers/daily/2024-05-01/results.jsonl.gz'], s3: s3.clientOptions });
      expect(file).toMatchObject({ written: 150, skipped: 100 });
      const folder = await prepare(day2, join(tmp.dir, 's3-folder'), { skipAnswered: ['s3://answers/work-1/'], s3: s3.clientOptions });
      expect(folder).toMatchObject({ written: 150, skipped: 100 });
      expect(folder.reused!.sources[0]!.file).toBe('s3://answers/work-1/results.jsonl');
      await expect(prepare(day2, join(tmp.dir, 's3-none'), { skipAnswered: ['s3://answers/nothing/'], s3: s3.clientOptions })).rejects.toMatchObject({ code: 'E_NO_INPUT' });
    }, 60_000);
  });
});
