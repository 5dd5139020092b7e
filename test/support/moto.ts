/**
 * A real S3 for tests: moto's server (`python3 -m moto.server`) on 127.0.0.1, on a free port,
 * started and stopped by the test itself. It implements multipart uploads, ListMultipartUploads,
 * AbortMultipartUpload, versioning and conditional writes (`If-None-Match: *` and `If-Match`
 * answered 412 PreconditionFailed), so aborts, uploads left behind and versions are checked on the
 * server itself (`pendingUploads`, `client`). What it does not do, measured on moto 5.2:
 * - it never checks a checksum: it returns (and stores) the `x-amz-checksum-crc32` the client sent,
 *   and computes a CRC32 of the bytes it received only when a request names the algorithm
 *   (`x-amz-sdk-checksum-algorithm`) without a value; S3 refuses a mismatch with 400 BadDigest;
 * - it does not serialise racing writers and never answers 409 ConditionalRequestConflict;
 * - it checks no signature, credentials or policies unless started with `auth` (then every request
 *   needs a key of moto's IAM: others get 403 InvalidAccessKeyId, as from S3);
 * - it ignores `x-amz-expected-bucket-owner`;
 * - it answers `HEAD key?versionId=null` with 400 (docs/contracts.md, "Stores").
 * Faults a server cannot be asked for go through the pass-through in `s3-proxy.ts`.
 *
 *   const s3 = await startMoto();
 *   await s3.createBucket('batch-in');
 *   const store = openStore('s3://batch-in/run-1/', s3.clientOptions);
 *   ...
 *   await s3.stop();
 *
 * moto is a prerequisite of the test suite (on these machines: moto 5.2). Where it is missing the
 * suite stops with one line naming it; it never skips the S3 tests silently.
 */
import { spawnSync } from 'node:child_process';
import { CreateBucketCommand, ListMultipartUploadsCommand, PutBucketVersioningCommand, S3Client } from '@aws-sdk/client-s3';
import { launchMoto } from '../../bench/moto.js';

export const MOTO_CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' };

export interface MotoServer {
  /** `http://127.0.0.1:PORT`. */
  endpoint: string;
  /** Client settings that reach this server: endpoint, test credentials, path-style. */
  clientOptions: {
    endpointUrl: string;
    region: string;
    forcePathStyle: true;
    credentials: { accessKeyId: string; secretAccessKey: string };
  };
  /** A client straight to the server (no pass-through), to check what the server holds. */
  client: S3Client;
  createBucket(name: string): Promise<void>;
  /** Turns versioning on (`Enabled`) or off again (`Suspended`: a bucket never goes back to unversioned). */
  setVersioning(bucket: string, status: 'Enabled' | 'Suspended'): Promise<void>;
  /** Upload ids of multipart uploads neither completed nor aborted, from the server's own ListMultipartUploads. */
  pendingUploads(bucket: string): Promise<string[]>;
  stop(): Promise<void>;
}

export interface MotoOptions {
  /** Check credentials as S3 does: only keys of moto's own IAM are known (none at start). */
  auth?: boolean;
}

/** The environment a CLI child process needs to use `s3` as its S3 (as a user sets AWS_ENDPOINT_URL_S3). */
export function motoCliEnv(s3: Pick<MotoServer, 'endpoint'>): NodeJS.ProcessEnv {
  return {
    ...process.env,
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    AWS_ACCESS_KEY_ID: MOTO_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: MOTO_CREDENTIALS.secretAccessKey,
    AWS_REGION: 'us-east-1',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

let checked = false;
function requireMoto(): void {
  if (checked) return;
  const r = spawnSync('python3', ['-c', 'import moto, moto.server; print(moto.__version__)'], { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error('the S3 tests need moto\'s server: python3 -m pip install --user "moto[server]" (moto 5.2 or later)');
  }
  checked = true;
}

export async function startMoto(options: MotoOptions = {}): Promise<MotoServer> {
  requireMoto();
  const moto = await launchMoto({ ...process.env, ...(options.auth ? { INITIAL_NO_AUTH_ACTION_COUNT: '0' } : {}) });
  const endpoint = moto.endpoint;
  const clientOptions = { endpointUrl: endpoint, region: 'us-east-1', forcePathStyle: true as const, credentials: MOTO_CREDENTIALS };
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: MOTO_CREDENTIALS });
  return {
    endpoint,
    clientOptions,
    client,
    async createBucket(name) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    async setVersioning(bucket, status) {
      await client.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: status } }));
    },
    async pendingUploads(bucket) {
      const r = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
      return (r.Uploads ?? []).map((u) => u.UploadId!);
    },
    async stop() {
      client.destroy();
      await moto.stop();
    },
  };
}
