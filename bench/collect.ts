/**
 * node dist/bench/collect.js [--sizes 1,3] [--tasks baseline,parse,collect]
 *
 * Generates seeded Bedrock job outputs of the given sizes in GB (fractions allowed: `--sizes 0.2`;
 * cached in bench/.data/collect-<size>gb/) the way Bedrock writes them: a prepared run
 * (prepared.json, input shards and lineage sidecars) and its job folders,
 * `<jobId>/part-NNNNN.jsonl.out`, with `manifest.json.out`. Every output line echoes its record's
 * real modelInput (the Claude Messages body prepare builds: the call-summary template around a
 * 6-12 KB transcript, ~9 KB on average) and answers with a 150-400 word summary and its usage, or
 * (~1%) with an error whose errorCode is a number or a string; lines come back out of input order.
 * Files are shard-sized, as Bedrock writes them (one output file per input file of at most 50,000
 * records and 200 MB: the default quota profile), so what collect holds in memory is one shard's
 * lineage, whatever the run's size.
 *
 * Then each task runs in its own child process (peak RSS from process.resourceUsage()):
 *   baseline  a bare `\n` split (Buffer indexOf) + JSON.parse of every line, over the same files
 *   parse     collectResults() iterated: the line reader, the join, normalised results
 *   collect   collectRun(): the same plus the JSONL results file, the retry run and dead letters
 * and prints collect's speed against the baseline's, its peak RSS, and how much that peak grows
 * from the smallest size to the largest, each next to its target.
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from '../src/core/random.js';
import { anthropic } from '../src/models/anthropic.js';
import { collectResults } from '../src/results/collect.js';
import { collectRun } from '../src/results/run.js';
import { recordRequest } from '../src/records/request-hash.js';
import { CALL_SUMMARY_TEMPLATE } from '../transforms/prompts/call-summary.js';
import { against, arg, dataDir, num, pad, runChild, type Row } from './driver.js';

/** Bumped whenever the generated data changes shape: a cached run of another version is made again. */
const DATA_VERSION = 3;
const RECORDS_PER_FILE = 50_000;
/** Bedrock's limit is on the input file; the output file (echo + answer) is bigger. */
const MAX_INPUT_FILE_BYTES = 200_000_000;
const FILES_PER_JOB = 5;
const MODEL = 'anthropic.claude-3-haiku-20240307-v1:0';
/** Peak RSS targets (issue 12): at most this at every size, and at most this much growth from the smallest size to the largest. */
const RSS_TARGET_MIB = 150;
const RSS_GROWTH_TARGET_MIB = 15;
const SPEED_TARGET = 1.5;

const AGENT = [
  'Thank you for calling Oktank support, my name is {a}. How can I help you today?',
  'I understand, and I am sorry for the trouble. Let me pull up your account.',
  'Could you confirm the email address on the account, please?',
  'I see the order here. It shipped on the 14th, but the carrier marked it "delayed, address issue".',
  'I can issue a replacement at no cost, or refund the full amount to your card. Which would you prefer?',
  'Done. You will get a confirmation email within the hour, with the tracking number.',
  'I have escalated this to our billing team; they will call you back within 2 business days.',
  'For security, I have sent a one-time code to the phone number on file. Could you read it to me?',
  'Your plan renews on the 1st, and the new rate of $49.99 applies from then.',
  'Let me check with my supervisor, one moment please. [hold music] Thanks for waiting.',
  'Is there anything else I can help you with today?',
];
const CUSTOMER = [
  'Hi, I am calling because my order never arrived, and it has been two weeks.',
  'Sure, it is {e}.',
  'That is frustrating, to be honest. I needed it for my daughter\'s birthday, which was on Saturday.',
  'I was charged twice for the same order, once on the 3rd and again on the 5th.',
  'Okay, thank you, that is really helpful. ¿Puede enviarme la factura también?',
  'I would like to cancel, unless there is a cheaper plan — the price went up again.',
  'The app keeps saying "session expired" when I try to log in, even after resetting my password.',
  'A replacement, please, but can you make sure it ships express this time?',
  'Um, yes. Yeah. I mean — the path it shows is C:\\Users\\me\\Downloads, if that matters.',
  'No, that is all. Thanks for sorting it out so quickly.',
];
const SUMMARY = [
  'The customer called because {r}.',
  'The agent, {a}, verified the account with a one-time code and reviewed the order history.',
  'The agent confirmed that the order shipped on the 14th but was held by the carrier with an "address issue" flag.',
  'The customer had been charged twice, on the 3rd and on the 5th, and asked for the duplicate charge to be reversed.',
  'The agent offered a free replacement with express shipping or a full refund to the original card.',
  'The customer chose the replacement and asked for the invoice to be sent by email as well.',
  'The agent escalated the billing question to the billing team, who will call back within two business days.',
  'The customer mentioned that the new rate of $49.99 from the 1st was the main reason for wanting to cancel.',
  'The agent explained the cheaper plans and applied a retention discount for the next three months.',
  'The login problem ("session expired") was traced to an old app version; updating the app fixed it during the call.',
  'Next steps: the warehouse ships the replacement today, and the agent owns the follow-up if tracking does not update within 48 hours.',
  'Next steps: billing owns the refund of the duplicate charge; the customer will see it in 5-7 business days.',
  'The customer was frustrated at the start, mostly about the delay and having to call again.',
  'The customer\'s sentiment improved once the refund was confirmed, and they thanked the agent at the end of the call.',
  'The sentiment stayed neutral throughout; the customer was brief and asked for written confirmation.',
  'The customer spoke partly in Spanish ("¿Puede enviarme la factura?"), and the agent confirmed the request in English.',
];
const REASONS = ['an order that never arrived', 'a double charge', 'a login problem', 'cancelling the plan', 'a price increase'];
const ERRORS: readonly { errorCode: number | string; errorMessage: string }[] = [
  { errorCode: 400, errorMessage: 'Malformed input request: #/messages/0/content: expected minimum item count: 1, found: 0, please reformat your input and try again.' },
  { errorCode: 429, errorMessage: 'Too many requests, please wait before trying again.' },
  { errorCode: 500, errorMessage: 'The system encountered an unexpected error during processing. Try your request again.' },
  { errorCode: '400', errorMessage: 'Input is too long for requested model.' },
  { errorCode: 'ModelErrorException', errorMessage: 'The model returned an error: "Overloaded". Try your request again.' },
];
const AGENTS = ['Ana Souza', 'Ben Okafor', 'Chen Wei', 'Dana Kowalski', 'Eli Haddad', 'Farah Nasser'];
const QUEUES = ['billing', 'orders', 'tech-support', 'retention', 'general'];
const B62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

interface Generated {
  version: number;
  run: string;
  out: string;
  bytes: number;
  records: number;
  errors: number;
  files: string[];
}

async function writeAll(w: WriteStream, text: string): Promise<void> {
  if (!w.write(text)) await once(w, 'drain');
}

async function close(w: WriteStream): Promise<void> {
  w.end();
  await once(w, 'close');
}

const dirOf = (size: string) => join(dataDir, `collect-${size}gb`);

/** A seeded run of about `size` GB of output, in dirOf(size) (kept when it exists at this DATA_VERSION). */
async function generate(size: string, seed: number): Promise<Generated> {
  const bytes = Number(size) * 1e9;
  const base = dirOf(size);
  const run = join(base, 'run');
  const out = join(base, 'out');
  const done = join(base, 'done.json');
  try {
    const g = JSON.parse(await readFile(done, 'utf8')) as Generated;
    if (g.version === DATA_VERSION) return g;
  } catch {}
  await rm(base, { recursive: true, force: true });
  const rand = mulberry32(seed);
  const pick = <T>(a: readonly T[]) => a[Math.floor(rand() * a.length)]!;
  let written = 0;
  let records = 0;
  let allErrors = 0;
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
    await mkdir(join(run, 'input', jobName), { recursive: true });
    for (let f = 0; f < FILES_PER_JOB && written < bytes; f++) {
      const name = `part-${String(++fileNo).padStart(5, '0')}.jsonl`;
      const lines: string[] = [];
      const lineage = createWriteStream(join(run, 'lineage', jobName, name));
      const input = createWriteStream(join(run, 'input', jobName, name));
      let fileBytes = 0;
      let inputBytes = 0;
      let lineageBatch: string[] = [];
      let inputBatch: string[] = [];
      while (lines.length < RECORDS_PER_FILE && inputBytes < MAX_INPUT_FILE_BYTES - 20_000 && written + fileBytes < bytes) {
        let id = '';
        for (let k = 0; k < 11; k++) id += B62[Math.floor(rand() * 62)];
        const agent = pick(AGENTS);
        const first = agent.split(' ')[0]!;
        const target = 6000 + Math.floor(rand() * 6000);
        let transcript = '';
        for (let t = 0; transcript.length < target; t++) {
          if (t > 0) transcript += '\n';
          transcript += t % 2 === 0 ? `Agent: ${pick(AGENT).replace('{a}', first)}` : `Customer: ${pick(CUSTOMER).replace('{e}', `user${records}@example.com`)}`;
        }
        const prompt = CALL_SUMMARY_TEMPLATE.replace('{{transcript}}', () => transcript);
        const modelInput = JSON.stringify(anthropic.buildInput({ prompt }, { modelId: MODEL, maxTokens: 1024, temperature: 0.2 }));
        const inputLine = `{"recordId":"${id}","modelInput":${modelInput}}\n`;
        inputBytes += Buffer.byteLength(inputLine);
        inputBatch.push(inputLine);
        let tail: string;
        if (rand() < 0.01) {
          tail = `"error":${JSON.stringify(pick(ERRORS))}`;
          errors++;
        } else {
          const it = Math.round(prompt.length / 3.8);
          const words = 150 + Math.floor(rand() * 250);
          let summary = '';
          let n = 0;
          while (n < words) {
            const s = pick(SUMMARY).replace('{r}', pick(REASONS)).replace('{a}', agent);
            summary += (summary ? (rand() < 0.25 ? (rand() < 0.1 ? '\u2028' : '\n\n') : ' ') : '') + s;
            n += s.split(' ').length;
          }
          const ot = Math.round(n * 1.3);
          inTok += it;
          outTok += ot;
          success++;
          tail = `"modelOutput":${JSON.stringify({ id: `msg_bdrk_01${id}${id}`, type: 'message', role: 'assistant', model: 'claude-3-haiku-20240307', content: [{ type: 'text', text: summary }], stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: it, output_tokens: ot } })}`;
        }
        const line = `{"recordId":"${id}","modelInput":${modelInput},${tail}}\n`;
        lines.push(line);
        fileBytes += Buffer.byteLength(line);
        // the request hash prepare takes into the lineage, from the record line as the shard holds it
        const request = recordRequest(`{"recordId":"${id}","modelInput":${modelInput}}`);
        lineageBatch.push(JSON.stringify({ recordId: id, key: `C${String(records).padStart(9, '0')}`, file: 'calls.csv', line: records * 90 + 2, request, agent, queue: QUEUES[records % QUEUES.length] }) + '\n');
        records++;
        if (lineageBatch.length >= 500) {
          await writeAll(lineage, lineageBatch.join(''));
          await writeAll(input, inputBatch.join(''));
          lineageBatch = [];
          inputBatch = [];
        }
      }
      await writeAll(lineage, lineageBatch.join(''));
      await writeAll(input, inputBatch.join(''));
      await close(lineage);
      await close(input);
      // outputs come back out of input order: blocks of 1,000 lines, the last block first, each shuffled
      const output = createWriteStream(join(out, jobId, `${name}.out`));
      for (let end = lines.length; end > 0; end -= 1000) {
        const block = lines.slice(Math.max(0, end - 1000), end);
        for (let j = block.length - 1; j > 0; j--) {
          const k = Math.floor(rand() * (j + 1));
          [block[j], block[k]] = [block[k]!, block[j]!];
        }
        await writeAll(output, block.join(''));
      }
      await close(output);
      files.push(join(out, jobId, `${name}.out`));
      shards.push({ key: `input/${jobName}/${name}`, uri: join(run, 'input', jobName, name), lineage: `lineage/${jobName}/${name}`, records: lines.length, bytes: inputBytes });
      jobRecords += lines.length;
      written += fileBytes;
    }
    allErrors += errors;
    await writeFile(join(out, jobId, 'manifest.json.out'), JSON.stringify({ totalRecordCount: jobRecords, processedRecordCount: jobRecords, successRecordCount: success, errorRecordCount: errors, inputTokenCount: inTok, outputTokenCount: outTok }));
    jobs.push({ name: jobName, prefix: `input/${jobName}/`, uri: join(run, 'input', jobName), records: jobRecords, bytes: 0, shards });
  }
  await writeFile(
    join(run, 'prepared.json'),
    JSON.stringify({ version: 1, state: 'prepared', written: records, jobs, model: { modelId: MODEL, family: 'anthropic', invocationType: 'InvokeModel' }, note: 'bench data' }, null, 2),
  );
  const g: Generated = { version: DATA_VERSION, run, out, bytes: written, records, errors: allErrors, files };
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
    // every record joined: each line answered its record, the errors went to the retry run with their modelInput
    if (c.submitted !== g.records || c.failed !== g.errors || c.succeeded + c.failed !== c.submitted || c.missing !== 0 || c.badLineCount !== 0) {
      throw new Error(`collect: counts do not reconcile: ${JSON.stringify({ submitted: c.submitted, succeeded: c.succeeded, failed: c.failed, missing: c.missing, bad: c.badLineCount })}, generated ${g.records} with ${g.errors} errors`);
    }
    if (r.results.records !== g.records) throw new Error(`collect: ${r.results.records} results written, expected ${g.records}`);
    if (r.plan && r.plan.retry.records + r.plan.deadLetter.records !== g.errors) throw new Error('collect: the retry plan lost records');
    return c.submitted;
  },
};

async function child(task: string, size: string): Promise<void> {
  const g = JSON.parse(await readFile(join(dirOf(size), 'done.json'), 'utf8')) as Generated;
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

function runTask(task: string, size: string): Row {
  return runChild(fileURLToPath(import.meta.url), ['--child', task, '--size', size]);
}

async function main(): Promise<void> {
  const childTask = arg('child', '');
  if (childTask) return child(childTask, arg('size', '1'));
  // sizes stay as typed (`0.2`), so that the folder a size is generated in is the one its tasks read
  const sizes = arg('sizes', '1,3').split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const s of sizes) if (!(Number(s) > 0)) throw new Error(`--sizes: ${JSON.stringify(s)} is not a positive number of GB`);
  const wanted = arg('tasks', 'baseline,parse,collect').split(',');
  for (const t of wanted) if (!Object.hasOwn(tasks, t)) throw new Error(`--tasks: ${t} is not one of ${Object.keys(tasks).join(', ')}`);
  console.log(`bedrock-batch collect bench — node ${process.version}, ${cpus().length} cores`);
  const peaks: { size: string; rss: number }[] = [];
  for (const size of sizes) {
    process.stdout.write(`\ngenerating ${size} GB of job outputs in ${dirOf(size)} ... `);
    const g = await generate(size, 42 + Math.round(Number(size) * 1000));
    const jobs = new Set(g.files.map((f) => dirname(f))).size;
    console.log(`${(g.bytes / 1e9).toFixed(2)} GB, ${g.records.toLocaleString('en-US')} records (${g.errors} errors), ${(g.bytes / g.records / 1024).toFixed(1)} KiB a line, ${g.files.length} files in ${jobs} job folders`);
    console.log(`${pad('task', 10)} ${'seconds'.padStart(9)} ${'MB/s'.padStart(9)} ${'records/s'.padStart(9)} ${'peakRSS MiB'.padStart(12)} ${'cpu s'.padStart(7)}  speed vs baseline (wall, cpu)`);
    const rows: Row[] = [];
    for (const task of wanted) {
      const r = runTask(task, size);
      rows.push(r);
      const base = rows.find((x) => x.task === 'baseline');
      const ratio = base && r.task !== 'baseline' ? `${(base.seconds / r.seconds).toFixed(2)}x, ${(base.cpuSeconds / r.cpuSeconds).toFixed(2)}x` : '';
      console.log(`${pad(task, 10)} ${num(r.seconds)} ${num(r.bytes / r.seconds / 1e6)} ${num(r.records / r.seconds, 0)} ${num(r.maxRssMiB).padStart(12)} ${r.cpuSeconds.toFixed(1).padStart(7)}  ${ratio}`);
    }
    const base = rows.find((x) => x.task === 'baseline');
    const collect = rows.find((x) => x.task === 'collect');
    if (collect) {
      if (base) console.log(`collect speed vs baseline at ${size} GB: ${against(base.seconds / collect.seconds, SPEED_TARGET)} (cpu: ${(base.cpuSeconds / collect.cpuSeconds).toFixed(2)}x)`);
      console.log(`collect peak RSS at ${size} GB: ${against(collect.maxRssMiB, RSS_TARGET_MIB, ' MiB', true)}`);
      peaks.push({ size, rss: collect.maxRssMiB });
    }
  }
  if (peaks.length > 1) {
    const small = peaks.reduce((a, b) => (Number(b.size) < Number(a.size) ? b : a));
    const large = peaks.reduce((a, b) => (Number(b.size) > Number(a.size) ? b : a));
    console.log(`\ncollect peak RSS growth ${small.size} GB -> ${large.size} GB: ${against(large.rss - small.rss, RSS_GROWTH_TARGET_MIB, ' MiB', true)}`);
  }
  console.log(`\ntargets (issue 12): collect >= ${SPEED_TARGET}x the baseline's speed, peak RSS <= ${RSS_TARGET_MIB} MiB at every size, growing <= ${RSS_GROWTH_TARGET_MIB} MiB from 1 GB to 3 GB (the spread of repeated runs at one size); others may share the machine: run twice`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
