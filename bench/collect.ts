/**
 * node dist/bench/collect.js [--sizes 1,3] [--tasks baseline,parse,collect]
 *
 * Generates seeded Bedrock job outputs of the given sizes in GB (cached in bench/.data/): a prepared
 * run (prepared.json and lineage sidecars) and its job folders, `<jobId>/part-NNNNN.jsonl.out`
 * (Claude Messages lines echoing a ~4 KB call transcript, 1% error lines, out of input order) with
 * `manifest.json.out`. Files are shard-sized, as Bedrock writes them (one output file per input
 * file of at most 50,000 records and 200 MB: the default quota profile), so a 3 GB run is 15 files
 * in 3 job folders: what collect holds in memory is one shard's lineage, whatever the run's size.
 *
 * Then each task runs in its own child process (peak RSS from process.resourceUsage()):
 *   baseline  a bare `\n` split (Buffer indexOf) + JSON.parse of every line, over the same files
 *   parse     collectResults() iterated: the fast line reader, the join, normalised results
 *   collect   collectRun(): the same plus the JSONL results file, the retry run and dead letters
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from '../src/core/random.js';
import { collectResults } from '../src/results/collect.js';
import { collectRun } from '../src/results/run.js';
import { arg, dataDir, num, pad, runChild, type Row } from './driver.js';

const RECORDS_PER_FILE = 46_000;
const MAX_FILE_BYTES = 200_000_000;
const FILES_PER_JOB = 5;
const MODEL = 'anthropic.claude-3-haiku-20240307-v1:0';

const AGENT = [
  'Thank you for calling Oktank support, my name is {a}. How can I help you today?',
  'I understand, and I am sorry for the trouble. Let me pull up your account.',
  'I see the order here. It shipped on the 14th, but the carrier marked it "delayed, address issue".',
  'I can issue a replacement at no cost, or refund the full amount to your card. Which would you prefer?',
  'I have escalated this to our billing team; they will call you back within 2 business days.',
  'Your plan renews on the 1st, and the new rate of $49.99 applies from then.',
];
const CUSTOMER = [
  'Hi, I am calling because my order never arrived, and it has been two weeks.',
  'That is frustrating, to be honest. I needed it for my daughter\'s birthday, which was on Saturday.',
  'I was charged twice for the same order, once on the 3rd and again on the 5th.',
  'Okay, thank you, that is really helpful. ¿Puede enviarme la factura también?',
  'I would like to cancel, unless there is a cheaper plan — the price went up again.',
  'The app keeps saying "session expired" when I try to log in, even after resetting my password.',
];
const AGENTS = ['Ana Souza', 'Ben Okafor', 'Chen Wei', 'Dana Kowalski', 'Eli Haddad', 'Farah Nasser'];
const QUEUES = ['billing', 'orders', 'tech-support', 'retention', 'general'];
const B62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

interface Generated {
  run: string;
  out: string;
  bytes: number;
  records: number;
  files: string[];
}

async function writeAll(w: WriteStream, text: string): Promise<void> {
  if (!w.write(text)) await once(w, 'drain');
}

async function close(w: WriteStream): Promise<void> {
  w.end();
  await once(w, 'close');
}

/** A seeded run of about `bytes` bytes of output (skipped when it exists). */
async function generate(bytes: number, seed: number): Promise<Generated> {
  const base = join(dataDir, `collect-${Math.round(bytes / 1e9)}gb`);
  const run = join(base, 'run');
  const out = join(base, 'out');
  const done = join(base, 'done.json');
  try {
    return JSON.parse(await readFile(done, 'utf8')) as Generated;
  } catch {}
  await rm(base, { recursive: true, force: true });
  const rand = mulberry32(seed);
  const pick = <T>(a: readonly T[]) => a[Math.floor(rand() * a.length)]!;
  let written = 0;
  let records = 0;
  let fileNo = 0;
  const jobs: unknown[] = [];
  const files: string[] = [];
  while (written < bytes) {
    const jobNo = jobs.length + 1;
    const jobName = `job-${String(jobNo).padStart(4, '0')}`;
    const jobId = `bench${String(jobNo).padStart(3, '0')}abcd`;
    const shards: unknown[] = [];
    let jobRecords = 0;
    let success = 0;
    let errors = 0;
    let inTok = 0;
    let outTok = 0;
    await mkdir(join(out, jobId), { recursive: true });
    await mkdir(join(run, 'lineage', jobName), { recursive: true });
    for (let f = 0; f < FILES_PER_JOB && written < bytes; f++) {
      const name = `part-${String(++fileNo).padStart(5, '0')}.jsonl`;
      const lines: string[] = [];
      const lineage = createWriteStream(join(run, 'lineage', jobName, name));
      let fileBytes = 0;
      let inputBytes = 0;
      let lineageBatch: string[] = [];
      while (lines.length < RECORDS_PER_FILE && fileBytes < MAX_FILE_BYTES - 10_000 && written + fileBytes < bytes) {
        let id = '';
        for (let k = 0; k < 11; k++) id += B62[Math.floor(rand() * 62)];
        const agent = pick(AGENTS);
        const turns: string[] = [];
        for (let t = 14 + Math.floor(rand() * 30); t > 0; t--) {
          turns.push(t % 2 ? `Agent: ${pick(AGENT).replace('{a}', agent.split(' ')[0]!)}` : `Customer: ${pick(CUSTOMER)}`);
        }
        const modelInput = JSON.stringify({
          anthropic_version: 'bedrock-2023-05-31',
          max_tokens: 1024,
          messages: [{ role: 'user', content: [{ type: 'text', text: `Summarize the following call transcript:\n\n<transcript>\n${turns.join('\n')}\n</transcript>` }] }],
        });
        inputBytes += Buffer.byteLength(`{"recordId":"${id}","modelInput":${modelInput}}\n`);
        let tail: string;
        if (rand() < 0.01) {
          const code = pick([400, 429, '500', 'ThrottlingException'] as const);
          tail = `"error":${JSON.stringify({ errorCode: code, errorMessage: 'the service could not answer' })}`;
          errors++;
        } else {
          const it = 900 + Math.floor(rand() * 900);
          const ot = 60 + Math.floor(rand() * 80);
          inTok += it;
          outTok += ot;
          success++;
          const summary = `The customer called about ${pick(['a late order', 'a double charge', 'a login problem', 'cancelling the plan'])}. ${pick(AGENT)} Outcome: ${pick(['resolved', 'escalated', 'refund issued'])}.\u2028Sentiment: ${pick(['neutral', 'positive', 'negative'])}.`;
          tail = `"modelOutput":${JSON.stringify({ id: `msg_bdrk_${id}`, type: 'message', role: 'assistant', model: 'claude-3-haiku-20240307', content: [{ type: 'text', text: summary }], stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: it, output_tokens: ot } }).replace('\\u2028', '\u2028')}`;
        }
        const line = `{"recordId":"${id}","modelInput":${modelInput},${tail}}\n`;
        lines.push(line);
        fileBytes += Buffer.byteLength(line);
        lineageBatch.push(JSON.stringify({ recordId: id, key: `C${String(records).padStart(9, '0')}`, file: 'calls.csv', line: records * 40 + 2, agent, queue: QUEUES[records % QUEUES.length] }) + '\n');
        records++;
        if (lineageBatch.length >= 2000) {
          await writeAll(lineage, lineageBatch.join(''));
          lineageBatch = [];
        }
      }
      await writeAll(lineage, lineageBatch.join(''));
      await close(lineage);
      // outputs come back out of input order: blocks of 1,000 lines, in reverse
      const output = createWriteStream(join(out, jobId, `${name}.out`));
      for (let end = lines.length; end > 0; end -= 1000) await writeAll(output, lines.slice(Math.max(0, end - 1000), end).join(''));
      await close(output);
      files.push(join(out, jobId, `${name}.out`));
      shards.push({ key: `input/${jobName}/${name}`, uri: join(run, 'input', jobName, name), lineage: `lineage/${jobName}/${name}`, records: lines.length, bytes: inputBytes });
      jobRecords += lines.length;
      written += fileBytes;
    }
    await writeFile(join(out, jobId, 'manifest.json.out'), JSON.stringify({ totalRecordCount: jobRecords, processedRecordCount: jobRecords, successRecordCount: success, errorRecordCount: errors, inputTokenCount: inTok, outputTokenCount: outTok }));
    jobs.push({ name: jobName, prefix: `input/${jobName}/`, uri: join(run, 'input', jobName), records: jobRecords, bytes: 0, shards });
  }
  await writeFile(
    join(run, 'prepared.json'),
    JSON.stringify({ version: 1, written: records, jobs, model: { modelId: MODEL, family: 'anthropic', invocationType: 'InvokeModel' }, note: 'bench data: input shards are not written (every record has an output line)' }, null, 2),
  );
  const g: Generated = { run, out, bytes: written, records, files };
  await writeFile(done, JSON.stringify(g));
  return g;
}

type Task = (g: Generated, scratch: string) => Promise<number>;

const tasks: Record<string, Task> = {
  async baseline(g) {
    let records = 0;
    for (const file of g.files) {
      let carry: Buffer | undefined;
      for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
        let buf = chunk;
        if (carry) {
          buf = Buffer.concat([carry, chunk]);
          carry = undefined;
        }
        let start = 0;
        for (;;) {
          const nl = buf.indexOf(10, start);
          if (nl < 0) break;
          const o = JSON.parse(buf.toString('utf8', start, nl)) as { recordId: string };
          if (o.recordId) records++;
          start = nl + 1;
        }
        if (start < buf.length) carry = buf.subarray(start);
      }
    }
    return records;
  },
  async parse(g) {
    let records = 0;
    const c = collectResults({ outputs: g.out, prepared: g.run, retryInputs: false, ledger: false });
    for await (const batch of c.batches()) records += batch.length;
    if (c.summary.submitted !== g.records) throw new Error(`parse: ${c.summary.submitted} records, expected ${g.records}`);
    return records;
  },
  async collect(g, scratch) {
    const r = await collectRun({
      outputs: g.out,
      prepared: g.run,
      results: join(scratch, 'results.jsonl'),
      retry: join(scratch, 'retry'),
      deadLetter: join(scratch, 'dead-letter.jsonl'),
      ledger: false,
    });
    const c = r.collect;
    if (c.submitted !== g.records || c.succeeded + c.failed + c.missing !== c.submitted) throw new Error('collect: counts do not reconcile');
    if (c.fullLines > 0) throw new Error(`collect: ${c.fullLines} lines fell back to the full parse`);
    return c.submitted;
  },
};

async function child(task: string, size: string): Promise<void> {
  const g = JSON.parse(await readFile(join(dataDir, `collect-${size}gb`, 'done.json'), 'utf8')) as Generated;
  const scratch = join(dataDir, `collect-scratch-${task}`);
  await rm(scratch, { recursive: true, force: true });
  await mkdir(scratch, { recursive: true });
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  const records = await tasks[task]!(g, scratch);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const maxRssMiB = process.resourceUsage().maxRSS / 1024;
  await rm(scratch, { recursive: true, force: true });
  const row: Row = { task, seconds, cpuSeconds, bytes: g.bytes, records, maxRssMiB };
  console.log(JSON.stringify(row));
}

function runTask(task: string, size: number): Row {
  return runChild(fileURLToPath(import.meta.url), ['--child', task, '--size', String(size)]);
}

async function main(): Promise<void> {
  const childTask = arg('child', '');
  if (childTask) return child(childTask, arg('size', '1'));
  const sizes = arg('sizes', '1,3').split(',').map(Number);
  const wanted = arg('tasks', 'baseline,parse,collect').split(',');
  console.log(`bedrock-batch collect bench — node ${process.version}, ${cpus().length} cores`);
  for (const gb of sizes) {
    process.stdout.write(`\ngenerating ${gb} GB of job outputs in ${join(dataDir, `collect-${gb}gb`)} ... `);
    const g = await generate(gb * 1e9, 42 + gb);
    const jobs = new Set(g.files.map((f) => dirname(f))).size;
    console.log(`${(g.bytes / 1e9).toFixed(2)} GB, ${g.records.toLocaleString('en-US')} records, ${g.files.length} files in ${jobs} job folders`);
    console.log(`${pad('task', 10)} ${'seconds'.padStart(9)} ${'MB/s'.padStart(9)} ${'records/s'.padStart(9)} ${'peakRSS MiB'.padStart(12)} ${'cpu s'.padStart(7)}  vs baseline (wall, cpu)`);
    const rows: Row[] = [];
    for (const task of wanted) {
      const r = runTask(task, gb);
      rows.push(r);
      const base = rows.find((x) => x.task === 'baseline');
      const ratio = base && r.task !== 'baseline' ? `${((base.seconds / r.seconds) * 100).toFixed(0)}%, ${((base.cpuSeconds / r.cpuSeconds) * 100).toFixed(0)}%` : '';
      console.log(`${pad(task, 10)} ${num(r.seconds)} ${num(r.bytes / r.seconds / 1e6)} ${num(r.records / r.seconds, 0)} ${num(r.maxRssMiB).padStart(12)} ${r.cpuSeconds.toFixed(1).padStart(7)}  ${ratio}`);
    }
  }
  console.log('\ntargets: collect >= 70% of the baseline\'s speed, peak RSS <= 150 MiB, flat from 1 GB to 3 GB');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
