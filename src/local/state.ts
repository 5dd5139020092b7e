/**
 * The local service's memory across restarts: its jobs in one JSON file (`{version, jobs}`, the job
 * table of jobs.ts), rewritten atomically (temporary file + rename) on every change, so a crash at
 * any moment leaves either the old or the new table, never a torn one. One process owns a state file at a time: it holds `<file>.lock`
 * (`{pid, token, endpoint}`, see `acquireLock` below), and any other process finds the owner's
 * endpoint there and talks to it over HTTP instead of opening the file itself. A stale lock (its
 * process gone, or its heartbeat stopped) is taken over, by exactly one process.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  utimesSync,
  type Stats,
} from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { fsyncDirSync, writeAllSync } from '../core/durable.js';
import { pidAlive } from '../core/process.js';
import { BatchError } from '../errors.js';
import type { StoredJob } from './jobs.js';

export interface LockInfo {
  pid: number;
  /** Random, one per lock taken: what tells this lock from any other, whatever its pid. */
  token?: string;
  /** The owner's host name: a pid means something on that host only. */
  host?: string;
  /** The owner's base URL once it listens (absent while it starts). */
  endpoint?: string;
  startedAt: string;
}

/** Write a file so that readers see the old or the new content, never a mix. */
function writeFileAtomic(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fd = openSync(tmp, 'w');
  try {
    writeAllSync(fd, text, path);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  fsyncDirSync(dirname(path));
}

/** The state file's format: a file of another version is refused, never misread. */
const STATE_VERSION = 1;

interface StateFile {
  version: number;
  jobs: StoredJob[];
}

/** The jobs a state file holds (none when there is no file yet). */
export function readStateFile(path: string): StoredJob[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  let state: StateFile | null;
  try {
    state = JSON.parse(text) as StateFile | null;
  } catch {
    throw new BatchError('E_LOCAL_STATE', `${path} is not valid JSON`, {
      hint: 'the local service writes this file atomically, so something else changed it; move it away to start with no jobs',
    });
  }
  if (state && state.version !== STATE_VERSION) {
    throw new BatchError('E_LOCAL_STATE', `${path} has version ${state.version}, this service reads version ${STATE_VERSION}`);
  }
  return state?.jobs ?? [];
}

export function writeStateFile(path: string, jobs: Iterable<StoredJob>): void {
  writeFileAtomic(path, JSON.stringify({ version: STATE_VERSION, jobs: [...jobs] } satisfies StateFile) + '\n');
}

/**
 * The lock of a state file, `<file>.lock`: correct under races, half-written files and PID reuse.
 *
 * The protocol (the argument for each step is in the comments of `take`):
 * - Taking a free lock: the complete content (`{pid, token, host, startedAt}`, `token` random) is
 *   written and fsynced to a temporary file, then `link()`ed to the lock's name. `link` is atomic
 *   and fails with EEXIST when the name exists, so exactly one of any number of contenders gets a
 *   free lock, and a reader sees either no lock or a whole one, never a half-written file.
 * - Liveness: the owner refreshes the lock's mtime every `heartbeatMs` (an unref'd timer). A lock
 *   is live when its heartbeat is at most `staleMs` old AND its process is alive; a lock naming this
 *   very process is live only if this process really took it (an in-process table of tokens), so
 *   a reused PID (PID 1 in a container run twice) is never mistaken for the owner; a live unrelated
 *   process with that PID does not refresh the heartbeat, so its lock goes stale too. A lock of
 *   another host (`host`) is judged by its heartbeat alone. A lock that does not parse (only
 *   possible where the file system has no hard links and the fallback `open(wx)` + write is used,
 *   or if something else wrote it) is live while its mtime is fresh.
 * - Taking over a stale lock: only the process that creates the claim `<lock>.takeover-<token>`
 *   (named after that very lock instance, created the same atomic way) may remove it. Under the
 *   claim it reads the lock again and removes it only if it is still the same stale instance, then
 *   drops the claim and competes for the free lock with `link` like everyone else. Tokens are never
 *   reused, and a stale owner never touches its lock again, so between that re-read and the removal
 *   nobody else can change the file: no live lock is ever removed. A claim left by a process that
 *   died mid-takeover goes stale after `claimStaleMs` and is itself taken over the same way.
 * - Residual risk, by design: a process stopped (SIGSTOP, a debugger) for longer than `staleMs`
 *   while it owns the lock, or for longer than `claimStaleMs` between two system calls of a
 *   takeover, can be overtaken and then act on a lock it no longer holds. The owner's heartbeat
 *   notices the loss (`onLost`) and then stops touching the file.
 */
export interface LockOptions {
  /** A lock whose heartbeat is older than this is stale (default 20,000 ms). */
  staleMs?: number;
  /** How often the owner refreshes its heartbeat (default staleMs / 4). */
  heartbeatMs?: number;
  /** A takeover claim older than this is stale (default 5,000 ms). */
  claimStaleMs?: number;
  /** How long to wait for a takeover that another process has under way (default 2 × claimStaleMs). */
  waitMs?: number;
  /** Called once if another process took the lock over (this one was judged stale). */
  onLost?: (now: LockInfo | undefined) => void;
}

export interface StateLock {
  /** Put the owner's endpoint into the lock (atomically: the lock is never half-written). */
  setEndpoint(endpoint: string): void;
  /** Remove the lock if this process still holds it; stop the heartbeat. */
  release(): void;
}

interface LockSettings {
  staleMs: number;
  heartbeatMs: number;
  claimStaleMs: number;
  waitMs: number;
}

function settings(options: LockOptions = {}): LockSettings {
  const staleMs = options.staleMs ?? 20_000;
  const claimStaleMs = options.claimStaleMs ?? 5_000;
  const s = { staleMs, heartbeatMs: options.heartbeatMs ?? Math.max(1, Math.floor(staleMs / 4)), claimStaleMs, waitMs: options.waitMs ?? 2 * claimStaleMs };
  for (const [k, v] of Object.entries(s)) {
    if (!Number.isFinite(v) || v <= 0) throw new BatchError('E_BAD_OPTION', `lock option ${k} must be a positive number of milliseconds, got ${String(v)}`);
  }
  if (s.heartbeatMs >= s.staleMs) throw new BatchError('E_BAD_OPTION', `lock option heartbeatMs (${s.heartbeatMs}) must be below staleMs (${s.staleMs})`);
  return s;
}

/** The locks (and their tokens) this process holds: the only proof that a lock naming our pid is ours. */
const heldHere = new Map<string, string>();
let tmpCounter = 0;

type Seen =
  | { kind: 'absent' }
  | { kind: 'info'; info: LockInfo; id: string; mtimeMs: number }
  | { kind: 'unreadable'; id: string; mtimeMs: number };

const TOKEN = /^[A-Za-z0-9_-]{8,128}$/;

/** The lock file as it is now: content and mtime read through one descriptor (one file instance). */
function inspect(path: string): Seen {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' };
    throw err;
  }
  let text: string;
  let st: Stats;
  try {
    st = fstatSync(fd);
    text = readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
  const instance = `i${st.ino}-${Math.trunc(st.mtimeMs)}-${st.size}`;
  try {
    const info = JSON.parse(text) as LockInfo;
    if (info && typeof info === 'object' && Number.isSafeInteger(info.pid)) {
      return { kind: 'info', info, id: typeof info.token === 'string' && TOKEN.test(info.token) ? info.token : instance, mtimeMs: st.mtimeMs };
    }
  } catch {
    // half-written or foreign: judged by its age
  }
  return { kind: 'unreadable', id: instance, mtimeMs: st.mtimeMs };
}

function live(seen: Seen, path: string, staleMs: number): boolean {
  if (seen.kind === 'absent') return false;
  const fresh = Date.now() - seen.mtimeMs <= staleMs;
  if (seen.kind === 'unreadable') return fresh;
  const { info } = seen;
  const sameHost = info.host === undefined || info.host === hostname();
  if (info.token === undefined) {
    // a lock of an earlier version (no token, no heartbeat): its process alone tells
    return info.pid !== process.pid && pidAlive(info.pid);
  }
  if (sameHost && info.pid === process.pid) return heldHere.get(path) === info.token;
  if (!fresh) return false;
  return sameHost ? pidAlive(info.pid) : true;
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // gone already
  }
}

/** Create `path` with `text` atomically and exclusively: true if created, false if it exists. */
function createExclusive(path: string, text: string): boolean {
  const tmp = `${path}.${process.pid}-${++tmpCounter}-${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx');
  try {
    writeAllSync(fd, text, path);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, path);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw err;
    // No hard links on this file system: exclusive create, then write. A reader may see the file
    // empty for a moment; a fresh unreadable lock counts as live, so it is never taken over.
    let fd2: number;
    try {
      fd2 = openSync(path, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e;
    }
    try {
      writeAllSync(fd2, text, path);
      fsyncSync(fd2);
    } finally {
      closeSync(fd2);
    }
    return true;
  } finally {
    unlinkQuiet(tmp);
  }
}

/**
 * One synchronous attempt (nothing else in this process runs in between): 'ok' when `path` is now
 * ours, the live lock that holds it, or 'busy' when another process is taking a stale one over.
 */
function take(path: string, text: string, staleMs: number, s: LockSettings, depth: number): 'ok' | 'busy' | Seen {
  for (let i = 0; i < 4; i++) {
    if (createExclusive(path, text)) return 'ok';
    const seen = inspect(path);
    if (seen.kind === 'absent') continue; // released in between: compete again
    if (live(seen, path, staleMs)) return seen;
    if (depth >= 3) return 'busy';
    // Stale. Only the creator of the claim named after this very instance may remove it.
    const claim = `${path}.takeover-${seen.id}`;
    const claimText = JSON.stringify({ pid: process.pid, token: randomBytes(16).toString('hex'), host: hostname(), startedAt: new Date().toISOString() } satisfies LockInfo);
    const got = take(claim, claimText, s.claimStaleMs, s, depth + 1);
    if (got !== 'ok') return 'busy';
    try {
      // Under the claim, the instance cannot change (its owner is gone, and every other remover
      // needs this claim): remove it only if it is still the same one, still stale.
      const again = inspect(path);
      if (again.kind !== 'absent' && again.id === seen.id && !live(again, path, staleMs)) unlinkQuiet(path);
    } finally {
      unlinkQuiet(claim);
    }
  }
  return 'busy';
}

/** The live owner of a state file, if any. */
export function readLock(stateFile: string, options?: LockOptions): LockInfo | undefined {
  const path = `${stateFile}.lock`;
  const seen = inspect(path);
  return seen.kind === 'info' && live(seen, path, settings(options).staleMs) ? seen.info : undefined;
}

/** Take the lock of a state file, or throw E_LOCAL_LOCKED (a LocalLockedError naming the live owner and its endpoint). */
export async function acquireLock(stateFile: string, options: LockOptions = {}): Promise<StateLock> {
  const s = settings(options);
  const path = `${stateFile}.lock`;
  mkdirSync(dirname(path), { recursive: true });
  const info: LockInfo = { pid: process.pid, token: randomBytes(16).toString('hex'), host: hostname(), startedAt: new Date().toISOString() };
  const until = Date.now() + s.waitMs;
  for (;;) {
    const got = take(path, JSON.stringify(info), s.staleMs, s, 0);
    if (got === 'ok') break;
    if (got !== 'busy') {
      throw new LocalLockedError(stateFile, got.kind === 'info' ? got.info : { pid: 0, startedAt: '' });
    }
    if (Date.now() > until) {
      throw new BatchError('E_LOCAL_LOCKED', `cannot take the lock ${path}: another process keeps taking it over`, { hint: 'try again in a few seconds' });
    }
    await new Promise((r) => setTimeout(r, 5 + Math.floor(Math.random() * 20)));
  }
  heldHere.set(path, info.token!);
  const owns = () => {
    const seen = inspect(path);
    return seen.kind === 'info' && seen.info.token === info.token;
  };
  let released = false;
  const lost = () => {
    if (released) return;
    released = true;
    clearInterval(timer);
    if (heldHere.get(path) === info.token) heldHere.delete(path);
    let seen: Seen = { kind: 'absent' };
    try {
      seen = inspect(path);
    } catch {
      // unreadable: nobody to name
    }
    options.onLost?.(seen.kind === 'info' ? seen.info : undefined);
  };
  const timer = setInterval(() => {
    try {
      if (!owns()) return lost();
      const now = new Date();
      utimesSync(path, now, now);
    } catch {
      lost();
    }
  }, s.heartbeatMs);
  timer.unref();
  return {
    setEndpoint(endpoint) {
      if (released) return;
      if (!owns()) return lost();
      info.endpoint = endpoint;
      writeFileAtomic(path, JSON.stringify(info));
    },
    release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      try {
        if (owns()) unlinkQuiet(path);
      } finally {
        if (heldHere.get(path) === info.token) heldHere.delete(path);
      }
    },
  };
}

export class LocalLockedError extends BatchError {
  constructor(
    readonly stateFile: string,
    readonly owner: LockInfo,
  ) {
    super('E_LOCAL_LOCKED', owner.pid > 0 ? `the local service state ${stateFile} is in use by process ${owner.pid}${owner.endpoint ? ` (${owner.endpoint})` : ''}` : `the local service state ${stateFile} is being locked by another process (its lock file is being written)`, {
      hint: 'wait for that process to finish, or talk to its endpoint',
    });
  }
}
