/** A store on a local directory. Writes go to a temporary file, fsynced and renamed into place on finish. */
import { createWriteStream, type WriteStream } from 'node:fs';
import { lstat, mkdir, open, open as openFile, readdir, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve as resolvePath, sep } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { fsyncDir } from '../core/durable.js';
import { pidAlive } from '../core/process.js';
import { BatchError } from '../errors.js';
import type { ObjectInfo, Store } from './store.js';

let tmpCounter = 0;

async function fsyncFile(path: string): Promise<void> {
  const h = await openFile(path, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

export class LocalStore implements Store {
  readonly uri: string;
  /** A write's callback comes once fs has written the chunk: its memory may be reused then. */
  readonly keepsChunks = false;
  readonly root: string;

  constructor(uri: string) {
    this.uri = uri;
    this.root = resolvePath(uri.startsWith('file://') ? new URL(uri).pathname : uri);
  }

  /** The absolute path of a key; a key that would leave the root is refused. */
  path(key: string): string {
    const full = resolvePath(this.root, key);
    if (full !== this.root && !full.startsWith(this.root + sep)) {
      throw new BatchError('E_STORE', `key "${key}" points outside ${this.uri}`);
    }
    return full;
  }

  resolve(key: string): string {
    const base = this.uri.endsWith('/') ? this.uri.slice(0, -1) : this.uri;
    return key ? `${base}/${key}` : base;
  }

  createWriteStream(key: string): Writable {
    const target = this.path(key);
    const tmp = `${target}.partial-${process.pid}-${++tmpCounter}`;
    let file: WriteStream | undefined;
    let opening: Promise<WriteStream> | undefined;
    // One open, remembered: a destroy that comes while it is under way waits for it (else the
    // temporary file would appear after the cleanup and stay behind).
    const open = () =>
      (opening ??= mkdir(dirname(target), { recursive: true }).then(async () => {
        await removeDeadPartials(target);
        file = createWriteStream(tmp, { flags: 'w' });
        file.on('error', () => {}); // surfaced through the write callbacks
        return file;
      }));
    const uri = this.resolve(key);
    const wrap = (error: unknown) =>
      new BatchError('E_STORE', `cannot write ${uri}: ${(error as Error).message}`, { cause: error });
    return new Writable({
      highWaterMark: 1 << 20,
      write(chunk: Buffer, _enc, callback) {
        open().then(
          (f) => f.write(chunk, (err) => callback(err ? wrap(err) : null)),
          (err) => callback(wrap(err)),
        );
      },
      writev(chunks, callback) {
        open().then((f) => {
          const last = chunks.length - 1;
          chunks.forEach((c, i) => (i === last ? f.write(c.chunk, (err) => callback(err ? wrap(err) : null)) : f.write(c.chunk)));
        }, (err) => callback(wrap(err)));
      },
      final(callback) {
        // Durable before it is in place: the bytes are fsynced before the rename and the rename is
        // fsynced after it, so a crash never leaves the name pointing at a short or empty file.
        open()
          .then((f) => new Promise<void>((res, rej) => f.end((err?: Error | null) => (err ? rej(err) : res()))))
          .then(() => fsyncFile(tmp))
          .then(() => rename(tmp, target))
          .then(() => fsyncDir(dirname(target)))
          .then(() => callback(), (err) => callback(wrap(err)));
      },
      destroy(error, callback) {
        const cleanup = async () => {
          await opening?.catch(() => undefined);
          const f = file;
          if (f && !f.closed) await new Promise<void>((res) => f.destroy() && f.once('close', () => res()));
          await unlink(tmp).catch(() => {});
        };
        // Only a write that did not finish leaves a temporary file; a finished one was renamed.
        cleanup().then(() => callback(error), () => callback(error));
      },
    });
  }

  createReadStream(key: string): Readable {
    return readFileStream(this.path(key), this.resolve(key));
  }

  async *list(prefix = ''): AsyncIterable<ObjectInfo> {
    const entries: ObjectInfo[] = [];
    // Walk only the folder the prefix points into (`input/job-0001/` → that folder).
    const folder = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    await walk(this.root, folder ? this.path(folder) : this.root, entries);
    entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    for (const e of entries) if (e.key.startsWith(prefix) && !e.key.includes('.partial-')) yield e;
  }

  async exists(key: string): Promise<boolean> {
    try {
      return (await stat(this.path(key))).isFile();
    } catch {
      return false;
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }
}

/**
 * The temporary files of dead writers anywhere below `dir`: `<file>.partial-<pid>-<n>` for which
 * `orphan(pid, path)` holds (default: its process is gone). Only real folders are walked, links are
 * not followed, and only regular files are removed. Returns how many were.
 */
export async function removeDeadPartialsBelow(dir: string, orphan: (pid: number, path: string) => boolean = (pid) => !pidAlive(pid)): Promise<number> {
  let removed = 0;
  const walk = async (d: string): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      const m = /\.partial-(\d+)-\d+$/.exec(e.name);
      if (!e.isFile() || !m || !orphan(Number(m[1]), p)) continue;
      const st = await lstat(p).catch(() => undefined);
      if (st?.isFile()) {
        await rm(p, { force: true });
        removed++;
      }
    }
  };
  await walk(dir);
  return removed;
}

/**
 * The temporary files of this very key left by writers that were killed (SIGKILL, a power cut):
 * `<target>.partial-<pid>-<n>` of a process that is gone. They are ours by name; removed when the
 * key is written again, so a killed run leaves nothing behind once it is run again.
 */
async function removeDeadPartials(target: string): Promise<void> {
  const dir = dirname(target);
  const prefix = `${basename(target)}.partial-`;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const m = /^(\d+)-\d+$/.exec(name.slice(prefix.length));
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || pidAlive(pid)) continue;
    await unlink(join(dir, name)).catch(() => {});
  }
}


async function walk(root: string, dir: string, out: ObjectInfo[]): Promise<void> {
  let names;
  try {
    names = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  for (const d of names) {
    const full = join(dir, d.name);
    if (d.isDirectory()) await walk(root, full, out);
    else if (d.isFile()) {
      // A file may go between readdir and stat (a writer's temporary file renamed into place).
      const size = await stat(full).then((st) => st.size, (err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? -1 : Promise.reject(err)));
      if (size >= 0) out.push({ key: relative(root, full).split(sep).join('/'), size });
    }
  }
}

/** A byte stream of a file whose errors name the URI and carry code E_STORE. */
export function readFileStream(path: string, uri: string, chunkSize = 1 << 20): Readable {
  return handleStream(() => open(path, 'r'), (err) => storeReadError(uri, err), chunkSize);
}

/**
 * A byte stream over a file handle that `opening` gives (opened on the first read, closed on end or
 * destroy), `chunkSize` bytes a read; every error goes through `mapError`.
 */
export function handleStream(opening: () => Promise<FileHandle>, mapError: (err: unknown) => Error, chunkSize = 1 << 20): Readable {
  let handle: FileHandle | undefined;
  return new Readable({
    highWaterMark: chunkSize,
    async construct(callback) {
      try {
        handle = await opening();
        callback();
      } catch (err) {
        callback(mapError(err));
      }
    },
    async read() {
      try {
        const buffer = Buffer.allocUnsafe(chunkSize);
        const { bytesRead } = await handle!.read(buffer, 0, chunkSize, null);
        this.push(bytesRead > 0 ? buffer.subarray(0, bytesRead) : null);
      } catch (err) {
        this.destroy(mapError(err));
      }
    },
    destroy(error, callback) {
      const h = handle;
      handle = undefined;
      if (!h) return callback(error);
      h.close().then(() => callback(error), () => callback(error));
    },
  });
}

function storeReadError(uri: string, err: unknown): BatchError {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOENT') return new BatchError('E_STORE', `${uri} does not exist`, { cause: e, hint: 'check the path' });
  if (e.code === 'EISDIR') return new BatchError('E_STORE', `${uri} is a directory, not a file`, { cause: e });
  return new BatchError('E_STORE', `cannot read ${uri}: ${e.message}`, { cause: e });
}
