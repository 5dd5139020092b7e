import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { text } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../../src/stores/index.js';
import { LocalStore } from '../../src/stores/local.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'store-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('LocalStore', () => {
  it('writes, reads, lists, tells existence and deletes by key', async () => {
    const store = openStore(dir);
    await pipeline(Readable.from(['a\n', 'b\n']), store.createWriteStream('input/job-0001/part-00001.jsonl'));
    await pipeline(Readable.from(['{}\n']), store.createWriteStream('prepared.json'));
    expect(await text(store.createReadStream('input/job-0001/part-00001.jsonl'))).toBe('a\nb\n');
    const listed = [];
    for await (const o of store.list('input/')) listed.push(o);
    expect(listed).toEqual([{ key: 'input/job-0001/part-00001.jsonl', size: 4 }]);
    expect(await store.exists('prepared.json')).toBe(true);
    await store.delete('prepared.json');
    expect(await store.exists('prepared.json')).toBe(false);
    expect(store.resolve('input/x.jsonl')).toBe(`${dir}/input/x.jsonl`);
  });

  it('reports a missing object with E_STORE and its location', async () => {
    const store = new LocalStore(dir);
    await expect(text(store.createReadStream('nope.jsonl'))).rejects.toMatchObject({ code: 'E_STORE', message: expect.stringContaining('nope.jsonl does not exist') });
  });

  it('refuses keys that leave the root', () => {
    const store = new LocalStore(dir);
    expect(() => store.createWriteStream('../escape.txt')).toThrow(/outside/);
  });

  it('leaves nothing under the key when a write is destroyed', async () => {
    const store = new LocalStore(dir);
    async function* failing() {
      yield 'partial\n';
      throw new Error('upstream failed');
    }
    const w = store.createWriteStream('input/a.jsonl');
    await expect(pipeline(Readable.from(failing()), w)).rejects.toThrow('upstream failed');
    // pipeline rejects without waiting for the writers it destroys (Node 22 shows it): wait for close
    if (!w.closed) await new Promise((resolve) => w.once('close', resolve));
    expect(await readdir(join(dir, 'input')).catch(() => [])).toEqual([]);
  });

  it('replaces an object only once the new content is complete', async () => {
    const store = new LocalStore(dir);
    await pipeline(Readable.from(['old\n']), store.createWriteStream('a.jsonl'));
    const w = store.createWriteStream('a.jsonl');
    w.write('new\n');
    expect(await text(store.createReadStream('a.jsonl'))).toBe('old\n');
    await new Promise<void>((res) => w.end(res));
    expect(await text(store.createReadStream('a.jsonl'))).toBe('new\n');
  });

  it('opens an S3 store for s3:// (never a local folder named s3:) and refuses other schemes', () => {
    expect(openStore('s3://bucket/prefix/', { region: 'us-east-1' })).not.toBeInstanceOf(LocalStore);
    expect(() => openStore('https://example.com/x/')).toThrow(/unsupported location/);
  });
});
