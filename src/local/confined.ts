/**
 * A local directory as an S3 bucket of the local service, confined to it: nothing outside the
 * directory's real path is ever read or written, whatever the key's segments or the symbolic links
 * in the tree (docs/contracts.md, "The local service").
 *
 * - Keys are S3 keys: `.` and `..` segments are stored as `%2E` / `%2E%2E` (see stores.ts), so a key
 *   is never a path step.
 * - Every path is resolved with its links followed (`realpath`; for a write, of each folder on the
 *   way, the folders that do not exist yet created one by one under a checked parent) and refused,
 *   with an E_STORE error naming the key, when it lands outside the directory's real path. A link
 *   that stays inside is followed. Listing a folder follows links that stay inside and refuses one
 *   that leads outside (never a silent skip).
 * - Time of check to time of use: files are opened with O_NOFOLLOW on their checked real path (a
 *   last segment swapped for a link in between fails to open), and where `/proc/self/fd` exists
 *   (Linux) the path of the opened descriptor is checked again before a byte is read or written, so
 *   a folder swapped for a link in between is caught too. A write goes to a new temporary file
 *   (O_CREAT | O_EXCL | O_NOFOLLOW) renamed into place; `rename` replaces a link at the key instead
 *   of writing through it, and the folder is re-checked right before it. What remains: someone who
 *   can already write inside the directory swapping a folder for a link between that re-check and
 *   the rename; the rename then fails (the temporary file is not where the link points) rather than
 *   writing outside.
 */
import { constants } from 'node:fs';
import { mkdir, open, readdir, readlink, realpath, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve as resolvePath, sep } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { BatchError } from '../errors.js';
import type { ObjectInfo, Store } from '../stores/store.js';
import { handleStream, removeDeadPartialsBelow } from '../stores/local.js';

/** `.` and `..` segments stored as `%2E` / `%2E%2E`, so a key is never a path step out of the store. */
export function encodeKey(key: string): string {
  return key
    .split('/')
    .map((s) => (s === '.' || s === '..' ? s.replace(/\./g, '%2E') : s))
    .join('/');
}

export function decodeKey(key: string): string {
  return key
    .split('/')
    .map((s) => (s === '%2E' || s === '%2E%2E' ? s.replace(/%2E/g, '.') : s))
    .join('/');
}

/** True when `path` is `root` or below it (both real, absolute paths). */
export function isInside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

export interface ConfinedStoreOptions {
  /** How keys are named in messages: `s3://bucket` gives `s3://bucket/key` (default: the directory). */
  label?: string;
}

let tmpCounter = 0;
/** Temporary files this process is writing now: a `.partial-<our pid>-…` file not in here is an orphan (PID reuse). */
const writing = new Set<string>();

export class ConfinedStore implements Store {
  readonly uri: string;
  readonly keepsChunks = false;
  /** The directory, absolute, as given (its real path is where everything must land). */
  readonly dir: string;
  private readonly label: string;
  private real: Promise<string> | undefined;

  constructor(dir: string, options: ConfinedStoreOptions = {}) {
    this.uri = dir;
    this.dir = resolvePath(dir);
    this.label = (options.label ?? this.dir).replace(/\/+$/, '');
  }

  resolve(key: string): string {
    return key ? `${this.uri.replace(/\/+$/, '')}/${key}` : this.uri;
  }

  /** The key as messages name it. */
  name(key: string): string {
    return `${this.label}/${key}`;
  }

  /** The directory's real path (created first when `create` and it does not exist yet). */
  private async realRoot(create = false): Promise<string> {
    this.real ??= realpath(this.dir);
    try {
      return await this.real;
    } catch (err) {
      this.real = undefined; // not remembered: it may appear later
      if (!create || (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await mkdir(this.dir, { recursive: true }); // the directory itself is the operator's choice
      return (this.real = realpath(this.dir));
    }
  }

  /** The lexical path of a key (dot segments encoded), never above the directory. */
  private lexical(key: string): string {
    const full = resolvePath(this.dir, encodeKey(key));
    if (!isInside(this.dir, full)) throw new BatchError('E_STORE', `${this.name(key)}: the key points outside ${this.label}`);
    return full;
  }

  private outside(key: string): BatchError {
    return new BatchError('E_STORE', `${this.name(key)} goes through a symbolic link that leads outside ${this.label}: refused`, {
      hint: 'the local service reads and writes only inside its root; put the file or folder itself there, not a link to it',
    });
  }

  /** The real path of an existing key, checked to be inside (ENOENT and ENOTDIR pass through). */
  private async realOf(key: string): Promise<{ root: string; path: string }> {
    const root = await this.realRoot();
    const path = await realpath(this.lexical(key));
    if (!isInside(root, path)) throw this.outside(key);
    return { root, path };
  }

  /** Check again, through the descriptor itself, where an opened file really is (Linux). */
  private async checkOpened(handle: FileHandle, root: string, key: string): Promise<void> {
    let actual: string;
    try {
      actual = await readlink(`/proc/self/fd/${handle.fd}`);
    } catch {
      return; // no /proc here: the check before the open stands
    }
    if (!isInside(root, actual.replace(/ \(deleted\)$/, ''))) throw this.outside(key);
  }

  /** The real folder a key's file goes into, created folder by folder under checked parents. */
  private async folderFor(key: string): Promise<{ root: string; folder: string }> {
    const root = await this.realRoot(true);
    const target = this.lexical(key);
    const rel = dirname(target).slice(this.dir.length).split(sep).filter(Boolean);
    let folder = root;
    for (const segment of rel) {
      const next = join(folder, segment);
      let real: string;
      try {
        real = await realpath(next);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        // `mkdir` never follows a link at its last segment: it fails with EEXIST on one
        await mkdir(next).catch((e: NodeJS.ErrnoException) => (e.code === 'EEXIST' ? undefined : Promise.reject(e)));
        real = await realpath(next);
      }
      if (!isInside(root, real)) throw this.outside(key);
      folder = real;
    }
    return { root, folder };
  }

  createReadStream(key: string): Readable {
    return handleStream(
      async () => {
        const { root, path } = await this.realOf(key);
        const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
        try {
          await this.checkOpened(handle, root, key);
        } catch (err) {
          await handle.close();
          throw err;
        }
        return handle;
      },
      (err) => this.readError(key, err),
    );
  }

  private readError(key: string, err: unknown): BatchError {
    if (err instanceof BatchError) return err;
    const e = err as NodeJS.ErrnoException;
    const uri = this.name(key);
    if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return new BatchError('E_STORE', `${uri} does not exist`, { cause: e, hint: 'check the path' });
    if (e.code === 'EISDIR') return new BatchError('E_STORE', `${uri} is a directory, not a file`, { cause: e });
    if (e.code === 'ELOOP') return this.outside(key); // swapped for a link after the check
    return new BatchError('E_STORE', `cannot read ${uri}: ${e.message}`, { cause: e });
  }

  createWriteStream(key: string): Writable {
    const store = this;
    let handle: FileHandle | undefined;
    let tmp: string | undefined;
    let folder: string | undefined;
    let opening: Promise<FileHandle> | undefined;
    const open_ = () =>
      (opening ??= (async () => {
        const where = await store.folderFor(key);
        folder = where.folder;
        tmp = join(folder, `${basename(store.lexical(key))}.partial-${process.pid}-${++tmpCounter}`);
        writing.add(tmp);
        handle = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o666);
        await store.checkOpened(handle, where.root, key);
        return handle;
      })());
    const wrap = (error: unknown) =>
      error instanceof BatchError ? error : new BatchError('E_STORE', `cannot write ${store.name(key)}: ${(error as Error).message}`, { cause: error });
    const writeAll = async (h: FileHandle, chunks: Buffer[]) => {
      for (const chunk of chunks) {
        let at = 0;
        while (at < chunk.length) at += (await h.write(chunk, at, chunk.length - at)).bytesWritten;
      }
    };
    return new Writable({
      highWaterMark: 1 << 20,
      write(chunk: Buffer, _enc, callback) {
        open_().then((h) => writeAll(h, [chunk])).then(() => callback(), (err) => callback(wrap(err)));
      },
      writev(chunks, callback) {
        open_().then((h) => writeAll(h, chunks.map((c) => c.chunk as Buffer))).then(() => callback(), (err) => callback(wrap(err)));
      },
      final(callback) {
        (async () => {
          const h = await open_();
          await h.close();
          handle = undefined;
          // the folder is still where it was checked (no segment swapped for a link since)
          if ((await realpath(folder!)) !== folder) throw store.outside(key);
          await rename(tmp!, join(folder!, basename(store.lexical(key))));
          writing.delete(tmp!);
        })().then(() => callback(), (err) => callback(wrap(err)));
      },
      destroy(error, callback) {
        (async () => {
          await opening?.catch(() => undefined);
          const h = handle;
          handle = undefined;
          await h?.close().catch(() => {});
          if (tmp) {
            await unlink(tmp).catch(() => {});
            writing.delete(tmp);
          }
        })().then(() => callback(error), () => callback(error));
      },
    });
  }

  async *list(prefix = ''): AsyncIterable<ObjectInfo> {
    const folder = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    let root: string;
    let start: string;
    try {
      root = await this.realRoot();
      start = await realpath(folder ? this.lexical(folder) : this.dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw err;
    }
    if (!isInside(root, start)) throw this.outside(`${folder}/`);
    const out: ObjectInfo[] = [];
    await this.walk(root, start, folder ? `${folder}/` : '', prefix, out, new Set([start]));
    out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    yield* out;
  }

  /** Walk a real folder; `keyBase` is its key (decoded) with a trailing `/`. */
  private async walk(root: string, dir: string, keyBase: string, prefix: string, out: ObjectInfo[], seen: Set<string>): Promise<void> {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const e of entries) {
      if (e.name.includes('.partial-')) continue;
      const key = keyBase + decodeKey(e.name);
      const asFolder = `${key}/`;
      const mayHoldMatches = asFolder.startsWith(prefix) || prefix.startsWith(asFolder);
      const path = join(dir, e.name);
      let kind: 'file' | 'dir' | undefined = e.isDirectory() ? 'dir' : e.isFile() ? 'file' : undefined;
      let real = path;
      if (e.isSymbolicLink()) {
        if (!mayHoldMatches && !key.startsWith(prefix)) continue;
        try {
          real = await realpath(path);
        } catch {
          continue; // a dangling link is no object
        }
        if (!isInside(root, real)) throw this.outside(key);
        const st = await stat(real).catch(() => undefined);
        kind = st?.isDirectory() ? 'dir' : st?.isFile() ? 'file' : undefined;
      }
      if (kind === 'dir') {
        if (!mayHoldMatches || seen.has(real)) continue; // a link back up would loop forever
        seen.add(real);
        await this.walk(root, real, asFolder, prefix, out, seen);
      } else if (kind === 'file' && key.startsWith(prefix)) {
        // a file may go between readdir and stat (a writer's temporary file renamed into place)
        const st = await stat(real).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : Promise.reject(err)));
        if (st) out.push({ key, size: st.size });
      }
    }
  }

  async exists(key: string): Promise<boolean> {
    let path: string;
    try {
      ({ path } = await this.realOf(key));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return false;
      throw err;
    }
    return (await stat(path)).isFile();
  }

  async delete(key: string): Promise<void> {
    const target = this.lexical(key);
    const cut = key.lastIndexOf('/');
    let parent: string;
    try {
      ({ path: parent } = await this.realOf(cut < 0 ? '' : key.slice(0, cut)));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw err;
    }
    // `rm` removes a link at the key itself, never what it points to
    await rm(join(parent, basename(target)), { force: true });
  }

  /**
   * Remove what a killed writer left under a prefix: `<file>.partial-<pid>-<n>` files of processes
   * that are gone (or of this pid but not written by this process: a reused PID). Only real folders
   * inside are walked; links are not followed.
   */
  async removeOrphanedPartials(prefix: string, alive: (pid: number) => boolean): Promise<number> {
    let root: string;
    let start: string;
    try {
      root = await this.realRoot();
      start = await realpath(this.lexical(prefix));
    } catch {
      return 0;
    }
    if (!isInside(root, start)) return 0; // its writes are refused anyway, naming the key
    return removeDeadPartialsBelow(start, (pid, path) => (pid === process.pid ? !writing.has(path) : !alive(pid)));
  }
}
