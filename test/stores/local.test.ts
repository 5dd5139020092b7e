import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { text } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { openStore } from '../../src/stores/index.js';
import { LocalStore } from '../../src/stores/local.js';
import { expectKeyedStore, expectReplaceOnFinish } from '../support/stores.js';
import { useTempDir } from '../support/temp.js';

const tmp = useTempDir('store-');

describe('LocalStore', () => {
  it('writes, reads, lists, tells existence and deletes by key', async () => {
    const store = openStore(tmp.dir);
    await expectKeyedStore(store);
    expect(store.resolve('input/x.jsonl')).toBe(`${tmp.dir}/input/x.jsonl`);
  });

  it('reports a missing object with E_STORE and its location', async () => {
    const store = new LocalStore(tmp.dir);
    await expect(text(store.createReadStream('nope.jsonl'))).rejects.toMatchObject({ code: 'E_STORE', message: expect.stringContaining('nope.jsonl does not exist') });
  });

  it('refuses keys that leave the root', () => {
    const store = new LocalStore(tmp.dir);
    expect(() => store.createWriteStream('../escape.txt')).toThrow(/outside/);
  });

  it('leaves nothing under the key when a write is destroyed', async () => {
    const store = new LocalStore(tmp.dir);
    async function* failing() {
      yield 'partial\n';
      throw new Error('upstream failed');
    }
    const w = store.createWriteStream('input/a.jsonl');
    await expect(pipeline(Readable.from(failing()), w)).rejects.toThrow('upstream failed');
    // pipeline rejects without waiting for the writers it destroys (Node 22 shows it): wait for close
    if (!w.closed) await new Promise((resolve) => w.once('close', resolve));
    expect(await readdir(join(tmp.dir, 'input')).catch(() => [])).toEqual([]);
  });

  it('replaces an object only once the new content is complete', async () => {
    await expectReplaceOnFinish(new LocalStore(tmp.dir));
  });

  it('opens an S3 store for s3:// (never a local folder named s3:) and refuses other schemes', () => {
    expect(openStore('s3://bucket/prefix/', { region: 'us-east-1' })).not.toBeInstanceOf(LocalStore);
    expect(() => openStore('https://example.com/x/')).toThrow(/unsupported location/);
  });
});
