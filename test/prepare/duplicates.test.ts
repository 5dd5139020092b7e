/**
 * Nothing merged, nothing paid twice (through the built CLI, on the worker threads and on one):
 * call ids kept exactly as written, a repeated call rejected wherever it repeats (the same export
 * given twice, overlapping daily files, adjacent rows of a one-call-per-row export), and every file
 * of an input folder read, links included, or a clear error.
 */
import { copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTempDir } from '../support/temp.js';
import { callsCsv, cli, readRun, ROOT } from './helpers.js';

const tmp = useTempDir('dups-');

const CALLS = join(ROOT, 'fixtures', 'calls.csv'); // 283 calls, 1.4 MB: cut into pieces for the workers

async function prepare(args: string[], out = join(tmp.dir, `out-${Math.random().toString(36).slice(2)}`)) {
  const r = await cli(['prepare', ...args, '--out', out, '--quotas', 'local', '--json']);
  const files = r.code === 0 ? await readRun(out) : undefined;
  const lineage = files ? [...files.lineage.values()].join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) : [];
  const rejects = files ? files.rejects.map((l) => JSON.parse(l) as Record<string, unknown>) : [];
  return { ...r, summary: r.code === 0 ? (JSON.parse(r.stdout) as Record<string, number>) : undefined, lineage, rejects, files };
}

describe('the same call twice in one run', () => {
  it('the same export given twice: each call once, the copy rejected naming both file:line places; --duplicates per-file keeps both', async () => {
    const copy = join(tmp.dir, 'calls-copy.csv');
    await copyFile(CALLS, copy);
    for (const workers of ['2', '0']) {
      const r = await prepare([CALLS, copy, '--workers', workers]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.summary).toMatchObject({ read: 566, written: 283, rejected: 283, rejectsByCode: { E_DUPLICATE_KEY: 283 } });
      expect(new Set(r.lineage.map((l) => l.file))).toEqual(new Set([CALLS]));
      const first = r.rejects.find((x) => x.key === 'call-0000')!;
      expect(first).toMatchObject({ file: copy, line: 2, stage: 'ids', code: 'E_DUPLICATE_KEY' });
      expect(first.reason).toMatch(new RegExp(`"call-0000" was already seen at ${CALLS.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} line 2; the first is kept`));
    }
    const perFile = await prepare([CALLS, copy, '--duplicates', 'per-file']);
    expect(perFile.summary).toMatchObject({ read: 566, written: 566, rejected: 0 });
    const ids = perFile.lineage.map((l) => l.recordId);
    expect(new Set(ids).size).toBe(566);
    const refused = await cli(['prepare', CALLS, '--out', join(tmp.dir, 'x'), '--duplicates', 'per-file', '--id-namespace', 'n']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/E_BAD_OPTION: --duplicates per-file cannot go with --id-namespace/);
  });

  it('two overlapping daily files (JSONL): the overlap is rejected once per repeated call, the rest written', async () => {
    const line = (i: number) => JSON.stringify({ contact_id: `c-${i}`, transcript: `Agent: call ${i}. Customer: thanks.` });
    const day1 = join(tmp.dir, '2026-01-05.jsonl');
    const day2 = join(tmp.dir, '2026-01-06.jsonl');
    await writeFile(day1, Array.from({ length: 30 }, (_, i) => line(i)).join('\n') + '\n');
    await writeFile(day2, Array.from({ length: 30 }, (_, i) => line(i + 20)).join('\n') + '\n');
    const r = await prepare([day1, day2]);
    expect(r.summary).toMatchObject({ read: 60, written: 50, rejected: 10 });
    expect(r.rejects.map((x) => `${x.key}@${x.line}`)).toEqual(Array.from({ length: 10 }, (_, i) => `c-${20 + i}@${i + 1}`));
    expect(r.rejects[0]!.reason).toMatch(/already seen at .*2026-01-05\.jsonl line 21/);
  });

  it('one call per row: two adjacent rows with the same id are not merged: the second is E_DUPLICATE_KEY naming both lines, on the workers too', async () => {
    // callsCsv rows are multi-line; repeat the id of every 50th row in the row after it
    const rows = callsCsv(3500, 7).split(/\n(?=C\d+,)/);
    let text = rows[0]!;
    const dups: number[] = [];
    for (let i = 1; i < rows.length; i++) {
      let row = rows[i]!;
      if (i % 50 === 0) {
        row = row.replace(/^C\d+,/, `C${i - 2},`); // the id of the row before
        dups.push(i);
      }
      text += '\n' + row;
    }
    const file = join(tmp.dir, 'calls.csv');
    await writeFile(file, text);
    expect(Buffer.byteLength(text)).toBeGreaterThan(1 << 20); // several pieces
    for (const workers of ['2', '0']) {
      const r = await prepare([file, '--workers', workers]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.summary).toMatchObject({ read: 3500, written: 3500 - dups.length, rejected: dups.length, rejectsByCode: { E_DUPLICATE_KEY: dups.length } });
      const byKey = new Map(r.lineage.map((l) => [l.key, l]));
      for (const x of r.rejects) {
        expect(x.reason).toMatch(new RegExp(`"${String(x.key)}" was already seen at line ${(byKey.get(x.key)!.line as number)}; the first is kept`));
        expect(x.line as number).toBeGreaterThan(byKey.get(x.key)!.line as number);
      }
      // the first row's columns are the call's, and its prompt holds only its own transcript
      expect(byKey.get('C48')).toMatchObject({ agent: 'Agent 6', queue: 'q0' });
    }
    // the same file with a speaker column is an utterance export: adjacent rows are one call
    const utter = join(tmp.dir, 'utter.csv');
    await writeFile(utter, 'call_id,speaker,text\nA,Agent,hello\nA,Customer,hi\nB,Agent,yes\n');
    expect((await prepare([utter])).summary).toMatchObject({ read: 2, written: 2, rejected: 0 });
    expect((await prepare([utter, '--rows', 'calls'])).summary).toMatchObject({ read: 3, written: 2, rejected: 1 });
    const plain = join(tmp.dir, 'plain.csv');
    await writeFile(plain, 'call_id,text\nA,hello\nA,hi\nB,yes\n');
    expect((await prepare([plain, '--rows', 'utterances'])).summary).toMatchObject({ read: 2, written: 2, rejected: 0 });
  });
});

describe('call ids exactly as written', () => {
  it('numeric ids above 2^53 stay two calls: JSONL (across pieces, on the workers), JSON arrays and one-call JSON files', async () => {
    const filler = 'Agent: hello, how can I help? Customer: my order is late. '.repeat(40);
    const lines: string[] = [];
    for (let i = 0; i < 600; i++) lines.push(JSON.stringify({ contact_id: `c-${i}`, transcript: `${filler} ${i}` }));
    // big numeric ids after the first piece, and 1.0 next to 1
    lines.push(`{"contact_id": 12345678901234567891, "transcript": "first call"}`);
    lines.push(`{"contact_id": 12345678901234567892, "transcript": "second call"}`);
    lines.push(`{"contact_id": 1.0, "transcript": "one point oh"}`, `{"contact_id": 1, "transcript": "one"}`, `{"contact_id": 1e3, "transcript": "a thousand"}`);
    const jsonl = join(tmp.dir, 'calls.jsonl');
    await writeFile(jsonl, lines.join('\n') + '\n');
    expect(lines.join('\n').length).toBeGreaterThan(1 << 20);
    await writeFile(join(tmp.dir, 'array.json'), `[{"call_id": 98765432109876543210, "transcript": "x"}, {"call_id": 98765432109876543211, "transcript": "y"}]`);
    await mkdir(join(tmp.dir, 'docs'));
    await writeFile(join(tmp.dir, 'docs', 'a.json'), `{"call_id": 55555555555555555555, "transcript": "doc a"}`);
    await writeFile(join(tmp.dir, 'docs', 'b.json'), `{"call_id": 55555555555555555556, "transcript": "doc b"}`);
    for (const workers of ['2', '0']) {
      const r = await prepare([jsonl, join(tmp.dir, 'array.json'), join(tmp.dir, 'docs'), '--workers', workers]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.summary).toMatchObject({ read: 609, written: 609, rejected: 0 });
      const keys = r.lineage.map((l) => l.key);
      expect(keys.slice(600)).toEqual(['12345678901234567891', '12345678901234567892', '1.0', '1', '1e3', '98765432109876543210', '98765432109876543211', '55555555555555555555', '55555555555555555556']);
      const shard = [...r.files!.shards.values()].join('');
      expect(shard).toContain('first call');
      expect(shard).not.toMatch(/first call[^"]*second call/);
    }
  });
});

describe('input folders', () => {
  it('links are followed; the same file by two names is read twice and its calls rejected as duplicates; a broken link stops the run naming it', async () => {
    const dir = join(tmp.dir, 'exports');
    const other = join(tmp.dir, 'archive');
    await mkdir(dir);
    await mkdir(other);
    await writeFile(join(other, 'old.csv'), 'call_id,transcript\nold-1,"Agent: hi"\nold-2,"Agent: hello"\n');
    await writeFile(join(dir, 'day1.csv'), 'call_id,transcript\nd-1,"Agent: one"\nd-2,"Agent: two"\n');
    await symlink(join(other, 'old.csv'), join(dir, 'archived.csv'));
    await symlink(other, join(dir, 'archive-folder'));
    await symlink(join(dir, 'day1.csv'), join(dir, 'latest.csv'));
    const r = await prepare([dir]);
    expect(r.code, r.stderr).toBe(0);
    // archived.csv (2 calls), archive-folder/old.csv (the same 2), day1.csv (2), latest.csv (the same 2)
    expect(r.summary).toMatchObject({ read: 8, written: 4, rejected: 4, rejectsByCode: { E_DUPLICATE_KEY: 4 } });
    const latest = r.rejects.find((x) => x.key === 'd-1')!;
    expect(latest).toMatchObject({ file: join(dir, 'latest.csv'), line: 2 });
    expect(latest.reason).toMatch(/already seen at .*day1\.csv line 2 \(the same file, reached by another path\)/);
    // per file, the same real file is still one file: its calls are not sent twice
    expect((await prepare([dir, '--duplicates', 'per-file'])).summary).toMatchObject({ read: 8, written: 4, rejected: 4 });

    await symlink(join(tmp.dir, 'gone'), join(dir, 'moved.csv'));
    const broken = await cli(['prepare', dir, '--out', join(tmp.dir, 'b'), '--quotas', 'local']);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain(`E_READ: ${join(dir, 'moved.csv')} is a symbolic link to ${join(tmp.dir, 'gone')}, which does not exist`);
    await expect(readFile(join(tmp.dir, 'b', 'prepared.json'))).rejects.toThrow(); // nothing was prepared
  });
});
