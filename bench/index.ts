/**
 * npm run bench [-- --sizes 1,3 --formats csv,jsonl --json-mb 200 --json-tasks jsonl,lines,split2,json,stream-json]
 *
 * Generates seeded CSV exports of the given sizes in GB (cached in bench/.data/) and, from the
 * first size's calls, the same calls as JSON Lines. Each task runs in its own child process and
 * prints MB/s, records/s and peak RSS, next to the baselines measured in the same run on the same
 * file, with each target of issue 12 beside its ratio:
 *
 *   read         the file's bytes and nothing else (the floor)
 *   csv-parse    csv-parse alone (CSV)
 *   naive        the naive script: csv-parse (CSV) or split2 + JSON.parse (JSONL), then
 *                JSON.stringify of a Claude record per row, written to one file
 *   prepare-1t   bedrock-batch prepare on one thread (`--workers 0`)           target >= 4x naive
 *   prepare      bedrock-batch prepare as the CLI runs it (a worker per core)  target >= 8x naive
 *   peak RSS of prepare, at every size                                          target <= 150 MiB
 *
 * Sizes above the first run only `read` and `prepare` (the flat-memory check). `--sizes 0` skips
 * them. Then the line and JSON readers, on the calls of a `--json-mb` MB export as JSON Lines and as
 * a JSON array (`--json-mb 0` skips them): the toolkit's line splitter next to split2, its JSON
 * reader next to stream-json (parser + streamArray), which shows why the hot paths keep their own.
 */
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { against, arg, dataDir, num, pad, runChild, type Row } from './driver.js';
import { generateCsv } from './generate.js';
import { generateJsonInputs, generateJsonl } from './json-inputs.js';

const tasksScript = fileURLToPath(new URL('./tasks.js', import.meta.url));
const sizes = arg('sizes', '1,3').split(',').map(Number).filter((gb) => gb > 0);
const formats = arg('formats', 'csv,jsonl').split(',');
const jsonMb = Number(arg('json-mb', '200'));
const jsonTasks = arg('json-tasks', 'jsonl,lines,split2,json,stream-json').split(',');
/** The JSON tasks: which file each reads, and the toolkit's own task it is compared with. */
const JSON_TASKS: Record<string, { input: 'jsonl' | 'json'; ours: string }> = {
  jsonl: { input: 'jsonl', ours: 'jsonl' },
  lines: { input: 'jsonl', ours: 'lines' },
  split2: { input: 'jsonl', ours: 'lines' },
  json: { input: 'json', ours: 'json' },
  'stream-json': { input: 'json', ours: 'json' },
};
/** Issue 12's targets: speed against the naive script, and prepare's peak RSS. */
const TARGET = { 'prepare-1t': 4, prepare: 8, rssMiB: 150 };

/** The node flags of the `bedrock-batch` command (src/cli/bin.ts's first line): prepare runs as the CLI runs it. */
const CLI_FLAGS = ['--max-semi-space-size=1'];

function runTask(task: string, input: string): Row {
  return runChild(tasksScript, [task, input, join(dataDir, `out-${task}`)], task.startsWith('prepare') ? CLI_FLAGS : []);
}

async function main() {
  console.log(`bedrock-batch bench — node ${process.version}, ${(await import('node:os')).cpus().length} cores`);
  const summary: string[] = [];
  for (const [index, gb] of sizes.entries()) {
    const csv = join(dataDir, `calls-${gb}gb.csv`);
    process.stdout.write(`\ngenerating ${csv} (${gb} GB) ... `);
    const g = await generateCsv(csv, gb * 1e9, 42);
    console.log(`${(g.bytes / 1e9).toFixed(2)} GB`);
    for (const format of formats) {
      // the flat-memory check at the larger sizes: CSV, read and prepare only
      if (index > 0 && format !== 'csv') continue;
      const input = format === 'csv' ? csv : await generateJsonl(csv);
      console.log(`\n${format.toUpperCase()} ${input}`);
      console.log(`${pad('task', 12)} ${'seconds'.padStart(9)} ${'MB/s'.padStart(9)} ${'records/s'.padStart(9)} ${'peakRSS MiB'.padStart(12)}  vs naive`);
      const tasks = index > 0 ? ['read', 'prepare'] : format === 'csv' ? ['read', 'csv-parse', 'naive', 'prepare-1t', 'prepare', 'prepare-schema', 'prepare-redact'] : ['read', 'naive-jsonl', 'prepare-1t', 'prepare'];
      const rows: Row[] = [];
      for (const task of tasks) {
        const r = runTask(task, input);
        rows.push(r);
        const naive = rows.find((x) => x.task === 'naive' || x.task === 'naive-jsonl');
        const mbps = r.bytes / r.seconds / 1e6;
        const target = TARGET[task as 'prepare' | 'prepare-1t'];
        let ratio = naive && !r.task.startsWith('naive') ? `${(naive.seconds / r.seconds).toFixed(2)}x` : '';
        if (naive && target) ratio = against(naive.seconds / r.seconds, target);
        console.log(`${pad(task, 12)} ${num(r.seconds)} ${num(mbps)} ${num(r.records ? r.records / r.seconds : 0, 0)} ${num(r.maxRssMiB).padStart(12)}  ${ratio}`);
        if (naive && target) summary.push(`${format} ${gb} GB ${task}: speed ${against(naive.seconds / r.seconds, target)}`);
        if (task.startsWith('prepare')) summary.push(`${format} ${gb} GB ${task}: peak RSS ${against(r.maxRssMiB, TARGET.rssMiB, ' MiB', true)}`);
      }
    }
  }
  if (summary.length > 0) console.log(`\ntargets (issue 12):\n  ${summary.join('\n  ')}`);
  if (jsonMb > 0) await jsonReaders();
}

/** The line and JSON readers, each next to the toolkit's own on the same file. */
async function jsonReaders() {
  const csv = join(dataDir, `calls-${jsonMb}mb.csv`);
  process.stdout.write(`\ngenerating ${csv} (${jsonMb} MB) and its calls as JSON Lines and as a JSON array ... `);
  await generateCsv(csv, jsonMb * 1e6, 42);
  const inputs = await generateJsonInputs(csv);
  console.log('done');
  console.log(`${pad('task', 12)} ${'seconds'.padStart(9)} ${'MB/s'.padStart(9)} ${'records/s'.padStart(9)} ${'peakRSS MiB'.padStart(12)} ${'cpu s'.padStart(7)}  speed vs ours (wall, cpu)`);
  const rows: Row[] = [];
  for (const task of jsonTasks) {
    const spec = JSON_TASKS[task];
    if (!spec) throw new Error(`unknown JSON task ${task}: one of ${Object.keys(JSON_TASKS).join(', ')}`);
    const r = runTask(task, inputs[spec.input]);
    rows.push(r);
    const ours = rows.find((x) => x.task === spec.ours);
    const ratio = ours && task !== spec.ours ? `${(ours.seconds / r.seconds).toFixed(2)}x, ${(ours.cpuSeconds / r.cpuSeconds).toFixed(2)}x` : '';
    console.log(`${pad(task, 12)} ${num(r.seconds)} ${num(r.bytes / r.seconds / 1e6)} ${num(r.records / r.seconds, 0)} ${num(r.maxRssMiB).padStart(12)} ${r.cpuSeconds.toFixed(1).padStart(7)}  ${ratio}`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
