/**
 * The local service's state lock (`<state>.lock`) under races, half-written files and PID reuse.
 * Contenders run in real child processes on the built code (`npm test` builds dist/ first).
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireLock, LocalLockedError, readLock } from '../../src/local/state.js';
import { useTempDir } from '../support/temp.js';

const CONTENDER = fileURLToPath(new URL('./lock-contender.mjs', import.meta.url));
/** Small bounds, so that the tests never wait seconds. */
const FAST = { staleMs: 400, heartbeatMs: 50, claimStaleMs: 300 };

const tmp = useTempDir('lock-');
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

type Message = { type?: string; round?: number; won?: boolean; pid?: number; code?: string; message?: string };

function contender(): { child: ChildProcess; next: (test: (m: Message) => boolean) => Promise<Message> } {
  const child = fork(CONTENDER, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  children.push(child);
  const inbox: Message[] = [];
  const waiting: { test: (m: Message) => boolean; resolve: (m: Message) => void }[] = [];
  child.on('message', (m: Message) => {
    const i = waiting.findIndex((w) => w.test(m));
    if (i >= 0) waiting.splice(i, 1)[0]!.resolve(m);
    else inbox.push(m);
  });
  return {
    child,
    next: (test) =>
      new Promise((resolve, reject) => {
        const i = inbox.findIndex(test);
        if (i >= 0) return resolve(inbox.splice(i, 1)[0]!);
        waiting.push({ test, resolve });
        child.once('exit', (code) => reject(new Error(`contender exited (${code})`)));
      }),
  };
}

/** The pid of a process that has ended. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  return r.pid!;
}

const token = () => randomBytes(16).toString('hex');

function writeLock(stateFile: string, content: string, ageMs = 0): void {
  mkdirSync(join(stateFile, '..'), { recursive: true });
  writeFileSync(`${stateFile}.lock`, content);
  if (ageMs > 0) {
    const t = (Date.now() - ageMs) / 1000;
    utimesSync(`${stateFile}.lock`, t, t);
  }
}

const lockJson = (pid: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ pid, token: token(), startedAt: new Date().toISOString(), ...extra });

describe('the state lock', () => {
  it('lets exactly one of 8 processes take over a stale lock, 30 rounds in a row', { timeout: 120_000 }, async () => {
    const procs = Array.from({ length: 8 }, () => contender());
    await Promise.all(procs.map((p) => p.next((m) => m.type === 'ready')));
    const dead = deadPid();
    const tally: number[] = [];
    for (let round = 0; round < 30; round++) {
      const stateFile = join(tmp.dir, `round-${round}`, 'jobs.json');
      // even rounds: its process is gone; odd rounds: a live process that is not the owner (PID
      // reuse), whose heartbeat stopped an hour ago
      writeLock(stateFile, lockJson(round % 2 === 0 ? dead : process.ppid), round % 2 === 0 ? 0 : 3_600_000);
      const at = Date.now() + 40;
      const results = procs.map((p) => p.next((m) => m.round === round));
      for (const p of procs) p.child.send({ type: 'go', round, stateFile, at, options: FAST });
      const got = await Promise.all(results);
      const winners = got.filter((m) => m.won);
      tally.push(winners.length);
      for (const m of got.filter((g) => !g.won)) expect(m.code, m.message).toBe('E_LOCAL_LOCKED');
      // whoever won, the lock names it
      if (winners.length === 1) expect(JSON.parse(readFileSync(`${stateFile}.lock`, 'utf8')).pid).toBe(winners[0]!.pid);
    }
    expect(tally).toEqual(Array(30).fill(1));
  });

  it('takes over a lock naming this very process (a reused PID, as PID 1 in a container run twice)', async () => {
    const stateFile = join(tmp.dir, 'jobs.json');
    writeLock(stateFile, lockJson(process.pid));
    const lock = await acquireLock(stateFile, FAST);
    expect(JSON.parse(readFileSync(`${stateFile}.lock`, 'utf8'))).toMatchObject({ pid: process.pid });
    lock.release();
    expect(existsSync(`${stateFile}.lock`)).toBe(false);
  });

  it('takes over a lock naming a live unrelated process whose heartbeat stopped; keeps one whose heartbeat is fresh', async () => {
    const stateFile = join(tmp.dir, 'jobs.json');
    writeLock(stateFile, lockJson(process.ppid));
    const err = await acquireLock(stateFile, FAST).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LocalLockedError);
    expect((err as LocalLockedError).owner.pid).toBe(process.ppid);
    expect(readLock(stateFile, FAST)?.pid).toBe(process.ppid);
    writeLock(stateFile, lockJson(process.ppid), 60_000);
    expect(readLock(stateFile, FAST)).toBeUndefined();
    const lock = await acquireLock(stateFile, FAST);
    expect(readLock(stateFile, FAST)?.pid).toBe(process.pid);
    lock.release();
  });

  it('keeps a live owner\'s lock past the staleness bound (its heartbeat), and takes it once the owner is killed', async () => {
    const stateFile = join(tmp.dir, 'jobs.json');
    const owner = contender();
    await owner.next((m) => m.type === 'ready');
    owner.child.send({ type: 'hold', stateFile, options: FAST });
    expect((await owner.next((m) => m.type === 'held' || m.type === 'failed')).type).toBe('held');
    await new Promise((r) => setTimeout(r, 3 * FAST.staleMs));
    await expect(acquireLock(stateFile, FAST)).rejects.toMatchObject({ code: 'E_LOCAL_LOCKED', owner: { pid: owner.child.pid } });
    owner.child.kill('SIGKILL');
    await new Promise((r) => owner.child.once('exit', r));
    const lock = await acquireLock(stateFile, FAST);
    lock.release();
  });

  it('never treats an empty or half-written lock file as stale while it is fresh; an old one is taken over', async () => {
    const stateFile = join(tmp.dir, 'jobs.json');
    for (const content of ['', '{"pid": 12', '{"pid":']) {
      writeLock(stateFile, content);
      await expect(acquireLock(stateFile, FAST)).rejects.toMatchObject({ code: 'E_LOCAL_LOCKED' });
      expect(readFileSync(`${stateFile}.lock`, 'utf8')).toBe(content);
    }
    writeLock(stateFile, '', 10 * FAST.staleMs);
    const lock = await acquireLock(stateFile, FAST);
    expect(JSON.parse(readFileSync(`${stateFile}.lock`, 'utf8')).pid).toBe(process.pid);
    lock.release();
  });

  it('never shows a half-written lock: a reader racing a process that takes and releases it only ever sees whole JSON', async () => {
    const stateFile = join(tmp.dir, 'jobs.json');
    mkdirSync(tmp.dir, { recursive: true });
    const churner = contender();
    await churner.next((m) => m.type === 'ready');
    let done = false;
    const finished = churner.next((m) => m.type === 'churned').then(() => (done = true));
    churner.child.send({ type: 'churn', stateFile, times: 300, options: FAST });
    let reads = 0;
    const bad: string[] = [];
    while (!done) {
      let text: string;
      try {
        text = readFileSync(`${stateFile}.lock`, 'utf8');
      } catch {
        await new Promise((r) => setImmediate(r));
        continue;
      }
      reads++;
      try {
        const info = JSON.parse(text) as { pid: number; token?: string };
        if (info.pid !== churner.child.pid || typeof info.token !== 'string') bad.push(text);
      } catch {
        bad.push(text);
      }
      if (reads % 50 === 0) await new Promise((r) => setImmediate(r));
    }
    await finished;
    expect(reads).toBeGreaterThan(0);
    expect(bad).toEqual([]);
  });

  it('finishes a takeover that a crashed process left half-done (its claim is stale)', async () => {
    const stateFile = join(tmp.dir, 'jobs.json');
    const stale = token();
    writeLock(stateFile, JSON.stringify({ pid: deadPid(), token: stale, startedAt: new Date().toISOString() }));
    // the claim of a process that died while it took the lock over
    writeFileSync(`${stateFile}.lock.takeover-${stale}`, lockJson(deadPid()));
    const lock = await acquireLock(stateFile, FAST);
    expect(readLock(stateFile, FAST)?.pid).toBe(process.pid);
    lock.release();
  });

  it('refuses a second lock in the same process, and a lock of an older version (no token) is judged like any other', async () => {
    const stateFile = join(tmp.dir, 'jobs.json');
    const lock = await acquireLock(stateFile, FAST);
    await expect(acquireLock(stateFile, FAST)).rejects.toMatchObject({ code: 'E_LOCAL_LOCKED', owner: { pid: process.pid } });
    lock.release();
    writeLock(stateFile, JSON.stringify({ pid: deadPid(), startedAt: new Date().toISOString() }));
    const again = await acquireLock(stateFile, FAST);
    again.release();
  });
});
