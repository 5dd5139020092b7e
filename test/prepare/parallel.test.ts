/**
 * Parallel prepare gives exactly what one thread gives: the same shards byte for byte, the same
 * lineage, the same rejects, the same counts. Small pieces (a few KB) force many piece edges, calls
 * spanning pieces, buffers that overflow their slabs, and the fallback on malformed quotes.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../src/core/random.js';
import { prepareRun, type PrepareRunOptions } from '../../src/prepare.js';
import { quotaProfile } from '../../src/bedrock/quotas.js';
import { callStages } from '../../transforms/index.js';
import { useTempDir } from '../support/temp.js';
import { callsCsv, MODEL, readRun, sentence, utterancesCsv } from './helpers.js';

const tmp = useTempDir('prep-');

/** One thread (workers: 0) and `workers` worker threads on the same file, with small pieces. */
async function both(file: string, extra: Partial<PrepareRunOptions> = {}, workers = 2) {
  const base = (out: string, workers: number): PrepareRunOptions => ({
    inputs: [file],
    out: join(tmp.dir, out),
    stages: callStages({}),
    model: { modelId: MODEL },
    quotas: quotaProfile('local', { maxRecordsPerFile: 150 }),
    workers,
    pieceBytes: 4096,
    ...extra,
  });
  const one = await prepareRun(base('one', 0));
  const many = await prepareRun(base('many', workers));
  return { one, many, oneFiles: await readRun(join(tmp.dir, 'one')), manyFiles: await readRun(join(tmp.dir, 'many')) };
}

function expectSame(r: Awaited<ReturnType<typeof both>>) {
  expect(r.many.read).toBe(r.one.read);
  expect(r.many.written).toBe(r.one.written);
  expect(r.many.rejected).toBe(r.one.rejected);
  expect(r.many.rejectsByCode).toEqual(r.one.rejectsByCode);
  expect(r.many.bytesRead).toBe(r.one.bytesRead);
  expect(r.many.bytesWritten).toBe(r.one.bytesWritten);
  expect(r.many.inputTokens).toBe(r.one.inputTokens);
  expect([...r.manyFiles.shards.keys()]).toEqual([...r.oneFiles.shards.keys()]);
  for (const [k, v] of r.oneFiles.shards) expect(r.manyFiles.shards.get(k), k).toBe(v);
  for (const [k, v] of r.oneFiles.lineage) expect(r.manyFiles.lineage.get(k), k).toBe(v);
  expect([...r.manyFiles.rejects].sort()).toEqual([...r.oneFiles.rejects].sort());
}

describe('parallel prepare = one thread', () => {
  it('one call per CSV row: identical shards, lineage and counts across many pieces', async () => {
    const file = join(tmp.dir, 'calls.csv');
    await writeFile(file, callsCsv(700, 3));
    const r = await both(file);
    expectSame(r);
    expect(r.one.read).toBe(700);
    expect(r.one.written).toBe(700);
    expect(r.one.shards.length).toBe(5); // 150 per file
    expect(r.many.parallel.pieces).toBeGreaterThan(30);
    // one thread prepares the same pieces, on the main thread (workers: 0)
    expect(r.one.parallel.pieces).toBe(r.many.parallel.pieces);
    expect(r.one.parallel.stolen).toBe(0);
    expect(r.one.bytesRead).toBe(Buffer.byteLength(callsCsv(700, 3))); // every byte of the input
  });

  it('the main thread prepares pieces itself when the worker queue is full, with the same result', async () => {
    const file = join(tmp.dir, 'calls.csv');
    await writeFile(file, callsCsv(700, 5));
    const r = await both(file, { pieceBytes: 2048 }, 1);
    expectSame(r);
    expect(r.many.parallel.stolen).toBeGreaterThan(0);
    expect(r.many.parallel.stolen).toBeLessThan(r.many.parallel.pieces);
  });

  it('utterance rows: calls that span piece edges are joined, keyless rows rejected once', async () => {
    const file = join(tmp.dir, 'utt.csv');
    const text = utterancesCsv(400, 5);
    await writeFile(file, text);
    const r = await both(file);
    expectSame(r);
    expect(r.one.read).toBe(r.one.written + r.one.rejected);
    expect(r.one.rejectsByCode.E_MISSING_KEY).toBeGreaterThan(0);
    // every call's rows are together: 400 calls (keys are unique and adjacent)
    expect(r.one.written).toBe(400);
  });

  it('duplicate call ids across pieces: the first is kept, the repeat rejected naming the first line', async () => {
    const file = join(tmp.dir, 'dups.csv');
    await writeFile(file, callsCsv(500, 7, { duplicateEvery: 40 }));
    const r = await both(file);
    expectSame(r);
    expect(r.one.rejectsByCode.E_DUPLICATE_KEY).toBe(12);
    const dup = r.manyFiles.rejects.map((l) => JSON.parse(l)).find((x) => x.code === 'E_DUPLICATE_KEY');
    expect(dup.reason).toMatch(/was already seen at line \d+; the first is kept/);
  });

  it('one call per row: adjacent rows with the same id at every piece edge are never merged; the same ids in a second file are duplicates', async () => {
    const file = join(tmp.dir, 'adjacent.csv');
    const copy = join(tmp.dir, 'adjacent-copy.csv');
    // every row's id twice in a row: 300 pairs, so piece edges fall between and inside pairs
    const text = callsCsv(600, 13).replace(/^C(\d+),/gm, (_m, n: string) => `C${Math.floor(Number(n) / 2)},`);
    await writeFile(file, text);
    await writeFile(copy, text);
    const r = await both(file, { inputs: [file, copy] });
    expectSame(r);
    expect(r.one).toMatchObject({ read: 1200, written: 300, rejected: 900, rejectsByCode: { E_DUPLICATE_KEY: 900 } });
    const lineage = [...r.manyFiles.lineage.values()].join('').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(lineage.every((l) => l.file === file)).toBe(true);
  });

  it('JSONL: numeric call ids above 2^53 in every piece stay distinct calls', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 400; i++) lines.push(`{"contact_id": ${12345678901234567000n + BigInt(i)}, "transcript": "Agent: ${sentence(mulberry32(i), 12)}"}`);
    const file = join(tmp.dir, 'big-ids.jsonl');
    await writeFile(file, lines.join('\n') + '\n');
    const r = await both(file);
    expectSame(r);
    expect(r.one).toMatchObject({ read: 400, written: 400, rejected: 0 });
    expect(r.many.parallel.pieces).toBeGreaterThan(5);
  });

  it('JSONL: identical results, line numbers kept across pieces, bad lines rejected', async () => {
    const rand = mulberry32(11);
    const lines: string[] = [];
    for (let i = 0; i < 600; i++) {
      if (i % 97 === 50) lines.push('{"contact_id": "broken", ');
      else lines.push(JSON.stringify({ contact_id: `J${i}`, agent: `A${i % 4}`, transcript: `Agent: ${sentence(rand)}\u2028Customer: ${sentence(rand)}` }));
    }
    const file = join(tmp.dir, 'calls.jsonl');
    await writeFile(file, lines.join('\n') + '\n');
    const r = await both(file);
    expectSame(r);
    expect(r.one.rejectsByCode.E_BAD_JSON).toBe(6);
    const lineage = [...r.manyFiles.lineage.values()].join('').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(lineage.find((l) => l.key === 'J599').line).toBe(600);
  });

  it('malformed quotes that fool the piece cutter: the rest of the file is decoded on one thread', async () => {
    // `a"b` is a bad quote (the line is skipped); on the next line a quoted field holds a newline. By
    // quote parity the cutter then sees an LF inside that field as a row end.
    let text = 'call_id,transcript\n';
    for (let i = 0; i < 60; i++) text += `G${i},"Agent: fine ${sentence(mulberry32(i), 30)}"\n`;
    for (let i = 0; i < 200; i++) text += `B${i},a"b\nM${i},"Agent: one\nCustomer: two ${sentence(mulberry32(i), 6)}"\n`;
    const file = join(tmp.dir, 'bad.csv');
    await writeFile(file, text);
    const r = await both(file);
    expectSame(r);
    expect(r.one.rejectsByCode.E_BAD_QUOTE).toBe(200);
    expect(r.many.parallel.fallbacks).toBe(1);
    expect(r.one.written).toBe(260);
  });

  it('gzip input and a file without a final newline', async () => {
    const file = join(tmp.dir, 'calls.csv.gz');
    await writeFile(file, gzipSync(callsCsv(300, 9).replace(/\n$/, '')));
    const r = await both(file);
    expectSame(r);
    expect(r.one.written).toBe(300);
  });

  it('random ids: unique, 11 characters, different from run to run', async () => {
    const file = join(tmp.dir, 'calls.csv');
    await writeFile(file, callsCsv(300, 4));
    const r = await both(file, { ids: { mode: 'random' } });
    const ids = (files: typeof r.oneFiles) => [...files.shards.values()].join('').split('\n').filter(Boolean).map((l) => JSON.parse(l).recordId as string);
    const a = ids(r.oneFiles);
    const b = ids(r.manyFiles);
    expect(new Set([...a, ...b]).size).toBe(600);
    for (const id of a) expect(id).toMatch(/^[A-Za-z0-9]{11}$/);
  });
});
