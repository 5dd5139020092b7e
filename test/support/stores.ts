/**
 * What every store does alike (src/stores/store.ts), checked the same way for each kind of store.
 * Each check starts from an empty store.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { text } from 'node:stream/consumers';
import { expect } from 'vitest';
import type { Store } from '../../src/stores/index.js';

/** Writes two keys, reads one back, lists (under a prefix and all, in key order), tells existence and deletes by key. */
export async function expectKeyedStore(store: Store): Promise<void> {
  await pipeline(Readable.from(['a\n', 'b\n']), store.createWriteStream('input/job-0001/part-00001.jsonl'));
  await pipeline(Readable.from(['{}\n']), store.createWriteStream('prepared.json'));
  expect(await text(store.createReadStream('input/job-0001/part-00001.jsonl'))).toBe('a\nb\n');
  const listed = [];
  for await (const o of store.list('input/')) listed.push(o);
  expect(listed).toEqual([{ key: 'input/job-0001/part-00001.jsonl', size: 4 }]);
  const all = [];
  for await (const o of store.list()) all.push(o.key);
  expect(all).toEqual(['input/job-0001/part-00001.jsonl', 'prepared.json']);
  expect(await store.exists('prepared.json')).toBe(true);
  await store.delete('prepared.json');
  expect(await store.exists('prepared.json')).toBe(false);
}

/** Readers see the old object until a new write of the key has finished, then the new one. */
export async function expectReplaceOnFinish(store: Store): Promise<void> {
  await pipeline(Readable.from(['old\n']), store.createWriteStream('a.jsonl'));
  const w = store.createWriteStream('a.jsonl');
  w.write('new\n');
  expect(await text(store.createReadStream('a.jsonl'))).toBe('old\n');
  await new Promise<void>((res) => w.end(res));
  expect(await text(store.createReadStream('a.jsonl'))).toBe('new\n');
}
