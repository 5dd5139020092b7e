/**
 * S3 object tags (`S3StoreOptions.tags`, src/stores/tags.ts) and many-key deletes, against moto's S3
 * server through the real SDK: every way the store writes an object (one PutObject, a multipart
 * upload, a conditional PUT) lands tagged, as GetObjectTagging on the server says; `tagObject` adds
 * tags to an object someone else wrote without losing its own; `deleteObjects` batches 1,000 keys a
 * request and names each key S3 refused; and the lifecycle rule docs/cleanup.md shows is one S3
 * accepts.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  GetBucketLifecycleConfigurationCommand,
  GetObjectTaggingCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketPolicyCommand,
  PutObjectCommand,
  type PutBucketLifecycleConfigurationCommandInput,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { checkTags, EXPIRE_TAG_KEY, expireTags, openStore, taggingHeader } from '../../src/stores/index.js';
import { S3Store } from '../../src/stores/s3.js';
import { startMoto, type MotoServer } from '../support/moto.js';
import { startProxiedS3, stopProxiedS3, type S3Proxy } from '../support/s3-proxy.js';
import { thrownBatchError } from '../support/errors.js';
import { useTempDir } from '../support/temp.js';

const MiB = 1 << 20;
const ROOT = join(import.meta.dirname, '..', '..');
let s3: MotoServer;
let proxy: S3Proxy;

beforeAll(async () => {
  ({ s3, proxy } = await startProxiedS3(startMoto, ['tagged', 'lifecycle', 'deletes', 'guarded']));
});
afterAll(() => stopProxiedS3({ s3, proxy }));
beforeEach(() => proxy.reset());

/** The object's tags as the server holds them. */
async function serverTags(bucket: string, key: string): Promise<Record<string, string>> {
  const res = await s3.client.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }));
  return Object.fromEntries((res.TagSet ?? []).map((t) => [t.Key!, t.Value!]));
}

const write = (store: S3Store, key: string, ...chunks: (string | Buffer)[]) => pipeline(Readable.from(chunks), store.createWriteStream(key));

describe('tags on what an S3 store writes', () => {
  it('a single PutObject carries them', async () => {
    const store = new S3Store('s3://tagged/run-1/', { ...proxy.clientOptions, tags: expireTags(30) });
    await write(store, 'prepared.json', '{"state":"prepared"}\n');
    expect(proxy.ops('PutObject')).toHaveLength(1);
    expect(proxy.ops('CreateMultipartUpload')).toHaveLength(0);
    expect(await serverTags('tagged', 'run-1/prepared.json')).toEqual({ [EXPIRE_TAG_KEY]: '30' });
  });

  it('a multipart upload carries them from its CreateMultipartUpload', async () => {
    const store = new S3Store('s3://tagged/run-1/', { ...proxy.clientOptions, partSize: 5 * MiB, tags: { ...expireTags(7), team: 'contact center' } });
    await write(store, 'input/job-0001/part-00001.jsonl', Buffer.alloc(5 * MiB, 0x61), Buffer.from('b\n'));
    expect(proxy.ops('UploadPart')).toHaveLength(2);
    const create = proxy.ops('CreateMultipartUpload');
    expect(create).toHaveLength(1);
    expect(create[0]!.headers['x-amz-tagging']).toBe('bedrock-batch-expire-days=7&team=contact%20center');
    expect(await serverTags('tagged', 'run-1/input/job-0001/part-00001.jsonl')).toEqual({ [EXPIRE_TAG_KEY]: '7', team: 'contact center' });
    expect(await s3.pendingUploads('tagged')).toEqual([]);
  });

  it('a conditional PUT (the ledger in S3) carries them, on creation and on each rewrite', async () => {
    const store = new S3Store('s3://tagged/run-2/', { ...proxy.clientOptions, tags: expireTags(30) });
    const first = await store.putConditional('ledger.jsonl', '{"v":1}\n', { ifNoneMatch: '*' });
    expect(first).not.toBe('conflict');
    expect(await serverTags('tagged', 'run-2/ledger.jsonl')).toEqual({ [EXPIRE_TAG_KEY]: '30' });
    // a rewrite is a new object: S3 keeps no tags across it unless the PUT sends them again
    const again = new S3Store('s3://tagged/run-2/', { ...proxy.clientOptions, tags: expireTags(9) });
    expect(await again.putConditional('ledger.jsonl', '{"v":1}\n{"v":1}\n', { ifMatch: first })).not.toBe('conflict');
    expect(await serverTags('tagged', 'run-2/ledger.jsonl')).toEqual({ [EXPIRE_TAG_KEY]: '9' });
  });

  it('a store without tags sends none', async () => {
    const store = new S3Store('s3://tagged/run-3/', proxy.clientOptions);
    await write(store, 'rejects.jsonl', '');
    expect(proxy.ops('PutObject')[0]!.headers['x-amz-tagging']).toBeUndefined();
    expect(await serverTags('tagged', 'run-3/rejects.jsonl')).toEqual({});
  });

  it('keys and values with spaces and + - = . _ : / @ go through the header and come back unchanged', async () => {
    const tags = { 'a key': 'x+y=z', 'path/like:key': 'v@host.example_1-2', empty: '' };
    expect(taggingHeader(tags)).toBe('a%20key=x%2By%3Dz&path%2Flike%3Akey=v%40host.example_1-2&empty=');
    const store = new S3Store('s3://tagged/run-4/', { ...proxy.clientOptions, tags });
    await write(store, 'x.jsonl', 'x\n');
    expect(await serverTags('tagged', 'run-4/x.jsonl')).toEqual(tags);
    expect(await store.objectTags('x.jsonl')).toEqual(tags);
  });

  it('refuses tag sets S3 would refuse, before anything is sent', () => {
    const over = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, 'v']));
    expect(thrownBatchError(() => new S3Store('s3://tagged/x/', { ...proxy.clientOptions, tags: over })).code).toBe('E_BAD_OPTION');
    expect(thrownBatchError(() => checkTags({ 'aws:createdBy': 'me' })).message).toContain('aws:createdBy');
    expect(thrownBatchError(() => checkTags({ k: 'semi;colon' })).hint).toContain('+ - = . _ : / @');
    expect(thrownBatchError(() => checkTags({ ['k'.repeat(129)]: 'v' })).code).toBe('E_BAD_OPTION');
    expect(thrownBatchError(() => expireTags(0)).message).toContain('--expire-days');
    expect(thrownBatchError(() => expireTags(1.5)).code).toBe('E_BAD_OPTION');
    expect(proxy.requests).toEqual([]);
  });

  describe('a local directory', () => {
    const tmp = useTempDir('tags-local-');
    it('ignores the tags (a directory has none) and writes as usual', async () => {
      const store = openStore(tmp.dir, { tags: expireTags(30) });
      await pipeline(Readable.from(['x\n']), store.createWriteStream('a/b.jsonl'));
      expect(await readFile(join(tmp.dir, 'a/b.jsonl'), 'utf8')).toBe('x\n');
    });
  });
});

describe('tagObject: tags on an object someone else wrote', () => {
  it("adds the tags and keeps the object's own (S3 replaces the whole set: read and merged)", async () => {
    await s3.client.send(new PutObjectCommand({ Bucket: 'tagged', Key: 'out/abc123/part-00001.jsonl.out', Body: 'x\n', Tagging: 'writer=bedrock&expire=never' }));
    const store = new S3Store('s3://tagged/out/', proxy.clientOptions);
    expect(await store.tagObject('abc123/part-00001.jsonl.out', expireTags(30))).toEqual({ writer: 'bedrock', expire: 'never', [EXPIRE_TAG_KEY]: '30' });
    expect(await serverTags('tagged', 'out/abc123/part-00001.jsonl.out')).toEqual({ writer: 'bedrock', expire: 'never', [EXPIRE_TAG_KEY]: '30' });
    // a key it already has takes the new value
    await store.tagObject('abc123/part-00001.jsonl.out', expireTags(14));
    expect(await serverTags('tagged', 'out/abc123/part-00001.jsonl.out')).toEqual({ writer: 'bedrock', expire: 'never', [EXPIRE_TAG_KEY]: '14' });
  });

  it('writes nothing when the object carries the tags already', async () => {
    await s3.client.send(new PutObjectCommand({ Bucket: 'tagged', Key: 'out/abc124/manifest.json.out', Body: '{}', Tagging: `${EXPIRE_TAG_KEY}=30` }));
    const store = new S3Store('s3://tagged/out/', proxy.clientOptions);
    await store.tagObject('abc124/manifest.json.out', expireTags(30));
    expect(proxy.requests.filter((r) => r.method === 'PUT')).toEqual([]);
  });

  it('refuses a merge over S3\'s 10 tags, naming the object, and leaves its tags as they were', async () => {
    const ten = Array.from({ length: 10 }, (_, i) => `t${i}=v`).join('&');
    await s3.client.send(new PutObjectCommand({ Bucket: 'tagged', Key: 'out/abc125/part-00001.jsonl.out', Body: 'x\n', Tagging: ten }));
    const store = new S3Store('s3://tagged/out/', proxy.clientOptions);
    await expect(store.tagObject('abc125/part-00001.jsonl.out', expireTags(30))).rejects.toMatchObject({ code: 'E_BAD_OPTION', message: expect.stringContaining('s3://tagged/out/abc125/part-00001.jsonl.out') });
    expect(Object.keys(await serverTags('tagged', 'out/abc125/part-00001.jsonl.out'))).toHaveLength(10);
  });

  it('names a missing object', async () => {
    const store = new S3Store('s3://tagged/out/', proxy.clientOptions);
    await expect(store.tagObject('nope/part-00001.jsonl.out', expireTags(30))).rejects.toMatchObject({ code: 'E_STORE', message: expect.stringContaining('s3://tagged/out/nope/part-00001.jsonl.out') });
  });
});

describe('deleteObjects', () => {
  it('deletes 1,001 keys in two DeleteObjects requests (a key that is not there counts as deleted, as S3 says)', async () => {
    const keys = Array.from({ length: 1001 }, (_, i) => `run/k-${String(i).padStart(4, '0')}`);
    // objects at both ends of the first request and in the second; the other keys do not exist
    const real = [keys[0]!, keys[999]!, keys[1000]!];
    for (const k of [...real, 'run/other']) await s3.client.send(new PutObjectCommand({ Bucket: 'deletes', Key: `p/${k}`, Body: 'x' }));
    const store = new S3Store('s3://deletes/p/', proxy.clientOptions);
    const r = await store.deleteObjects(keys);
    expect(r.failed).toEqual([]);
    expect(r.deleted).toEqual(keys);
    expect(proxy.requests.filter((q) => q.method === 'POST' && q.op === 'Other')).toHaveLength(2);
    const left = [];
    for await (const o of store.list('')) left.push(o.key);
    expect(left).toEqual(['run/other']);
  });

  it('names each key S3 refused and deletes the others', async () => {
    for (const k of ['a', 'b', 'c']) await s3.client.send(new PutObjectCommand({ Bucket: 'guarded', Key: `p/${k}`, Body: 'x' }));
    const policy = {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Deny', Principal: '*', Action: 's3:DeleteObject', Resource: 'arn:aws:s3:::guarded/p/b' }],
    };
    await s3.client.send(new PutBucketPolicyCommand({ Bucket: 'guarded', Policy: JSON.stringify(policy) }));
    const store = new S3Store('s3://guarded/p/', proxy.clientOptions);
    const r = await store.deleteObjects(['a', 'b', 'c']);
    expect(r.deleted).toEqual(['a', 'c']);
    expect(r.failed).toEqual([{ key: 'b', code: 'AccessDenied', message: expect.any(String) }]);
    expect(await store.exists('b')).toBe(true);
    expect(await store.exists('a')).toBe(false);
  });
});

describe('the lifecycle rule docs/cleanup.md shows', () => {
  it('is accepted by S3 as it is written, and read back the same', async () => {
    const doc = await readFile(join(ROOT, 'docs/cleanup.md'), 'utf8');
    const block = /<!-- lifecycle-rule -->\s*```json\n([\s\S]*?)```/.exec(doc);
    expect(block, 'docs/cleanup.md holds the rule in a ```json block after <!-- lifecycle-rule -->').not.toBeNull();
    const config = JSON.parse(block![1]!) as PutBucketLifecycleConfigurationCommandInput['LifecycleConfiguration'];
    const rules = config!.Rules!;
    expect(rules.length).toBeGreaterThan(0);
    for (const rule of rules) {
      expect(rule.Filter?.Tag?.Key).toBe(EXPIRE_TAG_KEY);
      // one rule per value: the value is the rule's own number of days
      expect(rule.Expiration?.Days).toBe(Number(rule.Filter?.Tag?.Value));
    }
    expect(doc).toContain('aws s3api put-bucket-lifecycle-configuration');
    await s3.client.send(new PutBucketLifecycleConfigurationCommand({ Bucket: 'lifecycle', LifecycleConfiguration: config }));
    const back = await s3.client.send(new GetBucketLifecycleConfigurationCommand({ Bucket: 'lifecycle' }));
    const shape = (r: NonNullable<typeof rules>[number]) => ({ ID: r.ID, Status: r.Status, Filter: r.Filter, Expiration: r.Expiration, NoncurrentVersionExpiration: r.NoncurrentVersionExpiration });
    expect(back.Rules?.map(shape)).toEqual(rules.map(shape));
  });
});
