/**
 * `--mode auto|on-demand|batch` through submitRun on the embedded local service: a folder below the
 * quota profile's minimum records per job is answered through the Bedrock Runtime (the real
 * BedrockRuntimeClient against the local service's runtime endpoints), into the same output layout
 * as a batch job, recorded in the ledger record by record; collect reads it unchanged and prices it
 * at on-demand rates. And `maxCost` / `confirm`: nothing is created above the ceiling or without a yes.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { submitRun } from '../../src/jobs/submit.js';
import { collectRun } from '../../src/results/run.js';
import { defaultPrices } from '../../src/results/prices.js';
import { BatchError } from '../../src/errors.js';
import { tempDir } from '../support/temp.js';
import { ledgerEvents, localRun, outputLines, prepareCalls, shardIds } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('on-demand-'));
});
afterEach(async () => {
  await cleanup();
});

/** The BatchError a promise rejects with. */
async function thrownBatchError(p: Promise<unknown>): Promise<BatchError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof BatchError) return err;
    throw err;
  }
  throw new Error('expected a BatchError, but it resolved');
}


describe('on demand below the minimum (mode auto)', () => {
  it('answers a run below the minimum through the runtime, in the batch output layout, recorded per record', async () => {
    const run = join(dir, 'batch');
    const out = join(dir, 'out');
    const p = await prepareCalls(run, 30, 100, { minPerJob: 50 });
    expect(p.problem?.code).toBe('E_BELOW_MIN_RECORDS');
    const result = await submitRun(localRun(run, out)).done();
    expect(result).toMatchObject({ ok: true, finished: true, created: 0, remaining: 0, collectReady: true });
    expect(result.jobs).toHaveLength(1);
    const job = result.jobs[0]!;
    expect(job.mode).toBe('on-demand');
    expect(job.status).toBe('Completed');
    expect(job.records).toEqual({ total: 30, processed: 30, success: 30, error: 0 });
    expect(job.jobId).toMatch(/^on-demand-[0-9a-f]{10}$/);
    expect(result.onDemand).toMatchObject({ jobs: 1, records: 30, requests: 30, resumed: 0 });
    // the same layout as a batch job: <out>/<jobId>/<shard>.out and manifest.json.out
    const lines = await outputLines(job.output!);
    expect(lines.map((l) => l.recordId).sort()).toEqual(shardIds(run, 'job-0001').sort());
    expect(lines.every((l) => l.modelInput && l.modelOutput.content[0].text.startsWith('[local stand-in]'))).toBe(true);
    const manifest = JSON.parse(readFileSync(join(out, job.jobId!, 'manifest.json.out'), 'utf8'));
    expect(manifest).toMatchObject({ totalRecordCount: 30, processedRecordCount: 30, successRecordCount: 30, errorRecordCount: 0 });
    // the ledger: claimed, every record answered (ids only), done; no text
    const events = ledgerEvents(join(run, 'ledger.jsonl'));
    const mine = events.filter((e) => e.job === 'job-0001');
    expect(mine[0]).toMatchObject({ event: 'on-demand', jobArn: `on-demand/${job.jobId}`, modelId: 'anthropic.claude-3-haiku-20240307-v1:0' });
    expect(mine[0].reason).toContain('below the minimum of 50');
    const answered = mine.filter((e) => e.event === 'answered').flatMap((e) => e.records as string[]);
    expect(answered.sort()).toEqual(shardIds(run, 'job-0001').sort());
    expect(mine.at(-1)).toMatchObject({ event: 'done', status: 'Completed' });
    expect(JSON.stringify(events)).not.toContain('[local stand-in]');
    // the spool (answers waiting for the outputs) is gone once the outputs are written
    const spool = join(run, 'on-demand', 'job-0001');
    expect(existsSync(spool) ? readdirSync(spool, { recursive: true }).filter((f) => String(f).endsWith('.json')) : []).toEqual([]);

    // collect, unchanged, reads it; the cost is at on-demand prices (twice the batch price)
    const c = await collectRun({ outputs: out, prepared: run, results: join(dir, 'results.jsonl'), prices: defaultPrices(), maxAttempts: 3 });
    expect(c.collect).toMatchObject({ submitted: 30, succeeded: 30, failed: 0, missing: 0 });
    expect(c.cost.jobs[0]!.mode).toBe('on-demand');
    expect(c.cost.label).toContain('on-demand');
    const t = c.cost.total;
    const batchPrice = defaultPrices().models.find((m) => m.match === 'anthropic.claude-3-haiku')!;
    expect(t.cost!.total).toBeCloseTo((t.inputTokens * batchPrice.input + t.outputTokens * batchPrice.output) / 1000, 9);

    // again: nothing is asked twice
    const again = await submitRun(localRun(run, out)).done();
    expect(again.onDemand).toMatchObject({ jobs: 0, requests: 0 });
    expect(ledgerEvents(join(run, 'ledger.jsonl'))).toHaveLength(events.length);
  });

  it('refuses a run below the minimum with --mode batch, saying how to go on', async () => {
    const run = join(dir, 'batch');
    await prepareCalls(run, 12, 100, { minPerJob: 50 });
    const err = await thrownBatchError(submitRun(localRun(run, join(dir, 'out'), { mode: 'batch' })).done());
    expect(err.code).toBe('E_NOT_PREPARED');
    expect(err.hint).toContain('--mode auto');
    expect(existsSync(join(run, 'ledger.jsonl'))).toBe(false);
  });

  it('sends only the small last folder on demand when the others are big enough, and every folder with --mode on-demand', async () => {
    const run = join(dir, 'batch');
    // 25 calls, 10 per job, min 10: job-0003 holds 5 and cannot be rebalanced (job-0002 would drop below 10)
    const p = await prepareCalls(run, 25, 10, { minPerJob: 10 });
    expect(p.problem?.code).toBe('E_CANNOT_REBALANCE');
    const result = await submitRun(localRun(run, join(dir, 'out'))).done();
    expect(result.jobs.map((j) => [j.job, j.mode, j.status])).toEqual([
      ['job-0001', 'batch', 'Completed'],
      ['job-0002', 'batch', 'Completed'],
      ['job-0003', 'on-demand', 'Completed'],
    ]);
    expect(result.created).toBe(2);

    const run2 = join(dir, 'batch2');
    await prepareCalls(run2, 20, 10, { minPerJob: 10 });
    const forced = await submitRun(localRun(run2, join(dir, 'out2'), { mode: 'on-demand' })).done();
    expect(forced.jobs.map((j) => j.mode)).toEqual(['on-demand', 'on-demand']);
    expect(forced.created).toBe(0);
    expect(forced.onDemand.requests).toBe(20);
  });
});

describe('on demand, interrupted and claimed', () => {
  it('resumes an interrupted folder at once: the answers kept, only the rest asked', async () => {
    const run = join(dir, 'batch');
    const out = join(dir, 'out');
    await prepareCalls(run, 40, 100, { minPerJob: 100 });
    const controller = new AbortController();
    const first = submitRun(localRun(run, out, { signal: controller.signal, onDemand: { concurrency: 2 }, localService: { delays: { record: 15 } } }));
    first.on('progress', (p: { records: { processed: number } }) => {
      if (p.records.processed >= 10) controller.abort(new Error('interrupted'));
    });
    await expect(first.done()).rejects.toThrow('interrupted');
    const events = ledgerEvents(join(run, 'ledger.jsonl'));
    expect(events.at(-1)).toMatchObject({ event: 'released', job: 'job-0001' });
    const answeredBefore = new Set(events.filter((e) => e.event === 'answered').flatMap((e) => e.records as string[]));
    expect(answeredBefore.size).toBeGreaterThanOrEqual(10);

    const again = await submitRun(localRun(run, out)).done();
    expect(again.ok).toBe(true);
    expect(again.onDemand.resumed).toBeGreaterThanOrEqual(answeredBefore.size);
    expect(again.onDemand.requests).toBe(40 - again.onDemand.resumed);
    const lines = await outputLines(again.jobs[0]!.output!);
    expect(lines.map((l) => l.recordId).sort()).toEqual(shardIds(run, 'job-0001').sort());
  });

  it('takes over the claim of a killed process on this machine, and leaves a live one of another machine alone', async () => {
    const run = join(dir, 'batch');
    const out = join(dir, 'out');
    await prepareCalls(run, 12, 100, { minPerJob: 100 });
    const { Ledger } = await import('../../src/jobs/ledger.js');
    const { hostname } = await import('node:os');
    const claim = (owner: string) => ({ event: 'on-demand' as const, job: 'job-0001', jobName: 'x', token: 't', jobArn: 'on-demand/on-demand-0000000000', input: 'i', output: 'o', modelId: 'm', reason: 'r', owner });
    const ledger = await Ledger.open(join(run, 'ledger.jsonl'));
    await ledger.append(claim('build-host-7:4242:deadbeef'));
    await ledger.close();
    const err = await thrownBatchError(submitRun(localRun(run, out)).done());
    expect(err.code).toBe('E_LEDGER_CLAIM');
    expect(existsSync(out) ? readdirSync(out) : []).toEqual([]); // nothing asked

    const run2 = join(dir, 'batch2');
    await prepareCalls(run2, 12, 100, { minPerJob: 100 });
    const l2 = await Ledger.open(join(run2, 'ledger.jsonl'));
    await l2.append(claim(`${hostname()}:2147483646:deadbeef`)); // a process id no process has
    await l2.close();
    const taken = await submitRun(localRun(run2, join(dir, 'out2'))).done();
    expect(taken.jobs[0]).toMatchObject({ mode: 'on-demand', status: 'Completed' });
  });
});

describe('--max-cost and the question before submitting', () => {
  it('creates nothing above the ceiling, and says the estimate and how to lower it', async () => {
    const run = join(dir, 'batch');
    await prepareCalls(run, 30, 10);
    const err = await thrownBatchError(submitRun(localRun(run, join(dir, 'out'), { maxCost: 0.0001 })).done());
    expect(err.code).toBe('E_OVER_BUDGET');
    expect(err.message).toMatch(/may cost up to \$[0-9.]+ \(input ~[0-9,]+ tokens .*output budget [0-9,]+ tokens .*above --max-cost \$0\.00010: nothing was submitted/);
    expect(err.hint).toMatch(/--max-tokens|--fit truncate/);
    const events = ledgerEvents(join(run, 'ledger.jsonl'));
    expect(events.filter((e) => e.event !== 'run')).toEqual([]); // no job claimed, none created
  });

  it('goes on under the ceiling, and prices on-demand folders at full price', async () => {
    const run = join(dir, 'batch');
    await prepareCalls(run, 25, 10, { minPerJob: 10 }); // job-0003 (5 records) goes on demand
    const result = await submitRun(localRun(run, join(dir, 'out'), { maxCost: 5 })).done();
    expect(result.ok).toBe(true);
    const b = result.budget!;
    expect(b.maxCost).toBe(5);
    expect(b.batch).toMatchObject({ jobs: 2, records: 20 });
    expect(b.onDemand).toMatchObject({ jobs: 1, records: 5 });
    expect(b.cost!.total).toBeLessThanOrEqual(5);
    // per record, the on-demand folder costs twice what a batch folder does (records are alike)
    expect(b.onDemand.cost! / 5).toBeGreaterThan(1.5 * (b.batch.cost! / 20));
  });

  it('asks once with the estimate before creating anything, and a no creates nothing', async () => {
    const run = join(dir, 'batch');
    await prepareCalls(run, 30, 10);
    const asked: number[] = [];
    const err = await thrownBatchError(
      submitRun(
        localRun(run, join(dir, 'out'), {
          confirm: async (b) => {
            asked.push(b.records);
            return false;
          },
        }),
      ).done(),
    );
    expect(err.code).toBe('E_CANCELLED');
    expect(asked).toEqual([30]);
    expect(ledgerEvents(join(run, 'ledger.jsonl')).filter((e) => e.event !== 'run')).toEqual([]);
    const yes = await submitRun(localRun(run, join(dir, 'out'), { confirm: async () => true })).done();
    expect(yes.created).toBe(3);
  });

  it('refuses a ceiling it cannot check (no price for the model)', async () => {
    const run = join(dir, 'batch');
    await prepareCalls(run, 12, 10);
    const prices = { ...defaultPrices(), models: [] };
    const err = await thrownBatchError(submitRun(localRun(run, join(dir, 'out'), { maxCost: 10, prices })).done());
    expect(err.code).toBe('E_NO_PRICE');
  });
});
