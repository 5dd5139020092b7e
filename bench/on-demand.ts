/**
 * node dist/bench/on-demand.js [--records 720] [--rpm 240] [--delay 20]
 *
 * The on-demand path (docs/on-demand.md) against the local service's runtime endpoints, through
 * the real BedrockRuntimeClient over HTTP, one prepared folder of `--records` calls:
 *   baseline   the service without caps, the runner without caps (concurrency 8): what the path does
 *   capped     the service capped at `--rpm` requests per minute (as an account's on-demand quota),
 *              the runner told the same cap (`--rpm`): it paces itself, so nothing is throttled
 *   unpaced    the same cap on the service, the runner told nothing: it learns by being throttled,
 *              with submit's default backoff (jittered, 1 s doubling to 60 s, 8 retries per request)
 * Each prints records/s, requests sent, requests throttled, and the process's peak RSS; the capped
 * rate is compared with the cap (records/s = rpm / 60 at best). `--delay` is the model's time per
 * answer in ms (the service's record delay). The caps are per real minute (a sliding window), so the
 * capped tasks take about records / rpm minutes: three minutes at the defaults.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { quotaProfile } from '../src/bedrock/quotas.js';
import { createBedrockRuntimeClient } from '../src/jobs/client.js';
import { localCredentials, startLocalService } from '../src/local/server.js';
import { runOnDemandJob } from '../src/ondemand/runner.js';
import { prepareRun } from '../src/prepare.js';
import { loadPreparedRun } from '../src/jobs/run.js';
import { openStore } from '../src/stores/index.js';
import { adaptCalls } from '../transforms/adapters/detect.js';
import { promptCalls } from '../transforms/prompts/call-summary.js';
import { arg, num, pad } from './driver.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const records = Number(arg('records', '720'));
const rpm = Number(arg('rpm', '240'));
const delay = Number(arg('delay', '20'));
const MODEL = 'anthropic.claude-3-haiku-20240307-v1:0';

const dir = await mkdtemp(join(tmpdir(), 'bench-on-demand-'));
try {
  const lines = ['call_id,transcript'];
  for (let i = 1; i <= records; i++) lines.push(`B${i},"Agent: Thanks for calling, how can I help? Customer: Order ${i} arrived damaged and I want a replacement, please."`);
  await writeFile(join(dir, 'calls.csv'), lines.join('\n') + '\n');
  const run = join(dir, 'batch');
  const summary = await prepareRun({
    inputs: [join(dir, 'calls.csv')],
    out: run,
    adapt: adaptCalls(),
    prompt: promptCalls(),
    model: { modelId: MODEL, maxTokens: 200 },
    quotas: quotaProfile('local', { maxRecordsPerFile: records, maxRecordsPerJob: records }),
  });
  if (summary.written !== records) throw new Error(`prepared ${summary.written} of ${records} records`);
  const prepared = await loadPreparedRun(run);
  const job = prepared.manifest.jobs[0]!;
  const input = prepared.store;

  console.log(`on demand: ${records} records in one folder, model answers in ${delay} ms, ${process.version}`);
  console.log(`${pad('task', 10)} ${pad('service cap', 14)} ${pad('runner cap', 12)}  records/s  requests  throttled  peak RSS MiB  vs`);
  let baseline = 0;
  for (const task of ['baseline', 'capped', 'unpaced'] as const) {
    const serviceRpm = task === 'baseline' ? undefined : rpm;
    const local = await startLocalService({ runtime: serviceRpm ? { rpm: serviceRpm } : {}, delays: { record: delay } });
    const client = createBedrockRuntimeClient({ endpoint: local.endpoint, region: 'us-east-1', credentials: localCredentials() });
    const out = join(dir, `out-${task}`);
    const started = process.hrtime.bigint();
    const r = await runOnDemandJob({
      input,
      shards: job.shards,
      output: openStore(out),
      jobId: `on-demand-${task}`,
      spool: openStore(join(dir, `spool-${task}`)),
      spoolPrefix: '',
      modelId: MODEL,
      invocationType: 'InvokeModel',
      client,
      limits: { concurrency: 8, ...(task === 'capped' ? { rpm } : {}) },
    });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const rate = r.records.total / seconds;
    if (task === 'baseline') baseline = rate;
    const stats = local.service.runtimeStats();
    client.destroy();
    await local.close();
    const vs = task === 'baseline' ? '' : `${((rate / (rpm / 60)) * 100).toFixed(0)}% of the cap (${(rpm / 60).toFixed(0)}/s); ${((rate / baseline) * 100).toFixed(0)}% of baseline`;
    console.log(
      `${pad(task, 10)} ${pad(serviceRpm ? `${serviceRpm}/min` : 'none', 14)} ${pad(task === 'capped' ? `${rpm}/min` : 'none', 12)} ${num(rate, 1)} ${String(stats.requests).padStart(9)} ${String(stats.throttled).padStart(10)} ${num(process.resourceUsage().maxRSS / 1024, 0).padStart(13)}  ${vs}`,
    );
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
