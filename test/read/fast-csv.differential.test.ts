/**
 * The fast CSV decoder against csv-parse, on a seeded corpus of edge cases.
 *
 * Well-formed input: both engines must give the rows the generator meant, on the lines they start
 * on, with the bytes each row took (the fast engine always, csv-parse where it reports them), and
 * the fast engine must give the same answer however the bytes are cut into chunks (every cut
 * position for small documents, byte by byte, random cuts).
 *
 * Malformed input (stray or missing quotes, invalid UTF-8, missing line ends, truncation): the
 * engines are documented to differ (src/read/csv.ts), so only the invariants are checked: no crash,
 * every rejected row has a known code, every input byte is accounted for by the fast decoder, and
 * the fast decoder's answer does not depend on the chunking.
 */
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../src/core/random.js';
import { csvRows } from '../../src/read/csv.js';
import { FastCsvDecoder, type FastCsvSink } from '../../src/read/fast-csv.js';
import { decode, splitAt, splitEvery } from './helpers.js';

const SEED = 20240917;

// ---- the generator ------------------------------------------------------------------------------

interface Doc {
  bytes: Buffer;
  delimiter: string;
  bom: boolean;
  header: string[];
  /** The rows meant: values, the physical line each starts on, the bytes since the previous row's end. */
  rows: { values: string[]; line: number; bytes: number; size: number }[];
  /** Bytes of the header row (with blank lines before it). */
  headerBytes: number;
  /** Blank-line bytes after the last row (never attributed to a row). */
  trailing: number;
}

const UNICODE = ['é', 'ß', 'ñ', 'Ω', 'Ж', '€', '日本語', '한국어', '😀', '𝄞', '👩‍💻', '\u2028', '\u2029', '\u0085', '\u00a0', '\ufeff'];
const WORDS = ['hello', 'Agent', 'Customer', 'refund please', 'x', '42', '3.14', ' padded ', 'tab\there', 'a b c'];

type R = () => number;
const pick = <T>(r: R, arr: readonly T[]): T => arr[Math.floor(r() * arr.length)]!;
const chance = (r: R, p: number) => r() < p;

function plainText(r: R, max: number): string {
  let s = '';
  const n = 1 + Math.floor(r() * max);
  while (s.length < n) s += chance(r, 0.25) ? pick(r, UNICODE) : pick(r, WORDS);
  return s;
}

/** A field value and how it is written. */
function field(r: R, delim: string, cols: number): { value: string; raw: string } {
  const kind = Math.floor(r() * 11);
  let value: string;
  switch (kind) {
    case 0:
      value = '';
      break;
    case 1:
    case 2:
      value = plainText(r, 12);
      break;
    case 3:
      value = `${plainText(r, 6)}${delim}${plainText(r, 6)}`;
      break;
    case 4:
      value = `say "${plainText(r, 5)}"${chance(r, 0.3) ? '"' : ''}`;
      break;
    case 5:
      value = `Customer: ${plainText(r, 8)}\nAgent: ${plainText(r, 8)}`;
      break;
    case 6:
      value = `line one\r\nline two${chance(r, 0.5) ? '\r\n' : ''}`;
      break;
    case 7:
      value = `lone\rcr${chance(r, 0.5) ? '\n"quoted"\r' : ''}`;
      break;
    case 8:
      // A long field: crosses chunk boundaries and the decoder's bridge buffer.
      value = plainText(r, chance(r, 0.06) ? 80_000 : 2_000);
      if (chance(r, 0.5)) value += '\n"' + plainText(r, 40) + '"';
      break;
    case 9:
      value = '"';
      break;
    default:
      value = `${delim}${delim}`;
  }
  // When the value needs no quotes, write it bare half of the time (a one-column empty value is
  // always quoted: a bare one would be a blank line, which both engines skip).
  const needs =
    value.includes('"') || value.includes(delim) || value.includes('\n') || value.includes('\r') || (value === '' && cols === 1);
  const quoted = needs || chance(r, 0.3);
  return { value, raw: quoted ? `"${value.replaceAll('"', '""')}"` : value };
}

function generate(r: R, opts: { long?: boolean } = {}): Doc {
  const delimiter = pick(r, [',', ',', ',', '\t', ';', '|']);
  const cols = 1 + Math.floor(r() * 5);
  const bom = chance(r, 0.2);
  const crlf = chance(r, 0.4);
  const mixed = chance(r, 0.2);
  const eol = () => (mixed ? (chance(r, 0.5) ? '\r\n' : '\n') : crlf ? '\r\n' : '\n');
  const blank = () => (chance(r, 0.12) ? eol() : '');
  const parts: string[] = [];
  let line = 1;
  const push = (s: string) => {
    parts.push(s);
    for (const c of s) if (c === '\n') line++;
    return Buffer.byteLength(s);
  };
  let headerBytes = 0;
  if (chance(r, 0.1)) headerBytes += push(eol());
  const header: string[] = [];
  for (let i = 0; i < cols; i++) header.push(`${pick(r, ['call_id', 'text', 'speaker', 'Agent Name', 'naïve', 'x'])}_${i}`);
  const headerRaw = header.map((h, i) => (i === 0 && chance(r, 0.3) ? `"${h}"` : h)).join(delimiter);
  headerBytes += push(headerRaw + eol());

  const rows: Doc['rows'] = [];
  const n = opts.long ? 3 : Math.floor(r() * 12);
  for (let i = 0; i < n; i++) {
    let carry = 0;
    for (let b = blank(); b; b = blank()) carry += push(b);
    const start = line;
    const fields = Array.from({ length: cols }, () => field(r, delimiter, cols));
    if (opts.long && i === 1) fields[0] = { value: 'L\n'.repeat(70_000), raw: `"${'L\n'.repeat(70_000)}"` };
    const last = i === n - 1;
    // The last row may end without a line end (unless its last field is bare and empty: then the
    // row would end in a delimiter, which is still a row, or be empty, which is not).
    const end = last && chance(r, 0.4) && !(cols === 1 && fields[0]!.raw === '') ? '' : eol();
    const raw = fields.map((f) => f.raw).join(delimiter) + end;
    const size = push(raw);
    rows.push({ values: fields.map((f) => f.value), line: start, bytes: carry + size, size });
    if (end === '') break;
  }
  let trailing = 0;
  if (parts.join('').endsWith('\n')) {
    for (let b = blank(); b; b = blank()) trailing += push(b);
  }
  const body = Buffer.from(parts.join(''), 'utf8');
  return {
    bytes: bom ? Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), body]) : body,
    delimiter,
    bom,
    header,
    rows,
    headerBytes,
    trailing,
  };
}

// ---- running the engines ------------------------------------------------------------------------

interface SinkOut {
  rows: { fields: string[]; line: number; bytes: number }[];
  errors: { code: string; line: number; bytes: number }[];
  unattributed: number;
  /** Everything in order, compact: the chunking must not change it. */
  trace: string[];
}

/** The fast decoder on its own, with a sink that records everything (the header is its first row). */
function fast(chunks: readonly Buffer[], delimiter: string, maxRowBytes?: number): SinkOut {
  const out: SinkOut = { rows: [], errors: [], unattributed: 0, trace: [] };
  const sink: FastCsvSink = {
    row(fields, line, bytes) {
      out.rows.push({ fields, line, bytes });
      out.trace.push(`row@${line}/${bytes}:${JSON.stringify(fields)}`);
    },
    error(code, line, bytes) {
      out.errors.push({ code, line, bytes });
      out.trace.push(`err@${line}/${bytes}:${code}`);
    },
  };
  const d = new FastCsvDecoder({ delimiter: delimiter.charCodeAt(0), ...(maxRowBytes ? { maxRowBytes } : {}) }, sink);
  for (const c of chunks) d.push(c);
  d.end();
  out.unattributed = d.unattributedBytes;
  return out;
}

const accounted = (o: SinkOut) => o.rows.reduce((n, x) => n + x.bytes, 0) + o.errors.reduce((n, x) => n + x.bytes, 0) + o.unattributed;

const cuts = (r: R, len: number, k: number) => Array.from({ length: k }, () => 1 + Math.floor(r() * Math.max(1, len - 1)));

// ---- well-formed input ----------------------------------------------------------------------------

describe('fast CSV decoder vs csv-parse: well-formed input', () => {
  const r = mulberry32(SEED);
  const docs: Doc[] = Array.from({ length: 160 }, () => generate(r));
  docs.push(...Array.from({ length: 4 }, () => generate(r, { long: true })));

  it('the corpus covers the edge cases it is meant to', () => {
    expect(docs.reduce((n, d) => n + d.bytes.length, 0)).toBeLessThan(3_000_000);
    const all = docs.map((d) => d.bytes.toString('utf8')).join('');
    for (const needle of ['""', '\r\n', '\n"', '😀', '\u2028', '\r', '\t', '|']) expect(all).toContain(needle);
    expect(docs.some((d) => d.bom)).toBe(true);
    expect(docs.some((d) => d.rows.some((x) => x.values.some((v) => v.length > 80_000)))).toBe(true);
    expect(docs.some((d) => d.rows.some((x) => x.bytes > x.values.join('').length + 20))).toBe(true); // blank lines before a row
    expect(docs.filter((d) => d.rows.length === 0).length).toBeGreaterThan(0);
  });

  it('both engines give the rows meant, on the lines they start on, with the bytes since the previous row', async () => {
    let bytesCompared = 0;
    for (const [i, doc] of docs.entries()) {
      const expected = doc.rows.map((x) => ({
        kind: 'item',
        file: 'gen.csv',
        line: x.line,
        value: Object.fromEntries(doc.header.map((h, c) => [h, x.values[c]])),
      }));
      for (const engine of ['fast', 'csv-parse'] as const) {
        const got = await decode(csvRows({ engine, delimiter: doc.delimiter, file: 'gen.csv' }), [doc.bytes]);
        const shown = got.map((x) => ({ kind: x.kind, file: x.file, line: x.line, value: x.kind === 'item' ? x.value : x.code }));
        expect(shown, `doc ${i}, engine ${engine}`).toEqual(expected);
        got.forEach((x, k) => {
          if (engine === 'csv-parse' && x.bytes === undefined) return;
          expect(x.bytes, `doc ${i}, row ${k}, engine ${engine}`).toBe(doc.rows[k]!.bytes);
          bytesCompared++;
        });
      }
      // Every byte: BOM + header + rows + blank lines at the end.
      const o = fast([doc.bytes], doc.delimiter);
      expect(accounted(o)).toBe(doc.bytes.length - (doc.bom ? 3 : 0));
      expect(o.rows[0]?.bytes).toBe(doc.headerBytes);
      expect(o.unattributed).toBe(doc.trailing);
    }
    expect(bytesCompared).toBeGreaterThan(1000);
  });

  it('the fast decoder gives the same rows however the bytes are cut: every cut position of small documents', () => {
    let small = 0;
    for (const doc of docs) {
      if (doc.bytes.length > 500) continue;
      if (++small > 40) break;
      const whole = fast([doc.bytes], doc.delimiter).trace;
      for (let c = 1; c < doc.bytes.length; c++) {
        expect(fast(splitAt(doc.bytes, [c]), doc.delimiter).trace, `cut at ${c} of ${JSON.stringify(doc.bytes.toString('latin1'))}`).toEqual(whole);
      }
    }
    expect(small).toBeGreaterThan(25);
  });

  it('... byte by byte, in small chunks, and at random cuts', () => {
    const rr = mulberry32(SEED + 1);
    for (const doc of docs) {
      const whole = fast([doc.bytes], doc.delimiter).trace;
      if (doc.bytes.length <= 3000) expect(fast(splitEvery(doc.bytes, 1), doc.delimiter).trace).toEqual(whole);
      if (doc.bytes.length <= 50_000) expect(fast(splitEvery(doc.bytes, 7), doc.delimiter).trace).toEqual(whole);
      expect(fast(splitEvery(doc.bytes, 4096), doc.delimiter).trace).toEqual(whole);
      expect(fast(splitEvery(doc.bytes, 65_537), doc.delimiter).trace).toEqual(whole);
      for (let k = 0; k < 3; k++) expect(fast(splitAt(doc.bytes, cuts(rr, doc.bytes.length, 1 + k * 3)), doc.delimiter).trace).toEqual(whole);
    }
  });

  it('csv-parse, fed in random chunks, agrees with itself and with the fast engine', async () => {
    const rr = mulberry32(SEED + 2);
    for (const [i, doc] of docs.entries()) {
      if (i % 4 !== 0) continue;
      const chunks = splitAt(doc.bytes, cuts(rr, doc.bytes.length, 5));
      const a = await decode(csvRows({ engine: 'csv-parse', delimiter: doc.delimiter }), chunks);
      const b = await decode(csvRows({ engine: 'fast', delimiter: doc.delimiter }), chunks);
      expect(a.map((x) => [x.line, x.kind === 'item' ? x.value : x.code])).toEqual(b.map((x) => [x.line, x.kind === 'item' ? x.value : x.code]));
    }
  });

  it('rows over maxRowBytes are rejected, the same way whether they arrive whole or in pieces', () => {
    const rr = mulberry32(SEED + 3);
    let rejected = 0;
    for (const doc of docs) {
      const max = Math.max(doc.headerBytes + 1, 40);
      const whole = fast([doc.bytes], doc.delimiter, max);
      const expected = [
        `row@${whole.rows[0]?.line}/${doc.headerBytes}:${JSON.stringify(doc.header)}`,
        ...doc.rows.map((x) =>
          x.size > max ? `err@${x.line}/${x.bytes}:E_ROW_TOO_LARGE` : `row@${x.line}/${x.bytes}:${JSON.stringify(x.values)}`,
        ),
      ];
      expect(whole.trace).toEqual(expected);
      rejected += whole.errors.length;
      expect(accounted(whole)).toBe(doc.bytes.length - (doc.bom ? 3 : 0));
      for (const chunks of [splitEvery(doc.bytes, 5), splitEvery(doc.bytes, 33), splitAt(doc.bytes, cuts(rr, doc.bytes.length, 4))]) {
        expect(fast(chunks, doc.delimiter, max).trace).toEqual(expected);
      }
    }
    expect(rejected).toBeGreaterThan(100);
  });
});

// ---- malformed input ------------------------------------------------------------------------------

const BAD_UTF8 = [[0xff], [0xc3], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xc0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xf0, 0x9f, 0x98]];

/** One random defect put into the body (after the header row). */
function mutate(r: R, doc: Doc): Buffer {
  const b = doc.bytes;
  const from = (doc.bom ? 3 : 0) + doc.headerBytes;
  if (b.length <= from) return Buffer.concat([b, Buffer.from('"unterminated\n')]);
  const at = from + Math.floor(r() * (b.length - from));
  const insert = (x: Buffer | number[]) => Buffer.concat([b.subarray(0, at), Buffer.from(x), b.subarray(at)]);
  const remove = (byte: number) => {
    const i = b.indexOf(byte, at);
    return i < 0 ? insert([byte]) : Buffer.concat([b.subarray(0, i), b.subarray(i + 1)]);
  };
  switch (Math.floor(r() * 7)) {
    case 0:
      return insert([0x22]);
    case 1:
      return remove(0x22);
    case 2:
      return insert(pick(r, BAD_UTF8));
    case 3:
      return insert(Buffer.from(doc.delimiter));
    case 4:
      return remove(0x0a);
    case 5:
      return b.subarray(0, at); // truncated, maybe inside a quote or a UTF-8 sequence
    default:
      return Buffer.concat([b, Buffer.from('x,"never closed\nmore\n')]);
  }
}

describe('fast CSV decoder vs csv-parse: malformed input (invariants only)', () => {
  const r = mulberry32(SEED + 10);
  const cases = Array.from({ length: 200 }, () => {
    const doc = generate(r);
    let bad = mutate(r, doc);
    if (chance(r, 0.3)) bad = mutate(r, { ...doc, bytes: bad });
    return { doc, bad };
  });
  const FAST_CODES = new Set(['E_BAD_QUOTE', 'E_UNTERMINATED_QUOTE', 'E_ROW_TOO_LARGE', 'E_INVALID_UTF8']);
  const ROW_CODES = new Set([...FAST_CODES, 'E_COLUMN_COUNT']);

  it('the fast decoder accounts for every byte, reports known codes on non-decreasing lines, whatever the chunking', () => {
    const rr = mulberry32(SEED + 11);
    const seen = new Set<string>();
    for (const { doc, bad } of cases) {
      const whole = fast([bad], doc.delimiter);
      const bom = bad.length >= 3 && bad[0] === 0xef && bad[1] === 0xbb && bad[2] === 0xbf ? 3 : 0;
      expect(accounted(whole)).toBe(bad.length - bom);
      let last = 0;
      const lines = bad.toString('latin1').split('\n').length;
      for (const e of [...whole.rows, ...whole.errors].sort((a, b) => a.line - b.line)) {
        expect(e.line).toBeGreaterThanOrEqual(Math.max(1, last));
        expect(e.line).toBeLessThanOrEqual(lines);
        last = e.line;
      }
      for (const e of whole.errors) {
        expect(FAST_CODES).toContain(e.code);
        seen.add(e.code);
      }
      const byByte = bad.length <= 3000 ? [splitEvery(bad, 1)] : [];
      for (const chunks of [...byByte, splitEvery(bad, 13), splitAt(bad, cuts(rr, bad.length, 3))]) {
        expect(fast(chunks, doc.delimiter).trace, JSON.stringify(bad.toString('latin1'))).toEqual(whole.trace);
      }
    }
    expect([...seen].sort()).toEqual(['E_BAD_QUOTE', 'E_INVALID_UTF8', 'E_UNTERMINATED_QUOTE']);
  });

  it('neither engine crashes; rows have the header\'s columns and rejects known codes', async () => {
    const seen = new Set<string>();
    for (const { doc, bad } of cases) {
      for (const engine of ['fast', 'csv-parse'] as const) {
        const got = await decode(csvRows({ engine, delimiter: doc.delimiter }), [bad]);
        for (const x of got) {
          if (x.kind === 'item') expect(Object.keys(x.value as object)).toEqual(doc.header);
          else {
            expect(ROW_CODES, `${engine}: ${x.reason}`).toContain(x.code);
            expect(x.reason.length).toBeGreaterThan(10);
            seen.add(`${engine}:${x.code}`);
          }
        }
      }
    }
    for (const engine of ['fast', 'csv-parse']) {
      for (const code of ['E_BAD_QUOTE', 'E_INVALID_UTF8', 'E_UNTERMINATED_QUOTE', 'E_COLUMN_COUNT']) expect(seen).toContain(`${engine}:${code}`);
    }
  });
});
