/** Opening inputs (src/read/open.ts): files, stdin, gzip by magic bytes, errors that name the input. */
import { mkdtemp, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSource, readError } from '../../src/read/open.js';
import { isBatchError } from '../../src/errors.js';
import { chunksStream, splitEvery } from './helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bb-open-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function all(r: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c);
  return Buffer.concat(parts);
}

const CSV = Buffer.from('call_id,transcript\nc1,"Agent: hi\nCustomer: hello"\n');

describe('openSource', () => {
  it('reads a file as it is', async () => {
    const p = join(dir, 'plain.csv');
    await writeFile(p, CSV);
    expect(await all(openSource(p, { chunkSize: 7 }))).toEqual(CSV);
  });

  it('gunzips by the magic bytes, whatever the name: a .csv that is gzip', async () => {
    const p = join(dir, 'really-gzip.csv');
    await writeFile(p, gzipSync(CSV));
    expect(await all(openSource(p))).toEqual(CSV);
  });

  it('does not gunzip a .gz that is not gzip', async () => {
    const p = join(dir, 'not-gzip.csv.gz');
    await writeFile(p, CSV);
    expect(await all(openSource(p))).toEqual(CSV);
  });

  it('reads - from the stdin it is given, gunzipping it too, even when the magic bytes arrive split', async () => {
    expect(await all(openSource('-', { stdin: chunksStream(splitEvery(CSV, 5)) }))).toEqual(CSV);
    expect(await all(openSource('-', { stdin: chunksStream(splitEvery(gzipSync(CSV), 1)) }))).toEqual(CSV);
    expect(await all(openSource('-', { stdin: chunksStream([]) }))).toEqual(Buffer.alloc(0));
    expect(await all(openSource('-', { stdin: chunksStream([Buffer.from([0x1f])]) }))).toEqual(Buffer.from([0x1f]));
  });

  it('a truncated gzip is E_READ naming the input and what to do', async () => {
    const p = join(dir, 'truncated.csv.gz');
    const gz = gzipSync(Buffer.alloc(100_000, 'call_id,transcript\n'));
    await writeFile(p, gz.subarray(0, gz.length - 20));
    const error = await all(openSource(p)).catch((e: unknown) => e);
    expect(isBatchError(error)).toBe(true);
    expect(error).toMatchObject({ code: 'E_READ', message: expect.stringContaining(`${p} starts like gzip but cannot be decompressed`), hint: expect.stringMatching(/gzip -t/) });
  });

  it('a missing file, a directory, an unreadable file, an empty name: errors that name the input', async () => {
    const missing = join(dir, 'nope.csv');
    await expect(all(openSource(missing))).rejects.toMatchObject({ code: 'E_READ', message: `${missing} does not exist` });
    await expect(all(openSource(dir))).rejects.toMatchObject({ code: 'E_READ', message: expect.stringContaining('is a directory') });
    if (process.getuid?.() !== 0) {
      const locked = join(dir, 'locked.csv');
      await writeFile(locked, CSV);
      await chmod(locked, 0o000);
      await expect(all(openSource(locked))).rejects.toMatchObject({ code: 'E_READ', message: `permission denied reading ${locked}` });
    }
    expect(() => openSource('')).toThrow(expect.objectContaining({ code: 'E_NO_INPUT' }));
  });
});

describe('readError', () => {
  it('maps system errors to E_READ with a hint, and names stdin as such', () => {
    const enoent = Object.assign(new Error('x'), { code: 'ENOENT' });
    expect(readError('-', enoent)).toMatchObject({ code: 'E_READ', message: 'standard input does not exist', hint: expect.any(String) });
    expect(readError('a.csv', Object.assign(new Error('x'), { code: 'EPERM' }))).toMatchObject({ message: 'permission denied reading a.csv' });
    expect(readError('a.csv', new Error('disk on fire'))).toMatchObject({ code: 'E_READ', message: 'cannot read a.csv: disk on fire' });
  });
});
