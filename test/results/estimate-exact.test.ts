/**
 * `estimate --exact` (src/results/count-tokens.ts): the input tokens of a prepared run as
 * CountTokens counts them, against the local service's Bedrock Runtime through the real SDK client.
 * A small run is counted whole and equals the per-record counts summed; a large one is sampled
 * (seeded) and its 95% interval holds the true total; a model that does not count (Nova) keeps the
 * rough estimate and says why. The statistics are checked on their own too: the interval's coverage
 * over many seeded samples of a skewed population is about its stated 95%.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { BedrockRuntimeClient, CountTokensCommand } from '@aws-sdk/client-bedrock-runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../src/core/random.js';
import { localClientConfig, localCredentials, startLocalService, type LocalService } from '../../src/local/server.js';
import { prepareRun } from '../../src/prepare.js';
import { quotaProfile } from '../../src/bedrock/quotas.js';
import {
  countRunTokens,
  countTokensInput,
  countTokensModelId,
  extrapolateTotal,
  pickIndices,
  runtimeClientOptions,
  studentT975,
  type CountRunTokensOptions,
} from '../../src/results/count-tokens.js';
import { LocalStore } from '../../src/stores/local.js';
import { adaptCalls, promptCalls } from '../../transforms/index.js';
import { inProcess } from '../support/cli.js';
import { tempDir, type TempDir } from '../support/temp.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0';
const NOVA = 'amazon.nova-lite-v1:0';
/** A word in every transcript: it must never reach an output or an error. */
const SECRET = 'Zanzibarquartz';

let local: LocalService;
let tmp: TempDir;
let client: BedrockRuntimeClient;

/**
 * `calls` calls whose transcripts vary a lot in length (1 to ~60 turns, most short: skewed, as
 * real exports are), so a sample's mean is not the population's by luck.
 */
async function prepareVaried(name: string, calls: number, o: { modelId?: string; perJob?: number; converse?: boolean } = {}): Promise<string> {
  const random = mulberry32(calls * 7 + name.length);
  let csv = 'call_id,agent,transcript\n';
  for (let i = 0; i < calls; i++) {
    const turns = 1 + Math.floor(60 * random() ** 3);
    const lines: string[] = [];
    for (let t = 0; t < turns; t++) {
      lines.push(t % 2 ? `Agent: let me check order ${i}-${t} for you, ${SECRET}.` : `Customer: my parcel ${i} arrived ${'very '.repeat(Math.floor(random() * 8))}late.`);
    }
    csv += `call-${i},Agent ${i % 5},"${lines.join('\n')}"\n`;
  }
  const source = join(tmp.dir, `${name}.csv`);
  await writeFile(source, csv);
  const out = join(tmp.dir, name);
  const perJob = o.perJob ?? 50_000;
  await prepareRun({
    inputs: [source],
    out,
    adapt: adaptCalls(),
    prompt: promptCalls(),
    model: { modelId: o.modelId ?? HAIKU, maxTokens: 300, ...(o.converse ? { invocationType: 'Converse' as const } : {}) },
    quotas: quotaProfile('local', { maxRecordsPerFile: perJob, maxRecordsPerJob: perJob }),
  });
  return out;
}

/** Every record of a run, in order: what the test asks CountTokens about one by one. */
async function recordsOf(run: string): Promise<{ invocationType: 'InvokeModel' | 'Converse'; modelInput: Record<string, unknown> }[]> {
  const prepared = JSON.parse(await readFile(join(run, 'prepared.json'), 'utf8'));
  const out = [];
  for (const job of prepared.jobs) {
    for (const shard of job.shards) {
      for (const line of (await readFile(join(run, shard.key), 'utf8')).split('\n').filter(Boolean)) {
        out.push({ invocationType: prepared.model.invocationType, modelInput: JSON.parse(line).modelInput });
      }
    }
  }
  return out;
}

const count = (o: Omit<CountRunTokensOptions, 'client'>) => countRunTokens({ client, backoff: { baseMs: 1, maxMs: 5 }, ...o });
const countTokensRequests = () => local.service.runtimeStats().byOperation.CountTokens.requests;

beforeAll(async () => {
  tmp = await tempDir('estimate-exact-');
  local = await startLocalService({ stateFile: false, paused: true });
  client = new BedrockRuntimeClient({ ...localClientConfig(local.endpoint), maxAttempts: 1 });
});

afterAll(async () => {
  client?.destroy();
  await local?.close();
  await tmp?.cleanup();
});

describe('the sample and its bound', () => {
  it('picks distinct indices, in order, every one equally likely', () => {
    const random = mulberry32(7);
    const hits = new Array<number>(50).fill(0);
    for (let k = 0; k < 4000; k++) {
      const p = pickIndices(50, 10, random);
      expect(new Set(p).size).toBe(10);
      expect(p).toEqual([...p].sort((a, b) => a - b));
      expect(p.every((i) => i >= 0 && i < 50)).toBe(true);
      for (const i of p) hits[i]!++;
    }
    // each index is expected 4000 × 10/50 = 800 times; a binomial sd of ~25
    expect(Math.min(...hits)).toBeGreaterThan(700);
    expect(Math.max(...hits)).toBeLessThan(900);
    expect(pickIndices(5, 9, random)).toEqual([0, 1, 2, 3, 4]);
  });

  it("uses Student's t, and the whole population gives the sum exactly", () => {
    expect(studentT975(1)).toBe(12.706);
    expect(studentT975(29)).toBe(2.045);
    expect(studentT975(30)).toBe(2.042);
    expect(studentT975(40)).toBeCloseTo(2.021, 3);
    expect(studentT975(99)).toBeCloseTo(1.984, 3);
    expect(studentT975(1e9)).toBeCloseTo(1.96, 3);
    expect(extrapolateTotal([3, 5, 10], 3)).toMatchObject({ total: 18, interval: { low: 18, high: 18, confidence: 1 } });
    expect(() => extrapolateTotal([3], 10)).toThrow(/no error bound/);
  });

  it('holds the true total in about 95% of seeded samples of a skewed population (finite population correction included)', () => {
    const random = mulberry32(2026);
    const population = Array.from({ length: 3000 }, () => Math.round(20 + 4000 * random() ** 4));
    const truth = population.reduce((a, b) => a + b, 0);
    let covered = 0;
    let widthAt1000 = 0;
    const trials = 2000;
    for (let k = 0; k < trials; k++) {
      const values = pickIndices(population.length, 100, random).map((i) => population[i]!);
      const x = extrapolateTotal(values, population.length);
      if (x.interval.low <= truth && truth <= x.interval.high) covered++;
    }
    for (let k = 0; k < 50; k++) {
      const x = extrapolateTotal(pickIndices(population.length, 1000, random).map((i) => population[i]!), population.length);
      widthAt1000 += x.interval.high - x.interval.low;
    }
    // 2,000 trials: a binomial sd of ~0.5%; a skewed population runs a little under the nominal 95%
    expect(covered / trials).toBeGreaterThan(0.92);
    expect(covered / trials).toBeLessThan(0.975);
    // the correction narrows the interval as the sample nears the population: sqrt((N-n)/(N-1)) = 0.82 at 1,000 of 3,000
    const sd = Math.sqrt(population.reduce((a, v) => a + (v - truth / 3000) ** 2, 0) / 2999);
    const uncorrected = 2 * 1.962 * 3000 * (sd / Math.sqrt(1000));
    expect(widthAt1000 / 50 / uncorrected).toBeGreaterThan(0.78);
    expect(widthAt1000 / 50 / uncorrected).toBeLessThan(0.86);
  });

  it('asks with the base id, and builds the request of each invocation type', () => {
    expect(countTokensModelId(`us.${HAIKU}`)).toBe(HAIKU);
    expect(countTokensModelId(`arn:aws:bedrock:us-east-1::foundation-model/${HAIKU}`)).toBe(HAIKU);
    expect(countTokensModelId(HAIKU)).toBe(HAIKU);
    const app = 'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123';
    expect(countTokensModelId(app)).toBe(app);
    const body = { anthropic_version: 'bedrock-2023-05-31', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] };
    const invoke = countTokensInput('InvokeModel', body);
    expect(JSON.parse(Buffer.from(invoke.invokeModel!.body!).toString('utf8'))).toEqual(body);
    const converse = countTokensInput('Converse', { messages: [{ role: 'user', content: [{ text: 'hi' }] }], system: [{ text: 's' }], inferenceConfig: { maxTokens: 10 } });
    expect(converse).toEqual({ converse: { messages: [{ role: 'user', content: [{ text: 'hi' }] }], system: [{ text: 's' }] } });
  });
});

describe('where CountTokens goes', () => {
  const files = () => ({ AWS_CONFIG_FILE: join(tmp.dir, 'no-config'), AWS_SHARED_CREDENTIALS_FILE: join(tmp.dir, 'no-credentials') });

  it("Bedrock's endpoint on this machine (the local service), else the runtime's own, else AWS's in the region", async () => {
    expect(await runtimeClientOptions({ endpointUrl: 'http://127.0.0.1:8089', env: files() })).toMatchObject({ endpointUrl: 'http://127.0.0.1:8089', region: 'us-east-1' });
    const configured = await runtimeClientOptions({ env: { ...files(), AWS_ENDPOINT_URL_BEDROCK: 'http://localhost:9999', AWS_REGION: 'eu-west-3' } });
    expect(configured).toMatchObject({ endpointUrl: 'http://localhost:9999', region: 'eu-west-3' });
    const elsewhere = await runtimeClientOptions({ endpointUrl: 'https://bedrock.example.com', env: { ...files(), AWS_ENDPOINT_URL_BEDROCK_RUNTIME: 'https://runtime.example.com', AWS_REGION: 'eu-west-3' } });
    expect(elsewhere).toMatchObject({ endpointUrl: 'https://runtime.example.com', region: 'eu-west-3' });
    const aws = await runtimeClientOptions({ region: 'us-west-2', env: files() });
    expect(aws.endpointUrl).toBeUndefined();
    await expect(runtimeClientOptions({ env: files() })).rejects.toMatchObject({ code: 'E_BAD_OPTION', message: expect.stringMatching(/no AWS region/) });
  });
});

describe('countRunTokens against the local service', () => {
  it('counts every record of a small run: the per-record counts summed, one request each', async () => {
    const run = await prepareVaried('small', 60, { perJob: 25 });
    const before = countTokensRequests();
    const r = await count({ prepared: run });
    expect(countTokensRequests() - before).toBe(60);
    let sum = 0;
    for (const rec of await recordsOf(run)) {
      const a = await client.send(new CountTokensCommand({ modelId: HAIKU, input: countTokensInput(rec.invocationType, rec.modelInput) }));
      sum += a.inputTokens!;
    }
    expect(sum).toBeGreaterThan(60);
    expect(r).toMatchObject({ exact: true, sampled: false, records: 60, counted: 60, inputTokens: sum, interval: { low: sum, high: sum, confidence: 1 }, requests: 60, throttled: 0 });
    expect(r.seed).toBeUndefined();
    expect(r.ratio).toBeCloseTo(sum / r.roughCounted, 10);
    expect(JSON.stringify(r)).not.toContain(SECRET);
  });

  it('counts Converse records through the converse member', async () => {
    const run = await prepareVaried('converse', 12, { converse: true });
    const r = await count({ prepared: run });
    let sum = 0;
    for (const rec of await recordsOf(run)) {
      expect(rec.invocationType).toBe('Converse');
      sum += (await client.send(new CountTokensCommand({ modelId: HAIKU, input: countTokensInput('Converse', rec.modelInput) }))).inputTokens!;
    }
    expect(r).toMatchObject({ exact: true, counted: 12, inputTokens: sum });
  });

  it('samples a large run (seeded), reads only the shards that hold sampled records, and its 95% interval holds the true total', async () => {
    const run = await prepareVaried('large', 600, { perJob: 100 });
    const truth = await count({ prepared: run, sample: 600, concurrency: 8 });
    expect(truth).toMatchObject({ exact: true, sampled: false, counted: 600 });

    // the seeds are fixed: each interval holds the truth with 95% confidence, so any seed may miss
    // 1 time in 20 (these were not picked for luck; the coverage test above checks the rate)
    const seen: number[] = [];
    for (const seed of [1, 2]) {
      const before = countTokensRequests();
      const r = await count({ prepared: run, sample: 60, seed });
      expect(countTokensRequests() - before).toBe(60);
      expect(r).toMatchObject({ exact: true, sampled: true, records: 600, counted: 60, seed, interval: { confidence: 0.95 } });
      expect(r.interval.low).toBeLessThanOrEqual(truth.inputTokens);
      expect(r.interval.high).toBeGreaterThanOrEqual(truth.inputTokens);
      expect(r.interval.low).toBeLessThan(r.inputTokens);
      expect(r.interval.high).toBeGreaterThan(r.inputTokens);
      // a sample of 60 of 600 records this uneven (sd about 3/4 of the mean) bounds the total within about ±20%
      expect((r.interval.high - r.interval.low) / truth.inputTokens).toBeLessThan(0.5);
      seen.push(r.inputTokens);
    }
    // another seed, another sample; the same seed, the same sample
    expect(seen[0]).not.toBe(seen[1]);
    expect((await count({ prepared: run, sample: 10, seed: 2 })).inputTokens).toBe((await count({ prepared: run, sample: 10, seed: 2 })).inputTokens);

    // 6 shards of 100: a sample of 2 reads at most 2 of them
    const store = new LocalStore(run);
    const opened: string[] = [];
    const read = store.createReadStream.bind(store);
    store.createReadStream = (key: string) => (opened.push(key), read(key));
    const two = await count({ prepared: store, sample: 2, seed: 5 });
    expect(two).toMatchObject({ counted: 2, sampled: true });
    const shards = opened.filter((k) => k.startsWith('input/'));
    expect(shards.length).toBeGreaterThanOrEqual(1);
    expect(shards.length).toBeLessThanOrEqual(2);
  });

  it('a model that does not count tokens (Nova) is said so after one request, and nothing is counted', async () => {
    const run = await prepareVaried('nova', 30, { modelId: NOVA });
    const before = countTokensRequests();
    const r = await count({ prepared: run });
    expect(countTokensRequests() - before).toBe(1);
    expect(r).toMatchObject({ exact: false, counted: 0, inputTokens: 0, records: 30, countedWith: NOVA });
    expect(r.reason).toMatch(/^amazon\.nova-lite-v1:0 does not support CountTokens \(ValidationException \(400\): The provided model doesn't support counting tokens\.?\); the input tokens stay prepare's rough estimate$/);
  });

  it('throttled requests are tried again with backoff, and the count is the same', async () => {
    const throttling = await startLocalService({ stateFile: false, paused: true, faults: { throttle: 0.3, seed: 4 } });
    const c = new BedrockRuntimeClient({ ...localClientConfig(throttling.endpoint), maxAttempts: 1 });
    try {
      const run = await prepareVaried('throttled', 40);
      const clean = await count({ prepared: run });
      const retries: string[] = [];
      const r = await countRunTokens({ prepared: run, client: c, backoff: { baseMs: 1, maxMs: 4 }, onRetry: (e) => retries.push(e.error) });
      expect(r.inputTokens).toBe(clean.inputTokens);
      expect(r.throttled).toBeGreaterThan(0);
      expect(r.requests).toBe(40 + r.throttled);
      expect(retries.length).toBe(r.throttled);
      expect(retries.every((e) => /^ThrottlingException \(429\)/.test(e))).toBe(true);
      expect(throttling.service.runtimeStats().byOperation.CountTokens.throttled).toBe(r.throttled);
    } finally {
      c.destroy();
      await throttling.close();
    }
  });
});

describe('what CountTokens refuses', () => {
  it('a record it refuses stops the count with an error naming the shard, the line and the recordId, never the text', async () => {
    const run = await prepareVaried('refused', 5);
    const prepared = JSON.parse(await readFile(join(run, 'prepared.json'), 'utf8'));
    const shard = join(run, prepared.jobs[0].shards[0].key);
    const lines = (await readFile(shard, 'utf8')).split('\n');
    const second = JSON.parse(lines[1]!);
    second.modelInput.max_tokens = -5;
    lines[1] = JSON.stringify(second);
    await writeFile(shard, lines.join('\n'));
    const error = await count({ prepared: run, concurrency: 1 }).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string; hint?: string },
    );
    expect(error).toMatchObject({ code: 'E_SERVICE' });
    expect(error!.message).toContain(`${shard}, line 2`);
    expect(error!.message).toMatch(new RegExp(`CountTokens refused record ${second.recordId} of ${HAIKU.replace(/\./g, '\\.')} \\(ValidationException \\(400\\): `));
    expect(error!.message).not.toContain(SECRET);
  });

  it('no permission: E_ACCESS_DENIED naming bedrock:CountTokens; an endpoint on this machine gets placeholder credentials', async () => {
    const seen: string[] = [];
    // HTTP/2 without TLS, as the runtime client speaks it (the local service serves both on its port)
    const server = createServer((req, res) => {
      seen.push(String(req.headers.authorization));
      req.resume();
      req.on('end', () => {
        const body = JSON.stringify({ message: 'User: arn:aws:iam::123456789012:user/ci is not authorized to perform: bedrock:CountTokens' });
        res.writeHead(403, { 'content-type': 'application/json', 'x-amzn-errortype': 'AccessDeniedException', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
    });
    server.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const run = await prepareVaried('denied', 5);
      const endpointUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const aws = { endpointUrl, env: { AWS_CONFIG_FILE: join(tmp.dir, 'no-config'), AWS_SHARED_CREDENTIALS_FILE: join(tmp.dir, 'no-credentials') }, credentials: { accessKeyId: 'AKIAUSERSOWNKEY00000', secretAccessKey: 'x' } };
      await expect(countRunTokens({ prepared: run, aws })).rejects.toMatchObject({ code: 'E_ACCESS_DENIED', message: expect.stringMatching(/CountTokens refused \(AccessDeniedException \(403\)/), hint: expect.stringMatching(/bedrock:CountTokens/) });
      expect(seen).toHaveLength(1);
      expect(seen[0]).toContain(`Credential=${localCredentials().accessKeyId}/`);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

describe('bedrock-batch estimate --exact', () => {
  const cliEnv = () => ({ AWS_CONFIG_FILE: join(tmp.dir, 'no-config'), AWS_SHARED_CREDENTIALS_FILE: join(tmp.dir, 'no-credentials') });

  it('--json: the rough estimate and, beside it, the counted one with its interval, ratio and cost; no record text', async () => {
    const run = await prepareVaried('cli', 120, { perJob: 50 });
    const r = await inProcess(['estimate', run, '--exact', '--sample', '40', '--seed', '9', '--bedrock-endpoint-url', local.endpoint, '--json'], cliEnv());
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ model: HAIKU, from: 'shards', total: { records: 120 } });
    const c = j.countTokens;
    expect(c).toMatchObject({ exact: true, sampled: true, records: 120, counted: 40, seed: 9, modelId: HAIKU, countedWith: HAIKU, requests: 40, throttled: 0 });
    expect(c.interval.low).toBeLessThanOrEqual(c.inputTokens);
    expect(c.interval.high).toBeGreaterThanOrEqual(c.inputTokens);
    expect(c.interval.confidence).toBe(0.95);
    expect(c.ratio).toBeGreaterThan(0);
    expect(c.cost.low).toBeLessThanOrEqual(c.cost.high);
    expect(c.cost.withOutput.low).toBeGreaterThan(c.cost.high);
    expect(r.stderr).toMatch(/input: +~[\d,]+ tokens \(rough estimate\)\n {2}exact: +[\d,]+ tokens, 95% interval [\d,]+ to [\d,]+: CountTokens on a sample of 40 of 120 records \(seed 9\)\n {10}CountTokens \/ rough estimate: \d+\.\d\d on the records counted/);
    expect(r.stderr).toMatch(/cost with the counted input: \$[\d.e-]+\.\.\$[\d.e-]+ \(input only\)/);
    expect(r.stdout + r.stderr).not.toContain(SECRET);

    const whole = await inProcess(['estimate', run, '--exact', '--sample', '120', '--bedrock-endpoint-url', local.endpoint], cliEnv());
    expect(whole.code).toBe(0);
    expect(whole.stderr).toMatch(/exact: +[\d,]+ tokens: CountTokens on every record \(120\)/);
  });

  it('Nova: a clear message, the rough estimate stays, exit 0', async () => {
    const run = await prepareVaried('cli-nova', 20, { modelId: NOVA });
    const r = await inProcess(['estimate', run, '--exact', '--bedrock-endpoint-url', local.endpoint, '--json'], cliEnv());
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.total.inputTokens).toBeGreaterThan(0);
    expect(j.countTokens).toMatchObject({ exact: false, counted: 0, reason: expect.stringMatching(/does not support CountTokens/) });
    expect(r.stderr).toMatch(/exact: +not counted: amazon\.nova-lite-v1:0 does not support CountTokens/);
    expect(r.stderr).toMatch(/input: +~[\d,]+ tokens \(rough estimate\)/);
  });
});
