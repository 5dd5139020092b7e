/**
 * The ledger: an append-only JSONL file beside the prepared shards (`<run>/ledger.jsonl`, never
 * inside `input/`), one event per step. It holds no secrets and no record text.
 *
 *   {"v":1,"at":"...","event":"run","runId","run","mode","output","outputUri","region","modelId",...}
 *   {"v":1,"at":"...","event":"submitting","job":"job-0001","jobName","token","input"}    before Create
 *   {"v":1,"at":"...","event":"submitted","job","jobName","token","jobArn","input","output"}
 *   {"v":1,"at":"...","event":"adopted",...same as submitted}   found on the service, not in the ledger
 *   {"v":1,"at":"...","event":"status","job","jobArn","status","records":{total,processed,success,error}}
 *   {"v":1,"at":"...","event":"done","job","jobArn","status","records",...,"message"?}   terminal
 *   {"v":1,"at":"...","event":"create-failed","job","jobName","error"}
 *   {"v":1,"at":"...","event":"stop-requested","job","jobArn"}
 *
 * A crash at any byte leaves a readable ledger: every event is one `write` of one line ending in
 * `\n`, flushed to disk before the step it records goes on; a last line without its newline is
 * the torn end of an interrupted write, ignored with a note (and cut off before the next append,
 * so it never glues onto a new line). On a local disk the file is appended to; in S3, which cannot
 * append, the whole object is rewritten per event (each PUT is atomic, and a ledger is small).
 */
import { closeSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { text as streamText } from 'node:stream/consumers';
import { BatchError } from '../errors.js';
import { openStore } from '../stores/index.js';
import type { Store } from '../stores/store.js';
import { isS3 } from './run.js';

export const LEDGER_KEY = 'ledger.jsonl';

export interface RecordCounts {
  total: number;
  processed: number;
  success: number;
  error: number;
}

interface Base {
  v: 1;
  at: string;
}

export interface RunEvent extends Base {
  event: 'run';
  runId: string;
  run: string;
  mode: 'local' | 'aws';
  /** Where outputs land for the user: a local directory (absolute) or an s3:// prefix. */
  output: string;
  /** The s3Uri jobs are given as their output. */
  outputUri: string;
  region?: string;
  endpoint?: string;
  /** With an endpoint: the directory whose local paths are the service's s3:// URIs. */
  s3Root?: string;
  modelId: string;
  invocationType: string;
  roleArn: string;
  jobs: number;
}

export interface SubmitEvent extends Base {
  event: 'submitting' | 'submitted' | 'adopted';
  job: string;
  jobName: string;
  token: string;
  input: string;
  jobArn?: string;
  output?: string;
}

export interface StatusEvent extends Base {
  event: 'status' | 'done';
  job: string;
  jobArn: string;
  status: string;
  records: RecordCounts;
  message?: string;
}

export interface OtherEvent extends Base {
  event: 'create-failed' | 'stop-requested';
  job: string;
  jobName?: string;
  jobArn?: string;
  error?: string;
}

export type LedgerEvent = RunEvent | SubmitEvent | StatusEvent | OtherEvent;

/** Distributes Omit over the union, so each event keeps its own fields. */
type WithoutBase<T> = T extends unknown ? Omit<T, 'v' | 'at'> : never;
export type NewLedgerEvent = WithoutBase<LedgerEvent>;

/** What the ledger says about one job folder. */
export interface LedgerJob {
  job: string;
  jobName?: string;
  token?: string;
  input?: string;
  jobArn?: string;
  output?: string;
  status?: string;
  records?: RecordCounts;
  message?: string;
  done: boolean;
  /** A Create was sent (or about to be) but its answer was never recorded. */
  inDoubt: boolean;
  createError?: string;
}

export interface LedgerState {
  run?: RunEvent;
  jobs: Map<string, LedgerJob>;
  events: number;
  /** Notes for the user (a torn last line). */
  notes: string[];
}

/** Fold events into per-job state. */
export function reduceLedger(events: Iterable<LedgerEvent>): Omit<LedgerState, 'notes'> {
  const state: Omit<LedgerState, 'notes'> = { jobs: new Map(), events: 0 };
  for (const e of events) applyEvent(state, e);
  return state;
}

/** Fold one event into a state. */
export function applyEvent(state: Omit<LedgerState, 'notes'>, e: LedgerEvent): void {
  state.events++;
  if (e.event === 'run') {
    state.run ??= e;
    return;
  }
  let j = state.jobs.get(e.job);
  if (!j) state.jobs.set(e.job, (j = { job: e.job, done: false, inDoubt: false }));
  switch (e.event) {
    case 'submitting':
      if (!j.jobArn) Object.assign(j, { jobName: e.jobName, token: e.token, input: e.input, inDoubt: true });
      break;
    case 'submitted':
    case 'adopted':
      Object.assign(j, { jobName: e.jobName, token: e.token, input: e.input, jobArn: e.jobArn, inDoubt: false });
      if (e.output !== undefined) j.output = e.output;
      delete j.createError;
      break;
    case 'status':
    case 'done':
      j.jobArn ??= e.jobArn;
      j.status = e.status;
      j.records = e.records;
      if (e.message !== undefined) j.message = e.message;
      j.done = e.event === 'done';
      break;
    case 'create-failed':
      j.inDoubt = false;
      if (e.error !== undefined) j.createError = e.error;
      break;
    case 'stop-requested':
      break;
  }
}

/** Parse ledger text: every complete line must be an event; a torn last line is left out with a note. */
export function parseLedger(text: string, where: string): { events: LedgerEvent[]; notes: string[]; tornBytes: number } {
  const events: LedgerEvent[] = [];
  const notes: string[] = [];
  let tornBytes = 0;
  let start = 0;
  let line = 0;
  while (start < text.length) {
    const nl = text.indexOf('\n', start);
    line++;
    if (nl < 0) {
      tornBytes = Buffer.byteLength(text.slice(start));
      notes.push(`${where}: ignored a torn last line (${tornBytes} bytes, line ${line}) left by an interrupted run`);
      break;
    }
    const raw = text.slice(start, nl);
    start = nl + 1;
    if (raw.trim() === '') continue;
    let e: LedgerEvent;
    try {
      e = JSON.parse(raw) as LedgerEvent;
    } catch {
      throw new BatchError('E_LEDGER', 'is not a ledger line (not JSON)', {
        file: where,
        line,
        hint: 'the ledger is append-only and written one line at a time: a broken line that is not the last means something else edited it; restore it or move it away',
      });
    }
    if (typeof e !== 'object' || e === null || e.v !== 1 || typeof e.event !== 'string') {
      throw new BatchError('E_LEDGER', 'is not a bedrock-batch ledger event (v 1)', { file: where, line });
    }
    events.push(e);
  }
  return { events, notes, tornBytes };
}

/** An open ledger: read once, appended to after. */
export class Ledger {
  private constructor(
    /** Where the ledger is (a path or a URI). */
    readonly location: string,
    private readonly backend: FileBackend | StoreBackend,
    readonly state: LedgerState,
  ) {}

  /**
   * Open the ledger at `location`: a local path, or an s3:// URI. A missing ledger is an empty one
   * (created on the first append).
   */
  static async open(location: string): Promise<Ledger> {
    const backend = isS3(location) ? await StoreBackend.open(location) : FileBackend.open(location);
    const { events, notes } = parseLedger(backend.text, location);
    const state: LedgerState = { ...reduceLedger(events), notes };
    return new Ledger(location, backend, state);
  }

  /** Read a ledger without opening it for writing. */
  static async read(location: string): Promise<LedgerState> {
    let text = '';
    if (isS3(location)) {
      const { store, key } = splitUri(location);
      if (await store.exists(key)) text = await streamText(store.createReadStream(key));
    } else {
      try {
        text = readFileSync(location, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    const { events, notes } = parseLedger(text, location);
    return { ...reduceLedger(events), notes };
  }

  get exists(): boolean {
    return this.state.events > 0;
  }

  /** Append one event, durably, and fold it into `state`. */
  async append(event: NewLedgerEvent): Promise<void> {
    const full = { v: 1, at: new Date().toISOString(), ...event } as LedgerEvent;
    await this.backend.append(JSON.stringify(full) + '\n');
    applyEvent(this.state, full);
  }

  async close(): Promise<void> {
    this.backend.close();
  }
}

class FileBackend {
  private fd: number | undefined;
  private constructor(
    readonly path: string,
    readonly text: string,
    private tornBytes: number,
  ) {}

  static open(path: string): FileBackend {
    let text = '';
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const nl = text.lastIndexOf('\n');
    const torn = Buffer.byteLength(text.slice(nl + 1));
    return new FileBackend(path, text, torn);
  }

  async append(line: string): Promise<void> {
    if (this.fd === undefined) {
      mkdirSync(dirname(this.path), { recursive: true });
      this.fd = openSync(this.path, 'a+');
      if (this.tornBytes > 0) {
        // Cut the torn tail so the next event starts on a line of its own.
        const size = Buffer.byteLength(this.text);
        ftruncateSync(this.fd, size - this.tornBytes);
        this.tornBytes = 0;
      }
    }
    writeSync(this.fd, line);
    fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

class StoreBackend {
  private constructor(
    private readonly store: Store,
    private readonly key: string,
    public text: string,
  ) {}

  static async open(uri: string): Promise<StoreBackend> {
    const { store, key } = splitUri(uri);
    const text = (await store.exists(key)) ? await streamText(store.createReadStream(key)) : '';
    const nl = text.lastIndexOf('\n');
    return new StoreBackend(store, key, text.slice(0, nl + 1));
  }

  async append(line: string): Promise<void> {
    const next = this.text + line;
    await pipeline(async function* () {
      yield next;
    }, this.store.createWriteStream(this.key, { contentType: 'application/jsonl' }));
    this.text = next;
  }

  close(): void {}
}

function splitUri(uri: string): { store: Store; key: string } {
  const cut = uri.lastIndexOf('/');
  return { store: openStore(uri.slice(0, cut + 1)), key: uri.slice(cut + 1) };
}
