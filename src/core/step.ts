/**
 * A step is a stage's logic without the stream: `write` takes one item and emits zero or more,
 * `end` emits what was held back. The same step runs as a Node object-mode Transform
 * (`stepStream`), fused with its neighbours into one Transform (`fuse`, which saves the per-stage
 * stream overhead on hot paths), or called directly in a test.
 *
 * A step throws only for errors that must stop the run (a broken invariant, a bad option); a bad row
 * or record becomes a `Reject` item that travels on down the stream.
 *
 * A decoder is the same idea at the byte end: `push` takes a chunk of an input and emits the items
 * found so far, `end` emits the rest; `decoderStream` runs one as a Transform from bytes to items.
 */
import { Transform } from 'node:stream';
import { BatchError, isBatchError } from '../errors.js';

export type Emit<T> = (item: T) => void;

export interface Step<I, O = I> {
  write(item: I, emit: Emit<O>): void;
  end?(emit: Emit<O>): void;
}

export interface StepStreamOptions {
  /** Items buffered on each side of the Transform (default 64). */
  highWaterMark?: number;
}

/** Wrap a step as an object-mode Transform. */
export function stepStream<I, O>(step: Step<I, O>, options: StepStreamOptions = {}): Transform {
  const highWaterMark = options.highWaterMark ?? 64;
  return new Transform({
    objectMode: true,
    highWaterMark,
    transform(chunk: I, _encoding, callback) {
      try {
        step.write(chunk, (item) => this.push(item));
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
    flush(callback) {
      try {
        step.end?.((item) => this.push(item));
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
  });
}

/** Bytes in, items out: each decoder is made with the `emit` its items go to. */
export interface Decoder {
  push(chunk: Buffer): void;
  end(): void;
}

export interface DecoderStreamOptions {
  /** The input's name, for an error that does not name it (default `-`). */
  file?: string;
}

/**
 * Wrap a decoder as a Transform from bytes to items (object mode on the readable side, 64 items
 * buffered). What the decoder throws becomes the stream's error: a BatchError as it is (it says
 * where), anything else (a bug) an E_INTERNAL naming the input.
 */
export function decoderStream<O>(make: (emit: Emit<O>) => Decoder, options: DecoderStreamOptions = {}): Transform {
  const file = options.file ?? '-';
  const failure = (error: unknown): Error =>
    isBatchError(error) ? error : new BatchError('E_INTERNAL', `the decoder failed: ${error instanceof Error ? error.message : String(error)}`, { file, cause: error });
  const stream = new Transform({
    writableObjectMode: false,
    readableObjectMode: true,
    readableHighWaterMark: 64,
    transform(chunk: Buffer, _encoding, callback) {
      try {
        decoder.push(chunk);
      } catch (error) {
        return callback(failure(error));
      }
      callback();
    },
    flush(callback) {
      try {
        decoder.end();
      } catch (error) {
        return callback(failure(error));
      }
      callback();
    },
  });
  const decoder = make((item) => stream.push(item));
  return stream;
}

/** Run several steps as one: each item goes through all of them before the next is read. */
export function fuse<I, O>(...steps: Step<any, any>[]): Step<I, O> {
  if (steps.length === 0) return { write: (item: I, emit: Emit<O>) => emit(item as unknown as O) };
  // emitters[i] feeds step i + 1; the last one is the caller's emit, set per call.
  let downstream: Emit<any> = () => {};
  const emitters: Emit<any>[] = new Array(steps.length);
  emitters[steps.length - 1] = (item) => downstream(item);
  for (let i = steps.length - 2; i >= 0; i--) {
    const next = steps[i + 1]!;
    const after = emitters[i + 1]!;
    emitters[i] = (item) => next.write(item, after);
  }
  const first = steps[0]!;
  const firstEmit = emitters[0]!;
  return {
    write(item, emit) {
      downstream = emit;
      first.write(item, firstEmit);
    },
    end(emit) {
      downstream = emit;
      for (let i = 0; i < steps.length; i++) steps[i]!.end?.(emitters[i]!);
    },
  };
}

/** A step from a function of one item (returning an item, an array of items, or nothing). */
export function mapStep<I, O>(fn: (item: I) => O | O[] | undefined): Step<I, O> {
  return {
    write(item, emit) {
      const out = fn(item);
      if (out === undefined) return;
      if (Array.isArray(out)) for (const o of out) emit(o);
      else emit(out);
    },
  };
}
