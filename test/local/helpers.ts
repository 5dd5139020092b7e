/** Helpers for tests of the local service: records, a fast service, an SDK client, a service per test. */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { BedrockClient, GetModelInvocationJobCommand, type GetModelInvocationJobCommandOutput } from '@aws-sdk/client-bedrock';
import { afterEach } from 'vitest';
import { localClientConfig, startLocalService, type LocalService, type StartLocalServiceOptions } from '../../src/local/server.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export const ROLE = 'arn:aws:iam::123456789012:role/BatchRole';
export const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0';
export const FAST = { submitted: 1, validating: 1, scheduled: 1, stopping: 1 } as const;

export const TRANSCRIPT =
  '<transcript>\nCustomer: Hello, I am calling about a wrong charge on my last bill.\n' +
  'Agent: I am sorry about that, let me look at your account.\n' +
  'Agent: I have processed a refund of the duplicate charge.\n' +
  'Agent: You will see the credit within 5 business days.\n' +
  'Customer: Thank you, that is all I needed.\n</transcript>';

export function anthropicInput(text = TRANSCRIPT, maxTokens = 300): Record<string, unknown> {
  return { anthropic_version: 'bedrock-2023-05-31', max_tokens: maxTokens, messages: [{ role: 'user', content: [{ type: 'text', text }] }] };
}

export function recordId(i: number): string {
  return `REC${String(i).padStart(8, '0')}`;
}

/** `n` Anthropic records as JSONL text. */
export function jsonl(n: number, start = 0, input: (i: number) => Record<string, unknown> = () => anthropicInput()): string {
  let out = '';
  for (let i = start; i < start + n; i++) out += JSON.stringify({ recordId: recordId(i), modelInput: input(i) }) + '\n';
  return out;
}

export async function put(root: string, key: string, text: string): Promise<void> {
  const path = join(root, key);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, text);
}

export async function startFast(options: StartLocalServiceOptions): Promise<LocalService> {
  return startLocalService({ quotas: 'local', ...options, delays: { ...FAST, ...options.delays } });
}

export function clientOf(local: LocalService | string, maxAttempts = 1): BedrockClient {
  const endpoint = typeof local === 'string' ? local : local.endpoint;
  return new BedrockClient({ ...localClientConfig(endpoint), maxAttempts });
}

export interface TestService {
  /** The running service: undefined before `start` and after `stop`. */
  readonly local: LocalService | undefined;
  readonly client: BedrockClient | undefined;
  /** Starts a fast service (`startFast`) and its SDK client. */
  start(options: StartLocalServiceOptions): Promise<BedrockClient>;
  /** Closes the client and the service (a test restarts one with `stop`, then `start`). */
  stop(): Promise<void>;
}

/** For each test where it is called: the service the test starts, closed with its client after the test. */
export function useLocalService(): TestService {
  let local: LocalService | undefined;
  let client: BedrockClient | undefined;
  const service: TestService = {
    get local() {
      return local;
    },
    get client() {
      return client;
    },
    async start(options) {
      local = await startFast(options);
      client = clientOf(local);
      return client;
    },
    async stop() {
      client?.destroy();
      await local?.close();
      local = undefined;
      client = undefined;
    },
  };
  afterEach(() => service.stop());
  return service;
}

/** Poll until the job is in one of `statuses` (the guard only stops a hung test). */
export async function waitFor(client: BedrockClient, jobArn: string, statuses: string[], guardMs = 20_000): Promise<GetModelInvocationJobCommandOutput> {
  const until = Date.now() + guardMs;
  for (;;) {
    const job = await client.send(new GetModelInvocationJobCommand({ jobIdentifier: jobArn }));
    if (statuses.includes(job.status!)) return job;
    if (Date.now() > until) throw new Error(`job ${jobArn} still ${job.status} (wanted ${statuses.join('/')})`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function createInput(over: Record<string, unknown> = {}): any {
  return {
    jobName: 'job-1',
    roleArn: ROLE,
    modelId: HAIKU,
    inputDataConfig: { s3InputDataConfig: { s3Uri: 's3://in-bucket/run/' } },
    outputDataConfig: { s3OutputDataConfig: { s3Uri: 's3://out-bucket/results/' } },
    ...over,
  };
}

/** What an SDK call threw: the exception name, HTTP status, fault and message. */
export async function failure(p: Promise<unknown>): Promise<{ name: string; status: number | undefined; fault: string | undefined; message: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as { name: string; message: string; $fault?: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name, status: e.$metadata?.httpStatusCode, fault: e.$fault, message: e.message };
  }
  throw new Error('expected the call to fail');
}
