/**
 * One measured S3 task per child process, so each gets its own peak RSS:
 *   node dist/bench/s3-tasks.js <task> <input> <endpoint|-> <out> [partSize] [queueSize]
 * prints one JSON line {task, seconds, bytes, uploaded, records, maxRssMiB, cpuSeconds}.
 *
 *   prepare-local  prepare <input> into the local directory <out> (kept: the other tasks upload it)
 *   bare-upload    each file of the prepared run <input> through a bare lib-storage Upload
 *   store-upload   the same files through the S3 store's writer (verification included)
 *   prepare-s3     prepare <input> straight into s3://bench/<out>/
 */
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { prepareRun } from '../src/prepare.js';
import { quotaProfile } from '../src/bedrock/quotas.js';
import { s3ClientOptions } from '../src/stores/s3-client.js';
import { S3Store, type S3StoreOptions } from '../src/stores/s3.js';
import { callStages } from '../transforms/index.js';

export const BENCH_BUCKET = 'bench';
const credentials = { accessKeyId: 'bench', secretAccessKey: 'bench' };

async function files(dir: string): Promise<{ path: string; key: string; size: number }[]> {
  const out: { path: string; key: string; size: number }[] = [];
  for (const d of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!d.isFile()) continue;
    const path = join(d.parentPath, d.name);
    out.push({ path, key: relative(dir, path).split(sep).join('/'), size: (await stat(path)).size });
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : 1));
}

async function prepare(input: string, out: string, s3?: S3StoreOptions) {
  const s = await prepareRun({
    inputs: [input],
    out,
    overwrite: true,
    stages: callStages({}), // as the CLI runs it: worker threads and the fused path
    model: { modelId: 'anthropic.claude-3-haiku-20240307-v1:0' },
    quotas: quotaProfile('default'),
    ...(s3 ? { s3 } : {}),
  });
  if (s.rejected) console.error(`prepare rejected ${s.rejected}: ${JSON.stringify(s.rejectsByCode)}`);
  return s;
}

async function main() {
  const [task, input, endpoint, out, part, queue] = process.argv.slice(2);
  if (!task || !input || !endpoint || !out) {
    console.error('usage: s3-tasks.js <prepare-local|bare-upload|store-upload|prepare-s3> <input> <endpoint|-> <out> [partSize] [queueSize]');
    process.exit(2);
  }
  const partSize = part ? Number(part) : undefined;
  const queueSize = queue ? Number(queue) : undefined;
  const verify = process.env.BENCH_VERIFY as S3StoreOptions['verify'];
  const options: S3StoreOptions = { endpointUrl: endpoint, credentials, region: 'us-east-1', ...(partSize ? { partSize } : {}), ...(queueSize ? { queueSize } : {}), ...(verify ? { verify } : {}) };
  const t0 = process.hrtime.bigint();
  let bytes = 0;
  let uploaded = 0;
  let records = 0;
  switch (task) {
    case 'prepare-local': {
      const s = await prepare(input, out);
      bytes = (await stat(input)).size;
      uploaded = (await files(out)).reduce((n, f) => n + f.size, 0);
      records = s.written;
      break;
    }
    case 'bare-upload': {
      const client = new S3Client(s3ClientOptions(options));
      for (const f of await files(input)) {
        const up = new Upload({
          client,
          params: { Bucket: BENCH_BUCKET, Key: `${out}/${f.key}`, Body: createReadStream(f.path, { highWaterMark: 1 << 20 }) },
          ...(partSize ? { partSize } : { partSize: 8 * 1024 * 1024 }),
          ...(queueSize ? { queueSize } : {}),
        });
        await up.done();
        uploaded += f.size;
      }
      bytes = uploaded;
      break;
    }
    case 'store-upload': {
      const store = new S3Store(`s3://${BENCH_BUCKET}/${out}/`, options);
      for (const f of await files(input)) {
        await pipeline(createReadStream(f.path, { highWaterMark: 1 << 20 }), store.createWriteStream(f.key));
        uploaded += f.size;
      }
      bytes = uploaded;
      break;
    }
    case 'prepare-s3': {
      const s = await prepare(input, `s3://${BENCH_BUCKET}/${out}/`, options);
      const store = new S3Store(`s3://${BENCH_BUCKET}/${out}/`, options);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const cpuSeconds = cpu();
      for await (const o of store.list()) uploaded += o.size;
      bytes = (await stat(input)).size;
      records = s.written;
      console.log(JSON.stringify({ task, seconds, bytes, uploaded, records, maxRssMiB: process.resourceUsage().maxRSS / 1024, cpuSeconds }));
      return;
    }
    default:
      console.error(`unknown task ${task}`);
      process.exit(2);
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({ task, seconds, bytes, uploaded, records, maxRssMiB: process.resourceUsage().maxRSS / 1024, cpuSeconds: cpu() }));
}

/** CPU seconds (user + system) of this process so far. */
function cpu(): number {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
