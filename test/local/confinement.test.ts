/**
 * `serve --root DIR` never reads or writes outside DIR, whatever symbolic links the tree holds: a
 * bucket folder, a key segment or a file that is a link to a place outside fails the job with a
 * message naming it, never a silent success. Through the real service and SDK.
 */
import { existsSync, symlinkSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateModelInvocationJobCommand, type BedrockClient } from '@aws-sdk/client-bedrock';
import { beforeEach, describe, expect, it } from 'vitest';
import { ConfinedStore } from '../../src/local/confined.js';
import { mountResolver } from '../../src/local/stores.js';
import { useTempDir } from '../support/temp.js';
import { createInput, jsonl, put, useLocalService, waitFor } from './helpers.js';

const tmp = useTempDir('confined-');
let root: string;
let outside: string;
beforeEach(async () => {
  root = join(tmp.dir, 'root');
  outside = join(tmp.dir, 'outside');
  await mkdir(root);
  await mkdir(outside);
});
const service = useLocalService();

function start(): Promise<BedrockClient> {
  return service.start({ root });
}

async function run(over: Record<string, unknown> = {}): Promise<{ status?: string; message?: string; jobId: string }> {
  const { jobArn } = await service.client!.send(new CreateModelInvocationJobCommand(createInput(over)));
  const job = await waitFor(service.client!, jobArn!, ['Completed', 'PartiallyCompleted', 'Failed', 'Stopped', 'Expired']);
  return { status: job.status, message: job.message, jobId: jobArn!.split('/')[1]! };
}

const SECRET = JSON.stringify({ recordId: 'SECRET00001', modelInput: { anthropic_version: 'bedrock-2023-05-31', max_tokens: 10, messages: [{ role: 'user', content: 'outside secret' }] } }) + '\n';

async function tree(path: string): Promise<string[]> {
  return (await readdir(path, { recursive: true })).map(String).sort();
}

describe('serve --root: symbolic links never lead outside the root', () => {
  it('refuses an output bucket folder that is a link to a place outside', async () => {
    await put(root, 'in-bucket/run/a.jsonl', jsonl(2));
    symlinkSync(outside, join(root, 'out-bucket'));
    await start();
    const job = await run();
    expect(job.status).toBe('Failed');
    expect(job.message).toMatch(/out-bucket/);
    expect(job.message).toMatch(/outside/);
    expect(await tree(outside)).toEqual([]);
  });

  it('refuses an output key segment that is a link to a place outside', async () => {
    await put(root, 'in-bucket/run/a.jsonl', jsonl(2));
    await mkdir(join(root, 'out-bucket'));
    symlinkSync(outside, join(root, 'out-bucket', 'results'));
    await start();
    const job = await run();
    expect(job.status).toBe('Failed');
    expect(job.message).toContain('s3://out-bucket/results/');
    expect(job.message).toMatch(/outside/);
    expect(await tree(outside)).toEqual([]);
  });

  it('refuses an input bucket, folder or file that is a link to a place outside, and copies nothing of it', async () => {
    await writeFile(join(outside, 'secret.jsonl'), SECRET);
    await mkdir(join(root, 'out-bucket'));
    symlinkSync(outside, join(root, 'linked-bucket'));
    await mkdir(join(root, 'in-bucket'));
    symlinkSync(outside, join(root, 'in-bucket', 'linked-folder'));
    await put(root, 'in-bucket/mixed/a.jsonl', jsonl(2));
    symlinkSync(join(outside, 'secret.jsonl'), join(root, 'in-bucket', 'mixed', 'b.jsonl'));
    await start();
    const cases: [string, string][] = [
      ['s3://linked-bucket/', 'linked-bucket'],
      ['s3://in-bucket/linked-folder/', 's3://in-bucket/linked-folder'],
      ['s3://in-bucket/linked-folder/secret.jsonl', 's3://in-bucket/linked-folder/secret.jsonl'],
      ['s3://in-bucket/mixed/', 's3://in-bucket/mixed/b.jsonl'],
      ['s3://in-bucket/mixed/b.jsonl', 's3://in-bucket/mixed/b.jsonl'],
    ];
    for (const [i, [uri, named]] of cases.entries()) {
      const job = await run({ jobName: `escape-${i}`, inputDataConfig: { s3InputDataConfig: { s3Uri: uri } } });
      expect(job.status, uri).toBe('Failed');
      expect(job.message, uri).toContain(named);
      expect(job.message, uri).toMatch(/outside/);
    }
    // nothing of the secret reached an output
    for (const f of await tree(join(root, 'out-bucket'))) {
      if (f.endsWith('.out')) expect(await readFile(join(root, 'out-bucket', f), 'utf8')).not.toContain('outside secret');
    }
  });

  it('follows links that stay inside the root', async () => {
    await put(root, 'in-bucket/real/a.jsonl', jsonl(3));
    symlinkSync(join(root, 'in-bucket', 'real'), join(root, 'in-bucket', 'alias'));
    await mkdir(join(root, 'real-out'));
    symlinkSync(join(root, 'real-out'), join(root, 'out-bucket'));
    await start();
    const job = await run({ inputDataConfig: { s3InputDataConfig: { s3Uri: 's3://in-bucket/alias/' } } });
    expect(job).toMatchObject({ status: 'Completed' });
    expect(existsSync(join(root, 'real-out', 'results', job.jobId, 'a.jsonl.out'))).toBe(true);
  });
});

describe('the confined store', () => {
  const write = (store: { createWriteStream(key: string): NodeJS.WritableStream }, key: string, text: string) =>
    new Promise<void>((resolve, reject) => store.createWriteStream(key).on('finish', resolve).on('error', reject).end(text));

  it('replaces a link at the key itself instead of writing through it, and refuses to write through a linked folder', async () => {
    const bucket = join(root, 'bucket');
    await mkdir(bucket);
    await writeFile(join(outside, 'target.txt'), 'untouched');
    symlinkSync(join(outside, 'target.txt'), join(bucket, 'file.txt'));
    symlinkSync(outside, join(bucket, 'linked'));
    const store = new ConfinedStore(bucket);
    await write(store, 'file.txt', 'new');
    expect(await readFile(join(outside, 'target.txt'), 'utf8')).toBe('untouched');
    expect(await readFile(join(bucket, 'file.txt'), 'utf8')).toBe('new');
    await expect(write(store, 'linked/deeper/x.txt', 'no')).rejects.toMatchObject({ code: 'E_STORE', message: expect.stringContaining('linked/deeper/x.txt') });
    await expect(write(store, 'linked/x.txt', 'no')).rejects.toMatchObject({ code: 'E_STORE' });
    expect(await tree(outside)).toEqual(['target.txt']);
  });

  it('confines the mounts of the embedded submit too', async () => {
    const run = join(root, 'run');
    await put(run, 'input/job-0001/a.jsonl', jsonl(1));
    symlinkSync(outside, join(run, 'input', 'job-0002'));
    await writeFile(join(outside, 'secret.jsonl'), SECRET);
    const store = (await mountResolver({ 'bedrock-batch-input': run }).bucket('bedrock-batch-input'))!;
    const keys: string[] = [];
    await expect(
      (async () => {
        for await (const o of store.list('input/')) keys.push(o.key);
      })(),
    ).rejects.toMatchObject({ code: 'E_STORE', message: expect.stringContaining('input/job-0002') });
    await expect(store.exists('input/job-0002/secret.jsonl')).rejects.toMatchObject({ code: 'E_STORE' });
  });
});
