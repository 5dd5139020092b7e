/**
 * node dist/bench/s3.js [--size 1] [--repeat 3] [--sweep] [--server-dir DIR]
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
 * user+system seconds and "server CPU" the S3 server's, which the wall clock cannot blur.
 * Targets: store-upload and prepare-s3 at least 90% of bare-upload, peak RSS at most 150 MiB.
 * --sweep measures part sizes and queue sizes (how the defaults were chosen).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateCsv } from './generate.js';
import { startBenchMoto } from './moto.js';

const here = dirname(fileURLToPath(import.meta.url));
if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(`usage: node dist/bench/s3.js [--size GB] [--repeat N] [--sweep] [--server-dir DIR]

Upload throughput and peak RSS of prepare-local, bare-upload, store-upload and prepare-s3 against
moto's S3 server (python3 -m moto.server) in its own process, a fresh one per task.
  --size GB         size of the seeded export (default 1)
  --repeat N        runs of each task; the best is shown, with the median (default 3)
  --sweep           also measure part sizes and queue sizes
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

function child(args: string[]): Row {
  const out = execFileSync(process.execPath, [join(here, 's3-tasks.js'), ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 20,
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  });
  return JSON.parse(out.trim().split('\n').pop()!) as Row;
}

async function withServer(task: string, input: string, out: string, part?: number, queue?: number): Promise<Row> {
  const server = await startBenchMoto(serverDir, ['bench']);
  let row: Row | undefined;
  try {
    row = child([task, input, server.endpoint, out, ...(part ? [String(part)] : []), ...(queue ? [String(queue)] : [])]);
  } finally {
    const serverCpuSeconds = await server.stop();
    if (row) row.serverCpuSeconds = serverCpuSeconds;
  }
  return row!;
}

const best = (rows: Row[]) => rows.reduce((a, b) => (b.seconds < a.seconds ? b : a));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const pad = (s: string, n: number) => s.padEnd(n);
const num = (n: number | undefined, w = 9, d = 1) => (n === undefined || Number.isNaN(n) ? '' : n.toFixed(d)).padStart(w);

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
    runs['prepare-local']!.push(child(['prepare-local', file, '-', prepared]));
    for (const [task, input, out] of [['bare-upload', prepared, 'bare'], ['store-upload', prepared, 'store'], ['prepare-s3', file, 'prep']] as const) {
      process.stdout.write(`, ${task}`);
      runs[task]!.push(await withServer(task, input, out));
    }
    process.stdout.write('\n');
  }
  const local = best(runs['prepare-local']!);
  console.log(`prepared run: ${(local.uploaded / 1e9).toFixed(2)} GB to upload, ${local.records.toLocaleString('en-US')} records`);
  console.log(
    `\n${pad('task', 14)} ${'seconds'.padStart(8)} ${'upload MB/s'.padStart(11)} ${'(median)'.padStart(9)} ${'input MB/s'.padStart(10)} ${'peakRSS MiB'.padStart(11)} ${'client CPU s'.padStart(12)} ${'server CPU s'.padStart(12)}  vs bare`,
  );
  const bare = best(runs['bare-upload']!);
  for (const [task, rows] of Object.entries(runs)) {
    const r = best(rows);
    const mbps = r.uploaded / r.seconds / 1e6;
    const med = median(rows.map((x) => x.uploaded / x.seconds / 1e6));
    const input = task.startsWith('prepare') ? num(r.bytes / r.seconds / 1e6, 10) : ''.padStart(10);
    const ratio = task === 'bare-upload' || task === 'prepare-local' ? '' : `${((bare.seconds / r.seconds) * 100).toFixed(0)}%`;
    console.log(
      `${pad(task, 14)} ${num(r.seconds, 8)} ${num(mbps, 11)} ${num(med, 9)} ${input} ${num(Math.max(...rows.map((x) => x.maxRssMiB)), 11, 0)} ${num(r.cpuSeconds, 12)} ${num(r.serverCpuSeconds, 12)}  ${ratio}`,
    );
  }
  const store = best(runs['store-upload']!);
  const prep = best(runs['prepare-s3']!);
  const check = (ok: boolean) => (ok ? 'ok' : 'MISSED');
  const rss = (t: string) => Math.max(...runs[t]!.map((x) => x.maxRssMiB));
  console.log(
    `\ntargets: store-upload ${((bare.seconds / store.seconds) * 100).toFixed(0)}% of bare (>= 90%: ${check(bare.seconds / store.seconds >= 0.9)}); ` +
      `prepare-s3 ${((bare.seconds / prep.seconds) * 100).toFixed(0)}% of bare (>= 90%: ${check(bare.seconds / prep.seconds >= 0.9)}), ` +
      `${((local.seconds / prep.seconds) * 100).toFixed(0)}% of prepare-local; ` +
      `peak RSS store-upload ${rss('store-upload').toFixed(0)} MiB, prepare-s3 ${rss('prepare-s3').toFixed(0)} MiB ` +
      `(<= 150: ${check(Math.max(rss('store-upload'), rss('prepare-s3')) <= 150)}; prepare-local ${rss('prepare-local').toFixed(0)}, bare-upload ${rss('bare-upload').toFixed(0)})`,
  );
  console.log(`client CPU over bare: store-upload +${(store.cpuSeconds - bare.cpuSeconds).toFixed(1)} s for ${(store.uploaded / 1e9).toFixed(2)} GB`);

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
