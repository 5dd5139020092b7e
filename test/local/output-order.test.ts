/**
 * Output lines come out shuffled, as Bedrock does not keep the input order (docs/bedrock.md §1.1):
 * seeded per job and file, within a bounded window (src/local/output-order.ts), every record once;
 * `outputOrder: { order: 'input' }` (`serve --keep-order`) keeps the input order. A stopped job's
 * files hold every record it counted as processed, those the shuffle held back included.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateModelInvocationJobCommand, StopModelInvocationJobCommand } from '@aws-sdk/client-bedrock';
import { describe, expect, it } from 'vitest';
import { lineOrder, normalizeOutputOrder } from '../../src/local/output-order.js';
import { useTempDir } from '../support/temp.js';
import { createInput, jsonl, put, recordId, useLocalService, waitFor } from './helpers.js';

const tmp = useTempDir('order-');
const service = useLocalService();

const ids = (text: string) =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => (JSON.parse(l) as { recordId: string }).recordId);

/** Every line `order` writes for `lines`, in write order, and the most it held back at once. */
function run(order: ReturnType<typeof lineOrder>, lines: string[]): { out: string[]; most: number } {
  const out: string[] = [];
  let most = 0;
  for (const l of lines) {
    out.push(...order.add(l));
    most = Math.max(most, order.held);
  }
  out.push(...order.drain());
  return { out, most };
}

describe('the order of one file (unit)', () => {
  const lines = Array.from({ length: 5000 }, (_, i) => `line ${i}\n`);

  it('writes every line once, in an order set by the seed, the job and the file', () => {
    const order = normalizeOutputOrder();
    const a = run(lineOrder(order, 'job000000001', 'a.jsonl'), lines).out;
    expect([...a].sort()).toEqual([...lines].sort());
    expect(a).not.toEqual(lines);
    expect(run(lineOrder(order, 'job000000001', 'a.jsonl'), lines).out).toEqual(a);
    expect(run(lineOrder(order, 'job000000002', 'a.jsonl'), lines).out).not.toEqual(a);
    expect(run(lineOrder(order, 'job000000001', 'b.jsonl'), lines).out).not.toEqual(a);
    expect(run(lineOrder(normalizeOutputOrder({ seed: 2 }), 'job000000001', 'a.jsonl'), lines).out).not.toEqual(a);
  });

  it('holds at most `window` lines, so a line moves up to about a window earlier, and anywhere later', () => {
    const { out, most } = run(lineOrder(normalizeOutputOrder({ window: 50 }), 'j', 'a.jsonl'), lines);
    expect(most).toBeLessThanOrEqual(50);
    const at = new Map(out.map((l, i) => [l, i]));
    const moves = lines.map((l, i) => at.get(l)! - i);
    expect(Math.min(...moves)).toBeGreaterThanOrEqual(-50);
    expect(Math.max(...moves)).toBeGreaterThan(50);
  });

  it('holds at most `windowBytes` bytes (a longer line goes straight out)', () => {
    const big = Array.from({ length: 200 }, (_, i) => `${String(i).padStart(4, '0')}${'é'.repeat(500)}\n`); // 1,006 bytes each
    const order = lineOrder(normalizeOutputOrder({ window: 1000, windowBytes: 10_000 }), 'j', 'a.jsonl');
    const { out, most } = run(order, big);
    expect(most).toBeLessThanOrEqual(9);
    expect([...out].sort()).toEqual(big);
    const huge = 'x'.repeat(20_000);
    expect(order.add(huge)).toEqual([huge]);
  });

  it("'input' keeps the order and holds nothing; bad options are an E_BAD_OPTION naming them", () => {
    expect(run(lineOrder(normalizeOutputOrder({ order: 'input' }), 'j', 'a.jsonl'), lines)).toEqual({ out: lines, most: 0 });
    expect(() => normalizeOutputOrder({ window: 0 })).toThrow(/window must be a whole number of at least 1/);
    expect(() => normalizeOutputOrder({ order: 'reverse' as 'input' })).toThrow(/"shuffled" or "input"/);
  });
});

describe('the local service', () => {
  const submit = async (jobName: string, over: Record<string, unknown> = {}) => {
    const { jobArn } = await service.client!.send(new CreateModelInvocationJobCommand(createInput({ jobName, ...over })));
    return { jobArn: jobArn!, jobId: jobArn!.split('/')[1]! };
  };
  const output = (jobId: string, name = 'a.jsonl.out') => readFile(join(tmp.dir, 'out-bucket', 'results', jobId, name), 'utf8');
  const inputIds = Array.from({ length: 300 }, (_, i) => recordId(i));

  it('shuffles by default: every record once, not in input order; the manifest counts them all', async () => {
    await put(tmp.dir, 'out-bucket/.keep', '');
    await put(tmp.dir, 'in-bucket/run/a.jsonl', jsonl(300));
    await service.start({ root: tmp.dir, stateFile: false });
    const { jobArn, jobId } = await submit('shuffled');
    expect((await waitFor(service.client!, jobArn, ['Completed', 'Failed'])).status).toBe('Completed');
    const got = ids(await output(jobId));
    expect(got).not.toEqual(inputIds);
    expect([...got].sort()).toEqual(inputIds);
    expect(JSON.parse(await output(jobId, 'manifest.json.out'))).toMatchObject({ totalRecordCount: 300, processedRecordCount: 300, successRecordCount: 300 });
  });

  it("keeps the input order with outputOrder { order: 'input' } (serve --keep-order)", async () => {
    await put(tmp.dir, 'out-bucket/.keep', '');
    await put(tmp.dir, 'in-bucket/run/a.jsonl', jsonl(300));
    await service.start({ root: tmp.dir, stateFile: false, outputOrder: { order: 'input' } });
    const { jobArn, jobId } = await submit('in-order');
    expect((await waitFor(service.client!, jobArn, ['Completed', 'Failed'])).status).toBe('Completed');
    expect(ids(await output(jobId))).toEqual(inputIds);
  });

  it('a stopped job keeps every record it counted: the lines the shuffle held back are written too', async () => {
    await put(tmp.dir, 'out-bucket/.keep', '');
    await put(tmp.dir, 'in-bucket/run/a.jsonl', jsonl(400));
    await service.start({ root: tmp.dir, stateFile: false, delays: { record: 5 } });
    const { jobArn, jobId } = await submit('stopped');
    const until = Date.now() + 20_000;
    while ((service.local!.service.snapshot()[0]?.processedRecordCount ?? 0) < 20) {
      if (Date.now() > until) throw new Error('the job never got going');
      await new Promise((r) => setTimeout(r, 5));
    }
    await service.client!.send(new StopModelInvocationJobCommand({ jobIdentifier: jobArn }));
    const job = await waitFor(service.client!, jobArn, ['Stopped']);
    expect(job.processedRecordCount).toBeGreaterThanOrEqual(20);
    expect(job.processedRecordCount).toBeLessThan(400);
    const got = ids(await output(jobId));
    expect(got).toHaveLength(job.processedRecordCount!);
    expect(new Set(got).size).toBe(got.length);
    expect(await readdir(join(tmp.dir, 'out-bucket', 'results', jobId))).toContain('manifest.json.out');
    expect(JSON.parse(await output(jobId, 'manifest.json.out')).processedRecordCount).toBe(job.processedRecordCount);
  });
});
