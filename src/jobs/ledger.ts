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
 *   {"v":1,"at":"...","event":"on-demand","job","jobName","token","jobArn","input","output","modelId","reason"}
 *                                   a folder answered through the Bedrock Runtime (docs/on-demand.md);
 *                                   jobArn is `on-demand/<jobId>`, so collect finds `<output>/<jobId>/`
 *   {"v":1,"at":"...","event":"answered","job","records":["<recordId>",...]}   on-demand answers, durable
 *   {"v":1,"at":"...","event":"released","job","owner"}   an interrupted process gives its on-demand claim up
 *   {"v":1,"at":"...","event":"collected","results","records","reused"?}   collect wrote the results
 *   {"v":1,"at":"...","event":"cleaned","removed","bytes"}   `clean` removed the run's transcript copies
 *
 * A crash at any byte leaves a readable ledger: every event is one write of one line ending in
 * `\n`, fsynced before the step it records goes on. A line cut short by an interrupted write is
 * left out with a note, wherever it is: the next event never glues onto it, because an append that
 * finds the file not ending in `\n` writes one first. Nothing is ever cut off or rewritten, so
 * another process appending at the same time (a `stop` or `status` beside a running `submit`)
 * never loses a line: on a local disk every event is one `O_APPEND` write.
 *
 * In S3, which cannot append, the object is rewritten per event with a conditional PUT (`If-Match`
 * the ETag read, or `If-None-Match: *` for a new ledger): a writer that lost a race (412
 * PreconditionFailed, 409 ConditionalRequestConflict) reads the ledger again and appends its event
 * to what is there now, so two writers never lose each other's updates.
 */
import { closeSync, existsSync, fstatSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { text as streamText } from 'node:stream/consumers';
import { fsyncDirSync, writeAllSync } from '../core/durable.js';
import { BatchError } from '../errors.js';
import { openStore, type StoreOptions } from '../stores/index.js';
import { S3Store } from '../stores/s3.js';
import type { Store } from '../stores/store.js';
import { sleep } from './backoff.js';
import { isS3Uri } from '../stores/uri.js';

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
  /** `submitting`: the process creating the job (`host:pid:random`), so others leave it to it. */
  owner?: string;
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

/** A job folder answered on demand, record by record, instead of as a batch job. */
export interface OnDemandEvent extends Base {
  event: 'on-demand';
  job: string;
  jobName: string;
  token: string;
  /** `on-demand/<jobId>`: not a Bedrock ARN; its last segment names the output folder. */
  jobArn: string;
  input: string;
  output: string;
  /** The id the runtime is called with (an inference profile where the model needs one). */
  modelId: string;
  reason: string;
  /** The process that claims the folder (a random id per process). */
  owner: string;
}

/** Records of an on-demand folder whose answers are durably stored (ids only, never text). */
export interface AnsweredEvent extends Base {
  event: 'answered';
  job: string;
  records: string[];
  owner?: string;
}

/** A process that stops answering an on-demand folder (interrupted, failed) gives its claim up. */
export interface ReleasedEvent extends Base {
  event: 'released';
  job: string;
  owner: string;
}

/** collect wrote the run's results (every job had ended). */
export interface CollectedEvent extends Base {
  event: 'collected';
  results: string;
  records: number;
  reused?: number;
}

/** `clean` removed the run's shards, lineage and job outputs. */
export interface CleanedEvent extends Base {
  event: 'cleaned';
  removed: number;
  bytes: number;
}

export type LedgerEvent = RunEvent | SubmitEvent | StatusEvent | OtherEvent | OnDemandEvent | AnsweredEvent | ReleasedEvent | CollectedEvent | CleanedEvent;

/** Distributes Omit over the union, so each event keeps its own fields. */
type WithoutBase<T> = T extends unknown ? Omit<T, 'v' | 'at'> : never;
export type NewLedgerEvent = WithoutBase<LedgerEvent>;

/** An on-demand folder's claim: who answers it, when it last recorded anything, what is answered. */
export interface OnDemandClaim {
  modelId: string;
  reason: string;
  owner: string;
  /** Epoch ms of the owner's last event for the folder (its lease runs from there). */
  lastAt: number;
  answered: Set<string>;
}

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
  /** Who wrote the last `submitting`, and when (epoch ms): a process creating the job right now. */
  creating?: { owner: string; at: number };
  createError?: string;
  /** Answered on demand (the `on-demand` event): the runtime model id, and the records answered so far. */
  onDemand?: OnDemandClaim;
}

export interface LedgerState {
  run?: RunEvent;
  jobs: Map<string, LedgerJob>;
  /** The last `collected` event. */
  collected?: CollectedEvent;
  /** The last `cleaned` event. */
  cleaned?: CleanedEvent;
  events: number;
  /** Notes for the user (a torn last line). */
  notes: string[];
}

/** A ledger's job answered through the runtime (`on-demand/<jobId>`), not a Bedrock batch job. */
export function isOnDemandArn(jobArn: string): boolean {
  return jobArn.startsWith('on-demand/');
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
  if (e.event === 'collected') {
    state.collected = e;
    return;
  }
  if (e.event === 'cleaned') {
    state.cleaned = e;
    return;
  }
  let j = state.jobs.get(e.job);
  if (!j) state.jobs.set(e.job, (j = { job: e.job, done: false, inDoubt: false }));
  switch (e.event) {
    case 'submitting':
      if (!j.jobArn) {
        Object.assign(j, { jobName: e.jobName, token: e.token, input: e.input, inDoubt: true });
        if (e.owner !== undefined) j.creating = { owner: e.owner, at: Date.parse(e.at) };
      }
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
    case 'on-demand':
      Object.assign(j, { jobName: e.jobName, token: e.token, input: e.input, jobArn: e.jobArn, output: e.output, inDoubt: false });
      j.onDemand = { modelId: e.modelId, reason: e.reason, owner: e.owner, lastAt: Date.parse(e.at), answered: j.onDemand?.answered ?? new Set() };
      break;
    case 'answered':
      j.onDemand ??= { modelId: '', reason: '', owner: e.owner ?? '', lastAt: 0, answered: new Set() };
      if (e.owner === undefined || e.owner === j.onDemand.owner) j.onDemand.lastAt = Date.parse(e.at);
      for (const id of e.records) j.onDemand.answered.add(id);
      break;
    case 'released':
      if (j.onDemand?.owner === e.owner) j.onDemand.lastAt = 0;
      break;
    case 'stop-requested':
      break;
  }
}

/**
 * Parse ledger text. Every line must be an event, except lines cut short by an interrupted write:
 * a last line without its newline, or a line that starts as an event does but is not whole JSON.
 * Those are left out with a note. Anything else is an error (something other than bedrock-batch
 * wrote the file).
 */
export function parseLedger(text: string, where: string): { events: LedgerEvent[]; notes: string[]; tornBytes: number } {
  const events: LedgerEvent[] = [];
  const notes: string[] = [];
  let tornBytes = 0;
  let start = 0;
  let line = 0;
  while (start < text.length) {
    let nl = text.indexOf('\n', start);
    const last = nl < 0;
    if (last) nl = text.length;
    line++;
    const raw = text.slice(start, nl);
    start = nl + 1;
    if (raw.trim() === '') continue;
    let e: LedgerEvent;
    try {
      e = JSON.parse(raw) as LedgerEvent;
    } catch {
      if (last || raw.startsWith('{"v":1,')) {
        const bytes = Buffer.byteLength(raw);
        if (last) tornBytes = bytes;
        notes.push(`${where}: ignored line ${line} (${bytes} bytes), an event cut short by an interrupted write`);
        continue;
      }
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
   * Open the ledger at `location`: a local path, or an s3:// URI (read and written with the S3
   * settings `s3`). A missing ledger is an empty one (created on the first append).
   */
  static async open(location: string, s3?: StoreOptions): Promise<Ledger> {
    const backend = isS3Uri(location) ? await StoreBackend.open(location, s3) : FileBackend.open(location);
    const { events, notes } = parseLedger(backend.text, location);
    const state: LedgerState = { ...reduceLedger(events), notes };
    return new Ledger(location, backend, state);
  }

  /** Read a ledger without opening it for writing. */
  static async read(location: string, s3?: StoreOptions): Promise<LedgerState> {
    let text = '';
    if (isS3Uri(location)) {
      const { store, key } = splitUri(location, s3);
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

  /** Events this process appended (for a step's report: every one must be in the ledger). */
  appended = 0;

  /** Append one event, durably, and fold it into `state`. */
  async append(event: NewLedgerEvent): Promise<void> {
    await this.appendIf(event, () => true);
  }

  /**
   * Append `event` only if `check` passes on the ledger as it is at the moment of writing: the
   * compare-and-swap of a claim. `check` sees every event written so far, by any process: in S3 the
   * write is conditional on the ETag read, and a writer that lost the race reads again and checks
   * again; on a local disk the file is read again first (one machine: see docs/contracts.md). When
   * the ledger changed under this process, `state` is rebuilt from what is there now. Returns true
   * when appended, else what `check` answered.
   */
  async appendIf(event: NewLedgerEvent, check: (state: LedgerState) => true | string): Promise<true | string> {
    const full = { v: 1, at: new Date().toISOString(), ...event } as LedgerEvent;
    const line = JSON.stringify(full) + '\n';
    const outcome = await this.backend.appendIf(line, (text, changed) => {
      if (changed) this.reload(text);
      return check(this.state);
    });
    if (outcome !== true) return outcome;
    applyEvent(this.state, full);
    this.appended++;
    return true;
  }

  /** Rebuild `state` from the ledger's text as another process left it. */
  private reload(text: string): void {
    const { events, notes } = parseLedger(text, this.location);
    const fresh = reduceLedger(events);
    this.state.jobs = fresh.jobs;
    this.state.events = fresh.events;
    if (fresh.run) this.state.run = fresh.run;
    if (fresh.collected) this.state.collected = fresh.collected;
    if (fresh.cleaned) this.state.cleaned = fresh.cleaned;
    this.state.notes = notes;
  }

  async close(): Promise<void> {
    this.backend.close();
  }
}

class FileBackend {
  private fd: number | undefined;
  private constructor(
    readonly path: string,
    public text: string,
  ) {}

  static open(path: string): FileBackend {
    let text = '';
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return new FileBackend(path, text);
  }

  /** `check` gets the text appended by others since the last read (when there is any). */
  async appendIf(line: string, check: (text: string, changed: boolean) => true | string): Promise<true | string> {
    // Read again only when the file's size moved (another process appended).
    let current = this.text;
    let size = 0;
    try {
      size = statSync(this.path).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (size !== Buffer.byteLength(this.text)) current = size === 0 ? '' : readFileSync(this.path, 'utf8');
    const changed = current !== this.text;
    const verdict = check(current, changed);
    if (verdict !== true) {
      this.text = current;
      return verdict;
    }
    this.append(line);
    this.text = current + (current === '' || current.endsWith('\n') ? '' : '\n') + line;
    return true;
  }

  private append(line: string): void {
    if (this.fd === undefined) {
      mkdirSync(dirname(this.path), { recursive: true });
      const created = !existsSync(this.path);
      this.fd = openSync(this.path, 'a+');
      if (created) fsyncDirSync(dirname(this.path));
    }
    // A file that does not end in a newline ends in an event cut short (by this process or
    // another): close that line first, so this event is a line of its own. Never cut anything off.
    const size = fstatSync(this.fd).size;
    let data = line;
    if (size > 0) {
      const lastByte = Buffer.alloc(1);
      readSync(this.fd, lastByte, 0, 1, size - 1);
      if (lastByte[0] !== 0x0a) data = '\n' + line;
    }
    writeAllSync(this.fd, data, this.path);
    fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Tries of a conditional S3 append before giving up (each lost race reads the ledger again). */
const S3_APPEND_TRIES = 25;

class StoreBackend {
  private constructor(
    private readonly store: S3Store,
    private readonly key: string,
    public text: string,
    private etag: string | undefined,
  ) {}

  static async open(uri: string, s3: StoreOptions | undefined): Promise<StoreBackend> {
    const { store, key } = splitUri(uri, s3);
    if (!(store instanceof S3Store)) throw new BatchError('E_INTERNAL', `${uri} is not an S3 location`);
    const current = await store.readWithEtag(key, 256 << 20);
    return new StoreBackend(store, key, current?.body.toString('utf8') ?? '', current?.etag);
  }

  async appendIf(line: string, check: (text: string, changed: boolean) => true | string): Promise<true | string> {
    let changed = false;
    for (let attempt = 1; ; attempt++) {
      const verdict = check(this.text, changed);
      if (verdict !== true) return verdict;
      const base = this.text === '' || this.text.endsWith('\n') ? this.text : `${this.text}\n`;
      const next = base + line;
      const etag = await this.store.putConditional(this.key, next, this.etag !== undefined ? { ifMatch: this.etag } : { ifNoneMatch: '*' }, { contentType: 'application/jsonl' });
      if (etag !== 'conflict') {
        this.text = next;
        this.etag = etag;
        return true;
      }
      if (attempt >= S3_APPEND_TRIES) {
        throw new BatchError('E_LEDGER', `${this.store.resolve(this.key)} kept changing under ${attempt} conditional writes`, {
          hint: 'another process writes this ledger without pause: stop it, then run the same command again',
        });
      }
      // Another writer got there first: take what it wrote, and append to that.
      await sleep(Math.round(Math.random() * Math.min(1000, 20 * 2 ** attempt)));
      const current = await this.store.readWithEtag(this.key, 256 << 20);
      this.text = current?.body.toString('utf8') ?? '';
      this.etag = current?.etag;
      changed = true;
    }
  }

  close(): void {}
}

function splitUri(uri: string, s3: StoreOptions | undefined): { store: Store; key: string } {
  const cut = uri.lastIndexOf('/');
  return { store: openStore(uri.slice(0, cut + 1), s3), key: uri.slice(cut + 1) };
}
