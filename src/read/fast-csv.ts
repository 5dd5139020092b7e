/**
 * A byte-level CSV decoder for the common dialect (RFC 4180): `"` quotes, `""` escapes, a one-byte
 * delimiter, LF or CRLF line ends (a lone CR is data), a UTF-8 BOM stripped. No stream, no
 * options beyond those: `csv.ts` wraps it as a Transform and falls back to csv-parse for anything
 * else.
 *
 * How it goes fast: quoted fields are crossed with `Buffer.indexOf` (one native call per quote),
 * fields are sliced as offsets and decoded once the row's end is found (ASCII text as latin1, the
 * fastest path; other long text through a fatal TextDecoder, which validates while it converts and
 * ran twice as fast as `toString('utf8')` on non-ASCII text here; short fields via `isUtf8` +
 * `toString`). A row that ends in a
 * later chunk is parsed again from its start when enough bytes have arrived (chunks are collected
 * until the pending bytes at least double, so the re-parsing is amortised linear).
 *
 * Bounds: a row longer than `maxRowBytes` is never held. The decoder switches to a discard mode,
 * a small resumable state machine that only follows quotes and line ends, and resumes at the next
 * row; the row becomes one `E_ROW_TOO_LARGE` error (or `E_UNTERMINATED_QUOTE` when the input ends
 * inside its quote).
 */
import { isAscii, isUtf8 } from 'node:buffer';
import { countLf } from '../core/lines.js';
import type { ErrorCode } from '../errors.js';

const LF = 10;
/** Bytes of pending row and new chunk joined into one buffer before the chunk is parsed in place. */
const BRIDGE = 64 * 1024;
/** simdutf-backed: twice as fast as `toString('utf8')` on long non-ASCII text (measured). */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const CR = 13;
const QUOTE = 34;

export type FastCsvErrorCode = Extract<
  ErrorCode,
  'E_BAD_QUOTE' | 'E_UNTERMINATED_QUOTE' | 'E_ROW_TOO_LARGE' | 'E_INVALID_UTF8'
>;

/** Where the decoder sends what it finds. Called synchronously from `push` and `end`. */
export interface FastCsvSink {
  /** A good row: its fields, the 1-based line it starts on, and its bytes (see `FastCsvDecoder`). */
  row(fields: string[], line: number, bytes: number): void;
  /** A bad row, already skipped. `detail` is a short phrase without any of the row's text. */
  error(code: FastCsvErrorCode, line: number, bytes: number, detail: string): void;
  /**
   * Optional: offered each row within the size limit before it is decoded, as byte ranges of `buf`
   * (`offsets`: start, end, `""`-escaped (0|1) per field, `fields` of them; the row spans
   * [rowStart, rowEnd) with its line end). True when the sink took the row as it is (then `row` is
   * not called); false to have it decoded, validated and passed to `row` or `error` as usual.
   */
  raw?: RawRowHandler;
}

export type RawRowHandler = (buf: Buffer, offsets: Int32Array, fields: number, line: number, rowStart: number, rowEnd: number) => boolean;

export interface FastCsvOptions {
  /** The delimiter byte (default 44, `,`; 9 for TSV). Must not be `"`, CR or LF. */
  delimiter?: number;
  /** Rows longer than this many bytes are rejected without being held (default 1 MiB). */
  maxRowBytes?: number;
  /** The line the first byte is on (default 1): for input that starts in the middle of a file. */
  firstLine?: number;
  /** Recognise (and drop) a UTF-8 BOM at the start (default true; false for mid-file input). */
  bom?: boolean;
}

/**
 * Decodes CSV bytes into rows. `line` is the physical 1-based line a row starts on (counting LFs,
 * including those inside quoted fields). `bytes` counts the input bytes from the end of the
 * previous row (or error) through this row's line end: blank lines before a row count toward it, so
 * the bytes of everything reported add up to the input's size less the BOM.
 */
export class FastCsvDecoder {
  private readonly delim: number;
  private readonly maxRowBytes: number;
  private readonly sink: FastCsvSink;

  /** Unparsed bytes (the pending row at most, plus chunks collected since). */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes the pending row had when it was last found incomplete: parse again once this doubles. */
  private waitFor = 0;
  /** Line of the first unparsed byte. */
  private line = 1;
  /** Bytes consumed since the last reported row, not yet attributed (blank lines). */
  private carry = 0;
  private started = false;
  private ended = false;

  /** Field offsets of the row being parsed: [start, end, escaped(0|1)] triples. */
  private offsets = new Int32Array(3 * 64);

  /** Discard mode (a row over the limit): null when off. */
  private discard: DiscardState | null = null;

  constructor(options: FastCsvOptions, sink: FastCsvSink) {
    this.delim = options.delimiter ?? 44;
    this.maxRowBytes = options.maxRowBytes ?? 1 << 20;
    this.line = options.firstLine ?? 1;
    if (options.bom === false) this.started = true;
    this.sink = sink;
  }

  /** True when everything pushed so far ended on a row boundary (nothing pending, nothing discarded). */
  get atRowBoundary(): boolean {
    return this.pendingBytes === 0 && this.discard === null;
  }

  /** Bytes consumed but not yet attributed to a row (blank lines since the last row). */
  get unattributedBytes(): number {
    return this.carry;
  }

  /** The line the next unparsed byte is on. */
  get nextLine(): number {
    return this.line;
  }

  /**
   * Stop without reporting the pending (incomplete) row: returns its bytes, so the caller can go on
   * from there with another decoder. Not in discard mode (check `atRowBoundary` first).
   */
  takeRemainder(): Buffer {
    if (this.discard) throw new Error('FastCsvDecoder: takeRemainder in discard mode');
    this.ended = true;
    return this.pendingBytes > 0 ? this.take() : Buffer.alloc(0);
  }

  /** Feed the next chunk of input. */
  push(chunk: Buffer): void {
    if (this.ended) throw new Error('FastCsvDecoder: push after end');
    if (chunk.length === 0) return;
    if (!this.started) {
      // Hold the first bytes until a BOM can be recognised.
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      if (this.pendingBytes < 3) return;
      this.startBom();
      chunk = this.take();
      if (chunk.length === 0) return;
    }
    if (this.pendingBytes === 0) {
      this.keep(chunk, this.run(chunk, 0, false));
      return;
    }
    const total = this.pendingBytes + chunk.length;
    // A known-incomplete row is pending: collect chunks until its bytes double (amortised linear).
    if (total < 2 * this.waitFor && total <= this.maxRowBytes) {
      this.pending.push(chunk);
      this.pendingBytes = total;
      return;
    }
    const left = this.take();
    if (total <= BRIDGE) {
      const buf = Buffer.concat([left, chunk], total);
      this.keep(buf, this.run(buf, 0, false));
      return;
    }
    // Finish the pending row on a small bridge (the pending bytes and the chunk's first bytes),
    // then parse the chunk in place: the chunk itself is never copied.
    const tail = Math.min(chunk.length, Math.max(BRIDGE, left.length));
    const bridge = Buffer.concat([left, chunk.subarray(0, tail)], left.length + tail);
    const stop = this.run(bridge, 0, false);
    if (this.discard || stop >= left.length) {
      const from = this.discard ? tail : stop - left.length;
      this.keep(chunk, this.run(chunk, from, false));
    } else if (tail === chunk.length) {
      this.keep(bridge, stop);
    } else {
      // Still incomplete: a long row (rare); parse it again with the whole chunk.
      const buf = Buffer.concat([bridge.subarray(stop), chunk.subarray(tail)]);
      this.keep(buf, this.run(buf, 0, false));
    }
  }

  /** No more input: report the last row and any unterminated quote. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (!this.started) this.startBom();
    if (this.discard) {
      const d = this.discard;
      this.discard = null;
      if (d.inQuote && !d.quotePending) {
        this.sink.error('E_UNTERMINATED_QUOTE', d.quoteLine, this.carry + d.bytes,
          `a quoted field opened on line ${d.quoteLine} is never closed (${d.lfs - d.quoteLfs + 1} lines to the end of the input)`);
      } else {
        this.sink.error('E_ROW_TOO_LARGE', d.rowLine, this.carry + d.bytes, `the row is ${d.bytes} bytes, over the limit of ${this.maxRowBytes}`);
      }
      this.carry = 0;
      return;
    }
    if (this.pendingBytes > 0) {
      const buf = this.take();
      this.run(buf, 0, true);
    }
  }

  private startBom(): void {
    this.started = true;
    if (this.pendingBytes === 0) return;
    const b = this.take();
    if (b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) this.pending = [b.subarray(3)];
    else this.pending = [b];
    this.pendingBytes = this.pending[0]!.length;
  }

  /** All pending bytes as one buffer (and clear them). */
  private take(): Buffer {
    const b = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    return b;
  }

  /** Keep buf[stop..] as the pending (incomplete) row. */
  private keep(buf: Buffer, stop: number): void {
    const have = buf.length - stop;
    this.pending = have > 0 ? [stop === 0 ? buf : buf.subarray(stop)] : [];
    this.pendingBytes = have;
    this.waitFor = have;
  }

  /** Parse buf from `from`, through discard mode when a row is too long; returns where it stopped. */
  private run(buf: Buffer, from: number, final: boolean): number {
    let p = from;
    while (p < buf.length) {
      if (this.discard) {
        const at = this.discardScan(buf, p);
        if (at < 0) return buf.length;
        p = at;
        continue;
      }
      p = this.parse(buf, p, final);
      if (!this.discard) return p;
    }
    return p;
  }

  /**
   * Parse whole rows of buf from `pos`; returns the start of the first incomplete row (or the end).
   * When that row is already over the limit, discard mode is switched on from its start.
   */
  private parse(buf: Buffer, pos: number, final: boolean): number {
    const len = buf.length;
    const delim = this.delim;
    let line = this.line;
    let carry = this.carry;

    rows: while (pos < len) {
      // Blank lines.
      const c0 = buf[pos];
      if (c0 === LF) {
        pos++;
        line++;
        carry++;
        continue;
      }
      if (c0 === CR) {
        if (pos + 1 >= len) {
          if (!final) break;
        } else if (buf[pos + 1] === LF) {
          pos += 2;
          line++;
          carry += 2;
          continue;
        }
      }

      const rowStart = pos;
      let p = pos;
      let nf = 0;
      let lfs = 0; // LFs inside quoted fields
      let offsets = this.offsets;
      let rowEnd = -1; // position after the line end
      let bad: { code: FastCsvErrorCode; detail: string } | null = null;

      fields: for (;;) {
        if (3 * nf + 3 > offsets.length) {
          const grown = new Int32Array(offsets.length * 2);
          grown.set(offsets);
          this.offsets = offsets = grown;
        }
        if (p < len && buf[p] === QUOTE) {
          // Quoted field.
          const start = p + 1;
          let q = start;
          let escaped = 0;
          let close: number;
          for (;;) {
            close = buf.indexOf(QUOTE, q);
            if (close < 0 || (close + 1 >= len && !final)) {
              if (final) {
                // The input ends inside the quote.
                const quoteLine = line + lfs;
                const swallowed = countLf(buf, start, len);
                this.line = line;
                this.carry = 0;
                this.sink.error('E_UNTERMINATED_QUOTE', quoteLine, carry + len - rowStart,
                  `a quoted field opened on line ${quoteLine} is never closed (${swallowed + 1} lines to the end of the input)`);
                this.offsets = offsets;
                return len;
              }
              break fields; // incomplete
            }
            if (buf[close + 1] === QUOTE) {
              escaped = 1;
              q = close + 2;
              continue;
            }
            break;
          }
          lfs += countLf(buf, start, close);
          offsets[3 * nf] = start;
          offsets[3 * nf + 1] = close;
          offsets[3 * nf + 2] = escaped;
          nf++;
          p = close + 1;
          if (p >= len) {
            rowEnd = len; // final, checked above
            break;
          }
          const c = buf[p];
          if (c === delim) {
            p++;
            continue;
          }
          if (c === LF) {
            rowEnd = p + 1;
            break;
          }
          if (c === CR) {
            if (p + 1 >= len) {
              if (!final) break fields;
              rowEnd = len;
              break;
            }
            if (buf[p + 1] === LF) {
              rowEnd = p + 2;
              break;
            }
          }
          bad = { code: 'E_BAD_QUOTE', detail: `a closing quote in column ${nf} is followed by a character other than the delimiter or a line end` };
        } else {
          // Unquoted field: a short byte loop (long text is quoted in practice).
          const start = p;
          let e = p;
          let c = 0;
          for (; e < len; e++) {
            c = buf[e]!;
            if (c === delim || c === LF || c === QUOTE) break;
            if (c === CR) {
              if (e + 1 >= len) {
                if (final) continue;
                break fields;
              }
              if (buf[e + 1] === LF) break;
            }
          }
          if (e >= len) {
            if (!final) break fields;
            offsets[3 * nf] = start;
            offsets[3 * nf + 1] = e;
            offsets[3 * nf + 2] = 0;
            nf++;
            rowEnd = len;
            break;
          }
          if (c === QUOTE) {
            p = e;
            bad = { code: 'E_BAD_QUOTE', detail: `a quote inside unquoted column ${nf + 1} (quote the whole field and double the quote)` };
          } else {
            offsets[3 * nf] = start;
            offsets[3 * nf + 1] = e;
            offsets[3 * nf + 2] = 0;
            nf++;
            if (c === delim) {
              p = e + 1;
              if (p >= len && final) {
                // A trailing delimiter at the end of the input: one last empty field.
                offsets[3 * nf] = p;
                offsets[3 * nf + 1] = p;
                offsets[3 * nf + 2] = 0;
                nf++;
                rowEnd = len;
                break;
              }
              continue;
            }
            if (c === CR) {
              rowEnd = e + 2;
              break;
            }
            rowEnd = e + 1; // LF
            break;
          }
        }
        // A bad quote at p: skip to the end of this physical line.
        const nl = buf.indexOf(LF, p);
        if (nl < 0 && !final) break fields;
        const end = nl < 0 ? len : nl + 1;
        lfs += nl < 0 ? 0 : 1;
        this.sink.error(bad.code, line, carry + end - rowStart, bad.detail);
        carry = 0;
        line += lfs;
        pos = end;
        continue rows;
      }

      if (rowEnd < 0) {
        // Incomplete row: wait for more input, or discard it when it is already too long.
        const have = len - rowStart;
        this.line = line;
        this.carry = carry;
        this.offsets = offsets;
        if (have > this.maxRowBytes) this.startDiscard(line);
        return rowStart;
      }

      const rowBytes = rowEnd - rowStart;
      const lineEnds = rowEnd > 0 && buf[rowEnd - 1] === LF ? 1 : 0;
      if (rowBytes > this.maxRowBytes) {
        this.sink.error('E_ROW_TOO_LARGE', line, carry + rowBytes, `the row is ${rowBytes} bytes, over the limit of ${this.maxRowBytes}`);
      } else if (this.sink.raw !== undefined && this.sink.raw(buf, offsets, nf, line, rowStart, rowEnd)) {
        // taken as bytes by the sink
      } else {
        // Decode and validate in one pass: short fields through isUtf8 + toString, long ones through
        // a fatal TextDecoder (simdutf validates while it converts). Bytes outside fields are ASCII.
        const fields: string[] = new Array(nf);
        let valid = true;
        for (let i = 0; i < nf; i++) {
          const s = offsets[3 * i]!;
          const e = offsets[3 * i + 1]!;
          let v: string;
          if (e - s < 64) {
            if (s === e) v = '';
            else {
              const sub = buf.subarray(s, e);
              if (!isAscii(sub) && !isUtf8(sub)) {
                valid = false;
                break;
              }
              v = sub.toString('utf8');
            }
          } else {
            const sub = buf.subarray(s, e);
            try {
              v = isAscii(sub) ? buf.toString('latin1', s, e) : utf8.decode(sub);
            } catch {
              valid = false;
              break;
            }
          }
          if (offsets[3 * i + 2] === 1) v = v.replaceAll('""', '"');
          fields[i] = v;
        }
        if (valid) this.sink.row(fields, line, carry + rowBytes);
        else this.sink.error('E_INVALID_UTF8', line, carry + rowBytes, 'the row is not valid UTF-8 (convert the file to UTF-8, e.g. with iconv)');
      }
      carry = 0;
      line += lfs + lineEnds;
      pos = rowEnd;
    }
    // Everything consumed, or a lone CR waiting for its LF.
    this.line = line;
    this.carry = carry;
    return pos;
  }

  // ---- discard mode ---------------------------------------------------------------------------

  private startDiscard(line: number): void {
    this.discard = {
      rowLine: line,
      bytes: 0,
      lfs: 0,
      inQuote: false,
      quotePending: false,
      afterQuote: false,
      fieldStart: true,
      skipLine: false,
      quoteLine: line,
      quoteLfs: 0,
    };
  }

  /**
   * Scans `buf` from `from` in discard mode. Returns the position after the discarded row's line
   * end (discard mode is then off and the row reported), or -1 when the whole buffer was consumed.
   */
  private discardScan(buf: Buffer, from: number): number {
    const d = this.discard!;
    const len = buf.length;
    const delim = this.delim;
    let i = from;
    while (i < len) {
      if (d.skipLine) {
        const nl = buf.indexOf(LF, i);
        if (nl < 0) {
          d.bytes += len - i;
          return -1;
        }
        d.bytes += nl + 1 - i;
        d.lfs++;
        return this.finishDiscard(nl + 1);
      }
      if (d.inQuote) {
        if (d.quotePending) {
          d.quotePending = false;
          if (buf[i] === QUOTE) {
            d.bytes++;
            i++;
            continue;
          }
          d.inQuote = false;
          d.afterQuote = true;
          continue;
        }
        const close = buf.indexOf(QUOTE, i);
        if (close < 0) {
          d.lfs += countLf(buf, i, len);
          d.bytes += len - i;
          return -1;
        }
        d.lfs += countLf(buf, i, close);
        d.bytes += close + 1 - i;
        i = close + 1;
        if (i >= len) {
          d.quotePending = true;
          return -1;
        }
        if (buf[i] === QUOTE) {
          d.bytes++;
          i++;
          continue;
        }
        d.inQuote = false;
        d.afterQuote = true;
        continue;
      }
      const c = buf[i]!;
      d.bytes++;
      i++;
      if (c === LF) {
        d.lfs++;
        return this.finishDiscard(i);
      }
      if (d.afterQuote) {
        d.afterQuote = false;
        if (c === delim) d.fieldStart = true;
        else if (c !== CR) d.skipLine = true;
        continue;
      }
      if (c === delim) d.fieldStart = true;
      else if (c === QUOTE) {
        if (d.fieldStart) {
          d.inQuote = true;
          d.quoteLine = d.rowLine + d.lfs;
          d.quoteLfs = d.lfs;
        } else d.skipLine = true;
        d.fieldStart = false;
      } else d.fieldStart = false;
    }
    return -1;
  }

  private finishDiscard(at: number): number {
    const d = this.discard!;
    this.discard = null;
    this.sink.error('E_ROW_TOO_LARGE', d.rowLine, this.carry + d.bytes, `the row is ${d.bytes} bytes, over the limit of ${this.maxRowBytes}`);
    this.carry = 0;
    this.line = d.rowLine + d.lfs;
    return at;
  }
}

interface DiscardState {
  rowLine: number;
  /** Bytes of the row seen so far. */
  bytes: number;
  /** LFs of the row seen so far. */
  lfs: number;
  inQuote: boolean;
  /** A quote ended the last chunk inside a quoted field: `""` or a closing quote? */
  quotePending: boolean;
  /** Just after a closing quote. */
  afterQuote: boolean;
  fieldStart: boolean;
  /** A malformed quote: skip to the end of the physical line. */
  skipLine: boolean;
  quoteLine: number;
  quoteLfs: number;
}
