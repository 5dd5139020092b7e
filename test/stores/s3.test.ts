/**
 * The S3 store against a real S3 (moto's server on 127.0.0.1), through the real SDK, with a
 * recording pass-through in front of it to see which requests were made. What landed (objects,
 * versions, checksums, uploads left open) is asked of the server itself.
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { buffer, text } from 'node:stream/consumers';
import { HeadObjectCommand, ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../../src/stores/index.js';
import { createS3Client } from '../../src/stores/s3-client.js';
import { compositeCrc32 } from '../../src/stores/s3-verify.js';
import { S3ObjectWriter } from '../../src/stores/s3-writer.js';
import { S3Store, type UploadProgress } from '../../src/stores/s3.js';
import { startMoto, type MotoServer } from '../support/moto.js';
import { startProxiedS3, stopProxiedS3, type S3Proxy } from '../support/s3-proxy.js';
import { expectKeyedStore, expectReplaceOnFinish } from '../support/stores.js';

const MiB = 1 << 20;
let s3: MotoServer;
let proxy: S3Proxy;

beforeAll(async () => {
  ({ s3, proxy } = await startProxiedS3(startMoto, ['batch-in', 'batch-versioned', 'batch-suspended']));
  await s3.setVersioning('batch-versioned', 'Enabled');
  await s3.setVersioning('batch-suspended', 'Enabled');
  await s3.setVersioning('batch-suspended', 'Suspended');
});
afterAll(() => stopProxiedS3({ s3, proxy }));
beforeEach(() => proxy.reset());

/** Deterministic bytes, written in chunks of awkward sizes so part boundaries fall inside chunks. */
function bytes(size: number, seed = 1): Buffer {
  const b = Buffer.alloc(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}
function* chunks(data: Buffer, size = 300_001): Generator<Buffer> {
  for (let at = 0; at < data.length; at += size) yield data.subarray(at, at + size);
}
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

describe('S3Store', () => {
  it('writes, reads, lists, tells existence and deletes by key, like the local store', async () => {
    const store = openStore('s3://batch-in/run-1/', proxy.clientOptions);
    expect(store).toBeInstanceOf(S3Store);
    await expectKeyedStore(store);
    expect(store.resolve('input/job-0001/')).toBe('s3://batch-in/run-1/input/job-0001/');
    // a store on a prefix sees only its own keys
    const other = openStore('s3://batch-in/run-10/', proxy.clientOptions);
    await pipeline(Readable.from(['x']), other.createWriteStream('prepared.json'));
    const mine = [];
    for await (const o of store.list()) mine.push(o.key);
    expect(mine).toEqual(['input/job-0001/part-00001.jsonl']);
  });

  it('streams a large object as a multipart upload while it is still being written, and verifies it', async () => {
    const store = new S3Store('s3://batch-in/big/', { ...proxy.clientOptions, partSize: 5 * MiB, queueSize: 2, verify: 'md5' });
    const data = bytes(12 * MiB + 12_345);
    const w = store.createWriteStream('input/job-0001/part-00001.jsonl', { contentType: 'application/x-ndjson' });
    const progress: UploadProgress[] = [];
    w.on('progress', (p: UploadProgress) => progress.push(p));
    const it = chunks(data);
    // write 11 MiB and wait until S3 has acknowledged a part: the shard is not held until the end
    let written = 0;
    while (written < 11 * MiB) {
      const c = it.next().value!;
      written += c.length;
      if (!w.write(c)) await new Promise((r) => w.once('drain', r));
    }
    await expect.poll(() => proxy.ops('UploadPart').length, { timeout: 10_000 }).toBeGreaterThan(0);
    expect(proxy.ops('CompleteMultipartUpload')).toHaveLength(0);
    await pipeline(Readable.from(it), w);
    expect(w.result).toMatchObject({ uri: 's3://batch-in/big/input/job-0001/part-00001.jsonl', bytes: data.length, parts: 3, verified: 'checksum' });
    expect(proxy.ops('CreateMultipartUpload')).toHaveLength(1);
    expect(proxy.ops('UploadPart').map((r) => r.partNumber).sort()).toEqual([1, 2, 3]);
    expect(proxy.ops('CompleteMultipartUpload')).toHaveLength(1);
    expect(proxy.ops('HeadObject')).toHaveLength(1);
    expect(proxy.ops('HeadObject')[0]!.versionId).toBeUndefined(); // never versionId=null (moto answers it 400)
    expect(w.result!.versionId).toBeUndefined();
    expect(proxy.ops('CreateMultipartUpload')[0]!.headers['content-type']).toBe('application/x-ndjson');
    // progress: per acknowledged part, then done
    expect(progress.map((p) => p.uploaded)).toEqual([...progress.map((p) => p.uploaded)].sort((a, b) => a - b));
    expect(progress.at(-1)).toMatchObject({ done: true, uploaded: data.length, written: data.length, parts: 3 });
    const back = await buffer(store.createReadStream('input/job-0001/part-00001.jsonl'));
    expect(back.length).toBe(data.length);
    expect(md5(back)).toBe(md5(data));
    expect(await s3.pendingUploads('batch-in')).toEqual([]);
  });

  it('verifies a multipart object in an unversioned, a versioning and a suspended bucket, naming a version only where the bucket versions', async () => {
    const data = bytes(11 * MiB, 5);
    const writerClient = createS3Client(proxy.clientOptions);
    for (const bucket of ['batch-in', 'batch-versioned', 'batch-suspended']) {
      proxy.reset();
      const w = new S3ObjectWriter({ client: writerClient, bucket, key: 'versions/part-00001.jsonl', uri: `s3://${bucket}/versions/part-00001.jsonl`, partSize: 5 * MiB, queueSize: 2 });
      await pipeline(Readable.from(chunks(data)), w);
      expect(w.result, bucket).toMatchObject({ bytes: data.length, parts: 3, verified: 'size' });
      const versions = await s3.client.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: 'versions/' }));
      const [head] = proxy.ops('HeadObject');
      if (bucket === 'batch-versioned') {
        // the version S3 made is the one verified, and the one the result names
        expect(versions.Versions).toHaveLength(1);
        expect(w.result!.versionId).toBe(versions.Versions![0]!.VersionId);
        expect(head!.versionId).toBe(w.result!.versionId);
      } else {
        // unversioned and suspended: S3 (and moto) answer version "null"; it is neither sent nor reported
        expect(w.result!.versionId, bucket).toBeUndefined();
        expect(head!.versionId, bucket).toBeUndefined();
      }
      expect(await s3.pendingUploads(bucket)).toEqual([]);
    }
  });

  it('sends a small object as one PutObject, and an empty one too', async () => {
    const store = openStore('s3://batch-in/small/', proxy.clientOptions);
    const w = store.createWriteStream('rejects.jsonl') as S3ObjectWriter;
    await pipeline(Readable.from([Buffer.from('{"line":1}\n')]), w);
    // the default for a custom endpoint is checksums WHEN_REQUIRED: none to compare, and verify checksum asks no MD5
    expect(w.result).toMatchObject({ bytes: 11, parts: 1, verified: 'size' });
    expect(proxy.ops('PutObject')).toHaveLength(1);
    expect(proxy.ops('CreateMultipartUpload')).toHaveLength(0);
    const empty = store.createWriteStream('empty.jsonl');
    await new Promise<void>((res, rej) => empty.on('error', rej).end(res));
    expect(await text(store.createReadStream('empty.jsonl'))).toBe('');
  });

  it('sends an object of exactly one part as one PutObject, and one byte more as two parts, each part without Expect: 100-continue', async () => {
    const store = new S3Store('s3://batch-in/edge/', { ...proxy.clientOptions, partSize: 5 * MiB, queueSize: 2 });
    const one = bytes(5 * MiB, 11);
    const a = store.createWriteStream('one.jsonl') as S3ObjectWriter;
    await pipeline(Readable.from(chunks(one)), a);
    expect(a.result).toMatchObject({ bytes: 5 * MiB, parts: 1 });
    expect(proxy.ops('PutObject')).toHaveLength(1);
    expect(proxy.ops('CreateMultipartUpload')).toHaveLength(0);
    const more = bytes(5 * MiB + 1, 12);
    const b = store.createWriteStream('more.jsonl') as S3ObjectWriter;
    await pipeline(Readable.from(chunks(more)), b);
    expect(b.result).toMatchObject({ bytes: 5 * MiB + 1, parts: 2 });
    expect(proxy.ops('UploadPart').map((r) => r.partNumber).sort()).toEqual([1, 2]);
    // the SDK would send each part on a connection of its own for the header (s3-writer.ts)
    expect(proxy.ops('UploadPart').map((r) => r.headers.expect)).toEqual([undefined, undefined]);
    expect(md5(await buffer(store.createReadStream('one.jsonl')))).toBe(md5(one));
    expect(md5(await buffer(store.createReadStream('more.jsonl')))).toBe(md5(more));
  });

  it('keeps every byte of writers that upload at once, their part buffers taken from one pool', async () => {
    const store = new S3Store('s3://batch-in/pool/', { ...proxy.clientOptions, partSize: 5 * MiB, queueSize: 2 });
    const datas = [bytes(17 * MiB + 3, 21), bytes(11 * MiB, 22), bytes(6 * MiB + 77, 23), bytes(2 * MiB, 24)];
    // sizes that are not multiples of the chunk size, so part boundaries fall inside chunks
    await Promise.all(datas.map((d, i) => pipeline(Readable.from(chunks(d, 131_071 * (i + 1))), store.createWriteStream(`w${i}.jsonl`))));
    // and once more, now that the pool holds the buffers of the first round
    await Promise.all(datas.map((d, i) => pipeline(Readable.from(chunks(d, 65_537 * (i + 2))), store.createWriteStream(`again-${i}.jsonl`))));
    for (const [i, d] of datas.entries()) {
      expect(md5(await buffer(store.createReadStream(`w${i}.jsonl`))), `w${i}`).toBe(md5(d));
      expect(md5(await buffer(store.createReadStream(`again-${i}.jsonl`))), `again-${i}`).toBe(md5(d));
    }
    expect(await s3.pendingUploads('batch-in')).toEqual([]);
  });

  it('holds at most queueSize parts in flight and the one being filled: writes wait for S3', async () => {
    const store = new S3Store('s3://batch-in/backpressure/', { ...proxy.clientOptions, partSize: 5 * MiB, queueSize: 2 });
    let held = true;
    proxy.fault = (r) => (r.op === 'UploadPart' && held ? { delayMs: 1500 } : undefined);
    const data = bytes(30 * MiB, 31);
    const w = store.createWriteStream('slow.jsonl') as S3ObjectWriter;
    const done = pipeline(Readable.from(chunks(data)), w);
    await expect.poll(() => proxy.ops('UploadPart').length, { timeout: 10_000 }).toBe(2);
    await new Promise((r) => setTimeout(r, 300));
    // 2 parts at the server, a third full and waiting: the producer is held back (1 MiB buffered at most)
    expect(w.bytesWritten).toBeLessThanOrEqual(3 * 5 * MiB + 300_001);
    expect(w.bytesWritten).toBeGreaterThanOrEqual(2 * 5 * MiB);
    held = false;
    await done;
    expect(w.result).toMatchObject({ bytes: data.length, parts: 6 });
    expect(md5(await buffer(store.createReadStream('slow.jsonl')))).toBe(md5(data));
  });

  it('replaces an object only once the new content is complete', async () => {
    await expectReplaceOnFinish(openStore('s3://batch-in/replace/', proxy.clientOptions));
  });

  it('sends SSE-KMS and the expected bucket owner on every request that takes them', async () => {
    const kmsKeyId = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const store = new S3Store('s3://batch-in/kms/', { ...proxy.clientOptions, partSize: 5 * MiB, kmsKeyId, expectedBucketOwner: '111122223333' });
    await pipeline(Readable.from(chunks(bytes(6 * MiB))), store.createWriteStream('part.jsonl'));
    const create = proxy.ops('CreateMultipartUpload')[0]!;
    expect(create.headers['x-amz-server-side-encryption']).toBe('aws:kms');
    expect(create.headers['x-amz-server-side-encryption-aws-kms-key-id']).toBe(kmsKeyId);
    for (const r of proxy.requests) expect([r.op, r.headers['x-amz-expected-bucket-owner']]).toEqual([r.op, '111122223333']);
    expect(proxy.requests.map((r) => r.op)).toEqual(expect.arrayContaining(['CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload', 'HeadObject']));
    await store.exists('part.jsonl');
    await text(store.createReadStream('part.jsonl'));
    for await (const _ of store.list()) void _;
    for (const r of proxy.requests) expect(r.headers['x-amz-expected-bucket-owner']).toBe('111122223333');
    // what the server stored (moto ignores the expected owner: that part is only seen on the wire)
    const head = await s3.client.send(new HeadObjectCommand({ Bucket: 'batch-in', Key: 'kms/part.jsonl' }));
    expect(head).toMatchObject({ ServerSideEncryption: 'aws:kms', SSEKMSKeyId: kmsKeyId, ContentLength: 6 * MiB });
  });

  it('with verify md5, fails a write whose bytes arrive altered, and deletes the object', async () => {
    const store = new S3Store('s3://batch-in/corrupt/', { ...proxy.clientOptions, partSize: 5 * MiB, verify: 'md5' });
    proxy.fault = (r) => (r.op === 'UploadPart' && r.partNumber === 2 ? { flipRequestByteAt: 1000 } : undefined);
    const error = await pipeline(Readable.from(chunks(bytes(11 * MiB))), store.createWriteStream('x.jsonl')).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'E_UPLOAD', operation: 'verify', uri: 's3://batch-in/corrupt/x.jsonl' });
    expect((error as Error).message).toMatch(/part 2 of s3:\/\/batch-in\/corrupt\/x\.jsonl: S3 has MD5 [0-9a-f]{32}, the bytes written have [0-9a-f]{32}; the object was deleted/);
    expect(await store.exists('x.jsonl')).toBe(false);
  });

  it('checks a small object against its MD5 ETag too', async () => {
    const store = openStore('s3://batch-in/corrupt/', { ...proxy.clientOptions, verify: 'md5' });
    proxy.fault = (r) => (r.op === 'PutObject' ? { flipRequestByteAt: 3 } : undefined);
    await expect(pipeline(Readable.from(['{"a":1}\n']), store.createWriteStream('small.jsonl'))).rejects.toMatchObject({
      code: 'E_UPLOAD',
      message: expect.stringContaining('the object of s3://batch-in/corrupt/small.jsonl: S3 has MD5'),
    });
  });

  it("checks the CRC32s S3 answers (the SDK's default checksums), and the object's checksum on the server", async () => {
    const options = { ...proxy.clientOptions, requestChecksumCalculation: 'WHEN_SUPPORTED' as const, partSize: 5 * MiB };
    const store = new S3Store('s3://batch-in/crc/', options);
    const data = bytes(11 * MiB, 3);
    const w = store.createWriteStream('a.jsonl') as S3ObjectWriter;
    await pipeline(Readable.from(chunks(data)), w);
    expect(w.result).toMatchObject({ parts: 3, verified: 'checksum' });
    expect(proxy.ops('CreateMultipartUpload').at(-1)!.headers['x-amz-checksum-algorithm']).toBe('CRC32');
    expect(proxy.ops('UploadPart').every((r) => typeof r.headers['x-amz-checksum-crc32'] === 'string')).toBe(true);
    // the server holds the composite checksum of the parts' CRC32s of the bytes written
    const partCrcs = [data.subarray(0, 5 * MiB), data.subarray(5 * MiB, 10 * MiB), data.subarray(10 * MiB)].map((p) => crc32(p));
    const head = await s3.client.send(new HeadObjectCommand({ Bucket: 'batch-in', Key: 'crc/a.jsonl', ChecksumMode: 'ENABLED' }));
    expect(head.ChecksumCRC32?.replace(/-\d+$/, '')).toBe(compositeCrc32(partCrcs).replace(/-\d+$/, '')); // moto leaves off the "-3"
    const small = store.createWriteStream('b.jsonl') as S3ObjectWriter;
    await pipeline(Readable.from(['{"a":1}\n']), small);
    expect(small.result).toMatchObject({ parts: 1, verified: 'checksum' });
  });

  it('fails a write whose bytes S3 refuses as altered (BadDigest), and leaves nothing behind', async () => {
    // S3 checks the CRC32 the SDK sends against the bytes it receives and refuses a mismatch;
    // moto checks nothing, so the pass-through answers as S3 would
    const store = new S3Store('s3://batch-in/crc/', { ...proxy.clientOptions, requestChecksumCalculation: 'WHEN_SUPPORTED', partSize: 5 * MiB });
    proxy.fault = (r) => (r.op === 'UploadPart' && r.partNumber === 3 ? { error: { status: 400, code: 'BadDigest', message: 'The CRC32 you specified did not match the calculated checksum.' } } : undefined);
    const error = await pipeline(Readable.from(chunks(bytes(11 * MiB, 3))), store.createWriteStream('refused.jsonl')).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'E_UPLOAD', operation: 'UploadPart', part: 3, abort: 'aborted' });
    expect((error as Error).message).toContain('UploadPart of part 3 failed: BadDigest (HTTP 400)');
    expect(proxy.ops('UploadPart').filter((r) => r.partNumber === 3)).toHaveLength(1); // a refusal is not retried
    expect(await s3.pendingUploads('batch-in')).toEqual([]);
    expect(await store.exists('refused.jsonl')).toBe(false);
  });

  it("catches bytes altered on the way when the server's CRC32 is of other bytes than the ones written, and deletes the object", async () => {
    // without the SDK's checksum header moto computes the CRC32 of the bytes it received (as S3 does)
    const store = new S3Store('s3://batch-in/crc/', { ...proxy.clientOptions, requestChecksumCalculation: 'WHEN_SUPPORTED', partSize: 5 * MiB });
    const drop = ['x-amz-checksum-crc32'];
    proxy.fault = (r) => (r.op === 'UploadPart' && r.partNumber === 3 ? { flipRequestByteAt: 10, dropHeaders: drop } : r.op === 'PutObject' ? { flipRequestByteAt: 3, dropHeaders: drop } : undefined);
    await expect(pipeline(Readable.from(chunks(bytes(11 * MiB, 3))), store.createWriteStream('c.jsonl'))).rejects.toMatchObject({
      code: 'E_UPLOAD',
      message: expect.stringMatching(/verification failed: part 3 of s3:\/\/batch-in\/crc\/c\.jsonl: S3 computed CRC32 \S+, the bytes written have \S+; the object was deleted$/),
    });
    await expect(pipeline(Readable.from(['{"a":1}\n']), store.createWriteStream('d.jsonl'))).rejects.toMatchObject({
      code: 'E_UPLOAD',
      message: expect.stringMatching(/verification failed: the object of s3:\/\/batch-in\/crc\/d\.jsonl: S3 computed CRC32 \S+, the bytes written have \S+; the object was deleted$/),
    });
    expect(await store.exists('c.jsonl')).toBe(false);
    expect(await store.exists('d.jsonl')).toBe(false);
    expect(await s3.pendingUploads('batch-in')).toEqual([]);
  });

  it('reads resume after a dropped connection, pinned to the same object version', async () => {
    const store = openStore('s3://batch-in/resume/', proxy.clientOptions);
    const data = bytes(3 * MiB, 7);
    await pipeline(Readable.from(chunks(data)), store.createWriteStream('calls.csv'));
    let cuts = 0;
    proxy.fault = (r) => (r.op === 'GetObject' && cuts++ < 2 ? { cutResponseAfterBytes: 1_000_000 * cuts } : undefined);
    const back = await buffer(store.createReadStream('calls.csv'));
    expect(md5(back)).toBe(md5(data));
    const gets = proxy.ops('GetObject');
    expect(gets).toHaveLength(3);
    expect(gets[0]!.headers.range).toBeUndefined();
    // each resumed GET asks for the rest from the byte where the last one stopped (bytes in flight when the connection died are lost)
    const from = gets.slice(1).map((g) => Number(/^bytes=(\d+)-$/.exec(String(g.headers.range))?.[1]));
    expect(from[0]).toBeGreaterThan(0);
    expect(from[0]).toBeLessThanOrEqual(1_000_000);
    expect(from[1]).toBeGreaterThan(from[0]!);
    expect(from[1]).toBeLessThanOrEqual(from[0]! + 2_000_000);
    expect(gets[1]!.headers['if-match']).toBe(`"${md5(data)}"`);
  });

  it('gives up a read after the allowed resumes, naming the object and the offset', async () => {
    const store = new S3Store('s3://batch-in/resume/', { ...proxy.clientOptions, readResumes: 1 });
    proxy.fault = (r) => (r.op === 'GetObject' ? { cutResponseAfterBytes: 100_000 } : undefined);
    await expect(buffer(store.createReadStream('calls.csv'))).rejects.toMatchObject({
      code: 'E_STORE',
      message: expect.stringMatching(/^reading s3:\/\/batch-in\/resume\/calls\.csv failed at byte \d+ after 1 resumed reads: /),
    });
  });

  it('names a missing object, and tells it from a missing bucket', async () => {
    const store = openStore('s3://batch-in/none/', proxy.clientOptions);
    await expect(text(store.createReadStream('nope.jsonl'))).rejects.toMatchObject({ code: 'E_STORE', message: 's3://batch-in/none/nope.jsonl does not exist' });
    expect(await store.exists('nope.jsonl')).toBe(false);
    const gone = openStore('s3://no-such-bucket/run/', proxy.clientOptions);
    await expect(text(gone.createReadStream('a.jsonl'))).rejects.toMatchObject({ code: 'E_NO_BUCKET', hint: expect.stringContaining('create the bucket no-such-bucket') });
    await expect((async () => { for await (const _ of gone.list()) void _; })()).rejects.toMatchObject({
      code: 'E_NO_BUCKET',
      message: 'cannot list s3://no-such-bucket/run/: the bucket no-such-bucket does not exist',
    });
  });
});
