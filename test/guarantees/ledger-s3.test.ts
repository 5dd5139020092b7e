/**
 * Two writers of one ledger in S3 never lose each other's updates (issue 10, finding 10): every
 * append is a conditional PUT (If-None-Match: * for a new ledger, If-Match its ETag after), and a
 * writer that lost a race reads the ledger again and appends to what is there. Against moto's real
 * S3 (its own 412 PreconditionFailed), with 409 ConditionalRequestConflict and extra 412s injected
 * through a pass-through, since moto never sends the first and does not serialise racing writers.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Ledger, type NewLedgerEvent } from '../../src/jobs/ledger.js';
import type { StoreOptions } from '../../src/stores/index.js';
import { startMoto, type MotoServer } from '../support/moto.js';
import { startProxiedS3, stopProxiedS3, type S3Proxy } from '../support/s3-proxy.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

let s3: MotoServer;
let proxy: S3Proxy;
/** S3 settings: through the pass-through, one attempt per request (no SDK retries). */
let settings: StoreOptions;
beforeAll(async () => {
  ({ s3, proxy } = await startProxiedS3(startMoto, ['runs']));
  settings = { ...proxy.clientOptions, maxAttempts: 1 };
}, 60_000);
afterAll(async () => {
  await stopProxiedS3({ s3, proxy });
});
afterEach(() => {
  proxy.fault = undefined;
});

const arn = (id: string) => `arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/${id}`;
const status = (job: string, s: string): NewLedgerEvent => ({ event: 'status', job, jobArn: arn(job.replace('job-', 'aaaaaaaa')), status: s, records: { total: 1, processed: 0, success: 0, error: 0 } });
const stop = (job: string): NewLedgerEvent => ({ event: 'stop-requested', job, jobArn: arn(job.replace('job-', 'aaaaaaaa')) });

describe('a ledger in S3 with two writers', () => {
  it('keeps both writers\' events when they race to create it and to append to it (moto\'s own 412s)', async () => {
    const uri = 's3://runs/race-1/ledger.jsonl';
    const submit = await Ledger.open(uri, settings);
    const stopper = await Ledger.open(uri, settings); // both read "no ledger yet"
    await submit.append(status('job-0001', 'Submitted'));
    await stopper.append(stop('job-0001')); // If-None-Match: * loses: reads again, appends
    await submit.append(status('job-0001', 'InProgress')); // its ETag is stale now: reads again, appends
    await stopper.append(stop('job-0002'));
    const state = await Ledger.read(uri, settings);
    expect(state.events).toBe(4);
    expect(state.jobs.get('job-0001')).toMatchObject({ status: 'InProgress' });
    expect(state.jobs.has('job-0002')).toBe(true);
    const puts = proxy.ops('PutObject').filter((r) => r.key === 'race-1/ledger.jsonl');
    expect(puts.some((r) => r.headers['if-none-match'] === '*')).toBe(true);
    expect(puts.some((r) => typeof r.headers['if-match'] === 'string')).toBe(true);
  });

  it('rides out 409 ConditionalRequestConflict and injected 412s, and loses nothing', async () => {
    const uri = 's3://runs/race-2/ledger.jsonl';
    const a = await Ledger.open(uri, settings);
    await a.append(status('job-0001', 'Submitted'));
    const b = await Ledger.open(uri, settings);
    let n = 0;
    proxy.fault = (r) => {
      if (r.op !== 'PutObject' || r.key !== 'race-2/ledger.jsonl') return undefined;
      n++;
      if (n === 1) return { error: { status: 409, code: 'ConditionalRequestConflict', message: 'A conflicting conditional operation is currently in progress against this resource.' } };
      if (n === 3) return { error: { status: 412, code: 'PreconditionFailed', message: 'At least one of the pre-conditions you specified did not hold' } };
      return undefined;
    };
    await b.append(stop('job-0001'));
    await a.append(status('job-0001', 'Stopping'));
    await b.append(status('job-0002', 'Submitted'));
    await a.append(status('job-0001', 'Stopped'));
    expect(n).toBeGreaterThanOrEqual(6);
    const state = await Ledger.read(uri, settings);
    expect(state.events).toBe(5);
    expect(state.jobs.get('job-0001')).toMatchObject({ status: 'Stopped' });
    expect(state.jobs.get('job-0002')).toMatchObject({ status: 'Submitted' });
  });
});
