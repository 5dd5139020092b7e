/**
 * One S3 object written as a stream: a Writable that cuts the bytes into parts and sends them as a
 * multipart upload while the records are still being produced, never holding the object whole. An
 * object no larger than one part goes as a single PutObject (the requests lib-storage's Upload makes).
 *
 * Memory: at most `queueSize` parts in flight plus the one being filled (`(queueSize + 1) * partSize`).
 * Each write is copied once, into a part-sized buffer that is sent as it is; once S3 has acknowledged
 * a part, its buffer goes back to a pool the next part of any writer of the process takes (released
 * after 2 s unused). lib-storage's Upload, used here before, concatenated every part into a new
 * buffer: the same copy, plus an 8 MiB allocation per part, which kept the garbage collector busy on
 * the main thread (1.9 of the 7.5 CPU seconds of bench/s3.ts's 1 GB store-upload, by --cpu-prof) and
 * dead parts in the peak RSS. Writes wait (backpressure) while `queueSize` parts are in flight and
 * the next one is full.
 *
 * Retries: a part stays in memory until S3 has acknowledged it, so every request (create, each part,
 * complete) is retried by the SDK's standard strategy, with the same bytes, up to the client's
 * `maxAttempts` (exponential backoff with jitter; connection resets, timeouts, 5xx and throttling are
 * retried, refusals such as AccessDenied are not). The bytes of a part already acknowledged are gone
 * from memory, so the object as a whole cannot be retried from here: that would need the shard's
 * bytes again, which only a new run of the producer can give (prepare's deterministic ids make that
 * safe). When a request still fails, the writer errors with an UploadError naming the object, the
 * bytes written to it, the bytes S3 acknowledged, the request and the cause.
 *
 * Nothing orphaned: on failure or `destroy()`, part transfers in flight are cancelled (a create or a
 * complete is not: cut off in flight, it could leave the server holding an upload, or an object, the
 * client never heard of); once every request has settled, the writer sends AbortMultipartUpload, and
 * again if it did not get through (a few times, with backoff). Only when that fails too is the
 * upload left behind, and the error says so with the command that removes it. (A process killed
 * with SIGKILL cannot clean up: a bucket lifecycle rule `AbortIncompleteMultipartUpload` covers that.)
 *
 * Verification, before 'finish' (s3-verify.ts, see VerifyMode): what S3 acknowledged, the object's
 * size and S3's checksums against the bytes written (digested as they arrive, before the copy into
 * parts, so a fault in the copy is caught too). An object that fails it is deleted and the write fails.
 */
import { Writable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type PutObjectCommandInput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { BatchError, type ErrorCode } from '../errors.js';
import { describeS3Error, errorName, httpStatus, s3ErrorCode, s3ErrorHint } from './s3-errors.js';
import { digestsFor, landedIds, partsAcknowledged, verifyLanded, type Landed, type PartDigests, type Verified, type VerifyMode } from './s3-verify.js';

/** S3's limit on the parts of one object. */
const MAX_PARTS = 10_000;

/**
 * Part buffers, shared by the writers of the process: a part acknowledged by S3 hands its buffer to
 * the next part (of any writer with the same part size), so a long upload allocates its buffers
 * once. At most 64 MiB (eight default parts) are kept, and none once no part has been taken for `idleMs`.
 * The buffers are not zeroed (`allocUnsafeSlow`): only the bytes copied into a part are ever sent.
 */
class PartPool {
  private readonly free = new Map<number, Buffer[]>();
  private bytes = 0;
  private timer?: NodeJS.Timeout;
  private taken = false;

  constructor(
    private readonly maxBytes: number,
    private readonly idleMs: number,
  ) {}

  take(size: number): Buffer {
    this.taken = true;
    const b = this.free.get(size)?.pop();
    if (!b) return Buffer.allocUnsafeSlow(size);
    this.bytes -= size;
    return b;
  }

  give(b: Buffer): void {
    if (this.bytes + b.length > this.maxBytes) return;
    let list = this.free.get(b.length);
    if (!list) this.free.set(b.length, (list = []));
    list.push(b);
    this.bytes += b.length;
    this.arm();
  }

  private arm(): void {
    if (this.timer) return;
    this.taken = false;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.taken) return this.arm();
      this.free.clear();
      this.bytes = 0;
    }, this.idleMs);
    this.timer.unref();
  }
}

const pool = new PartPool(64 * 1024 * 1024, 2000);

/**
 * A part sent without `Expect: 100-continue`. The SDK asks for it on every body of 2 MB or more,
 * and sends each such request on a connection of its own that it then closes (no keep-alive): a
 * new TCP connection (and TLS handshake, on AWS) and a round trip before the body, for every part.
 * What the header saves, not sending a body the server refuses unread, is for a first request; a
 * part follows a CreateMultipartUpload the same server accepted just before. The 1.24 GB of
 * bench/s3.ts's 1 GB run took 149 connections with the header, 3 without.
 */
function withoutExpectContinue(command: UploadPartCommand): UploadPartCommand {
  command.middlewareStack.add(
    (next) => (args) => {
      const headers = (args.request as { headers?: Record<string, string> }).headers;
      if (headers) {
        delete headers.Expect;
        delete headers.expect;
      }
      return next(args);
    },
    // after the SDK's addExpectContinueMiddleware (build step, normal priority) has set it
    { step: 'build', priority: 'low', name: 'bedrockBatchNoExpectContinue' },
  );
  return command;
}

export interface S3WriterOptions {
  client: S3Client;
  bucket: string;
  key: string;
  /** The object's URI, for messages. */
  uri: string;
  partSize: number;
  queueSize: number;
  contentType?: string;
  /** SSE-KMS with this key. */
  kmsKeyId?: string;
  /** The object's tag set as the `x-amz-tagging` header carries it (src/stores/tags.ts taggingHeader), on the PutObject or the CreateMultipartUpload. */
  tagging?: string;
  expectedBucketOwner?: string;
  verify?: VerifyMode;
  /** AbortMultipartUpload attempts after the first (each with the SDK's own retries; default 3), `abortRetryMs` apart, doubling (default 500). */
  abortRetries?: number;
  abortRetryMs?: number;
  onProgress?: (progress: UploadProgress) => void;
}

export interface UploadProgress {
  uri: string;
  key: string;
  /** Bytes written to the writer so far. */
  written: number;
  /** Bytes S3 has acknowledged (whole parts, or the object). */
  uploaded: number;
  /** Parts acknowledged. */
  parts: number;
  /** True once the object is complete and verified. */
  done: boolean;
}

export interface UploadResult {
  uri: string;
  bytes: number;
  /** 1 for a single PutObject. */
  parts: number;
  etag?: string;
  /** Only when the bucket versions: never the literal `null` S3 reports for unversioned or suspended buckets (s3-verify.ts). */
  versionId?: string;
  verified: Verified;
}

export type AbortOutcome = 'aborted' | 'not-started' | 'failed';

/** A write to S3 that failed: which object, how far it got, why, and whether it was cleaned up. */
export class UploadError extends BatchError {
  readonly uri: string;
  /** The object's key in its bucket. */
  readonly objectKey: string;
  bytesWritten: number;
  bytesUploaded: number;
  partsUploaded: number;
  uploadId?: string;
  /** The request that failed: `UploadPart`, `CompleteMultipartUpload`, `verify`, ... */
  readonly operation: string;
  readonly part?: number;
  abort: AbortOutcome = 'not-started';

  constructor(code: ErrorCode, message: string, fields: { uri: string; key: string; operation: string; part?: number; cause: unknown; hint?: string }) {
    super(code, message, { cause: fields.cause, ...(fields.hint ? { hint: fields.hint } : {}) });
    this.name = 'UploadError';
    this.uri = fields.uri;
    this.objectKey = fields.key;
    this.operation = fields.operation;
    if (fields.part !== undefined) this.part = fields.part;
    this.bytesWritten = 0;
    this.bytesUploaded = 0;
    this.partsUploaded = 0;
  }
}

interface Failure {
  error: unknown;
  operation: string;
  part?: number;
  /** Destroyed from outside (an upstream error, an interrupt): that error is what the writer reports. */
  external: boolean;
}

/** Every writer not yet finished or cleaned up, so an interrupt can abort them all. */
const live = new Set<S3ObjectWriter>();

/**
 * Waits until every S3 writer that was destroyed or failed has finished cleaning up (its multipart
 * upload aborted). Needed because `stream/promises` `pipeline` rejects as soon as a stage fails,
 * without waiting for the writers it destroyed: a caller about to exit should await this first.
 */
export async function uploadsSettled(): Promise<void> {
  await Promise.all(
    [...live]
      .filter((w) => w.destroyed && !w.closed)
      .map((w) => new Promise<void>((resolve) => w.once('close', () => resolve()))),
  );
}

/** S3 writers of this process whose object is not complete yet (uploads an interrupt would abort). */
export function openUploadCount(): number {
  let n = 0;
  for (const w of live) if (!w.result && !w.destroyed) n++;
  return n;
}

/** Destroys every unfinished S3 writer of this process and waits until each has aborted its upload. */
export async function abortOpenUploads(reason: Error = new BatchError('E_INTERRUPTED', 'interrupted')): Promise<number> {
  const writers = [...live];
  await Promise.all(
    writers.map(
      (w) =>
        new Promise<void>((resolve) => {
          if (w.closed) return resolve();
          w.once('close', () => resolve());
          w.destroy(reason);
        }),
    ),
  );
  return writers.length;
}

export class S3ObjectWriter extends Writable {
  readonly uri: string;
  readonly key: string;
  /** Set once the object is complete and verified ('finish'). */
  result?: UploadResult;
  private readonly o: Required<Omit<S3WriterOptions, 'contentType' | 'kmsKeyId' | 'tagging' | 'expectedBucketOwner' | 'onProgress'>> & S3WriterOptions;
  /** Cancels the data transfers (UploadPart, PutObject) in flight when the write fails. */
  private readonly requests = new AbortController();
  private digests?: PartDigests;
  /** The client computes checksums (`WHEN_SUPPORTED`): the upload is created with CRC32, as Upload does. */
  private crc32 = false;
  /** The part being filled, and how much of it is. */
  private fill?: Buffer;
  private filled = 0;
  /** Parts handed to S3 so far (numbered from 1), and those not answered yet. */
  private parts = 0;
  private inFlight = 0;
  private created?: Promise<string>;
  private readonly completed: CompletedPart[] = [];
  /** Every request not settled yet: a failed write waits for them all before it aborts. */
  private readonly pending = new Set<Promise<unknown>>();
  /** What waits for a part to be answered (or the write to fail): a write blocked on a full queue, the end. */
  private wakers: (() => void)[] = [];
  private written = 0;
  private uploaded = 0;
  /** What S3 answered so far. */
  private readonly landed: Landed = { parts: new Map() };
  private abortState: 'none' | 'aborted' | 'failed' = 'none';
  private abortError?: unknown;
  private aborting?: Promise<void>;
  private failure?: Failure;
  private error?: UploadError;
  private finalizing = false;
  /** What happened to an object that failed verification. */
  private deleteNote = '';

  constructor(options: S3WriterOptions) {
    super({ highWaterMark: 1 << 20 });
    this.o = { verify: 'checksum', abortRetries: 3, abortRetryMs: 500, ...options };
    this.uri = options.uri;
    this.key = options.key;
    live.add(this);
    this.once('close', () => live.delete(this));
  }

  /** Bytes written so far. */
  get bytesWritten(): number {
    return this.written;
  }

  /** Bytes S3 has acknowledged so far. */
  get bytesUploaded(): number {
    return this.uploaded;
  }

  /** Parts S3 has acknowledged so far (a single PutObject is one once it is). */
  private get partsUploaded(): number {
    return this.landed.parts.size || (this.landed.single ? 1 : 0);
  }

  override _construct(callback: (error?: Error | null) => void): void {
    const config = this.o.client.config as { requestChecksumCalculation?: () => Promise<string> };
    Promise.resolve(config.requestChecksumCalculation?.())
      .then((mode) => {
        this.crc32 = mode === 'WHEN_SUPPORTED';
        this.digests = digestsFor(this.o.verify, this.o.partSize, { checksums: mode === 'WHEN_REQUIRED' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED', kms: !!this.o.kmsKeyId });
        callback();
      })
      .catch((error: unknown) => callback(error as Error));
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.failure) return callback(this.stopped());
    this.digests!.update(chunk);
    this.written += chunk.length;
    this.take(chunk, 0, callback);
  }

  /**
   * Copies `chunk` from `at` into parts. A full part is sent only once more bytes come (an object of
   * exactly one part is a PutObject); while `queueSize` parts are in flight, the rest of the chunk
   * waits, and so does the write (backpressure).
   */
  private take(chunk: Buffer, at: number, callback: (error?: Error | null) => void): void {
    const size = this.o.partSize;
    while (at < chunk.length) {
      if (this.failure) return callback(this.stopped());
      if (this.filled === size) {
        if (this.inFlight >= this.o.queueSize) {
          this.wakers.push(() => this.take(chunk, at, callback));
          return;
        }
        this.sendPart();
      }
      this.fill ??= pool.take(size);
      const n = chunk.copy(this.fill, this.filled, at, Math.min(chunk.length, at + size - this.filled));
      this.filled += n;
      at += n;
    }
    callback();
  }

  /** The error a write gets once the upload has stopped. */
  private stopped(): Error {
    return this.error ?? (this.failure?.error as Error | undefined) ?? new BatchError('E_UPLOAD', `the upload of ${this.uri} stopped`);
  }

  private wake(): void {
    const wakers = this.wakers;
    this.wakers = [];
    for (const w of wakers) w();
  }

  /** Resolves once `ready()` holds, or the write has failed. */
  private until(ready: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = () => (ready() || this.failure ? resolve() : void this.wakers.push(check));
      check();
    });
  }

  private track<T>(p: Promise<T>): Promise<T> {
    const settled: Promise<void> = p.then(
      () => undefined,
      () => undefined,
    );
    this.pending.add(settled);
    void settled.then(() => this.pending.delete(settled));
    return p;
  }

  /** Bucket, key and what every request that creates the object carries (PutObject, CreateMultipartUpload). */
  private objectParams(): Pick<PutObjectCommandInput, 'Bucket' | 'Key' | 'ContentType' | 'ServerSideEncryption' | 'SSEKMSKeyId' | 'Tagging' | 'ExpectedBucketOwner'> {
    return {
      Bucket: this.o.bucket,
      Key: this.o.key,
      ...(this.o.contentType ? { ContentType: this.o.contentType } : {}),
      ...(this.o.kmsKeyId ? { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: this.o.kmsKeyId } : {}),
      ...(this.o.tagging ? { Tagging: this.o.tagging } : {}),
      ...this.owner(),
    };
  }

  private owner(): { ExpectedBucketOwner?: string } {
    return this.o.expectedBucketOwner ? { ExpectedBucketOwner: this.o.expectedBucketOwner } : {};
  }

  /** Sends the filled part (the multipart upload is created with the first). */
  private sendPart(): void {
    const buffer = this.fill!;
    const body = this.filled === buffer.length ? buffer : buffer.subarray(0, this.filled);
    this.fill = undefined;
    this.filled = 0;
    const part = ++this.parts;
    this.inFlight++;
    void this.track(this.uploadPart(part, body, buffer)).finally(() => {
      this.inFlight--;
      this.wake();
    });
  }

  /** One part: its answer recorded for verification and completion, its buffer back to the pool. Never rejects (a failure stops the write). */
  private async uploadPart(part: number, body: Buffer, buffer: Buffer): Promise<void> {
    try {
      if (part > MAX_PARTS) {
        const hint = `raise the part size (--part-size): ${MAX_PARTS} parts of ${this.o.partSize} bytes are the most one object can have`;
        throw new BatchError('E_UPLOAD', `${this.uri} needs more than ${MAX_PARTS} parts, S3's limit`, { hint });
      }
      const uploadId = await (this.created ??= this.createUpload());
      if (this.failure) return;
      const command = withoutExpectContinue(new UploadPartCommand({ Bucket: this.o.bucket, Key: this.o.key, UploadId: uploadId, PartNumber: part, Body: body, ...this.owner() }));
      const out = await this.o.client.send(command, { abortSignal: this.requests.signal });
      if (!out.ETag) throw new BatchError('E_UPLOAD', `S3 answered part ${part} of ${this.uri} without an ETag`, { hint: 'a proxy in between may drop the ETag header' });
      this.landed.parts.set(part, { size: body.length, etag: out.ETag, crc32: out.ChecksumCRC32 });
      // CompleteMultipartUpload must repeat each part's checksum when the upload was created with one.
      const completed: CompletedPart = { PartNumber: part, ETag: out.ETag };
      for (const k of ['ChecksumCRC32', 'ChecksumCRC32C', 'ChecksumCRC64NVME', 'ChecksumSHA1', 'ChecksumSHA256'] as const) if (out[k]) completed[k] = out[k];
      this.completed.push(completed);
      this.uploaded += body.length;
      pool.give(buffer);
      this.progress(false);
    } catch (error) {
      this.fail({ error, operation: 'UploadPart', part, external: false });
    }
  }

  private createUpload(): Promise<string> {
    const command = new CreateMultipartUploadCommand({ ...this.objectParams(), ...(this.crc32 ? { ChecksumAlgorithm: 'CRC32' as const } : {}) });
    return this.track(
      this.request('CreateMultipartUpload', undefined, async () => {
        const out = await this.o.client.send(command);
        if (!out.UploadId) throw new BatchError('E_UPLOAD', `S3 answered CreateMultipartUpload for ${this.uri} without an upload id`);
        return (this.landed.uploadId = out.UploadId);
      }),
    );
  }

  /** One request; its failure stops the write (and names the request). */
  private async request<T>(operation: string, part: number | undefined, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      this.fail({ error, operation, ...(part !== undefined ? { part } : {}), external: false });
      throw error;
    }
  }

  private noteAbortError(error: unknown): void {
    // NoSuchUpload: it is gone already (an earlier attempt got through, or it completed).
    if (errorName(error) === 'NoSuchUpload' || httpStatus(error) === 404) this.abortState = 'aborted';
    else {
      this.abortState = 'failed';
      this.abortError = error;
    }
  }

  private progress(done: boolean): void {
    const p: UploadProgress = { uri: this.uri, key: this.key, written: this.written, uploaded: this.uploaded, parts: this.partsUploaded, done };
    this.emit('progress', p);
    this.o.onProgress?.(p);
  }

  /** Stops the write: cancels the transfers in flight and wakes what waits, which then sees the failure. */
  private fail(failure: Failure): void {
    if (this.failure) return;
    this.failure = failure;
    if (!failure.external) this.error = this.makeError(failure);
    this.fill = undefined;
    this.requests.abort();
    this.wake();
    if (!failure.external && !this.finalizing && !this.destroyed) this.destroy(this.error);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.finalizing = true;
    this.complete().then(
      () => callback(),
      (error: Error) => callback(error),
    );
  }

  private async complete(): Promise<void> {
    if (this.failure) {
      // destroyed, or a request failed, before the end: nothing more is sent
    } else if (this.parts === 0) await this.putObject();
    else {
      await this.until(() => this.inFlight < this.o.queueSize);
      if (!this.failure && this.filled > 0) this.sendPart();
      await this.until(() => this.inFlight === 0);
      if (!this.failure) {
        const parts = [...this.completed].sort((a, b) => a.PartNumber! - b.PartNumber!);
        const command = new CompleteMultipartUploadCommand({ Bucket: this.o.bucket, Key: this.o.key, UploadId: this.landed.uploadId, MultipartUpload: { Parts: parts }, ...this.owner() });
        const done = this.track(this.request('CompleteMultipartUpload', undefined, () => this.o.client.send(command)));
        this.landed.completion = await done.catch(() => undefined);
      }
    }
    if (this.failure) throw await this.cleanUp();
    const digests = this.digests!.finish();
    try {
      const { bucket, key, verify: mode, kmsKeyId, expectedBucketOwner } = this.o;
      const verified = await verifyLanded({ client: this.o.client, bucket, key, uri: this.uri, mode, kmsKeyId, expectedBucketOwner }, this.written, digests, this.landed);
      this.result = { uri: this.uri, bytes: this.written, parts: partsAcknowledged(this.landed), verified, ...landedIds(this.landed) };
    } catch (error) {
      const failure: Failure = { error, operation: 'verify', external: false };
      this.failure = failure;
      const e = (this.error = this.makeError(failure));
      await this.o.client.send(new DeleteObjectCommand({ Bucket: this.o.bucket, Key: this.o.key, ...this.owner() })).then(
        () => (this.deleteNote = '; the object was deleted'),
        (d: unknown) => (this.deleteNote = `; deleting the object failed too (${describeS3Error(d)}): delete ${this.uri} before a job reads it`),
      );
      this.fillError(e);
      throw e;
    }
    live.delete(this);
    this.progress(true);
  }

  /** An object of one part or less: one PutObject. */
  private async putObject(): Promise<void> {
    const buffer = this.fill;
    const body = buffer ? buffer.subarray(0, this.filled) : Buffer.alloc(0);
    const command = new PutObjectCommand({ ...this.objectParams(), Body: body });
    const sent = this.track(this.request('PutObject', undefined, () => this.o.client.send(command, { abortSignal: this.requests.signal })));
    const out = await sent.catch(() => undefined);
    if (!out) return;
    this.landed.single = { etag: out.ETag, crc32: out.ChecksumCRC32, versionId: out.VersionId };
    this.uploaded += body.length;
    this.fill = undefined;
    if (buffer) pool.give(buffer);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.result) return callback(error);
    this.fail({ error: error ?? new BatchError('E_UPLOAD', `the write of ${this.uri} was abandoned`), operation: 'write', external: error !== this.error });
    this.cleanUp().then(
      (e) => callback(this.failure?.external ? error : e),
      () => callback(error),
    );
  }

  /** Waits for every request to settle, makes sure the multipart upload is aborted, and completes the error. */
  private async cleanUp(): Promise<UploadError> {
    this.aborting ??= (async () => {
      while (this.pending.size > 0) await Promise.all(this.pending);
      await this.ensureAborted();
    })();
    await this.aborting;
    const e = this.error ?? this.makeError(this.failure!);
    this.fillError(e);
    if (this.failure?.external && e.abort === 'failed') process.emitWarning(e.message, { code: 'BEDROCK_BATCH_ORPHANED_UPLOAD' });
    live.delete(this);
    return e;
  }

  /** AbortMultipartUpload, tried `1 + abortRetries` times (each with the SDK's own retries). */
  private async ensureAborted(): Promise<void> {
    const { uploadId, completion } = this.landed;
    if (!uploadId || this.abortState === 'aborted' || completion) return;
    let delay = this.o.abortRetryMs;
    for (let attempt = 0; attempt <= this.o.abortRetries; attempt++) {
      if (attempt > 0) {
        await new Promise((r) => setTimeout(r, delay));
        delay *= 2;
      }
      try {
        await this.o.client.send(new AbortMultipartUploadCommand({ Bucket: this.o.bucket, Key: this.o.key, UploadId: uploadId, ...this.owner() }));
        this.abortState = 'aborted';
        return;
      } catch (error) {
        this.noteAbortError(error);
        if (this.abortState === 'aborted') return;
      }
    }
  }

  private makeError(failure: Failure): UploadError {
    const cause = failure.error;
    const code: ErrorCode = failure.operation === 'verify' ? 'E_UPLOAD' : ((c) => (c === 'E_STORE' ? 'E_UPLOAD' : c))(s3ErrorCode(cause));
    const hint =
      failure.operation === 'verify'
        ? 'run again; if it repeats, the endpoint or a proxy is altering data'
        : cause instanceof BatchError
          ? cause.hint
          : s3ErrorHint(cause, 'write', this.uri);
    const e = new UploadError(code, '', { uri: this.uri, key: this.key, operation: failure.operation, ...(failure.part !== undefined ? { part: failure.part } : {}), cause, ...(hint ? { hint } : {}) });
    this.fillError(e, true);
    return e;
  }

  /** Fills the error's numbers and message from the writer's state (called once the abort settled). */
  private fillError(e: UploadError, pending = false): void {
    e.bytesWritten = this.written;
    e.bytesUploaded = this.uploaded;
    const { uploadId, completion } = this.landed;
    e.partsUploaded = this.partsUploaded;
    if (uploadId) e.uploadId = uploadId;
    e.abort = !uploadId || completion ? 'not-started' : this.abortState === 'aborted' ? 'aborted' : 'failed';
    const failure = this.failure ?? { error: e.cause, operation: e.operation, external: false };
    const what = failure.operation === 'verify' ? 'verification failed' : `${failure.operation}${failure.part !== undefined ? ` of part ${failure.part}` : ''} failed`;
    const cause = failure.error instanceof BatchError ? failure.error.message : describeS3Error(failure.error);
    let cleanup: string;
    if (failure.operation === 'verify') cleanup = '';
    else if (pending && uploadId) cleanup = '; aborting the multipart upload';
    else if (e.abort === 'aborted') cleanup = `; the multipart upload was aborted, nothing is left behind`;
    else if (e.abort === 'not-started') cleanup = `; no multipart upload was left open`;
    else {
      const { bucket, key } = this.o;
      cleanup =
        `; the multipart upload could NOT be aborted (${describeS3Error(this.abortError)}), so its parts stay stored and billed until it is: ` +
        `aws s3api abort-multipart-upload --bucket ${bucket} --key '${key}' --upload-id ${uploadId}`;
    }
    const base = `writing ${this.uri} failed after ${this.written} bytes were written to it (${this.uploaded} acknowledged by S3 in ${e.partsUploaded} part${e.partsUploaded === 1 ? '' : 's'}): ${what}: ${cause}`;
    e.message = base + cleanup + this.deleteNote;
  }
}
