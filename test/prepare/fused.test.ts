/**
 * The fused path (src/parallel/fused.ts) writes byte for byte what the stage-by-stage path of the
 * same commit writes. Every case prepares the same inputs twice with the same options, once as
 * prepare runs by default (the fused path takes the rows it can) and once with `fused: false` (every
 * record through the stages), and compares EVERY file under the two run folders: the shards, the
 * lineage, rejects.jsonl, and prepared.json (without what differs by nature: createdAt, seconds,
 * the parallel stats, and the run's own location). Inputs: the repository's fixtures, and seeded
 * hostile exports (test/support/random-exports.ts); a failure names the seed and what it held.
 *
 * `summary.parallel.fused` counts the records the fused path encoded: where the fused path must
 * apply (one call per CSV row, default options) it must be above 0, so the comparison is between two
 * different paths and not one path twice. FUSED_COVERAGE=1 prints each case's count.
 */
import { readFileSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { quotaProfile } from '../../src/bedrock/quotas.js';
import { prepareRun, type PrepareRunOptions, type PrepareSummary } from '../../src/prepare.js';
import { loadSchema } from '../../src/schema/index.js';
import { callStages, type CallStageOptions } from '../../transforms/index.js';
import { randomCsvExport, randomJsonlExport, type RandomExport } from '../support/random-exports.js';
import { useTempDir } from '../support/temp.js';
import { MODEL, ROOT } from './helpers.js';

const tmp = useTempDir('fused-');
const fixture = (path: string) => join(ROOT, 'fixtures', path);

/** Small pieces (many edges) and small shards (many files), unless a case says otherwise. */
const EDGY: Partial<PrepareRunOptions> = { pieceBytes: 4096, quotas: quotaProfile('local', { maxRecordsPerFile: 40, maxRecordsPerJob: 120 }) };

type Outcome = { summary: PrepareSummary; error?: undefined } | { summary?: undefined; error: { code?: string; message: string } };

async function settle(options: PrepareRunOptions): Promise<Outcome> {
  try {
    return { summary: await prepareRun(options) };
  } catch (e) {
    const error = e as { code?: string; message: string };
    return { error: { ...(error.code !== undefined ? { code: error.code } : {}), message: error.message } };
  }
}

/** Every file under `dir`, by its path inside it. */
async function filesUnder(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const walk = async (d: string): Promise<void> => {
    for (const entry of (await readdir(d, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) await walk(path);
      else out.set(relative(dir, path), await readFile(path));
    }
  };
  await walk(dir);
  return out;
}

/** prepared.json without what differs between two runs by nature: when, how fast, how (parallel stats), and where. */
function comparablePrepared(bytes: Buffer, dir: string): string {
  const file = JSON.parse(bytes.toString('utf8').split(dir).join('<out>')) as Record<string, unknown>;
  delete file.createdAt;
  delete file.seconds;
  delete file.parallel;
  return JSON.stringify(file, null, 1);
}

/** Random record ids differ from run to run by design: masked (same length, so shard sizes still compare). */
const maskIds = (text: string) => text.replace(/"recordId":"[A-Za-z0-9]{11}"/g, '"recordId":"<random-id->"');

/** Where two byte strings first differ, with the line around it on each side. */
function firstDifference(a: Buffer, b: Buffer): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  const lineStart = a.lastIndexOf(0x0a, i - 1) + 1;
  const lineNo = a.subarray(0, lineStart).filter((x) => x === 0x0a).length + 1;
  const show = (x: Buffer) => {
    const end = x.indexOf(0x0a, i);
    const line = x.subarray(lineStart, end < 0 ? x.length : end).toString('utf8');
    const at = Buffer.byteLength(a.subarray(lineStart, i).toString('utf8'));
    return JSON.stringify(line.length > 400 ? `…${line.slice(Math.max(0, at - 150), at + 250)}…` : line);
  };
  return `sizes ${a.length} vs ${b.length}; first difference at byte ${i} (line ${lineNo})\n    fused:  ${show(a)}\n    staged: ${show(b)}`;
}

interface Pair {
  fused: PrepareSummary;
  staged: PrepareSummary;
}

/**
 * Prepare `inputs` fused (the default) and with `fused: false`, otherwise alike, and expect every file
 * of the two runs to be the same bytes (`randomIds`: but for the record ids). Both may fail, with the
 * same error. `label` goes into every failure message (the seed and what the export held).
 */
async function differential(label: string, inputs: string[], extra: Partial<PrepareRunOptions> = {}, opts: { randomIds?: boolean } = {}): Promise<Pair | undefined> {
  const base = (name: string): PrepareRunOptions => ({
    inputs,
    out: join(tmp.dir, name),
    stages: callStages({}),
    model: { modelId: MODEL },
    ...extra,
  });
  const fusedDir = join(tmp.dir, 'run-fused');
  const stagedDir = join(tmp.dir, 'run-staged');
  const fused = await settle(base('run-fused'));
  const staged = await settle({ ...base('run-staged'), fused: false });
  if (fused.error || staged.error) {
    expect(fused.error, `${label}: the fused run failed and the staged did not, or the other way round, or with another error`).toEqual(staged.error);
    return undefined;
  }
  const [a, b] = await Promise.all([filesUnder(fusedDir), filesUnder(stagedDir)]);
  expect([...a.keys()], `${label}: the two runs wrote different files`).toEqual([...b.keys()]);
  const differences: string[] = [];
  for (const [path, fusedBytes] of a) {
    let x = fusedBytes;
    let y = b.get(path)!;
    if (path === 'prepared.json') {
      x = Buffer.from(comparablePrepared(x, fusedDir));
      y = Buffer.from(comparablePrepared(y, stagedDir));
    } else if (opts.randomIds) {
      x = Buffer.from(maskIds(x.toString('utf8')));
      y = Buffer.from(maskIds(y.toString('utf8')));
    }
    if (!x.equals(y)) differences.push(`${path}: ${firstDifference(x, y)}`);
  }
  expect(differences.length, `${label}: files differ between the fused and the staged run:\n  ${differences.join('\n  ')}\n`).toBe(0);
  expect(staged.summary.parallel.fused, `${label}: the staged run must encode nothing fused`).toBe(0);
  if (process.env.FUSED_COVERAGE) {
    const s = fused.summary;
    console.log(`fused coverage: ${label}: ${s.parallel.fused} fused, ${s.written} written, rejects ${JSON.stringify(s.rejectsByCode)}`);
  }
  return { fused: fused.summary, staged: staged.summary };
}

/** The export written to the temp folder, and a label naming its seed and traits. */
async function exportFile(x: RandomExport, seed: number): Promise<{ path: string; label: string }> {
  const path = join(tmp.dir, x.name);
  await writeFile(path, x.bytes);
  return { path, label: `seed ${seed} (${x.name}, ${x.bytes.length} bytes; ${x.traits.join(', ')})` };
}

describe('fused prepare = stage-by-stage prepare, byte for byte: the fixtures', () => {
  it('fixtures/calls.csv with default options: every record past the head takes the fused path, the staged run none', async () => {
    const r = (await differential('fixtures/calls.csv, default options', [fixture('calls.csv')]))!;
    expect(r.fused.written).toBeGreaterThan(250);
    expect(r.fused.rejected).toBe(0);
    // The file's first 64 KiB (its head) is decoded through the stages on the main thread until the
    // format is pinned (src/parallel/engine.ts): about 13 of calls.csv's calls. Every other is fused.
    const head = readFileSync(fixture('calls.csv')).subarray(0, 64 * 1024).toString('latin1').split('\ncall-').length;
    expect(r.fused.parallel.fused).toBeGreaterThanOrEqual(r.fused.written - head);
    expect(r.fused.parallel.fused).toBeLessThan(r.fused.written);
    expect(r.staged.parallel.fused).toBe(0);
  });

  for (const workers of [0, 2]) {
    it(`fixtures/calls.csv, ${workers} workers, 4 KiB pieces: the fused path takes rows`, async () => {
      const r = (await differential(`fixtures/calls.csv, workers ${workers}`, [fixture('calls.csv')], { ...EDGY, workers }))!;
      expect(r.fused.parallel.fused).toBeGreaterThan(0);
      expect(r.fused.shards.length).toBeGreaterThan(5);
    });
  }

  for (const [file, workers] of [
    ['calls.jsonl', 2],
    ['calls.jsonl', 0],
    ['utterances.csv', 2],
    ['utterances.csv', 0],
  ] as const) {
    it(`fixtures/${file}, ${workers} workers, 4 KiB pieces`, async () => {
      const r = (await differential(`fixtures/${file}, workers ${workers}`, [fixture(file)], { ...EDGY, workers }))!;
      expect(r.fused.written).toBeGreaterThan(5);
    });
  }

  it.each([
    'transcribe/diarization-output-batch.json',
    'transcribe/channel-id-output-batch.json',
    'contact-lens/chat-analyzed-redacted.json',
    'microsoft/sample_processed_data.first3.json',
    'chat-datasets/abcd_sample.json',
    'chat-datasets/taskmaster-sample.json',
    'text/609.txt',
  ])('fixtures/%s (another adapter)', async (file) => {
    const r = (await differential(`fixtures/${file}`, [fixture(file)], EDGY))!;
    expect(r.fused.written).toBeGreaterThan(0);
  });

  it.each([['auto'], [['queue', 'file', 'line']]] satisfies Array<['auto' | string[]]>)(
    'passthrough columns named like lineage fields (line, file, _line, recordId), passthrough %j: renamed as the stages rename them',
    async (passthrough) => {
      const path = join(tmp.dir, 'reserved.csv');
      const rows = ['call_id,line,_line,file,recordId,queue,transcript'];
      for (let i = 0; i < 120; i++) rows.push(`C${i},${i % 7},x${i},f.wav,${i},q${i % 3},"Agent: hello ${i}, ""quoted"" — ok\nCustomer: fine"`);
      await writeFile(path, rows.join('\n') + '\n');
      const r = (await differential(`reserved column names, passthrough ${JSON.stringify(passthrough)}`, [path], { ...EDGY, workers: 2, stages: callStages({ adapt: { passthrough } }) }))!;
      expect(r.fused.parallel.fused).toBeGreaterThan(60);
    },
  );

  it('several inputs in one run (CSV, JSONL, utterances, a document): ids and duplicates across files', async () => {
    const inputs = ['calls.csv', 'calls.jsonl', 'utterances.csv', 'transcribe/diarization-output-batch.json', 'calls.csv'].map(fixture);
    const r = (await differential('several fixtures', inputs, { ...EDGY, workers: 2 }))!;
    // the second calls.csv repeats every call id of the first
    expect(r.fused.rejectsByCode.E_DUPLICATE_KEY).toBeGreaterThan(250);
  });
});

describe('fused prepare = stage-by-stage prepare, byte for byte: random exports', () => {
  /** Seeds whose CSV is one call per row (the fused path's case), and how many of them it encoded rows of. */
  const callSeeds = { runs: 0, fused: 0 };

  for (let seed = 1; seed <= 32; seed++) {
    it(`random CSV export, seed ${seed}`, async () => {
      const x = randomCsvExport(seed);
      const { path, label } = await exportFile(x, seed);
      // odd seeds on one thread, even ones on two workers: 4 KiB pieces either way
      const workers = seed % 2 ? 0 : 2;
      const r = await differential(`${label}, workers ${workers}`, [path], { ...EDGY, workers });
      if (r && !x.utterances) {
        callSeeds.runs++;
        if (r.fused.parallel.fused > 0) callSeeds.fused++;
      }
    });
  }

  it('the random CSV exports of one call per row did go through the fused path', () => {
    expect(callSeeds.runs).toBeGreaterThan(15);
    // not every seed (a bad quote early on sends the rest of a file to the stages), but most
    expect(callSeeds.fused, `${callSeeds.fused} of ${callSeeds.runs} one-call-per-row seeds had records encoded fused`).toBeGreaterThan(callSeeds.runs / 2);
  });

  for (let seed = 101; seed <= 112; seed++) {
    it(`random JSONL export, seed ${seed}`, async () => {
      const x = randomJsonlExport(seed);
      const { path, label } = await exportFile(x, seed);
      const workers = seed % 2 ? 0 : 2;
      await differential(`${label}, workers ${workers}`, [path], { ...EDGY, workers });
    });
  }
});

describe('fused prepare = stage-by-stage prepare, byte for byte: options', () => {
  /** Beside the fixture, a hostile one-call-per-row export with no bad quote (so it is read in pieces to
   * the end) and plain extra columns (agent, for the template's placeholder). */
  const shape = { utterances: false, calls: 150, extras: ['agent', 'queue', 'started_at', 'Région'] };
  const hostileSeed = (() => {
    for (let seed = 1000; ; seed++) if (!randomCsvExport(seed, shape).traits.includes('bad-quote')) return seed;
  })();

  async function variant(name: string, extra: Partial<PrepareRunOptions>, opts: { randomIds?: boolean } = {}) {
    const x = randomCsvExport(hostileSeed, shape);
    const { path, label } = await exportFile(x, hostileSeed);
    return (await differential(`${name}; inputs fixtures/calls.csv and ${label}`, [fixture('calls.csv'), path], { ...EDGY, workers: 2, ...extra }, opts))!;
  }
  const stages = (o: CallStageOptions) => ({ stages: callStages(o) });

  it.each([
    ['passthrough auto', { adapt: { passthrough: 'auto' } }],
    ['passthrough *', { adapt: { passthrough: '*' } }],
    ['passthrough none', { adapt: { passthrough: 'none' } }],
    ['passthrough list', { adapt: { passthrough: ['queue', 'agent', 'missing', '2024'] } }],
  ] as const)('%s', async (name, options) => {
    await variant(name, stages(options as CallStageOptions));
  });

  it('a custom template with {{key}} and a passthrough placeholder', async () => {
    const template = 'Call {{ key }} handled by {{agent}}:\n\n{{transcript}}\n\n"Summarise" it — briefly\\.';
    const r = await variant('custom template', stages({ adapt: { passthrough: '*' }, prompt: { template } }));
    expect(r.fused.written).toBeGreaterThan(350);
  });

  it('a template that puts the transcript in twice, and a transcript first', async () => {
    const template = '{{transcript}}\n\n---\nThe same call again, to summarise:\n{{transcript}}';
    const r = await variant('transcript twice', stages({ prompt: { template } }));
    expect(r.fused.parallel.fused).toBeGreaterThan(300);
  });

  it('a system prompt', async () => {
    await variant('system prompt', stages({ prompt: { system: 'You are a "careful" analyst.\nUse plain text — no Markdown.\u2028' } }));
  });

  it.each([
    ['amazon.nova-lite-v1:0'],
    ['meta.llama3-1-8b-instruct-v1:0'],
    ['mistral.mistral-small-2402-v1:0'],
  ])('model %s', async (modelId) => {
    await variant(`model ${modelId}`, { model: { modelId } });
  });

  it('Converse with a Claude model', async () => {
    await variant('Converse', { model: { modelId: MODEL, invocationType: 'Converse' } });
  });

  it.each([
    ['anthropic.claude-haiku-4-5-20251001-v1:0', undefined, 'native'],
    [MODEL, undefined, 'tool'],
    [MODEL, undefined, 'prompt'],
    ['amazon.nova-lite-v1:0', undefined, 'tool'],
    ['anthropic.claude-sonnet-4-5-20250929-v1:0', 'Converse', 'native'],
    [MODEL, 'Converse', 'prompt'],
  ] as const)('a schema run: %s %s asking the %s way', async (modelId, invocationType, via) => {
    const structured = { ...loadSchema('call-insights'), via };
    const r = await variant(`schema ${via}`, { model: { modelId, ...(invocationType ? { invocationType } : {}), structured } });
    expect(r.fused.parallel.fused).toBeGreaterThan(300);
  });

  it('--fit truncate: rows over the budget go to the stages, which truncate them; the rest stay fused', async () => {
    const r = await variant('fit truncate', stages({ prompt: { fit: { mode: 'truncate', budgetTokens: 900 } } }));
    expect(r.fused.truncated).toBeGreaterThan(10);
    expect(r.fused.parallel.fused).toBeGreaterThan(100);
  });

  it('maxTokens, temperature and topP', async () => {
    await variant('maxTokens', { model: { modelId: MODEL, maxTokens: 1234, temperature: 0.1 + 0.2, topP: 0.9 } });
  });

  it('a small record quota: rows and records too large', async () => {
    const quotas = quotaProfile('local', { maxRecordsPerFile: 40, maxRecordBytes: 4000 });
    const r = await variant('maxRecordBytes 4000', { quotas, ...stages({ adapt: { maxCallBytes: 4000 } }) });
    expect(r.fused.rejectsByCode.E_ROW_TOO_LARGE).toBeGreaterThan(0);
    expect(r.fused.rejectsByCode.E_RECORD_TOO_LARGE).toBeGreaterThan(0);
  });

  it('a small call quota: calls too large', async () => {
    const r = await variant('maxCallBytes 1500', stages({ adapt: { maxCallBytes: 1500 } }));
    expect(r.fused.rejectsByCode.E_CALL_TOO_LARGE).toBeGreaterThan(0);
  });

  it('random ids: everything but the ids is the same', async () => {
    const r = await variant('random ids', { ids: { mode: 'random' } }, { randomIds: true });
    expect(r.fused.written).toBe(r.staged.written);
    expect(r.fused.written).toBeGreaterThan(350);
  });
});
