/**
 * The messages between parallel prepare's main thread and its workers. A piece of a file goes out
 * as bytes (row-aligned); what comes back is the piece's records already serialised (one batch),
 * its rejects, one id event per record for the main thread's run-wide duplicate check, and the raw
 * items of the groups that may continue into the neighbouring pieces (see engine.ts).
 */
import type { ToRecordsOptions } from '../records/to-records.js';
import type { DuplicateScope, IdMode } from '../records/ids.js';
import type { PrepareItem, Reject, SourceItem } from '../records/types.js';
import type { StagesSpec } from './stages.js';

export type PieceFormat = 'csv' | 'jsonl';

/** Given once, when a worker starts. */
export interface WorkerSetup {
  stages: { module: string; options: unknown };
  model: ToRecordsOptions;
  maxRecordBytes: number;
  ids: { mode: IdMode; namespace?: string; duplicates: DuplicateScope };
  lineage: boolean;
  /** Whether rows may take the fused path (piece.ts). */
  fused: boolean;
}

/** One piece of one file. */
export interface PieceMessage {
  seq: number;
  file: string;
  format: PieceFormat;
  /** CSV: the delimiter and the header already read on the main thread. */
  delimiter?: string;
  columns?: string[];
  maxRowBytes: number;
  firstLine: number;
  /** The last piece of the file: the decoder is ended (a last row without a newline, an open quote). */
  last: boolean;
  /** The stage options with per-file decisions fixed, and the group key (see StagesModule). */
  pinned: { options: unknown; groupKey: string | undefined };
  /** The piece's bytes: input[0, length). The main thread keeps the slab until it takes the result. */
  input: SharedArrayBuffer;
  length: number;
  /** Where the worker writes the records' lines and their lineage lines (shared slabs, reused). */
  dataSlab: SharedArrayBuffer;
  lineageSlab: SharedArrayBuffer;
}

/** Bytes a worker wrote: in the slab it was given, or (when they did not fit) in a buffer of its own. */
export type PieceBytes = { inSlab: true; length: number } | { inSlab: false; bytes: Uint8Array };

export interface PieceBatch {
  count: number;
  data: PieceBytes;
  sizes: Int32Array;
  lineage: PieceBytes;
  /** Per record: estimated input tokens and the output-token budget. */
  inputTokens: Int32Array;
  outputTokens: Int32Array;
  /** Per record, only when some record of the piece has one: PII replaced per type (null: none). */
  redacted?: (Record<string, number> | null)[];
  /** Per record, only when some record of the piece was truncated to fit: turns omitted (0: none). */
  truncated?: Int32Array;
}

/** One event per record that passed the id stage, in order: its key fingerprint and what became of it. */
export interface PieceEvents {
  count: number;
  /** hi, lo of each key's fingerprint. */
  fingerprints: Uint32Array;
  /** Random mode: hi, lo of each drawn id. */
  ids?: Uint32Array;
  lines: Int32Array;
  /** The keys, when there is no lineage to read them from (the main thread needs one only to name a
   * duplicate, and the batch's lineage line has it). */
  keys?: string[];
  /** >= 0: index in the batch; < 0: -(index in `rejects` + 1), a record the validate stage rejected. */
  outcome: Int32Array;
}

export interface PieceResult {
  seq: number;
  /** Raw items of the group the piece starts with (it may continue a group of the piece before). */
  head: Array<SourceItem | Reject>;
  /** True when no item of the piece ends the group it starts with: everything is in `head`. */
  whole: boolean;
  /** Raw items of the group the piece ends with (it may go on in the next piece). */
  tail: Array<SourceItem | Reject>;
  batch: PieceBatch;
  rejects: Reject[];
  events: PieceEvents;
  /** Calls and rejects counted in the middle (what prepare calls "read"). */
  read: number;
  /** Records of the batch the fused path encoded. */
  fused: number;
  /** False when the piece did not end on a row boundary (malformed quotes fooled the cutter): the
   * main thread then drops this result and decodes the file on from the piece's start itself. */
  clean: boolean;
  nextLine: number;
}

export interface PieceFailure {
  seq: number;
  error: { message: string; code?: string; hint?: string; file?: string; line?: number; stack?: string };
}

export type WorkerReply = PieceResult | PieceFailure;

export type { PrepareItem, StagesSpec };
