/**
 * Opening an input: a byte stream for a path, `-` (stdin) or an `s3://` URI (streamed GetObject that
 * resumes after a dropped connection, see stores/s3.ts). gzip is
 * recognised by its magic bytes (1f 8b), never by the name, and decompressed transparently (on stdin
 * too). Errors name the input and say what to do.
 */
import { Readable, pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { BatchError, isBatchError } from '../errors.js';
import { readFileStream } from '../stores/local.js';
import { s3ClientFor, s3ObjectStream, type S3StoreOptions } from '../stores/s3.js';
import { isS3Uri, parseS3Uri } from '../stores/uri.js';

export interface OpenOptions {
  /** The stream `-` reads (default `process.stdin`); injectable for tests. */
  stdin?: Readable;
  /** Read size for files (default 1 MiB). */
  chunkSize?: number;
  /** Client settings for `s3://` inputs (default: the SDK's own: the environment, the profile). */
  s3?: S3StoreOptions;
}

/** A byte stream of the input, gunzipped when it starts with the gzip magic bytes. */
export function openSource(input: string, options: OpenOptions = {}): Readable {
  if (typeof input !== 'string' || input === '') throw new BatchError('E_NO_INPUT', 'an input is empty: give a path, - for stdin, or an s3:// URI');
  const raw = rawSource(input, options);
  return Readable.from(gunzipIfNeeded(raw, input), { objectMode: false, highWaterMark: options.chunkSize ?? 1 << 20 });
}

/** The undecoded bytes of an input. The one place a new kind of input (s3://) plugs in. */
function rawSource(input: string, options: OpenOptions): Readable {
  if (input === '-') return options.stdin ?? process.stdin;
  if (isS3Uri(input)) {
    const { bucket, key } = parseS3Uri(input);
    if (key === '' || key.endsWith('/')) {
      throw new BatchError('E_READ', `${input} is a prefix, not an object`, { hint: 'give an object, or let prepare list the prefix (it reads every data file under it)' });
    }
    const s3 = options.s3;
    return s3ObjectStream(s3ClientFor(s3), bucket, key, {
      uri: input,
      ...(s3?.readResumes !== undefined ? { resumes: s3.readResumes } : {}),
      ...(s3?.expectedBucketOwner ? { expectedBucketOwner: s3.expectedBucketOwner } : {}),
      highWaterMark: options.chunkSize ?? 1 << 20,
    });
  }
  return readFileStream(input, input, options.chunkSize ?? 1 << 20);
}

async function* gunzipIfNeeded(source: Readable, input: string): AsyncGenerator<Buffer> {
  const it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  const head: Buffer[] = [];
  let headBytes = 0;
  let done = false;
  try {
    while (headBytes < 2) {
      const r = await it.next();
      if (r.done) {
        done = true;
        break;
      }
      const b = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
      head.push(b);
      headBytes += b.length;
    }
  } catch (error) {
    source.destroy();
    throw readError(input, error);
  }
  const first = head.length === 1 ? head[0]! : Buffer.concat(head);
  const rest = async function* (): AsyncGenerator<Buffer> {
    if (first.length > 0) yield first;
    if (done) return;
    try {
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
      }
    } catch (error) {
      throw readError(input, error);
    }
  };
  if (!(first.length >= 2 && first[0] === 0x1f && first[1] === 0x8b)) {
    yield* rest();
    return;
  }
  const gunzip = createGunzip({ chunkSize: 1 << 20 });
  let failure: unknown;
  pipeline(Readable.from(rest(), { objectMode: false }), gunzip, (error) => {
    if (error) failure = error;
  });
  try {
    for await (const chunk of gunzip) yield chunk as Buffer;
  } catch (error) {
    throw gzipError(input, failure ?? error);
  } finally {
    gunzip.destroy();
  }
  if (failure) throw gzipError(input, failure);
}

function gzipError(input: string, error: unknown): BatchError {
  if (isBatchError(error)) return error;
  const e = error as NodeJS.ErrnoException;
  return new BatchError('E_READ', `${input} starts like gzip but cannot be decompressed (${e.message}): the file is corrupt or truncated`, {
    cause: error,
    hint: 'check that the file was copied completely (gzip -t tests it), or decompress it yourself',
  });
}

/** Read errors that name the input and say what to do. */
export function readError(input: string, error: unknown): BatchError {
  const cause = isBatchError(error) && error.cause !== undefined ? error.cause : error;
  const e = cause as NodeJS.ErrnoException;
  const where = input === '-' ? 'standard input' : input;
  switch (e?.code) {
    case 'ENOENT':
      return new BatchError('E_READ', `${where} does not exist`, { cause, hint: 'check the path (relative paths start from the current directory)' });
    case 'EISDIR':
      return new BatchError('E_READ', `${where} is a directory, not a file`, { cause, hint: 'give a file, or give the directory to prepare to read every file in it' });
    case 'EACCES':
    case 'EPERM':
      return new BatchError('E_READ', `permission denied reading ${where}`, { cause, hint: 'check the file\'s permissions, or run as a user who can read it' });
    default:
      if (isBatchError(error) && error.code !== 'E_STORE') return error;
      // S3 errors already name the URI and say what to do.
      if (isBatchError(error) && isS3Uri(input)) return new BatchError('E_READ', error.message, { cause, ...(error.hint ? { hint: error.hint } : {}) });
      return new BatchError('E_READ', `cannot read ${where}: ${e?.message ?? String(cause)}`, { cause });
  }
}
