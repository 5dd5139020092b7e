/**
 * npm run bench [-- --sizes 1,3 --tasks read,csv-parse,naive,prepare]
 *
 * Generates seeded CSV exports of the given sizes in GB (cached in bench/.data/), then runs each
 * task in its own child process and prints MB/s, records/s and peak RSS, next to the baselines
 * measured in the same run on the same file.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { generateCsv } from './generate.js';

const here = dirname(fileURLToPath(import.meta.url));
const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
};
const sizes = arg('sizes', '1,3').split(',').map(Number);
const wanted = arg('tasks', 'read,csv-parse,naive,prepare-1t,prepare').split(',');
const dataDir = join(here, '..', '..', 'bench', '.data');

interface Row {
  task: string;
  seconds: number;
  bytes: number;
  records: number;
  maxRssMiB: number;
}

function runTask(task: string, input: string): Row {
  const out = execFileSync(process.execPath, [join(here, 'tasks.js'), task, input, join(dataDir, `out-${task}`)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 20,
  });
  return JSON.parse(out.trim().split('\n').pop()!) as Row;
}

const pad = (s: string, n: number) => s.padEnd(n);
const num = (n: number, d = 1) => n.toFixed(d).padStart(9);

async function main() {
  console.log(`bedrock-batch bench — node ${process.version}, ${(await import('node:os')).cpus().length} cores`);
  for (const gb of sizes) {
    const file = join(dataDir, `calls-${gb}gb.csv`);
    process.stdout.write(`\ngenerating ${file} (${gb} GB) ... `);
    const g = await generateCsv(file, gb * 1e9, 42);
    console.log(`${(g.bytes / 1e9).toFixed(2)} GB`);
    console.log(`${pad('task', 12)} ${'seconds'.padStart(9)} ${'MB/s'.padStart(9)} ${'records/s'.padStart(9)} ${'peakRSS MiB'.padStart(12)}  vs naive`);
    const rows: Row[] = [];
    for (const task of wanted) {
      if (gb > 1 && task !== 'prepare' && task !== 'read') continue; // the 3 GB run checks flat memory
      const r = runTask(task, file);
      rows.push(r);
      const naive = rows.find((x) => x.task === 'naive');
      const mbps = r.bytes / r.seconds / 1e6;
      const ratio = naive && r.task !== 'naive' ? `${(naive.seconds / r.seconds).toFixed(2)}x` : '';
      console.log(`${pad(task, 12)} ${num(r.seconds)} ${num(mbps)} ${num(r.records ? r.records / r.seconds : 0, 0)} ${num(r.maxRssMiB).padStart(12)}  ${ratio}`);
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
