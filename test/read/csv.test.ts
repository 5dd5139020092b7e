/** CSV rows (src/read/csv.ts): the dialect, the rejects, the bounds and the counting, on both engines. */
import { describe, expect, it } from 'vitest';
import { CsvDecoder, csvRows, normalizeCsvOptions } from '../../src/read/csv.js';
import { FastCsvDecoder } from '../../src/read/fast-csv.js';
import { isBatchError } from '../../src/errors.js';
import type { Reject, SourceItem } from '../../src/records/types.js';
import { brief, bytes, decode, splitAt, splitEvery, sumBytes, type Out } from './helpers.js';

const ENGINES = ['fast', 'csv-parse'] as const;
const rejects = (out: Out[]) => out.filter((x): x is Reject => x.kind === 'reject');
const BOM = '\ufeff';

describe.each(ENGINES)('csvRows, engine %s', (engine) => {
  const rows = (input: string | Buffer, options: Parameters<typeof csvRows>[0] = {}) =>
    decode(csvRows({ engine, file: 'calls.csv', ...options }), [input]);

  it('keys each row by the header, carrying the file and the physical line it starts on', async () => {
    const input =
      'call_id,speaker,text\n' +
      'c1,Agent,"Hello,\nhow can I help?"\n' + // a multi-line quoted field with a delimiter in it
      'c1,Customer,"He said ""refund"" twice"\n' + // "" escapes
      'c2,,\n'; // empty fields, the last one after a trailing delimiter
    expect(await rows(input)).toEqual([
      { kind: 'item', file: 'calls.csv', line: 2, value: { call_id: 'c1', speaker: 'Agent', text: 'Hello,\nhow can I help?' }, bytes: 34 },
      { kind: 'item', file: 'calls.csv', line: 4, value: { call_id: 'c1', speaker: 'Customer', text: 'He said "refund" twice' }, bytes: 39 },
      { kind: 'item', file: 'calls.csv', line: 5, value: { call_id: 'c2', speaker: '', text: '' }, bytes: 5 },
    ]);
  });

  it('reads CRLF line ends, keeps CRLF inside quotes, treats a lone CR as data, strips a BOM', async () => {
    const input = `${BOM}id,text\r\n1,"two\r\nlines"\r\n2,lone\rcr\r\n3,"x"`;
    const out = await rows(input);
    expect(brief(out)).toEqual([
      'item@2:{"id":"1","text":"two\\r\\nlines"}',
      'item@4:{"id":"2","text":"lone\\rcr"}',
      'item@5:{"id":"3","text":"x"}',
    ]);
    expect(Object.keys((out[0] as SourceItem).value as object)).toEqual(['id', 'text']); // no BOM in the first name
  });

  it('skips blank lines; their bytes count toward the next row', async () => {
    const input = '\nid,text\n\n\r\n1,a\n\n\n2,b\n';
    const out = await rows(input);
    expect(out.map((x) => [x.line, x.bytes])).toEqual([
      [5, 7],
      [8, 6],
    ]);
  });

  it('counts every byte: rows + header + blank lines at the end = the size less the BOM', async () => {
    const input = `${BOM}id,text\n1,"a\nb"\n2,b,extra\n3,"ok"\n\n\n`;
    const out = await rows(input);
    expect(out.map((x) => x.kind)).toEqual(['item', 'reject', 'item']);
    if (engine === 'fast') expect(sumBytes(out) + 'id,text\n'.length + 2).toBe(Buffer.byteLength(input) - 3);
  });

  it('rejects a row with the wrong number of columns, naming the counts, never the row\'s text', async () => {
    const out = await rows('id,text\nSECRET-NAME,a,SECRET-SSN-123\n2\n3,c\n');
    expect(brief(out)).toEqual(['reject@2:E_COLUMN_COUNT', 'reject@3:E_COLUMN_COUNT', 'item@4:{"id":"3","text":"c"}']);
    const [r3, r1] = rejects(out);
    expect(r3!.reason).toMatch(/3 columns, the header has 2/);
    expect(r1!.reason).toMatch(/1 columns, the header has 2/);
    expect(JSON.stringify(out)).not.toContain('SECRET'); // not even a preview of the first field
    expect(r3).not.toHaveProperty('preview');
  });

  it('rejects an unterminated quote at the end, keeping the rows before it', async () => {
    const out = await rows('id,text\n1,a\n2,"PRIVATE words\nmore\nand more\n');
    expect(out.map((x) => x.kind === 'item' ? x.value : x.code)).toEqual([{ id: '1', text: 'a' }, 'E_UNTERMINATED_QUOTE']);
    // The fast engine names the line the quote opens on; csv-parse the line where it noticed.
    expect(out[1]!.line).toBe(engine === 'fast' ? 3 : 5);
    expect(rejects(out)[0]!.reason).not.toContain('PRIVATE');
  });

  it('rejects a malformed quote (the fast engine goes on with the next line)', async () => {
    const input = 'id,text\n1,say "hi"\n2,"closed" late\n3,ok\n';
    const out = await rows(input);
    expect(out[0]).toMatchObject({ kind: 'reject', code: 'E_BAD_QUOTE', line: 2 });
    if (engine === 'fast') {
      expect(brief(out)).toEqual(['reject@2:E_BAD_QUOTE', 'reject@3:E_BAD_QUOTE', 'item@4:{"id":"3","text":"ok"}']);
      expect(sumBytes(out)).toBe(input.length - 'id,text\n'.length);
    }
  });

  it('rejects a row that is not UTF-8 (no replacement characters) and goes on', async () => {
    const input = Buffer.concat([bytes('id,text\n1,caf'), Buffer.from([0xe9]), bytes('\n2,caf\u00e9\n3,'), Buffer.from([0xed, 0xa0, 0x80]), bytes('\n')]);
    const out = await rows(input);
    expect(brief(out)).toEqual(['reject@2:E_INVALID_UTF8', 'item@3:{"id":"2","text":"café"}', 'reject@4:E_INVALID_UTF8']);
    expect(rejects(out)[0]!.reason).toMatch(/iconv/);
  });

  it('an empty input is one E_EMPTY_INPUT reject; a header alone gives nothing', async () => {
    expect(await rows('')).toEqual([expect.objectContaining({ kind: 'reject', code: 'E_EMPTY_INPUT', line: 1, bytes: 0 })]);
    expect(await rows('id,text\n')).toEqual([]);
    expect(await rows(`${BOM}id,text`)).toEqual([]);
  });

  it.each([
    ['an empty name', 'id,,text\n1,2,3\n', /empty column name at position 2/],
    ['a trailing delimiter', 'id,text,\n1,2,\n', /empty column name at position 3.*trailing delimiter/s],
    ['a blank name', 'id, ,text\n', /empty column name at position 2/],
    ['duplicate names', 'id,text,text\n1,2,3\n', /duplicate column name "text"/],
  ])('a header with %s stops the input with an error naming it', async (_what, input, message) => {
    const error = await rows(input).catch((e: unknown) => e);
    expect(isBatchError(error)).toBe(true);
    const e = error as { code: string; file: string; line: number; message: string; hint: string };
    expect(e.code).toBe('E_BAD_OPTION');
    expect(e.file).toBe('calls.csv');
    expect(e.line).toBe(1);
    expect(`${e.message} ${e.hint}`).toMatch(message);
  });

  it('an unreadable header row is an error, not a reject', async () => {
    const error = await rows(Buffer.from([0x69, 0x64, 0xff, 0x0a])).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'E_INVALID_UTF8', message: expect.stringMatching(/header row cannot be read/) });
  });

  it('a __proto__ column is an ordinary key', async () => {
    const [row] = await rows('__proto__,text\nx,y\n');
    const value = (row as SourceItem).value as Record<string, unknown>;
    expect(Object.keys(value)).toEqual(['__proto__', 'text']);
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(value['__proto__']).toBe('x');
  });

  it('reads TSV with delimiter TAB', async () => {
    expect(brief(await rows('id\ttext\n1\ta,b\n', { delimiter: '\t' }))).toEqual(['item@2:{"id":"1","text":"a,b"}']);
  });

  it('rejects a row over maxRowBytes', async () => {
    const out = await rows(`id,text\n1,short\n2,"${'x'.repeat(200)}"\n3,after\n`, { maxRowBytes: 64 });
    expect(rejects(out)).toEqual([expect.objectContaining({ code: 'E_ROW_TOO_LARGE', line: 3, reason: expect.stringMatching(/limit of 64.*raise maxRowBytes/) })]);
    if (engine === 'fast') {
      expect(brief(out)).toEqual(['item@2:{"id":"1","text":"short"}', 'reject@3:E_ROW_TOO_LARGE', 'item@4:{"id":"3","text":"after"}']);
      expect(rejects(out)[0]!.bytes).toBe(205);
    } else {
      // csv-parse cannot resume after such a row: it says the rest was skipped, once.
      expect(brief(out)).toEqual(['item@2:{"id":"1","text":"short"}', 'reject@3:E_ROW_TOO_LARGE']);
      expect(rejects(out)[0]!.reason).toMatch(/rest of the input was skipped/);
    }
  });

  it('gives the same rows however the input is chunked', async () => {
    const input = bytes(`${BOM}id,text\r\n1,"a ""q"" b"\r\n\r\n2,"multi\nline é 😀"\n3,last`);
    const whole = brief(await rows(input));
    expect(whole).toHaveLength(3);
    for (let cut = 1; cut < input.length; cut++) {
      expect(brief(await decode(csvRows({ engine }), splitAt(input, [cut]))), `cut at ${cut}`).toEqual(whole);
    }
    expect(brief(await decode(csvRows({ engine }), splitEvery(input, 1)))).toEqual(whole);
  });
});

describe('csvRows: dialects and options', () => {
  it('auto uses csv-parse for other quote and escape characters and multi-byte delimiters', async () => {
    expect(brief(await decode(csvRows({ quote: "'" }), ["id,text\n1,'a,b'\n"]))).toEqual(['item@2:{"id":"1","text":"a,b"}']);
    expect(brief(await decode(csvRows({ escape: '\\' }), ['id,text\n1,"say \\"hi\\""\n']))).toEqual(['item@2:{"id":"1","text":"say \\"hi\\""}']);
    expect(brief(await decode(csvRows({ delimiter: '||' }), ['id||text\n1||a|b\n']))).toEqual(['item@2:{"id":"1","text":"a|b"}']);
    expect(brief(await decode(csvRows({ delimiter: '§' }), [`id§text\n1§caf\u00e9\n`]))).toEqual(['item@2:{"id":"1","text":"café"}']);
    expect(normalizeCsvOptions({ delimiter: '§' }).engine).toBe('csv-parse');
    expect(normalizeCsvOptions({ delimiter: ';' }).engine).toBe('fast');
  });

  it.each([
    [{ delimiter: '' }, /delimiter/],
    [{ delimiter: '"' }, /delimiter/],
    [{ delimiter: '\n' }, /delimiter/],
    [{ quote: "''" }, /quote/],
    [{ quote: '\r' }, /quote/],
    [{ escape: '' }, /escape/],
    [{ maxRowBytes: 0 }, /maxRowBytes/],
    [{ maxRowBytes: 1.5 }, /maxRowBytes/],
    [{ engine: 'papaparse' as never }, /engine/],
    [{ engine: 'fast' as const, quote: "'" }, /engine "fast"/],
    [{ firstLine: 0 }, /firstLine/],
    [{ columns: [] }, /columns/],
  ])('a bad option %j throws E_BAD_OPTION naming it', (options, message) => {
    expect(() => csvRows(options)).toThrow(message);
    try {
      csvRows(options);
    } catch (e) {
      expect((e as { code: string }).code).toBe('E_BAD_OPTION');
    }
  });

  it('the real export (fixtures/calls.csv): both engines agree on every row, line and byte', async () => {
    const { readFileSync } = await import('node:fs');
    const input = readFileSync(new URL('../../fixtures/calls.csv', import.meta.url));
    const fast = await decode(csvRows({ engine: 'fast' }), splitEvery(input, 64 * 1024));
    const slow = await decode(csvRows({ engine: 'csv-parse' }), splitEvery(input, 64 * 1024));
    expect(fast).toHaveLength(283);
    expect(fast.every((x) => x.kind === 'item')).toBe(true);
    expect(slow).toEqual(fast);
    const header = input.indexOf(10) + 1;
    expect(sumBytes(fast) + header).toBe(input.length);
    // Lines are physical: each row starts right after the previous row's last line.
    const lfs = (s: string) => s.split('\n').length - 1;
    let line = 2;
    for (const x of fast as SourceItem[]) {
      expect(x.line).toBe(line);
      const v = x.value as Record<string, string>;
      line += lfs(Object.values(v).join('')) + 1;
    }
  });
});

describe('CsvDecoder: mid-file input and where it stands', () => {
  it('given the columns and a first line, reads data rows from there (no header, no BOM)', () => {
    const out: Out[] = [];
    const d = new CsvDecoder({ file: 'f.csv', columns: ['id', 'text'], firstLine: 41 }, (x) => out.push(x));
    d.push(bytes(`${BOM}1,a\n2,"b\nc"\n3,`));
    expect(d.atRowBoundary).toBe(false);
    expect(d.nextLine).toBe(44);
    expect(d.columns).toEqual(['id', 'text']);
    expect(d.takeRemainder().toString()).toBe('3,');
    expect(brief(out)).toEqual([`item@41:{"id":"${BOM}1","text":"a"}`, 'item@42:{"id":"2","text":"b\\nc"}']);
  });

  it('tells the bytes not yet attributed (blank lines) and whether it ended on a row boundary', () => {
    const d = new CsvDecoder({}, () => {});
    d.push(bytes('id,text\n1,a\n\n\r\n'));
    expect(d.atRowBoundary).toBe(true);
    expect(d.unattributedBytes).toBe(3);
    d.push(bytes('2,"open'));
    expect(d.atRowBoundary).toBe(false);
  });
});

describe('a line far over the limit is rejected without being held', () => {
  const MiB = 1 << 20;
  /** The decoder's own count of the bytes it holds (pending chunks); private, read for this proof. */
  const held = (d: FastCsvDecoder) => (d as unknown as { pendingBytes: number }).pendingBytes;

  it.each([
    ['unquoted', '2,', ''],
    ['quoted, with line ends inside', '2,"', '"'],
  ])('CSV: a 64 MiB row (%s) in 1 MiB chunks, maxRowBytes 1 MiB', (_what, open, close) => {
    const got: string[] = [];
    let rowBytes = 0;
    const d = new FastCsvDecoder(
      { maxRowBytes: MiB },
      {
        row: (fields, line, bytes) => {
          got.push(`row@${line}:${fields[0]}`);
          rowBytes += bytes;
        },
        error: (code, line, bytes) => {
          got.push(`${code}@${line}`);
          rowBytes += bytes;
        },
      },
    );
    // One chunk, pushed 64 times: the test itself allocates nothing per chunk, so what the
    // decoder holds is what it kept.
    const body = Buffer.alloc(MiB, close ? 'ab\n' : 'abc');
    const before = process.memoryUsage().arrayBuffers;
    let most = 0;
    d.push(bytes(`id,text\n1,first\n${open}`));
    for (let i = 0; i < 64; i++) {
      d.push(body);
      most = Math.max(most, held(d));
    }
    d.push(bytes(`${close}\n3,after\n`));
    d.end();
    const grown = process.memoryUsage().arrayBuffers - before;
    const lfsInside = 64 * body.toString('latin1').split('\n').length - 64;
    expect(got).toEqual(['row@1:id', 'row@2:1', 'E_ROW_TOO_LARGE@3', `row@${4 + lfsInside}:3`]);
    expect(most).toBeLessThanOrEqual(MiB);
    expect(rowBytes).toBe(`id,text\n1,first\n${open}`.length + 64 * MiB + `${close}\n3,after\n`.length);
    expect(grown).toBeLessThan(24 * MiB); // far below the 64 MiB a held row would take
  });

  it('CSV through csv-parse: the row is rejected too, and the rest said to be skipped', async () => {
    const t = csvRows({ engine: 'csv-parse', maxRowBytes: MiB });
    const out = await decode(t, ['id,text\n1,a\n2,"', ...Array.from({ length: 4 }, () => Buffer.alloc(MiB, 'x')), '"\n3,b\n']);
    expect(brief(out)).toEqual(['item@2:{"id":"1","text":"a"}', 'reject@3:E_ROW_TOO_LARGE']);
  });
});
