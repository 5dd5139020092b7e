/**
 * `clean` on a local run taken through the real stages (prepare, submit on the embedded local
 * service, collect): exactly the run's transcript copies go (its shards at their prepared size,
 * their lineage, its jobs' outputs), every other file stays, the ledger records it, a second clean
 * finds nothing; a run not collected is refused with nothing removed; a dry run removes nothing;
 * links are not followed out of the run.
 */
import { mkdir, readFile, symlink, writeFile, appendFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Ledger } from '../../src/jobs/ledger.js';
import { cleanRun, type CleanSummary } from '../../src/run/clean.js';
import { useTempDir } from '../support/temp.js';
import { collect, collectedRun, localFiles, prepare, submit, TRANSCRIPT_WORDS, without, type Where } from './clean-helpers.js';

const tmp = useTempDir('clean-');

function where(dir: string, runName = 'batch'): Where {
  return { run: join(dir, runName), out: join(dir, 'out'), results: join(dir, 'results.jsonl'), scratch: dir };
}

/** The keys (relative to `dir`) of every file clean should remove for jobs `jobs` of a run at `<dir>/<run>`. */
function transcriptCopies(run: string, jobs: { job: string; jobId: string }[], shardsOf: (job: string) => string[]): string[] {
  return jobs.flatMap(({ job, jobId }) =>
    shardsOf(job).flatMap((part) => [`${run}/input/${job}/${part}`, `${run}/lineage/${job}/${part}`, `out/${jobId}/${part}.out`]).concat(`out/${jobId}/manifest.json.out`),
  );
}

async function ledgerEvents(run: string): Promise<string[]> {
  return (await readFile(join(run, 'ledger.jsonl'), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l).event as string);
}

describe('clean on a collected local run', () => {
  it("removes exactly the run's shards, lineage and job outputs; keeps everything else; says nothing is left the second time", async () => {
    const w = where(tmp.dir);
    const { jobs } = await collectedRun(w, 25, 10);
    expect(jobs).toHaveLength(3);
    // what the user adds afterwards: a note in a job's output folder and a file in input/
    const [first, second, third] = jobs;
    await writeFile(join(w.out, first!.jobId, 'notes.txt'), 'my own notes\n');
    await writeFile(join(w.run, 'input', 'mine.jsonl'), '{}\n');
    // a shard changed since prepare (another size): kept, and named
    await appendFile(join(w.run, 'input', second!.job, 'part-00002.jsonl'), '\n');

    const before = await localFiles(tmp.dir);
    const shardsOf = (job: string) => [...before.keys()].filter((k) => k.startsWith(`batch/input/${job}/`)).map((k) => k.slice(k.lastIndexOf('/') + 1));
    const gone = transcriptCopies('batch', jobs, shardsOf).filter((k) => k !== `batch/input/${second!.job}/part-00002.jsonl`);
    expect(gone.every((k) => before.has(k)), 'every file expected to go is there to start with').toBe(true);

    const s = await cleanRun({ run: w.run });
    // every file but those is as it was (the ledger grew by the `cleaned` event, checked below)
    const ledgerKey = 'batch/ledger.jsonl';
    expect(without(await localFiles(tmp.dir), [ledgerKey])).toEqual(without(before, [...gone, ledgerKey]));
    expect(s.removed).toMatchObject({ shards: { files: 2 }, lineage: { files: 3 }, outputs: { files: 6 }, 'on-demand': { files: 0 }, reused: { files: 0 } });
    const bytes = gone.reduce((n, k) => n + Number(before.get(k)), 0);
    expect(s.total).toEqual({ files: gone.length, bytes });
    expect(s.files.map((f) => f.uri).sort()).toEqual(gone.map((k) => join(tmp.dir, k)).sort());
    expect(s.nothingLeft).toBe(false);
    expect(s.failed).toEqual([]);
    // named, with why: the changed shard, the user's files; and what is always kept
    const kept = new Map(s.kept.map((k) => [k.uri, k.why]));
    expect(kept.get(join(w.run, 'input', second!.job, 'part-00002.jsonl'))).toMatch(/^changed since prepare: \d+ bytes, prepared.json says \d+$/);
    expect(kept.get(join(w.out, first!.jobId, 'notes.txt'))).toContain(`not an output of job ${first!.job}`);
    expect(kept.get(join(w.run, 'input', 'mine.jsonl'))).toContain('prepared.json does not list it');
    expect(kept.get(w.results)).toBe('the results');
    for (const k of ['ledger.jsonl', 'prepared.json', 'rejects.jsonl']) expect(kept.has(join(w.run, k)), k).toBe(true);
    expect(JSON.stringify(s)).not.toContain(TRANSCRIPT_WORDS);
    // the emptied folders went too; the folder holding the user's note stayed
    const after = await localFiles(tmp.dir);
    expect([...after.keys()].some((k) => k.startsWith(`out/${third!.jobId}/`))).toBe(false);
    expect(after.has(`out/${first!.jobId}/notes.txt`)).toBe(true);

    // recorded in the ledger
    const state = await Ledger.read(join(w.run, 'ledger.jsonl'));
    expect(state.cleaned).toMatchObject({ event: 'cleaned', removed: gone.length, bytes });
    expect(await readFile(join(w.run, 'ledger.jsonl'), 'utf8')).not.toContain(TRANSCRIPT_WORDS);
    const events = await ledgerEvents(w.run);

    // again: nothing left, nothing touched, nothing more recorded
    const again = await cleanRun({ run: w.run });
    expect(again.nothingLeft).toBe(true);
    expect(again.total).toEqual({ files: 0, bytes: 0 });
    expect(await localFiles(tmp.dir)).toEqual(after);
    expect(await ledgerEvents(w.run)).toEqual(events);
  });

  it('takes the --work location of `run` (its batch/ folder) as well as the run itself', async () => {
    const work = join(tmp.dir, 'work');
    const w: Where = { run: join(work, 'batch'), out: join(work, 'out'), results: join(work, 'results.jsonl'), scratch: tmp.dir };
    await mkdir(work, { recursive: true });
    await collectedRun(w, 12, 12);
    const s = await cleanRun({ run: work });
    expect(s.run).toBe(join(work, 'batch'));
    expect(s.removed).toMatchObject({ shards: { files: 1 }, lineage: { files: 1 }, outputs: { files: 2 } });
    const left = [...(await localFiles(work)).keys()].sort();
    expect(left).toEqual(['batch/dead-letter.jsonl', 'batch/ledger.jsonl', 'batch/local-service/jobs.json', 'batch/prepared.json', 'batch/rejects.jsonl', 'results.jsonl']);
  });

  it('with --dry-run lists what would go, with the bytes, and removes and records nothing', async () => {
    const w = where(tmp.dir);
    await collectedRun(w, 12, 6);
    const before = await localFiles(tmp.dir);
    const dry = await cleanRun({ run: w.run, dryRun: true });
    expect(dry.dryRun).toBe(true);
    expect(await localFiles(tmp.dir)).toEqual(before);
    expect((await Ledger.read(join(w.run, 'ledger.jsonl'))).cleaned).toBeUndefined();
    expect(dry.total.files).toBe(2 + 2 + 4);
    for (const f of dry.files) expect(before.get(f.uri.slice(tmp.dir.length + 1))).toBe(String(f.bytes));
    // what the dry run listed is what clean then removes
    const real = await cleanRun({ run: w.run });
    const sameFiles = (x: CleanSummary) => x.files.map((f) => `${f.kind} ${f.uri} ${f.bytes}`).sort();
    expect(sameFiles(real)).toEqual(sameFiles(dry));
  });
});

describe('clean refuses a run whose results are not collected', () => {
  it('not collected, never submitted, or results gone: E_NOT_COLLECTED and nothing removed; --force removes them anyway', async () => {
    const w = where(tmp.dir);
    await prepare(w, 12, 6);
    const prepared = await localFiles(tmp.dir);
    await expect(cleanRun({ run: w.run })).rejects.toMatchObject({ code: 'E_NOT_COLLECTED', message: expect.stringContaining('it has no ledger: it was never submitted') });

    await submit(w);
    const submitted = await localFiles(tmp.dir);
    const refused = cleanRun({ run: w.run, dryRun: true });
    await expect(refused).rejects.toMatchObject({ code: 'E_NOT_COLLECTED', message: expect.stringContaining('its ledger records no collect'), hint: expect.stringContaining('--force') });
    await expect(cleanRun({ run: w.run })).rejects.toMatchObject({ code: 'E_NOT_COLLECTED' });
    expect(await localFiles(tmp.dir)).toEqual(submitted);

    await collect(w);
    await rm(w.results);
    const collectedGone = await localFiles(tmp.dir);
    await expect(cleanRun({ run: w.run })).rejects.toMatchObject({ code: 'E_NOT_COLLECTED', message: expect.stringContaining(`its results file ${w.results} is not there`) });
    expect(await localFiles(tmp.dir)).toEqual(collectedGone);

    const forced = await cleanRun({ run: w.run, force: true });
    expect(forced.runs[0]).toMatchObject({ collected: false });
    expect(forced.removed).toMatchObject({ shards: { files: 2 }, lineage: { files: 2 }, outputs: { files: 4 } });
    expect([...prepared.keys()].filter((k) => k.startsWith('batch/input/') || k.startsWith('batch/lineage/'))).toHaveLength(4);
    expect([...(await localFiles(tmp.dir)).keys()].filter((k) => k.startsWith('batch/input/') || k.startsWith('batch/lineage/') || k.startsWith('out/'))).toEqual([]);
  });
});

describe('clean never follows a link out of the run', () => {
  it('leaves files reached through linked folders where they are, and names them', async () => {
    const w = where(tmp.dir);
    const { jobs } = await collectedRun(w, 12, 6);
    const [a, b] = jobs;
    // elsewhere: folders holding files named as the run's own
    const elsewhere = join(tmp.dir, 'elsewhere');
    await mkdir(join(elsewhere, 'outputs'), { recursive: true });
    await mkdir(join(elsewhere, 'lineage'), { recursive: true });
    await writeFile(join(elsewhere, 'outputs', 'part-00001.jsonl.out'), 'not the run\'s\n');
    await writeFile(join(elsewhere, 'outputs', 'manifest.json.out'), '{}\n');
    await writeFile(join(elsewhere, 'lineage', 'part-00002.jsonl'), 'not the run\'s\n');
    // job a's output folder and job b's lineage folder replaced by links to them
    await rm(join(w.out, a!.jobId), { recursive: true });
    await symlink(join(elsewhere, 'outputs'), join(w.out, a!.jobId));
    await rm(join(w.run, 'lineage', b!.job), { recursive: true });
    await symlink(join(elsewhere, 'lineage'), join(w.run, 'lineage', b!.job));
    // and job b's shard replaced by a link to a file elsewhere
    await writeFile(join(elsewhere, 'shard.jsonl'), 'not the run\'s\n');
    await rm(join(w.run, 'input', b!.job, 'part-00002.jsonl'));
    await symlink(join(elsewhere, 'shard.jsonl'), join(w.run, 'input', b!.job, 'part-00002.jsonl'));
    const outside = await localFiles(elsewhere);

    const s = await cleanRun({ run: w.run });
    expect(await localFiles(elsewhere)).toEqual(outside);
    const kept = new Map(s.kept.map((k) => [k.uri, k.why]));
    expect(kept.get(join(w.out, a!.jobId, 'part-00001.jsonl.out'))).toContain('symbolic link');
    expect(kept.get(join(w.out, a!.jobId, 'manifest.json.out'))).toContain('symbolic link');
    expect(kept.get(join(w.run, 'input', b!.job, 'part-00002.jsonl'))).toContain('symbolic link');
    expect(kept.get(join(w.run, 'lineage', b!.job, 'part-00002.jsonl'))).toContain('symbolic link');
    // the rest went: job a's shard and lineage, job b's outputs
    expect(s.removed).toMatchObject({ shards: { files: 1 }, lineage: { files: 1 }, outputs: { files: 2 } });
    expect((await localFiles(w.run)).get(`input/${b!.job}/part-00002.jsonl`)).toBe('-> link');
  });
});

describe('clean takes prepared.json for input too', () => {
  it('leaves a file prepared.json lists as a shard but that is not named as prepare names shards (the ledger, here)', async () => {
    const w = where(tmp.dir);
    await collectedRun(w, 12, 12);
    const file = JSON.parse(await readFile(join(w.run, 'prepared.json'), 'utf8'));
    const ledgerBytes = (await localFiles(w.run)).get('ledger.jsonl');
    file.jobs[0].shards[0].key = 'ledger.jsonl';
    file.jobs[0].shards[0].bytes = Number(ledgerBytes);
    await writeFile(join(w.run, 'prepared.json'), JSON.stringify(file));
    const s = await cleanRun({ run: w.run });
    expect(s.kept.filter((k) => k.uri === join(w.run, 'prepared.json')).map((k) => k.why)).toContainEqual(expect.stringContaining('not named as prepare names them'));
    expect(s.removed.shards.files).toBe(0);
    expect((await localFiles(w.run)).has('ledger.jsonl')).toBe(true);
    expect((await localFiles(w.run)).has('input/job-0001/part-00001.jsonl')).toBe(true);
  });
});

describe("what the on-demand path and --skip-answered leave in a run", () => {
  it('removes spooled answers of the run\'s job folders and reused.jsonl when prepared.json counts skipped calls; names anything else', async () => {
    const w = where(tmp.dir);
    await collectedRun(w, 12, 12);
    await mkdir(join(w.run, 'on-demand', 'job-0001'), { recursive: true });
    await mkdir(join(w.run, 'on-demand', 'job-0009'), { recursive: true });
    await writeFile(join(w.run, 'on-demand', 'job-0001', 'Abc123XYZ00.json'), '{"v":1}\n');
    await writeFile(join(w.run, 'on-demand', 'job-0009', 'Abc123XYZ01.json'), '{"v":1}\n');
    await writeFile(join(w.run, 'on-demand', 'job-0001', 'sub'), 'x');
    await writeFile(join(w.run, 'reused.jsonl'), '{"key":"k"}\n');

    // prepared.json counts no skipped calls: reused.jsonl is not this run's
    const first = await cleanRun({ run: w.run, dryRun: true });
    const kept = new Map(first.kept.map((k) => [k.uri, k.why]));
    expect(kept.get(join(w.run, 'reused.jsonl'))).toContain('counts no skipped calls');
    expect(kept.get(join(w.run, 'on-demand/job-0009/Abc123XYZ01.json'))).toContain('not an answer the on-demand path spooled');
    expect(first.files.filter((f) => f.kind === 'on-demand').map((f) => f.uri)).toEqual([join(w.run, 'on-demand/job-0001/Abc123XYZ00.json')]);

    const file = JSON.parse(await readFile(join(w.run, 'prepared.json'), 'utf8'));
    await writeFile(join(w.run, 'prepared.json'), JSON.stringify({ ...file, skipped: 1 }));
    const s = await cleanRun({ run: w.run });
    expect(s.removed).toMatchObject({ 'on-demand': { files: 1, bytes: 8 }, reused: { files: 1, bytes: 12 } });
    const left = [...(await localFiles(w.run)).keys()];
    expect(left).toContain('on-demand/job-0009/Abc123XYZ01.json');
    expect(left).toContain('on-demand/job-0001/sub');
    expect(left).not.toContain('reused.jsonl');
  });
});

describe('clean and retry runs', () => {
  it('keeps a retry run that is not collected (a pending retry needs it); --retry-files removes its shards and lineage', async () => {
    const w = where(tmp.dir);
    await collectedRun(w, 12, 6);
    // a retry run collect planned, never submitted: a prepared run of its own inside the run
    const retry: Where = { ...w, run: join(w.run, 'retry-2'), out: join(tmp.dir, 'out-retry'), results: join(tmp.dir, 'results-2.jsonl'), scratch: join(tmp.dir, 'r') };
    await mkdir(retry.scratch);
    await prepare(retry, 6, 6);
    const s = await cleanRun({ run: w.run });
    expect(s.runs.map((r) => r.run)).toEqual([w.run]);
    expect(s.kept.find((k) => k.uri === join(w.run, 'retry-2'))?.why).toContain('a pending retry needs its shards');
    const left = [...(await localFiles(w.run)).keys()];
    expect(left.filter((k) => k.startsWith('retry-2/input/') || k.startsWith('retry-2/lineage/'))).toHaveLength(2);

    const r = await cleanRun({ run: w.run, retryFiles: true });
    expect(r.runs.map((x) => [x.run, x.collected])).toEqual([[w.run, true], [join(w.run, 'retry-2'), false]]);
    expect(r.removed).toMatchObject({ shards: { files: 1 }, lineage: { files: 1 }, outputs: { files: 0 } });
    expect([...(await localFiles(w.run)).keys()].filter((k) => k.startsWith('retry-2/'))).toEqual(['retry-2/prepared.json', 'retry-2/rejects.jsonl']);
  });

  it('cleans a retry run that was collected too, with its own jobs\' outputs, and records it in its own ledger', async () => {
    const w = where(tmp.dir);
    await collectedRun(w, 12, 12);
    const retry: Where = { run: join(w.run, 'retry-2'), out: join(tmp.dir, 'out-retry'), results: join(tmp.dir, 'results-2.jsonl'), scratch: join(tmp.dir, 'r') };
    await mkdir(retry.scratch);
    await collectedRun(retry, 6, 6);
    const s = await cleanRun({ run: w.run });
    expect(s.runs.map((x) => [x.run, x.collected, x.removed.files])).toEqual([
      [w.run, true, 4],
      [retry.run, true, 4],
    ]);
    expect((await Ledger.read(join(retry.run, 'ledger.jsonl'))).cleaned).toMatchObject({ removed: 4 });
    expect(await localFiles(retry.out)).toEqual(new Map());
  });
});
