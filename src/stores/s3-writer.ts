/**
 * One S3 object written as a stream: a Writable in front of lib-storage's `Upload`, so a shard goes
 * out as a multipart upload while the records are still being produced, never held whole.
 *
 * Memory: at most `queueSize` parts in flight plus the one being filled (`(queueSize + 1) * partSize`)
 * and a 1 MiB body buffer. Writes wait (backpressure) while every part uploader is busy.
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
 * Nothing orphaned: on failure or `destroy()`, part transfers in flight are cancelled and the body is
 * destroyed, which is what makes `Upload` stop its part uploaders and send AbortMultipartUpload
 * (it sends it only once they have all stopped); the writer then awaits that, and if the abort did
 * not get through, sends it again itself (a few times, with backoff). Only when that fails too is
 * the upload left behind, and the error says so with the command that removes it. (A process killed
 * with SIGKILL cannot clean up: a bucket lifecycle rule `AbortIncompleteMultipartUpload` covers that.)
 *
 * Verification, before 'finish' (s3-verify.ts, see VerifyMode): what S3 acknowledged, the object's
 * size and S3's checksums against the bytes written. An object that fails it is deleted and the
 * write fails.
 */
import { PassThrough, Writable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompleteMultipartUploadCommandOutput,
  type PutObjectCommandInput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { BatchError, type ErrorCode } from '../errors.js';
import { describeS3Error, errorName, httpStatus, s3ErrorCode, s3ErrorHint } from './s3-errors.js';
import { digestsFor, landedIds, partsAcknowledged, verifyLanded, type Landed, type PartDigests, type Verified, type VerifyMode } from './s3-verify.js';

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
  expectedBucketOwner?: string;
  verify?: VerifyMode;
  /** Extra AbortMultipartUpload attempts after the SDK's own (default 3), `abortRetryMs` apart, doubling (default 500). */
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

/** What may come with a request Upload sends (handler options; it passes none today). */
type SendOptions = { abortSignal?: AbortSignal };

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
  private readonly o: Required<Omit<S3WriterOptions, 'contentType' | 'kmsKeyId' | 'expectedBucketOwner' | 'onProgress'>> & S3WriterOptions;
  private readonly body = new PassThrough({ highWaterMark: 1 << 20 });
  private readonly requests = new AbortController();
  private digests?: PartDigests;
  private upload?: Upload;
  private settled?: Promise<CompleteMultipartUploadCommandOutput | undefined>;
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
    this.body.on('error', () => {}); // surfaced through the upload's failure
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
        this.digests = digestsFor(this.o.verify, this.o.partSize, { checksums: mode === 'WHEN_REQUIRED' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED', kms: !!this.o.kmsKeyId });
        this.start();
        callback();
      })
      .catch((error: unknown) => callback(error as Error));
  }

  private start(): void {
    const params: PutObjectCommandInput = {
      Bucket: this.o.bucket,
      Key: this.o.key,
      Body: this.body,
      ...(this.o.contentType ? { ContentType: this.o.contentType } : {}),
      ...(this.o.kmsKeyId ? { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: this.o.kmsKeyId } : {}),
      ...(this.o.expectedBucketOwner ? { ExpectedBucketOwner: this.o.expectedBucketOwner } : {}),
    };
    // Upload sees the client through this wrapper (see `send`).
    const tracked = { config: this.o.client.config, send: (command: unknown, options?: SendOptions) => this.send(command, options) } as unknown as S3Client;
    this.upload = new Upload({ client: tracked, params, partSize: this.o.partSize, queueSize: this.o.queueSize, leavePartsOnError: false });
    this.settled = this.upload.done() as Promise<CompleteMultipartUploadCommandOutput | undefined>;
    this.settled.catch(() => {});
  }

  /**
   * Each request Upload sends: sent with the real client, and what S3 answered recorded (the upload
   * id, each part's ETag and CRC32, the PutObject's, the completion) for verification. Only data
   * transfers (UploadPart, PutObject) are cancelled on failure: a create or complete cut off in
   * flight could leave the server holding an upload (or an object) the client never heard of. A
   * failed request stops the upload at once.
   */
  private async send(command: unknown, options?: SendOptions): Promise<unknown> {
    const { client } = this.o;
    const cancellable = { ...options, abortSignal: this.requests.signal };
    const l = this.landed;
    if (command instanceof UploadPartCommand) {
      const part = command.input.PartNumber!;
      const out = await this.request('UploadPart', part, () => client.send(command, cancellable));
      const size = (command.input.Body as Buffer).length;
      l.parts.set(part, { size, etag: out.ETag, crc32: out.ChecksumCRC32 });
      this.uploaded += size;
      this.progress(false);
      return out;
    }
    if (command instanceof PutObjectCommand) {
      const out = await this.request('PutObject', undefined, () => client.send(command, cancellable));
      l.single = { etag: out.ETag, crc32: out.ChecksumCRC32, versionId: out.VersionId };
      this.uploaded += (command.input.Body as Buffer | undefined)?.length ?? 0;
      return out;
    }
    if (command instanceof CreateMultipartUploadCommand) {
      const out = await this.request('CreateMultipartUpload', undefined, () => client.send(command, options));
      l.uploadId = out.UploadId;
      return out;
    }
    if (command instanceof CompleteMultipartUploadCommand) {
      return (l.completion = await this.request('CompleteMultipartUpload', undefined, () => client.send(command, options)));
    }
    if (command instanceof AbortMultipartUploadCommand) {
      try {
        const out = await client.send(command, options);
        this.abortState = 'aborted';
        return out;
      } catch (error) {
        this.noteAbortError(error);
        throw error;
      }
    }
    // Upload sends nothing else for an object without tags.
    return this.request('Upload', undefined, () => client.send(command as Parameters<S3Client['send']>[0], options));
  }

  /** One request; its failure stops the upload (and names the request and part). */
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

  /** Stops the upload: cancels requests in flight and ends the body so Upload's uploaders stop and it aborts. */
  private fail(failure: Failure): void {
    if (this.failure) return;
    this.failure = failure;
    if (!failure.external) this.error = this.makeError(failure);
    this.requests.abort();
    this.body.destroy();
    if (!failure.external && !this.finalizing && !this.destroyed) this.destroy(this.error);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.failure) return callback(this.error ?? (this.failure.error as Error));
    this.digests!.update(chunk);
    this.written += chunk.length;
    if (this.body.write(chunk)) return callback();
    const onDrain = () => {
      this.body.off('close', onClose);
      callback();
    };
    const onClose = () => {
      this.body.off('drain', onDrain);
      callback(this.error ?? (this.failure?.error as Error | undefined) ?? new BatchError('E_UPLOAD', `the upload of ${this.uri} stopped`));
    };
    this.body.once('drain', onDrain);
    this.body.once('close', onClose);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.finalizing = true;
    this.body.end();
    this.complete().then(
      () => callback(),
      (error: Error) => callback(error),
    );
  }

  private async complete(): Promise<void> {
    try {
      await this.settled;
    } catch (error) {
      this.fail({ error, operation: this.failure?.operation ?? 'Upload', external: false });
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
      await this.o.client
        .send(new DeleteObjectCommand({ Bucket: this.o.bucket, Key: this.o.key, ...(this.o.expectedBucketOwner ? { ExpectedBucketOwner: this.o.expectedBucketOwner } : {}) }))
        .then(
          () => (this.deleteNote = '; the object was deleted'),
          (d: unknown) => (this.deleteNote = `; deleting the object failed too (${describeS3Error(d)}): delete ${this.uri} before a job reads it`),
        );
      this.fillError(e);
      throw e;
    }
    live.delete(this);
    this.progress(true);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.result) return callback(error);
    this.fail({ error: error ?? new BatchError('E_UPLOAD', `the write of ${this.uri} was abandoned`), operation: 'write', external: error !== this.error });
    this.cleanUp().then(
      (e) => callback(this.failure?.external ? error : e),
      () => callback(error),
    );
  }

  /** Waits for Upload to stop, makes sure the multipart upload is aborted, and completes the error. */
  private async cleanUp(): Promise<UploadError> {
    this.aborting ??= (async () => {
      await this.settled?.catch(() => {});
      await this.ensureAborted();
    })();
    await this.aborting;
    const e = this.error ?? this.makeError(this.failure!);
    this.fillError(e);
    if (this.failure?.external && e.abort === 'failed') process.emitWarning(e.message, { code: 'BEDROCK_BATCH_ORPHANED_UPLOAD' });
    live.delete(this);
    return e;
  }

  private async ensureAborted(): Promise<void> {
    const { uploadId, completion } = this.landed;
    if (!uploadId || this.abortState === 'aborted' || completion) return;
    let delay = this.o.abortRetryMs;
    for (let attempt = 0; attempt < this.o.abortRetries; attempt++) {
      if (attempt > 0 || this.abortState === 'failed') await new Promise((r) => setTimeout(r, delay));
      if (attempt > 0) delay *= 2;
      try {
        await this.o.client.send(
          new AbortMultipartUploadCommand({
            Bucket: this.o.bucket,
            Key: this.o.key,
            UploadId: uploadId,
            ...(this.o.expectedBucketOwner ? { ExpectedBucketOwner: this.o.expectedBucketOwner } : {}),
          }),
        );
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
    const hint = failure.operation === 'verify' ? 'run again; if it repeats, the endpoint or a proxy is altering data' : s3ErrorHint(cause, 'write', this.uri);
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
