/**
 * The on-demand runner (src/ondemand/runner.ts) end to end: the real @aws-sdk/client-bedrock-runtime
 * against the local service's runtime API over HTTP, its answers compared with what a batch job of
 * the same service writes for the same folder (through @aws-sdk/client-bedrock), with the service's
 * faults and caps, and with moto's S3 as the output and spool store.
 */
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BedrockClient, CreateModelInvocationJobCommand } from '@aws-sdk/client-bedrock';
import type { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startLocalService, type LocalService, type StartLocalServiceOptions } from '../../src/local/server.js';
import { createBedrockRuntimeClient } from '../../src/jobs/client.js';
import { systemClock, type Clock } from '../../src/ondemand/limiter.js';
import { onDemandJobId, runOnDemandJob, type OnDemandJobOptions } from '../../src/ondemand/runner.js';
import { openStore, type Store } from '../../src/stores/index.js';
import { anthropicInput, FAST, HAIKU, put, recordId, ROLE, TRANSCRIPT, waitFor } from '../local/helpers.js';
import { startMoto, type MotoServer } from '../support/moto.js';
import { tempDir } from '../support/temp.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

let dir: string;
let cleanup: () => Promise<void>;
let local: LocalService | undefined;
let runtime: BedrockRuntimeClient | undefined;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('ondemand-'));
});
afterEach(async () => {
  runtime?.destroy();
  runtime = undefined;
  await local?.close();
  local = undefined;
  await cleanup();
});

async function start(options: Partial<StartLocalServiceOptions> = {}): Promise<LocalService> {
  local = await startLocalService({ root: dir, quotas: 'local', stateFile: false, ...options, delays: { ...FAST, ...options.delays } });
  runtime = createBedrockRuntimeClient({ endpoint: local.endpoint, region: 'us-east-1' });
  return local;
}

type Input = (i: number) => Record<string, unknown>;
const anthropic: Input = (i) => anthropicInput(`${TRANSCRIPT}\nCustomer: my reference is ${i}.`, 200);
const converse: Input = (i) => ({
  messages: [{ role: 'user', content: [{ text: `${TRANSCRIPT}\nCustomer: my reference is ${i}.` }] }],
  system: [{ text: 'Summarise the call.' }],
  inferenceConfig: { maxTokens: 200 },
});

/** A job folder `run/<job>/` in the service's `in-bucket`: one shard per entry of `sizes`. */
async function folder(job: string, sizes: number[], input: Input, over: Record<number, Record<string, unknown>> = {}): Promise<{ key: string; records: number }[]> {
  const shards: { key: string; records: number }[] = [];
  let n = 0;
  for (const [s, size] of sizes.entries()) {
    let text = '';
    for (let i = 0; i < size; i++, n++) text += JSON.stringify({ recordId: recordId(n), modelInput: over[n] ?? input(n) }) + '\n';
    const key = `run/${job}/part-${String(s + 1).padStart(5, '0')}.jsonl`;
    await put(join(dir, 'in-bucket'), key, text);
    shards.push({ key, records: size });
  }
  return shards;
}

/** Run the folder as a batch job on the same service; its output folder. */
async function batch(service: LocalService, job: string, modelInvocationType?: 'Converse'): Promise<string> {
  await mkdir(join(dir, 'out-bucket'), { recursive: true });
  const client = new BedrockClient({ endpoint: service.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' }, maxAttempts: 1 });
  try {
    const { jobArn } = await client.send(
      new CreateModelInvocationJobCommand({
        jobName: `batch-${job}`,
        roleArn: ROLE,
        modelId: HAIKU,
        ...(modelInvocationType ? { modelInvocationType } : {}),
        inputDataConfig: { s3InputDataConfig: { s3Uri: `s3://in-bucket/run/${job}/` } },
        outputDataConfig: { s3OutputDataConfig: { s3Uri: 's3://out-bucket/batch/' } },
      }),
    );
    const ended = await waitFor(client, jobArn!, ['Completed', 'Failed', 'PartiallyCompleted', 'Stopped', 'Expired']);
    expect(ended.status, ended.message).toBe('Completed');
    return join(dir, 'out-bucket', 'batch', jobArn!.split('/').pop()!);
  } finally {
    client.destroy();
  }
}

interface Line {
  recordId: string;
  modelInput: unknown;
  modelOutput?: any;
  error?: { errorCode: number; errorMessage: string };
}

/** Every line of a job output folder, by file, in file order. */
async function outputs(path: string): Promise<{ files: Record<string, Line[]>; manifest: Record<string, number> }> {
  const files: Record<string, Line[]> = {};
  let manifest: Record<string, number> = {};
  for (const name of (await readdir(path)).sort()) {
    const text = await readFile(join(path, name), 'utf8');
    if (name === 'manifest.json.out') manifest = JSON.parse(text);
    else files[name] = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);
  }
  return { files, manifest };
}

/** A modelOutput without what differs between two answers of the same request: ids and latency. */
function comparable(output: unknown): unknown {
  return JSON.parse(JSON.stringify(output, (k, v: unknown) => (k === 'id' || k === 'toolUseId' || k === 'latencyMs' ? undefined : v)));
}

function options(shards: { key: string; records: number }[], over: Partial<OnDemandJobOptions> = {}): OnDemandJobOptions {
  return {
    input: openStore(join(dir, 'in-bucket')),
    shards,
    output: openStore(join(dir, 'out-bucket', 'ondemand')),
    jobId: onDemandJobId('job-0001 token'),
    spool: openStore(join(dir, 'run-spool')),
    spoolPrefix: 'on-demand/job-0001/',
    modelId: HAIKU,
    invocationType: 'InvokeModel',
    client: runtime!,
    backoff: { baseMs: 1, maxMs: 4 },
    ...over,
  };
}

async function spoolKeys(store: Store, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of store.list(prefix)) keys.push(o.key);
  return keys;
}

/** The batch job's and the on-demand job's lines, matched by recordId: the same echo and answer. */
function expectSameAnswers(batchLines: Line[], odLines: Line[]): void {
  expect(odLines.map((l) => l.recordId).sort()).toEqual(batchLines.map((l) => l.recordId).sort());
  const byId = new Map(batchLines.map((l) => [l.recordId, l]));
  for (const l of odLines) {
    const b = byId.get(l.recordId)!;
    expect(l.modelInput, l.recordId).toEqual(b.modelInput);
    if (b.error) {
      expect(l.modelOutput, l.recordId).toBeUndefined();
      expect(l.error?.errorCode, l.recordId).toBe(b.error.errorCode);
    } else {
      expect(l.error, l.recordId).toBeUndefined();
      expect(comparable(l.modelOutput), l.recordId).toEqual(comparable(b.modelOutput));
    }
  }
}

describe('on demand against the local service', () => {
  it('answers InvokeModel records as a batch job of the same folder does, in input order, and cleans its spool', async () => {
    const service = await start();
    // record 3 asks for 0 output tokens: a real model refuses it (400), per record, in both modes
    const shards = await folder('job-0001', [7, 4], anthropic, { 3: anthropicInput(TRANSCRIPT, 0) });
    const batchDir = await batch(service, 'job-0001');
    const announced: string[][] = [];
    const progress: number[] = [];
    const o = options(shards, {
      onAnswered: async (ids) => void announced.push(ids),
      onProgress: (c) => progress.push(c.processed),
      limits: { concurrency: 3 },
    });
    const result = await runOnDemandJob(o);

    expect(result).toMatchObject({ status: 'Completed', records: { total: 11, processed: 11, success: 10, error: 1 }, resumed: 0, requests: 11, throttled: 0 });
    const od = await outputs(join(dir, 'out-bucket', 'ondemand', o.jobId));
    const b = await outputs(batchDir);
    expect(Object.keys(od.files)).toEqual(['part-00001.jsonl.out', 'part-00002.jsonl.out']);
    expect(Object.keys(od.files)).toEqual(Object.keys(b.files));
    for (const name of Object.keys(b.files)) expectSameAnswers(b.files[name]!, od.files[name]!);
    // on demand keeps the input order (a batch job does not promise it)
    expect(od.files['part-00001.jsonl.out']!.map((l) => l.recordId)).toEqual([0, 1, 2, 3, 4, 5, 6].map(recordId));
    expect(od.files['part-00001.jsonl.out']![3]!.error).toMatchObject({ errorCode: 400, errorMessage: expect.stringContaining('max_tokens') });
    // the same six counters, tokens included (the same model answered the same requests)
    expect(od.manifest).toEqual(b.manifest);
    expect(Object.keys(od.manifest)).toEqual(['totalRecordCount', 'processedRecordCount', 'successRecordCount', 'errorRecordCount', 'inputTokenCount', 'outputTokenCount']);
    expect(result.inputTokens).toBe(b.manifest.inputTokenCount);
    expect(result.outputTokens).toBe(b.manifest.outputTokenCount);
    // every record reported once, after its answer was stored; the spool is gone
    expect(announced.flat().sort()).toEqual(Array.from({ length: 11 }, (_, i) => recordId(i)));
    expect(progress.at(-1)).toBe(11);
    expect(await spoolKeys(o.spool)).toEqual([]);
    expect(service.service.runtimeStats()).toMatchObject({ requests: 11, answered: 10, errors: 1 });
    // nothing of the records' text in what the caller is told
    expect(JSON.stringify({ result, announced })).not.toContain('Customer');

    // once the manifest is there, running again asks nothing and says the same
    const again = await runOnDemandJob(o);
    expect(again).toMatchObject({ requests: 0, resumed: 11, records: result.records, inputTokens: result.inputTokens });
    expect(service.service.runtimeStats().requests).toBe(11);
  });

  it('answers Converse records as a Converse-type batch job does', async () => {
    const service = await start();
    const shards = await folder('job-0002', [6], converse);
    const batchDir = await batch(service, 'job-0002', 'Converse');
    const o = options(shards, { invocationType: 'Converse', jobId: onDemandJobId('job-0002'), spoolPrefix: 'on-demand/job-0002/' });
    const result = await runOnDemandJob(o);
    expect(result.records).toEqual({ total: 6, processed: 6, success: 6, error: 0 });
    const od = await outputs(join(dir, 'out-bucket', 'ondemand', o.jobId));
    const b = await outputs(batchDir);
    expectSameAnswers(b.files['part-00001.jsonl.out']!, od.files['part-00001.jsonl.out']!);
    const first = od.files['part-00001.jsonl.out']![0]!.modelOutput;
    expect(Object.keys(first).sort()).toEqual(['metrics', 'output', 'stopReason', 'usage']);
    expect(first.output.message.content[0].text).toMatch(/^\[local stand-in\]/);
    expect(od.manifest).toEqual(b.manifest);
    expect(service.service.runtimeStats().byOperation.Converse.requests).toBe(6);
  });

  it('asks throttled requests again after a backoff until every record is answered', async () => {
    const service = await start({ faults: { throttle: 0.4, seed: 7 } });
    const shards = await folder('job-0001', [25], anthropic);
    const retries: { attempt: number; error: string }[] = [];
    const result = await runOnDemandJob(options(shards, { onRetry: (e) => retries.push(e), maxRetries: 30, limits: { concurrency: 4 } }));
    const stats = service.service.runtimeStats();
    expect(result.records).toEqual({ total: 25, processed: 25, success: 25, error: 0 });
    expect(result.throttled).toBeGreaterThan(0);
    expect(result.throttled).toBe(stats.throttled);
    expect(result.requests).toBe(stats.requests);
    expect(result.requests).toBe(25 + result.throttled);
    expect(retries).toHaveLength(result.throttled);
    expect(retries[0]!.error).toMatch(/^ThrottlingException \(429\)/);
  });

  it('keeps asking a throttled record past maxRetries while others get answers (the quota at work), within the service cap', async () => {
    // 5 requests per 300 ms "minute": most first tries are throttled, yet every record is answered
    const service = await start({ runtime: { rpm: 5, minuteMs: 300 } });
    const shards = await folder('job-0001', [20], anthropic);
    const result = await runOnDemandJob(options(shards, { maxRetries: 1, backoff: { baseMs: 20, maxMs: 200 }, limits: { concurrency: 4 } }));
    expect(result.records).toEqual({ total: 20, processed: 20, success: 20, error: 0 });
    expect(result.throttled).toBeGreaterThan(0);
    expect(service.service.runtimeStats().answered).toBe(20);
  });

  it('stops with E_THROTTLED once nothing has been answered for stallMs and a record was refused more than maxRetries times', async () => {
    const service = await start({ faults: { throttle: 1 } });
    const shards = await folder('job-0001', [5], anthropic);
    const o = options(shards, { maxRetries: 2, stallMs: 0, limits: { concurrency: 2 } });
    const err = await runOnDemandJob(o).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_THROTTLED', key: expect.stringMatching(/^REC/), hint: expect.stringContaining('run the same command again') });
    expect((err as Error).message).toMatch(/part-00001\.jsonl, line \d: anthropic\.claude-3-haiku-20240307-v1:0: record REC\d+ was refused 3 times/);
    expect(service.service.runtimeStats().answered).toBe(0);
    await expect(readdir(join(dir, 'out-bucket', 'ondemand'))).rejects.toThrow(); // nothing written
  });

  it("writes a model's error for a record as its error line (record-errors fault), counted in the manifest", async () => {
    const service = await start({ faults: { recordErrors: 0.3, seed: 3 } });
    const shards = await folder('job-0001', [30], anthropic);
    const o = options(shards);
    const result = await runOnDemandJob(o);
    const stats = service.service.runtimeStats();
    const od = await outputs(join(dir, 'out-bucket', 'ondemand', o.jobId));
    const errors = od.files['part-00001.jsonl.out']!.filter((l) => l.error);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.length).toBe(stats.errors);
    expect(errors.every((l) => l.error!.errorCode === 424 && l.modelOutput === undefined)).toBe(true);
    expect(od.manifest).toMatchObject({ totalRecordCount: 30, processedRecordCount: 30, errorRecordCount: errors.length, successRecordCount: 30 - errors.length });
    expect(result.records.error).toBe(errors.length);
  });

  it('an aborted run keeps what it stored; run again, it asks only the rest', async () => {
    const service = await start({ delays: { record: 20 } });
    const shards = await folder('job-0001', [12], anthropic);
    const ac = new AbortController();
    const first: string[] = [];
    const o = options(shards, { limits: { concurrency: 2 }, signal: ac.signal, onAnswered: async (ids) => {
      first.push(...ids);
      if (first.length >= 3) ac.abort(new Error('interrupted'));
    } });
    await expect(runOnDemandJob(o)).rejects.toThrow('interrupted');
    const stored = (await spoolKeys(o.spool)).length;
    expect(stored).toBeGreaterThanOrEqual(3);
    expect(stored).toBeLessThan(12);
    const second: string[] = [];
    const result = await runOnDemandJob({ ...o, signal: undefined, known: new Set(first), onAnswered: async (ids) => void second.push(...ids) });
    expect(result.resumed).toBe(stored);
    expect(result.requests).toBe(12 - stored);
    expect([...first, ...second].sort()).toEqual(Array.from({ length: 12 }, (_, i) => recordId(i)));
    expect(service.service.runtimeStats().requests).toBeLessThanOrEqual(12 + 2);
  });

  it('stops at once, naming the inference profile, for a model the runtime serves only through one', async () => {
    const service = await start();
    const nova = (i: number) => ({ messages: [{ role: 'user', content: [{ text: `${TRANSCRIPT} ${i}` }] }], inferenceConfig: { maxTokens: 100 } });
    const shards = await folder('job-0001', [10], nova);
    const err = await runOnDemandJob(options(shards, { modelId: 'amazon.nova-premier-v1:0', limits: { concurrency: 2 } })).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_UNKNOWN_MODEL', hint: expect.stringContaining('us.amazon.nova-premier-v1:0') });
    expect((err as Error).message).toContain("amazon.nova-premier-v1:0 cannot be called on demand by this id");
    // no more than the calls that were already in flight
    expect(service.service.runtimeStats().requests).toBeLessThanOrEqual(2);
  });

  it('keeps to its own requests-per-minute cap: the service at the same cap never throttles it', async () => {
    // The service's minute is 400 ms; the runner's clock runs 150 times faster, so its minute is too.
    const minuteMs = 400;
    const scale = 60_000 / minuteMs;
    const scaled: Clock = { now: () => systemClock.now() * scale, sleep: (ms, signal) => systemClock.sleep(ms / scale, signal) };
    const service = await start({ runtime: { rpm: 15, minuteMs } });
    const shards = await folder('job-0001', [40], anthropic);
    const capped = await runOnDemandJob(options(shards, { clock: scaled, limits: { concurrency: 8, rpm: 15 } }));
    expect(capped.records.success).toBe(40);
    expect(capped.throttled).toBe(0);
    expect(service.service.runtimeStats().throttled).toBe(0);
    // 40 requests at 15 per minute: at least two whole minutes (in the runner's own clock)
    expect(capped.seconds).toBeGreaterThanOrEqual(120);
    console.log(`on demand at the service's cap of 15 per ${minuteMs} ms: 40 records in ${((capped.seconds * 1000) / scale).toFixed(0)} ms real time, ${capped.requests} requests, 0 throttled`);

    // without the runner's cap, the same folder is throttled and asked again
    const uncapped = await runOnDemandJob(options(shards, { jobId: onDemandJobId('again'), spoolPrefix: 'again/', limits: { concurrency: 8 }, backoff: { baseMs: 20, maxMs: 200 }, maxRetries: 50 }));
    expect(uncapped.records.success).toBe(40);
    expect(uncapped.throttled).toBeGreaterThan(0);
    console.log(`without the runner's cap: ${uncapped.requests} requests, ${uncapped.throttled} throttled, in ${(uncapped.seconds * 1000).toFixed(0)} ms`);
  });
});

describe('on demand with S3 (moto) as the output and spool store', () => {
  let s3: MotoServer;
  beforeEach(async () => {
    s3 = await startMoto();
    await s3.createBucket('od-out');
  });
  afterEach(async () => {
    await s3.stop();
  });

  it('writes the outputs and the manifest to S3, and leaves no spool object there', async () => {
    const service = await start();
    const shards = await folder('job-0001', [5, 3], anthropic);
    const output = openStore('s3://od-out/results/', s3.clientOptions);
    const spool = openStore('s3://od-out/run/', s3.clientOptions);
    const o = options(shards, { output, spool, spoolPrefix: 'on-demand/job-0001/' });
    const result = await runOnDemandJob(o);
    expect(result.records).toEqual({ total: 8, processed: 8, success: 8, error: 0 });
    const keys = await spoolKeys(output);
    expect(keys).toEqual([`${o.jobId}/manifest.json.out`, `${o.jobId}/part-00001.jsonl.out`, `${o.jobId}/part-00002.jsonl.out`]);
    expect(await spoolKeys(spool)).toEqual([]);
    const chunks: Buffer[] = [];
    for await (const c of output.createReadStream(`${o.jobId}/part-00002.jsonl.out`) as AsyncIterable<Buffer>) chunks.push(c);
    const lines = Buffer.concat(chunks).toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);
    expect(lines.map((l) => l.recordId)).toEqual([5, 6, 7].map(recordId));
    expect(lines.every((l) => typeof l.modelOutput.content[0].text === 'string')).toBe(true);
    expect(service.service.runtimeStats().requests).toBe(8);
  });
});
