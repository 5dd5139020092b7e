/**
 * An HTTP pass-through between the SDK and moto's S3 (test/support/moto.ts) that sees every request
 * and can make the server misbehave on chosen ones, for faults a server cannot be asked for:
 *
 * - it records each request (operation, bucket, key, part number, upload id, version id, headers);
 * - `fault(request)` may answer with an S3 error (403 AccessDenied, 409, 500, 503 SlowDown, 400
 *   BadDigest...), kill the connection after N bytes of the request body (a server dying
 *   mid-upload), cut a response body after N bytes (a download dropping mid-way), delay a request,
 *   or alter a byte of the request body on the way.
 *
 * Everything else is the server's own doing: whether an upload was aborted or left behind, an
 * object's checksums and versions, conditional writes are asked of moto itself (`MotoServer`), never
 * emulated here.
 *
 * An S3 test file starts its server and the pass-through once (`startProxiedS3`), calls
 * `proxy.reset()` before each test and `stopProxiedS3` after the last.
 */
import { once } from 'node:events';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { MotoServer } from './moto.js';

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
  /** The `versionId` the request names. */
  versionId?: string;
  headers: IncomingHttpHeaders;
}

export type FaultAction =
  /** Answer with an S3 error document. */
  | { error: { status: number; code: string; message?: string } }
  /** Read this many bytes of the request body (forwarding them), then kill the connection. */
  | { resetAfterBytes: number }
  /** Forward the request, but cut the response body after this many bytes. */
  | { cutResponseAfterBytes: number }
  /**
   * Forward the request with the body byte at this offset inverted (data corrupted on the way),
   * without the request headers named in `dropHeaders` (e.g. the checksum the SDK computed, so
   * that moto computes its own of the bytes it receives, as S3 does).
   */
  | { flipRequestByteAt: number; dropHeaders?: string[] }
  /** Forward the request after this many milliseconds (a slow server). */
  | { delayMs: number };

export type Fault = (request: ProxyRequest) => FaultAction | undefined;

export interface S3Proxy {
  endpoint: string;
  /** The server's client options with the proxy's endpoint. */
  clientOptions: ProxiedServer['clientOptions'];
  requests: ProxyRequest[];
  fault: Fault | undefined;
  ops(op: S3Operation): ProxyRequest[];
  /** Forget the requests seen so far and drop the fault (between tests). */
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

/** What the proxy needs of a server (test/support/moto.ts). */
export type ProxiedServer = Pick<MotoServer, 'endpoint' | 'clientOptions'>;

export async function startS3Proxy(server: ProxiedServer, options: { fault?: Fault } = {}): Promise<S3Proxy> {
  const target = new URL(server.endpoint);
  const requests: ProxyRequest[] = [];
  const sockets = new Set<Socket>();
  let seq = 0;
  const proxy: S3Proxy = {
    endpoint: '',
    clientOptions: { ...server.clientOptions },
    requests,
    fault: options.fault,
    ops: (op) => requests.filter((r) => r.op === op),
    reset() {
      requests.length = 0;
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
      ...(url.searchParams.has('versionId') ? { versionId: url.searchParams.get('versionId')! } : {}),
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

    const headers = { ...req.headers };
    if (action && 'flipRequestByteAt' in action) for (const h of action.dropHeaders ?? []) delete headers[h.toLowerCase()];
    const upstream = httpRequest({
      host: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      headers,
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

    if (action && 'flipRequestByteAt' in action) {
      const flipAt = action.flipRequestByteAt;
      let offset = 0;
      req.on('data', (chunk: Buffer) => {
        const at = flipAt - offset;
        if (at >= 0 && at < chunk.length) {
          chunk = Buffer.from(chunk);
          chunk[at] = chunk[at]! ^ 0xff;
        }
        offset += chunk.length;
        upstream.write(chunk);
      });
      req.on('end', () => upstream.end());
    } else {
      req.pipe(upstream);
    }
    upstream.on('response', (up) => {
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

/** A test server that can stand behind the proxy (moto: `startMoto`). */
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
