/**
 * The Bedrock client: `@aws-sdk/client-bedrock` for everything, against AWS or, with an endpoint,
 * any service that speaks Bedrock's API (the local service). One code path serves both; its
 * settings come from the toolkit's one AWS configuration (src/aws/config.ts).
 */
import { BedrockClient } from '@aws-sdk/client-bedrock';
import { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { createAwsClient, type AwsClientOptions } from '../aws/config.js';

export interface BedrockClientOptions extends Omit<AwsClientOptions, 'endpointUrl'> {
  /** A Bedrock-compatible endpoint instead of AWS's (`http://127.0.0.1:8089` for `serve`). */
  endpoint?: string;
  /**
   * SDK attempts per call (default 1: submit, watch, status and stop retry throttling, quota, 5xx
   * and network errors themselves, with jittered backoff they report, so the SDK does not retry too).
   */
  maxAttempts?: number;
}

export function createBedrockClient(options: BedrockClientOptions = {}): BedrockClient {
  const { endpoint, ...rest } = options;
  return createAwsClient(BedrockClient, 'Bedrock', { ...rest, ...(endpoint !== undefined ? { endpointUrl: endpoint } : {}), maxAttempts: options.maxAttempts ?? 1 });
}

/**
 * The Bedrock Runtime client (InvokeModel, Converse, CountTokens: the on-demand path and exact
 * token counts), with the same settings; one SDK attempt, as the callers retry with backoff.
 */
export function createBedrockRuntimeClient(options: BedrockClientOptions = {}): BedrockRuntimeClient {
  const { endpoint, ...rest } = options;
  return createAwsClient(BedrockRuntimeClient, 'Bedrock Runtime', { ...rest, ...(endpoint !== undefined ? { endpointUrl: endpoint } : {}), maxAttempts: options.maxAttempts ?? 1 });
}

/** The fields of an SDK error we act on: its exception name and HTTP status. */
export function serviceErrorOf(error: unknown): { name: string; status: number | undefined; message: string } {
  const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  return { name: e?.name ?? 'Error', status: e?.$metadata?.httpStatusCode, message: e?.message ?? String(error) };
}

const RETRYABLE = new Set([
  'ThrottlingException',
  'TooManyRequestsException',
  'ServiceQuotaExceededException',
  'InternalServerException',
  'ServiceUnavailableException',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
]);
const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'UND_ERR_SOCKET']);

/** Worth trying again after a wait: throttling, quota, 5xx and network errors. */
export function isRetryable(error: unknown): boolean {
  const { name, status } = serviceErrorOf(error);
  if (RETRYABLE.has(name)) return true;
  if (status !== undefined && status >= 500) return true;
  const code = (error as { code?: string })?.code;
  return code !== undefined && NETWORK.has(code);
}

/** One line for a log or a ledger: the exception name and message (never request data or credentials). */
export function describeError(error: unknown): string {
  const { name, status, message } = serviceErrorOf(error);
  const flat = message.replace(/\s+/g, ' ').trim();
  return `${name}${status ? ` (${status})` : ''}: ${flat.length > 500 ? `${flat.slice(0, 499)}…` : flat}`;
}
