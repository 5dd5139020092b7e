/** decoderStream (src/core/step.ts): a decoder run as a Transform from bytes to items, its errors the stream's. */
import { Readable, type Transform } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { decoderStream, type Decoder, type Emit } from '../../src/core/step.js';
import { BatchError } from '../../src/errors.js';

/** Emits each chunk's length, then 'end'; throws what `fail` gives on the chunk `x`. */
function lengths(fail?: () => Error) {
  return (emit: Emit<string | number>): Decoder => ({
    push(chunk) {
      if (fail && chunk.toString() === 'x') throw fail();
      emit(chunk.length);
    },
    end: () => emit('end'),
  });
}

const run = (stream: Transform, chunks: string[]) => Readable.from(chunks.map((c) => Buffer.from(c))).pipe(stream).toArray();

describe('decoderStream', () => {
  it('pushes each chunk, then flushes at the end', async () => {
    await expect(run(decoderStream(lengths()), ['ab', 'cde'])).resolves.toEqual([2, 3, 'end']);
  });

  it('a BatchError the decoder throws is the stream error as it is', async () => {
    const error = new BatchError('E_BAD_OPTION', 'the header row has a duplicate column name', { file: 'a.csv', line: 1 });
    await expect(run(decoderStream(lengths(() => error), { file: 'a.csv' }), ['ab', 'x'])).rejects.toBe(error);
  });

  it('any other error is a bug: E_INTERNAL naming the input, the error as its cause', async () => {
    const bug = new TypeError('boom');
    await expect(run(decoderStream(lengths(() => bug), { file: 'a.csv' }), ['x'])).rejects.toMatchObject({
      code: 'E_INTERNAL',
      file: 'a.csv',
      message: 'a.csv: the decoder failed: boom',
      cause: bug,
    });
  });
});
