/**
 * One measured task per child process, so each gets its own peak RSS:
 *   node dist/bench/tasks.js <task> <input> [out]
 * prints one JSON line {task, seconds, cpuSeconds, bytes, records, maxRssMiB}.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parse } from 'csv-parse';
import split2 from 'split2';
import { parser } from 'stream-json';
import { streamArray } from 'stream-json/streamers/stream-array.js';
import { tuneHeapForStreaming } from '../src/cli/heap.js';
import { LineSplitter, type LineHandler } from '../src/core/lines.js';
import { prepareRun } from '../src/prepare.js';
import { jsonItems } from '../src/read/json.js';
import { jsonlRows } from '../src/read/jsonl.js';
import { quotaProfile } from '../src/bedrock/quotas.js';
import { CALL_INSIGHTS_TEMPLATE, callStages, type CallStageOptions } from '../transforms/index.js';
import { loadSchema } from '../src/schema/index.js';
import type { StructuredRequest } from '../src/models/family.js';

type Task = (input: string, out: string) => Promise<{ records: number }>;

/** The naive script's record for a row: a Claude request around the transcript, one JSON.stringify. */
function naiveRecord(n: number, row: Record<string, string>): string {
  const body = {
    anthropic_version: 'bedrock-2023-05-31',
    max_tokens: 1024,
    messages: [{ role: 'user', content: [{ type: 'text', text: `Summarize the following call transcript:\n\n${row.transcript}` }] }],
  };
  return JSON.stringify({ recordId: String(n).padStart(11, '0'), modelInput: body }) + '\n';
}

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
          cb(null, naiveRecord(++records, row));
        },
      }),
      createWriteStream(`${out}/naive.jsonl`),
    );
    return { records };
  },
  /** Baseline for JSON Lines exports: the naive script: split2 -> JSON.parse -> JSON.stringify of a Claude record -> write. */
  async 'naive-jsonl'(input, out) {
    let records = 0;
    await pipeline(
      createReadStream(input, { highWaterMark: 1 << 20 }),
      split2(),
      new Transform({
        objectMode: true,
        transform(line: string, _e, cb) {
          if (line.length === 0) return cb();
          cb(null, naiveRecord(++records, JSON.parse(line) as Record<string, string>));
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
  /** prepare with `--redact` (every type): the redaction stage on every call, so no fused path. */
  async 'prepare-redact'(input, out) {
    tuneHeapForStreaming();
    return runPrepare(input, out, undefined, { redact: {} });
  },
  /** prepare with `--schema call-insights` (a forced tool in every record; the fused path still runs). */
  async 'prepare-schema'(input, out) {
    tuneHeapForStreaming();
    return runPrepare(input, out, undefined, {}, { ...loadSchema('call-insights'), via: 'tool' });
  },
  /** The toolkit's JSON Lines reader (src/read/jsonl.ts: the line splitter, JSON.parse per line), items counted. */
  async jsonl(input) {
    return { records: await countItems(input, jsonlRows({ file: input })) };
  },
  /** The line splitter alone (src/core/lines.ts), each line decoded to a string as the readers do. */
  async lines(input) {
    let records = 0;
    const splitter = new LineSplitter();
    const onLine: LineHandler = (buf, start, end) => {
      if (buf.toString('utf8', start, end).length > 0) records++;
    };
    for await (const chunk of createReadStream(input, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) splitter.push(chunk, onLine);
    splitter.end(onLine);
    return { records };
  },
  /** split2 on the same file, lines counted: what the splitter is measured against. */
  async split2(input) {
    let records = 0;
    await pipeline(
      createReadStream(input, { highWaterMark: 1 << 20 }),
      split2(),
      new Writable({ objectMode: true, highWaterMark: 64, write(line: string, _e, cb) { if (line.length > 0) records++; cb(); } }),
    );
    return { records };
  },
  /** The toolkit's JSON reader (src/read/json.ts), array elements counted. */
  async json(input) {
    return { records: await countItems(input, jsonItems({ file: input })) };
  },
  /** stream-json's parser() + streamArray() on the same file, elements counted: what the JSON reader is measured against. */
  async 'stream-json'(input) {
    let records = 0;
    await pipeline(
      createReadStream(input, { highWaterMark: 1 << 20 }),
      parser.asStream(),
      streamArray.asStream(),
      new Writable({ objectMode: true, highWaterMark: 64, write(_element, _e, cb) { records++; cb(); } }),
    );
    return { records };
  },
};

/** The items a toolkit decoder finds in a file; a reject is an error (the generated files have none). */
async function countItems(input: string, decoder: Transform): Promise<number> {
  let records = 0;
  await pipeline(
    createReadStream(input, { highWaterMark: 1 << 20 }),
    decoder,
    new Writable({
      objectMode: true,
      highWaterMark: 64,
      write(x: { kind: string; code?: string }, _e, cb) {
        if (x.kind === 'item') records++;
        cb(x.kind === 'item' ? null : new Error(`${input}: an unexpected ${x.code} reject`));
      },
    }),
  );
  return records;
}

async function runPrepare(input: string, out: string, workers: number | undefined, stages: CallStageOptions = {}, structured?: StructuredRequest): Promise<{ records: number }> {
  {
    const s = await prepareRun({
      inputs: [input],
      out,
      overwrite: true,
      stages: callStages(structured ? { ...stages, prompt: { template: CALL_INSIGHTS_TEMPLATE } } : stages),
      ...(workers !== undefined ? { workers } : {}),
      model: { modelId: 'anthropic.claude-3-haiku-20240307-v1:0', ...(structured ? { structured } : {}) },
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
  const cpu0 = process.cpuUsage();
  const { records } = await fn(input, out);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const maxRssMiB = process.resourceUsage().maxRSS / 1024;
  await rm(out, { recursive: true, force: true });
  console.log(JSON.stringify({ task, seconds, cpuSeconds, bytes, records, maxRssMiB }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
