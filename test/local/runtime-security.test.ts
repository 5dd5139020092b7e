/**
 * The runtime routes keep the local service's rules (src/local/server.ts): only requests addressed to
 * itself (the Host over HTTP/1.1, the `:authority` over HTTP/2) and from no other web origin are
 * answered, before any model runs or any request is counted; a request without credentials is
 * refused; a body over the runtime's 25,000,000 bytes (or the control plane's 1 MiB) is a
 * ValidationException naming its size, which reaches the client.
 */
import { request } from 'node:http';
import { connect as connectH2 } from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalService } from '../../src/local/server.js';
import { anthropicInput, HAIKU, startFast } from './helpers.js';

let local: LocalService;
beforeAll(async () => {
  local = await startFast({ stateFile: false });
});
afterAll(async () => {
  await local.close();
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

const invokePath = `/model/${encodeURIComponent(HAIKU)}/invoke`;

/** An HTTP/1.1 request with these headers (Host as given). */
function send(path: string, headers: Record<string, string | number>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: local.port, method: 'POST', path, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** An HTTP/2 (h2c) request naming `authority`, as the runtime SDK sends them. */
function sendH2(authority: string, headers: Record<string, string>, body: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const session = connectH2(`http://127.0.0.1:${local.port}`);
    session.on('error', reject);
    const stream = session.request({ ':method': 'POST', ':path': invokePath, ':authority': authority, 'content-type': 'application/json', ...headers });
    let text = '';
    let status = 0;
    let answerHeaders: Record<string, string | string[] | undefined> = {};
    stream.on('response', (h) => {
      status = Number(h[':status']);
      answerHeaders = h as Record<string, string | string[] | undefined>;
    });
    stream.on('data', (d) => (text += d));
    stream.on('end', () => {
      session.close();
      resolve({ status, headers: answerHeaders, body: text });
    });
    stream.on('error', reject);
    stream.end(body);
  });
}

const body = JSON.stringify(anthropicInput());

describe('runtime routes answer only this service', () => {
  it('refuses a foreign Host or Origin with AccessDeniedException 403 before anything runs or is counted', async () => {
    const before = local.service.runtimeStats().requests;
    const refused: Record<string, string>[] = [
      { host: `evil.example:${local.port}`, authorization: 'Bearer local' },
      { host: `127.0.0.1:${local.port + 1}`, authorization: 'Bearer local' },
      { host: `127.0.0.1:${local.port}`, origin: 'https://evil.example', authorization: 'Bearer local' },
      { host: `127.0.0.1:${local.port}`, 'sec-fetch-site': 'cross-site', authorization: 'Bearer local' },
    ];
    for (const headers of refused) {
      const r = await send(invokePath, headers, body);
      expect(r.status, JSON.stringify(headers)).toBe(403);
      expect(r.headers['x-amzn-errortype']).toBe('AccessDeniedException');
    }
    // over HTTP/2 the :authority is the Host
    const h2 = await sendH2(`evil.example:${local.port}`, { authorization: 'Bearer local' }, body);
    expect(h2.status).toBe(403);
    expect(JSON.parse(h2.body).message).toMatch(/Host header "evil\.example:\d+" does not name this local service/);
    expect(local.service.runtimeStats().requests).toBe(before);
    // and its own authority is answered
    const ok = await sendH2(`127.0.0.1:${local.port}`, { authorization: 'Bearer local' }, body);
    expect(ok.status).toBe(200);
    expect(ok.headers['x-amzn-bedrock-input-token-count']).toMatch(/^\d+$/);
  });

  it('refuses a request without credentials (AccessDeniedException, counted as an error)', async () => {
    const before = local.service.runtimeStats();
    const r = await send(invokePath, { host: `127.0.0.1:${local.port}` }, body);
    expect(r.status).toBe(403);
    expect(r.headers['x-amzn-errortype']).toBe('AccessDeniedException');
    expect(JSON.parse(r.body).message).toMatch(/^Missing Authentication Token/);
    const after = local.service.runtimeStats();
    expect(after.errors).toBe(before.errors + 1);
    expect(after.answered).toBe(before.answered);
  });
});

describe('body limits', () => {
  it('takes a runtime body up to 25,000,000 bytes and refuses a longer one, naming its size', async () => {
    // a long prompt is fine for the runtime (it was over the control plane's 1 MiB)
    const big = JSON.stringify(anthropicInput(`${'word '.repeat(300_000)}`, 50));
    expect(Buffer.byteLength(big)).toBeGreaterThan(1 << 20);
    const ok = await send(invokePath, { host: `127.0.0.1:${local.port}`, authorization: 'Bearer local' }, big);
    expect(ok.status).toBe(200);
    const over = 'x'.repeat(25_000_001);
    const r = await send(invokePath, { host: `127.0.0.1:${local.port}`, authorization: 'Bearer local' }, over);
    expect(r.status).toBe(400);
    expect(r.headers['x-amzn-errortype']).toBe('ValidationException');
    expect(JSON.parse(r.body).message).toBe(
      "1 validation error detected: Value at 'body' failed to satisfy constraint: Member must have length less than or equal to 25000000 (the request body is 25000001 bytes)",
    );
  });

  it('refuses a control-plane body over 1 MiB with an answer the client gets', async () => {
    const r = await send('/model-invocation-job', { host: `127.0.0.1:${local.port}`, authorization: 'Bearer local' }, 'x'.repeat((1 << 20) + 1));
    expect(r.status).toBe(400);
    expect(r.headers['x-amzn-errortype']).toBe('ValidationException');
    expect(JSON.parse(r.body).message).toBe(`The request body is larger than ${1 << 20} bytes (${(1 << 20) + 1} bytes)`);
  });

  it('counts a body sent in chunks without a length, and refuses it past the limit', async () => {
    const r = await new Promise<Answer>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: local.port, method: 'POST', path: '/model-invocation-job', headers: { authorization: 'Bearer local', 'transfer-encoding': 'chunked' } },
        (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
        },
      );
      req.on('error', reject);
      for (let i = 0; i < 5; i++) req.write('y'.repeat(300_000));
      req.end();
    });
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).message).toMatch(new RegExp(`^The request body is larger than ${1 << 20} bytes`));
  });
});
