/**
 * An HTTP pass-through between the SDK and s3rver (test/support/s3-server.ts) that sees every
 * request and can make the server misbehave on chosen ones:
 *
 * - it records each request (operation, bucket, key, part number, upload id, headers);
 * - `fault(request)` may answer with an S3 error (e.g. 403 AccessDenied, which s3rver never sends),
 *   kill the connection after N bytes of the request body (a server dying mid-upload), or cut a
 *   response body after N bytes (a download dropping mid-way);
 * - it implements AbortMultipartUpload, which s3rver 3.7.1 answers with 405: it records the abort
 *   and removes the upload's parts from s3rver's `._S3rver_uploads/<uploadId>/`, so "nothing is
 *   orphaned" can be checked on the server's own disk;
 * - with `checksums: true` it answers as S3 does with flexible checksums (which s3rver lacks): the
 *   CRC32 of the bytes the server received on UploadPart / PutObject (`x-amz-checksum-crc32`), and
 *   the composite checksum of the parts in CompleteMultipartUpload's result.
 *
 * An S3 test file starts its server and the pass-through once (`startProxiedS3`), calls
 * `proxy.reset()` before each test and `stopProxiedS3` after the last.
 */
import { once } from 'node:events';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { MotoServer } from './moto.js';
import { uploadsDir, type S3Server } from './s3-server.js';

export type S3Operation =
  | 'CreateMultipartUpload'
  | 'UploadPart'
  | 'CompleteMultipartUpload'
  | 'AbortMultipartUpload'
  | 'ListMultipartUploads'
  | 'PutObject'
  | 'GetObject'
  | 'HeadObject'
  | 'DeleteObject'
  | 'ListObjects'
  | 'Other';

export interface ProxyRequest {
  /** 1-based, in arrival order. */
  seq: number;
  op: S3Operation;
  method: string;
  bucket: string;
  key: string;
  partNumber?: number;
  uploadId?: string;
  headers: IncomingHttpHeaders;
}

export type FaultAction =
  /** Answer with an S3 error document. */
  | { error: { status: number; code: string; message?: string } }
  /** Read this many bytes of the request body (forwarding them), then kill the connection. */
  | { resetAfterBytes: number }
  /** Forward the request, but cut the response body after this many bytes. */
  | { cutResponseAfterBytes: number }
  /** Forward the request with the body byte at this offset inverted (data corrupted on the way). */
  | { flipRequestByteAt: number }
  /** Forward the request after this many milliseconds (a slow server). */
  | { delayMs: number };

export type Fault = (request: ProxyRequest) => FaultAction | undefined;

export interface S3Proxy {
  endpoint: string;
  /** The server's client options with the proxy's endpoint. */
  clientOptions: ProxiedServer['clientOptions'];
  requests: ProxyRequest[];
  /** AbortMultipartUpload requests that reached the proxy and succeeded. */
  aborts: { bucket: string; key: string; uploadId: string }[];
  fault: Fault | undefined;
  /** Answer with CRC32 checksums as S3 does (see the module comment). */
  checksums: boolean;
  ops(op: S3Operation): ProxyRequest[];
  /** Forget the requests and aborts seen so far and drop the fault (between tests). */
  reset(): void;
  stop(): Promise<void>;
}

function classify(method: string, query: URLSearchParams, key: string): S3Operation {
  if (method === 'POST' && query.has('uploads')) return 'CreateMultipartUpload';
  if (method === 'PUT' && query.has('uploadId') && query.has('partNumber')) return 'UploadPart';
  if (method === 'POST' && query.has('uploadId')) return 'CompleteMultipartUpload';
  if (method === 'DELETE' && query.has('uploadId')) return 'AbortMultipartUpload';
  if (method === 'GET' && query.has('uploads')) return 'ListMultipartUploads';
  if (method === 'PUT' && key && [...query.keys()].filter((k) => k !== 'x-id').length === 0) return 'PutObject';
  if (method === 'GET' && !key) return 'ListObjects';
  if (method === 'GET' && key) return 'GetObject';
  if (method === 'HEAD' && key) return 'HeadObject';
  if (method === 'DELETE' && key) return 'DeleteObject';
  return 'Other';
}

function s3ErrorXml(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>proxy</RequestId></Error>`;
}

const b64 = (crc: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(crc >>> 0);
  return b.toString('base64');
};

/** Forwards the first `limit` bytes that `from` emits with `write`, then calls `cut` (a connection that dies mid-body). */
function forwardFirst(from: NodeJS.ReadableStream, limit: number, write: (chunk: Buffer) => void, cut: () => void): void {
  let passed = 0;
  from.on('data', (chunk: Buffer) => {
    if (passed >= limit) return;
    const take = Math.min(chunk.length, limit - passed);
    passed += take;
    write(chunk.subarray(0, take));
    if (passed >= limit) cut();
  });
}

/** What the proxy needs of a server: s3rver (test/support/s3-server.ts, whose aborts it emulates) or moto (test/support/moto.ts). */
export type ProxiedServer = Pick<S3Server, 'endpoint'> & { clientOptions: S3Server['clientOptions'] | MotoServer['clientOptions']; dir?: string };

export async function startS3Proxy(server: ProxiedServer, options: { fault?: Fault; checksums?: boolean } = {}): Promise<S3Proxy> {
  const partCrcs = new Map<string, Map<number, number>>();
  const target = new URL(server.endpoint);
  const requests: ProxyRequest[] = [];
  const aborts: S3Proxy['aborts'] = [];
  const sockets = new Set<Socket>();
  let seq = 0;
  const proxy: S3Proxy = {
    endpoint: '',
    clientOptions: { ...server.clientOptions },
    requests,
    aborts,
    fault: options.fault,
    checksums: options.checksums ?? false,
    ops: (op) => requests.filter((r) => r.op === op),
    reset() {
      requests.length = 0;
      aborts.length = 0;
      proxy.fault = undefined;
    },
    async stop() {
      for (const s of sockets) s.destroy();
      http.close();
      await once(http, 'close').catch(() => {});
    },
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const [, bucket = '', ...rest] = url.pathname.split('/');
    const key = decodeURIComponent(rest.join('/'));
    const op = classify(req.method ?? 'GET', url.searchParams, key);
    const r: ProxyRequest = {
      seq: ++seq,
      op,
      method: req.method ?? 'GET',
      bucket: decodeURIComponent(bucket),
      key,
      headers: req.headers,
      ...(url.searchParams.get('partNumber') ? { partNumber: Number(url.searchParams.get('partNumber')) } : {}),
      ...(url.searchParams.get('uploadId') ? { uploadId: url.searchParams.get('uploadId')! } : {}),
    };
    requests.push(r);
    let action = proxy.fault?.(r);
    if (action && 'delayMs' in action) {
      req.pause();
      await new Promise((resolve) => setTimeout(resolve, action && 'delayMs' in action ? action.delayMs : 0));
      action = undefined; // the body flows again once it is piped on
    }

    if (action && 'error' in action) {
      req.resume();
      await once(req, 'end');
      const body = s3ErrorXml(action.error.code, action.error.message ?? action.error.code);
      res.writeHead(action.error.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), 'x-amz-request-id': 'proxy' });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }

    if (op === 'AbortMultipartUpload' && !action && server.dir !== undefined) {
      req.resume();
      await once(req, 'end');
      const folder = join(uploadsDir(server.dir, r.bucket), r.uploadId!);
      const present = await stat(folder).then(() => true, () => false);
      if (!present) {
        const body = s3ErrorXml('NoSuchUpload', 'The specified upload does not exist.');
        res.writeHead(404, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
        res.end(body);
        return;
      }
      await rm(folder, { recursive: true, force: true });
      aborts.push({ bucket: r.bucket, key: r.key, uploadId: r.uploadId! });
      res.writeHead(204);
      res.end();
      return;
    }

    const upstream = httpRequest({
      host: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      headers: req.headers,
    });
    upstream.on('error', () => {
      req.socket.destroy();
    });

    if (action && 'resetAfterBytes' in action) {
      const reset = () => {
        upstream.destroy();
        req.socket.destroy();
      };
      forwardFirst(req, action.resetAfterBytes, (chunk) => upstream.write(chunk), reset);
      req.on('end', reset);
      return;
    }

    const checksummed = proxy.checksums && (op === 'UploadPart' || op === 'PutObject');
    let received = 0;
    if ((action && 'flipRequestByteAt' in action) || checksummed) {
      const flipAt = action && 'flipRequestByteAt' in action ? action.flipRequestByteAt : -1;
      let offset = 0;
      req.on('data', (chunk: Buffer) => {
        const at = flipAt - offset;
        if (at >= 0 && at < chunk.length) {
          chunk = Buffer.from(chunk);
          chunk[at] = chunk[at]! ^ 0xff;
        }
        offset += chunk.length;
        received = crc32(chunk, received);
        upstream.write(chunk);
      });
      req.on('end', () => upstream.end());
    } else {
      req.pipe(upstream);
    }
    upstream.on('response', (up) => {
      if (proxy.checksums && (up.statusCode ?? 500) < 300) {
        if (checksummed) {
          if (op === 'UploadPart') {
            if (!partCrcs.has(r.uploadId!)) partCrcs.set(r.uploadId!, new Map());
            partCrcs.get(r.uploadId!)!.set(r.partNumber!, received);
          }
          res.writeHead(up.statusCode!, { ...up.headers, 'x-amz-checksum-crc32': b64(received) });
          up.pipe(res);
          return;
        }
        if (op === 'CompleteMultipartUpload') {
          const body: Buffer[] = [];
          up.on('data', (c: Buffer) => body.push(c));
          up.on('end', () => {
            const parts = [...(partCrcs.get(r.uploadId!) ?? new Map<number, number>()).entries()].sort((a, b) => a[0] - b[0]).map(([, c]) => c);
            const all = Buffer.alloc(4 * parts.length);
            parts.forEach((c, i) => all.writeUInt32BE(c >>> 0, 4 * i));
            const composite = `${b64(crc32(all))}-${parts.length}`;
            const xml = Buffer.concat(body).toString('utf8').replace('</CompleteMultipartUploadResult>', `<ChecksumCRC32>${composite}</ChecksumCRC32><ChecksumType>COMPOSITE</ChecksumType></CompleteMultipartUploadResult>`);
            res.writeHead(up.statusCode!, { ...up.headers, 'content-length': Buffer.byteLength(xml) });
            res.end(xml);
          });
          return;
        }
      }
      res.writeHead(up.statusCode ?? 500, up.headers);
      if (action && 'cutResponseAfterBytes' in action) {
        forwardFirst(up, action.cutResponseAfterBytes, (chunk) => res.write(chunk), () => {
          up.destroy();
          res.socket?.destroy();
        });
        return;
      }
      up.pipe(res);
    });
  };

  const http = createServer((req, res) => {
    handle(req, res).catch(() => req.socket.destroy());
  });
  http.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  proxy.endpoint = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  proxy.clientOptions = { ...server.clientOptions, endpointUrl: proxy.endpoint };
  return proxy;
}

/** A test server that can stand behind the proxy: s3rver (`startS3Server`) or moto (`startMoto`). */
type TestS3 = ProxiedServer & { createBucket(name: string): Promise<void>; stop(): Promise<void> };

/** The usual start of an S3 test file: `start()`'s server with these buckets, behind a pass-through (stop both with `stopProxiedS3`). */
export async function startProxiedS3<S extends TestS3>(start: () => Promise<S>, buckets: readonly string[]): Promise<{ s3: S; proxy: S3Proxy }> {
  const s3 = await start();
  try {
    for (const bucket of buckets) await s3.createBucket(bucket);
    return { s3, proxy: await startS3Proxy(s3) };
  } catch (err) {
    await s3.stop();
    throw err;
  }
}

/** Stops what `startProxiedS3` started, the pass-through first (either is missing when the start failed). */
export async function stopProxiedS3({ s3, proxy }: { s3: TestS3 | undefined; proxy: S3Proxy | undefined }): Promise<void> {
  await proxy?.stop();
  await s3?.stop();
}
