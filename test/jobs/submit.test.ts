/**
 * submit / watch / resume / status / stop, end to end: the real @aws-sdk/client-bedrock against the
 * local service over HTTP (in-process for local runs, a shared instance for endpoint runs).
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateModelInvocationJobCommand, StopModelInvocationJobCommand } from '@aws-sdk/client-bedrock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { normalizeModelId } from '../../src/models/ids.js';
import type { LocalService } from '../../src/local/server.js';
import type { Transition } from '../../src/local/service.js';
import { isTerminal } from '../../src/bedrock/vocabulary.js';
import { quotaProfile } from '../../src/bedrock/quotas.js';
import { runStatus, stopJobs } from '../../src/jobs/status.js';
import { Ledger } from '../../src/jobs/ledger.js';
import { submitRun, type JobState, type SubmittedEvent, type WaitingEvent } from '../../src/jobs/submit.js';
import { watchJobs, type RetryEvent } from '../../src/jobs/watch.js';
import { reportSubmission } from '../../src/jobs/progress.js';
import { clientOf, startFast, waitFor } from '../local/helpers.js';
import { tempDir } from '../support/temp.js';
import { FAST_LOCAL, ledgerEvents, localRun, outputLines, prepareCalls, QUICK, ROLE, shardIds } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('submit-'));
});
afterEach(async () => {
  await cleanup();
});


describe('submit on the local service (no AWS)', () => {
  it('creates one job per folder, watches them to the end, and writes everything to the ledger', async () => {
    const run = join(dir, 'batch');
    const out = join(dir, 'out');
    await prepareCalls(run, 25, 10);
    const submission = submitRun(localRun(run, out));
    const events: string[] = [];
    submission.on('target', (t) => events.push(`target ${t.mode} ${t.reason}`));
    submission.on('submitted', (e: SubmittedEvent) => events.push(`${e.how} ${e.job.job}`));
    const result = await submission.done();
    expect(events).toEqual(['target local local directories', 'created job-0001', 'created job-0002', 'created job-0003']);
    expect(result).toMatchObject({ mode: 'local', ok: true, finished: true, created: 3, byStatus: { Completed: 3 } });
    expect(result.records).toEqual({ total: 25, processed: 25, success: 25, error: 0 });
    for (const job of result.jobs) {
      expect(job.jobName).toMatch(/^batch-[0-9a-f]{8}-job-000[123]$/);
      expect(job.clientRequestToken).toMatch(/^[0-9a-f]{64}$/);
      expect(job.inputUri).toBe(`s3://bedrock-batch-input/input/${job.job}/`);
      expect(job.outputUri).toBe('s3://bedrock-batch-output/');
      expect(job.output).toBe(`${join(out, job.jobId!)}/`);
      const lines = await outputLines(job.output!);
      expect(lines.map((l) => l.recordId).sort()).toEqual(shardIds(run, job.job).sort());
      expect(lines.every((l) => l.modelOutput.content[0].text.startsWith('[local stand-in] Reason: Hi, I am calling about order'))).toBe(true);
    }
    const ledger = ledgerEvents(join(run, 'ledger.jsonl'));
    expect(ledger[0]).toMatchObject({ v: 1, event: 'run', mode: 'local', output: out, outputUri: 's3://bedrock-batch-output/', jobs: 3 });
    for (const job of result.jobs) {
      const mine = ledger.filter((e) => e.job === job.job).map((e) => e.event);
      expect(mine[0]).toBe('submitting');
      expect(mine[1]).toBe('submitted');
      expect(mine.at(-1)).toBe('done');
      expect(mine.filter((e) => e === 'submitted')).toHaveLength(1);
    }
    expect(JSON.stringify(ledger)).not.toContain('Reason:'); // no record text in the ledger
  });

  it('resumes: a second submit finds every job and creates none', async () => {
    const run = join(dir, 'batch');
    await prepareCalls(run, 12, 4);
    const first = await submitRun(localRun(run, join(dir, 'out'))).done();
    const second = submitRun({ run, ...QUICK, localService: FAST_LOCAL }); // no --output: the ledger's
    const how: string[] = [];
    second.on('submitted', (e: SubmittedEvent) => how.push(e.how));
    const result = await second.done();
    expect(result.created).toBe(0);
    expect(how).toEqual(['known', 'known', 'known']);
    expect(result.jobs.map((j) => j.jobArn)).toEqual(first.jobs.map((j) => j.jobArn));
    const state = JSON.parse(readFileSync(join(run, 'local-service', 'jobs.json'), 'utf8'));
    expect(state.jobs).toHaveLength(3);
    await expect(submitRun(localRun(run, join(dir, 'elsewhere'))).done()).rejects.toMatchObject({ code: 'E_BAD_OPTION', message: expect.stringContaining('writes to') });
  });

  it('adopts a job the service has but the ledger lost (a crash between Create and the ledger line)', async () => {
    const run = join(dir, 'batch');
    await prepareCalls(run, 6, 3);
    const first = await submitRun(localRun(run, join(dir, 'out'))).done();
    // keep only what was written before the first Create answered
    const ledgerPath = join(run, 'ledger.jsonl');
    const events = ledgerEvents(ledgerPath);
    const cut = events.findIndex((e) => e.event === 'submitted');
    await writeFile(ledgerPath, events.slice(0, cut).map((e) => JSON.stringify(e) + '\n').join('') + '{"v":1,"at":"2026-01-01T00:00:00Z","event":"subm');
    const again = submitRun(localRun(run, join(dir, 'out')));
    const notes: string[] = [];
    const how: string[] = [];
    again.on('note', (n: string) => notes.push(n));
    again.on('submitted', (e: SubmittedEvent) => how.push(`${e.how} ${e.job.job}`));
    const result = await again.done();
    expect(notes[0]).toMatch(/ignored line \d+ \(\d+ bytes\), an event cut short by an interrupted write/);
    expect(how).toEqual(['adopted job-0001', 'adopted job-0002']);
    expect(result.created).toBe(0);
    expect(result.jobs.map((j) => j.jobArn)).toEqual(first.jobs.map((j) => j.jobArn));
    expect(JSON.parse(readFileSync(join(run, 'local-service', 'jobs.json'), 'utf8')).jobs).toHaveLength(2);
    // the torn line stays, closed: every event after it is a line of its own
    const lines = readFileSync(ledgerPath, 'utf8').split('\n').filter(Boolean);
    expect(lines.filter((l) => { try { JSON.parse(l); return false; } catch { return true; } })).toEqual(['{"v":1,"at":"2026-01-01T00:00:00Z","event":"subm']);
    expect((await Ledger.read(ledgerPath)).jobs.get('job-0002')).toMatchObject({ status: 'Completed', done: true });
  });

  it('says so when the service does not know a job the ledger records', async () => {
    const run = join(dir, 'batch');
    await prepareCalls(run, 4, 4);
    await submitRun(localRun(run, join(dir, 'out'))).done();
    await rm(join(run, 'local-service'), { recursive: true });
    await expect(submitRun(localRun(run, join(dir, 'out'))).done()).rejects.toMatchObject({
      code: 'E_LEDGER_MISMATCH',
      hint: expect.stringContaining('local-service/jobs.json'),
    });
  });

  it('refuses a job folder that changed since prepare, before creating anything', async () => {
    const run = join(dir, 'batch');
    await prepareCalls(run, 4, 2);
    await writeFile(join(run, 'input', 'job-0002', 'notes.txt'), 'stray');
    await expect(submitRun(localRun(run, join(dir, 'out'))).done()).rejects.toMatchObject({ code: 'E_SHARDS_CHANGED', message: expect.stringContaining('notes.txt') });
    // job-0001 was fine and went first; job-0002 was never created
    const state = JSON.parse(readFileSync(join(run, 'local-service', 'jobs.json'), 'utf8'));
    expect(state.jobs.map((j: { jobName: string }) => j.jobName.slice(-8))).toEqual(['job-0001']);
  });

  it('ends the wait on every terminal state; Failed and Expired make the result not ok', async () => {
    const run = join(dir, 'batch');
    await prepareCalls(run, 8, 2);
    const result = await submitRun(localRun(run, join(dir, 'out'), { localService: { faults: { fail: 'job-0001', partial: 'job-0002', expire: 'job-0003', recordErrors: 0.3 } } })).done();
    expect(result.jobs.map((j) => j.status)).toEqual(['Failed', 'PartiallyCompleted', 'Expired', 'Completed']);
    expect(result.ok).toBe(false);
    expect(result.jobs[0]!.message).toContain('local fault injection');
    const done = ledgerEvents(join(run, 'ledger.jsonl')).filter((e) => e.event === 'done');
    expect(done.map((e) => e.status).sort()).toEqual(['Completed', 'Expired', 'Failed', 'PartiallyCompleted']);
    expect(done.find((e) => e.status === 'Failed').message).toContain('local fault injection');
  });

  it('reports a refused Create with the service message, records it, and goes on after a fix', async () => {
    const run = join(dir, 'batch');
    await prepareCalls(run, 4, 4);
    await expect(submitRun(localRun(run, join(dir, 'out'), { kmsKeyId: 'not a key' })).done()).rejects.toMatchObject({
      code: 'E_JOB_CREATE',
      message: expect.stringContaining("at 'outputDataConfig.s3OutputDataConfig.s3EncryptionKeyId' failed to satisfy constraint"),
    });
    expect(ledgerEvents(join(run, 'ledger.jsonl')).map((e) => e.event)).toEqual(['run', 'submitting', 'create-failed']);
    const result = await submitRun(localRun(run, join(dir, 'out'))).done();
    expect(result).toMatchObject({ ok: true, created: 1 });
  });

  it('refuses a --model of another family than the run was prepared for', async () => {
    const run = join(dir, 'batch');
    await prepareCalls(run, 2, 2);
    await expect(submitRun(localRun(run, join(dir, 'out'), { modelId: 'amazon.nova-lite-v1:0' })).done()).rejects.toMatchObject({ code: 'E_BAD_OPTION', message: expect.stringContaining('nova model') });
  });

  it('stops on abort with a readable ledger, and the next submit finishes without a second job', async () => {
    const run = join(dir, 'batch');
    await prepareCalls(run, 30, 10);
    const controller = new AbortController();
    const submission = submitRun(localRun(run, join(dir, 'out'), { signal: controller.signal, localService: { delays: { record: 5 } } }));
    submission.on('status', (j: JobState) => {
      if (j.status === 'InProgress') controller.abort(new Error('user pressed Ctrl-C'));
    });
    await expect(submission.done()).rejects.toThrow('user pressed Ctrl-C');
    const result = await submitRun(localRun(run, join(dir, 'out'))).done();
    expect(result).toMatchObject({ ok: true, records: { total: 30, processed: 30, success: 30, error: 0 } });
    const state = JSON.parse(readFileSync(join(run, 'local-service', 'jobs.json'), 'utf8'));
    expect(state.jobs).toHaveLength(3);
    for (const j of result.jobs) expect((await outputLines(j.output!)).map((l) => l.recordId).sort()).toEqual(shardIds(run, j.job).sort());
  });

  it('status and stop talk to the running submit; stopped jobs end its wait', async () => {
    const run = join(dir, 'batch');
    await prepareCalls(run, 40, 20);
    const submission = submitRun(localRun(run, join(dir, 'out'), { localService: { delays: { record: 10 } } }));
    const running = new Promise<void>((resolve) => submission.on('status', (j: JobState) => j.status === 'InProgress' && resolve()));
    await running;
    const status = await runStatus({ run });
    expect(status.mode).toBe('local');
    expect(status.target).toContain('running submit');
    expect(status.jobs.every((j) => j.jobArn)).toBe(true);
    const stopped = await stopJobs({ run, all: true });
    expect(stopped.map((s) => s.outcome)).toEqual(['stopping', 'stopping']);
    const result = await submission.done();
    expect(result.jobs.map((j) => j.status)).toEqual(['Stopped', 'Stopped']);
    expect(result.ok).toBe(true);
    const after = await runStatus({ run });
    expect(after.jobs.map((j) => j.status)).toEqual(['Stopped', 'Stopped']);
    expect(await stopJobs({ run, jobs: ['job-0001'] })).toEqual([{ job: 'job-0001', jobArn: result.jobs[0]!.jobArn, outcome: 'finished', status: 'Stopped' }]);
    await expect(stopJobs({ run, jobs: ['job-0009'] })).rejects.toMatchObject({ code: 'E_JOB_NOT_FOUND' });
    expect(ledgerEvents(join(run, 'ledger.jsonl')).filter((e) => e.event === 'stop-requested')).toHaveLength(2);
  });

  it('draws a progress bar on a TTY and plain lines otherwise', async () => {
    const fake = (tty: boolean) => {
      const w = { text: '', isTTY: tty, columns: 100, write: (c: string) => ((w.text += c), true), cursorTo: () => true, moveCursor: () => true, clearLine: () => true, clearScreenDown: () => true, on: () => w, removeListener: () => w };
      return w;
    };
    for (const tty of [true, false]) {
      const run = join(dir, tty ? 'tty' : 'plain');
      await prepareCalls(run, 6, 3);
      const stream = fake(tty);
      const submission = submitRun(localRun(run, join(dir, `out-${tty}`)));
      const stop = reportSubmission(submission, { stream: stream as unknown as NodeJS.WriteStream, tty });
      await submission.done();
      stop();
      expect(stream.text).toContain('submit: using the local service');
      expect(stream.text).toMatch(/job-0002 (tty|plain)-[0-9a-f]{8}-job-0002 Completed 3\/3 records/);
      if (tty) expect(stream.text).toMatch(/100% \| 6\/6 records \| 2 Completed/);
      else expect(stream.text).toContain('submit: 6/6 records processed; jobs: 2 Completed');
    }
  });

  it('status without a ledger lists the folders as not submitted', async () => {
    const run = join(dir, 'batch');
    await prepareCalls(run, 4, 2);
    const status = await runStatus({ run });
    expect(status.jobs.map((j) => [j.job, j.status, j.records.total])).toEqual([
      ['job-0001', 'NotSubmitted', 2],
      ['job-0002', 'NotSubmitted', 2],
    ]);
    expect(status.mode).toBeUndefined();
  });
});

describe('submit to a shared service endpoint', () => {
  let local: LocalService;
  afterEach(async () => {
    await local?.close();
  });

  /** Jobs of the model not yet finished on the service, at most ever. */
  function trackPeak(service: LocalService): () => number {
    let inFlight = 0;
    let peak = 0;
    service.service.on('transition', (t: Transition) => {
      if (t.from === undefined) inFlight++;
      else if (isTerminal(t.to) && !isTerminal(t.from)) inFlight--;
      peak = Math.max(peak, inFlight);
    });
    return () => peak;
  }

  /** Two prepared runs of two clients in the service's input bucket (calls, calls per job), and the output bucket. */
  async function twoRuns(a: [number, number], b: [number, number]): Promise<{ runA: string; runB: string }> {
    await mkdir(join(dir, 'out-bucket'));
    const runA = join(dir, 'in-bucket', 'run-a');
    const runB = join(dir, 'in-bucket', 'run-b');
    await prepareCalls(runA, ...a, { seed: 1 });
    await prepareCalls(runB, ...b, { seed: 2 });
    return { runA, runB };
  }

  it('queues: never more than maxInFlight jobs of the model, though the service would take more', async () => {
    local = await startFast({ root: dir, quotas: quotaProfile('local', { maxJobsInFlight: 10 }), concurrency: 4, delays: { record: 2 } });
    const peak = trackPeak(local);
    await mkdir(join(dir, 'out-bucket')); // a bucket: it must exist
    const run = join(dir, 'in-bucket', 'run');
    await prepareCalls(run, 15, 3);
    const s = submitRun({ run, output: join(dir, 'out-bucket', 'q'), endpointUrl: local.endpoint, s3Root: dir, roleArn: ROLE, maxInFlight: 2, ...QUICK });
    const waiting: number[] = [];
    s.on('waiting', (w: WaitingEvent) => waiting.push(w.inFlight));
    const r = await s.done();
    expect(r).toMatchObject({ mode: 'aws', ok: true, created: 5 });
    expect(peak()).toBe(2);
    expect(waiting.length).toBeGreaterThan(0);
    expect(waiting.every((n) => n === 2)).toBe(true);
    expect(r.jobs[0]!.inputUri).toBe('s3://in-bucket/run/input/job-0001/');
    expect(r.jobs[0]!.outputUri).toBe('s3://out-bucket/q/');
    for (const j of r.jobs) expect((await outputLines(j.output!)).map((l) => l.recordId).sort()).toEqual(shardIds(run, j.job).sort());
  });

  it('shares the quota with another process: jobs it did not create count, found with ListModelInvocationJobs', async () => {
    // the service would take 10; only the clients' own counting keeps it at 2
    local = await startFast({ root: dir, quotas: quotaProfile('local', { maxJobsInFlight: 10 }), concurrency: 4, delays: { record: 10 } });
    const peak = trackPeak(local);
    const { runA, runB } = await twoRuns([20, 10], [6, 3]);
    const common = { endpointUrl: local.endpoint, s3Root: dir, roleArn: ROLE, maxInFlight: 2, ...QUICK };
    const a = submitRun({ run: runA, output: join(dir, 'out-bucket', 'a'), ...common });
    const aSubmitted = new Promise<void>((resolve) => {
      let n = 0;
      a.on('submitted', () => ++n === 2 && resolve());
    });
    await aSubmitted; // A's two jobs hold both slots, and A creates no more
    const b = submitRun({ run: runB, output: join(dir, 'out-bucket', 'b'), ...common });
    const waiting: WaitingEvent[] = [];
    b.on('waiting', (w: WaitingEvent) => waiting.push(w));
    const [ra, rb] = await Promise.all([a.done(), b.done()]);
    expect(ra).toMatchObject({ ok: true, created: 2 });
    expect(rb).toMatchObject({ ok: true, created: 2 });
    expect(waiting[0]).toEqual({ reason: 'quota', inFlight: 2, maxInFlight: 2, pending: 2 });
    expect(peak()).toBe(2);
  });

  it('rides out throttling and quota refusals from a busy service, with jittered backoff', async () => {
    local = await startFast({ root: dir, quotas: quotaProfile('local', { maxJobsInFlight: 2 }), concurrency: 4, delays: { record: 2 }, faults: { throttle: 0.25, seed: 11 } });
    const peak = trackPeak(local);
    const { runA, runB } = await twoRuns([15, 3], [9, 3]);
    // each client thinks it may have 3: the service's quota of 2 refuses the rest
    const common = { endpointUrl: local.endpoint, s3Root: dir, roleArn: ROLE, maxInFlight: 3, ...QUICK, maxRetries: 50 };
    const a = submitRun({ run: runA, output: join(dir, 'out-bucket', 'a'), ...common });
    const b = submitRun({ run: runB, output: join(dir, 'out-bucket', 'b'), ...common });
    const retried = new Set<string>();
    for (const s of [a, b]) s.on('retry', (e: RetryEvent) => retried.add(e.error.split(' ')[0]!));
    const [ra, rb] = await Promise.all([a.done(), b.done()]);
    expect(ra).toMatchObject({ ok: true, created: 5 });
    expect(rb).toMatchObject({ ok: true, created: 3 });
    expect(peak()).toBe(2);
    expect(retried.has('ThrottlingException')).toBe(true);
    const jobs = local.service.snapshot();
    expect(jobs).toHaveLength(8);
    expect(new Set(jobs.map((j) => j.jobName)).size).toBe(8);
    expect(jobs.every((j) => j.status === 'Completed')).toBe(true);
  });

  it('passes timeout, tags, KMS key and VPC config through to the job', async () => {
    local = await startFast({ root: dir, paused: true });
    const run = join(dir, 'in-bucket', 'run');
    await prepareCalls(run, 2, 2);
    const r = await submitRun({
      run,
      output: join(dir, 'out-bucket', 'x'),
      endpointUrl: local.endpoint,
      s3Root: dir,
      roleArn: ROLE,
      modelId: 'us.anthropic.claude-3-haiku-20240307-v1:0',
      timeoutHours: 96,
      tags: [{ key: 'project', value: 'care-summaries' }],
      kmsKeyId: 'alias/batch-output',
      vpc: { subnetIds: ['subnet-0a1b'], securityGroupIds: ['sg-0c2d'] },
      wait: false,
      ...QUICK,
    }).done();
    expect(r).toMatchObject({ finished: false, created: 1 });
    const [job] = local.service.snapshot();
    expect(job).toMatchObject({
      timeoutDurationInHours: 96,
      tags: [{ key: 'project', value: 'care-summaries' }],
      vpcConfig: { subnetIds: ['subnet-0a1b'], securityGroupIds: ['sg-0c2d'] },
      outputDataConfig: { s3OutputDataConfig: { s3Uri: 's3://out-bucket/x/', s3EncryptionKeyId: 'alias/batch-output' } },
      modelId: 'arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0',
    });
    expect(normalizeModelId(job!.modelId)).toBe('anthropic.claude-3-haiku-20240307-v1:0');
  });

  it('watchJobs polls until every job is terminal, Stopped included', async () => {
    local = await startFast({ root: dir, delays: { record: 5 } });
    await mkdir(join(dir, 'out-bucket'));
    const run = join(dir, 'in-bucket', 'run');
    await prepareCalls(run, 40, 20);
    const submitted = await submitRun({ run, output: join(dir, 'out-bucket', 'w'), endpointUrl: local.endpoint, s3Root: dir, roleArn: ROLE, wait: false, ...QUICK }).done();
    const client = clientOf(local);
    const arns = submitted.jobs.map((j) => j.jobArn!);
    await waitFor(client, arns[0]!, ['InProgress', 'Completed']);
    await client.send(new StopModelInvocationJobCommand({ jobIdentifier: arns[0] }));
    const watch = watchJobs({ client, jobs: arns, pollMs: 10, maxPollMs: 40 });
    const seen: string[] = [];
    watch.on('status', (j) => seen.push(`${j.jobArn.slice(-12)} ${j.status}`));
    const jobs = await watch.done();
    expect(jobs.map((j) => j.status).sort()).toEqual(['Completed', 'Stopped']);
    expect(seen.some((s) => s.endsWith('Stopped'))).toBe(true);
    client.destroy();
  });

  it('needs a role and an S3 output on AWS, and says so', async () => {
    const run = join(dir, 'batch');
    await prepareCalls(run, 2, 2);
    await expect(submitRun({ run, output: 's3://out-bucket/x/', ...QUICK }).done()).rejects.toMatchObject({ code: 'E_BAD_OPTION', message: expect.stringContaining('--role-arn') });
    await expect(submitRun({ run, output: join(dir, 'o'), aws: true, roleArn: ROLE, ...QUICK }).done()).rejects.toMatchObject({ code: 'E_BAD_OPTION', message: expect.stringContaining('writes to S3') });
    expect(existsSync(join(run, 'ledger.jsonl'))).toBe(false);
  });

  it('an unknown job created by someone else with our name is adopted, not duplicated', async () => {
    local = await startFast({ root: dir, paused: true });
    const run = join(dir, 'in-bucket', 'run');
    const prepared = await prepareCalls(run, 2, 2);
    void prepared;
    const client = clientOf(local);
    // a first submit whose process died before writing anything but the run event
    const first = await submitRun({ run, output: join(dir, 'out-bucket', 'x'), endpointUrl: local.endpoint, s3Root: dir, roleArn: ROLE, wait: false, ...QUICK }).done();
    await rm(join(run, 'ledger.jsonl'));
    const again = await submitRun({ run, output: join(dir, 'out-bucket', 'x'), endpointUrl: local.endpoint, s3Root: dir, roleArn: ROLE, wait: false, ...QUICK }).done();
    expect(again.created).toBe(0);
    expect(again.jobs[0]!.jobArn).toBe(first.jobs[0]!.jobArn);
    expect(local.service.snapshot()).toHaveLength(1);
    // and the derived token alone also protects: a raw Create with it returns the same job
    const raw = await client.send(
      new CreateModelInvocationJobCommand({
        jobName: 'other-name',
        roleArn: ROLE,
        modelId: 'anthropic.claude-3-haiku-20240307-v1:0',
        clientRequestToken: first.jobs[0]!.clientRequestToken,
        inputDataConfig: { s3InputDataConfig: { s3Uri: first.jobs[0]!.inputUri } },
        outputDataConfig: { s3OutputDataConfig: { s3Uri: first.jobs[0]!.outputUri } },
      }),
    );
    expect(raw.jobArn).toBe(first.jobs[0]!.jobArn);
    client.destroy();
  });
});
