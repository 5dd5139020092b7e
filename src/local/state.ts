/**
 * The local service's memory across restarts: its jobs in one JSON file, rewritten atomically
 * (temporary file + rename) on every change, so a crash at any moment leaves either the old or the
 * new table, never a torn one. One process owns a state file at a time: it holds `<file>.lock`
 * (`{pid, endpoint}`), and any other process finds the owner's endpoint there and talks to it over
 * HTTP instead of opening the file itself. A lock whose process is gone is taken over.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { BatchError } from '../errors.js';

export interface LockInfo {
  pid: number;
  /** The owner's base URL once it listens (absent while it starts). */
  endpoint?: string;
  startedAt: string;
}

/** Write a file so that readers see the old or the new content, never a mix. */
export function writeFileAtomic(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

export function readJsonFile<T>(path: string): T | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new BatchError('E_LOCAL_STATE', `${path} is not valid JSON`, {
      hint: 'the local service writes this file atomically, so something else changed it; move it away to start with no jobs',
    });
  }
}

export function pidAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The live owner of a state file, if any. */
export function readLock(stateFile: string): LockInfo | undefined {
  let info: LockInfo | undefined;
  try {
    info = JSON.parse(readFileSync(`${stateFile}.lock`, 'utf8')) as LockInfo;
  } catch {
    return undefined;
  }
  return info && pidAlive(info.pid) ? info : undefined;
}

/** Take the lock of a state file, or throw E_LOCAL_LOCKED naming the live owner (and its endpoint). */
export function acquireLock(stateFile: string): { setEndpoint(endpoint: string): void; release(): void } {
  const path = `${stateFile}.lock`;
  mkdirSync(dirname(path), { recursive: true });
  const info: LockInfo = { pid: process.pid, startedAt: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, JSON.stringify(info));
      closeSync(fd);
      let released = false;
      return {
        setEndpoint(endpoint) {
          info.endpoint = endpoint;
          writeFileAtomic(path, JSON.stringify(info));
        },
        release() {
          if (released) return;
          released = true;
          try {
            const now = JSON.parse(readFileSync(path, 'utf8')) as LockInfo;
            if (now.pid === process.pid) rmSync(path, { force: true });
          } catch {
            // gone already
          }
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = readLock(stateFile);
      if (owner) {
        throw new LocalLockedError(stateFile, owner);
      }
      rmSync(path, { force: true }); // stale: its process is gone
    }
  }
  throw new BatchError('E_LOCAL_LOCKED', `cannot take the lock ${path}`, { hint: 'another process keeps taking it; try again' });
}

export class LocalLockedError extends BatchError {
  constructor(
    readonly stateFile: string,
    readonly owner: LockInfo,
  ) {
    super('E_LOCAL_LOCKED', `the local service state ${stateFile} is in use by process ${owner.pid}${owner.endpoint ? ` (${owner.endpoint})` : ''}`, {
      hint: 'wait for that process to finish, or talk to its endpoint',
    });
  }
}
