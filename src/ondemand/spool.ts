/**
 * The spool of an on-demand job (docs/on-demand.md, "The spool and the ledger"): one small object
 * per answered record, `<prefix><recordId>.json`, written whole and durably (a store writer is in
 * place only once it finishes: a local file fsynced and renamed, an S3 upload completed) before
 * anyone is told the record is answered. It holds what rebuilds the record's output line and no
 * more: the `modelOutput` or the `error`, and the tokens billed. Never the `modelInput`: the line is
 * rebuilt from the shard when every record has its answer, and the spool is then deleted.
 *
 *   {"v":1,"recordId":"R0000000001","modelOutput":{...},"inputTokens":812,"outputTokens":96}
 *   {"v":1,"recordId":"R0000000002","error":{"errorCode":400,"errorMessage":"..."}}
 */
import { finished } from 'node:stream/promises';
import { BatchError } from '../errors.js';
import { isObject } from '../core/values.js';
import type { Store } from '../stores/store.js';

export interface SpoolEntry {
  v: 1;
  recordId: string;
  modelOutput?: Record<string, unknown>;
  error?: { errorCode: number; errorMessage: string };
  inputTokens?: number;
  outputTokens?: number;
}

/** The key of a record's answer (ids outside `[A-Za-z0-9_.-]` are percent-encoded). */
export function spoolKey(prefix: string, recordId: string): string {
  return `${prefix}${encodeURIComponent(recordId)}.json`;
}

/** The record id a spool key holds, or undefined for a key that is not a spool entry under `prefix`. */
export function recordIdOfSpoolKey(prefix: string, key: string): string | undefined {
  if (!key.startsWith(prefix) || !key.endsWith('.json')) return undefined;
  const name = key.slice(prefix.length, -'.json'.length);
  if (name === '' || name.includes('/')) return undefined;
  try {
    return decodeURIComponent(name);
  } catch {
    return undefined;
  }
}

/** Every record id with an answer in the spool. */
export async function listSpool(store: Store, prefix: string): Promise<Set<string>> {
  const ids = new Set<string>();
  for await (const o of store.list(prefix)) {
    const id = recordIdOfSpoolKey(prefix, o.key);
    if (id !== undefined) ids.add(id);
  }
  return ids;
}

/** Write one answer; resolves once it is durably in place. */
export async function writeSpool(store: Store, prefix: string, entry: SpoolEntry): Promise<void> {
  const w = store.createWriteStream(spoolKey(prefix, entry.recordId), { contentType: 'application/json' });
  const done = finished(w);
  w.end(JSON.stringify(entry));
  await done;
}

/** Read one answer back; a missing or unreadable one is an error naming its key. */
export async function readSpool(store: Store, prefix: string, recordId: string): Promise<SpoolEntry> {
  const key = spoolKey(prefix, recordId);
  const chunks: Buffer[] = [];
  for await (const chunk of store.createReadStream(key) as AsyncIterable<Buffer>) chunks.push(chunk);
  let entry: unknown;
  try {
    entry = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    entry = undefined;
  }
  const ok =
    isObject(entry) &&
    entry.v === 1 &&
    entry.recordId === recordId &&
    (isObject(entry.modelOutput) || (isObject(entry.error) && typeof entry.error.errorCode === 'number' && typeof entry.error.errorMessage === 'string'));
  if (!ok) {
    throw new BatchError('E_INTERNAL', `the on-demand answer ${store.resolve(key)} is not a spool entry for record ${recordId}`, {
      hint: 'delete it and run again: the record is asked again',
    });
  }
  return entry as unknown as SpoolEntry;
}
