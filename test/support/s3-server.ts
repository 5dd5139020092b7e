/**
 * A real S3-compatible server for tests: s3rver on 127.0.0.1, on a free port, in a temporary
 * directory, started and stopped by the test itself.
 *
 *   const s3 = await startS3Server();
 *   await s3.createBucket('batch-in');
 *   const store = openStore('s3://batch-in/run-1/', s3.storeOptions);
 *   ...
 *   await s3.stop();
 *
 * s3rver 3.7.1 speaks enough S3 for the SDK when checksums are `WHEN_REQUIRED` and path-style is on
 * (`s3.clientOptions` sets both). It accepts any SigV4 signature but only the access key `S3RVER`
 * (others get 403 InvalidAccessKeyId). It implements neither AbortMultipartUpload (405) nor
 * ListMultipartUploads (501): the pass-through in `s3-proxy.ts` adds the first, and
 * `pendingUploads()` reads the second from s3rver's own folder.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';

/** The part of s3rver's API used here (it ships no types). */
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  store: { putBucket(name: string): Promise<unknown> };
  httpServer?: { closeAllConnections?: () => void };
}
type S3rverClass = new (options: Record<string, unknown>) => S3rverInstance;
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverClass;

export interface S3Server {
  /** `http://127.0.0.1:PORT`. */
  endpoint: string;
  /** s3rver's data folder: `<dir>/<bucket>/<key>._S3rver_object`, uploads in `<dir>/<bucket>/._S3rver_uploads/`. */
  dir: string;
  /** Client settings that reach this server: endpoint, static test credentials, path-style, checksums. */
  clientOptions: {
    endpointUrl: string;
    region: string;
    forcePathStyle: true;
    credentials: { accessKeyId: string; secretAccessKey: string };
    requestChecksumCalculation: 'WHEN_REQUIRED';
    responseChecksumValidation: 'WHEN_REQUIRED';
  };
  createBucket(name: string): Promise<void>;
  /** Upload ids of multipart uploads that were neither completed nor aborted, per bucket. */
  pendingUploads(bucket: string): Promise<string[]>;
  stop(): Promise<void>;
}

export const TEST_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/** The environment a CLI child process needs to use `s3` as its S3 (as a user sets AWS_ENDPOINT_URL_S3). */
export function s3CliEnv(s3: Pick<S3Server, 'endpoint'>): NodeJS.ProcessEnv {
  return {
    ...process.env,
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
    AWS_REGION: 'us-east-1',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

export async function startS3Server(): Promise<S3Server> {
  const dir = await mkdtemp(join(tmpdir(), 's3rver-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir, vhostBuckets: false });
  const address = await server.run();
  const endpoint = `http://127.0.0.1:${address.port}`;
  let stopped = false;
  return {
    endpoint,
    dir,
    clientOptions: {
      endpointUrl: endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { ...TEST_CREDENTIALS },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    },
    async createBucket(name: string) {
      await server.store.putBucket(name);
    },
    async pendingUploads(bucket: string) {
      return readdir(uploadsDir(dir, bucket)).catch(() => []);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      server.httpServer?.closeAllConnections?.();
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Where s3rver keeps the parts of unfinished multipart uploads of a bucket (one folder per upload id). */
export function uploadsDir(dir: string, bucket: string): string {
  return join(dir, bucket, '._S3rver_uploads');
}
