/**
 * The local service answers only requests addressed to itself: a Host header that is its own
 * loopback address and port (or localhost), and no Origin of another site. A DNS-rebinding page
 * (Host: evil.example:PORT) or a cross-origin browser request cannot create, read or stop jobs.
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import { CreateModelInvocationJobCommand, ListModelInvocationJobsCommand } from '@aws-sdk/client-bedrock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalService } from '../../src/local/server.js';
import { tempDir } from '../support/temp.js';
import { clientOf, createInput, startFast } from './helpers.js';

let local: LocalService;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  const t = await tempDir('host-');
  cleanup = t.cleanup;
  local = await startFast({ root: t.dir });
});
afterAll(async () => {
  await local.close();
  await cleanup();
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function send(method: string, path: string, headers: Record<string, string>, body?: string, setHost = true): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: local.port, method, path, headers: { authorization: 'Bearer local', ...headers }, setHost },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const jobBody = (name: string) => JSON.stringify(createInput({ jobName: name }));

describe('Host and Origin', () => {
  it('refuses a foreign Host (DNS rebinding) with an AWS-shaped 403, before doing anything', async () => {
    for (const host of [`evil.example:${local.port}`, 'evil.example', `127.0.0.1:${local.port + 1}`, `localhost.evil.example:${local.port}`, `127.0.0.2:${local.port}`]) {
      const r = await send('POST', '/model-invocation-job', { host, 'content-type': 'application/json' }, jobBody(`rebound-${host.replace(/[^a-z0-9]/g, '-')}`));
      expect(r.status, host).toBe(403);
      expect(r.headers['x-amzn-errortype'], host).toBe('AccessDeniedException');
      expect(r.headers['x-amzn-requestid'], host).toBeTruthy();
      expect(JSON.parse(r.body).message, host).toMatch(/Host/);
      const stop = await send('POST', '/model-invocation-job/abcdefghijkl/stop', { host });
      expect(stop.status, host).toBe(403);
      const list = await send('GET', '/model-invocation-jobs', { host });
      expect(list.status, host).toBe(403);
    }
    // no Host header at all (Node answers an HTTP/1.1 request without one with 400 itself)
    expect([400, 403]).toContain((await send('GET', '/model-invocation-jobs', {}, undefined, false)).status);
    // and an HTTP/1.0 one, which Node lets through without a Host: refused here
    const raw = await new Promise<string>((resolve, reject) => {
      let text = '';
      const socket = connect(local.port, '127.0.0.1', () => socket.end('GET /model-invocation-jobs HTTP/1.0\r\nAuthorization: Bearer local\r\n\r\n'));
      socket.on('data', (d) => (text += d));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 403/);
    expect(raw).toContain('AccessDeniedException');
    expect(local.service.snapshot()).toEqual([]);
  });

  it('answers its own address and localhost, with its port', async () => {
    for (const host of [`127.0.0.1:${local.port}`, `localhost:${local.port}`, `LOCALHOST:${local.port}`]) {
      const r = await send('GET', '/model-invocation-jobs', { host });
      expect(r.status, host).toBe(200);
    }
  });

  it('refuses a browser request from another origin, and takes one from its own', async () => {
    for (const origin of ['http://evil.example', 'null', `http://127.0.0.1:${local.port + 1}`, `https://127.0.0.1:${local.port}`]) {
      const r = await send('POST', '/model-invocation-job', { host: `127.0.0.1:${local.port}`, origin, 'content-type': 'application/json' }, jobBody('cross-origin'));
      expect(r.status, origin).toBe(403);
      expect(r.headers['x-amzn-errortype'], origin).toBe('AccessDeniedException');
      expect(JSON.parse(r.body).message, origin).toMatch(/Origin/);
    }
    // a no-cors GET (an <img> or a form) carries no Origin, but Sec-Fetch-Site says where it came from
    const sneaky = await send('GET', '/model-invocation-jobs', { host: `127.0.0.1:${local.port}`, 'sec-fetch-site': 'cross-site' });
    expect(sneaky.status).toBe(403);
    expect(local.service.snapshot()).toEqual([]);
    const own = await send('GET', '/model-invocation-jobs', { host: `127.0.0.1:${local.port}`, origin: `http://127.0.0.1:${local.port}` });
    expect(own.status).toBe(200);
  });

  it('still serves the SDK as it is', async () => {
    const client = clientOf(local);
    try {
      await client.send(new CreateModelInvocationJobCommand(createInput({ jobName: 'from-the-sdk' })));
      const listed = await client.send(new ListModelInvocationJobsCommand({}));
      expect(listed.invocationJobSummaries?.map((j) => j.jobName)).toEqual(['from-the-sdk']);
    } finally {
      client.destroy();
    }
  });
});
