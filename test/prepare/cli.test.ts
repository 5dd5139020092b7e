/** `bedrock-batch prepare` end to end, through the built CLI, on the real samples and nasty inputs. */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { useTempDir } from '../support/temp.js';
import { callsCsv, cli, readRun, ROOT } from './helpers.js';

const tmp = useTempDir('prep-');

const fixture = (rel: string) => join(ROOT, 'fixtures', rel);

describe('prepare CLI', () => {
  it('prepares the sample export; --json prints the summary object on stdout', async () => {
    const out = join(tmp.dir, 'batch');
    const r = await cli(['prepare', fixture('calls.csv'), '--out', out, '--quotas', 'local', '--json']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ read: 283, written: 283, rejected: 0, submittable: true, quotas: 'local' });
    expect(s.shards).toEqual([{ uri: `${out}/input/job-0001/part-00001.jsonl`, records: 283, bytes: expect.any(Number) }]);
    expect(r.stderr).toMatch(/prepared 283 calls from 1 input/);
    const run = await readRun(out);
    const lines = run.shards.get('job-0001/part-00001.jsonl')!.split('\n').filter(Boolean);
    expect(lines).toHaveLength(283);
    const first = JSON.parse(lines[0]!);
    expect(Object.keys(first)).toEqual(['recordId', 'modelInput']);
    expect(first.recordId).toMatch(/^[A-Za-z0-9]{11}$/);
    expect(first.modelInput.anthropic_version).toBe('bedrock-2023-05-31');
    expect(first.modelInput.messages[0].content[0].text).toContain('<transcript>');
    expect(Buffer.byteLength(run.shards.get('job-0001/part-00001.jsonl')!)).toBe(s.shards[0].bytes);
    // lineage line for line, with the passthrough columns
    const lineage = run.lineage.get('job-0001/part-00001.jsonl')!.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(lineage.map((l) => l.recordId)).toEqual(lines.map((l) => JSON.parse(l).recordId));
    expect(lineage[0]).toMatchObject({ key: 'call-0000', file: fixture('calls.csv'), line: 2, agent: 'Alex Moreno', queue: 'promotions' });
  });

  it('reads stdin (-) in a shell pipe, detecting JSONL from the bytes', async () => {
    const out = join(tmp.dir, 'batch');
    const input = await readFile(fixture('calls.jsonl'));
    const r = await cli(['prepare', '-', '--out', out, '--quotas', 'local', '--json'], { input });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ read: 12, written: 12 });
    const lineage = (await readRun(out)).lineage.get('job-0001/part-00001.jsonl')!.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(lineage[0]).toMatchObject({ key: 'c-1050', file: '-', line: 1 });
  });

  it('gzip detected by magic bytes, whatever the name; the same calls give the same ids', async () => {
    const plain = join(tmp.dir, 'a');
    const zipped = join(tmp.dir, 'b');
    const gz = join(tmp.dir, 'calls.csv'); // gzip bytes under a .csv name
    await writeFile(gz, gzipSync(await readFile(fixture('calls.csv'))));
    const a = await cli(['prepare', fixture('calls.csv'), '--out', plain, '--quotas', 'local', '--id-namespace', 'demo', '-q']);
    const b = await cli(['prepare', gz, '--out', zipped, '--quotas', 'local', '--id-namespace', 'demo', '-q']);
    expect(a.code).toBe(0);
    expect(b.code).toBe(0);
    expect((await readRun(zipped)).shards).toEqual((await readRun(plain)).shards);
  });

  it('several inputs and a directory in one run; ids stay unique across them, and a call seen in two files is sent once', async () => {
    const out = join(tmp.dir, 'batch');
    const r = await cli(['prepare', fixture('transcribe'), fixture('contact-lens'), fixture('calls.jsonl'), '--out', out, '--quotas', 'local', '--json']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.read).toBe(s.written + s.rejected);
    expect(s.written).toBeGreaterThanOrEqual(12 + 3 + 2);
    const ids = [...(await readRun(out)).shards.values()].join('').split('\n').filter(Boolean).map((l) => JSON.parse(l).recordId);
    expect(new Set(ids).size).toBe(ids.length);
    // The samples hold the same calls twice: AWS's Transcribe examples share one job name, and the
    // Contact Lens chat comes original and redacted (one contact id): each is sent once.
    const rejects = (await readRun(out)).rejects.map((l) => JSON.parse(l));
    const dups = rejects.filter((x) => x.code === 'E_DUPLICATE_KEY');
    expect(dups.map((x) => x.key)).toEqual(expect.arrayContaining(['my-first-transcription-job', 'b49644f6-672f-445c-b209-f76b36482830']));
    expect(dups.find((x) => x.key === 'b49644f6-672f-445c-b209-f76b36482830')).toMatchObject({ file: fixture('contact-lens/chat-analyzed-redacted.json'), line: 1 });
    // ids unique only per file: --duplicates per-file sends them all
    const perFile = await cli(['prepare', fixture('transcribe'), fixture('contact-lens'), fixture('calls.jsonl'), '--out', join(tmp.dir, 'per-file'), '--quotas', 'local', '--json', '--duplicates', 'per-file']);
    expect(JSON.parse(perFile.stdout)).toMatchObject({ read: s.read, written: s.written + dups.length });
  });

  it('below the minimum records per job: exit 1 with a clear error and a hint, shards still written', async () => {
    const out = join(tmp.dir, 'batch');
    const r = await cli(['prepare', fixture('calls.csv'), '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/E_BELOW_MIN_RECORDS: 283 records in total, below the minimum of 1000 records per job \(quota profile default\)/);
    expect(r.stderr).toMatch(/hint: .*--quotas documented/);
  });

  it('rolls over at --max-records and rebalances the tail job up to --min-records', async () => {
    const out = join(tmp.dir, 'batch');
    const r = await cli(['prepare', fixture('calls.csv'), '--out', out, '--max-records', '100', '--max-job-records', '100', '--min-records', '90', '--json']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.jobs.map((j: { records: number }) => j.records)).toEqual([100, 93, 90]);
    expect(s.shards.reduce((n: number, x: { records: number }) => n + x.records, 0)).toBe(283);
  });

  it('bad rows go to the rejects file with file, line, key, code and reason, never the transcript', async () => {
    const secret = 'SECRET-TRANSCRIPT-' + 'x'.repeat(3000);
    const csv = [
      'call_id,transcript',
      'ok-1,"Agent: hello"',
      'empty,',
      `big,"Agent: ${secret}"`,
      'ok-1,"Agent: again"',
      'ok-2,"unterminated',
    ].join('\n');
    const file = join(tmp.dir, 'bad.csv');
    await writeFile(file, csv);
    const out = join(tmp.dir, 'batch');
    const r = await cli(['prepare', file, '--out', out, '--quotas', 'local', '--max-record-bytes', '2000', '--json']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ read: 5, written: 1, rejected: 4 });
    const rejects = (await readRun(out)).rejects.map((l) => JSON.parse(l));
    expect(rejects.map((x) => x.code).sort()).toEqual(['E_DUPLICATE_KEY', 'E_MISSING_TEXT', 'E_ROW_TOO_LARGE', 'E_UNTERMINATED_QUOTE']);
    for (const x of rejects) {
      expect(Object.keys(x)).toEqual(expect.arrayContaining(['file', 'line', 'stage', 'code', 'reason']));
      expect(x.file).toBe(file);
    }
    expect(rejects.find((x) => x.code === 'E_DUPLICATE_KEY')).toMatchObject({ key: 'ok-1', line: 5 });
    const text = (await readRun(out)).rejects.join('\n') + r.stdout + r.stderr;
    expect(text).not.toContain('SECRET-TRANSCRIPT');
  });

  it('--rejects puts the rejects file elsewhere, but never inside the folder jobs read', async () => {
    const file = join(tmp.dir, 'r.csv');
    await writeFile(file, 'call_id,transcript\na,"Agent: hi"\nb,\n');
    const out = join(tmp.dir, 'batch');
    const rejects = join(tmp.dir, 'elsewhere', 'bad.jsonl');
    const r = await cli(['prepare', file, '--out', out, '--quotas', 'local', '--rejects', rejects, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).rejects).toBe(rejects);
    expect(JSON.parse((await readFile(rejects, 'utf8')).trim())).toMatchObject({ line: 3, key: 'b', code: 'E_MISSING_TEXT' });
    const inside = await cli(['prepare', file, '--out', join(tmp.dir, 'b2'), '--quotas', 'local', '--rejects', join(tmp.dir, 'b2', 'input', 'x.jsonl')]);
    expect(inside.code).toBe(1);
    expect(inside.stderr).toMatch(/which jobs read/);
  });

  it('refuses to overwrite a prepared run without --overwrite; replaces it with', async () => {
    const out = join(tmp.dir, 'batch');
    const file = join(tmp.dir, 'c.csv');
    await writeFile(file, callsCsv(20));
    expect((await cli(['prepare', file, '--out', out, '--quotas', 'local', '-q'])).code).toBe(0);
    const again = await cli(['prepare', file, '--out', out, '--quotas', 'local', '-q']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already holds a prepared run/);
    expect(again.stderr).toMatch(/--overwrite/);
    expect((await cli(['prepare', file, '--out', out, '--quotas', 'local', '-q', '--overwrite'])).code).toBe(0);
  });

  it('errors are one line plus a hint, no stack trace unless --debug', async () => {
    const r = await cli(['prepare', join(tmp.dir, 'missing.csv'), '--out', join(tmp.dir, 'o')]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^bedrock-batch: error: E_READ: .*missing\.csv does not exist$/), expect.stringMatching(/^ {2}hint: /)]);
    const d = await cli(['prepare', join(tmp.dir, 'missing.csv'), '--out', join(tmp.dir, 'o'), '--debug']);
    expect(d.stderr).toMatch(/\n\s+at /);
  });

  it('other model families and Converse from --model / --invocation-type', async () => {
    const file = join(tmp.dir, 'c.csv');
    await writeFile(file, callsCsv(5));
    const shape = async (args: string[]) => {
      const out = join(tmp.dir, `o${Math.random()}`);
      const r = await cli(['prepare', file, '--out', out, '--quotas', 'local', '-q', ...args]);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse([...(await readRun(out)).shards.values()][0]!.split('\n')[0]!).modelInput;
    };
    expect(Object.keys(await shape(['--model', 'us.amazon.nova-lite-v1:0', '--max-tokens', '300']))).toEqual(expect.arrayContaining(['messages', 'inferenceConfig']));
    expect(await shape(['--model', 'meta.llama3-1-70b-instruct-v1:0'])).toMatchObject({ prompt: expect.stringContaining('<|begin_of_text|>') });
    expect(await shape(['--model', 'amazon.titan-text-express-v1'])).toMatchObject({ inputText: expect.any(String) });
    expect(await shape(['--model', 'mistral.mistral-7b-instruct-v0:2'])).toMatchObject({ prompt: expect.stringContaining('[INST]') });
    const conv = await shape(['--model', 'anthropic.claude-3-haiku-20240307-v1:0', '--invocation-type', 'Converse', '--system', 'Be brief.']);
    expect(conv).toMatchObject({ messages: [{ role: 'user', content: [{ text: expect.any(String) }] }], system: [{ text: 'Be brief.' }] });
  });
});
