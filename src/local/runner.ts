/**
 * A job's InProgress phase: stream each input file of its plan through the model, up to the model's
 * `concurrency` records in flight, into `<output>/<jobId>/<file>.out` (one line per record, echoing
 * `modelInput`, with `modelOutput` or `error`: docs/bedrock.md §2.2; shuffled within a bounded
 * window unless the service keeps the input order: output-order.ts), then write
 * `manifest.json.out` with the six counters (§2.3), and say how the job ends. Records whose
 * `modelInput` a real model would refuse (the family's own local check, never prepare's rules) get
 * a 400 error line, as Bedrock answers a malformed body per record; a record error leaves the job
 * Completed (PartiallyCompleted means "not processed in time"). The `invalidFields` fault spoils the
 * answers of a share of schema records (structured.ts) after the model gave them, whatever the model.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { MANIFEST_FIELDS, OUTPUT_MANIFEST, outputNameFor } from '../bedrock/vocabulary.js';
import { FAMILIES } from '../models/index.js';
import { selects, unitHash, type LocalFaults } from './faults.js';
import type { StoredJob } from './jobs.js';
import { readLines } from './lines.js';
import { ModelCallError, type LocalModel } from './models.js';
import { lineOrder, type OutputOrder } from './output-order.js';
import { MAX_LINE_BYTES, type InputFile, type RunPlan } from './plan.js';
import { familyOfShape, modelOutputFor, requestOf } from './responses.js';
import { removeOrphanedPartials } from './stores.js';
import { spoilAnswer } from './structured.js';
import { Stop, stopReason } from './stop.js';

export interface RunContext {
  model: LocalModel;
  faults: LocalFaults & { seed: number };
  /** Milliseconds per record, on top of the model's own time. */
  recordDelayMs: number;
  /** The order output lines are written in. */
  order: OutputOrder;
  signal: AbortSignal;
  /** Called each time the job's counters move. */
  onRecord: () => void;
}

/** How a run that was not stopped ends. */
export interface RunEnd {
  status: 'Completed' | 'PartiallyCompleted' | 'Failed';
  message?: string;
}

/** One record's output line and whether it holds modelOutput (true) or an error (false). */
interface Answered {
  line: string;
  ok: boolean;
}

/**
 * Run a validated job from its first record, counting in `job`. A stop ends each file with the
 * lines so far, writes the manifest and throws the Stop; a close throws with the output unfinished.
 */
export async function runJob(job: StoredJob, plan: RunPlan, c: RunContext): Promise<RunEnd> {
  const { signal, faults } = c;
  // A run cut off by a killed process is run again from the start; clear what its writers left.
  await removeOrphanedPartials(plan.outStore, `${plan.outPrefix}/`);
  job.processedRecordCount = job.successRecordCount = job.errorRecordCount = 0;
  job.inputTokenCount = job.outputTokenCount = 0;
  const half = Math.ceil(plan.records / 2);
  const failAt = selects(faults.fail, faults.seed, job.jobName, 'fail') ? half : Infinity;
  const partialAt = selects(faults.partial, faults.seed, job.jobName, 'partial') ? half : Infinity;
  const concurrency = Math.max(1, c.model.concurrency ?? 1);
  let end: 'done' | 'fail' | 'partial' | 'timeout' = 'done';
  let stopped = false;
  let seq = 0;

  outer: for (const file of plan.files) {
    // Opened on the first record, so a job cut short writes no file for inputs it never reached.
    let writer: Writable | undefined;
    let written: Promise<void> | undefined;
    const open = (): Writable => {
      if (!writer) {
        writer = plan.outStore.createWriteStream(`${plan.outPrefix}/${outputNameFor(file.name)}`, { contentType: 'application/jsonl' });
        written = finished(writer);
        written.catch(() => {});
      }
      return writer;
    };
    const pending: Promise<Answered>[] = [];
    const order = lineOrder(c.order, job.jobId, file.name);
    const write = async (lines: string[], drainSignal: AbortSignal | undefined) => {
      for (const line of lines) {
        const w = open();
        if (!w.write(line)) await once(w, 'drain', drainSignal ? { signal: drainSignal } : {});
      }
    };
    const flush = async (all: boolean) => {
      while (pending.length > (all ? 0 : concurrency - 1)) {
        const { line, ok } = await pending.shift()!;
        job.processedRecordCount++;
        if (ok) job.successRecordCount++;
        else job.errorRecordCount++;
        c.onRecord();
        await write(order.add(line), signal);
      }
    };
    try {
      for await (const line of readLines(file.store.createReadStream(file.key), MAX_LINE_BYTES)) {
        if (line.text.trim() === '') continue;
        if (signal.aborted) throw signal.reason;
        const queued = job.processedRecordCount + pending.length;
        if (queued >= failAt) end = 'fail';
        else if (queued >= partialAt) end = 'partial';
        else if (Date.now() > job.jobExpirationTime) end = 'timeout';
        if (end !== 'done') break;
        pending.push(answer(job, plan, JSON.parse(line.text) as Record<string, unknown>, file, line.number, c));
        await flush(false);
        if (c.recordDelayMs > 0) await sleep(c.recordDelayMs, undefined, { signal });
        else if (++seq % 256 === 0) await new Promise((r) => setImmediate(r));
      }
      await flush(true);
      await write(order.drain(), signal);
      // A file read to its end has its .out, even when it held no record.
      if (end === 'done') open();
      if (writer) {
        writer.end();
        await written;
      }
    } catch (err) {
      const why = stopReason(err, signal);
      await Promise.allSettled(pending);
      if (why === 'stop') {
        // Bedrock keeps what a stopped job wrote: end the file with the lines so far, those the
        // shuffle held back included (they are counted as processed).
        stopped = true;
        await write(order.drain(), undefined).catch(() => {});
        if (writer) {
          writer.end();
          await written!.catch(() => {});
        }
        break outer;
      }
      writer?.destroy(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
    if (end !== 'done') break;
  }
  const m = plan.outStore.createWriteStream(`${plan.outPrefix}/${OUTPUT_MANIFEST}`, { contentType: 'application/json' });
  m.end(JSON.stringify(Object.fromEntries(MANIFEST_FIELDS.map((f) => [f, job[f]]))));
  await finished(m);
  if (stopped) throw new Stop('stop');
  if (end === 'fail') return { status: 'Failed', message: 'The job failed while processing records: an internal error occurred. (local fault injection)' };
  if (end === 'partial') return { status: 'PartiallyCompleted', message: 'Not all of your records could be processed in time. (local fault injection)' };
  if (end === 'timeout') return { status: 'PartiallyCompleted', message: `Not all of your records could be processed within the timeout of ${job.timeoutDurationInHours} hours.` };
  return { status: 'Completed' };
}

/** One output line (with its newline) for one record. */
async function answer(job: StoredJob, plan: RunPlan, rec: Record<string, unknown>, file: InputFile, lineNumber: number, c: RunContext): Promise<Answered> {
  const { faults, signal } = c;
  const recordId = rec.recordId ?? generatedRecordId(job.jobId, file.name, lineNumber);
  const modelInput = rec.modelInput as Record<string, unknown>;
  const head = `{"recordId":${JSON.stringify(recordId)},"modelInput":${JSON.stringify(modelInput)}`;
  const fail = (errorCode: number, errorMessage: string): Answered => ({
    line: `${head},"error":${JSON.stringify({ errorCode, errorMessage })}}\n`,
    ok: false,
  });
  const family = plan.family ?? familyOfShape(modelInput);
  if (family === undefined) return fail(400, 'Malformed input request: the modelInput does not match the request format of the model.');
  const refused = FAMILIES[family].local.checkRequest(modelInput, job.modelId);
  if (refused.length > 0) return fail(400, `Malformed input request: ${refused.slice(0, 3).join('; ')}`);
  const rate = faults.recordErrors;
  if (rate && unitHash(faults.seed, `record\n${job.jobName}\n${String(recordId)}`) < rate) {
    return unitHash(faults.seed, `kind\n${String(recordId)}`) < 0.5
      ? fail(429, 'ThrottlingException: Too many requests, please wait before trying again. (local fault injection)')
      : fail(500, 'InternalServerException: The model returned an internal error. (local fault injection)');
  }
  const started = performance.now();
  try {
    const request = requestOf(family, modelInput);
    let answer = await c.model.answer(request, { modelId: job.modelId, recordId: String(recordId), signal });
    const ask = faults.invalidFields ? request.structured : undefined;
    if (ask && unitHash(faults.seed, `invalid-fields\n${job.jobName}\n${String(recordId)}`) < faults.invalidFields!) {
      answer = spoilAnswer(answer, ask.schema, unitHash(faults.seed, `invalid-kind\n${String(recordId)}`) < 0.5 ? 'missing' : 'enum');
    }
    job.inputTokenCount += answer.inputTokens;
    job.outputTokenCount += answer.outputTokens;
    const output = modelOutputFor(family, job.modelId, answer, { recordId: String(recordId), latencyMs: performance.now() - started });
    return { line: `${head},"modelOutput":${JSON.stringify(output)}}\n`, ok: true };
  } catch (err) {
    if (err instanceof ModelCallError) return fail(err.errorCode, err.message);
    if (signal.aborted) throw signal.reason;
    return fail(500, `The model failed: ${(err as Error).message}`);
  }
}

/** A recordId for a line without one ("Amazon Bedrock adds it in the output"): 11 alphanumerics. */
function generatedRecordId(jobId: string, file: string, line: number): string {
  const h = unitHash(line, `${jobId}\n${file}`).toString(36).slice(2, 8).toUpperCase();
  return `R${h.padEnd(6, '0')}${String(line).padStart(4, '0').slice(-4)}`;
}
