/**
 * Durable writes to local files: what a later step depends on is on the disk, not only in the page
 * cache, before that step is recorded. A file renamed into place is fsynced before the rename and
 * its directory after it (else a crash can leave the new name pointing at an empty file), and every
 * write is checked for a short count (a full disk).
 */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Write all of `data` at the file's position (or append, for an `a` fd); a short write is retried, no progress is an error. */
export function writeAllSync(fd: number, data: string | Uint8Array, what = 'a file'): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let done = 0;
  while (done < bytes.length) {
    const n = writeSync(fd, bytes, done, bytes.length - done);
    if (n <= 0) throw Object.assign(new Error(`short write to ${what}: ${done} of ${bytes.length} bytes written (disk full?)`), { code: 'ENOSPC' });
    done += n;
  }
}

/** fsync a directory, so that a rename or a new file in it survives a crash. Filesystems that cannot (EINVAL, EISDIR, EPERM on some) are let be. */
export function fsyncDirSync(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM' && code !== 'EBADF' && code !== 'EACCES') throw err;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** fsync a directory, asynchronously (see fsyncDirSync). */
export async function fsyncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM' && code !== 'EBADF' && code !== 'EACCES') throw err;
  } finally {
    await handle?.close();
  }
}

/** fsync the directory holding `path`. */
export function fsyncParentSync(path: string): void {
  fsyncDirSync(dirname(path));
}
