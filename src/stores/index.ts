import { BatchError } from '../errors.js';
import { LocalStore } from './local.js';
import { S3Store, type S3StoreOptions } from './s3.js';
import type { Store } from './store.js';
import { isS3Uri } from './uri.js';

export type { ObjectInfo, Store, WriteOptions } from './store.js';
export { joinKey } from './store.js';
export { LocalStore, readFileStream } from './local.js';
export {
  abortOpenUploads,
  DEFAULT_PART_SIZE,
  DEFAULT_QUEUE_SIZE,
  DELETE_BATCH,
  listObjects,
  normalizeS3Options,
  objectExists,
  s3ClientFor,
  s3ObjectStream,
  S3ObjectWriter,
  S3Store,
  UploadError,
  uploadsSettled,
  type NormalizedS3Options,
  type ObjectStreamOptions,
  type S3StoreOptions,
  type UploadProgress,
  type UploadResult,
  type VerifyMode,
} from './s3.js';
export { awsClientConfig, configuredEndpoint, createS3Client, isCustomEndpoint, s3ClientOptions, type AwsClientOptions, type AwsCredentials, type ChecksumMode, type S3ClientOptions } from './s3-client.js';
export { describeS3Error, s3Error, s3ErrorCode } from './s3-errors.js';
export { checkAccountId, checkKmsKeyId, formatS3Uri, isS3Uri, parseS3Uri, type S3Location } from './uri.js';
export { bedrockS3UriProblem, checkBedrockS3Uri } from '../bedrock/s3-uri.js';
export { compositeCrc32, multipartEtag, PartDigests } from './s3-verify.js';
export { checkTags, EXPIRE_TAG_KEY, expireTags, MAX_OBJECT_TAGS, taggingHeader } from './tags.js';

/**
 * Options for `openStore`: the S3 settings (a local directory needs none). The library calls that
 * open locations take them explicitly (an `s3` option, or a Store opened with them); without them
 * the SDK resolves its own (the environment, the profile).
 */
export type StoreOptions = S3StoreOptions;

/**
 * Open the store for a location: `s3://bucket/prefix/` is an S3 store (see S3StoreOptions), a
 * local directory path or `file://` URI a local store. Other schemes are refused.
 */
export function openStore(uri: string, options?: StoreOptions): Store {
  if (isS3Uri(uri)) return new S3Store(uri, options);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri) && !uri.startsWith('file://')) {
    throw new BatchError('E_BAD_OPTION', `unsupported location ${uri}`, { hint: 'use a local path or s3://bucket/prefix' });
  }
  return new LocalStore(uri);
}

/** Read a small object whole, as text, refusing one over `maxBytes`. */
export async function readSmall(store: Store, key: string, maxBytes = 64 * 1024 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of store.createReadStream(key) as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      throw new BatchError('E_STORE', `${store.resolve(key)} is over ${maxBytes} bytes, too big for what it should be`, {
        hint: 'check that the location points at the right run',
      });
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

/** A location for one file (`results.csv`, `s3://bucket/run/results.jsonl`): the store of its folder and its key. */
export function fileTarget(uri: string, options?: StoreOptions): { store: Store; key: string; uri: string } {
  const m = /^(s3:\/\/[^/]+\/?)(.*)$/i.exec(uri);
  let base: string;
  let key: string;
  if (m) {
    const rest = m[2]!;
    const i = rest.lastIndexOf('/');
    base = i < 0 ? m[1]! : `${m[1]!.replace(/\/?$/, '/')}${rest.slice(0, i + 1)}`;
    key = i < 0 ? rest : rest.slice(i + 1);
  } else {
    const i = uri.lastIndexOf('/');
    base = i < 0 ? '.' : uri.slice(0, i) || '/';
    key = i < 0 ? uri : uri.slice(i + 1);
  }
  if (!key) throw new BatchError('E_BAD_OPTION', `${uri} names a folder, not a file`, { hint: 'give a file name such as results.jsonl' });
  return { store: openStore(base, options), key, uri };
}
