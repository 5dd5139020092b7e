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
 * Verification, before 'finish' (see VerifyMode): S3 must have acknowledged every part sent, the
 * object's size (HeadObject) must be the bytes written, and the CRC32s S3 computed (each part's, and
 * the object's, full-object or composite) must be those of the bytes written, when the SDK's
 * checksums are on (AWS's default); `verify: 'md5'` adds each part's MD5 against its ETag for
 * servers without checksums. An object that fails verification is deleted and the write fails.
 */
import { createHash, type Hash } from 'node:crypto';
import { PassThrough, Writable } from 'node:stream';
import * as zlib from 'node:zlib';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  type CompleteMultipartUploadCommandOutput,
  type HeadObjectCommandOutput,
  type PutObjectCommandInput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { BatchError, type ErrorCode } from '../errors.js';
import { describeS3Error, errorName, httpStatus, s3ErrorCode, s3ErrorHint } from './s3-errors.js';

/**
 * What a writer checks once S3 has the object, besides the part count:
 * - `checksum` (default): the size, and the CRC32s S3 computed (each part's and the object's) when
 *   the SDK's checksums are on (AWS's default, `WHEN_SUPPORTED`); servers without them (most
 *   S3-compatible ones, `WHEN_REQUIRED`) get the size only;
 * - `md5`: as `checksum`, and on servers without checksums each part's MD5 against its ETag (S3,
 *   MinIO, s3rver... return a part's MD5 as its ETag for unencrypted and SSE-S3 objects; it is not
 *   a documented guarantee, and it costs about 1.5 ms of CPU per MB written, hence opt-in);
 * - `size`: the size only; `none`: nothing.
 */
export type VerifyMode = 'checksum' | 'md5' | 'size' | 'none';

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
  versionId?: string;
  /** What was verified: `checksum` (size and a checksum), `size`, or `none`. */
  verified: 'checksum' | 'size' | 'none';
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

interface PartResult {
  size: number;
  etag?: string;
  crc32?: string;
}

interface Failure {
  error: unknown;
  operation: string;
  part?: number;
  /** Destroyed from outside (an upstream error, an interrupt): that error is what the writer reports. */
  external: boolean;
}

const hasCrc32 = typeof (zlib as { crc32?: unknown }).crc32 === 'function';

/** Per-part and whole-object digests computed over the bytes as they are written, on Upload's part boundaries. */
export class PartDigests {
  readonly parts: { size: number; crc32?: number; md5?: Buffer }[] = [];
  crc32 = 0;
  private size = 0;
  private crc = 0;
  private md5?: Hash;

  constructor(
    readonly partSize: number,
    readonly withMd5: boolean,
    readonly withCrc32 = hasCrc32,
  ) {
    if (withMd5) this.md5 = createHash('md5');
  }

  update(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.size === this.partSize) this.close();
      const take = Math.min(this.partSize - this.size, chunk.length - at);
      const slice = at === 0 && take === chunk.length ? chunk : chunk.subarray(at, at + take);
      if (this.withCrc32) {
        this.crc = zlib.crc32(slice, this.crc);
        this.crc32 = zlib.crc32(slice, this.crc32);
      }
      this.md5?.update(slice);
      this.size += take;
      at += take;
    }
  }

  /** Closes the last part (an empty object is one empty part). */
  finish(): this {
    if (this.size > 0 || this.parts.length === 0) this.close();
    return this;
  }

  private close(): void {
    this.parts.push({ size: this.size, ...(this.withCrc32 ? { crc32: this.crc } : {}), ...(this.md5 ? { md5: this.md5.digest() } : {}) });
    this.size = 0;
    this.crc = 0;
    if (this.withMd5) this.md5 = createHash('md5');
  }
}

/** S3's composite checksum of a multipart object: the CRC32 of the parts' CRC32s, base64, `-N`. */
export function compositeCrc32(partCrcs: readonly number[]): string {
  const all = Buffer.alloc(4 * partCrcs.length);
  partCrcs.forEach((c, i) => all.writeUInt32BE(c >>> 0, 4 * i));
  return `${crc32Base64(zlib.crc32(all))}-${partCrcs.length}`;
}

export function crc32Base64(crc: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(crc >>> 0);
  return b.toString('base64');
}

/** S3's multipart ETag: the MD5 of the parts' MD5s, hex, `-N`. */
export function multipartEtag(partMd5s: readonly Buffer[]): string {
  return `${createHash('md5').update(Buffer.concat(partMd5s)).digest('hex')}-${partMd5s.length}`;
}

const unquote = (etag: string | undefined) => etag?.replace(/"/g, '');

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
  private readonly partResults = new Map<number, PartResult>();
  private single?: { etag?: string; crc32?: string; versionId?: string };
  private completion?: CompleteMultipartUploadCommandOutput;
  private uploadId?: string;
  private abortState: 'none' | 'aborted' | 'failed' = 'none';
  private abortError?: unknown;
  private aborting?: Promise<void>;
  private failure?: Failure;
  private error?: UploadError;
  private finalizing = false;
  /** What happened to an object that failed verification. */
  private deleteNote = '';
  private checksums: 'WHEN_SUPPORTED' | 'WHEN_REQUIRED' = 'WHEN_SUPPORTED';

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

  override _construct(callback: (error?: Error | null) => void): void {
    const config = this.o.client.config as { requestChecksumCalculation?: () => Promise<string> };
    Promise.resolve(config.requestChecksumCalculation?.())
      .then((mode) => {
        this.checksums = mode === 'WHEN_REQUIRED' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED';
        const checksums = this.o.verify === 'checksum' || this.o.verify === 'md5';
        const md5 = this.o.verify === 'md5' && !this.o.kmsKeyId;
        this.digests = new PartDigests(this.o.partSize, md5, checksums && this.checksums === 'WHEN_SUPPORTED' && hasCrc32);
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
    // Upload sees the client through this wrapper: it records what S3 answered, cancels part
    // transfers in flight on failure, and notices a failed request at once.
    const tracked = { config: this.o.client.config, send: (command: any, options?: any) => this.send(command, options) } as unknown as S3Client;
    this.upload = new Upload({ client: tracked, params, partSize: this.o.partSize, queueSize: this.o.queueSize, leavePartsOnError: false });
    this.settled = this.upload.done() as Promise<CompleteMultipartUploadCommandOutput | undefined>;
    this.settled.catch(() => {});
  }

  private async send(command: { constructor: { name: string }; input: Record<string, any> }, options?: Record<string, unknown>): Promise<any> {
    const op = command.constructor.name.replace(/Command$/, '');
    const isAbort = op === 'AbortMultipartUpload';
    const part = op === 'UploadPart' ? (command.input.PartNumber as number) : undefined;
    try {
      // Only data transfers are cancelled on failure: a create or complete cut off in flight could
      // leave the server holding an upload (or an object) the client never heard of.
      const cancellable = op === 'UploadPart' || op === 'PutObject';
      const out: any = await this.o.client.send(command as any, cancellable ? { ...options, abortSignal: this.requests.signal } : options);
      switch (op) {
        case 'CreateMultipartUpload':
          this.uploadId = out.UploadId;
          break;
        case 'UploadPart': {
          const size = (command.input.Body as Buffer).length;
          this.partResults.set(part!, { size, etag: out.ETag, crc32: out.ChecksumCRC32 });
          this.uploaded += size;
          this.progress(false);
          break;
        }
        case 'PutObject':
          this.single = { etag: out.ETag, crc32: out.ChecksumCRC32, versionId: out.VersionId };
          this.uploaded += (command.input.Body as Buffer | undefined)?.length ?? 0;
          break;
        case 'CompleteMultipartUpload':
          this.completion = out;
          break;
        case 'AbortMultipartUpload':
          this.abortState = 'aborted';
          break;
      }
      return out;
    } catch (error) {
      if (isAbort) this.noteAbortError(error);
      else this.fail({ error, operation: op, ...(part !== undefined ? { part } : {}), external: false });
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
    const p: UploadProgress = { uri: this.uri, key: this.key, written: this.written, uploaded: this.uploaded, parts: this.partResults.size || (this.single ? 1 : 0), done };
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
      this.result = await this.verify(digests);
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
    if (!this.uploadId || this.abortState === 'aborted' || this.completion) return;
    let delay = this.o.abortRetryMs;
    for (let attempt = 0; attempt < this.o.abortRetries; attempt++) {
      if (attempt > 0 || this.abortState === 'failed') await new Promise((r) => setTimeout(r, delay));
      if (attempt > 0) delay *= 2;
      try {
        await this.o.client.send(
          new AbortMultipartUploadCommand({
            Bucket: this.o.bucket,
            Key: this.o.key,
            UploadId: this.uploadId,
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
    e.partsUploaded = this.partResults.size || (this.single ? 1 : 0);
    if (this.uploadId) e.uploadId = this.uploadId;
    e.abort = !this.uploadId || this.completion ? 'not-started' : this.abortState === 'aborted' ? 'aborted' : 'failed';
    const failure = this.failure ?? { error: e.cause, operation: e.operation, external: false };
    const what = failure.operation === 'verify' ? 'verification failed' : `${failure.operation}${failure.part !== undefined ? ` of part ${failure.part}` : ''} failed`;
    const cause = failure.error instanceof BatchError ? failure.error.message : describeS3Error(failure.error);
    let cleanup: string;
    if (failure.operation === 'verify') cleanup = '';
    else if (pending && this.uploadId) cleanup = '; aborting the multipart upload';
    else if (e.abort === 'aborted') cleanup = `; the multipart upload was aborted, nothing is left behind`;
    else if (e.abort === 'not-started') cleanup = `; no multipart upload was left open`;
    else {
      const { bucket, key } = this.o;
      cleanup =
        `; the multipart upload could NOT be aborted (${describeS3Error(this.abortError)}), so its parts stay stored and billed until it is: ` +
        `aws s3api abort-multipart-upload --bucket ${bucket} --key '${key}' --upload-id ${this.uploadId}`;
    }
    const base = `writing ${this.uri} failed after ${this.written} bytes were written to it (${this.uploaded} acknowledged by S3 in ${e.partsUploaded} part${e.partsUploaded === 1 ? '' : 's'}): ${what}: ${cause}`;
    e.message = base + cleanup + this.deleteNote;
  }

  private async verify(d: PartDigests): Promise<UploadResult> {
    const sent = d.parts.length;
    const acked = this.uploadId ? this.partResults.size : 1;
    const result = (verified: UploadResult['verified']): UploadResult => ({ uri: this.uri, bytes: this.written, parts: acked, verified, ...this.ids() });
    if (this.o.verify === 'none') return result('none');
    if (acked !== sent) throw new BatchError('E_UPLOAD', `S3 acknowledged ${acked} parts of ${this.uri}, but ${sent} were sent`);
    const versionId = this.ids().versionId;
    const head: HeadObjectCommandOutput = await this.o.client.send(
      new HeadObjectCommand({
        Bucket: this.o.bucket,
        Key: this.o.key,
        ...(versionId ? { VersionId: versionId } : {}),
        ...(this.o.expectedBucketOwner ? { ExpectedBucketOwner: this.o.expectedBucketOwner } : {}),
      }),
    );
    if (head.ContentLength !== this.written) {
      throw new BatchError('E_UPLOAD', `S3 holds ${head.ContentLength} bytes under ${this.uri}, but ${this.written} were written`);
    }
    if (this.o.kmsKeyId && head.ServerSideEncryption && !head.ServerSideEncryption.startsWith('aws:kms')) {
      throw new BatchError('E_UPLOAD', `${this.uri} was stored with ${head.ServerSideEncryption} encryption, not the requested aws:kms`);
    }
    if (this.o.verify === 'size') return result('size');
    return result(this.checkCrc32(d) || this.checkMd5(d, head) ? 'checksum' : 'size');
  }

  private ids(): { etag?: string; versionId?: string } {
    const etag = unquote(this.completion?.ETag ?? this.single?.etag);
    const versionId = this.completion?.VersionId ?? this.single?.versionId;
    return { ...(etag ? { etag } : {}), ...(versionId ? { versionId } : {}) };
  }

  /** CRC32s S3 computed on its side (when the SDK's checksums are on): each part's, and the object's. */
  private checkCrc32(d: PartDigests): boolean {
    if (!d.withCrc32) return false;
    let checked = false;
    const mismatch = (what: string, theirs: string, ours: string) =>
      new BatchError('E_UPLOAD', `${what} of ${this.uri}: S3 computed CRC32 ${theirs}, the bytes written have ${ours}`);
    if (this.uploadId) {
      for (const [n, p] of this.partResults) {
        const ours = d.parts[n - 1]?.crc32;
        if (p.crc32 === undefined || ours === undefined) continue;
        if (p.crc32 !== crc32Base64(ours)) throw mismatch(`part ${n}`, p.crc32, crc32Base64(ours));
        checked = true;
      }
    }
    const whole = this.completion?.ChecksumCRC32 ?? this.single?.crc32;
    if (whole) {
      const ours = /-\d+$/.test(whole) ? compositeCrc32(d.parts.map((p) => p.crc32!)) : crc32Base64(d.crc32);
      if (whole !== ours) throw mismatch('the object', whole, ours);
      checked = true;
    }
    return checked;
  }

  /** MD5s: S3 (and s3rver, MinIO, ...) return a part's MD5 as its ETag, except for KMS-encrypted objects. */
  private checkMd5(d: PartDigests, head: HeadObjectCommandOutput): boolean {
    if (!d.withMd5 || (head.ServerSideEncryption ?? '').startsWith('aws:kms') || head.SSECustomerAlgorithm) return false;
    const md5Like = /^[0-9a-f]{32}$/;
    const mismatch = (what: string, theirs: string, ours: string) =>
      new BatchError('E_UPLOAD', `${what} of ${this.uri}: S3 has MD5 ${theirs}, the bytes written have ${ours}`);
    if (!this.uploadId) {
      const etag = unquote(this.single?.etag);
      if (!etag || !md5Like.test(etag)) return false;
      const ours = d.parts[0]!.md5!.toString('hex');
      if (etag !== ours) throw mismatch('the object', etag, ours);
      return true;
    }
    let checked = 0;
    for (const [n, p] of this.partResults) {
      const etag = unquote(p.etag);
      const ours = d.parts[n - 1]?.md5?.toString('hex');
      if (!etag || !ours || !md5Like.test(etag)) continue;
      if (etag !== ours) throw mismatch(`part ${n}`, etag, ours);
      checked++;
    }
    const final = unquote(this.completion?.ETag);
    if (final && /^[0-9a-f]{32}-\d+$/.test(final)) {
      const ours = multipartEtag(d.parts.map((p) => p.md5!));
      if (final !== ours) throw mismatch('the object', final, ours);
    }
    return checked === this.partResults.size && checked > 0;
  }
}
