/**
 * The order of a job's output lines. Bedrock does not keep the input order ("The order of records
 * in the output JSONL file is not guaranteed to match the order of records in the input JSONL file",
 * docs/bedrock.md §1.1), so the local service shuffles by default: a reader that joins by position
 * passes locally only if it would pass on AWS. `input` keeps the input order, for debugging.
 *
 * The shuffle streams, with bounded memory: answered lines go into a window of at most `window`
 * lines and `windowBytes` bytes; while the window is over either bound, a line drawn at random from
 * it is written out; at the end of a file (or when a job stops) the rest come out in random order.
 * So a line can move anywhere later in the file and up to about `window` lines earlier, and at most
 * one window of lines is held per running job. The draws come from a PRNG seeded with the order's
 * `seed`, the job id and the file name: the same job writes the same order when it runs again.
 */
import { createHash } from 'node:crypto';
import { mulberry32, type Random } from '../core/random.js';
import { BatchError } from '../errors.js';

export interface OutputOrderOptions {
  /** `shuffled` (default) or `input`. */
  order?: 'shuffled' | 'input';
  /** Most lines held back at once (default 1,000). */
  window?: number;
  /** Most bytes held back at once (default 16 MiB; a line over it goes straight out). */
  windowBytes?: number;
  /** Seed of the draws, with the job id and file name (default 1). */
  seed?: number;
}

export type OutputOrder = Required<OutputOrderOptions>;

export const DEFAULT_OUTPUT_ORDER: OutputOrder = Object.freeze({ order: 'shuffled', window: 1000, windowBytes: 16 * 1024 * 1024, seed: 1 });

/** Check the options once, when the service starts. */
export function normalizeOutputOrder(options: OutputOrderOptions = {}): OutputOrder {
  const o = { ...DEFAULT_OUTPUT_ORDER, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as OutputOrder;
  if (o.order !== 'shuffled' && o.order !== 'input') throw new BatchError('E_BAD_OPTION', `output order must be "shuffled" or "input", got "${String(o.order)}"`);
  for (const k of ['window', 'windowBytes'] as const) {
    if (!Number.isSafeInteger(o[k]) || o[k] < 1) throw new BatchError('E_BAD_OPTION', `output order ${k} must be a whole number of at least 1, got ${String(o[k])}`);
  }
  if (!Number.isSafeInteger(o.seed)) throw new BatchError('E_BAD_OPTION', `output order seed must be a whole number, got ${String(o.seed)}`);
  return Object.freeze(o);
}

/** One file's lines in the order they are written: `add` gives what may be written now, `drain` the rest. */
export interface LineOrder {
  add(line: string): string[];
  drain(): string[];
  /** Lines held back now. */
  readonly held: number;
}

/** The order of one output file of one job. */
export function lineOrder(order: OutputOrder, jobId: string, fileName: string): LineOrder {
  if (order.order === 'input') return { add: (line) => [line], drain: () => [], held: 0 };
  const digest = createHash('sha256').update(`${order.seed}\n${jobId}\n${fileName}`).digest();
  return new WindowShuffle(mulberry32(digest.readUInt32BE(0)), order.window, order.windowBytes);
}

class WindowShuffle implements LineOrder {
  private readonly lines: string[] = [];
  private bytes = 0;

  constructor(
    private readonly random: Random,
    private readonly window: number,
    private readonly windowBytes: number,
  ) {}

  get held(): number {
    return this.lines.length;
  }

  add(line: string): string[] {
    this.lines.push(line);
    this.bytes += Buffer.byteLength(line);
    const out: string[] = [];
    while (this.lines.length > 0 && (this.lines.length > this.window || this.bytes > this.windowBytes)) out.push(this.take());
    return out;
  }

  drain(): string[] {
    const out: string[] = [];
    while (this.lines.length > 0) out.push(this.take());
    return out;
  }

  /** A line drawn at random, removed by swapping the last one into its place. */
  private take(): string {
    const i = Math.floor(this.random() * this.lines.length);
    const line = this.lines[i]!;
    this.lines[i] = this.lines[this.lines.length - 1]!;
    this.lines.pop();
    this.bytes -= Buffer.byteLength(line);
    return line;
  }
}
