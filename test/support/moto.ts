/**
 * A real S3 for tests: moto's server (`python3 -m moto.server`) on 127.0.0.1, on a free port,
 * started and stopped by the test itself. Unlike s3rver it implements multipart uploads with CRC32
 * checksums, ListMultipartUploads, AbortMultipartUpload and conditional writes (`If-None-Match: *`
 * and `If-Match` answered 412 PreconditionFailed); it does not serialise racing writers and never
 * answers 409 ConditionalRequestConflict, so race tests inject those through the pass-through in
 * `s3-proxy.ts`. It answers `HEAD key?versionId=null` with 400 (docs/contracts.md, "Stores").
 *
 *   const s3 = await startMoto();
 *   await s3.createBucket('batch-in');
 *   const store = openStore('s3://batch-in/run-1/', s3.storeOptions);
 *   ...
 *   await s3.stop();
 *
 * moto is a prerequisite of the test suite (on these machines: moto 5.2). Where it is missing the
 * suite stops with one line naming it; it never skips the S3 tests silently.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { CreateBucketCommand, ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3';

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
  createBucket(name: string): Promise<void>;
  /** Upload ids of multipart uploads neither completed nor aborted, from the server's own ListMultipartUploads. */
  pendingUploads(bucket: string): Promise<string[]>;
  stop(): Promise<void>;
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

async function freePort(): Promise<number> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as AddressInfo).port;
  s.close();
  await once(s, 'close');
  return port;
}

export async function startMoto(): Promise<MotoServer> {
  requireMoto();
  let child: ChildProcess | undefined;
  let port = 0;
  let log = '';
  for (let attempt = 0; attempt < 3 && !child; attempt++) {
    port = await freePort();
    const c = spawn('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    c.stdout!.on('data', (d) => (log = (log + d).slice(-4000)));
    c.stderr!.on('data', (d) => (log = (log + d).slice(-4000)));
    const until = Date.now() + 30_000;
    for (;;) {
      if (c.exitCode !== null) break; // the port was taken in between: try another
      const up = await fetch(`http://127.0.0.1:${port}/moto-api/`).then((r) => r.ok || r.status < 500, () => false);
      if (up) {
        child = c;
        break;
      }
      if (Date.now() > until) {
        c.kill('SIGKILL');
        throw new Error(`moto's server did not start on 127.0.0.1:${port} within 30 s: ${log}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  if (!child) throw new Error(`moto's server did not start: ${log}`);
  const endpoint = `http://127.0.0.1:${port}`;
  const clientOptions = { endpointUrl: endpoint, region: 'us-east-1', forcePathStyle: true as const, credentials: MOTO_CREDENTIALS };
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: MOTO_CREDENTIALS });
  const running = child;
  return {
    endpoint,
    clientOptions,
    async createBucket(name) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    async pendingUploads(bucket) {
      const r = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
      return (r.Uploads ?? []).map((u) => u.UploadId!);
    },
    async stop() {
      client.destroy();
      if (running.exitCode === null) {
        running.kill('SIGTERM');
        await Promise.race([once(running, 'exit'), new Promise((r) => setTimeout(r, 5000))]);
        if (running.exitCode === null) running.kill('SIGKILL');
      }
    },
  };
}
