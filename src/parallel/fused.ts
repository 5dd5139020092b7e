/**
 * The fused path of prepare: one CSV row straight from the piece's bytes to its record line and
 * lineage line, without the objects the stages pass along (row, call, prompt, record) and without
 * decoding the transcript into a string or serialising it again. It runs only where the stages say
 * exactly what they would do with a row (`StagesModule.rowRecipe`: one call per row, the transcript
 * one column, a template, passthrough columns), for model families whose request is a fixed
 * envelope around the prompt text, and only for rows it can encode exactly:
 *
 *   - the row has the header's column count and is valid UTF-8;
 *   - its key is not blank; its transcript starts (after ASCII blanks) with a visible ASCII byte;
 *   - every template placeholder has its value; the call's bytes, tokens and line are in bounds.
 *
 * Any other row goes to the stages, in its place (the decoder then decodes it as usual), so every
 * reject and every rare case is the stages' own. The record line is the envelope (the family's
 * `buildInput` on a probe prompt, serialised once and cut around it), the prompt's literal parts
 * escaped once, and the transcript escaped byte by byte as JSON.stringify escapes it, U+2028,
 * U+2029 and U+0085 as `\u` escapes like `serializeRecord`. Token estimates are counted on the
 * bytes as `estimateTokens` counts them on the string. The lineage line is the stages' own
 * function on the same fields, its request hash taken from the record's bytes as written
 * (`recordRequest`, as the stages' path takes it). test/prepare/fused.test.ts holds the two paths to
 * the same bytes.
 */
import { isUtf8 } from 'node:buffer';
import { isObject } from '../core/values.js';
import { familyFor } from '../models/index.js';
import { hasText } from '../models/rules.js';
import type { FamilyName } from '../models/family.js';
import { resolveModel } from '../records/to-records.js';
import { recordRequest } from '../records/request-hash.js';
import { estimateTokens, structuredTokens, tokensOf } from '../records/tokens.js';
import { LINE_BREAKERS, lineSafe } from '../records/validate.js';
import type { SourceItem } from '../records/types.js';
import { LINEAGE_RESERVED, lineageLine } from '../run/sidecars.js';
import type { WorkerSetup } from './protocol.js';
import type { RowRecipe } from './stages.js';

/** Families whose `validateInput` reads nothing of the prompt but whether it is blank, and whose
 * `buildInput` puts the prompt in unchanged, once: the envelope is then the same for every row. */
const ENVELOPE_FAMILIES: ReadonlySet<FamilyName> = new Set(['anthropic', 'nova', 'converse']);

/** A prompt whose JSON form is found again in the serialised request (blanks at both ends, so a
 * family that trimmed the prompt would not match). */
const PROBE = ' \n\u0001fused-prompt-7c1e\u0001\n ';

/** A string's JSON escape without its quotes, line-safe, as bytes. */
function escapedBytes(text: string): Buffer {
  const json = lineSafe(JSON.stringify(text));
  return Buffer.from(json.slice(1, -1), 'utf8');
}

const HEAD = Buffer.from('{"recordId":"');
const MID = Buffer.from('","modelInput":');
const TAIL = Buffer.from('}\n');
const ID_LENGTH = 11;
const HEX = '0123456789abcdef';

/**
 * What each byte needs in a JSON string: 0 copy, 1 continuation byte (copy, counted), 2 lead of a
 * 4-byte character (copy, counted), 3 0xC2 (U+0085?), 4 0xE2 (U+2028/9?), 5 control character,
 * 6 `"`, 7 `\`.
 */
const CLASS = new Uint8Array(256);
for (let b = 0; b < 0x20; b++) CLASS[b] = 5;
CLASS[0x22] = 6;
CLASS[0x5c] = 7;
for (let b = 0x80; b < 0xc0; b++) CLASS[b] = 1;
for (let b = 0xf0; b < 0x100; b++) CLASS[b] = 2;
CLASS[0xc2] = 3;
CLASS[0xe2] = 4;
const SHORT_ESCAPE = new Uint8Array(0x20);
SHORT_ESCAPE[0x08] = 0x62; // \b
SHORT_ESCAPE[0x09] = 0x74; // \t
SHORT_ESCAPE[0x0a] = 0x6e; // \n
SHORT_ESCAPE[0x0c] = 0x66; // \f
SHORT_ESCAPE[0x0d] = 0x72; // \r

type Part = { kind: 'text'; text: string; bytes: Buffer; units: number; utf8: number } | { kind: 'transcript' } | { kind: 'key' } | { kind: 'field'; name: string };

/** Where the fused path reports a record it wrote (the piece handler). */
export interface FusedTarget {
  data: { buf: Buffer; length: number; ensure(n: number): void };
  lineage: { append(text: string): number };
  assignId(file: string, key: string, line: number): string;
  /** Appends a record's line to `data`; returns its bytes. */
  append(line: string): number;
  /** Called before a record encoded at data[start, end) is written: returns where it now starts. */
  settle(start: number, end: number): number;
  recordWritten(size: number, inputTokens: number, outputTokens: number): void;
}

/** What every record of a file shares, for both fused encoders: the request around the prompt, the
 * compiled template, and the bounds the stages check. Undefined when the model's request is not a
 * fixed envelope around the prompt text. */
export class Envelope {
  private constructor(
    /** The record line up to the prompt's first byte, without the recordId (`{"recordId":"` + id follows `head`). */
    readonly prefix: Buffer,
    readonly suffix: Buffer,
    readonly prefixText: string,
    readonly suffixText: string,
    readonly parts: Part[],
    readonly systemTokens: number,
    readonly outputTokens: number,
    readonly contextTokens: number,
    readonly maxRecordBytes: number,
    readonly maxCallBytes: number,
    readonly lineage: boolean,
    /** `RowRecipe.fitBudget`: a prompt estimated over it goes to the stages (Infinity: no fit). */
    readonly fitBudget: number,
  ) {
    for (const p of parts) {
      if (p.kind === 'text') this.literalBytes += p.bytes.length;
      else if (p.kind === 'transcript') this.transcripts++;
    }
  }

  /** The escaped bytes of the template's literal parts. */
  readonly literalBytes: number = 0;
  /** How many times the template puts the transcript in (each escaped copy needs its room). */
  readonly transcripts: number = 0;

  static of(recipe: RowRecipe, setup: WorkerSetup): Envelope | undefined {
    const family = familyFor(setup.model.modelId, {
      ...(setup.model.family ? { family: setup.model.family } : {}),
      ...(setup.model.invocationType ? { invocationType: setup.model.invocationType } : {}),
    });
    if (!ENVELOPE_FAMILIES.has(family.name) || family !== resolveModel(setup.model)) return undefined;
    const modelInput = family.buildInput(recipe.system === undefined ? { prompt: PROBE } : { prompt: PROBE, system: recipe.system }, { ...setup.model });
    if (family.validateInput(modelInput, setup.model.modelId).length > 0) return undefined;
    const json = lineSafe(JSON.stringify(modelInput));
    const probe = lineSafe(JSON.stringify(PROBE)).slice(1, -1);
    const at = json.indexOf(probe);
    if (at < 0 || json.indexOf(probe, at + 1) >= 0) return undefined;
    const parts: Part[] = [];
    for (const p of recipe.template) {
      if ('text' in p) {
        if (p.text !== '') parts.push({ kind: 'text', text: p.text, bytes: escapedBytes(p.text), units: p.text.length, utf8: Buffer.byteLength(p.text) });
      } else if (p.field === 'transcript') parts.push({ kind: 'transcript' });
      else if (p.field === 'key') parts.push({ kind: 'key' });
      else parts.push({ kind: 'field', name: p.field });
    }
    const system = recipe.system;
    const prefixText = json.slice(0, at);
    const suffixText = json.slice(at + probe.length);
    return new Envelope(
      Buffer.from(prefixText),
      Buffer.from(suffixText),
      prefixText,
      suffixText,
      parts,
      (system === undefined ? estimateTokens(setup.model.system) : estimateTokens(system)) + structuredTokens(setup.model.structured),
      setup.model.maxTokens ?? family.defaultMaxTokens,
      family.limits(setup.model.modelId).contextTokens,
      setup.maxRecordBytes,
      recipe.maxCallBytes,
      setup.lineage,
      recipe.fitBudget ?? Infinity,
    );
  }

}

export class FusedRows {
  private constructor(
    private readonly target: FusedTarget,
    private readonly env: Envelope,
    private readonly columns: readonly string[],
    private readonly keyAt: number,
    private readonly textAt: number,
    /** The passthrough columns in the order a row object lists them, and whether `auto` bounds them. */
    private readonly passthrough: readonly number[],
    private readonly auto: boolean,
    /** The lineage names of the passthrough columns as JSON (`"agent":`), when the lineage line can be
     * written by hand: no name is renamed onto another or listed first by an object (array index). */
    private readonly lineageNames: readonly string[] | undefined,
  ) {}

  /** Whether every row of the piece now being decoded is valid UTF-8 (checked once for the piece). */
  pieceIsUtf8 = false;
  private fileJson = { file: '', json: '""' };

  /** The fused path for a file with these columns, or undefined when its rows cannot take it. */
  static create(recipe: RowRecipe, columns: readonly string[], setup: WorkerSetup, target: FusedTarget): FusedRows | undefined {
    // A row object takes __proto__ apart (the decoder defines it as an own field): leave such files
    // alone. Array-index names ("2024") are listed first by any object: the lineage line is built
    // by the same function from an object of the same fields, so it comes out the same.
    if (columns.includes('__proto__')) return undefined;
    if (new Set(columns).size !== columns.length) return undefined;
    const keyAt = columns.indexOf(recipe.key);
    const textAt = columns.indexOf(recipe.text);
    if (keyAt < 0 || textAt < 0 || keyAt === textAt) return undefined;
    const env = Envelope.of(recipe, setup);
    if (!env) return undefined;
    // The passthrough columns, as pickPassthrough lists them for a row object of these columns.
    const excluded = (c: string) => c === recipe.key || c === recipe.text || recipe.exclude.includes(c);
    let passthrough: number[] = [];
    const option = recipe.passthrough;
    if (Array.isArray(option)) {
      for (const name of option) {
        const i = columns.indexOf(name);
        if (i >= 0 && !excluded(name) && !passthrough.includes(i)) passthrough.push(i);
      }
    } else if (option !== 'none') {
      passthrough = columns.map((_, i) => i).filter((i) => !excluded(columns[i]!));
    }
    const names = passthrough.map((i) => (LINEAGE_RESERVED.has(columns[i]!) ? `_${columns[i]!}` : columns[i]!));
    const byHand = new Set([...names, 'recordId', 'key', 'file', 'line', 'request']).size === names.length + 5 && !names.some((n) => /^(?:0|[1-9]\d*)$/.test(n));
    return new FusedRows(target, env, columns, keyAt, textAt, passthrough, option === 'auto', byHand ? names.map((n) => `${JSON.stringify(n)}:`) : undefined);
  }

  /**
   * Encode one row (its fields at `offsets`: start, end, `""`-escaped triples) as a record, or
   * return false, having written nothing, for the stages to take it.
   */
  row(buf: Buffer, offsets: Int32Array, fields: number, line: number, rowStart: number, rowEnd: number, file: string): boolean {
    if (fields !== this.columns.length) return false;
    if (!this.pieceIsUtf8 && !isUtf8(buf.subarray(rowStart, rowEnd))) return false;
    const key = this.field(buf, offsets, this.keyAt).trim();
    if (key === '') return false;
    // The transcript must not be blank (String.prototype.trim's sense): its first byte after ASCII
    // blanks is a visible ASCII character, or the stages decide.
    const ts = offsets[3 * this.textAt]!;
    const te = offsets[3 * this.textAt + 1]!;
    let first = ts;
    while (first < te && (buf[first] === 0x20 || (buf[first]! >= 0x09 && buf[first]! <= 0x0d))) first++;
    if (first >= te || buf[first]! < 0x21 || buf[first]! > 0x7e) return false;

    let pass: Record<string, string> | undefined;
    if (this.passthrough.length > 0) {
      for (const i of this.passthrough) {
        const v = this.field(buf, offsets, i);
        if (this.auto && v.length > 256) continue;
        (pass ??= {})[this.columns[i]!] = v;
      }
    }

    const target = this.target;
    const data = target.data;
    const start = data.length;
    const textBytes = te - ts;
    // Room for the worst case (every byte a \u00XX escape): the loop below writes without checks.
    data.ensure(HEAD.length + ID_LENGTH + MID.length + this.env.prefix.length + this.env.suffix.length + TAIL.length + 6 * textBytes * this.env.transcripts + this.env.literalBytes + 6 * 1024);
    let out = data.buf;
    let o = start;
    o += HEAD.copy(out, o);
    const idAt = o;
    o += ID_LENGTH;
    o += MID.copy(out, o);
    o += this.env.prefix.copy(out, o);
    let promptUnits = 0;
    let promptBytes = 0;
    let callBytes = 0;
    for (const part of this.env.parts) {
      if (part.kind === 'text') {
        o += part.bytes.copy(out, o);
        promptUnits += part.units;
        promptBytes += part.utf8;
      } else if (part.kind === 'transcript') {
        const escaped = offsets[3 * this.textAt + 2] === 1;
        let cont = 0;
        let four = 0;
        let pairs = 0;
        for (let i = ts; i < te; i++) {
          const b = buf[i]!;
          const k = CLASS[b]!;
          if (k === 0) {
            out[o++] = b;
            continue;
          }
          switch (k) {
            case 1:
              cont++;
              out[o++] = b;
              break;
            case 2:
              four++;
              out[o++] = b;
              break;
            case 3:
              if (buf[i + 1] === 0x85) {
                o += out.write('\\u0085', o, 'latin1');
                cont++;
                i++;
              } else out[o++] = b;
              break;
            case 4:
              if (buf[i + 1] === 0x80 && (buf[i + 2] === 0xa8 || buf[i + 2] === 0xa9)) {
                o += out.write(buf[i + 2] === 0xa8 ? '\\u2028' : '\\u2029', o, 'latin1');
                cont += 2;
                i += 2;
              } else out[o++] = b;
              break;
            case 5: {
              out[o++] = 0x5c;
              const short = SHORT_ESCAPE[b]!;
              if (short !== 0) out[o++] = short;
              else {
                out[o++] = 0x75; // u00XX
                out[o++] = 0x30;
                out[o++] = 0x30;
                out[o++] = HEX.charCodeAt(b >> 4);
                out[o++] = HEX.charCodeAt(b & 15);
              }
              break;
            }
            case 6:
              out[o++] = 0x5c;
              out[o++] = 0x22;
              if (escaped) {
                i++; // `""` is one quote
                pairs++;
              }
              break;
            default:
              out[o++] = 0x5c;
              out[o++] = 0x5c;
          }
        }
        const bytes = textBytes - pairs;
        callBytes = bytes + 1; // the row adapter's turn bytes: text, no speaker, one
        promptBytes += bytes;
        promptUnits += bytes - cont + four;
      } else {
        const value = part.kind === 'key' ? key : pass?.[part.name];
        if (value === undefined) return this.undo(start);
        const e = escapedBytes(value);
        if (o + e.length + 6 * 1024 > out.length) {
          data.length = o;
          data.ensure(e.length + this.env.suffix.length + 6 * 1024);
          out = data.buf;
        }
        o += e.copy(out, o);
        promptUnits += value.length;
        promptBytes += Buffer.byteLength(value);
      }
    }
    if (callBytes > this.env.maxCallBytes) return this.undo(start);
    const promptTokens = tokensOf(promptUnits, promptBytes);
    if (promptTokens > this.env.fitBudget) return this.undo(start);
    const inputTokens = promptTokens + this.env.systemTokens;
    if (inputTokens + this.env.outputTokens > this.env.contextTokens) return this.undo(start);
    o += this.env.suffix.copy(out, o);
    o += TAIL.copy(out, o);
    const size = o - start;
    if (size > this.env.maxRecordBytes) return this.undo(start);
    // Every check passed. What the stages hold goes first; then the id stage's work (its event must
    // not exist for a row the stages take).
    const at = target.settle(start, o);
    const recordId = target.assignId(file, key, line);
    data.buf.write(recordId, at + (idAt - start), 'latin1');
    data.length = at + size;
    target.recordWritten(size, inputTokens, this.env.outputTokens);
    if (this.env.lineage) target.lineage.append(this.lineageOf(recordId, key, file, line, recordRequest(data.buf, at, at + size), pass));
    return true;
  }

  /**
   * The record's lineage line: lineageLine's own output (an object of the same fields, JSON.stringify),
   * written by hand when the names allow (see `lineageNames`): `{"recordId", "key", "file", "line",
   * "request", then the passthrough columns in the row object's order}`.
   */
  private lineageOf(recordId: string, key: string, file: string, line: number, request: string, pass: Record<string, string> | undefined): string {
    const names = this.lineageNames;
    if (names === undefined) return lineageLine(recordId, pass === undefined ? { key, file, line, request } : { key, file, line, request, passthrough: pass });
    if (this.fileJson.file !== file) this.fileJson = { file, json: JSON.stringify(file) };
    // (a request hash is hex digits: nothing to escape)
    let out = `{"recordId":"${recordId}","key":${JSON.stringify(key)},"file":${this.fileJson.json},"line":${line},"request":"${request}"`;
    if (pass !== undefined) {
      for (let n = 0; n < this.passthrough.length; n++) {
        const v = pass[this.columns[this.passthrough[n]!]!];
        if (v !== undefined) out += `,${names[n]!}${JSON.stringify(v)}`;
      }
    }
    return `${out}}\n`;
  }

  private undo(start: number): false {
    this.target.data.length = start;
    return false;
  }

  /** Field i of the row as the decoder would give it (valid UTF-8 was checked). */
  private field(buf: Buffer, offsets: Int32Array, i: number): string {
    const s = offsets[3 * i]!;
    const e = offsets[3 * i + 1]!;
    if (s === e) return '';
    const v = buf.toString('utf8', s, e);
    return offsets[3 * i + 2] === 1 ? v.replaceAll('""', '"') : v;
  }
}

/**
 * The fused path for rows that arrive decoded (JSON Lines objects): the call, prompt and record
 * objects and the serialisation of the whole request are skipped; the prompt is rendered as one
 * string, escaped once and put into the envelope. The row adapter's own readers (`RowRecipe.read`)
 * find the id, the transcript and the passthrough fields. A row it cannot take exactly goes to the
 * stages, as in FusedRows.
 */
export class FusedItems {
  private constructor(
    private readonly target: FusedTarget,
    private readonly env: Envelope,
    private readonly read: NonNullable<RowRecipe['read']>,
  ) {}

  static create(recipe: RowRecipe, setup: WorkerSetup, target: FusedTarget): FusedItems | undefined {
    const env = recipe.read ? Envelope.of(recipe, setup) : undefined;
    return env ? new FusedItems(target, env, recipe.read!) : undefined;
  }

  /** Encode one decoded row as a record, or return false, having written nothing, for the stages. */
  item(item: SourceItem): boolean {
    const row = item.value;
    if (!isObject(row)) return false;
    const { env, read } = this;
    const key = read.key(row);
    if (key === undefined) return false;
    const text = read.text(row);
    if (text === undefined || text.trim() === '' || Buffer.byteLength(text) + 1 > env.maxCallBytes) return false;
    const pass = read.passthrough(row);
    let prompt = '';
    for (const part of env.parts) {
      if (part.kind === 'text') prompt += part.text;
      else if (part.kind === 'transcript') prompt += text;
      else if (part.kind === 'key') prompt += key;
      else {
        const v = pass?.[part.name];
        if (v === undefined || v === null || typeof v === 'object') return false;
        prompt += String(v);
      }
    }
    if (!hasText(prompt)) return false;
    const promptTokens = estimateTokens(prompt);
    if (promptTokens > env.fitBudget) return false;
    const inputTokens = promptTokens + env.systemTokens;
    if (inputTokens + env.outputTokens > env.contextTokens) return false;
    let escaped = JSON.stringify(prompt);
    let escapedBytes = Buffer.byteLength(escaped);
    if (escapedBytes !== escaped.length && LINE_BREAKERS.test(escaped)) {
      escaped = lineSafe(escaped);
      escapedBytes = Buffer.byteLength(escaped);
    }
    const size = HEAD.length + ID_LENGTH + MID.length + env.prefix.length + escapedBytes - 2 + env.suffix.length + TAIL.length;
    if (size > env.maxRecordBytes) return false;
    const target = this.target;
    target.settle(target.data.length, target.data.length);
    const recordId = target.assignId(item.file, key, item.line);
    const line = `{"recordId":"${recordId}","modelInput":${env.prefixText}${escaped.slice(1, -1)}${env.suffixText}}\n`;
    const written = target.append(line);
    target.recordWritten(written, inputTokens, env.outputTokens);
    if (env.lineage) {
      const data = target.data;
      const l = { key, file: item.file, line: item.line, request: recordRequest(data.buf, data.length - written, data.length) };
      target.lineage.append(lineageLine(recordId, pass === undefined ? l : { ...l, passthrough: pass }));
    }
    return true;
  }
}
