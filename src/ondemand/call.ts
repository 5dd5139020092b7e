/**
 * One record asked through the Bedrock Runtime, and what its failure means (docs/on-demand.md,
 * "Calls and errors").
 *
 * - InvokeModel: the body is the record's `modelInput` as JSON, the answer's body parsed is its
 *   `modelOutput` (what a batch job writes: docs/bedrock.md §1.2). Token counts come from the
 *   `X-Amzn-Bedrock-Input-Token-Count` / `-Output-Token-Count` response headers where the service
 *   sends them, else from the body's usage, as the family reads it.
 * - Converse: the request is the record's `modelInput` fields (messages, system, inferenceConfig,
 *   outputConfig, additionalModelRequestFields, ...) with the model id; the answer less the SDK's
 *   `$metadata` is the `modelOutput` a Converse-type batch job writes (`{output:{message}, stopReason,
 *   usage, metrics}`). Base64 `bytes` of image, document, video and audio sources are decoded for
 *   the SDK, which encodes them again on the wire.
 *
 * `classifyError` sorts a failure: worth asking again (throttling, 5xx, model not ready or timed
 * out, the network), the record's own (ValidationException 400, ModelErrorException 424: an error
 * line, as a batch job writes it), or the end of the job (no access, no such model, "The provided
 * model identifier is invalid.", the model needs an inference profile, anything unknown).
 */
import { CONVERSE_REQUEST_KEYS } from '../models/converse.js';
import { ConverseCommand, InvokeModelCommand, type BedrockRuntimeClient, type ConverseCommandInput } from '@aws-sdk/client-bedrock-runtime';
import { isObject } from '../core/values.js';
import type { ModelFamily } from '../models/family.js';
import { isProfileRequired } from './profiles.js';

export type OnDemandInvocation = 'InvokeModel' | 'Converse';

/** One answer: the `modelOutput` to write, and the tokens billed when known. */
export interface RuntimeAnswer {
  modelOutput: Record<string, unknown>;
  inputTokens: number | undefined;
  outputTokens: number | undefined;
}

/** Ask one record. Throws the SDK's error as it is (see `classifyError`). */
export async function callModel(
  client: BedrockRuntimeClient,
  modelId: string,
  invocationType: OnDemandInvocation,
  modelInput: Record<string, unknown>,
  family: ModelFamily | undefined,
  signal?: AbortSignal,
): Promise<RuntimeAnswer> {
  const options = signal ? { abortSignal: signal } : {};
  if (invocationType === 'Converse') {
    const out = await client.send(new ConverseCommand(converseInput(modelId, modelInput)), options);
    const { $metadata: _metadata, ...rest } = out;
    const modelOutput = plain(rest) as Record<string, unknown>;
    return { modelOutput, inputTokens: count(out.usage?.inputTokens), outputTokens: count(out.usage?.outputTokens) };
  }
  const command = new InvokeModelCommand({
    modelId,
    body: Buffer.from(JSON.stringify(modelInput), 'utf8'),
    contentType: 'application/json',
    accept: 'application/json',
  });
  let headers: Record<string, string | undefined> | undefined;
  type Next = (args: unknown) => Promise<{ response: unknown }>;
  (command.middlewareStack.add as unknown as (m: unknown, o: Record<string, unknown>) => void)(
    (next: Next) => async (args: unknown) => {
      const out = await next(args);
      headers = (out.response as { headers?: Record<string, string | undefined> }).headers;
      return out;
    },
    { step: 'deserialize', name: 'bedrockBatchTokenCounts', priority: 'low', override: true },
  );
  const out = await client.send(command, options);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(out.body ?? new Uint8Array()).toString('utf8'));
  } catch {
    throw new MalformedAnswer('The runtime answered with a body that is not JSON');
  }
  if (!isObject(parsed)) throw new MalformedAnswer('The runtime answered with a body that is not a JSON object');
  const summary = family?.readOutput(parsed);
  return {
    modelOutput: parsed,
    inputTokens: header(headers, 'x-amzn-bedrock-input-token-count') ?? count(summary?.inputTokens),
    outputTokens: header(headers, 'x-amzn-bedrock-output-token-count') ?? count(summary?.outputTokens),
  };
}

/** A 200 answer whose body cannot be a `modelOutput`: the record's error (500), never a retry. */
export class MalformedAnswer extends Error {
  override readonly name = 'MalformedAnswer';
}

function header(headers: Record<string, string | undefined> | undefined, name: string): number | undefined {
  if (!headers) return undefined;
  const raw = headers[name] ?? Object.entries(headers).find(([k]) => k.toLowerCase() === name)?.[1];
  return raw !== undefined && /^\d+$/.test(raw.trim()) ? Number(raw) : undefined;
}

function count(n: unknown): number | undefined {
  return typeof n === 'number' && Number.isFinite(n) && n >= 0 ? n : undefined;
}

/** A Converse record's request fields, as the batch family accepts them (src/models/converse.ts). */
const CONVERSE_KEYS = CONVERSE_REQUEST_KEYS;

/** The Converse request for a record: its `modelInput` fields, base64 `bytes` decoded (see the module comment). */
export function converseInput(modelId: string, modelInput: Record<string, unknown>): ConverseCommandInput {
  const input: Record<string, unknown> = { modelId };
  for (const k of CONVERSE_KEYS) if (modelInput[k] !== undefined) input[k] = k === 'messages' || k === 'system' ? withBytes(modelInput[k]) : modelInput[k];
  return input as unknown as ConverseCommandInput;
}

/** A copy in which every `source: {bytes: "<base64>"}` holds the decoded bytes. */
function withBytes(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withBytes);
  if (!isObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === 'source' && isObject(v) && typeof v.bytes === 'string') out[k] = { ...v, bytes: Buffer.from(v.bytes, 'base64') };
    else out[k] = withBytes(v);
  }
  return out;
}

/** A JSON value of an SDK output: bytes as base64 (as a batch job's JSON line holds them), no undefined. */
function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v)));
}

/** What a failed call means for the run. */
export type Failure =
  /** Ask again after a wait (`throttled`: the service said too many requests). */
  | { kind: 'retry'; throttled: boolean; name: string; status: number | undefined; message: string }
  /** The record's own error: an error line `{errorCode, errorMessage}`. */
  | { kind: 'record'; errorCode: number; errorMessage: string; name: string }
  /** The job cannot go on (`reason` says which way). */
  | { kind: 'fatal'; reason: 'access' | 'not-found' | 'profile' | 'other'; name: string; status: number | undefined; message: string };

const RETRY = new Set([
  'ThrottlingException',
  'ServiceUnavailableException',
  'InternalServerException',
  'ModelNotReadyException',
  'ModelTimeoutException',
  'ServiceQuotaExceededException',
  'TooManyRequestsException',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
]);
const THROTTLED = new Set(['ThrottlingException', 'ServiceQuotaExceededException', 'TooManyRequestsException']);
const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'UND_ERR_SOCKET', 'ECONNABORTED']);

/** Sort a failed call (see the module comment). */
export function classifyError(error: unknown): Failure {
  const e = error as { name?: string; message?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  const name = e?.name ?? 'Error';
  const status = e?.$metadata?.httpStatusCode;
  const message = flat(e?.message ?? String(error));
  if (error instanceof MalformedAnswer) return { kind: 'record', errorCode: 500, errorMessage: message, name };
  if (name === 'ValidationException') {
    if (isProfileRequired(message)) return { kind: 'fatal', reason: 'profile', name, status, message };
    // the runtime's answer to an id that names no model it serves: every record would get it
    if (/model identifier is invalid/i.test(message)) return { kind: 'fatal', reason: 'not-found', name, status, message };
    return { kind: 'record', errorCode: 400, errorMessage: message, name };
  }
  if (name === 'ModelErrorException') return { kind: 'record', errorCode: status ?? 424, errorMessage: message, name };
  if (name === 'AccessDeniedException') return { kind: 'fatal', reason: 'access', name, status, message };
  if (name === 'ResourceNotFoundException') return { kind: 'fatal', reason: 'not-found', name, status, message };
  const networkCode = e?.code !== undefined && NETWORK.has(e.code);
  if (RETRY.has(name) || (status !== undefined && status >= 500) || status === 429 || networkCode) {
    return { kind: 'retry', throttled: THROTTLED.has(name) || status === 429, name, status, message };
  }
  return { kind: 'fatal', reason: 'other', name, status, message };
}

function flat(message: string): string {
  const m = message.replace(/\s+/g, ' ').trim();
  return m.length > 500 ? `${m.slice(0, 499)}…` : m;
}
