/**
 * A killed on-demand run costs at most the requests in flight: a child process runs the built runner
 * (dist/src/ondemand/) against a slow local service, with a ledger stand-in that `onAnswered`
 * appends to, and is SIGKILLed mid-run; the same folder is then run again in this process with the
 * ledger's ids as `known`. Every record is answered exactly once in the output, the service was asked
 * at most records + concurrency times, and every answered id reached the ledger exactly once.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { startLocalService, type LocalService } from '../../src/local/server.js';
import { createBedrockRuntimeClient } from '../../src/jobs/client.js';
import { onDemandJobId, runOnDemandJob } from '../../src/ondemand/runner.js';
import { openStore } from '../../src/stores/index.js';
import { anthropicInput, FAST, HAIKU, put, recordId, TRANSCRIPT } from '../local/helpers.js';
import { tempDir } from '../support/temp.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const DIST = new URL('../../dist/src/', import.meta.url);
const RECORDS = 60;
const CONCURRENCY = 4;

let dir: string;
let cleanup: () => Promise<void>;
let local: LocalService | undefined;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('ondemand-kill-'));
});
afterEach(async () => {
  await local?.close();
  await cleanup();
});

it('a SIGKILLed run, run again, answers every record once and asks at most records + concurrency times', async () => {
  expect(existsSync(fileURLToPath(new URL('ondemand/runner.js', DIST))), 'build first: npx tsc -p tsconfig.build.json').toBe(true);
  // 40 ms per request: the child is killed with answers stored and calls in flight
  local = await startLocalService({ root: dir, quotas: 'local', stateFile: false, delays: { ...FAST, record: 40 } });
  let text = '';
  for (let i = 0; i < RECORDS; i++) text += JSON.stringify({ recordId: recordId(i), modelInput: anthropicInput(`${TRANSCRIPT}\nCustomer: reference ${i}.`, 150) }) + '\n';
  await put(join(dir, 'in-bucket'), 'run/job-0001/part-00001.jsonl', text);
  const config = {
    input: join(dir, 'in-bucket'),
    shards: [{ key: 'run/job-0001/part-00001.jsonl', records: RECORDS }],
    output: join(dir, 'out'),
    jobId: onDemandJobId('kill'),
    spool: join(dir, 'run'),
    spoolPrefix: 'on-demand/job-0001/',
    modelId: HAIKU,
    endpoint: local.endpoint,
    concurrency: CONCURRENCY,
    ledger: join(dir, 'ledger.jsonl'),
  };
  const script = `
    import { appendFileSync } from 'node:fs';
    import { runOnDemandJob } from ${JSON.stringify(new URL('ondemand/runner.js', DIST).href)};
    import { createBedrockRuntimeClient } from ${JSON.stringify(new URL('jobs/client.js', DIST).href)};
    import { openStore } from ${JSON.stringify(new URL('stores/index.js', DIST).href)};
    const c = JSON.parse(process.argv[2]);
    await runOnDemandJob({
      input: openStore(c.input), shards: c.shards, output: openStore(c.output), jobId: c.jobId,
      spool: openStore(c.spool), spoolPrefix: c.spoolPrefix, modelId: c.modelId, invocationType: 'InvokeModel',
      client: createBedrockRuntimeClient({ endpoint: c.endpoint, region: 'us-east-1' }),
      limits: { concurrency: c.concurrency },
      onAnswered: async (ids) => appendFileSync(c.ledger, JSON.stringify(ids) + '\\n'),
    });
    console.log('finished');`;
  await writeFile(join(dir, 'child.mjs'), script);
  const child = spawn(process.execPath, [join(dir, 'child.mjs'), JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));

  // kill it once a quarter of the answers are in the spool
  const spoolDir = join(dir, 'run', 'on-demand', 'job-0001');
  const stored = async () => (existsSync(spoolDir) ? (await readdir(spoolDir)).filter((n) => n.endsWith('.json')).length : 0);
  const guard = Date.now() + 30_000;
  while ((await stored()) < RECORDS / 4) {
    if (child.exitCode !== null || Date.now() > guard) throw new Error(`the child ended or stalled before it was killed: ${out}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');
  expect(out).not.toContain('finished');
  const askedBefore = local.service.runtimeStats().requests;
  const inSpool = await stored();
  expect(inSpool).toBeLessThan(RECORDS);

  // the ledger stand-in: what the killed run reported (a subset of what it stored)
  const ledgerText = existsSync(config.ledger) ? await readFile(config.ledger, 'utf8') : '';
  const reported = ledgerText.split('\n').filter(Boolean).flatMap((l) => JSON.parse(l) as string[]);
  const known = new Set(reported);
  expect(known.size).toBe(reported.length);

  const announced: string[] = [];
  const client = createBedrockRuntimeClient({ endpoint: local.endpoint, region: 'us-east-1' });
  const result = await runOnDemandJob({
    input: openStore(config.input),
    shards: config.shards,
    output: openStore(config.output),
    jobId: config.jobId,
    spool: openStore(config.spool),
    spoolPrefix: config.spoolPrefix,
    modelId: HAIKU,
    invocationType: 'InvokeModel',
    client,
    limits: { concurrency: CONCURRENCY },
    known,
    onAnswered: async (ids) => void announced.push(...ids),
  });
  client.destroy();

  // every record answered exactly once, in input order
  const lines = (await readFile(join(dir, 'out', config.jobId, 'part-00001.jsonl.out'), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { recordId: string; modelOutput?: unknown });
  expect(lines.map((l) => l.recordId)).toEqual(Array.from({ length: RECORDS }, (_, i) => recordId(i)));
  expect(lines.every((l) => l.modelOutput !== undefined)).toBe(true);
  expect(result.records).toEqual({ total: RECORDS, processed: RECORDS, success: RECORDS, error: 0 });
  expect(result.resumed).toBeGreaterThanOrEqual(inSpool);
  // the second run asked only what the spool lacked; the kill cost at most the calls in flight
  const asked = local.service.runtimeStats().requests;
  expect(result.requests).toBe(RECORDS - result.resumed);
  expect(asked - askedBefore).toBe(result.requests);
  expect(asked).toBeLessThanOrEqual(RECORDS + CONCURRENCY);
  // every answer reached the ledger once: before the kill, or as one the spool had and the ledger lacked
  expect([...reported, ...announced].sort()).toEqual(lines.map((l) => l.recordId).sort());
  expect(await readdir(spoolDir)).toEqual([]);
  console.log(`killed after ${askedBefore} requests with ${inSpool} answers stored and ${reported.length} in the ledger; the run again asked ${result.requests}: ${asked} requests for ${RECORDS} records (at most ${RECORDS + CONCURRENCY})`);
});
