/**
 * "Is there already a run here, and which files are its own?": the one answer prepare, `run` and
 * collect's retry plan share before they write a run's layout into a location. Nothing is ever
 * removed that the run did not write: a complete run's own files are the ones its prepared.json
 * lists (shards, lineage, rejects, prepared.json itself); an interrupted prepare's are the files its
 * `preparing` prepared.json claims (shard and lineage names as rollover writes them, temporary files
 * of its writers, its rejects file). The embedded local service's `local-service/` folder, the
 * on-demand spool `on-demand/` and the reused answers `reused.jsonl` are the run's too. Anything else in the places the run writes (`input/`, `lineage/`, `rejects.jsonl`) is
 * in the way: the caller refuses, naming it. Anything anywhere else is left alone.
 */
import { readdir, rmdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { pidAlive } from '../core/process.js';
import { BatchError } from '../errors.js';
import { LocalStore } from '../stores/local.js';
import type { Store } from '../stores/store.js';
import { INPUT_PREFIX, LEDGER_KEY, LINEAGE_PREFIX, LOCAL_SERVICE_PREFIX, ON_DEMAND_PREFIX, PARTIAL_SUFFIX, PREPARED_KEY, REJECTS_KEY, REUSED_KEY, SHARD_NAME } from './layout.js';
import { readPreparedRunIfAny, type PreparedRunRead } from './prepared.js';

export interface RunLocation {
  store: Store;
  /** `empty`: nothing of a run here; `preparing`: a prepare that did not finish; `prepared`: a complete run. */
  state: 'empty' | 'preparing' | 'prepared';
  /** The run's prepared.json, when there is one. */
  prepared?: PreparedRunRead;
  /** The location holds a ledger: the run was submitted (its jobs may cost money and still run). */
  submitted: boolean;
  /** Keys of the run's own files (see the module comment), removable when it is replaced. */
  own: string[];
  /** Keys in the places a run writes that are not the run's: whoever replaces the run must refuse. */
  inTheWay: string[];
}

/** Every key under the store, temporary files of local writers included (a Store's list leaves those out). */
async function listAll(store: Store): Promise<string[]> {
  const keys: string[] = [];
  if (!(store instanceof LocalStore)) {
    for await (const o of store.list('')) keys.push(o.key);
    return keys;
  }
  const walk = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return;
      throw err;
    }
    for (const e of entries) {
      const full = join(dir, e.name);
      if (e.isDirectory()) await walk(full);
      else keys.push(relative(store.root, full).split(sep).join('/'));
    }
  };
  await walk(store.root);
  return keys.sort();
}

/** A key below `input/` or `lineage/` as rollover names it (`job-0001/part-00001.jsonl`), a writer's temporary file of one included. */
const shardNamed = (key: string) => SHARD_NAME.test(key.replace(PARTIAL_SUFFIX, '').replace(/^(input|lineage)\//, ''));

/** The process that left a writer's temporary file (`....partial-<pid>-<n>`), if the key is one. */
const partialPid = (key: string): number | undefined => {
  const m = /\.partial-(\d+)-\d+$/.exec(key);
  return m ? Number(m[1]) : undefined;
};

/** The key of a rejects file given as a URI, when it is inside the store. */
function keyInStore(store: Store, uri: string | undefined): string | undefined {
  if (!uri) return undefined;
  const base = store.resolve('');
  const prefix = base.endsWith('/') ? base : `${base}/`;
  if (uri.startsWith(prefix)) return uri.slice(prefix.length);
  if (store instanceof LocalStore) {
    const rel = relative(store.root, uri);
    if (rel && !rel.startsWith('..') && !rel.startsWith(sep)) return rel.split(sep).join('/');
  }
  return undefined;
}

export interface InspectOptions {
  /**
   * A prepared.json that cannot be read (empty, not JSON) is an error (E_NOT_PREPARED) by default;
   * with `claimBroken` it is taken as an interrupted prepare's (what `run --fresh` needs to clear it).
   */
  claimBroken?: boolean;
}

/** What is at a run location (see the module comment). One listing of the location, then prepared.json if it is there. */
export async function inspectRunLocation(store: Store, options: InspectOptions = {}): Promise<RunLocation> {
  const keys = await listAll(store);
  const present = new Set(keys);
  let prepared: PreparedRunRead | undefined;
  let broken = false;
  try {
    prepared = present.has(PREPARED_KEY) ? await readPreparedRunIfAny(store) : undefined;
  } catch (error) {
    if (!options.claimBroken || !(error instanceof BatchError) || error.code !== 'E_NOT_PREPARED') throw error;
    broken = true; // taken as an interrupted prepare's, with the default rejects file
  }
  const file = prepared?.file;
  const state: RunLocation['state'] = broken ? 'preparing' : (file?.state ?? 'empty');
  const own = new Set<string>();
  const inTheWay: string[] = [];
  // what the run claims: the shards and lineage its prepared.json lists, or (a prepare that did
  // not finish) whatever rollover names so; with no run here, only what a killed writer of ours left
  const listed = file?.state === 'prepared' ? new Set(file.jobs.flatMap((j) => j.shards.flatMap((sh) => (sh.lineage ? [sh.key, sh.lineage] : [sh.key])))) : undefined;
  const claims = (key: string): boolean => {
    if (listed) return listed.has(key.replace(PARTIAL_SUFFIX, ''));
    if (state === 'preparing') return shardNamed(key);
    const pid = partialPid(key);
    return pid !== undefined && shardNamed(key) && !pidAlive(pid);
  };
  for (const key of keys) {
    if (key.startsWith(INPUT_PREFIX) || key.startsWith(LINEAGE_PREFIX)) (claims(key) ? own.add(key) : inTheWay.push(key));
    else if (key.startsWith(LOCAL_SERVICE_PREFIX) || key.startsWith(ON_DEMAND_PREFIX)) own.add(key);
  }
  if (state === 'empty') {
    if (present.has(REJECTS_KEY)) inTheWay.push(REJECTS_KEY);
  } else {
    own.add(PREPARED_KEY);
    const rejectsKey = broken ? REJECTS_KEY : (file!.rejectsKey ?? keyInStore(store, file!.rejects) ?? (file!.version < 2 ? REJECTS_KEY : undefined));
    if (rejectsKey) for (const k of keys) if (k.replace(PARTIAL_SUFFIX, '') === rejectsKey) own.add(k);
    // the earlier answers --skip-answered copied (a prepare that did not finish may have begun it)
    const reusedKey = file?.reused?.key ?? REUSED_KEY;
    for (const k of keys) if (k.replace(PARTIAL_SUFFIX, '') === reusedKey) own.add(k);
  }
  return { store, state, ...(prepared ? { prepared } : {}), submitted: present.has(LEDGER_KEY), own: [...own].sort(), inTheWay: inTheWay.sort() };
}

/** Refuse a location whose run-writing places hold what is not the run's, naming up to five. */
export function refuseInTheWay(location: RunLocation, doing: string): void {
  if (location.inTheWay.length === 0) return;
  const shown = location.inTheWay.slice(0, 5).map((k) => location.store.resolve(k)).join(', ');
  throw new BatchError('E_IN_THE_WAY', `${doing}: ${location.store.uri} holds ${location.inTheWay.length} file(s) where a run writes that are not a prepared run's own: ${shown}${location.inTheWay.length > 5 ? ', ...' : ''}`, {
    hint: 'nothing was removed: move those files away, or choose another location',
  });
}

/**
 * Remove the run's own files (never anything else). prepared.json goes last, so a crash part-way
 * leaves a location still claimed by the run. Local folders the removal empties go too.
 */
export async function removeOwnFiles(location: RunLocation): Promise<number> {
  const { store } = location;
  const keys = location.own.filter((k) => k !== PREPARED_KEY);
  for (const key of keys) await store.delete(key);
  if (location.own.includes(PREPARED_KEY)) await store.delete(PREPARED_KEY);
  if (store instanceof LocalStore) {
    const dirs = new Set<string>();
    for (const key of location.own) for (let i = key.lastIndexOf('/'); i > 0; i = key.lastIndexOf('/', i - 1)) dirs.add(key.slice(0, i));
    // deepest first; rmdir refuses a folder that still holds anything
    for (const d of [...dirs].sort((a, b) => b.length - a.length)) await rmdir(store.path(d)).catch(() => {});
  }
  return location.own.length;
}
