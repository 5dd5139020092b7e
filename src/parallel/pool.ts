/** A small pool of prepare workers: each piece goes to the least busy one; replies come back by seq. */
import { Worker } from 'node:worker_threads';
import { BatchError } from '../errors.js';
import { PieceHandler } from './piece.js';
import type { PieceMessage, WorkerReply, WorkerSetup } from './protocol.js';
import { runtimeUrl, type StagesModule } from './stages.js';

const YOUNG_GENERATION_MB = 12;

/**
 * A bound on a worker's old generation. A worker's live data is one piece and its records, yet V8
 * lets the old generation grow well past that before it collects: with no bound the process peaked
 * 30 MB higher at 1 GB of input than at 200 MB. The bound leaves room for rows up to the record
 * limit many times over (16 MB per MiB of it); a worker that still runs out fails the run with a
 * clear error (and `--workers 0` as the way round), never silently.
 */
function oldGenerationMb(maxRecordBytes: number): number {
  return 64 + Math.ceil((16 * maxRecordBytes) / (1 << 20));
}

interface Slot {
  worker: Worker;
  busy: number;
}

/** Pieces a worker may have queued before the main thread prepares the next one itself. */
const QUEUE_PER_WORKER = 2;

export class PiecePool {
  private readonly slots: Slot[] = [];
  private readonly waiting = new Map<number, { resolve: (r: WorkerReply) => void; reject: (e: Error) => void; slot: Slot }>();
  private failure?: Error;
  /** Pieces the main thread prepared itself because every worker had a full queue. */
  stolen = 0;

  /**
   * `size` worker threads; with `inline` (a handler on this thread), a piece that finds every
   * worker's queue full is prepared here at once instead of waiting: the main thread, idle between
   * reading and writing, is one more core's worth of work without one more isolate's memory.
   */
  constructor(
    size: number,
    setup: WorkerSetup,
    private readonly inline?: PieceHandler,
  ) {
    const url = new URL(runtimeUrl(new URL('./worker.js', import.meta.url)));
    for (let i = 0; i < size; i++) {
      // A young generation of 12 MB (V8's default grows to 48): measured here on 3 KB calls, peak
      // memory fell by 40 MB with no loss of speed (4 MB cost a third of the speed, 32 MB saved nothing).
      const worker = new Worker(url, { workerData: setup, resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB, maxOldGenerationSizeMb: oldGenerationMb(setup.maxRecordBytes) } });
      const slot: Slot = { worker, busy: 0 };
      worker.on('message', (reply: WorkerReply) => {
        const w = this.waiting.get(reply.seq);
        if (!w) return;
        this.waiting.delete(reply.seq);
        slot.busy--;
        w.resolve(reply);
      });
      const fail = (error: Error) => {
        this.failure ??= new BatchError('E_INTERNAL', `a prepare worker thread failed: ${error.message}`, {
          cause: error,
          hint: 'run again with --workers 0 to prepare on one thread, and please report this',
        });
        for (const [seq, w] of this.waiting) {
          if (w.slot !== slot) continue;
          this.waiting.delete(seq);
          w.reject(this.failure);
        }
      };
      worker.on('error', fail);
      worker.on('exit', (code) => {
        if (code !== 0) fail(new Error(`exited with code ${code}`));
      });
      this.slots.push(slot);
    }
  }

  /** Send a piece (its bytes are in shared slabs) and get the worker's reply. */
  run(message: PieceMessage): Promise<WorkerReply> {
    if (this.failure) return Promise.reject(this.failure);
    let slot = this.slots[0]!;
    for (const s of this.slots) if (s.busy < slot.busy) slot = s;
    if (this.inline && slot.busy >= QUEUE_PER_WORKER) {
      this.stolen++;
      return Promise.resolve(this.inline.reply(message).reply);
    }
    slot.busy++;
    return new Promise((resolve, reject) => {
      this.waiting.set(message.seq, { resolve, reject, slot });
      slot.worker.postMessage(message);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}

/**
 * `workers: 0`: the pieces prepared on this thread, by the same handler a worker runs, one at a
 * time (each `run` finishes before it returns its promise).
 */
export class InlinePool {
  private readonly handler: PieceHandler;

  constructor(setup: WorkerSetup, stages: StagesModule) {
    this.handler = new PieceHandler(setup, stages);
  }

  async run(message: PieceMessage): Promise<WorkerReply> {
    return this.handler.reply(message).reply;
  }

  async close(): Promise<void> {}
}
