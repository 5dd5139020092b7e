/**
 * The local model: the extractive summariser, the double's own token count, each family's request
 * and response shapes (read back by the families' own readers), an OpenAI-compatible endpoint
 * (against a tiny fake server), and the line splitter and key mapping the runner relies on.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { CreateModelInvocationJobCommand } from '@aws-sdk/client-bedrock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAMILIES } from '../../src/models/index.js';
import type { FamilyName } from '../../src/models/family.js';
import { extractiveSummariser, extractiveSummary, openAiChatModel, withinBudget } from '../../src/local/models.js';
import { modelOutputFor, requestOf } from '../../src/local/responses.js';
import { readLines, LineTooLongError } from '../../src/local/lines.js';
import { countTokens, cutToTokens } from '../../src/local/tokens.js';
import { decodeKey, DotSafeStore, encodeKey, mountResolver, rootResolver } from '../../src/local/stores.js';
import { LocalStore } from '../../src/stores/local.js';
import { tempDir } from '../support/temp.js';
import { anthropicInput, clientOf, createInput, jsonl, put, startFast, waitFor } from './helpers.js';

const FIXTURE_CALLS = readFileSync(new URL('../../fixtures/calls.jsonl', import.meta.url), 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l).transcript as string);

describe('the extractive summariser', () => {
  it('picks the reason, resolution and next steps, deterministically, and says it is a stand-in', async () => {
    const model = extractiveSummariser();
    const request = requestOf('anthropic', anthropicInput());
    const a = await model.answer(request, { modelId: 'm', recordId: 'r', signal: new AbortController().signal });
    const b = await model.answer(request, { modelId: 'm', recordId: 'r', signal: new AbortController().signal });
    expect(a).toEqual(b);
    expect(a.text).toBe(
      '[local stand-in] Reason: Hello, I am calling about a wrong charge on my last bill.\nResolution: I have processed a refund of the duplicate charge.\nNext steps: You will see the credit within 5 business days.',
    );
    expect(a.stop).toBe('end');
    expect(a.outputTokens).toBeGreaterThan(10);
  });

  it('summarises the sample calls with sentences taken from them', () => {
    for (const transcript of FIXTURE_CALLS) {
      const summary = extractiveSummary(transcript);
      const parts = summary.split('\n');
      expect(parts).toHaveLength(3);
      expect(parts[0]).toMatch(/^Reason: /);
      expect(parts[1]).toMatch(/^Resolution: /);
      expect(parts[2]).toMatch(/^Next steps: /);
      const flat = transcript.replace(/\*[^*\n]{1,60}\*/g, ' ').replace(/\s+/g, ' ');
      for (const p of parts) {
        const sentence = p.replace(/^[A-Za-z ]+: /, '');
        if (!/^(not stated|none stated)/.test(sentence)) expect(flat).toContain(sentence);
      }
      expect(summary).not.toMatch(/don't hesitate|feel free to reach out/);
    }
  });

  it('stops at the output budget', () => {
    const answer = withinBudget('word '.repeat(200), { turns: [{ role: 'user', text: 'x' }], maxTokens: 10 });
    expect(answer.stop).toBe('length');
    expect(answer.outputTokens).toBeLessThanOrEqual(10);
    expect(answer.text.length).toBeLessThan(60);
  });
});

describe("the double's token count", () => {
  it('counts a token per word of up to 6 characters, per character of a script without spaces, per other visible character', () => {
    expect(countTokens('Hello, I am calling about a wrong charge on my last bill.')).toBe(15);
    expect(countTokens('internationalization')).toBe(4);
    expect(countTokens('日本語のテキスト')).toBe(8);
    expect(countTokens('ok 😀😀')).toBe(3);
    expect(countTokens(' \n\t')).toBe(0);
  });

  it('cuts text after the last whole piece within a budget', () => {
    expect(cutToTokens('word '.repeat(20), 10)).toBe(Array(10).fill('word').join(' '));
    expect(cutToTokens('Reason: a refund.', 3)).toBe('Reason: a');
    expect(cutToTokens('internationalization', 3)).toBe('');
    expect(cutToTokens('short', 10)).toBe('short');
  });
});

describe('family shapes', () => {
  const cases: [FamilyName, string][] = [
    ['anthropic', 'anthropic.claude-3-haiku-20240307-v1:0'],
    ['nova', 'amazon.nova-lite-v1:0'],
    ['converse', 'amazon.nova-pro-v1:0'],
    ['titan-text', 'amazon.titan-text-express-v1'],
    ['llama', 'meta.llama3-1-8b-instruct-v1:0'],
    ['llama', 'meta.llama4-scout-17b-instruct-v1:0'],
    ['mistral', 'mistral.mistral-7b-instruct-v0:2'],
  ];
  it.each(cases)('%s (%s): reads the request a family builds and answers what its reader reads', (family, modelId) => {
    const input = FAMILIES[family].buildInput({ prompt: 'Summarise: the call.', system: 'Be brief.' }, { modelId, maxTokens: 77, temperature: 0.2 });
    const req = requestOf(family, input);
    expect(req.turns.at(-1)).toEqual({ role: 'user', text: expect.stringContaining('Summarise: the call.') });
    if (family !== 'mistral') expect(req.system ?? '').toContain('Be brief.');
    expect(req.maxTokens).toBe(77);
    expect(req.temperature).toBe(0.2);
    const output = modelOutputFor(family, modelId, { text: 'A summary.', inputTokens: 12, outputTokens: 3, stop: 'length' }, { recordId: 'R1', latencyMs: 4 });
    const read = FAMILIES[family].readOutput(output);
    expect(read.text).toBe('A summary.');
    expect(read.stopReason).toMatch(/^(max_tokens|LENGTH|length)$/);
    if (family !== 'mistral') expect([read.inputTokens, read.outputTokens]).toEqual([12, 3]);
    expect(FAMILIES[family].local.checkRequest(input, modelId)).toEqual([]);
  });
});

describe('an OpenAI-compatible endpoint as the model', () => {
  let server: Server;
  let url: string;
  const seen: { auth: string | undefined; body: any }[] = [];
  let failNext = 0;
  beforeAll(async () => {
    server = createServer(async (req: IncomingMessage, res) => {
      let text = '';
      for await (const c of req) text += c;
      const body = JSON.parse(text);
      seen.push({ auth: req.headers.authorization, body });
      const user = body.messages.at(-1).content as string;
      if (failNext > 0) {
        failNext--;
        res.writeHead(503).end('busy');
        return;
      }
      if (user.includes('REJECT')) {
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'content policy: refused' } }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: 'chatcmpl-1',
          object: 'chat.completion',
          choices: [{ index: 0, message: { role: 'assistant', content: `echo: ${user.slice(0, 20)}` }, finish_reason: user.includes('LONG') ? 'length' : 'stop' }],
          usage: { prompt_tokens: 111, completion_tokens: 22, total_tokens: 133 },
        }),
      );
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('answers each record through the endpoint, in the job family\'s shape, with its token counts', async () => {
    const { dir, cleanup } = await tempDir('openai-');
    await put(dir, 'out-bucket/.keep', '');
    const input = (i: number) => ({ ...anthropicInput(i === 1 ? 'please REJECT this' : i === 2 ? 'make it LONG' : `call number ${i}`, 64), system: 'You summarise calls.' });
    await put(dir, 'in-bucket/run/a.jsonl', jsonl(5, 0, input));
    failNext = 1; // one 503: retried
    const local = await startFast({ root: dir, model: openAiChatModel({ url, model: 'tiny-local', apiKey: 'sk-test-not-logged', concurrency: 2 }) });
    const client = clientOf(local);
    try {
      const { jobArn } = await client.send(new CreateModelInvocationJobCommand(createInput()));
      const job = await waitFor(client, jobArn!, ['Completed', 'Failed']);
      expect(job).toMatchObject({ status: 'Completed', successRecordCount: 4, errorRecordCount: 1 });
      const out = (await readFile(join(dir, 'out-bucket', 'results', jobArn!.split('/')[1]!, 'a.jsonl.out'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
      expect(out.map((l) => l.recordId).sort()).toEqual(['REC00000000', 'REC00000001', 'REC00000002', 'REC00000003', 'REC00000004']);
      const ok = out.find((l) => l.recordId === 'REC00000000');
      expect(ok.modelOutput.content[0].text).toBe('echo: call number 0');
      expect(ok.modelOutput.usage).toEqual({ input_tokens: 111, output_tokens: 22 });
      expect(ok.modelOutput.stop_reason).toBe('end_turn');
      expect(out.find((l) => l.recordId === 'REC00000002').modelOutput.stop_reason).toBe('max_tokens');
      const rejected = out.find((l) => l.recordId === 'REC00000001');
      expect(rejected.error).toEqual({ errorCode: 400, errorMessage: expect.stringContaining('answered 400: content policy: refused') });
      const first = seen.find((s) => s.body.messages.at(-1).content === 'call number 0')!;
      expect(first.auth).toBe('Bearer sk-test-not-logged');
      expect(first.body).toEqual({ model: 'tiny-local', messages: [{ role: 'system', content: 'You summarise calls.' }, { role: 'user', content: 'call number 0' }], max_tokens: 64 });
      expect(seen.length).toBe(6); // five records and one retry
    } finally {
      client.destroy();
      await local.close();
      await cleanup();
    }
  });
});

describe('lines and keys', () => {
  it('splits on \\n only, across chunks, dropping a \\r before it, keeping U+2028', async () => {
    const source = Readable.from([Buffer.from('{"a":1}\r\n{"b":"x\u2028'), Buffer.from('y"}\n'), Buffer.from('\n{"c":3}')]);
    const got = [];
    for await (const l of readLines(source, 100)) got.push(l);
    expect(got.map((l) => l.text)).toEqual(['{"a":1}', '{"b":"x\u2028y"}', '', '{"c":3}']);
    expect(got.map((l) => l.number)).toEqual([1, 2, 3, 4]);
    expect(got.map((l) => l.bytes)).toEqual([9, 14, 1, 7]); // U+2028 is 3 bytes in UTF-8
  });

  it('refuses a line over its bound, naming it', async () => {
    const run = async () => {
      const source = Readable.from([Buffer.from('short\n'), Buffer.from('x'.repeat(50)), Buffer.from('x'.repeat(60))]);
      for await (const _ of readLines(source, 100)) void _;
    };
    await expect(run()).rejects.toBeInstanceOf(LineTooLongError);
    await expect(run()).rejects.toMatchObject({ lineNumber: 2 });
  });

  it('stores . and .. segments under names no valid key can take, and lists them back', async () => {
    expect(encodeKey('a/../b/./c..d/x')).toBe('a/%2E%2E/b/%2E/c..d/x');
    expect(decodeKey(encodeKey('a/../b/./c'))).toBe('a/../b/./c');
    const { dir, cleanup } = await tempDir('keys-');
    try {
      const store = new DotSafeStore(new LocalStore(join(dir, 'bucket')));
      await new Promise<void>((resolve, reject) => store.createWriteStream('a/../../x.jsonl').on('finish', resolve).on('error', reject).end('{}\n'));
      const listed = [];
      for await (const o of store.list('a/')) listed.push(o.key);
      expect(listed).toEqual(['a/../../x.jsonl']);
      expect(readFileSync(join(dir, 'bucket', 'a', '%2E%2E', '%2E%2E', 'x.jsonl'), 'utf8')).toBe('{}\n');
      expect(await rootResolver(dir).bucket('bucket')).toBeDefined();
      expect(await rootResolver(dir).bucket('..')).toBeUndefined();
      expect(await rootResolver(dir).bucket('missing-bucket')).toBeUndefined();
      expect(await mountResolver({ 'in-bucket': dir }).bucket('other-bucket')).toBeUndefined();
    } finally {
      await cleanup();
    }
  });
});
