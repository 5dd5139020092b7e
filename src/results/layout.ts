/**
 * How collect reads: the prepared run (`prepared.json` through src/run/prepared.ts), objects as
 * byte streams in chunks sized for the join, and small whole-file reads through a Store. The job
 * output folders are found by src/run/outputs.ts.
 */
import { BatchError } from '../errors.js';
import { readPreparedRun, type PreparedRunFile } from '../run/prepared.js';
import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { openStore, type StoreOptions } from '../stores/index.js';
export { fileTarget, readSmall } from '../stores/index.js';
import { LocalStore, readFileStream } from '../stores/local.js';
import type { Store } from '../stores/store.js';

/**
 * Read size for local files read with fresh chunks. Measured on 3 GB of outputs (bench/collect.ts):
 * 1 MiB chunks (the LocalStore default) peak at ~150-160 MiB RSS, 128 KiB ones at ~130-142 MiB.
 */
const LOCAL_CHUNK = 128 * 1024;

/**
 * A byte stream of an object, in chunks the caller may keep. Local files are read in 128 KiB chunks
 * (the Store interface has no chunk-size option yet: see the merge notes); other stores as they stream.
 */
export function readObject(store: Store, key: string): Readable {
  return store instanceof LocalStore ? readFileStream(store.path(key), store.resolve(key), LOCAL_CHUNK) : store.createReadStream(key);
}

/** Read size and depth of the reused-buffer reader for local files. */
const SCAN_CHUNK = 1 << 20;

/**
 * The chunks of an object for a caller that is done with each chunk before it asks for the next
 * (it copies what it keeps): a local file is read 1 MiB at a time into two buffers used in turn,
 * the next read in flight while the caller works on the current chunk. No allocation per chunk,
 * no wait between chunks. Other stores: their own stream, as it comes.
 */
/** A local store's file opened for reading; a missing or unreadable one is an E_STORE naming it. */
export async function openLocal(store: LocalStore, key: string): Promise<FileHandle> {
  try {
    return await open(store.path(key), 'r');
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    const uri = store.resolve(key);
    throw new BatchError('E_STORE', e.code === 'ENOENT' ? `${uri} does not exist` : `cannot read ${uri}: ${e.message}`, { cause: e });
  }
}

export async function* scanObject(store: Store, key: string): AsyncGenerator<Buffer, void, undefined> {
  if (!(store instanceof LocalStore)) {
    for await (const chunk of store.createReadStream(key) as AsyncIterable<Uint8Array>) {
      yield Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    }
    return;
  }
  const uri = store.resolve(key);
  const handle = await openLocal(store, key);
  const buffers = [Buffer.allocUnsafe(SCAN_CHUNK), Buffer.allocUnsafe(SCAN_CHUNK)];
  let position = 0;
  const readInto = (b: Buffer) => {
    const at = position;
    position += b.length;
    return handle.read(b, 0, b.length, at).then((r) => r.bytesRead);
  };
  try {
    let turn = 0;
    let pending = readInto(buffers[0]!);
    for (;;) {
      const n = await pending.catch((error: NodeJS.ErrnoException) => {
        throw new BatchError('E_STORE', `cannot read ${uri}: ${error.message}`, { cause: error });
      });
      if (n === 0) break;
      const current = buffers[turn]!;
      turn ^= 1;
      pending = n < current.length ? Promise.resolve(0) : readInto(buffers[turn]!);
      yield current.subarray(0, n);
    }
    await pending.catch(() => 0);
  } finally {
    await handle.close();
  }
}

export { PREPARED_KEY } from '../run/layout.js';

export type { PreparedJob, PreparedRunFile, PreparedShard } from '../run/prepared.js';

/** A store for a location given as a URI (opened with the S3 settings `s3`) or a Store. */
export function storeOf(location: string | Store, s3?: StoreOptions): Store {
  return typeof location === 'string' ? openStore(location, s3) : location;
}

/** Read and check `<run>/prepared.json` (src/run/prepared.ts). */
export async function readPrepared(store: Store): Promise<PreparedRunFile> {
  return (await readPreparedRun(store, 'pass --prepared the location that `prepare --out` was given (it holds prepared.json, input/ and lineage/)')).file;
}

