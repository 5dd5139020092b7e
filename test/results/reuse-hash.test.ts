/**
 * The request hash (src/records/request-hash.ts): the first 32 hex digits of the sha256 of a
 * record's modelInput bytes exactly as prepare writes them in its shard line. prepare takes it once
 * per record, in the fused path and the stage-by-stage path alike (workers' pieces and records made
 * on the main thread), and keeps it in the record's lineage line; every record's is checked here
 * against a sha256 of its shard line computed apart. collect copies it from the lineage into every
 * result and never hashes Bedrock's echo, which may come back in another key order, with other
 * escapes, or not at all; a retry run's lineage keeps the original record's; a run whose lineage
 * holds none gives results without one.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { quotaProfile } from '../../src/bedrock/quotas.js';
import { prepareRun, type PrepareRunOptions, type PrepareSummary } from '../../src/prepare.js';
import { recordRequest } from '../../src/records/request-hash.js';
import { collectRun } from '../../src/results/run.js';
import { loadSchema } from '../../src/schema/index.js';
import { adaptCalls, callStages, promptCalls } from '../../transforms/index.js';
import { thrownBatchError } from '../support/errors.js';
import { useTempDir } from '../support/temp.js';
import { MODEL, ROOT } from '../prepare/helpers.js';
import { claude, jsonLines } from './helpers.js';

const tmp = useTempDir('reuse-hash-');

/** The reference: sha256 of the bytes between `"modelInput":` and the line's closing `}`, computed apart. */
function expectedHash(line: Buffer): string {
  const at = line.indexOf('"modelInput":') + '"modelInput":'.length;
  expect(line.subarray(0, 13).toString('latin1')).toBe('{"recordId":"');
  expect(line[line.length - 1]).toBe(0x7d); // (the line without its newline)
  return createHash('sha256').update(line.subarray(at, line.length - 1)).digest('hex').slice(0, 32);
}

/** The lines of a file as bytes, without their newlines. */
async function byteLines(path: string): Promise<Buffer[]> {
  const bytes = await readFile(path);
  const out: Buffer[] = [];
  for (let start = 0; start < bytes.length; ) {
    const end = bytes.indexOf(0x0a, start);
    out.push(bytes.subarray(start, end));
    start = end + 1;
  }
  return out;
}

/** Every shard line of a prepared run beside its lineage line; expects the lineage's `request` to be its hash. Returns the records checked. */
async function checkRun(run: string): Promise<number> {
  let records = 0;
  for (const job of (await readdir(join(run, 'input'))).sort()) {
    for (const part of (await readdir(join(run, 'input', job))).sort()) {
      const shard = await byteLines(join(run, 'input', job, part));
      const lineage = await jsonLines(join(run, 'lineage', job, part));
      expect(lineage).toHaveLength(shard.length);
      shard.forEach((line, i) => {
        expect(lineage[i]!.recordId).toBe(JSON.parse(line.toString('utf8')).recordId);
        expect(lineage[i]!.request, `${job}/${part} line ${i + 1}`).toBe(expectedHash(line));
        expect(Object.keys(lineage[i]!).slice(0, 5)).toEqual(['recordId', 'key', 'file', 'line', 'request']);
        records++;
      });
    }
  }
  return records;
}

/** A CSV export whose transcripts hold what JSON escapes: quotes, backslashes, `/`, U+2028, U+0085, a tab, é, an emoji. */
async function hostileCsv(name: string, calls: number): Promise<string> {
  const path = join(tmp.dir, name);
  let csv = 'call_id,agent,transcript\n';
  for (let n = 1; n <= calls; n++) {
    const text = `Agent: hello ${n}, "quoted" / a\\b\u2028next\u0085line\ttab\nCustomer: naïve café 😀 ${'words '.repeat(n % 13)}`;
    csv += `call-${n},Agent ${n % 3},"${text.replace(/"/g, '""')}"\n`;
  }
  await writeFile(path, csv);
  return path;
}

const fixture = (path: string) => join(ROOT, 'fixtures', path);
const SMALL = { pieceBytes: 4096, quotas: quotaProfile('local', { maxRecordsPerFile: 40, maxRecordsPerJob: 120 }) } satisfies Partial<PrepareRunOptions>;

describe('recordRequest', () => {
  it('is sha256 of the modelInput bytes of a record line, from a string or its UTF-8 bytes, at any offset', () => {
    const line = `{"recordId":"ABCDEFGHIJK","modelInput":{"b":"café \\u2028 😀","a":[1,2]}}\n`;
    const h = createHash('sha256').update(Buffer.from('{"b":"café \\u2028 😀","a":[1,2]}')).digest('hex').slice(0, 32);
    expect(recordRequest(line)).toBe(h);
    expect(recordRequest(Buffer.from(line))).toBe(h);
    const padded = Buffer.from(`xyz${line}tail`);
    expect(recordRequest(padded, 3, 3 + Buffer.byteLength(line))).toBe(h);
    expect(recordRequest(`xyz${line}tail`, 3, 3 + line.length)).toBe(h);
    // the bytes as written: another key order is another request
    expect(recordRequest(`{"recordId":"ABCDEFGHIJK","modelInput":{"a":[1,2],"b":"café \\u2028 😀"}}\n`)).not.toBe(h);
  });

  it('a line not laid out as a record line is a bug of its writer: E_INTERNAL', () => {
    for (const bad of ['{"recordId":"ABCDEFGHIJ","modelInput":{}}\n', '{"recordId":"ABCDEFGHIJK","modelInput":{}}', '{"recordId":"ABCDEFGHIJK","input":{}}\n', '{"modelInput":{},"recordId":"ABCDEFGHIJK"}\n']) {
      expect(thrownBatchError(() => recordRequest(bad)).code, bad).toBe('E_INTERNAL');
      expect(thrownBatchError(() => recordRequest(Buffer.from(bad))).code, bad).toBe('E_INTERNAL');
    }
  });
});

describe('prepare takes it from the bytes it writes, into the lineage', () => {
  const cases: Array<[string, () => Promise<Partial<PrepareRunOptions> & { inputs: string[] }>, (s: PrepareSummary) => void]> = [
    ['fixtures/calls.csv, fused', async () => ({ inputs: [fixture('calls.csv')], stages: callStages({}), workers: 0, ...SMALL }), (s) => expect(s.parallel.fused).toBeGreaterThan(200)],
    ['fixtures/calls.csv, stage by stage', async () => ({ inputs: [fixture('calls.csv')], stages: callStages({}), workers: 0, fused: false, ...SMALL }), (s) => expect(s.parallel.fused).toBe(0)],
    ['fixtures/calls.jsonl, fused (decoded rows), 2 workers', async () => ({ inputs: [fixture('calls.jsonl')], stages: callStages({}), workers: 2, ...SMALL }), (s) => expect(s.parallel.fused).toBeGreaterThan(0)],
    ['escapes in every transcript, fused', async () => ({ inputs: [await hostileCsv('hostile.csv', 150)], stages: callStages({}), workers: 0, ...SMALL }), (s) => expect(s.parallel.fused).toBeGreaterThan(100)],
    ['escapes in every transcript, stage by stage', async () => ({ inputs: [await hostileCsv('hostile.csv', 150)], stages: callStages({}), workers: 0, fused: false, ...SMALL }), (s) => expect(s.parallel.fused).toBe(0)],
    [
      'a schema run (tool), fused',
      async () => ({ inputs: [fixture('calls.csv')], stages: callStages({}), workers: 0, ...SMALL, model: { modelId: MODEL, structured: { ...loadSchema('call-insights'), via: 'tool' as const } } }),
      (s) => expect(s.parallel.fused).toBeGreaterThan(200),
    ],
    [
      'a schema run (tool), stage by stage',
      async () => ({ inputs: [fixture('calls.csv')], stages: callStages({}), workers: 0, fused: false, ...SMALL, model: { modelId: MODEL, structured: { ...loadSchema('call-insights'), via: 'tool' as const } } }),
      (s) => expect(s.parallel.fused).toBe(0),
    ],
    ['adapt and prompt steps (records made on the main thread)', async () => ({ inputs: [await hostileCsv('hostile.csv', 60)], adapt: adaptCalls(), prompt: promptCalls({}), ...SMALL }), (s) => expect(s.parallel.pieces).toBe(0)],
  ];

  it.each(cases)('%s: every lineage line holds the hash of its shard line', async (_name, options, check) => {
    const out = join(tmp.dir, 'run');
    const s = await prepareRun({ out, model: { modelId: MODEL, maxTokens: 300 }, ...(await options()) });
    check(s);
    expect(s.written).toBeGreaterThan(10);
    expect(await checkRun(out)).toBe(s.written);
  });
});

/** `v` as JSON written otherwise than prepare wrote it: keys in reverse order at every depth, `/` as `\/`, non-ASCII as `\u` escapes. */
function rewritten(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(rewritten).join(', ')}]`;
  if (v !== null && typeof v === 'object') return `{${Object.entries(v).reverse().map(([k, x]) => `${JSON.stringify(k)}: ${rewritten(x)}`).join(', ')}}`;
  if (typeof v === 'string') return JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).replaceAll('/', '\\/');
  return JSON.stringify(v);
}

/**
 * What Bedrock would write for the run (one job folder per job, `manifest.json.out` in it), record i
 * of each shard answered by `line(i, recordId, modelInput)` (null: no line).
 */
async function writeOutputs(run: string, out: string, line: (i: number, recordId: string, modelInput: unknown) => string | null): Promise<void> {
  const prepared = JSON.parse(await readFile(join(run, 'prepared.json'), 'utf8')) as { jobs: { name: string; shards: { key: string }[] }[] };
  let i = 0;
  for (const job of prepared.jobs) {
    const dir = join(out, `job${job.name.replace(/\D/g, '')}`.padEnd(12, 'x'));
    await mkdir(dir, { recursive: true });
    for (const shard of job.shards) {
      const lines: string[] = [];
      for (const l of await jsonLines(join(run, shard.key))) {
        const text = line(i++, l.recordId as string, l.modelInput);
        if (text !== null) lines.push(text + '\n');
      }
      await writeFile(join(dir, `${shard.key.slice(shard.key.lastIndexOf('/') + 1)}.out`), lines.join(''));
    }
    await writeFile(join(dir, 'manifest.json.out'), '{}');
  }
}

/** recordId -> lineage line, over every lineage file of a run. */
async function lineageOf(run: string): Promise<Map<string, Record<string, unknown>>> {
  const out = new Map<string, Record<string, unknown>>();
  for (const job of await readdir(join(run, 'lineage'))) for (const part of await readdir(join(run, 'lineage', job))) for (const l of await jsonLines(join(run, 'lineage', job, part))) out.set(l.recordId as string, l);
  return out;
}

describe('collect copies it from the lineage, never from the echo', () => {
  it('every result carries its record\'s hash, whatever the echo; a retry run keeps the original; a lineage without one gives none', async () => {
    const run = join(tmp.dir, 'run');
    const p = await prepareRun({ inputs: [await hostileCsv('calls.csv', 80)], out: run, stages: callStages({}), workers: 0, ...SMALL, model: { modelId: MODEL, maxTokens: 300 } });
    expect(p.written).toBe(80);
    const lineage = await lineageOf(run);
    const answer = JSON.stringify(claude('fine').modelOutput);
    // 0: the echo as prepare wrote it, recordId first; 1: re-serialised (other key order, escapes), recordId last;
    // 2: no echo at all; 3: an error (429) echoing a re-serialised request; 4: no line (missing)
    const kinds = ['same', 'rewritten', 'none', 'error', 'missing'];
    const kindOf = new Map<string, string>();
    await writeOutputs(run, join(tmp.dir, 'out'), (i, id, input) => {
      const kind = kinds[i % kinds.length]!;
      kindOf.set(id, kind);
      if (kind === 'same') return `{"recordId":"${id}","modelInput":${JSON.stringify(input)},"modelOutput":${answer}}`;
      if (kind === 'rewritten') return `{"modelInput": ${rewritten(input)}, "modelOutput": ${answer}, "recordId": "${id}"}`;
      if (kind === 'none') return `{"recordId":"${id}","modelOutput":${answer}}`;
      if (kind === 'error') return `{"recordId":"${id}","modelInput":${rewritten(input)},"error":{"errorCode":429,"errorMessage":"Too many requests"}}`;
      return null;
    });
    const results = join(tmp.dir, 'results.jsonl');
    const r = await collectRun({ outputs: join(tmp.dir, 'out'), prepared: run, results });
    expect(r.collect).toMatchObject({ submitted: 80, succeeded: 48, failed: 16, missing: 16 });
    const rows = await jsonLines(results);
    expect(rows).toHaveLength(80);
    for (const row of rows) {
      const l = lineage.get(row.recordId as string)!;
      expect(l.request).toMatch(/^[0-9a-f]{32}$/);
      expect(row.request, `${kindOf.get(row.recordId as string)} ${row.status}`).toBe(l.request);
    }

    // the retry run: its lines hold the echo (errors) or the original shard's bytes (missing), its lineage the original's hash
    const retry = r.plan!.retry.uri!;
    expect(r.plan!.retry.records).toBe(32);
    const retried = await lineageOf(retry);
    let echoed = 0;
    for (const job of await readdir(join(retry, 'input'))) {
      for (const part of await readdir(join(retry, 'input', job))) {
        for (const line of await byteLines(join(retry, 'input', job, part))) {
          const id = JSON.parse(line.toString('utf8')).recordId as string;
          const l = retried.get(id)!;
          expect(l).toMatchObject({ attempt: 2, request: lineage.get(id)!.request });
          if (kindOf.get(id) === 'error') {
            // the re-serialised echo is what the retry sends: its bytes hash otherwise, and are not hashed again
            expect(expectedHash(line)).not.toBe(l.request);
            echoed++;
          } else expect(expectedHash(line)).toBe(l.request);
        }
      }
    }
    expect(echoed).toBe(16);

    // a run prepared before lineage held the hash: its results have none, and neither has its retry
    for (const job of await readdir(join(run, 'lineage'))) {
      for (const part of await readdir(join(run, 'lineage', job))) {
        const path = join(run, 'lineage', job, part);
        await writeFile(path, (await jsonLines(path)).map(({ request: _r, ...l }) => JSON.stringify(l) + '\n').join(''));
      }
    }
    const old = join(tmp.dir, 'old.jsonl');
    const o = await collectRun({ outputs: join(tmp.dir, 'out'), prepared: run, results: old });
    expect(o.collect).toMatchObject({ submitted: 80, succeeded: 48 });
    expect((await jsonLines(old)).filter((row) => 'request' in row)).toEqual([]);
    expect([...(await lineageOf(o.plan!.retry.uri!)).values()].filter((l) => 'request' in l)).toEqual([]);
  });
});
