import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { quotaProfile, type QuotaOverrides } from '../../src/bedrock/quotas.js';
import { rollover, type RolloverResult } from '../../src/shards/rollover.js';
import { LocalStore } from '../../src/stores/local.js';
import type { PreparedRecord, Reject } from '../../src/records/types.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rollover-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function record(i: number, textBytes = 20): PreparedRecord {
  const recordId = `R${String(i).padStart(10, '0')}`;
  const modelInput = { prompt: 'x'.repeat(textBytes) + ' é' };
  const json = JSON.stringify({ recordId, modelInput }) + '\n';
  return { kind: 'record', recordId, modelInput, file: 'calls.csv', line: i + 2, key: `call-${i}`, json, bytes: Buffer.byteLength(json), passthrough: { agent: 'Ana', line: 'L' } };
}

async function run(items: (PreparedRecord | Reject)[], overrides: QuotaOverrides, profile = 'default'): Promise<RolloverResult> {
  const sink = rollover({ store: new LocalStore(dir), quotas: quotaProfile(profile, overrides) });
  await pipeline(Readable.from(items), sink);
  return sink.result!;
}

const lines = async (key: string) => (await readFile(join(dir, key), 'utf8')).split('\n').filter(Boolean);

async function checkConsistency(result: RolloverResult, total: number): Promise<void> {
  const ids: string[] = [];
  let bytes = 0;
  for (const shard of result.shards) {
    const data = await readFile(join(dir, shard.key));
    expect(data.length).toBe(shard.bytes);
    const shardLines = data.toString('utf8').split('\n').filter(Boolean);
    expect(shardLines.length).toBe(shard.records);
    const lineage = await lines(shard.lineageKey!);
    expect(lineage.map((l) => JSON.parse(l).recordId)).toEqual(shardLines.map((l) => JSON.parse(l).recordId));
    ids.push(...shardLines.map((l) => JSON.parse(l).recordId));
    bytes += shard.bytes;
  }
  expect(ids.length).toBe(total);
  expect(new Set(ids).size).toBe(total);
  expect(bytes).toBe(result.bytes);
  const jobRecords = result.jobs.reduce((n, j) => n + j.records, 0);
  expect(jobRecords).toBe(total);
  for (const job of result.jobs) {
    expect(job.shards.reduce((n, s) => n + s.records, 0)).toBe(job.records);
    expect(job.shards.reduce((n, s) => n + s.bytes, 0)).toBe(job.bytes);
    // the job's folder holds its shards and nothing else
    const files = (await readdir(join(dir, job.prefix))).sort();
    expect(files).toEqual(job.shards.map((s) => s.key.split('/').pop()).sort());
  }
}

describe('rollover', () => {
  it('rolls over at the record limit, one folder per job, lineage line for line', async () => {
    const items = Array.from({ length: 2_500 }, (_, i) => record(i));
    const r = await run(items, { maxRecordsPerFile: 1_000, minRecordsPerJob: 1 });
    expect(r.written).toBe(2_500);
    expect(r.shards.map((s) => s.records)).toEqual([1_000, 1_000, 500]);
    expect(r.jobs).toHaveLength(1);
    expect(r.shards[0]!.key).toBe('input/job-0001/part-00001.jsonl');
    expect(r.submittable).toBe(true);
    await checkConsistency(r, 2_500);
    const lineage = JSON.parse((await lines('lineage/job-0001/part-00001.jsonl'))[0]!);
    expect(lineage).toEqual({ recordId: 'R0000000000', key: 'call-0', file: 'calls.csv', line: 2, agent: 'Ana', _line: 'L' });
  });

  it('rolls over at the byte limit, counted on the exact UTF-8 bytes', async () => {
    const items = Array.from({ length: 100 }, (_, i) => record(i, 1000));
    const size = items[0]!.bytes!;
    const r = await run(items, { maxBytesPerFile: size * 7 + 5, maxRecordBytes: size * 2, minRecordsPerJob: 1 });
    expect(r.shards.every((s) => s.bytes <= size * 7 + 5)).toBe(true);
    expect(r.shards[0]!.records).toBe(7);
    await checkConsistency(r, 100);
  });

  it('starts a new job folder at the per-job limits', async () => {
    const items = Array.from({ length: 95 }, (_, i) => record(i));
    const r = await run(items, { maxRecordsPerFile: 10, maxRecordsPerJob: 30, minRecordsPerJob: 1 });
    expect(r.jobs.map((j) => j.records)).toEqual([30, 30, 30, 5]);
    expect(r.jobs[1]!.shards.map((s) => s.key)).toEqual([
      'input/job-0002/part-00004.jsonl',
      'input/job-0002/part-00005.jsonl',
      'input/job-0002/part-00006.jsonl',
    ]);
    await checkConsistency(r, 95);
  });

  it('rebalances a short tail job up to the minimum by moving records from the job before', async () => {
    const items = Array.from({ length: 53 }, (_, i) => record(i));
    const r = await run(items, { maxRecordsPerFile: 10, maxRecordsPerJob: 25, minRecordsPerJob: 10 });
    expect(r.jobs.map((j) => j.records)).toEqual([25, 18, 10]);
    expect(r.rebalanced).toBe(7);
    expect(r.submittable).toBe(true);
    expect(r.jobs.every((j) => j.records >= 10)).toBe(true);
    await checkConsistency(r, 53);
  });

  it('says clearly when the whole run is below the minimum records per job', async () => {
    const r = await run(Array.from({ length: 300 }, (_, i) => record(i)), {});
    expect(r.submittable).toBe(false);
    expect(r.problem?.code).toBe('E_BELOW_MIN_RECORDS');
    expect(r.problem?.message).toContain('300 records');
    expect(r.problem?.message).toContain('1000');
    expect(r.problem?.hint).toContain('--quotas');
    expect(r.written).toBe(300);
  });

  it('says why when the tail cannot be rebalanced', async () => {
    // 25 records, at most 12 and at least 10 per job: 12 + 12 + 1 cannot be evened out
    const items = Array.from({ length: 25 }, (_, i) => record(i));
    const r = await run(items, { maxRecordsPerFile: 12, maxRecordsPerJob: 12, minRecordsPerJob: 10 });
    expect(r.problem?.code).toBe('E_CANNOT_REBALANCE');
    expect(r.problem?.message).toContain('below the minimum of 10');
    expect(r.submittable).toBe(false);
    await checkConsistency(r, 25);
  });

  it('writes rejects to the rejects file and counts them, without record text (only the documented fields, whatever a stage adds)', async () => {
    const rej = { kind: 'reject', file: 'calls.csv', line: 7, key: 'c7', stage: 'validate', code: 'E_MISSING_TEXT', reason: 'the transcript is empty', preview: 'card 4111', text: 'SECRET' } as Reject;
    const r = await run([record(0), rej, record(1)], { minRecordsPerJob: 1 });
    expect(r.written).toBe(2);
    expect(r.rejected).toBe(1);
    expect(r.rejectsByCode).toEqual({ E_MISSING_TEXT: 1 });
    const [line] = await lines('rejects.jsonl');
    expect(JSON.parse(line!)).toEqual({ file: 'calls.csv', line: 7, key: 'c7', stage: 'validate', code: 'E_MISSING_TEXT', reason: 'the transcript is empty' });
  });

  it('rejects a record that cannot fit in any file, and goes on', async () => {
    const big = record(1, 5000);
    const r = await run([record(0), big, record(2)], { maxBytesPerFile: 2000, maxRecordBytes: 1000, minRecordsPerJob: 1 });
    expect(r.written).toBe(2);
    expect(r.rejectsByCode).toEqual({ E_RECORD_TOO_LARGE: 1 });
  });

  it('writes an empty rejects file and reports nothing to submit on empty input', async () => {
    const r = await run([], {});
    expect(r.written).toBe(0);
    expect(r.problem?.code).toBe('E_BELOW_MIN_RECORDS');
    expect(await readFile(join(dir, 'rejects.jsonl'), 'utf8')).toBe('');
  });

  it('leaves no partial files behind when the pipeline fails', async () => {
    const sink = rollover({ store: new LocalStore(dir), quotas: quotaProfile('default', { minRecordsPerJob: 1 }) });
    async function* failing() {
      for (let i = 0; i < 50; i++) yield record(i);
      throw new Error('source broke');
    }
    await expect(pipeline(Readable.from(failing()), sink)).rejects.toThrow('source broke');
    const walk = async (d: string): Promise<string[]> => {
      const out: string[] = [];
      for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
        if (e.isDirectory()) out.push(...(await walk(join(d, e.name))));
        else out.push(e.name);
      }
      return out;
    };
    expect(await walk(dir)).toEqual([]);
  });
});
