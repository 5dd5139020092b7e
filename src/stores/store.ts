/**
 * Where bytes live. One interface for a local directory and S3, addressed by URI: a store is opened
 * on a base location and reads and writes keys (`/`-separated relative paths) below it.
 *
 * Writers are plain Node Writables. A writer's data is in place once it emits 'finish' (local: the
 * file is renamed into place; S3: the multipart upload completed). Destroying a writer with an error
 * abandons the object: nothing partial is left behind under the key.
 */
import type { Readable, Writable } from 'node:stream';

export interface ObjectInfo {
  /** Key relative to the store's base, `/`-separated. */
  key: string;
  size: number;
}

export interface WriteOptions {
  contentType?: string;
}

export interface Store {
  /** The base location as given (`./batch`, `s3://bucket/run-42/`). */
  readonly uri: string;
  /**
   * False when a writer is done with a chunk once the chunk's write callback has been called (a file:
   * the bytes are in the kernel), so a caller may then reuse the chunk's memory. True or absent when
   * a writer may still hold on to written chunks (a pass-through into an uploader): callers that
   * reuse memory must write copies.
   */
  readonly keepsChunks?: boolean;
  /** The URI of a key below the base. */
  resolve(key: string): string;
  createWriteStream(key: string, options?: WriteOptions): Writable;
  /** A byte stream of the object; it errors with code E_STORE (naming the URI) when it is missing. */
  createReadStream(key: string): Readable;
  /** Every object whose key starts with `prefix`, in key order. */
  list(prefix?: string): AsyncIterable<ObjectInfo>;
  exists(key: string): Promise<boolean>;
  delete(key: string): Promise<void>;
}

/** Join key segments with `/`, dropping empty ones. */
export function joinKey(...parts: string[]): string {
  return parts
    .flatMap((p) => p.split('/'))
    .filter((p) => p.length > 0)
    .join('/');
}
