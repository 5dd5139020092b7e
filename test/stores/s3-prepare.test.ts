/**
 * prepare end to end on S3 (moto's server, behind a recording pass-through): the export read from
 * S3 (gzip by magic bytes), shards, lineage, rejects and prepared.json written through the S3
 * store, tail rebalancing reading shards back from S3, multipart shards verified on unversioned and
 * versioning buckets; and the CLI with its S3 options, bad locations and an interrupt, whose
 * aborted uploads are checked on the server.
 */
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { text } from 'node:stream/consumers';
import { gzipSync } from 'node:zlib';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { mulberry32 } from '../../src/core/random.js';
import { prepareRun, type PrepareRunOptions } from '../../src/prepare.js';
import { expandInputs } from '../../src/read/index.js';
import { quotaProfile } from '../../src/bedrock/quotas.js';
import { openStore } from '../../src/stores/index.js';
import { adaptCalls, promptCalls } from '../../transforms/index.js';
import { makeCall } from '../../bench/generate.js';
import { MOTO_CREDENTIALS, startMoto, type MotoServer } from '../support/moto.js';
import { startS3Proxy, type S3Proxy } from '../support/s3-proxy.js';

const MiB = 1 << 20;
let s3: MotoServer;
let proxy: S3Proxy;
let dir: string;
const csv = await readFile(new URL('../../fixtures/calls.csv', import.meta.url));
const jsonl = await readFile(new URL('../../fixtures/calls.jsonl', import.meta.url));

beforeAll(async () => {
  s3 = await startMoto();
  for (const b of ['exports', 'batch-in', 'batch-versioned']) await s3.createBucket(b);
  await s3.setVersioning('batch-versioned', 'Enabled');
  proxy = await startS3Proxy(s3);
  const src = openStore('s3://exports/2026-11/', proxy.clientOptions);
  await pipeline(Readable.from([gzipSync(csv)]), src.createWriteStream('calls.csv.gz'));
  await pipeline(Readable.from([jsonl]), src.createWriteStream('more/calls.jsonl'));
  await pipeline(Readable.from(['not data']), src.createWriteStream('README.md'));
  await pipeline(Readable.from(['x']), src.createWriteStream('.hidden/calls.csv'));
});
afterAll(async () => {
  await proxy?.stop();
  await s3?.stop();
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 's3-prepare-'));
  proxy.reset();
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A seeded CSV export of about `bytes` bytes in the test's directory, big enough for multipart shards. */
async function bigExport(bytes: number): Promise<string> {
  const rand = mulberry32(7);
  const rows = ['call_id,agent,queue,started_at,transcript\n'];
  for (let i = 0, n = 0; n < bytes; i++) n += (rows[rows.length] = makeCall(rand, i)).length;
  const file = join(dir, 'big.csv');
  await import('node:fs/promises').then((fs) => fs.writeFile(file, rows.join('')));
  return file;
}

const run = (inputs: string[], out: string, extra: Partial<PrepareRunOptions> = {}) =>
  prepareRun({
    inputs,
    out,
    adapt: adaptCalls({}),
    prompt: promptCalls({}),
    model: { modelId: 'anthropic.claude-3-haiku-20240307-v1:0' },
    // several shards and jobs, and a short tail job that must be topped up from the one before
    quotas: quotaProfile('default', { maxRecordsPerFile: 40, maxRecordsPerJob: 130, minRecordsPerJob: 50 }),
    ids: { namespace: 'calls' },
    s3: proxy.clientOptions,
    ...extra,
  });

describe('prepare on S3', () => {
  it('reads a gzipped export from S3 and writes the same run into S3 as into a directory', async () => {
    await import('node:fs/promises').then((fs) => fs.writeFile(join(dir, 'calls.csv'), csv));
    const local = await run([join(dir, 'calls.csv')], join(dir, 'out'));
    const remote = await run(['s3://exports/2026-11/calls.csv.gz'], 's3://batch-in/run-42/');
    expect(remote.read).toBe(283);
    expect(remote.written + remote.rejected).toBe(283);
    expect(remote.jobs.map((j) => j.records)).toEqual([130, 103, 50]);
    expect(local.jobs.map((j) => j.records)).toEqual([130, 103, 50]);
    expect(remote.rebalanced).toBe(27);
    expect(remote.shards.length).toBeGreaterThan(7);
    expect(remote.jobs[0]!.uri).toBe('s3://batch-in/run-42/input/job-0001/');
    expect(remote.shards[0]!.uri).toBe('s3://batch-in/run-42/input/job-0001/part-00001.jsonl');
    expect(remote.manifest).toBe('s3://batch-in/run-42/prepared.json');
    // the same shards, byte for byte; the same lineage but for the file it names
    const store = openStore('s3://batch-in/run-42/', proxy.clientOptions);
    const keys: string[] = [];
    for await (const o of store.list()) keys.push(o.key);
    const localKeys = (await readdir(join(dir, 'out'), { recursive: true, withFileTypes: true })).filter((d) => d.isFile()).map((d) => join(d.parentPath, d.name).slice(join(dir, 'out').length + 1)).sort();
    expect(keys).toEqual(localKeys);
    for (const key of keys.filter((k) => k.startsWith('input/'))) {
      expect(await text(store.createReadStream(key)), key).toBe(await readFile(join(dir, 'out', key), 'utf8'));
    }
    for (const key of keys.filter((k) => k.startsWith('lineage/'))) {
      const s3Lines = (await text(store.createReadStream(key))).split('\n').filter(Boolean).map((l) => ({ ...JSON.parse(l), file: undefined }));
      const localLines = (await readFile(join(dir, 'out', key), 'utf8')).split('\n').filter(Boolean).map((l) => ({ ...JSON.parse(l), file: undefined }));
      expect(s3Lines).toEqual(localLines);
    }
    const manifest = JSON.parse(await text(store.createReadStream('prepared.json')));
    expect(manifest).toMatchObject({ read: 283, inputs: ['s3://exports/2026-11/calls.csv.gz'], out: 's3://batch-in/run-42/' });
    // the rebalanced tail was read back from S3 and rewritten, and nothing was left open
    expect(proxy.ops('GetObject').some((r) => r.key.startsWith('run-42/input/job-0002/'))).toBe(true);
    expect(await s3.pendingUploads('batch-in')).toEqual([]);
  });

  it('writes multipart shards and verifies each one, in an unversioned and in a versioning bucket', async () => {
    const file = await bigExport(14e6);
    const quotas = quotaProfile('local', { maxBytesPerFile: 12e6 });
    for (const bucket of ['batch-in', 'batch-versioned']) {
      proxy.reset();
      // the versioning bucket with the SDK's default checksums (CRC32s), the other with MD5 ETags
      const s3Options = bucket === 'batch-in' ? { ...proxy.clientOptions, partSize: 5 * MiB, verify: 'md5' as const } : { ...proxy.clientOptions, partSize: 5 * MiB, requestChecksumCalculation: 'WHEN_SUPPORTED' as const };
      const r = await run([file], `s3://${bucket}/multipart/`, { quotas, s3: s3Options });
      expect(r.written + r.rejected, bucket).toBe(r.read);
      const big = r.shards.filter((x) => x.bytes > 5 * MiB);
      expect(big.length, bucket).toBeGreaterThan(0);
      expect(proxy.ops('CompleteMultipartUpload').length, bucket).toBeGreaterThanOrEqual(big.length);
      // every shard is on the server whole; a version id went out only where the bucket versions
      for (const shard of r.shards) {
        const key = shard.uri.slice(`s3://${bucket}/`.length);
        const head = await s3.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        expect(head.ContentLength, shard.uri).toBe(shard.bytes);
      }
      const heads = proxy.ops('HeadObject').filter((h) => h.key.startsWith('multipart/input/'));
      expect(heads.length, bucket).toBeGreaterThanOrEqual(r.shards.length);
      for (const h of heads) {
        if (bucket === 'batch-in') expect(h.versionId, h.key).toBeUndefined();
        else expect(h.versionId, h.key).toMatch(/^(?!null$)\S+$/);
      }
      expect(await s3.pendingUploads(bucket)).toEqual([]);
    }
  });

  it('lists an S3 prefix as inputs: data files only, sorted, hidden ones left out', async () => {
    expect(await expandInputs(['s3://exports/2026-11/'], { s3: proxy.clientOptions })).toEqual(['s3://exports/2026-11/calls.csv.gz', 's3://exports/2026-11/more/calls.jsonl']);
    expect(await expandInputs(['s3://exports/2026-11'], { s3: proxy.clientOptions })).toHaveLength(2);
    expect(await expandInputs(['s3://exports/2026-11/calls.csv.gz'], { s3: proxy.clientOptions })).toEqual(['s3://exports/2026-11/calls.csv.gz']);
    await expect(expandInputs(['s3://exports/2026-12/calls.csv'], { s3: proxy.clientOptions })).rejects.toMatchObject({ code: 'E_READ', message: 's3://exports/2026-12/calls.csv does not exist' });
    await expect(expandInputs(['s3://exports/2026-12/'], { s3: proxy.clientOptions })).rejects.toMatchObject({ code: 'E_NO_INPUT' });
    await expect(expandInputs(['s3://no-such-bucket/x.csv'], { s3: proxy.clientOptions })).rejects.toMatchObject({ code: 'E_NO_BUCKET' });
  });

  it('names a missing input object before anything is written', async () => {
    await expect(run(['s3://exports/2026-11/nope.csv'], 's3://batch-in/missing-input/', { quotas: quotaProfile('local') })).rejects.toMatchObject({
      code: 'E_READ',
      message: 's3://exports/2026-11/nope.csv does not exist',
    });
    expect(proxy.requests.filter((r) => r.bucket === 'batch-in' && r.op !== 'ListObjects')).toEqual([]);
  });

  it('says what is missing when no region is configured', async () => {
    const saved = { ...process.env };
    for (const k of ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE', 'AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_S3']) delete process.env[k];
    process.env.AWS_CONFIG_FILE = join(dir, 'no-config');
    process.env.AWS_SHARED_CREDENTIALS_FILE = join(dir, 'no-credentials');
    try {
      const store = openStore('s3://batch-in/no-region/', { credentials: MOTO_CREDENTIALS });
      await expect(store.exists('x')).rejects.toMatchObject({ code: 'E_BAD_OPTION', hint: 'give --region, or set AWS_REGION' });
    } finally {
      process.env = saved;
    }
  });
});

describe('prepare on S3 from the CLI', () => {
  let out: string[];
  let err: string[];
  const saved = { ...process.env };
  beforeEach(() => {
    out = [];
    err = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((s) => (err.push(String(s)), true));
    process.env.AWS_ACCESS_KEY_ID = MOTO_CREDENTIALS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = MOTO_CREDENTIALS.secretAccessKey;
    delete process.env.AWS_PROFILE;
    delete process.env.AWS_REGION;
    process.exitCode = undefined;
  });
  afterEach(() => {
    vi.restoreAllMocks();
    process.env = { ...saved };
    process.exitCode = undefined;
  });
  const cli = (...args: string[]) => main(['node', 'bedrock-batch', 'prepare', ...args]);

  it('prepare s3://exports/2026-11/calls.csv.gz --out s3://batch-in/run-42/ with --endpoint-url', async () => {
    const code = await cli('s3://exports/2026-11/calls.csv.gz', '--out', 's3://batch-in/cli-42/', '--endpoint-url', proxy.endpoint, '--quotas', 'local', '--json');
    expect(err.join('')).not.toContain('error');
    expect(code).toBe(0);
    const summary = JSON.parse(out.join(''));
    expect(summary).toMatchObject({ read: 283, manifest: 's3://batch-in/cli-42/prepared.json' });
    expect(summary.shards[0].uri).toBe('s3://batch-in/cli-42/input/job-0001/part-00001.jsonl');
    const store = openStore('s3://batch-in/cli-42/', proxy.clientOptions);
    expect(JSON.parse(await text(store.createReadStream('prepared.json'))).written).toBe(summary.written);
  });

  it('takes the endpoint from AWS_ENDPOINT_URL_S3, an S3 prefix as input, and SSE-KMS / owner options', async () => {
    process.env.AWS_ENDPOINT_URL_S3 = proxy.endpoint;
    const kms = 'alias/batch-inputs';
    const code = await cli('s3://exports/2026-11/', '--out', 's3://batch-in/env-42/', '--quotas', 'local', '--json', '--kms-key-id', kms, '--expected-bucket-owner', '123456789012');
    expect(err.join('')).not.toContain('error');
    expect(code).toBe(0);
    expect(JSON.parse(out.join('')).read).toBe(283 + jsonl.toString().split('\n').filter(Boolean).length);
    const writes = proxy.requests.filter((r) => r.op === 'PutObject' || r.op === 'CreateMultipartUpload');
    expect(writes.length).toBeGreaterThan(3);
    for (const w of writes) expect([w.key, w.headers['x-amz-server-side-encryption-aws-kms-key-id']]).toEqual([w.key, kms]);
    expect(proxy.requests.every((r) => r.headers['x-amz-expected-bucket-owner'] === '123456789012')).toBe(true);
  });

  it('refuses an --out Bedrock could not read, naming the segment, before any request', async () => {
    const code = await cli('s3://exports/2026-11/calls.csv.gz', '--out', 's3://batch-in/exports/dt=2026-11/', '--endpoint-url', proxy.endpoint, '--quotas', 'local');
    expect(code).toBe(1);
    expect(err.join('')).toContain('E_BAD_URI: the location s3://batch-in/exports/dt=2026-11/ cannot be used with Bedrock batch inference: the key segment "dt=2026-11" has characters Bedrock refuses ("=")');
    expect(err.join('')).toContain('hint: ');
    expect(proxy.requests).toEqual([]);
  });

  it('names a missing bucket before anything is written', async () => {
    const code = await cli('s3://exports/2026-11/calls.csv.gz', '--out', 's3://no-such-bucket/run/', '--endpoint-url', proxy.endpoint, '--quotas', 'local');
    expect(code).toBe(1);
    expect(err.join('')).toContain('E_NO_BUCKET: cannot list s3://no-such-bucket/run/: the bucket no-such-bucket does not exist');
    expect(proxy.requests.filter((r) => r.op === 'PutObject' || r.op === 'CreateMultipartUpload')).toEqual([]);
  });

  it('reports access denied with the permission to ask for', async () => {
    proxy.fault = (r) => (r.op === 'PutObject' || r.op === 'CreateMultipartUpload' ? { error: { status: 403, code: 'AccessDenied', message: 'Access Denied' } } : undefined);
    const code = await cli('s3://exports/2026-11/calls.csv.gz', '--out', 's3://batch-in/denied-42/', '--endpoint-url', proxy.endpoint, '--quotas', 'local');
    expect(code).toBe(1);
    const text = err.join('');
    expect(text).toMatch(/E_ACCESS_DENIED: writing s3:\/\/batch-in\/denied-42\/[^ ]+ failed after \d+ bytes/);
    expect(text).toContain('hint: the identity in use needs s3:PutObject');
  });

  it('writes multipart shards straight to the server and verifies them (the CLI, no pass-through)', async () => {
    const file = await bigExport(14e6);
    const code = await cli(file, '--out', 's3://batch-in/multipart-cli/', '--endpoint-url', s3.endpoint, '--quotas', 'local', '--max-bytes', '12MB', '--part-size', '5MiB', '--json');
    expect(err.join('')).not.toContain('E_UPLOAD');
    expect(code).toBe(0);
    const summary = JSON.parse(out.join(''));
    expect(summary.shards.some((x: { bytes: number }) => x.bytes > 5 * MiB)).toBe(true);
    for (const shard of summary.shards as { uri: string; bytes: number }[]) {
      const head = await s3.client.send(new HeadObjectCommand({ Bucket: 'batch-in', Key: shard.uri.slice('s3://batch-in/'.length) }));
      expect(head.ContentLength, shard.uri).toBe(shard.bytes);
    }
    expect(await s3.pendingUploads('batch-in')).toEqual([]);
  });

  it('aborts every open upload when interrupted, and leaves nothing behind', async () => {
    // an export big enough for multipart shards, and a slow server so the interrupt lands mid-upload
    const file = await bigExport(24e6);
    proxy.fault = (r) => (r.op === 'UploadPart' ? { delayMs: 300 } : undefined);
    const done = cli(file, '--out', 's3://batch-in/interrupted/', '--endpoint-url', proxy.endpoint, '--quotas', 'local', '--max-bytes', '12MB', '--part-size', '5MiB');
    await vi.waitUntil(() => proxy.ops('UploadPart').length >= 2, { timeout: 20_000, interval: 5 });
    const open = await s3.pendingUploads('batch-in');
    expect(open.length).toBeGreaterThan(0); // uploads open on the server at the interrupt
    process.emit('SIGINT', 'SIGINT');
    const code = await done;
    expect(code).toBe(130); // 128 + SIGINT, as shells report an interrupted command
    expect(err.join('')).toMatch(/E_INTERRUPTED: interrupted by SIGINT; \d+ open uploads? aborted/);
    const created = proxy.ops('CreateMultipartUpload').length;
    const completed = proxy.ops('CompleteMultipartUpload').length;
    expect(created).toBeGreaterThan(completed);
    // every upload that was not completed was aborted on the server: none is left open
    const aborted = new Set(proxy.ops('AbortMultipartUpload').map((r) => r.uploadId));
    for (const id of open) expect(aborted.has(id)).toBe(true);
    expect(aborted.size).toBe(created - completed);
    expect(await s3.pendingUploads('batch-in')).toEqual([]);
  });
});
