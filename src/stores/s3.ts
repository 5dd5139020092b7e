/**
 * A store on an S3 prefix (`s3://bucket/run-42/`): keys below it are objects. Writes stream through
 * multipart uploads (`S3ObjectWriter`: see s3-writer.ts for retries and abort, s3-verify.ts for
 * verification); reads stream GetObject and resume after a dropped connection with a ranged GET
 * pinned to the object's ETag; listing pages through ListObjectsV2.
 *
 * By default the store also keeps to Bedrock's S3 URI rule (uri.ts): a store whose location, or a
 * key written below it, a batch job could not be given is refused with E_BAD_URI before anything is
 * written. Stores that only read sources (`bedrockUris: false`) take any key.
 *
 * Tags (`tags`, tags.ts): every object the store writes carries them from its first byte, whichever
 * way it is written (one PutObject, a multipart upload, a conditional PUT); `tagObject` adds them to
 * an object someone else wrote (Bedrock's job outputs). `deleteObjects` removes many keys with
 * DeleteObjects, 1,000 a request, and reports each key S3 refused.
 */
import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  paginateListObjectsV2,
  PutObjectCommand,
  PutObjectTaggingCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { BatchError } from '../errors.js';
import { createS3Client, type S3ClientOptions } from './s3-client.js';
import { httpStatus, isTransient, s3Error } from './s3-errors.js';
import type { VerifyMode } from './s3-verify.js';
import { S3ObjectWriter, type UploadProgress } from './s3-writer.js';
import type { ObjectInfo, Store, WriteOptions } from './store.js';
import { bedrockS3UriProblem, checkBedrockS3Uri } from '../bedrock/s3-uri.js';
import { checkTags, MAX_OBJECT_TAGS, taggingHeader } from './tags.js';
import { checkAccountId, checkKmsKeyId, formatS3Uri, parseS3Uri } from './uri.js';

export { abortOpenUploads, S3ObjectWriter, uploadsSettled, UploadError, type UploadProgress, type UploadResult } from './s3-writer.js';
export type { VerifyMode } from './s3-verify.js';

/**
 * Part size: 8 MiB measured fastest against the local S3 server (bench/s3.ts), and keeps a shard's
 * upload within (4 + 1) x 8 = 40 MiB. 200 MB shards stay far from S3's 10,000-part limit.
 */
export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
/** Parts in flight per object (lib-storage's default, also the measured sweet spot here). */
export const DEFAULT_QUEUE_SIZE = 4;
/** Keys per DeleteObjects request: S3's limit. */
export const DELETE_BATCH = 1000;
/** S3's limits on a part (the last may be smaller). */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
export const MAX_PART_SIZE = 5 * 1024 * 1024 * 1024;

export interface S3StoreOptions extends S3ClientOptions {
  /** A client to use instead of building one from the options (its settings win). */
  client?: S3Client;
  /** Bytes per part of a multipart upload (default 8 MiB; 5 MiB to 5 GiB). */
  partSize?: number;
  /** Parts uploaded concurrently per object (default 4). */
  queueSize?: number;
  /** Encrypt written objects with SSE-KMS under this key (id, ARN, alias or alias ARN). */
  kmsKeyId?: string;
  /**
   * Tags on every object the store writes (PutObject, multipart, conditional PUT), e.g.
   * `expireTags(30)` for a lifecycle rule (tags.ts, docs/cleanup.md). At most 10; S3's characters.
   */
  tags?: Record<string, string>;
  /** Every request carries this account id, so S3 refuses a bucket owned by anyone else. */
  expectedBucketOwner?: string;
  /** Keep to Bedrock's S3 URI rule for the location and the keys written (default true). */
  bedrockUris?: boolean;
  /** What is checked after each upload (see VerifyMode): size and S3's CRC32s (default), plus MD5s vs ETags, size only, or nothing. */
  verify?: VerifyMode;
  /** Times a read resumes (a ranged GET from where it stopped) after its connection failed (default 5). */
  readResumes?: number;
  /** Called as parts are acknowledged and when each object is complete. */
  onProgress?: (progress: UploadProgress) => void;
}

const clients = new WeakMap<object, S3Client>();

/** No options: the SDK's own settings (the environment, the profile). One object, so one client for all who give none. */
const SDK_SETTINGS: S3StoreOptions = Object.freeze({});

/** The client for a set of options, shared by every store and reader opened with the same options object. */
export function s3ClientFor(options: S3StoreOptions = SDK_SETTINGS): S3Client {
  if (options.client) return options.client;
  let client = clients.get(options);
  if (!client) {
    client = createS3Client(options);
    clients.set(options, client);
  }
  return client;
}

export interface NormalizedS3Options {
  partSize: number;
  queueSize: number;
  kmsKeyId?: string;
  /** The tags, checked, and their `x-amz-tagging` header value. */
  tags?: Record<string, string>;
  tagging?: string;
  expectedBucketOwner?: string;
  bedrockUris: boolean;
  verify: VerifyMode;
  readResumes: number;
}

/** Validates and defaults the store options once, before anything flows. */
export function normalizeS3Options(options: S3StoreOptions = {}): NormalizedS3Options {
  const partSize = options.partSize ?? DEFAULT_PART_SIZE;
  if (!Number.isSafeInteger(partSize) || partSize < MIN_PART_SIZE || partSize > MAX_PART_SIZE) {
    throw new BatchError('E_BAD_OPTION', `the part size must be from 5 MiB to 5 GiB, got ${options.partSize}`, { hint: 'e.g. --part-size 8MiB' });
  }
  const queueSize = options.queueSize ?? DEFAULT_QUEUE_SIZE;
  if (!Number.isSafeInteger(queueSize) || queueSize < 1 || queueSize > 64) {
    throw new BatchError('E_BAD_OPTION', `the upload queue size must be a whole number from 1 to 64, got ${options.queueSize}`);
  }
  if (options.kmsKeyId !== undefined) checkKmsKeyId(options.kmsKeyId);
  if (options.tags !== undefined) checkTags(options.tags, 'the S3 tags');
  const tagging = taggingHeader(options.tags);
  if (options.expectedBucketOwner !== undefined) checkAccountId(options.expectedBucketOwner);
  const verify = options.verify ?? 'checksum';
  if (!['checksum', 'md5', 'size', 'none'].includes(verify)) throw new BatchError('E_BAD_OPTION', `verify must be checksum, md5, size or none, got "${verify}"`);
  const readResumes = options.readResumes ?? 5;
  return {
    partSize,
    queueSize,
    ...(options.kmsKeyId !== undefined ? { kmsKeyId: options.kmsKeyId } : {}),
    ...(tagging !== undefined ? { tags: { ...options.tags }, tagging } : {}),
    ...(options.expectedBucketOwner !== undefined ? { expectedBucketOwner: options.expectedBucketOwner } : {}),
    bedrockUris: options.bedrockUris !== false,
    verify,
    readResumes,
  };
}

export class S3Store implements Store {
  readonly uri: string;
  readonly bucket: string;
  /** The key prefix of the store's location: empty, or ending in `/`. */
  readonly prefix: string;
  readonly client: S3Client;
  readonly settings: NormalizedS3Options;
  private readonly onProgress?: (progress: UploadProgress) => void;

  constructor(uri: string, options: S3StoreOptions = SDK_SETTINGS) {
    const { bucket, key } = parseS3Uri(uri);
    this.uri = uri;
    this.bucket = bucket;
    this.prefix = key === '' || key.endsWith('/') ? key : `${key}/`;
    this.settings = normalizeS3Options(options);
    if (this.settings.bedrockUris) checkBedrockS3Uri(this.base(), 'the location');
    this.client = s3ClientFor(options);
    if (options.onProgress) this.onProgress = options.onProgress;
  }

  /** `s3://bucket/prefix/`. */
  private base(): string {
    return formatS3Uri(this.bucket, this.prefix);
  }

  private objectKey(key: string): string {
    if (key.startsWith('/')) throw new BatchError('E_STORE', `key "${key}" must be relative to ${this.uri}`);
    return this.prefix + key;
  }

  resolve(key: string): string {
    return formatS3Uri(this.bucket, this.prefix + key);
  }

  createWriteStream(key: string, options: WriteOptions = {}): S3ObjectWriter {
    const uri = this.resolve(key);
    if (this.settings.bedrockUris) {
      const problem = bedrockS3UriProblem(uri);
      if (problem) throw new BatchError('E_BAD_URI', `cannot write ${uri}: ${problem.message}`, { hint: problem.hint });
    }
    const s = this.settings;
    return new S3ObjectWriter({
      client: this.client,
      bucket: this.bucket,
      key: this.objectKey(key),
      uri,
      partSize: s.partSize,
      queueSize: s.queueSize,
      verify: s.verify,
      ...(options.contentType ? { contentType: options.contentType } : {}),
      ...(s.kmsKeyId ? { kmsKeyId: s.kmsKeyId } : {}),
      ...(s.tagging ? { tagging: s.tagging } : {}),
      ...(s.expectedBucketOwner ? { expectedBucketOwner: s.expectedBucketOwner } : {}),
      ...(this.onProgress ? { onProgress: this.onProgress } : {}),
    });
  }

  createReadStream(key: string): Readable {
    return s3ObjectStream(this.client, this.bucket, this.objectKey(key), {
      uri: this.resolve(key),
      resumes: this.settings.readResumes,
      ...(this.settings.expectedBucketOwner ? { expectedBucketOwner: this.settings.expectedBucketOwner } : {}),
    });
  }

  /** Objects below the location whose key starts with `prefix`, in key order; "folder" markers (keys ending in `/`) are left out. */
  async *list(prefix = ''): AsyncIterable<ObjectInfo> {
    yield* listObjects(this.client, this.bucket, this.objectKey(prefix), {
      uri: this.resolve(prefix),
      strip: this.prefix.length,
      ...(this.settings.expectedBucketOwner ? { expectedBucketOwner: this.settings.expectedBucketOwner } : {}),
    });
  }

  async exists(key: string): Promise<boolean> {
    return objectExists(this.client, this.bucket, this.objectKey(key), this.resolve(key), this.settings.expectedBucketOwner);
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key), ...this.owner() }));
    } catch (error) {
      throw s3Error(error, 'delete', this.resolve(key));
    }
  }

  /**
   * A small object whole, with its ETag (for a conditional write after it), or undefined when it
   * does not exist. Objects over `maxBytes` are refused.
   */
  async readWithEtag(key: string, maxBytes = 64 << 20): Promise<{ body: Buffer; etag: string } | undefined> {
    const uri = this.resolve(key);
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key), ...this.owner() }));
      if ((res.ContentLength ?? 0) > maxBytes) {
        (res.Body as Readable | undefined)?.destroy();
        throw new BatchError('E_STORE', `${uri} is over ${maxBytes} bytes, too big for what it should be`);
      }
      const body = Buffer.from(await res.Body!.transformToByteArray());
      return { body, etag: res.ETag ?? '' };
    } catch (error) {
      if (error instanceof BatchError) throw error;
      if (httpStatus(error) === 404) return undefined;
      throw s3Error(error, 'read', uri);
    }
  }

  /**
   * PutObject only if the object is still what was read: `ifMatch` its ETag, or `ifNoneMatch: '*'`
   * when it did not exist. Resolves to the new ETag, or `'conflict'` when S3 refused the condition
   * (412 PreconditionFailed: someone wrote in between; 409 ConditionalRequestConflict: a write
   * racing this one; 404 with If-Match: the object was deleted): read again and retry.
   */
  async putConditional(key: string, body: Buffer | string, condition: { ifMatch: string } | { ifNoneMatch: '*' }, options: WriteOptions = {}): Promise<string | 'conflict'> {
    const uri = this.resolve(key);
    const s = this.settings;
    try {
      const res = await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.objectKey(key),
          Body: body,
          ...('ifMatch' in condition ? { IfMatch: condition.ifMatch } : { IfNoneMatch: condition.ifNoneMatch }),
          ...(options.contentType ? { ContentType: options.contentType } : {}),
          ...(s.kmsKeyId ? { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: s.kmsKeyId } : {}),
          ...(s.tagging ? { Tagging: s.tagging } : {}),
          ...this.owner(),
        }),
      );
      return res.ETag ?? '';
    } catch (error) {
      const status = httpStatus(error);
      if (status === 412 || status === 409 || (status === 404 && 'ifMatch' in condition)) return 'conflict';
      throw s3Error(error, 'write', uri);
    }
  }

  /** An object's tags (GetObjectTagging); E_STORE for a missing object. */
  async objectTags(key: string): Promise<Record<string, string>> {
    try {
      const res = await this.client.send(new GetObjectTaggingCommand({ Bucket: this.bucket, Key: this.objectKey(key), ...this.owner() }));
      return Object.fromEntries((res.TagSet ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
    } catch (error) {
      throw s3Error(error, 'read-tags', this.resolve(key));
    }
  }

  /**
   * Add `tags` to an object that exists (written by someone else: Bedrock's job outputs). S3's
   * PutObjectTagging replaces the whole tag set, so the object's own tags are read first and kept;
   * a key in both takes the new value. Resolves to the object's tags now. A merged set over S3's 10
   * is refused (E_BAD_OPTION) before anything is written.
   */
  async tagObject(key: string, tags: Record<string, string>): Promise<Record<string, string>> {
    checkTags(tags, 'the tags');
    const current = await this.objectTags(key);
    const merged = { ...current, ...tags };
    // already tagged so (a second collect): nothing to write
    if (Object.entries(tags).every(([k, v]) => current[k] === v)) return current;
    if (Object.keys(merged).length > MAX_OBJECT_TAGS) {
      throw new BatchError('E_BAD_OPTION', `${this.resolve(key)} has ${Object.keys(current).length} tags: adding ${Object.keys(tags).join(', ')} would make more than S3's ${MAX_OBJECT_TAGS}`, {
        hint: 'remove a tag from the object, or tag it yourself',
      });
    }
    try {
      await this.client.send(
        new PutObjectTaggingCommand({
          Bucket: this.bucket,
          Key: this.objectKey(key),
          Tagging: { TagSet: Object.entries(merged).map(([Key, Value]) => ({ Key, Value })) },
          ...this.owner(),
        }),
      );
    } catch (error) {
      throw s3Error(error, 'tag', this.resolve(key));
    }
    return merged;
  }

  /**
   * Delete `keys` with DeleteObjects, `DELETE_BATCH` a request (quiet: S3 answers only the keys it
   * could not delete). A key that does not exist counts as deleted, as S3 reports it. Resolves to
   * the keys deleted and, per key not deleted, S3's error code and message; a request that failed
   * as a whole (after the SDK's retries) fails each of its keys with that request's error, and the
   * next batch is still sent.
   */
  async deleteObjects(keys: readonly string[]): Promise<{ deleted: string[]; failed: { key: string; code: string; message: string }[] }> {
    const deleted: string[] = [];
    const failed: { key: string; code: string; message: string }[] = [];
    for (let at = 0; at < keys.length; at += DELETE_BATCH) {
      const batch = keys.slice(at, at + DELETE_BATCH);
      let res;
      try {
        res = await this.client.send(
          new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((k) => ({ Key: this.objectKey(k) })), Quiet: true }, ...this.owner() }),
        );
      } catch (error) {
        const e = s3Error(error, 'delete', this.resolve(batch[0]!));
        for (const k of batch) failed.push({ key: k, code: e.code, message: e.message });
        continue;
      }
      const refused = new Map<string, { code: string; message: string }>();
      for (const e of res.Errors ?? []) if (e.Key !== undefined) refused.set(e.Key, { code: e.Code ?? 'Unknown', message: e.Message ?? '' });
      for (const k of batch) {
        const e = refused.get(this.objectKey(k));
        if (e) failed.push({ key: k, ...e });
        else deleted.push(k);
      }
    }
    return { deleted, failed };
  }

  private owner(): { ExpectedBucketOwner?: string } {
    return this.settings.expectedBucketOwner ? { ExpectedBucketOwner: this.settings.expectedBucketOwner } : {};
  }
}

/** Every object under `prefix` in `bucket`, keys with the first `strip` characters removed. */
export async function* listObjects(
  client: S3Client,
  bucket: string,
  prefix: string,
  options: { uri: string; strip?: number; expectedBucketOwner?: string },
): AsyncIterable<ObjectInfo> {
  const strip = options.strip ?? 0;
  try {
    const pages = paginateListObjectsV2(
      { client, pageSize: 1000 },
      { Bucket: bucket, Prefix: prefix, ...(options.expectedBucketOwner ? { ExpectedBucketOwner: options.expectedBucketOwner } : {}) },
    );
    for await (const page of pages) {
      for (const o of page.Contents ?? []) {
        if (!o.Key || o.Key.endsWith('/')) continue;
        yield { key: o.Key.slice(strip), size: o.Size ?? 0 };
      }
    }
  } catch (error) {
    throw s3Error(error, 'list', options.uri);
  }
}

/** HeadObject: true, false for 404; a refusal is an error (S3 answers 403 for a missing key without s3:ListBucket). */
export async function objectExists(client: S3Client, bucket: string, key: string, uri: string, expectedBucketOwner?: string): Promise<boolean> {
  try {
    await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ...(expectedBucketOwner ? { ExpectedBucketOwner: expectedBucketOwner } : {}) }));
    return true;
  } catch (error) {
    if (httpStatus(error) === 404) return false;
    throw s3Error(error, 'check', uri);
  }
}

export interface ObjectStreamOptions {
  uri: string;
  /** Ranged GETs allowed after a dropped connection (default 5). */
  resumes?: number;
  expectedBucketOwner?: string;
  /** Read size hint (default 1 MiB). */
  highWaterMark?: number;
}

/**
 * The bytes of an object as a stream. The GET starts when the stream is first read; a connection
 * that drops mid-body is picked up again with `Range: bytes=<offset>-` and `If-Match: <ETag>`, so a
 * resumed read can never splice two versions of an object. Errors name the URI (E_STORE for a
 * missing object, E_NO_BUCKET, E_ACCESS_DENIED, ...).
 */
export function s3ObjectStream(client: S3Client, bucket: string, key: string, options: ObjectStreamOptions): Readable {
  const resumes = options.resumes ?? 5;
  const owner = options.expectedBucketOwner ? { ExpectedBucketOwner: options.expectedBucketOwner } : {};
  const abort = new AbortController();
  async function* bytes(): AsyncGenerator<Buffer> {
    let offset = 0;
    let size: number | undefined;
    let etag: string | undefined;
    let resumed = 0;
    for (;;) {
      let body: Readable;
      try {
        const range = offset > 0 ? { Range: `bytes=${offset}-`, ...(etag ? { IfMatch: etag } : {}) } : {};
        const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...owner, ...range }), { abortSignal: abort.signal });
        if (offset === 0) {
          size = res.ContentLength;
          etag = res.ETag;
        }
        body = res.Body as Readable;
      } catch (error) {
        if (httpStatus(error) === 412) {
          throw new BatchError('E_STORE', `${options.uri} changed while it was being read (its ETag no longer matches)`, { cause: error, hint: 'read it again once it is no longer being written' });
        }
        throw s3Error(error, 'read', options.uri);
      }
      try {
        for await (const chunk of body) {
          offset += (chunk as Buffer).length;
          yield chunk as Buffer;
        }
      } catch (error) {
        body.destroy();
        if (!isTransient(error) || ++resumed > resumes) {
          throw s3Error(error, 'read', options.uri, `reading ${options.uri} failed at byte ${offset}${resumed > 1 ? ` after ${resumed - 1} resumed reads` : ''}`);
        }
        continue;
      }
      if (size === undefined || offset >= size) return;
      // The body ended early without an error: resume from where it stopped.
      if (++resumed > resumes) throw new BatchError('E_STORE', `reading ${options.uri} stopped at byte ${offset} of ${size}`, { hint: 'run again' });
    }
  }
  const stream = Readable.from(bytes(), { objectMode: false, highWaterMark: options.highWaterMark ?? 1 << 20 });
  stream.once('close', () => abort.abort());
  return stream;
}
