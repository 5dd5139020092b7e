/**
 * Where the local service's bytes live: a resolver turns a job's `s3://bucket/key` into a Store and
 * a key in it. Three kinds (docs/contracts.md, "The local service"):
 *
 * - `rootResolver(dir)`: the service is its own S3. `s3://bucket/key` is `DIR/bucket/key`; a bucket
 *   exists when its folder does.
 * - `mountResolver({ bucket: store })`: explicit buckets, each one a store (what the embedded
 *   `submit` uses to map a local run and output directory to s3:// URIs); no other bucket exists.
 * - `s3Resolver(s3)`: real S3 (or `AWS_ENDPOINT_URL_S3`, a profile's) through `openStore('s3://bucket/', s3)`.
 *
 * Nothing outside a local root or mount is ever read or written, whatever the key's segments or the
 * symbolic links in it: local buckets are `ConfinedStore`s (confined.ts), which resolve every path
 * with its links followed and refuse, naming the key, what lands outside. In S3
 * a key is a string, not a path: `a/../b` is its own object, distinct from `b`, and Bedrock's URI
 * pattern lets `.` and `..` segments through. A local store would resolve them as path steps, so
 * local resolvers store such segments under a name no valid key segment can take: each `.` becomes
 * `%2E` (`%` is outside Bedrock's key alphabet), so `a/../b` lives at `a/%2E%2E/b`. Listing maps
 * the names back.
 */
import { join } from 'node:path';
import { realpath, stat } from 'node:fs/promises';
import { pidAlive } from '../core/process.js';
import { ConfinedStore, decodeKey, encodeKey, isInside } from './confined.js';
import type { Readable, Writable } from 'node:stream';
import { BatchError } from '../errors.js';
import { openStore, type StoreOptions } from '../stores/index.js';
import { LocalStore, removeDeadPartialsBelow } from '../stores/local.js';
import type { ObjectInfo, Store, WriteOptions } from '../stores/store.js';

export { parseS3Uri, type S3Location } from '../stores/uri.js';
export { ConfinedStore, decodeKey, encodeKey } from './confined.js';

export interface StoreResolver {
  /** A human description for logs: `root ./local-aws`, `mounts ...`, `S3`. */
  readonly description: string;
  /** The store holding a bucket's objects (keys are object keys), or undefined when the bucket does not exist. */
  bucket(name: string): Promise<Store | undefined>;
}

/**
 * The service as its own S3 under `dir`. A bucket folder that is a link is followed when it stays
 * inside `dir`; one that leads outside is refused with an E_STORE error naming the bucket.
 */
export function rootResolver(dir: string): StoreResolver {
  return {
    description: `root ${dir}`,
    async bucket(name) {
      // Bucket names match [a-z0-9][-.a-z0-9]{1,61}[a-z0-9]: never `.`, `..`, nor a path.
      if (!/^[a-z0-9][-.a-z0-9]{1,61}[a-z0-9]$/.test(name)) return undefined;
      const root = await realpath(dir).catch(() => undefined);
      if (root === undefined) return undefined;
      const real = await realpath(join(dir, name)).catch(() => undefined);
      if (real === undefined) return undefined;
      if (!isInside(root, real)) {
        throw new BatchError('E_STORE', `the bucket ${name} is a symbolic link that leads outside the root ${dir}: refused`, {
          hint: 'the local service reads and writes only inside its root; make the bucket a folder there',
        });
      }
      const info = await stat(real).catch(() => undefined);
      return info?.isDirectory() ? new ConfinedStore(real, { label: `s3://${name}` }) : undefined;
    },
  };
}

/**
 * Explicit buckets: each name maps to a store (a local directory path or any Store). A local
 * directory (a path, `file://` URI or LocalStore) is confined like a bucket of a root.
 */
export function mountResolver(mounts: Record<string, Store | string>): StoreResolver {
  const stores = new Map<string, Store>();
  for (const [bucket, target] of Object.entries(mounts)) {
    const store = typeof target === 'string' ? openStore(target) : target;
    stores.set(bucket, store instanceof LocalStore ? new ConfinedStore(store.root, { label: `s3://${bucket}` }) : store);
  }
  return {
    description: `mounts ${[...stores].map(([b, s]) => `s3://${b}/ -> ${s.uri}`).join(', ')}`,
    async bucket(name) {
      return stores.get(name);
    },
  };
}

/** Real S3 through the S3 store (credentials chain, region, `AWS_ENDPOINT_URL_S3`). */
export function s3Resolver(s3?: StoreOptions): StoreResolver {
  return {
    description: s3 && Object.keys(s3).length ? 'S3 (the settings given)' : 'S3 (the SDK default settings)',
    async bucket(name) {
      return openStore(`s3://${name}/`, s3);
    },
  };
}

/**
 * Remove what a killed process left under a local store's prefix: LocalStore writes go to
 * `<file>.partial-<pid>-<n>` and are renamed on finish, so a writer killed with SIGKILL leaves its
 * temporary file. Only files of processes that are gone are removed. Other stores: nothing to do.
 */
export async function removeOrphanedPartials(store: Store, prefix: string): Promise<number> {
  if (store instanceof ConfinedStore) return store.removeOrphanedPartials(prefix, pidAlive);
  const local = store instanceof DotSafeStore ? store.inner : store;
  if (!(local instanceof LocalStore)) return 0;
  return removeDeadPartialsBelow(local.path(encodeKey(prefix)));
}

/** A local store whose keys are S3 keys (see the module comment). */
export class DotSafeStore implements Store {
  constructor(readonly inner: Store) {}
  get uri(): string {
    return this.inner.uri;
  }
  resolve(key: string): string {
    return this.inner.resolve(encodeKey(key));
  }
  createWriteStream(key: string, options?: WriteOptions): Writable {
    return this.inner.createWriteStream(encodeKey(key), options);
  }
  createReadStream(key: string): Readable {
    return this.inner.createReadStream(encodeKey(key));
  }
  async *list(prefix = ''): AsyncIterable<ObjectInfo> {
    // A prefix ending in a partial segment (`a/.`) must still match `a/..x`: list by the encoded
    // complete segments, then filter on the decoded keys.
    const cut = prefix.lastIndexOf('/');
    const folder = cut < 0 ? '' : encodeKey(prefix.slice(0, cut + 1));
    // A local store walks its whole root; walk only the prefix's folder (a run directory also holds
    // lineage, outputs and the service's state, which change while a job is listed).
    const inner = this.inner instanceof LocalStore && folder !== '' ? new LocalStore(this.inner.path(folder)) : this.inner;
    const base = inner === this.inner ? '' : folder;
    for await (const o of inner.list(inner === this.inner ? folder : '')) {
      const key = decodeKey(base + o.key);
      if (key.startsWith(prefix)) yield { key, size: o.size };
    }
  }
  exists(key: string): Promise<boolean> {
    return this.inner.exists(encodeKey(key));
  }
  delete(key: string): Promise<void> {
    return this.inner.delete(encodeKey(key));
  }
}
