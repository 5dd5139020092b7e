/**
 * Secrets stay where they belong: the model endpoint's API key goes to that endpoint only (no
 * redirect elsewhere, never in an error message or an output line), a plain-http endpoint on
 * another host needs an explicit opt-in, and the service's S3 requests (with the operator's AWS
 * credentials) go to the S3 endpoint configured for S3 and nowhere else.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateModelInvocationJobCommand } from '@aws-sdk/client-bedrock';
import { afterEach, describe, expect, it } from 'vitest';
import { openAiChatModel } from '../../src/local/models.js';
import { tempDir } from '../support/temp.js';
import { anthropicInput, clientOf, createInput, jsonl, put, startFast, waitFor } from './helpers.js';

const KEY = 'sk-test-0123456789abcdef-secret';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => (s.closeAllConnections(), s.close(() => r())))));
});

async function serve(handler: (req: IncomingMessage, body: string, res: ServerResponse) => void): Promise<string> {
  const server = createServer(async (req, res) => {
    let body = '';
    for await (const c of req) body += c;
    handler(req, body, res);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const chatAnswer = JSON.stringify({ choices: [{ message: { content: 'a summary' }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1 } });

/** Run one job of `n` records on a local service whose model is `model`; the output lines. */
async function runJob(model: ReturnType<typeof openAiChatModel>, n = 2): Promise<{ status?: string; lines: any[]; logged: string }> {
  const { dir, cleanup } = await tempDir('secrets-');
  let logged = '';
  await put(dir, 'out-bucket/.keep', '');
  await put(dir, 'in-bucket/run/a.jsonl', jsonl(n, 0, (i) => anthropicInput(`call ${i}`, 16)));
  const local = await startFast({ root: dir, model, log: (l) => (logged += `${l}\n`) });
  const client = clientOf(local);
  try {
    const { jobArn } = await client.send(new CreateModelInvocationJobCommand(createInput()));
    const job = await waitFor(client, jobArn!, ['Completed', 'Failed']);
    const text = await readFile(join(dir, 'out-bucket', 'results', jobArn!.split('/')[1]!, 'a.jsonl.out'), 'utf8').catch(() => '');
    return { status: job.status, lines: text.split('\n').filter(Boolean).map((l) => JSON.parse(l)), logged: logged + (job.message ?? '') };
  } finally {
    client.destroy();
    await local.close();
    await cleanup();
  }
}

describe('the model endpoint and its API key', () => {
  it('refuses plain http to a host that is not this machine unless asked, naming the endpoint and the flag', () => {
    for (const url of ['http://models.example.com/v1', 'http://10.1.2.3:8080/v1', 'http://127.0.0.1.nip.io:8080/v1']) {
      expect(() => openAiChatModel({ url, apiKey: KEY }), url).toThrow(expect.objectContaining({ code: 'E_BAD_OPTION', message: expect.stringContaining(url) }));
      try {
        openAiChatModel({ url, apiKey: KEY });
      } catch (err) {
        expect(`${(err as Error).message} ${(err as { hint?: string }).hint ?? ''}`).toContain('--allow-insecure-model-endpoint');
        expect((err as Error).message).not.toContain(KEY);
      }
      expect(() => openAiChatModel({ url, apiKey: KEY, allowInsecureHttp: true }), url).not.toThrow();
    }
    for (const url of ['https://models.example.com/v1', 'http://127.0.0.1:8080/v1', 'http://localhost:8080', 'http://[::1]:8080/v1', 'http://127.5.6.7:1/v1']) {
      expect(() => openAiChatModel({ url, apiKey: KEY }), url).not.toThrow();
    }
    for (const url of ['ftp://127.0.0.1/v1', 'not a url', 'file:///etc/passwd']) {
      expect(() => openAiChatModel({ url, apiKey: KEY }), url).toThrow(expect.objectContaining({ code: 'E_BAD_OPTION' }));
    }
  });

  it('never follows a redirect to another origin: the other server gets nothing, and the record says why', async () => {
    const elsewhere: { auth: string | undefined; body: string }[] = [];
    const other = await serve((req, body, res) => {
      elsewhere.push({ auth: req.headers.authorization, body });
      res.writeHead(200, { 'content-type': 'application/json' }).end(chatAnswer);
    });
    const endpoint = await serve((req, _body, res) => {
      res.writeHead(307, { location: `${other}/v1/chat/completions` }).end();
    });
    const r = await runJob(openAiChatModel({ url: `${endpoint}/v1`, apiKey: KEY, retries: 0 }));
    expect(elsewhere).toEqual([]);
    expect(r.status).toBe('Completed');
    expect(r.lines).toHaveLength(2);
    for (const l of r.lines) {
      expect(l.error?.errorMessage).toMatch(/redirect/i);
      expect(l.error?.errorMessage).toContain(other);
    }
  });

  it('follows a redirect on the same origin, with the key', async () => {
    const seen: (string | undefined)[] = [];
    const endpoint = await serve((req, _body, res) => {
      seen.push(req.headers.authorization);
      if (req.url === '/v1/chat/completions') res.writeHead(308, { location: '/v2/chat/completions' }).end();
      else res.writeHead(200, { 'content-type': 'application/json' }).end(chatAnswer);
    });
    const r = await runJob(openAiChatModel({ url: `${endpoint}/v1`, apiKey: KEY, retries: 0 }), 1);
    expect(r.lines[0].modelOutput).toBeDefined();
    expect(seen).toEqual([`Bearer ${KEY}`, `Bearer ${KEY}`]);
  });

  it('never writes the key into an output line, a job message or the log, even when the endpoint echoes it', async () => {
    const endpoint = await serve((req, _body, res) => {
      const auth = req.headers.authorization ?? '';
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: `Incorrect API key provided: ${auth.slice(7)} (${auth})` } }));
    });
    const r = await runJob(openAiChatModel({ url: `${endpoint}/v1`, apiKey: KEY, retries: 0 }));
    expect(r.lines).toHaveLength(2);
    for (const l of r.lines) {
      expect(l.error.errorCode).toBe(401);
      expect(l.error.errorMessage).toContain('Incorrect API key provided');
      expect(JSON.stringify(l)).not.toContain(KEY);
      expect(JSON.stringify(l)).not.toContain(KEY.slice(0, 20));
    }
    expect(r.logged).not.toContain(KEY.slice(0, 20));
  });
});

describe('the operator\'s AWS credentials', () => {
  it('go to the S3 endpoint configured for S3 only, whatever the bucket names of a job', async () => {
    const hosts: string[] = [];
    const s3 = await serve((req, _body, res) => {
      hosts.push(`${req.headers.host} ${req.method} ${req.url}`);
      res.writeHead(404, { 'content-type': 'application/xml' }).end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchBucket</Code><Message>no</Message></Error>');
    });
    const saved = { ...process.env };
    Object.assign(process.env, { AWS_ENDPOINT_URL_S3: s3, AWS_ACCESS_KEY_ID: 'AKIATESTTESTTEST', AWS_SECRET_ACCESS_KEY: 'test-secret', AWS_REGION: 'us-east-1', AWS_MAX_ATTEMPTS: '1' });
    delete process.env.AWS_PROFILE;
    const local = await startFast({ stateFile: false });
    const client = clientOf(local);
    try {
      for (const [i, bucket] of ['evil.example.com', 'in-bucket', '127.0.0.2'].entries()) {
        const { jobArn } = await client.send(
          new CreateModelInvocationJobCommand(
            createInput({ jobName: `cred-${i}`, inputDataConfig: { s3InputDataConfig: { s3Uri: `s3://${bucket}/run/` } }, outputDataConfig: { s3OutputDataConfig: { s3Uri: `s3://${bucket}/out/` } } }),
          ),
        );
        expect((await waitFor(client, jobArn!, ['Completed', 'Failed'])).status).toBe('Failed');
      }
      expect(hosts.length).toBeGreaterThan(0);
      const own = new URL(s3).host;
      for (const h of hosts) expect(h.split(' ')[0]).toBe(own);
    } finally {
      client.destroy();
      await local.close();
      process.env = saved;
    }
  });
});
