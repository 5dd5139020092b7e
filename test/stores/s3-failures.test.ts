/**
 * Uploads that fail: a server dying mid-upload (retried, then aborted), refusals, missing buckets,
 * unknown credentials, an abort that does not get through. Against moto's S3: the evidence that
 * nothing is orphaned is the server's own ListMultipartUploads and ListParts; the pass-through only
 * injects the faults (dropped connections, 403, 500, 503) and shows which requests were sent.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AbortMultipartUploadCommand, ListPartsCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isBatchError } from '../../src/errors.js';
import { createS3Client } from '../../src/stores/s3-client.js';
import { S3ObjectWriter, UploadError, abortOpenUploads, uploadsSettled } from '../../src/stores/s3-writer.js';
import { S3Store } from '../../src/stores/s3.js';
import { startMoto, type MotoServer } from '../support/moto.js';
import { startProxiedS3, stopProxiedS3, type S3Proxy } from '../support/s3-proxy.js';

const MiB = 1 << 20;
let s3: MotoServer;
let proxy: S3Proxy;

beforeAll(async () => {
  ({ s3, proxy } = await startProxiedS3(startMoto, ['batch-in']));
});
afterAll(() => stopProxiedS3({ s3, proxy }));
beforeEach(() => proxy.reset());

function* data(size: number, chunk = 256 * 1024): Generator<Buffer> {
  for (let at = 0; at < size; at += chunk) yield Buffer.alloc(Math.min(chunk, size - at), 0x61 + ((at / chunk) % 26));
}

/** A store whose client makes at most 3 attempts per request (the SDK default, spelled out). */
const store = (prefix: string, extra: Record<string, unknown> = {}) =>
  new S3Store(`s3://batch-in/${prefix}/`, { ...proxy.clientOptions, partSize: 5 * MiB, queueSize: 2, maxAttempts: 3, ...extra });

async function failure(p: Promise<unknown>): Promise<UploadError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(UploadError);
  return e as UploadError;
}

/** True when the server no longer knows the multipart upload (aborted, or never created). */
async function uploadGone(key: string, uploadId: string | undefined): Promise<boolean> {
  return s3.client.send(new ListPartsCommand({ Bucket: 'batch-in', Key: key, UploadId: uploadId })).then(
    () => false,
    (err: unknown) => (err as Error).name === 'NoSuchUpload',
  );
}

/** The upload ids the client asked to abort. */
const abortsSent = () => proxy.ops('AbortMultipartUpload').map((r) => r.uploadId);

describe('S3 uploads that fail', () => {
  it('retries a part whose connection died, and completes the object', async () => {
    let kills = 0;
    proxy.fault = (r) => (r.op === 'UploadPart' && r.partNumber === 2 && kills++ < 2 ? { resetAfterBytes: 1 * MiB } : undefined);
    const s = store('retry', { verify: 'md5' });
    const w = s.createWriteStream('input/job-0001/part-00001.jsonl') as S3ObjectWriter;
    await pipeline(Readable.from(data(12 * MiB)), w);
    expect(w.result).toMatchObject({ bytes: 12 * MiB, parts: 3, verified: 'checksum' });
    expect(proxy.ops('UploadPart').filter((r) => r.partNumber === 2)).toHaveLength(3);
    expect(abortsSent()).toEqual([]);
    expect(await s3.pendingUploads('batch-in')).toEqual([]);
  });

  it('aborts an upload whose part keeps failing, reports shard, bytes and cause, and leaves nothing behind', async () => {
    proxy.fault = (r) => (r.op === 'UploadPart' && r.partNumber === 2 ? { resetAfterBytes: 64 * 1024 } : undefined);
    const s = store('dies');
    const e = await failure(pipeline(Readable.from(data(14 * MiB)), s.createWriteStream('input/job-0001/part-00001.jsonl')));
    expect(e.code).toBe('E_UPLOAD');
    expect(e.uri).toBe('s3://batch-in/dies/input/job-0001/part-00001.jsonl');
    expect(e.operation).toBe('UploadPart');
    expect(e.part).toBe(2);
    expect(e.abort).toBe('aborted');
    expect(e.bytesWritten).toBeGreaterThanOrEqual(10 * MiB); // part 2 was cut after part 1 and 2 were written
    expect(e.bytesUploaded).toBeLessThan(e.bytesWritten);
    expect(e.message).toMatch(
      /^writing s3:\/\/batch-in\/dies\/input\/job-0001\/part-00001\.jsonl failed after \d+ bytes were written to it \(\d+ acknowledged by S3 in \d parts?\): UploadPart of part 2 failed: .*ECONNRESET.*; 3 attempts; the multipart upload was aborted, nothing is left behind$/,
    );
    expect(proxy.ops('UploadPart').filter((r) => r.partNumber === 2)).toHaveLength(3);
    // the upload that was created is gone from the server: aborted, not completed
    expect(proxy.ops('CreateMultipartUpload')).toHaveLength(1);
    expect(e.uploadId).toBeTruthy();
    expect(abortsSent()).toContain(e.uploadId);
    expect(await uploadGone('dies/input/job-0001/part-00001.jsonl', e.uploadId)).toBe(true);
    expect(await s3.pendingUploads('batch-in')).toEqual([]);
    expect(await s.exists('input/job-0001/part-00001.jsonl')).toBe(false);
  });

  it('keeps sending the abort until it gets through, after the SDK\'s own attempts', async () => {
    let refused = 0;
    proxy.fault = (r) => {
      if (r.op === 'UploadPart' && r.partNumber === 2) return { error: { status: 500, code: 'InternalError' } };
      if (r.op === 'AbortMultipartUpload' && refused++ < 4) return { error: { status: 503, code: 'SlowDown' } };
      return undefined;
    };
    const client = createS3Client({ ...proxy.clientOptions, maxAttempts: 2 });
    const w = new S3ObjectWriter({ client, bucket: 'batch-in', key: 'abort-late/x.jsonl', uri: 's3://batch-in/abort-late/x.jsonl', partSize: 5 * MiB, queueSize: 1, abortRetries: 4, abortRetryMs: 10 });
    const e = await failure(pipeline(Readable.from(data(11 * MiB)), w));
    expect(e.abort).toBe('aborted');
    // 2 from Upload's own abort (SDK attempts), then ours: 2 more refused (2 attempts each), the third got through
    expect(proxy.ops('AbortMultipartUpload').length).toBe(5);
    expect(new Set(abortsSent())).toEqual(new Set([e.uploadId]));
    expect(await uploadGone('abort-late/x.jsonl', e.uploadId)).toBe(true);
    expect(await s3.pendingUploads('batch-in')).toEqual([]);
  });

  it('says so, with the command that removes it, when the abort cannot get through', async () => {
    proxy.fault = (r) => (r.op === 'UploadPart' && r.partNumber === 2 ? { resetAfterBytes: 0 } : r.op === 'AbortMultipartUpload' ? { resetAfterBytes: 0 } : undefined);
    const client = createS3Client({ ...proxy.clientOptions, maxAttempts: 1 });
    const w = new S3ObjectWriter({ client, bucket: 'batch-in', key: 'orphan/x.jsonl', uri: 's3://batch-in/orphan/x.jsonl', partSize: 5 * MiB, queueSize: 1, abortRetries: 2, abortRetryMs: 10 });
    const e = await failure(pipeline(Readable.from(data(11 * MiB)), w));
    expect(e.abort).toBe('failed');
    expect(e.message).toContain(
      `the multipart upload could NOT be aborted (TimeoutError: socket hang up (ECONNRESET))`,
    );
    expect(e.message).toContain(`aws s3api abort-multipart-upload --bucket batch-in --key 'orphan/x.jsonl' --upload-id ${e.uploadId}`);
    // the truth on the server: the upload is still there (remove it, as the message says)
    expect(await s3.pendingUploads('batch-in')).toEqual([e.uploadId]);
    expect(await uploadGone('orphan/x.jsonl', e.uploadId)).toBe(false);
    proxy.fault = undefined;
    await client.send(new AbortMultipartUploadCommand({ Bucket: 'batch-in', Key: 'orphan/x.jsonl', UploadId: e.uploadId }));
    expect(await s3.pendingUploads('batch-in')).toEqual([]);
    expect(await uploadGone('orphan/x.jsonl', e.uploadId)).toBe(true);
  });

  it('aborts when the producer fails mid-shard, and passes the producer\'s error on', async () => {
    async function* failing() {
      yield* data(7 * MiB);
      // fail once the first part is on its way
      while (proxy.ops('UploadPart').length === 0) await new Promise((r) => setTimeout(r, 5));
      throw new Error('the export is truncated');
    }
    const s = store('upstream');
    await expect(pipeline(Readable.from(failing()), s.createWriteStream('a.jsonl'))).rejects.toThrow('the export is truncated');
    await uploadsSettled(); // pipeline does not wait for the writers it destroys
    expect(proxy.ops('CreateMultipartUpload')).toHaveLength(1);
    expect(abortsSent()).toHaveLength(1);
    expect(await uploadGone('upstream/a.jsonl', abortsSent()[0])).toBe(true);
    expect(await s3.pendingUploads('batch-in')).toEqual([]);
    expect(await s.exists('a.jsonl')).toBe(false);
  });

  it('aborts every open upload on an interrupt, even those already ending', async () => {
    proxy.fault = (r) => (r.op === 'CompleteMultipartUpload' ? { resetAfterBytes: 0 } : undefined); // Complete never reaches the server
    const s = store('interrupt');
    const ending = s.createWriteStream('ending.jsonl');
    const writing = s.createWriteStream('writing.jsonl');
    const errors: unknown[] = [];
    ending.on('error', (e) => errors.push(e));
    writing.on('error', (e) => errors.push(e));
    for (const c of data(6 * MiB)) ending.write(c);
    ending.end();
    for (const c of data(6 * MiB)) writing.write(c);
    await expect.poll(() => proxy.ops('UploadPart').length, { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
    const open = await s3.pendingUploads('batch-in');
    expect(open).toHaveLength(2); // both uploads are open on the server
    const n = await abortOpenUploads();
    expect(n).toBe(2);
    expect(errors.map((e) => isBatchError(e) && e.code)).toEqual(['E_INTERRUPTED', 'E_INTERRUPTED']);
    expect(new Set(abortsSent())).toEqual(new Set(open));
    expect(await s3.pendingUploads('batch-in')).toEqual([]);
    expect(await s.exists('ending.jsonl')).toBe(false);
  });
});

describe('S3 refusals', () => {
  it('names a missing bucket when writing, and leaves nothing open', async () => {
    const s = new S3Store('s3://no-such-bucket/run/', { ...proxy.clientOptions, partSize: 5 * MiB });
    const small = await failure(pipeline(Readable.from(['{}\n']), s.createWriteStream('prepared.json')));
    expect(small).toMatchObject({ code: 'E_NO_BUCKET', operation: 'PutObject', abort: 'not-started', hint: expect.stringContaining('create the bucket no-such-bucket') });
    expect(small.message).toMatch(/^writing s3:\/\/no-such-bucket\/run\/prepared\.json failed after 3 bytes were written to it \(0 acknowledged by S3 in 0 parts\): PutObject failed: NoSuchBucket \(HTTP 404\)/);
    const big = await failure(pipeline(Readable.from(data(6 * MiB)), s.createWriteStream('input/job-0001/part-00001.jsonl')));
    expect(big).toMatchObject({ code: 'E_NO_BUCKET', operation: 'CreateMultipartUpload', abort: 'not-started' });
  });

  it('reports access denied (injected by the pass-through: the test server grants everything) with the permission needed', async () => {
    proxy.fault = (r) => (r.op === 'CreateMultipartUpload' || r.op === 'PutObject' ? { error: { status: 403, code: 'AccessDenied', message: 'Access Denied' } } : undefined);
    const s = store('denied');
    const e = await failure(pipeline(Readable.from(data(6 * MiB)), s.createWriteStream('input/job-0001/part-00001.jsonl')));
    expect(e.code).toBe('E_ACCESS_DENIED');
    expect(e.message).toContain('CreateMultipartUpload failed: AccessDenied (HTTP 403): Access Denied');
    expect(e.hint).toContain('s3:PutObject on s3://batch-in/denied/input/job-0001/part-00001.jsonl');
    expect(proxy.ops('CreateMultipartUpload')).toHaveLength(1); // a refusal is not retried
  });

  it('aborts when access is denied half-way (e.g. a KMS key the role cannot use for part 2)', async () => {
    proxy.fault = (r) => (r.op === 'UploadPart' && r.partNumber === 2 ? { error: { status: 403, code: 'AccessDenied', message: 'Access Denied' } } : undefined);
    const e = await failure(pipeline(Readable.from(data(12 * MiB)), store('denied-late').createWriteStream('x.jsonl')));
    expect(e).toMatchObject({ code: 'E_ACCESS_DENIED', operation: 'UploadPart', part: 2, abort: 'aborted' });
    expect(await uploadGone('denied-late/x.jsonl', e.uploadId)).toBe(true);
    expect(await s3.pendingUploads('batch-in')).toEqual([]);
  });

  it('reports credentials the server does not know (InvalidAccessKeyId, from moto checking keys as S3 does)', async () => {
    const strict = await startMoto({ auth: true });
    try {
      const s = new S3Store('s3://batch-in/creds/', { ...strict.clientOptions, credentials: { accessKeyId: 'AKIAEXAMPLEEXAMPLE00', secretAccessKey: 'not-the-secret' } });
      const e = await failure(pipeline(Readable.from(['x']), s.createWriteStream('a.jsonl')));
      expect(e.code).toBe('E_ACCESS_DENIED');
      expect(e.message).toContain('InvalidAccessKeyId (HTTP 403)');
      expect(e.hint).toContain('the access key is unknown to this endpoint');
      expect(e.message + e.hint).not.toContain('not-the-secret');
      await expect((async () => { for await (const _ of s.list()) void _; })()).rejects.toMatchObject({ code: 'E_ACCESS_DENIED' });
      await expect(s.exists('a.jsonl')).rejects.toMatchObject({ code: 'E_ACCESS_DENIED' });
    } finally {
      await strict.stop();
    }
  });
});
