/** The readers' entry point (src/read/index.ts): formats by name or first bytes, inputs expanded, read in order. */
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decoderFor, expandInputs, formatFromName, openInput, readInput, readInputs, sniffFormat } from '../../src/read/index.js';
import type { SourceItem } from '../../src/records/types.js';
import { useTempDir } from '../support/temp.js';
import { brief, chunksStream, collect, splitEvery, sumBytes, type Out } from './helpers.js';

const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url));
const tmp = useTempDir('bb-read-', { shared: true });

describe('formatFromName', () => {
  it.each([
    ['calls.csv', 'csv'],
    ['CALLS.CSV', 'csv'],
    ['dir/sub/calls.csv.gz', 'csv'],
    ['C:\\exports\\calls.tsv', 'tsv'],
    ['x.tab', 'tsv'],
    ['x.jsonl', 'jsonl'],
    ['x.ndjson.gz', 'jsonl'],
    ['x.json.gzip', 'json'],
    ['1034.txt', 'text'],
    ['notes.text', 'text'],
    ['s3://bucket/prefix/calls.jsonl', 'jsonl'],
  ])('%s is %s', (name, format) => expect(formatFromName(name)).toBe(format));

  it.each(['-', 'calls', 'calls.gz', 'calls.parquet', 'calls.csv.bz2', 'dir.csv/file'])('%s tells nothing', (name) => {
    expect(formatFromName(name)).toBeUndefined();
  });
});

describe('sniffFormat', () => {
  const sniff = (s: string) => sniffFormat(Buffer.from(s));
  it.each([
    ['[{"a":1}]', 'json'],
    ['\ufeff  \n [\n', 'json'],
    ['{"call_id":"c1"}\n{"call_id":"c2"}\n', 'jsonl'],
    ['{"call_id":"c1"}', 'jsonl'],
    ['{\n  "jobName": "j",\n  "results": {}\n}\n', 'json'],
    ['{"jobName": "j", "results": {"transcripts": [', 'json'],
    ['call_id,agent,transcript\nc1,a,"x"\n', 'csv'],
    ['"call_id","transcript"\r\n', 'csv'],
    ['\ufeffcall_id,transcript\n', 'csv'],
    ['call_id\tspeaker\ttext\n', 'tsv'],
    ['Customer: Hello, I need help with my bill.\nAgent: Sure.\n', 'text'],
    ['Hello, how are you today? Fine, thanks.', 'text'],
    ['transcript\n', 'text'],
    ['', 'text'],
    ['   \n\n', 'text'],
  ])('%j is %s', (head, format) => expect(sniff(head)).toBe(format));

  it('a first line too long to see whole is JSONL when it starts with {', () => {
    expect(sniffFormat(Buffer.from(`{"t":"${'x'.repeat(70 * 1024)}`).subarray(0, 64 * 1024))).toBe('jsonl');
  });
});

describe('expandInputs', () => {
  it('a directory stands for its data files, sorted, recursively; hidden files and other extensions left out', async () => {
    const d = join(tmp.dir, 'exports');
    await mkdir(join(d, 'b-sub'), { recursive: true });
    for (const f of ['b.jsonl', 'a.csv', 'c.json.gz', '.hidden.csv', 'notes.md', 'b-sub/z.txt']) await writeFile(join(d, f), 'x');
    // (s3:// inputs are expanded against S3 itself: test/stores/)
    expect(await expandInputs([d, '-'])).toEqual([join(d, 'a.csv'), join(d, 'b-sub', 'z.txt'), join(d, 'b.jsonl'), join(d, 'c.json.gz'), '-']);
  });

  it('names what is wrong before anything is read', async () => {
    await expect(expandInputs([])).rejects.toMatchObject({ code: 'E_NO_INPUT' });
    await expect(expandInputs(['-', '-'])).rejects.toMatchObject({ code: 'E_BAD_OPTION', message: expect.stringMatching(/more than once/) });
    const missing = join(tmp.dir, 'missing.csv');
    await expect(expandInputs([join(FIXTURES, 'calls.csv'), missing])).rejects.toMatchObject({ code: 'E_READ', message: `${missing} does not exist` });
    const empty = join(tmp.dir, 'empty-dir');
    await mkdir(empty, { recursive: true });
    await writeFile(join(empty, 'readme.md'), 'x');
    await expect(expandInputs([empty])).rejects.toMatchObject({ code: 'E_NO_INPUT', message: expect.stringContaining(empty), hint: expect.stringMatching(/\.csv/) });
  });
});

describe('expandInputs: links and special files in a folder', () => {
  it('follows a link to a file or a folder; a link back to a folder being read is not walked again; the same file by two names is listed twice', async () => {
    const real = join(tmp.dir, 'elsewhere');
    const d = join(tmp.dir, 'linked');
    await mkdir(join(real, 'sub'), { recursive: true });
    await mkdir(d, { recursive: true });
    await writeFile(join(real, 'x.csv'), 'x');
    await writeFile(join(real, 'sub', 'y.jsonl'), 'y');
    await writeFile(join(d, 'a.csv'), 'a');
    await symlink(join(real, 'x.csv'), join(d, 'b.csv'));
    await symlink(real, join(d, 'more'));
    await symlink(d, join(d, 'loop'));
    await symlink(join(d, 'a.csv'), join(d, 'latest.csv'));
    await symlink(join(real, 'x.csv'), join(d, 'notes.md')); // a link with no data-file name is left out, like a file
    expect(await expandInputs([d])).toEqual([join(d, 'a.csv'), join(d, 'b.csv'), join(d, 'latest.csv'), join(d, 'more', 'sub', 'y.jsonl'), join(d, 'more', 'x.csv')]);
  });

  it('a broken link, a FIFO or a socket in a folder is an error naming it, never skipped silently', async () => {
    const broken = join(tmp.dir, 'broken');
    await mkdir(broken, { recursive: true });
    await writeFile(join(broken, 'a.csv'), 'a');
    await symlink(join(tmp.dir, 'nowhere'), join(broken, 'more'));
    await expect(expandInputs([broken])).rejects.toMatchObject({
      code: 'E_READ',
      message: `${join(broken, 'more')} is a symbolic link to ${join(tmp.dir, 'nowhere')}, which does not exist`,
      hint: expect.stringMatching(/remove the link or fix its target/),
    });
    await expect(expandInputs([join(broken, 'more')])).rejects.toMatchObject({ code: 'E_READ', message: expect.stringMatching(/is a symbolic link to .*nowhere, which does not exist$/) });

    const fifo = join(tmp.dir, 'fifo');
    await mkdir(fifo, { recursive: true });
    execFileSync('mkfifo', [join(fifo, 'calls.csv')]);
    await expect(expandInputs([fifo])).rejects.toMatchObject({ code: 'E_READ', message: `${join(fifo, 'calls.csv')} is a FIFO (named pipe), not a regular file`, hint: expect.stringMatching(/give it as an input of its own/) });

    const sock = join(tmp.dir, 'sock');
    await mkdir(sock, { recursive: true });
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(join(sock, 'live'), resolve));
    try {
      await expect(expandInputs([sock])).rejects.toMatchObject({ code: 'E_READ', message: `${join(sock, 'live')} is a socket, not a regular file` });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('readInputs', () => {
  it('reads several inputs of several formats one after the other, each item naming its file', async () => {
    const csv = join(tmp.dir, 'one.csv');
    const jsonl = join(tmp.dir, 'two.jsonl');
    const json = join(tmp.dir, 'three.json');
    const txt = join(tmp.dir, 'four.txt');
    const tsv = join(tmp.dir, 'five.tsv');
    await writeFile(csv, 'call_id,text\nc1,hello\n');
    await writeFile(jsonl, '{"call_id":"c2"}\n{"call_id":"c3"}\n');
    await writeFile(json, '[{"call_id":"c4"}]');
    await writeFile(txt, 'Agent: hi');
    await writeFile(tsv, 'call_id\ttext\nc5\ta,b\n');
    const out = await collect(readInputs([csv, jsonl, json, txt, tsv]));
    expect(out.map((x) => [x.file, x.line, (x as SourceItem).value])).toEqual([
      [csv, 2, { call_id: 'c1', text: 'hello' }],
      [jsonl, 1, { call_id: 'c2' }],
      [jsonl, 2, { call_id: 'c3' }],
      [json, 1, { call_id: 'c4' }],
      [txt, 1, 'Agent: hi'],
      [tsv, 2, { call_id: 'c5', text: 'a,b' }],
    ]);
  });

  it('sniffs stdin and unknown names; gzip is found by its bytes; the format option wins', async () => {
    const jsonl = '{"call_id":"c1"}\n{"call_id":"c2"}\n';
    const fromStdin = await collect(readInputs(['-'], { stdin: chunksStream(splitEvery(gzipSync(jsonl), 3)) }));
    expect(brief(fromStdin)).toEqual(['item@1:{"call_id":"c1"}', 'item@2:{"call_id":"c2"}']);
    expect(fromStdin[0]!.file).toBe('-');

    const odd = join(tmp.dir, 'export.dat');
    await writeFile(odd, 'call_id,text\nc1,x\n');
    expect(brief(await collect(readInput(odd)))).toEqual(['item@2:{"call_id":"c1","text":"x"}']);

    const gzCsv = join(tmp.dir, 'gz-inside.csv');
    await writeFile(gzCsv, gzipSync('call_id,text\nc1,"a\nb"\n'));
    expect(brief(await collect(readInput(gzCsv)))).toEqual(['item@2:{"call_id":"c1","text":"a\\nb"}']);

    const plainGz = join(tmp.dir, 'plain.jsonl.gz');
    await writeFile(plainGz, jsonl);
    expect(await collect(readInput(plainGz))).toHaveLength(2);

    // A .txt read as CSV because the format says so.
    const txt = join(tmp.dir, 'rows.txt');
    await writeFile(txt, 'call_id,text\nc1,x\n');
    expect(brief(await collect(readInput(txt, { format: 'csv' })))).toEqual(['item@2:{"call_id":"c1","text":"x"}']);
  });

  it('passes the row bound to CSV and JSONL, and the delimiter and engine to CSV', async () => {
    const jsonl = join(tmp.dir, 'bound.jsonl');
    await writeFile(jsonl, `{"a":"${'x'.repeat(100)}"}\n{"b":1}\n`);
    expect(brief(await collect(readInput(jsonl, { maxRowBytes: 50 })))).toEqual(['reject@1:E_ROW_TOO_LARGE', 'item@2:{"b":1}']);
    const semi = join(tmp.dir, 'semi.csv');
    await writeFile(semi, 'call_id;text\nc1;a,b\n');
    for (const engine of ['fast', 'csv-parse'] as const) {
      expect(brief(await collect(readInput(semi, { delimiter: ';', engine })))).toEqual(['item@2:{"call_id":"c1","text":"a,b"}']);
    }
    expect(() => decoderFor('xml' as never, 'f')).toThrow(expect.objectContaining({ code: 'E_BAD_OPTION' }));
  });

  it('the real samples: every row, on its line, every byte counted', async () => {
    const calls = await collect<Out>(readInput(join(FIXTURES, 'calls.csv'), { chunkSize: 64 * 1024 }));
    expect(calls).toHaveLength(283);
    const size = readFileSync(join(FIXTURES, 'calls.csv')).length;
    expect(sumBytes(calls) + 'call_id,agent,queue,started_at,transcript\n'.length).toBe(size);
    const utterances = await collect<Out>(readInput(join(FIXTURES, 'utterances.csv')));
    expect(utterances.every((x) => x.kind === 'item')).toBe(true);
    expect(new Set(utterances.map((x) => ((x as SourceItem).value as { call_id: string }).call_id)).size).toBe(12);
    const contactLens = await collect<Out>(readInput(join(FIXTURES, 'contact-lens/chat-analyzed-original.json')));
    expect(contactLens).toEqual([expect.objectContaining({ kind: 'item', line: 1, bytes: readFileSync(join(FIXTURES, 'contact-lens/chat-analyzed-original.json')).length })]);
  });

  it('openInput reads a plain file straight into the caller\'s buffers', async () => {
    const p = join(tmp.dir, 'reader.jsonl');
    await writeFile(p, '{"a":1}\n');
    const opened = await openInput(p);
    expect(opened.format).toBe('jsonl');
    const buf = Buffer.alloc(64);
    const r = opened.reader();
    expect(await r.read(buf, 10, 4)).toBe(4);
    expect(await r.read(buf, 14, 50)).toBe(4);
    expect(await r.read(buf, 0, 50)).toBe(0);
    expect(buf.subarray(10, 18).toString()).toBe('{"a":1}\n');
    opened.close();
    const sniffed = await openInput('-', { stdin: chunksStream(['[{"a":1}]']) });
    expect(sniffed.format).toBe('json');
    expect(Buffer.concat(await collect<Buffer>(sniffed.bytes)).toString()).toBe('[{"a":1}]');
  });
});
