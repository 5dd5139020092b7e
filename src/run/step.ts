/**
 * `run --no-wait` as a step (docs/deploy.md): each call moves a run on by what can be done now and
 * exits; a scheduler calls it again. Two files at the work location make that safe from several
 * machines at once:
 *
 * - `prepare.lease`: `{owner, at}`, created with a conditional write (`If-None-Match: *` in S3, an
 *   exclusive create on a local disk). The step that creates it prepares; another sees it and waits
 *   for the next step. A lease older than `leaseMs` (its owner died) is taken over with a
 *   compare-and-swap on its ETag, so two steppers never both take it.
 * - `step.json`: what the last step saw, for a state machine or a person: phase, jobs, whether
 *   collect can run, whether the run is done.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { BatchError } from '../errors.js';
import { LocalStore } from '../stores/local.js';
import { S3Store } from '../stores/s3.js';
import type { Store } from '../stores/store.js';

export const PREPARE_LEASE_KEY = 'prepare.lease';
export const STEP_STATUS_KEY = 'step.json';

export interface StepStatus {
  v: 1;
  at: string;
  phase: 'preparing' | 'submitting' | 'running' | 'collected';
  jobs: { total: number; created: number; running: number; ended: number; remaining: number };
  collectReady: boolean;
  done: boolean;
  results: string | null;
  /** Ledger events this step appended. */
  ledgerEvents: number;
  /** What every job name of the run starts with (`batch-<8 hex>-`): for an EventBridge rule's prefix. */
  jobNamePrefix?: string;
  note?: string;
}

export type LeaseOutcome = { mine: true } | { mine: false; owner: string; since: string };

interface LeaseBody {
  owner: string;
  at: string;
}

/** Take the lease at `key` unless another owner took it less than `leaseMs` ago. */
export async function acquireLease(store: Store, key: string, leaseMs: number, owner = randomUUID()): Promise<LeaseOutcome> {
  const body = (): string => JSON.stringify({ owner, at: new Date().toISOString() } satisfies LeaseBody) + '\n';
  const stale = (l: LeaseBody) => Date.now() - Date.parse(l.at) > leaseMs;
  if (store instanceof S3Store) {
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await store.readWithEtag(key, 1 << 16);
      if (!current) {
        if ((await store.putConditional(key, body(), { ifNoneMatch: '*' })) !== 'conflict') return { mine: true };
        continue;
      }
      const held = parseLease(current.body.toString('utf8'), store.resolve(key));
      if (!stale(held)) return { mine: false, owner: held.owner, since: held.at };
      if ((await store.putConditional(key, body(), { ifMatch: current.etag })) !== 'conflict') return { mine: true };
    }
    const now = parseLease((await store.readWithEtag(key, 1 << 16))?.body.toString('utf8') ?? '{}', store.resolve(key));
    return { mine: false, owner: now.owner, since: now.at };
  }
  if (!(store instanceof LocalStore)) throw new BatchError('E_INTERNAL', `no lease on ${store.uri}`);
  const path = store.resolve(key);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      try {
        writeSync(fd, body());
      } finally {
        closeSync(fd);
      }
      return { mine: true };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const held = parseLease(readFileSync(path, 'utf8'), path);
    if (!stale(held)) return { mine: false, owner: held.owner, since: held.at };
    await store.delete(key);
  }
  return { mine: false, owner: 'unknown', since: new Date().toISOString() };
}

function parseLease(text: string, where: string): LeaseBody {
  try {
    const l = JSON.parse(text) as LeaseBody;
    if (typeof l.owner === 'string' && typeof l.at === 'string' && !Number.isNaN(Date.parse(l.at))) return l;
  } catch {
    // below
  }
  throw new BatchError('E_IN_THE_WAY', `${where} is not a bedrock-batch lease`, { hint: 'it is not ours: move it away, or choose another --work' });
}

/** Write `step.json` at the work location (one PUT: a reader sees the old one or the new one). */
export async function writeStepStatus(store: Store, status: StepStatus): Promise<void> {
  const w = store.createWriteStream(STEP_STATUS_KEY, { contentType: 'application/json' });
  await new Promise<void>((resolve, reject) => {
    w.once('error', reject);
    w.end(JSON.stringify(status) + '\n', () => resolve());
  });
}
