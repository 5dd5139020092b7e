/**
 * Verify what landed in S3 against the bytes written to it. The digests of those bytes are computed
 * as they are written (`PartDigests`, on the writer's part boundaries); once S3 has the object, S3 must
 * have acknowledged every part sent, the object's size (HeadObject) must be the bytes written, and
 * the CRC32s S3 computed (each part's, and the object's, full-object or composite) must be those of
 * the bytes written, when the SDK's checksums are on (AWS's default); `verify: 'md5'` adds each
 * part's MD5 against its ETag for servers without checksums.
 */
import { createHash, type Hash } from 'node:crypto';
import * as zlib from 'node:zlib';
import { HeadObjectCommand, type CompleteMultipartUploadCommandOutput, type HeadObjectCommandOutput, type S3Client } from '@aws-sdk/client-s3';
import { BatchError } from '../errors.js';

/**
 * What a writer checks once S3 has the object, besides the part count:
 * - `checksum` (default): the size, and the CRC32s S3 computed (each part's and the object's) when
 *   the SDK's checksums are on (AWS's default, `WHEN_SUPPORTED`); servers without them (most
 *   S3-compatible ones, `WHEN_REQUIRED`) get the size only;
 * - `md5`: as `checksum`, and on servers without checksums each part's MD5 against its ETag (S3,
 *   MinIO, moto... return a part's MD5 as its ETag for unencrypted and SSE-S3 objects; it is not
 *   a documented guarantee, and it costs about 1.5 ms of CPU per MB written, hence opt-in);
 * - `size`: the size only; `none`: nothing.
 */
export type VerifyMode = 'checksum' | 'md5' | 'size' | 'none';

/** What was verified: `checksum` (size and a checksum), `size`, or `none`. */
export type Verified = 'checksum' | 'size' | 'none';

const hasCrc32 = typeof (zlib as { crc32?: unknown }).crc32 === 'function';

/** Per-part and whole-object digests computed over the bytes as they are written, on the writer's part boundaries (every `partSize` bytes). */
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

/**
 * The digests a write needs for `mode`: CRC32s when S3 computes them too (the client's checksum
 * calculation is `WHEN_SUPPORTED`), MD5s for `md5` unless the object is KMS-encrypted (its ETags
 * are then not MD5s).
 */
export function digestsFor(mode: VerifyMode, partSize: number, context: { checksums: 'WHEN_SUPPORTED' | 'WHEN_REQUIRED'; kms: boolean }): PartDigests {
  const checksums = mode === 'checksum' || mode === 'md5';
  return new PartDigests(partSize, mode === 'md5' && !context.kms, checksums && context.checksums === 'WHEN_SUPPORTED' && hasCrc32);
}

/** S3's composite checksum of a multipart object: the CRC32 of the parts' CRC32s, base64, `-N`. */
export function compositeCrc32(partCrcs: readonly number[]): string {
  const all = Buffer.alloc(4 * partCrcs.length);
  partCrcs.forEach((c, i) => all.writeUInt32BE(c >>> 0, 4 * i));
  return `${crc32Base64(zlib.crc32(all))}-${partCrcs.length}`;
}

function crc32Base64(crc: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(crc >>> 0);
  return b.toString('base64');
}

/** S3's multipart ETag: the MD5 of the parts' MD5s, hex, `-N`. */
export function multipartEtag(partMd5s: readonly Buffer[]): string {
  return `${createHash('md5').update(Buffer.concat(partMd5s)).digest('hex')}-${partMd5s.length}`;
}

const unquote = (etag: string | undefined) => etag?.replace(/"/g, '');

/** What S3 answered to the requests that wrote one object. */
export interface Landed {
  /** The multipart upload's id (none: a single PutObject). */
  uploadId?: string;
  /** Each part S3 acknowledged, by part number: its size, ETag and CRC32. */
  parts: Map<number, { size: number; etag?: string; crc32?: string }>;
  /** The single PutObject's answer. */
  single?: { etag?: string; crc32?: string; versionId?: string };
  /** CompleteMultipartUpload's answer. */
  completion?: CompleteMultipartUploadCommandOutput;
}

/** Parts S3 acknowledged (a single PutObject is one). */
export function partsAcknowledged(l: Landed): number {
  return l.uploadId ? l.parts.size : 1;
}

/**
 * A version id S3 answered, when it names a version of a versioning bucket; none for the literal
 * `null` that S3 (and moto) report for an unversioned or suspended bucket. That `null` must never
 * be sent back as `versionId=null`: moto (and so LocalStack) answers it with 400, and without a
 * version id a read gets the object just written anyway (docs/contracts.md, "Stores").
 */
function realVersionId(versionId: string | undefined): string | undefined {
  return versionId && versionId !== 'null' ? versionId : undefined;
}

/** The object's ETag (unquoted) and version id (only when the bucket versions), as S3 answered them. */
export function landedIds(l: Landed): { etag?: string; versionId?: string } {
  const etag = unquote(l.completion?.ETag ?? l.single?.etag);
  const versionId = realVersionId(l.completion?.VersionId ?? l.single?.versionId);
  return { ...(etag ? { etag } : {}), ...(versionId ? { versionId } : {}) };
}

/** The object written, and how it was asked to be written. */
export interface VerifyTarget {
  client: S3Client;
  bucket: string;
  key: string;
  /** The object's URI, for messages. */
  uri: string;
  mode: VerifyMode;
  kmsKeyId?: string;
  expectedBucketOwner?: string;
}

/** Check what landed against the `written` bytes and their digests: what was verified, or a BatchError (E_UPLOAD) naming the difference. */
export async function verifyLanded(t: VerifyTarget, written: number, d: PartDigests, l: Landed): Promise<Verified> {
  if (t.mode === 'none') return 'none';
  const sent = d.parts.length;
  const acked = partsAcknowledged(l);
  if (acked !== sent) throw new BatchError('E_UPLOAD', `S3 acknowledged ${acked} parts of ${t.uri}, but ${sent} were sent`);
  const versionId = landedIds(l).versionId;
  const head: HeadObjectCommandOutput = await t.client.send(
    new HeadObjectCommand({
      Bucket: t.bucket,
      Key: t.key,
      ...(versionId ? { VersionId: versionId } : {}),
      ...(t.expectedBucketOwner ? { ExpectedBucketOwner: t.expectedBucketOwner } : {}),
    }),
  );
  if (head.ContentLength !== written) {
    throw new BatchError('E_UPLOAD', `S3 holds ${head.ContentLength} bytes under ${t.uri}, but ${written} were written`);
  }
  if (t.kmsKeyId && head.ServerSideEncryption && !head.ServerSideEncryption.startsWith('aws:kms')) {
    throw new BatchError('E_UPLOAD', `${t.uri} was stored with ${head.ServerSideEncryption} encryption, not the requested aws:kms`);
  }
  if (t.mode === 'size') return 'size';
  return checkCrc32(t.uri, d, l) || checkMd5(t.uri, d, l, head) ? 'checksum' : 'size';
}

/** CRC32s S3 computed on its side (when the SDK's checksums are on): each part's, and the object's. */
function checkCrc32(uri: string, d: PartDigests, l: Landed): boolean {
  if (!d.withCrc32) return false;
  let checked = false;
  const mismatch = (what: string, theirs: string, ours: string) =>
    new BatchError('E_UPLOAD', `${what} of ${uri}: S3 computed CRC32 ${theirs}, the bytes written have ${ours}`);
  if (l.uploadId) {
    for (const [n, p] of l.parts) {
      const ours = d.parts[n - 1]?.crc32;
      if (p.crc32 === undefined || ours === undefined) continue;
      if (p.crc32 !== crc32Base64(ours)) throw mismatch(`part ${n}`, p.crc32, crc32Base64(ours));
      checked = true;
    }
  }
  const whole = l.completion?.ChecksumCRC32 ?? l.single?.crc32;
  if (whole) {
    const ours = /-\d+$/.test(whole) ? compositeCrc32(d.parts.map((p) => p.crc32!)) : crc32Base64(d.crc32);
    if (whole !== ours) throw mismatch('the object', whole, ours);
    checked = true;
  }
  return checked;
}

/** MD5s: S3 (and moto, MinIO, ...) return a part's MD5 as its ETag, except for KMS-encrypted objects. */
function checkMd5(uri: string, d: PartDigests, l: Landed, head: HeadObjectCommandOutput): boolean {
  if (!d.withMd5 || (head.ServerSideEncryption ?? '').startsWith('aws:kms') || head.SSECustomerAlgorithm) return false;
  const md5Like = /^[0-9a-f]{32}$/;
  const mismatch = (what: string, theirs: string, ours: string) =>
    new BatchError('E_UPLOAD', `${what} of ${uri}: S3 has MD5 ${theirs}, the bytes written have ${ours}`);
  if (!l.uploadId) {
    const etag = unquote(l.single?.etag);
    if (!etag || !md5Like.test(etag)) return false;
    const ours = d.parts[0]!.md5!.toString('hex');
    if (etag !== ours) throw mismatch('the object', etag, ours);
    return true;
  }
  let checked = 0;
  for (const [n, p] of l.parts) {
    const etag = unquote(p.etag);
    const ours = d.parts[n - 1]?.md5?.toString('hex');
    if (!etag || !ours || !md5Like.test(etag)) continue;
    if (etag !== ours) throw mismatch(`part ${n}`, etag, ours);
    checked++;
  }
  const final = unquote(l.completion?.ETag);
  if (final && /^[0-9a-f]{32}-\d+$/.test(final)) {
    const ours = multipartEtag(d.parts.map((p) => p.md5!));
    if (final !== ours) throw mismatch('the object', final, ours);
  }
  return checked === l.parts.size && checked > 0;
}
