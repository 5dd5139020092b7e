/**
 * A parallel prepare worker: each piece of a file the main thread sends is prepared by a
 * `PieceHandler` (piece.ts) and its result sent back, the buffers of its own transferred.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PieceHandler } from './piece.js';
import type { PieceMessage, WorkerSetup } from './protocol.js';
import { loadStages } from './stages.js';

const setup = workerData as WorkerSetup;
const handler = new PieceHandler(setup, await loadStages({ module: setup.stages.module, options: setup.stages.options }, { built: true }));

parentPort!.on('message', (msg: PieceMessage) => {
  const { reply, transfer } = handler.reply(msg);
  parentPort!.postMessage(reply, transfer);
});
