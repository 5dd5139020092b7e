/**
 * The local service on 127.0.0.1: Bedrock's control-plane HTTP API for model invocation jobs, as
 * `@aws-sdk/client-bedrock` speaks it (restJson1; docs/bedrock.md §4):
 *
 *   POST /model-invocation-job                       CreateModelInvocationJob
 *   GET  /model-invocation-job/{jobIdentifier}       GetModelInvocationJob
 *   POST /model-invocation-job/{jobIdentifier}/stop  StopModelInvocationJob
 *   GET  /model-invocation-jobs                      ListModelInvocationJobs
 *   GET  /foundation-models                          ListFoundationModels      (catalogue-api.ts)
 *   GET  /foundation-models/{modelIdentifier}        GetFoundationModel
 *   GET  /inference-profiles/{profileIdentifier}     GetInferenceProfile
 *   POST /  X-Amz-Target: ServiceQuotasV20190624.*   Service Quotas, awsJson1_1 (service-quotas-api.ts)
 *   POST /model/{modelId}/invoke | converse | count-tokens   the Bedrock Runtime (runtime-api.ts)
 *
 * `{jobIdentifier}` is the job ARN, percent-encoded (`:` and `/` included), or the bare 12-character
 * id. Responses are JSON with RFC 3339 timestamps and an `x-amzn-RequestId`; errors carry
 * `x-amzn-ErrorType` and `{"message"}` with the modelled status. SigV4 and `Authorization: Bearer`
 * are both accepted (signatures are not checked: this is a local double, not a security boundary).
 * Request bodies are at most 1 MiB, runtime bodies 25,000,000 bytes (docs/bedrock.md §7.1).
 *
 * HTTP/1.1 and HTTP/2 without TLS (h2c, prior knowledge) on the one port: `@aws-sdk/client-bedrock-runtime`
 * speaks HTTP/2 by default (its NodeHttp2Handler), the other SDK clients and boto3 HTTP/1.1. A
 * connection's first bytes tell them apart (HTTP/2's preface `PRI * HTTP/2.0`).
 *
 * It answers only requests addressed to itself: the Host header must be `127.0.0.1:PORT` or
 * `localhost:PORT` (its own address and port), and a browser's request must come from its own
 * origin (an `Origin` of another site, or `Sec-Fetch-Site: cross-site` / `same-site`, is refused);
 * over HTTP/2 the `:authority` is checked as the Host.
 * Anything else gets AccessDeniedException 403 before any operation runs, so a web page can neither
 * reach it through DNS rebinding (`Host: evil.example:PORT`) nor by a cross-origin request.
 *
 *   const local = await startLocalService({ root: './local-aws' });
 *   const client = new BedrockClient(localClientConfig(local.endpoint));
 *   ...
 *   await local.close();
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type Server } from 'node:http';
import { createServer as createHttp2Server, type Http2ServerRequest, type Http2Session } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { LOOPBACK_CREDENTIALS } from '../aws/config.js';
import { getFoundationModel, getInferenceProfile, listFoundationModels } from './catalogue-api.js';
import { decodeLabel, ServiceError } from './errors.js';
import { isRuntimePath, RUNTIME_MAX_BODY, runtimeRoute, type RuntimeAnswer, type RuntimeCall } from './runtime-api.js';
import { answerServiceQuotas, SERVICE_QUOTAS_TARGET_PREFIX, type QuotasAnswer } from './service-quotas-api.js';
import { acquireLock, type LockOptions } from './state.js';
import { LocalBatchService, type LocalServiceOptions } from './service.js';

export interface StartLocalServiceOptions extends LocalServiceOptions {
  /** TCP port on 127.0.0.1 (default 0: a free one). */
  port?: number;
  /** Bounds of the state file's lock (tests make them small; see state.ts). */
  lock?: LockOptions;
}

export interface LocalService {
  /** `http://127.0.0.1:PORT`: give it to `BedrockClient({ endpoint })`. */
  readonly endpoint: string;
  readonly port: number;
  /** The service itself: job snapshots and `transition` events. */
  readonly service: LocalBatchService;
  /** Stop listening, pause running jobs (the state file keeps them) and release the state lock. */
  close(): Promise<void>;
}

/** Credentials for a client of the local service: it accepts any, and these are not secret. */
export function localCredentials(): { accessKeyId: string; secretAccessKey: string } {
  return { ...LOOPBACK_CREDENTIALS };
}

/** Options for `new BedrockClient(...)` that talk to a local service at `endpoint`. */
export function localClientConfig(endpoint: string, region = 'us-east-1'): { endpoint: string; region: string; credentials: ReturnType<typeof localCredentials> } {
  return { endpoint, region, credentials: localCredentials() };
}

const MAX_BODY = 1 << 20;

/** What both HTTP versions' requests offer the handler. */
type HttpRequest = IncomingMessage | Http2ServerRequest;

/** What the handler needs of a response, HTTP/1.1 (ServerResponse) or HTTP/2 (Http2ServerResponse). */
interface Reply {
  readonly headersSent: boolean;
  shouldKeepAlive?: boolean;
  writeHead(status: number, headers: OutgoingHttpHeaders): unknown;
  end(body: string): unknown;
}

/** The first bytes of every HTTP/2 connection (RFC 9113 §3.4). */
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/**
 * Hand each connection to HTTP/1.1 or HTTP/2 by its first bytes: the HTTP/1.1 server's own
 * connection handling (its timeouts, keep-alive, closeAllConnections) is unchanged; an HTTP/2
 * connection goes to `h2` instead. Sockets not yet handed on are kept in `pending` (close ends them).
 */
function serveBothVersions(server: Server, h2: { emit(event: 'connection', socket: Socket): boolean }, pending: Set<Socket>): void {
  const http1 = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    pending.add(socket);
    let head: Buffer = Buffer.alloc(0);
    const done = () => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onEnd);
      pending.delete(socket);
    };
    const onEnd = () => {
      done();
      socket.destroy();
    };
    const onData = (chunk: Buffer) => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const n = Math.min(head.length, H2_PREFACE.length);
      const maybeH2 = head.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
      if (maybeH2 && head.length < H2_PREFACE.length) return; // not told apart yet
      done();
      socket.pause();
      socket.unshift(head);
      if (maybeH2) {
        h2.emit('connection', socket); // the session reads what was unshifted on its next tick
      } else {
        for (const listener of http1) listener.call(server, socket);
        process.nextTick(() => socket.resume());
      }
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onEnd);
  });
}

/** Start the service and listen on 127.0.0.1. Resolves once it accepts connections. */
export async function startLocalService(options: StartLocalServiceOptions = {}): Promise<LocalService> {
  const service = new LocalBatchService(options);
  const log = options.log;
  const lock = service.stateFile
    ? await acquireLock(service.stateFile, {
        ...options.lock,
        onLost: (now) => {
          log?.(`another process (${now ? `pid ${now.pid}` : 'unknown'}) took over the lock of ${service.stateFile}: this one was judged stale`);
          options.lock?.onLost?.(now);
        },
      })
    : undefined;
  let server: Server;
  const own = { hosts: new Set<string>(), origins: new Set<string>() };
  const pending = new Set<Socket>();
  const sessions = new Set<Http2Session>();
  try {
    await service.init();
    const onRequest = (req: HttpRequest, res: Reply) => {
      handle(service, own, req, res).catch((err) => {
        // a failure while answering: the socket (or HTTP/2 stream) is probably gone
        try {
          if (!res.headersSent) sendError(res, randomUUID(), new ServiceError('InternalServerException', (err as Error).message));
        } catch {
          // nothing left to answer on
        }
      });
    };
    server = createServer((req, res) => onRequest(req, res));
    server.keepAliveTimeout = 5000;
    const h2 = createHttp2Server((req, res) => onRequest(req, res));
    h2.on('session', (session: Http2Session) => {
      sessions.add(session);
      session.once('close', () => sessions.delete(session));
    });
    serveBothVersions(server, h2, pending);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await service.close().catch(() => {});
    lock?.release();
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  const endpoint = `http://127.0.0.1:${port}`;
  for (const name of ['127.0.0.1', 'localhost']) {
    own.hosts.add(`${name}:${port}`);
    if (port === 80) own.hosts.add(name);
    own.origins.add(`http://${name}:${port}`);
    if (port === 80) own.origins.add(`http://${name}`);
  }
  lock?.setEndpoint(endpoint);
  let closed: Promise<void> | undefined;
  return {
    endpoint,
    port,
    service,
    close() {
      closed ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
          for (const session of sessions) session.destroy();
          for (const socket of pending) socket.destroy();
        });
        await service.close();
        lock?.release();
      })();
      return closed;
    },
  };
}

/**
 * Why a request is not for this service (undefined when it is): a Host that is not its own address
 * and port (DNS rebinding), or a browser request from another origin.
 */
function foreignRequest(own: { hosts: Set<string>; origins: Set<string> }, req: HttpRequest): string | undefined {
  // HTTP/2 names the host in `:authority` (a Host header may come too: both must be this service)
  const authority = req.headers[':authority'];
  const names = [req.headers.host, typeof authority === 'string' ? authority : undefined].filter((h): h is string => h !== undefined);
  const foreign = names.length === 0 ? '' : names.map((h) => h.toLowerCase()).find((h) => !own.hosts.has(h));
  if (foreign !== undefined) {
    return `The Host header ${foreign ? `"${foreign.slice(0, 100)}"` : '(none)'} does not name this local service: only ${[...own.hosts].join(' or ')} is answered`;
  }
  const origin = req.headers.origin;
  if (origin !== undefined && !own.origins.has(origin.toLowerCase())) {
    return `Requests from the Origin "${origin.slice(0, 100)}" are refused: this local service answers no web page but its own`;
  }
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    return `Cross-site requests are refused (Sec-Fetch-Site: ${String(site).slice(0, 20)}): this local service answers no web page but its own`;
  }
  return undefined;
}

async function handle(service: LocalBatchService, own: { hosts: Set<string>; origins: Set<string> }, req: HttpRequest, res: Reply): Promise<void> {
  const requestId = randomUUID();
  const foreign = foreignRequest(own, req);
  if (foreign) {
    // answer at once; the body is not read (the connection closes after the answer)
    if ('shouldKeepAlive' in res) res.shouldKeepAlive = false;
    return sendError(res, requestId, new ServiceError('AccessDeniedException', foreign));
  }
  try {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    const method = (req.method ?? 'GET').toUpperCase();
    const runtime = isRuntimePath(path);
    const body = await readBody(req, runtime ? RUNTIME_MAX_BODY : MAX_BODY, runtime).catch((err: unknown) => {
      // too long: answer at once, then close the connection (what is left of the body is dropped)
      if ('shouldKeepAlive' in res) res.shouldKeepAlive = false;
      throw err;
    });
    const target = req.headers['x-amz-target'];
    const route: Route | undefined =
      method === 'POST' && path === '/' && typeof target === 'string' && target.startsWith(SERVICE_QUOTAS_TARGET_PREFIX) ? { op: 'quotas', target } : routeOf(method, path);
    if (!route) throw new ServiceError('UnknownOperationException', `No operation serves ${method} ${path}`);
    // The runtime checks faults and authentication itself, counting every request (runtime-api.ts).
    if (route.op === 'runtime') return sendRuntime(res, requestId, await service.runtime.answer(route.call, body, Boolean(req.headers.authorization)));
    // Bedrock's faults are Bedrock's: Service Quotas is another service
    if (route.op !== 'quotas') service.injectRequestFaults();
    if (service.requireAuth && !req.headers.authorization) {
      throw new ServiceError('AccessDeniedException', 'Missing Authentication Token: sign the request (SigV4) or send Authorization: Bearer');
    }
    switch (route.op) {
      case 'quotas':
        return sendAwsJson(res, requestId, answerServiceQuotas(service, route.target, body));
      case 'list-models':
        return sendJson(res, requestId, listFoundationModels(service, query));
      case 'get-model':
        return sendJson(res, requestId, getFoundationModel(service, route.id));
      case 'get-profile':
        return sendJson(res, requestId, getInferenceProfile(service, route.id));
      case 'create': {
        let parsed: unknown;
        try {
          parsed = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
        } catch {
          throw new ServiceError('SerializationException', 'The request body is not valid JSON');
        }
        return sendJson(res, requestId, service.create(parsed));
      }
      case 'get':
        return sendJson(res, requestId, service.get(route.id));
      case 'stop':
        service.stop(route.id);
        res.writeHead(200, { 'x-amzn-RequestId': requestId, 'content-length': '0' });
        res.end('');
        return;
      case 'list':
        return sendJson(res, requestId, service.list(query));
    }
  } catch (err) {
    if (err instanceof ServiceError) return sendError(res, requestId, err);
    return sendError(res, requestId, new ServiceError('InternalServerException', `Internal error: ${(err as Error).message}`));
  }
}

type Route =
  | { op: 'create' }
  | { op: 'list' }
  | { op: 'get'; id: string }
  | { op: 'stop'; id: string }
  | { op: 'list-models' }
  | { op: 'get-model'; id: string }
  | { op: 'get-profile'; id: string }
  | { op: 'quotas'; target: string }
  | { op: 'runtime'; call: RuntimeCall };

/** `/foundation-models/{id}` and `/inference-profiles/{id}`: one percent-encoded label after the prefix. */
function labelRoute(method: string, path: string): Route | undefined {
  if (path === '/foundation-models' || path === '/foundation-models/') return method === 'GET' ? { op: 'list-models' } : undefined;
  for (const [prefix, op, member] of [
    ['/foundation-models/', 'get-model', 'modelIdentifier'],
    ['/inference-profiles/', 'get-profile', 'inferenceProfileIdentifier'],
  ] as const) {
    if (!path.startsWith(prefix)) continue;
    const rest = path.slice(prefix.length);
    if (method !== 'GET' || rest === '' || rest.includes('/')) return undefined;
    return { op, id: decodeLabel(rest, member) };
  }
  return undefined;
}

function routeOf(method: string, path: string): Route | undefined {
  if (isRuntimePath(path)) {
    const call = runtimeRoute(method, path);
    return call ? { op: 'runtime', call } : undefined;
  }
  if (path.startsWith('/foundation-models') || path.startsWith('/inference-profiles/')) return labelRoute(method, path);
  if (path === '/model-invocation-job' || path === '/model-invocation-job/') {
    if (method === 'POST') return { op: 'create' };
    if (method === 'GET') return { op: 'get', id: '' }; // an empty label: validation names it
    return undefined;
  }
  if (path === '/model-invocation-jobs' || path === '/model-invocation-jobs/') return method === 'GET' ? { op: 'list' } : undefined;
  const prefix = '/model-invocation-job/';
  if (!path.startsWith(prefix)) return undefined;
  let rest = path.slice(prefix.length);
  let op: 'get' | 'stop' = 'get';
  if (method === 'POST' && rest.endsWith('/stop')) {
    op = 'stop';
    rest = rest.slice(0, -'/stop'.length);
  } else if (method !== 'GET') {
    return undefined;
  }
  return { op, id: decodeLabel(rest, 'jobIdentifier') };
}

/**
 * The request body, at most `limit` bytes. A longer one (by its Content-Length, or once that many
 * bytes came) is a ValidationException naming both sizes; what follows is read and dropped.
 */
function readBody(req: HttpRequest, limit: number, runtime: boolean): Promise<Buffer> {
  const tooLarge = (size: string) =>
    new ServiceError(
      'ValidationException',
      runtime
        ? `1 validation error detected: Value at 'body' failed to satisfy constraint: Member must have length less than or equal to ${limit} (the request body is ${size} bytes)`
        : `The request body is larger than ${limit} bytes (${size} bytes)`,
    );
  const declared = Number(req.headers['content-length']);
  if (Number.isSafeInteger(declared) && declared > limit) {
    req.resume();
    return Promise.reject(tooLarge(String(declared)));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      if (size > limit) return; // refused already: dropped
      size += c.length;
      if (size > limit) {
        chunks.length = 0;
        reject(tooLarge(`more than ${limit}`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sendJson(res: Reply, requestId: string, data: unknown): void {
  const text = JSON.stringify(data);
  res.writeHead(200, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'x-amzn-RequestId': requestId,
  });
  res.end(text);
}

/** An awsJson1_1 answer (Service Quotas): errors name their type in `x-amzn-ErrorType` and `__type`. */
function sendAwsJson(res: Reply, requestId: string, answer: QuotasAnswer): void {
  const text = JSON.stringify(answer.body);
  res.writeHead(answer.status, {
    'content-type': 'application/x-amz-json-1.1',
    'content-length': Buffer.byteLength(text),
    'x-amzn-RequestId': requestId,
    ...(answer.errorType ? { 'x-amzn-ErrorType': answer.errorType } : {}),
  });
  res.end(text);
}

/** A runtime answer (runtime-api.ts), success or error, with the request id. */
function sendRuntime(res: Reply, requestId: string, answer: RuntimeAnswer): void {
  res.writeHead(answer.status, { ...answer.headers, 'content-length': Buffer.byteLength(answer.body), 'x-amzn-RequestId': requestId });
  res.end(answer.body);
}

function sendError(res: Reply, requestId: string, err: ServiceError): void {
  const text = JSON.stringify({ message: err.message });
  res.writeHead(err.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'x-amzn-RequestId': requestId,
    'x-amzn-ErrorType': err.errorType,
  });
  res.end(text);
}
