/**
 * node dist/bench/s3.js [--size 1] [--repeat 3] [--sweep] [--null-s3] [--server-dir DIR]
 *
 * Upload throughput to a local S3 server (moto's, the tests' S3, in its own process, a fresh one per
 * task, the files it spills on tmpfs when /dev/shm exists so the disk's writeback does not blur the
 * numbers) and peak RSS, each task in its own child process:
 *
 *   prepare-local  prepare of the seeded export into a directory (prepare's own speed, and the bytes)
 *   bare-upload    those very files through a bare lib-storage Upload, one after the other: the baseline
 *   store-upload   the same files through the S3 store's writer (multipart, verification, abort)
 *   prepare-s3     prepare of the same export straight into s3:// (what users run)
 *
 * The tasks run interleaved, `--repeat` times, and the table shows the best run of each (other
 * processes on the machine only ever slow a run down) with the median beside it. MB/s is of the
 * bytes uploaded (shards, lineage, rejects, prepared.json); "client CPU" is the task process's
 * user+system seconds and "server CPU" the S3 server's, which the wall clock cannot blur; "cores"
 * is both over the wall time: near the machine's cores, the run was bound by CPU, the server's and
 * the client's together (moto's server is Python, one core at most).
 * Targets (issue 12), at the same part size and queue (8 MiB, 4): store-upload and prepare-s3 at
 * least 90% of bare-upload's speed, their peak RSS at most bare-upload's + 30 MiB.
 * --sweep measures part sizes and queue sizes (how the defaults were chosen).
 * --null-s3 runs the uploads again against a null S3 (in this process: it answers every request and
 * keeps only sizes), which costs almost no CPU: what the client alone can do, so what bounds a task
 * against moto. It keeps no bytes: a run that reads an object back (a rebalanced last job) fails there.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rm } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { against } from './driver.js';
import { generateCsv } from './generate.js';
import { startBenchMoto, type BenchS3Server } from './moto.js';

const here = dirname(fileURLToPath(import.meta.url));
// The SDK's notice that Node 20 support ends would otherwise interleave with the table (tasks inherit it).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(`usage: node dist/bench/s3.js [--size GB] [--repeat N] [--sweep] [--server-dir DIR]

Upload throughput and peak RSS of prepare-local, bare-upload, store-upload and prepare-s3 against
moto's S3 server (python3 -m moto.server) in its own process, a fresh one per task.
  --size GB         size of the seeded export (default 1)
  --repeat N        runs of each task; the best is shown, with the median (default 3)
  --sweep           also measure part sizes and queue sizes
  --null-s3         also run the uploads against a null S3 that costs no CPU (what the client alone can do)
  --server-dir DIR  where the server spills large objects (default /dev/shm/bedrock-batch-bench-moto)`);
  process.exit(0);
}
const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
};
const size = Number(arg('size', '1'));
const repeat = Math.max(1, Number(arg('repeat', '3')));
const sweep = process.argv.includes('--sweep');
const nullS3 = process.argv.includes('--null-s3');
const dataDir = join(here, '..', '..', 'bench', '.data');
const serverDir = arg('server-dir', existsSync('/dev/shm') ? '/dev/shm/bedrock-batch-bench-moto' : join(dataDir, 'moto'));
const MiB = 1024 * 1024;

interface Row {
  task: string;
  seconds: number;
  bytes: number;
  uploaded: number;
  records: number;
  maxRssMiB: number;
  cpuSeconds: number;
  serverCpuSeconds?: number;
}

/**
 * One task in a child process of its own. Asynchronous on purpose: moto's server is a child of this
 * process and logs every request to a pipe this process drains, so a synchronous wait here would let
 * that pipe fill and moto block on its log mid-upload (it did, from about 1 GB on).
 */
async function child(args: string[]): Promise<Row> {
  // prepare tasks run with the bedrock-batch command's node flags (src/cli/bin.ts's first line)
  const flags = args[0]?.startsWith('prepare') ? ['--max-semi-space-size=1'] : [];
  const c = spawn(process.execPath, [...flags, join(here, 's3-tasks.js'), ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  c.stdout!.setEncoding('utf8').on('data', (d: string) => (out = (out + d).slice(-(1 << 20))));
  const [code, signal] = (await once(c, 'close')) as [number | null, NodeJS.Signals | null];
  if (code !== 0) throw new Error(`s3-tasks.js ${args.join(' ')} failed (${signal ?? `exit code ${code}`})`);
  return JSON.parse(out.trim().split('\n').pop()!) as Row;
}

async function withServer(task: string, input: string, out: string, part?: number, queue?: number, start: () => Promise<BenchS3Server> = () => startBenchMoto(serverDir, ['bench'])): Promise<Row> {
  const server = await start();
  let row: Row | undefined;
  try {
    row = await child([task, input, server.endpoint, out, ...(part ? [String(part)] : []), ...(queue ? [String(queue)] : [])]);
  } finally {
    const serverCpuSeconds = await server.stop();
    if (row) row.serverCpuSeconds = serverCpuSeconds;
  }
  return row!;
}

/**
 * The null S3, in this process (idle while a task runs in its child): CreateMultipartUpload,
 * UploadPart, CompleteMultipartUpload, PutObject, HeadObject, DeleteObject, AbortMultipartUpload and
 * ListObjectsV2, bodies read and dropped. Its CPU is this process's over the task.
 */
async function startNullS3(): Promise<BenchS3Server> {
  const objects = new Map<string, number>();
  const uploads = new Map<string, Map<number, number>>();
  let ids = 0;
  const xml = (res: import('node:http').ServerResponse, body: string, status = 200) => {
    res.writeHead(status, { 'content-type': 'application/xml' });
    res.end(`<?xml version="1.0" encoding="UTF-8"?>${body}`);
  };
  const esc = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://null');
    const [, bucket = '', ...rest] = url.pathname.split('/');
    const key = decodeURIComponent(rest.join('/'));
    const q = url.searchParams;
    let size = 0;
    req.on('data', (d: Buffer) => (size += d.length));
    req.on('end', () => {
      const uploadId = q.get('uploadId') ?? '';
      if (req.method === 'POST' && q.has('uploads')) {
        const id = `null-${++ids}`;
        uploads.set(id, new Map());
        return xml(res, `<InitiateMultipartUploadResult><Bucket>${bucket}</Bucket><Key>${esc(key)}</Key><UploadId>${id}</UploadId></InitiateMultipartUploadResult>`);
      }
      if (req.method === 'PUT' && q.has('partNumber') && uploads.has(uploadId)) {
        uploads.get(uploadId)!.set(Number(q.get('partNumber')), size);
        res.writeHead(200, { etag: `"part-${q.get('partNumber')}"` });
        return res.end();
      }
      if (req.method === 'POST' && uploads.has(uploadId)) {
        const parts = uploads.get(uploadId)!;
        uploads.delete(uploadId);
        objects.set(key, [...parts.values()].reduce((a, b) => a + b, 0));
        return xml(res, `<CompleteMultipartUploadResult><Bucket>${bucket}</Bucket><Key>${esc(key)}</Key><ETag>"null-${parts.size}"</ETag></CompleteMultipartUploadResult>`);
      }
      if (req.method === 'DELETE') {
        uploads.delete(uploadId);
        if (!uploadId) objects.delete(key);
        res.writeHead(204);
        return res.end();
      }
      if (req.method === 'PUT' && key) {
        objects.set(key, size);
        res.writeHead(200, { etag: '"null"' });
        return res.end();
      }
      if (req.method === 'HEAD' && objects.has(key)) {
        res.writeHead(200, { 'content-length': objects.get(key), etag: '"null"' });
        return res.end();
      }
      if (req.method === 'GET' && !key && q.get('list-type') === '2') {
        const prefix = q.get('prefix') ?? '';
        const items = [...objects].filter(([k]) => k.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : 1));
        const contents = items.map(([k, n]) => `<Contents><Key>${esc(k)}</Key><Size>${n}</Size></Contents>`).join('');
        return xml(res, `<ListBucketResult><Name>${bucket}</Name><Prefix>${esc(prefix)}</Prefix><KeyCount>${items.length}</KeyCount><IsTruncated>false</IsTruncated>${contents}</ListBucketResult>`);
      }
      xml(res, `<Error><Code>NoSuchKey</Code><Message>the null S3 keeps no bytes</Message></Error>`, 404);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const cpu0 = process.cpuUsage();
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async stop() {
      const c = process.cpuUsage(cpu0);
      server.closeAllConnections();
      server.close();
      return (c.user + c.system) / 1e6;
    },
  };
}

const best = (rows: Row[]) => rows.reduce((a, b) => (b.seconds < a.seconds ? b : a));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const pad = (s: string, n: number) => s.padEnd(n);
const num = (n: number | undefined, w = 9, d = 1) => (n === undefined || Number.isNaN(n) ? '' : n.toFixed(d)).padStart(w);

const signed = (n: number) => `${n >= 0 ? '+' : ''}${n.toFixed(1)}`;

/** The best run of each task, with the median speed, the highest peak RSS, CPU, and the speed relative to bare-upload. */
function table(runs: Record<string, Row[]>): void {
  console.log(
    `\n${pad('task', 14)} ${'seconds'.padStart(8)} ${'upload MB/s'.padStart(11)} ${'(median)'.padStart(9)} ${'input MB/s'.padStart(10)} ${'peakRSS MiB'.padStart(11)} ${'client CPU s'.padStart(12)} ${'server CPU s'.padStart(12)} ${'cores'.padStart(5)}  vs bare`,
  );
  const bare = runs['bare-upload']?.length ? best(runs['bare-upload']) : undefined;
  for (const [task, rows] of Object.entries(runs)) {
    const r = best(rows);
    const mbps = r.uploaded / r.seconds / 1e6;
    const med = median(rows.map((x) => x.uploaded / x.seconds / 1e6));
    const input = task.startsWith('prepare') ? num(r.bytes / r.seconds / 1e6, 10) : ''.padStart(10);
    const cores = r.serverCpuSeconds === undefined ? r.cpuSeconds / r.seconds : (r.cpuSeconds + r.serverCpuSeconds) / r.seconds;
    const ratio = !bare || task === 'bare-upload' || task === 'prepare-local' ? '' : `${((bare.seconds / r.seconds) * 100).toFixed(0)}%`;
    console.log(
      `${pad(task, 14)} ${num(r.seconds, 8)} ${num(mbps, 11)} ${num(med, 9)} ${input} ${num(Math.max(...rows.map((x) => x.maxRssMiB)), 11, 0)} ${num(r.cpuSeconds, 12)} ${num(r.serverCpuSeconds, 12)} ${num(cores, 5)}  ${ratio}`,
    );
  }
}

async function main() {
  console.log(`bedrock-batch S3 bench — node ${process.version}, ${cpus().length} cores, moto's S3 server in its own process, its files in ${serverDir}`);
  const file = join(dataDir, `calls-${size}gb.csv`);
  process.stdout.write(`\ngenerating ${file} (${size} GB) ... `);
  const g = await generateCsv(file, size * 1e9, 42);
  console.log(`${(g.bytes / 1e9).toFixed(2)} GB`);
  const prepared = join(dataDir, 's3-prepared');
  const runs: Record<string, Row[]> = { 'prepare-local': [], 'bare-upload': [], 'store-upload': [], 'prepare-s3': [] };
  for (let i = 0; i < repeat; i++) {
    process.stdout.write(`run ${i + 1}/${repeat}: prepare-local`);
    await rm(prepared, { recursive: true, force: true });
    runs['prepare-local']!.push(await child(['prepare-local', file, '-', prepared]));
    for (const [task, input, out] of [['bare-upload', prepared, 'bare'], ['store-upload', prepared, 'store'], ['prepare-s3', file, 'prep']] as const) {
      process.stdout.write(`, ${task}`);
      runs[task]!.push(await withServer(task, input, out));
    }
    process.stdout.write('\n');
  }
  const local = best(runs['prepare-local']!);
  console.log(`prepared run: ${(local.uploaded / 1e9).toFixed(2)} GB to upload, ${local.records.toLocaleString('en-US')} records`);
  table(runs);
  const bare = best(runs['bare-upload']!);
  const store = best(runs['store-upload']!);
  const prep = best(runs['prepare-s3']!);
  const rss = (t: string) => Math.max(...runs[t]!.map((x) => x.maxRssMiB));
  console.log(`\ntargets (issue 12; best run's speed, highest peak RSS; 8 MiB parts, 4 in flight, as bare-upload):`);
  console.log(`  store-upload speed / bare-upload      ${against(bare.seconds / store.seconds, 0.9)}`);
  console.log(`  store-upload peak RSS - bare-upload   ${against(rss('store-upload') - rss('bare-upload'), 30, ' MiB', true)}`);
  console.log(`  prepare-s3 speed / bare-upload        ${against(bare.seconds / prep.seconds, 0.9)}`);
  console.log(`  prepare-s3 peak RSS - bare-upload     ${against(rss('prepare-s3') - rss('bare-upload'), 30, ' MiB', true)}`);
  console.log(
    `  (prepare-s3 at ${((local.seconds / prep.seconds) * 100).toFixed(0)}% of prepare-local's speed, which is ${((bare.seconds / local.seconds) * 100).toFixed(0)}% of bare-upload's; ` +
      `peak RSS prepare-local ${rss('prepare-local').toFixed(0)} MiB, bare-upload ${rss('bare-upload').toFixed(0)} MiB; ` +
      `client CPU store-upload ${signed(store.cpuSeconds - bare.cpuSeconds)} s over bare-upload for ${(store.uploaded / 1e9).toFixed(2)} GB)`,
  );

  if (nullS3) {
    const none: Record<string, Row[]> = { 'bare-upload': [], 'store-upload': [], 'prepare-s3': [] };
    for (let i = 0; i < repeat; i++) {
      process.stdout.write(`\nnull S3, run ${i + 1}/${repeat}:`);
      for (const [task, input, out] of [['bare-upload', prepared, 'bare'], ['store-upload', prepared, 'store'], ['prepare-s3', file, 'prep']] as const) {
        process.stdout.write(` ${task}`);
        none[task]!.push(await withServer(task, input, out, undefined, undefined, startNullS3));
      }
    }
    console.log(`\n\nthe same against the null S3 (no server CPU to share): what the client alone can do`);
    table(none);
  }

  if (sweep) {
    console.log(`\nsweep: store-upload and bare-upload by part size and queue size (best of ${repeat})`);
    console.log(`${'part MiB'.padStart(8)} ${'queue'.padStart(5)} ${'store MB/s'.padStart(11)} ${'bare MB/s'.padStart(10)} ${'store RSS'.padStart(10)} ${'bare RSS'.padStart(9)}`);
    for (const part of [5, 8, 16]) {
      for (const queue of [1, 2, 4, 8]) {
        const s: Row[] = [];
        const b: Row[] = [];
        for (let i = 0; i < repeat; i++) {
          s.push(await withServer('store-upload', prepared, 'store', part * MiB, queue));
          b.push(await withServer('bare-upload', prepared, 'bare', part * MiB, queue));
        }
        const bs = best(s);
        const bb = best(b);
        console.log(
          `${String(part).padStart(8)} ${String(queue).padStart(5)} ${num(bs.uploaded / bs.seconds / 1e6, 11)} ${num(bb.uploaded / bb.seconds / 1e6, 10)} ${num(Math.max(...s.map((x) => x.maxRssMiB)), 10, 0)} ${num(Math.max(...b.map((x) => x.maxRssMiB)), 9, 0)}`,
        );
      }
    }
  }
  await rm(prepared, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
