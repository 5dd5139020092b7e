/**
 * One measured task per child process, so each gets its own peak RSS:
 *   node dist/bench/tasks.js <task> <input> [out]
 * prints one JSON line {task, seconds, bytes, records, maxRssMiB}.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parse } from 'csv-parse';
import { tuneHeapForStreaming } from '../src/cli/heap.js';
import { prepareRun } from '../src/prepare.js';
import { quotaProfile } from '../src/shards/quotas.js';
import { callStages } from '../transforms/index.js';

type Task = (input: string, out: string) => Promise<{ records: number }>;

const tasks: Record<string, Task> = {
  /** Baseline: read the file's bytes and nothing else. */
  async read(input) {
    let n = 0;
    await pipeline(createReadStream(input, { highWaterMark: 1 << 20 }), new Writable({ write(c: Buffer, _e, cb) { n += c.length; cb(); } }));
    return { records: 0 };
  },
  /** Baseline: csv-parse alone, rows counted. */
  async 'csv-parse'(input) {
    let records = 0;
    await pipeline(
      createReadStream(input, { highWaterMark: 1 << 20 }),
      parse({ columns: true }),
      new Writable({ objectMode: true, highWaterMark: 64, write(_r, _e, cb) { records++; cb(); } }),
    );
    return { records };
  },
  /** Baseline: the naive script: csv-parse -> JSON.stringify of a Claude record -> write. */
  async naive(input, out) {
    let records = 0;
    await pipeline(
      createReadStream(input, { highWaterMark: 1 << 20 }),
      parse({ columns: true }),
      new Transform({
        objectMode: true,
        transform(row: Record<string, string>, _e, cb) {
          records++;
          const body = {
            anthropic_version: 'bedrock-2023-05-31',
            max_tokens: 1024,
            messages: [{ role: 'user', content: [{ type: 'text', text: `Summarize the following call transcript:\n\n${row.transcript}` }] }],
          };
          cb(null, JSON.stringify({ recordId: String(records).padStart(11, '0'), modelInput: body }) + '\n');
        },
      }),
      createWriteStream(`${out}/naive.jsonl`),
    );
    return { records };
  },
  /** bedrock-batch prepare, as the CLI runs it (default model, adapter detection, default prompt, a
   * worker thread per core, the CLI's heap settings). */
  async prepare(input, out) {
    tuneHeapForStreaming();
    return runPrepare(input, out, undefined);
  },
  /** The same on one thread (`--workers 0`). */
  async 'prepare-1t'(input, out) {
    tuneHeapForStreaming();
    return runPrepare(input, out, 0);
  },
};

async function runPrepare(input: string, out: string, workers: number | undefined): Promise<{ records: number }> {
  {
    const s = await prepareRun({
      inputs: [input],
      out,
      overwrite: true,
      stages: callStages({}),
      ...(workers !== undefined ? { workers } : {}),
      model: { modelId: 'anthropic.claude-3-haiku-20240307-v1:0' },
      quotas: quotaProfile('default'),
    });
    if (s.rejected) console.error(`prepare rejected ${s.rejected}: ${JSON.stringify(s.rejectsByCode)}`);
    return { records: s.written };
  }
}

async function main() {
  const [task, input, out = 'bench/.data/out'] = process.argv.slice(2);
  const fn = task ? tasks[task] : undefined;
  if (!fn || !input) {
    console.error(`usage: tasks.js <${Object.keys(tasks).join('|')}> <input.csv> [outDir]`);
    process.exit(2);
  }
  await rm(out, { recursive: true, force: true });
  await import('node:fs/promises').then((fs) => fs.mkdir(out, { recursive: true }));
  const bytes = (await stat(input)).size;
  const t0 = process.hrtime.bigint();
  const { records } = await fn(input, out);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const maxRssMiB = process.resourceUsage().maxRSS / 1024;
  await rm(out, { recursive: true, force: true });
  console.log(JSON.stringify({ task, seconds, bytes, records, maxRssMiB }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
