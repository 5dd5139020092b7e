/**
 * Seeded, hostile but plausible exports for differential tests (test/prepare/fused.test.ts): CSV
 * and JSONL files as Buffers, the same bytes for the same seed on every machine. They hold what a
 * byte-level encoder is most likely to get wrong and the stage-by-stage path gets right by
 * construction: quoting and `""` escapes, line ends inside fields, control characters, every
 * UTF-8 width, the characters JSON or JavaScript treat specially (U+2028, U+2029, lone surrogates),
 * invalid UTF-8, whitespace-only and missing values, keys padded with spaces, duplicate keys, rows
 * with the wrong number of columns, bad quotes, a BOM, CRLF, blank lines, a last row without its
 * line end, and a few very long transcripts. Most rows stay well-formed calls, so the fast paths
 * have plenty to do between the traps.
 */
import { mulberry32, type Random } from '../../src/core/random.js';

export interface RandomExport {
  /** A file name with the right extension (`export-<seed>.csv`). */
  name: string;
  bytes: Buffer;
  /** Utterance rows (several rows per call) rather than one call per row. */
  utterances: boolean;
  /** What this seed put in, for failure messages (`bom`, `crlf`, `bad-quote`, ...). */
  traits: string[];
}

export interface RandomExportOptions {
  /** About how many calls (default 40 to 160, from the seed). */
  calls?: number;
  /** Force the layout (default: utterance rows for about one seed in five, CSV only). */
  utterances?: boolean;
  /** The extra CSV columns, by name (default: 0 to 5 of agent, queue, started_at, 2024, notes, empty, score, Région). */
  extras?: string[];
}

class Dice {
  constructor(readonly r: Random) {}
  chance(p: number): boolean {
    return this.r() < p;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.r() * (hi - lo + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.r() * items.length)]!;
  }
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.r() * (i + 1));
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }
}

const WORDS = ['order', 'refund', 'the', 'delayed', 'card', 'thanks', 'account', 'please', 'shipping', 'my', 'was', 'charged', 'twice', 'ok', 'yes', 'no'];

/** Pieces of text that trip encoders: JSON escapes, line ends, every UTF-8 width, separators, BOM. */
const HOSTILE = [
  'café', 'naïve', 'e\u0301', '—', '中文', '客服', '😀', '👍🏽', '\u2028', '\u2029', '\u0085', '\u00a0', '\u3000', '\ufeff', '\u200b',
  '\t', '\\', '\\n', '\\"', '\\u2028', '"quoted"', '""', ',', ';', '\x01', '\x1f', '\x7f', '\x00', '\n', '\r\n', '\r', '\n\n',
  '{{transcript}}', '{{key}}', '$&', "$'", '</s>', '<transcript>', '%s', '\u{10ffff}', '\ufffd', '\u061c', '\u202e',
];

function sentence(d: Dice, hostile: number): string {
  const n = d.int(1, 14);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(d.chance(hostile) ? d.pick(HOSTILE) : d.pick(WORDS));
  return out.join(d.chance(0.9) ? ' ' : d.pick(['', '  ', '\t', ', ']));
}

/** A whole call's text: `Agent:` / `Customer:` turns, or one of the awkward shapes. */
function transcript(d: Dice, hostile: number): string {
  const shape = d.r();
  if (shape < 0.03) return '';
  if (shape < 0.06) return d.pick([' ', '   ', '\u00a0', '\u00a0\u00a0', '\u3000', '\t', ' \u3000 ', '\n', '\r\n', ' \n ']);
  if (shape < 0.07) return d.pick(['0', '12345', '-1.5e3', 'null', 'true', 'x']);
  if (shape < 0.085) return longText(d, d.int(20_000, 120_000));
  const turns: string[] = [];
  const n = d.int(1, 7);
  for (let i = 0; i < n; i++) turns.push(`${i % 2 ? 'Customer' : 'Agent'}: ${sentence(d, hostile)}`);
  const lineEnd = d.chance(0.8) ? '\n' : d.pick(['\r\n', '\n\n', ' ', '\u2028']);
  let text = turns.join(lineEnd);
  if (d.chance(0.06)) text = d.pick([' ', '\n', '\r\n', '\u00a0', '\u3000', '\t', '\ufeff']) + text;
  if (d.chance(0.06)) text += d.pick([' ', '\n', '\r\n', '\u00a0', '\t']);
  return text;
}

/** A long transcript (a multi-hour call): mostly plain turns, a hostile character now and then. */
function longText(d: Dice, chars: number): string {
  const parts: string[] = [];
  let n = 0;
  for (let i = 0; n < chars; i++) {
    const t = `${i % 2 ? 'Customer' : 'Agent'}: ${sentence(d, 0.02)}`;
    parts.push(t);
    n += t.length + 1;
  }
  return parts.join('\n');
}

/** Bytes that are not UTF-8: a stray continuation, a cut sequence, an encoded surrogate, an overlong form. */
const INVALID_UTF8 = [[0xff], [0x80], [0xc3], [0xe4, 0xb8], [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xf4, 0x90, 0x80, 0x80]];

/** `text` as UTF-8 with invalid bytes put somewhere inside (never splitting the CSV structure). */
function withInvalidUtf8(d: Dice, text: string): Buffer {
  const at = d.int(0, text.length);
  // a cut between the halves of a surrogate pair would only add U+FFFD, which is still valid
  const cut = at > 0 && (/[\ud800-\udbff]/.exec(text[at - 1]!) !== null) ? at + 1 : at;
  return Buffer.concat([Buffer.from(text.slice(0, cut)), Buffer.from(d.pick(INVALID_UTF8)), Buffer.from(text.slice(cut))]);
}

type Cell = string | Buffer;

const bytesOf = (c: Cell) => (typeof c === 'string' ? Buffer.from(c) : c);

/** A CSV field: quoted when it must be, and sometimes when it need not be. */
function csvField(d: Dice, cell: Cell): Buffer {
  const text = typeof cell === 'string' ? cell : cell.toString('latin1');
  const must = /[",\r\n]/.exec(text) !== null;
  if (!must && !d.chance(0.4)) return bytesOf(cell);
  const body = typeof cell === 'string' ? Buffer.from(cell.replace(/"/g, '""')) : Buffer.from(cell.toString('latin1').replace(/"/g, '""'), 'latin1');
  return Buffer.concat([Buffer.from('"'), body, Buffer.from('"')]);
}

const AGENTS = ['Alex Moreno', 'Ana Souza', 'Ben Okafor', 'Zoë Brontë', '李雷', 'O\'Brien, Pat', '"Chip" Smith', '', ' padded ', 'Ren\u00a0Ito'];
const QUEUES = ['billing', 'orders', 'promotions', 'delivery', 'tech\\support', 'q,1', ''];

interface Column {
  name: string;
  value: (d: Dice, i: number) => string;
}

/** The extra (passthrough) columns: short text, timestamps, a numeric name, values over 256 chars, empty ones. */
const EXTRA_COLUMNS: Column[] = [
  { name: 'agent', value: (d) => d.pick(AGENTS) },
  { name: 'queue', value: (d) => d.pick(QUEUES) },
  { name: 'started_at', value: (d, i) => (d.chance(0.05) ? '' : `2024-09-${String(1 + (i % 28)).padStart(2, '0')}T08:${String(i % 60).padStart(2, '0')}:10Z`) },
  { name: '2024', value: (d) => d.pick(['1', '0', '-3', '1.50', '1e3', '007', '-0', '', ' 42 ', 'NaN']) },
  { name: 'notes', value: (d) => (d.chance(0.5) ? sentence(d, 0.2).repeat(d.int(1, 3)) : longText(d, d.int(257, 900))) },
  { name: 'empty', value: () => '' },
  { name: 'score', value: (d) => String(d.int(0, 100) / 10) },
  { name: 'Région', value: (d) => d.pick(['Île-de-France', 'Ōsaka', 'north', '']) },
];

/** A call key: mostly plain, sometimes missing, blank, padded, numeric, non-ASCII, or a repeat. */
function callKey(d: Dice, i: number, seen: string[]): string {
  const r = d.r();
  if (r < 0.02) return '';
  if (r < 0.035) return d.pick(['   ', '\t', '\u00a0']);
  if (r < 0.06) return ` C${i} `;
  if (r < 0.08 && seen.length > 0) return d.pick(seen);
  if (r < 0.1) return String(100000 + i);
  if (r < 0.11) return `Ключ-${i}`;
  if (r < 0.12) return `C,${i}`;
  return `C${i}`;
}

/**
 * A CSV export: a header of a key column (call_id, contact_id, id, ...), a text column and some
 * extra columns in any order, then one call per row (or, for about one seed in five, utterance rows
 * with a speaker column), with the traps listed in the file comment.
 */
export function randomCsvExport(seed: number, options: RandomExportOptions = {}): RandomExport {
  const d = new Dice(mulberry32(seed));
  const traits: string[] = [];
  const utterances = options.utterances ?? d.chance(0.2);
  if (utterances) traits.push('utterances');
  const hostile = d.pick([0.02, 0.08, 0.25]);
  const keyName = d.pick(['call_id', 'contact_id', 'id', 'CallId', 'Contact-ID', ' call_id ']);
  const textName = utterances ? d.pick(['text', 'utterance', 'Text']) : d.pick(['transcript', 'text', 'Transcript', 'transcript_text']);
  const chosen = d.shuffle([...EXTRA_COLUMNS]).slice(0, d.int(0, 5));
  const extras = options.extras ? EXTRA_COLUMNS.filter((c) => options.extras!.includes(c.name)) : chosen;
  const columns: Column[] = [
    { name: keyName, value: () => '' }, // filled per row
    { name: textName, value: () => '' },
    ...extras,
  ];
  if (utterances) {
    columns.push({ name: d.pick(['speaker', 'Speaker', 'participant']), value: () => '' });
    if (d.chance(0.5)) columns.push({ name: 'start_time', value: () => '' });
  }
  d.shuffle(columns);
  traits.push(`columns=${columns.map((c) => JSON.stringify(c.name)).join('|')}`);

  const crlf = d.chance(0.3);
  const mixedEnds = !crlf && d.chance(0.15);
  const bom = d.chance(0.2);
  const badQuotes = d.chance(0.3);
  const noFinalNewline = d.chance(0.3);
  for (const [on, name] of [[crlf, 'crlf'], [mixedEnds, 'mixed-ends'], [bom, 'bom'], [badQuotes, 'bad-quote'], [noFinalNewline, 'no-final-newline']] as const) if (on) traits.push(name);
  const eol = () => Buffer.from(crlf || (mixedEnds && d.chance(0.5)) ? '\r\n' : '\n');

  const rows: Buffer[] = [];
  const header = Buffer.concat(columns.flatMap((c, i) => [i ? Buffer.from(',') : Buffer.alloc(0), csvField(d, c.name)]));
  rows.push(bom ? Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), header]) : header);

  const calls = options.calls ?? d.int(40, 160);
  const seen: string[] = [];
  let rowIndex = 0;
  for (let i = 0; i < calls; i++) {
    const key = callKey(d, i, seen);
    if (key.trim()) seen.push(key);
    const turns = utterances ? d.int(1, 6) : 1;
    let t = 0;
    for (let u = 0; u < turns; u++) {
      rowIndex++;
      if (d.chance(0.03)) rows.push(Buffer.alloc(0)); // a blank line
      const cells: Cell[] = columns.map((c) => {
        if (c.name === keyName) return key;
        if (c.name === textName) {
          const text = utterances ? (d.chance(0.05) ? d.pick(['', ' ', '\u00a0']) : sentence(d, hostile)) : transcript(d, hostile);
          return d.chance(0.02) ? withInvalidUtf8(d, text) : text;
        }
        if (/^(speaker|participant)$/i.exec(c.name) !== null) return d.chance(0.05) ? '' : u % 2 ? 'Customer' : d.pick(['Agent', 'agent', 'AGENT', 'Ágent']);
        if (c.name === 'start_time') return (t += d.int(1, 9) / 2).toString();
        return c.value(d, rowIndex);
      });
      let fields = cells.map((c) => csvField(d, c));
      const shape = d.r();
      if (shape < 0.015) fields = [...fields, csvField(d, 'one too many')];
      else if (shape < 0.03 && fields.length > 1) fields = fields.slice(0, d.int(1, fields.length - 1));
      else if (badQuotes && shape < 0.045) {
        // a quote inside an unquoted field, or text after a closing quote
        const at = d.int(0, fields.length - 1);
        fields[at] = Buffer.from(d.chance(0.5) ? 'a"b' : '"closed"after');
      }
      rows.push(Buffer.concat(fields.flatMap((f, k) => [k ? Buffer.from(',') : Buffer.alloc(0), f])));
    }
  }
  if (d.chance(0.3)) rows.push(Buffer.alloc(0), Buffer.alloc(0)); // blank lines at the end
  const out: Buffer[] = [];
  rows.forEach((row, k) => {
    out.push(row);
    if (k < rows.length - 1 || !noFinalNewline) out.push(eol());
  });
  return { name: `export-${seed}.csv`, bytes: Buffer.concat(out), utterances, traits };
}

/** A JSON string literal of `text`, escaping some characters that need not be (`\u00e9`, `\/`) and every lone surrogate. */
function jsonString(d: Dice, text: string, escapeRate: number): string {
  let out = '"';
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    const lone = ch.length === 1 && code >= 0xd800 && code <= 0xdfff;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (code < 0x20 || lone || d.chance(escapeRate)) {
      const short: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f' };
      if (short[ch] && d.chance(0.8)) out += short[ch];
      else {
        // a pair as two escapes; hex digits in either case
        for (let k = 0; k < ch.length; k++) {
          const hex = ch.charCodeAt(k).toString(16).padStart(4, '0');
          out += `\\u${d.chance(0.5) ? hex.toUpperCase() : hex}`;
        }
      }
    } else if (ch === '/' && d.chance(0.5)) out += '\\/';
    else out += ch;
  }
  return out + '"';
}

/** A JSON value for an extra field: strings, numbers of every spelling, nested objects and arrays, null. */
function extraValue(d: Dice, depth = 0): string {
  const r = d.r();
  if (r < 0.35) return jsonString(d, d.chance(0.7) ? d.pick(AGENTS.concat(QUEUES)) : sentence(d, 0.3), 0.1);
  if (r < 0.55) return d.pick(['0', '-0', '1', '1.0', '1.50', '1e3', '-2.5E-3', '12345678901234567890', '9007199254740993', '3.141592653589793238']);
  if (r < 0.62) return d.pick(['true', 'false', 'null']);
  if (r < 0.8 && depth < 3) return `{${d.int(0, 3) === 0 ? '' : `"a": ${extraValue(d, depth + 1)}, "b\\u0000c": [${extraValue(d, depth + 1)}, {}], "": ${extraValue(d, depth + 1)}`}}`;
  if (r < 0.9 && depth < 3) return `[${Array.from({ length: d.int(0, 3) }, () => extraValue(d, depth + 1)).join(',')}]`;
  return jsonString(d, longText(d, d.int(257, 600)), 0.02);
}

/** Whitespace JSON allows between tokens. */
const ws = (d: Dice) => (d.chance(0.85) ? '' : d.pick([' ', '  ', '\t', ' \t ']));

/**
 * A JSONL export: objects with a key field (contact_id, call_id, id; strings or numbers, big ones
 * too), a transcript field (a string, sometimes a number, null, an object or missing) and extra
 * fields, keys in any order and sometimes repeated (the last wins), every kind of string escape,
 * lone surrogates, and a few lines that are not objects, not JSON or not UTF-8.
 */
export function randomJsonlExport(seed: number, options: RandomExportOptions = {}): RandomExport {
  const d = new Dice(mulberry32(seed));
  const traits: string[] = [];
  const keyName = d.pick(['contact_id', 'call_id', 'id', 'ContactId']);
  const textName = d.pick(['transcript', 'text', 'Transcript']);
  const extras = d.shuffle(['agent', 'queue', 'meta', 'started_at', 'tags', 'score', '2024', 'notes']).slice(0, d.int(0, 4));
  const escapeRate = d.pick([0, 0.05, 0.3]);
  const crlf = d.chance(0.25);
  const bom = d.chance(0.2);
  const noFinalNewline = d.chance(0.3);
  const numericKeys = d.chance(0.3);
  for (const [on, name] of [[crlf, 'crlf'], [bom, 'bom'], [noFinalNewline, 'no-final-newline'], [numericKeys, 'numeric-keys']] as const) if (on) traits.push(name);
  traits.push(`fields=${[keyName, textName, ...extras].join('|')}`, `escapes=${escapeRate}`);

  const lines: Buffer[] = [];
  const calls = options.calls ?? d.int(40, 160);
  const seen: string[] = [];
  for (let i = 0; i < calls; i++) {
    if (i > 0 && d.chance(0.03)) lines.push(Buffer.alloc(0)); // a blank line
    if (i > 0 && d.chance(0.03)) {
      lines.push(Buffer.from(d.pick(['[1,2]', '"a string"', '42', 'null', 'true', '[]', '[{"contact_id":"X"}]'])));
      continue;
    }
    if (i > 0 && d.chance(0.02)) {
      lines.push(Buffer.from(d.pick([`{"${keyName}": "broken", `, `{"${keyName}": "C${i}", "${textName}": "unterminated}`, '{,}', `{'${keyName}': 'single'}`, '{"a":1}}'])));
      continue;
    }
    const fields: string[] = [];
    const first = i === 0; // the first object has every field, so the columns are found on it
    // the key as JSON text: a number (a big one read as its digits), a string, or now and then null
    let key: string;
    if (numericKeys && d.chance(0.7)) key = d.pick([String(1000 + i), `${12345678901234567000n + BigInt(i)}`, `${i}.0`, `${i}e0`]);
    else if (!first && d.chance(0.02)) key = 'null';
    else {
      const k = callKey(d, i, seen);
      key = jsonString(d, first && !k.trim() ? `C${i}` : k, escapeRate);
      if (k.trim()) seen.push(k);
    }
    if (first || !d.chance(0.02)) fields.push(`${jsonString(d, keyName, escapeRate / 4)}:${ws(d)}${key}`);
    const t = d.r();
    const text =
      t < 0.02 && !first ? 'null' : t < 0.03 && !first ? '{"nested": "no"}' : t < 0.04 ? d.pick(['12', '-0.5', '1e2']) : jsonString(d, transcript(d, 0.15), escapeRate);
    if (first || !d.chance(0.02)) fields.push(`${jsonString(d, textName, 0)}:${ws(d)}${text}`);
    for (const name of extras) if (first || d.chance(0.9)) fields.push(`${jsonString(d, name, escapeRate / 4)}:${ws(d)}${extraValue(d)}`);
    if (d.chance(0.03)) fields.push(`"\\ud800lone":${ws(d)}"\\udfff\\ud83d"`);
    if (!first) d.shuffle(fields);
    // a repeated field: JSON.parse keeps the last one
    if (!first && d.chance(0.04)) fields.push(`${jsonString(d, d.pick([textName, keyName, 'agent']), 0)}:${ws(d)}${jsonString(d, sentence(d, 0.1), escapeRate)}`);
    const line = `${ws(d)}{${ws(d)}${fields.join(`${ws(d)},${ws(d)}`)}${ws(d)}}${ws(d)}`;
    lines.push(d.chance(0.02) && !first ? withInvalidUtf8(d, line) : Buffer.from(line));
  }
  if (bom) lines[0] = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), lines[0]!]);
  const out: Buffer[] = [];
  lines.forEach((line, k) => {
    out.push(line);
    if (k < lines.length - 1 || !noFinalNewline) out.push(Buffer.from(crlf ? '\r\n' : '\n'));
  });
  return { name: `export-${seed}.jsonl`, bytes: Buffer.concat(out), utterances: false, traits };
}
