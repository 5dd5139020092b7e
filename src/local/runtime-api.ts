/**
 * The Bedrock Runtime API on the local service (docs/bedrock.md §7), so `@aws-sdk/client-bedrock-runtime`
 * and boto3's `bedrock-runtime` answer records one by one against it, unchanged, on the control
 * plane's port (restJson1, as the SDK sends it):
 *
 *   POST /model/{modelId}/invoke         InvokeModel: the model's native body in, its native answer out
 *   POST /model/{modelId}/converse       Converse: {messages, system, inferenceConfig, toolConfig, ...}
 *   POST /model/{modelId}/count-tokens   CountTokens: {input: {invokeModel: {body}} | {converse: {...}}}
 *
 * `{modelId}` is percent-encoded (`:` and `/` included): a base id, a cross-region profile id, or an
 * ARN. The answers are the batch jobs' answers for the same `modelInput` (runner.ts): the same family
 * check (a body a real model would refuse is a ValidationException here, a 400 error line there), the
 * same local model, the same `modelOutput` (only the answer id and the latency differ), the same
 * `invalid-fields` spoiling. A Converse body is a Converse-type record's `modelInput`; unlike batch,
 * the runtime takes `toolConfig` (checked here, §7.2).
 *
 * On top, what Bedrock's on-demand service does to a caller (§7.3): requests and tokens per minute
 * per model (`runtime: { rpm, tpm }`; over either, ThrottlingException 429), the service's
 * per-record delay before each answer, the control plane's request faults (`throttle`,
 * `server-errors`), and `record-errors` as ModelErrorException 424. `stats()` counts every request.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { lookupBatchModel, CATALOGUE_DATE } from '../bedrock/batch-models.js';
import { isObject } from '../core/values.js';
import { BatchError } from '../errors.js';
import type { FamilyName } from '../models/family.js';
import { parseModelId } from '../models/ids.js';
import { FAMILIES, familyFor } from '../models/index.js';
import { getInferenceProfile, type CatalogueContext } from './catalogue-api.js';
import { decodeLabel, ServiceError } from './errors.js';
import { unitHash, type LocalFaults } from './faults.js';
import { ModelCallError, type LocalModel } from './models.js';
import { familyOfShape, modelOutputFor, requestOf, requestText, type ModelAnswer, type ModelRequest } from './responses.js';
import { spoilAnswer } from './structured.js';
import { countTokens } from './tokens.js';

/** The most bytes a runtime request body may have (InvokeModel's `body`: 25,000,000; §7.1). */
export const RUNTIME_MAX_BODY = 25_000_000;

export type RuntimeOperation = 'InvokeModel' | 'Converse' | 'CountTokens';

/** One runtime request, as its path names it. */
export interface RuntimeCall {
  operation: RuntimeOperation;
  /** Percent-decoded. */
  modelId: string;
}

/** Bedrock's on-demand quotas, per model (`LocalServiceOptions.runtime`). */
export interface RuntimeLimits {
  /** Requests per minute per model (default 6,000). */
  rpm?: number;
  /** Tokens per minute per model: input + the output budget at the start, input + output once answered (default 10,000,000). */
  tpm?: number;
  /** Milliseconds in one minute of the caps (default 60,000): make it small to see a cap refill in a test. */
  minuteMs?: number;
}

export interface RuntimeCounts {
  /** Requests that reached an operation (refused Hosts never do). */
  requests: number;
  /** Answered 200. */
  answered: number;
  /** Answered ThrottlingException 429 (a cap or the `throttle` fault). */
  throttled: number;
  /** Answered with any other error. */
  errors: number;
  /** Tokens of the answered requests (CountTokens: its count, as input tokens). */
  inputTokens: number;
  outputTokens: number;
}

export interface RuntimeStats extends RuntimeCounts {
  /** By model, as the caps count them: the base id, or `us.<base id>` for a cross-region profile. */
  byModel: Record<string, RuntimeCounts>;
  byOperation: Record<RuntimeOperation, RuntimeCounts>;
}

/** What the server writes back: status, headers and JSON text. */
export interface RuntimeAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** What the runtime needs of the service. */
export interface RuntimeContext extends CatalogueContext {
  model: LocalModel;
  faults: LocalFaults & { seed: number };
  /** Milliseconds before each answer (the service's per-record delay). */
  recordDelayMs: number;
  /** The control plane's request faults (`throttle`, `server-errors`): throws a ServiceError. */
  requestFaults: () => void;
  requireAuth: boolean;
}

const OPERATIONS: Readonly<Record<string, RuntimeOperation>> = { invoke: 'InvokeModel', converse: 'Converse', 'count-tokens': 'CountTokens' };
/** Runtime operations of the SDK this service does not serve (streams, async invocations). */
const NOT_SERVED: Readonly<Record<string, string>> = {
  'invoke-with-response-stream': 'InvokeModelWithResponseStream',
  'converse-stream': 'ConverseStream',
  'invoke-with-bidirectional-stream': 'InvokeModelWithBidirectionalStream',
};

/** Whether a path is the runtime's (`/model/...`): its body may be up to RUNTIME_MAX_BODY bytes. */
export function isRuntimePath(path: string): boolean {
  return path.startsWith('/model/');
}

/**
 * The runtime call a request names, or undefined when none does. `{modelId}` may hold encoded
 * slashes (`%2F`, how the SDK sends ARNs) or plain ones. Throws for a streaming operation (named)
 * and for a label that is not percent-encoded correctly.
 */
export function runtimeRoute(method: string, path: string): RuntimeCall | undefined {
  if (!isRuntimePath(path)) return undefined;
  const last = path.lastIndexOf('/');
  const op = path.slice(last + 1);
  const label = path.slice('/model/'.length, last);
  if (method !== 'POST' || label === '' || last < '/model/'.length) return undefined;
  const served = NOT_SERVED[op];
  if (served) {
    throw new ServiceError('UnknownOperationException', `${served} (POST /model/{modelId}/${op}) is not served by the local service: use ${served.includes('Converse') ? 'Converse' : 'InvokeModel'}`);
  }
  const operation = OPERATIONS[op];
  if (!operation) return undefined;
  return { operation, modelId: decodeLabel(label, 'modelId') };
}

/** An error the control plane never answers: its name, modelled status and extra members. */
class RuntimeError extends Error {
  constructor(
    readonly errorType: 'ModelErrorException' | 'ModelTimeoutException' | 'ServiceUnavailableException',
    readonly status: number,
    message: string,
    readonly fields: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

const TOO_MANY_REQUESTS = 'Too many requests, please wait before trying again.';
const TOO_MANY_TOKENS = 'Too many tokens, please wait before trying again.';

/** The `modelId` member's rule, shortened: an ARN of Bedrock, or `[a-zA-Z0-9-:.]+` (§7.1). */
const MODEL_ID = /^(?:arn:aws(?:-[^:]+)?:bedrock:[a-z0-9-]{0,20}:[0-9]{0,12}:[a-z-]+\/[a-zA-Z0-9-:./]+|[a-zA-Z0-9-:.]+)$/;

/** A model the runtime serves: its key for the caps and counters. */
interface Resolved {
  key: string;
  /** A base id or foundation-model ARN of a Claude model: the ids CountTokens answers (§7.4). */
  countsTokens: boolean;
}

/** The key of a model id for the caps and counters (never throws): a profile keeps its prefix. */
function modelKey(modelId: string): string {
  const p = parseModelId(modelId);
  if (p.baseId === undefined || p.kind === 'custom-model-arn') return modelId.slice(0, 200);
  return (p.profilePrefix ? `${p.profilePrefix}.${p.baseId}` : p.baseId).slice(0, 200);
}

function invalidModel(modelId: string): ServiceError {
  return new ServiceError(
    'ValidationException',
    `The provided model identifier is invalid. (local service: ${modelId.slice(0, 200)} is not in the model catalogue of ${CATALOGUE_DATE}; add it with --allow-model)`,
  );
}

/** The native family that serves a model id (InvokeModel bodies), or undefined: then the body's shape decides. */
function nativeFamily(modelId: string): FamilyName | undefined {
  try {
    const f = familyFor(modelId);
    return f.invocationType === 'InvokeModel' ? f.name : undefined;
  } catch {
    return undefined;
  }
}

/** The Converse family: the one `familyFor` gives every model for Converse. */
const CONVERSE = familyFor('any.model', { invocationType: 'Converse' });

/**
 * Whether the runtime serves a model id (§7.1), with the control plane's knowledge of models: a base
 * id of the batch catalogue (not a profile-only model) or given with `extraModels`; its
 * foundation-model ARN in this region; a system-defined profile (id or ARN) of such a model in this
 * geography; a custom-model or application-profile ARN (opaque: the body's shape tells the family,
 * as in batch). Anything else is "The provided model identifier is invalid.".
 */
function resolveModel(ctx: CatalogueContext, modelId: string): Resolved {
  if (modelId.length > 2048 || !MODEL_ID.test(modelId)) {
    throw new ServiceError(
      'ValidationException',
      `1 validation error detected: Value '${modelId.slice(0, 200)}' at 'modelId' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:aws(-[^:]+)?:bedrock:...)|([a-zA-Z0-9-:.]+)`,
    );
  }
  const p = parseModelId(modelId);
  const key = modelKey(modelId);
  const extra = ctx.extraModels.has(modelId) || (p.baseId !== undefined && ctx.extraModels.has(p.baseId));
  switch (p.kind) {
    case 'custom-model-arn':
    case 'application-inference-profile-arn':
      return { key, countsTokens: false };
    case 'profile':
    case 'inference-profile-arn':
      if (extra) return { key, countsTokens: false };
      try {
        getInferenceProfile(ctx, modelId);
      } catch {
        throw invalidModel(modelId);
      }
      return { key, countsTokens: false };
    case 'foundation-model-arn':
    case 'base': {
      const base = p.baseId!;
      if (p.kind === 'foundation-model-arn' && /^arn:[^:]+:bedrock:([^:]*):/.exec(modelId)?.[1] !== ctx.region) throw invalidModel(modelId);
      const countsTokens = /^anthropic\.claude-/.test(base);
      if (extra) return { key, countsTokens };
      const found = lookupBatchModel(base);
      if (found.kind === 'found') {
        if (!found.model.modes.includes('single-region')) {
          throw new ServiceError(
            'ValidationException',
            `Invocation of model ID ${base} with on-demand throughput isn’t supported. Retry your request with the ID or ARN of an inference profile that contains this model.`,
          );
        }
        return { key, countsTokens };
      }
      throw invalidModel(modelId);
    }
    default:
      throw invalidModel(modelId);
  }
}

/** A request body as a JSON object, or the ValidationException Bedrock answers for one that is not. */
function jsonObject(bytes: Buffer | string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(typeof bytes === 'string' ? bytes : bytes.toString('utf8'));
  } catch {
    throw new ServiceError('ValidationException', `Malformed input request: ${what} is not valid JSON, please reformat your input and try again.`);
  }
  if (!isObject(value)) throw new ServiceError('ValidationException', `Malformed input request: ${what} is not a JSON object, please reformat your input and try again.`);
  return value;
}

/** The batch runner's refusal, word for word (runner.ts), as a ValidationException. */
function refuse(refused: string[]): void {
  if (refused.length > 0) throw new ServiceError('ValidationException', `Malformed input request: ${refused.slice(0, 3).join('; ')}`);
}

const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/**
 * Why Bedrock would refuse a Converse `toolConfig` (API_runtime_ToolConfiguration: `tools`, a
 * non-empty list of `{toolSpec: {name, description?, inputSchema: {json}}}` or `{cachePoint}`;
 * `toolChoice`, one of `auto`, `any`, `tool: {name}`), and the forced tool's schema when it names one.
 */
function checkToolConfig(config: unknown): { refused: string[]; forced?: { name: string; schema: Record<string, unknown> } } {
  const refused: string[] = [];
  if (!isObject(config)) return { refused: ['#/toolConfig: expected an object'] };
  for (const key of Object.keys(config)) if (key !== 'tools' && key !== 'toolChoice') refused.push(`#/toolConfig/${key}: not a key of this request (extra inputs are not permitted)`);
  const specs = new Map<string, Record<string, unknown> | undefined>();
  if (!Array.isArray(config.tools) || config.tools.length === 0) refused.push('#/toolConfig/tools: expected at least 1 item(s)');
  else {
    config.tools.forEach((tool, i) => {
      const at = `#/toolConfig/tools/${i}`;
      if (!isObject(tool) || Object.keys(tool).length !== 1) return void refused.push(`${at}: expected exactly one of toolSpec, cachePoint`);
      if (tool.cachePoint !== undefined) return;
      const spec = tool.toolSpec;
      if (!isObject(spec)) return void refused.push(`${at}: expected exactly one of toolSpec, cachePoint`);
      if (typeof spec.name !== 'string' || !TOOL_NAME.test(spec.name)) refused.push(`${at}/toolSpec/name: expected 1 to 64 of [a-zA-Z0-9_-]`);
      if (spec.description !== undefined && typeof spec.description !== 'string') refused.push(`${at}/toolSpec/description: expected a string`);
      const schema = isObject(spec.inputSchema) ? spec.inputSchema.json : undefined;
      if (!isObject(schema)) refused.push(`${at}/toolSpec/inputSchema: expected {"json": {...}}`);
      if (typeof spec.name === 'string') specs.set(spec.name, isObject(schema) ? schema : undefined);
    });
  }
  const choice = config.toolChoice;
  if (choice === undefined) return { refused };
  if (!isObject(choice) || Object.keys(choice).length !== 1 || !['auto', 'any', 'tool'].includes(Object.keys(choice)[0]!)) {
    refused.push('#/toolConfig/toolChoice: expected exactly one of auto, any, tool');
    return { refused };
  }
  if (choice.tool === undefined) return { refused };
  const name = isObject(choice.tool) ? choice.tool.name : undefined;
  if (typeof name !== 'string') return { refused: [...refused, '#/toolConfig/toolChoice/tool/name: required'] };
  if (!specs.has(name)) return { refused: [...refused, `#/toolConfig/toolChoice/tool/name: no tool named ${JSON.stringify(name).slice(0, 40)} in #/toolConfig/tools`] };
  const schema = specs.get(name);
  return schema ? { refused, forced: { name, schema } } : { refused };
}

/** What a request asks of the model, once checked. */
interface Ask {
  family: FamilyName;
  request: ModelRequest;
}

/** Read and check an InvokeModel body (or CountTokens' `invokeModel.body`) for `modelId`, as the batch runner checks a record. */
function invokeAsk(modelId: string, body: Buffer | string): Ask {
  const input = jsonObject(body, 'the body');
  const family = nativeFamily(modelId) ?? familyOfShape(input);
  if (family === undefined) throw new ServiceError('ValidationException', 'Malformed input request: the body does not match the request format of the model.');
  refuse(FAMILIES[family].local.checkRequest(input, modelId));
  return { family, request: requestOf(family, input) };
}

/** Read and check a Converse body: the batch check without `toolConfig`, which the runtime takes (checked apart). */
function converseAsk(modelId: string, body: Record<string, unknown>): Ask {
  // Members a Converse-type record has no use for: the runtime's own, or answered by a stand-in as if absent.
  const { toolConfig, serviceTier, ...input } = body;
  void serviceTier;
  const refused = CONVERSE.local.checkRequest(input, modelId);
  const tools = toolConfig === undefined ? undefined : checkToolConfig(toolConfig);
  refuse([...refused, ...(tools?.refused ?? [])]);
  const request = requestOf(CONVERSE.name, input);
  if (tools?.forced) request.structured = { schema: tools.forced.schema, via: 'tool', name: tools.forced.name };
  return { family: CONVERSE.name, request };
}

/** The tokens CountTokens gives for a request: what its answer bills as input (models.ts `withinBudget`). */
function inputTokensOf(request: ModelRequest): number {
  return Math.max(1, countTokens(requestText(request)));
}

/** One model's requests and tokens in the last minute, oldest first. */
class MinuteWindow {
  private readonly entries: { at: number; tokens: number }[] = [];
  private head = 0;
  tokens = 0;

  /** Drop what is older than `since`; the requests left. */
  count(since: number): number {
    while (this.head < this.entries.length && this.entries[this.head]!.at <= since) this.tokens -= this.entries[this.head++]!.tokens;
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries.splice(0, this.head);
      this.head = 0;
    }
    return this.entries.length - this.head;
  }

  add(at: number, tokens: number): { at: number; tokens: number } {
    const entry = { at, tokens };
    this.entries.push(entry);
    this.tokens += tokens;
    return entry;
  }

  /** Count `tokens` for an entry in place of what it reserved (nothing once it left the window). */
  settle(entry: { at: number; tokens: number }, tokens: number, since: number): void {
    if (entry.at <= since) return;
    this.tokens += tokens - entry.tokens;
    entry.tokens = tokens;
  }
}

const zero = (): RuntimeCounts => ({ requests: 0, answered: 0, throttled: 0, errors: 0, inputTokens: 0, outputTokens: 0 });
/** Models counted apart at most; the others count under OTHER_MODELS (a client cannot grow the table without bound). */
const MAX_MODELS = 1000;
const OTHER_MODELS = '(other models)';

/** The runtime's state: caps, counters, the fault draws. One per service. */
export class LocalRuntime {
  /** The caps in force (see RuntimeLimits). */
  readonly rpm: number;
  readonly tpm: number;
  readonly minuteMs: number;
  private readonly windows = new Map<string, MinuteWindow>();
  private readonly total = zero();
  private readonly byModel = new Map<string, RuntimeCounts>();
  private readonly byOperation: Record<RuntimeOperation, RuntimeCounts> = { InvokeModel: zero(), Converse: zero(), CountTokens: zero() };
  /** How many times each request body was seen: a retry draws its faults again. */
  private readonly seen = new Map<string, number>();
  private readonly controller = new AbortController();

  constructor(
    private readonly ctx: RuntimeContext,
    limits: RuntimeLimits = {},
  ) {
    this.rpm = limits.rpm ?? 6000;
    this.tpm = limits.tpm ?? 10_000_000;
    this.minuteMs = limits.minuteMs ?? 60_000;
    for (const [name, v] of [['runtime.rpm', this.rpm], ['runtime.tpm', this.tpm]] as const) {
      if (!Number.isSafeInteger(v) || v < 1) throw new BatchError('E_BAD_OPTION', `${name} must be a whole number of at least 1, got ${String(v)}`);
    }
    if (!(this.minuteMs > 0) || !Number.isFinite(this.minuteMs)) throw new BatchError('E_BAD_OPTION', `runtime.minuteMs must be a positive number of milliseconds, got ${String(limits.minuteMs)}`);
  }

  /** Every count so far (a copy). */
  stats(): RuntimeStats {
    return {
      ...this.total,
      byModel: Object.fromEntries([...this.byModel].map(([k, v]) => [k, { ...v }])),
      byOperation: { InvokeModel: { ...this.byOperation.InvokeModel }, Converse: { ...this.byOperation.Converse }, CountTokens: { ...this.byOperation.CountTokens } },
    };
  }

  /** Abort the requests waiting (the per-record delay, the model): the service is closing. */
  close(): void {
    this.controller.abort();
  }

  /** Answer one runtime request: always an answer, errors included (counted either way). */
  async answer(call: RuntimeCall, body: Buffer, authorized: boolean): Promise<RuntimeAnswer> {
    const key = modelKey(call.modelId);
    let perModel = this.byModel.get(key) ?? this.byModel.get(OTHER_MODELS);
    if (!perModel) {
      perModel = zero();
      this.byModel.set(this.byModel.size < MAX_MODELS ? key : OTHER_MODELS, perModel);
    }
    const counts = [this.total, this.byOperation[call.operation], perModel];
    for (const c of counts) c.requests++;
    try {
      const { answer, inputTokens, outputTokens } = await this.run(call, body, authorized);
      for (const c of counts) {
        c.answered++;
        c.inputTokens += inputTokens;
        c.outputTokens += outputTokens;
      }
      return answer;
    } catch (err) {
      const e = this.errorOf(err);
      for (const c of counts) {
        if (e.errorType === 'ThrottlingException') c.throttled++;
        else c.errors++;
      }
      const text = JSON.stringify({ message: e.message, ...e.fields });
      return { status: e.status, headers: { 'content-type': 'application/json', 'x-amzn-ErrorType': e.errorType }, body: text };
    }
  }

  private errorOf(err: unknown): { errorType: string; status: number; message: string; fields: Record<string, unknown> } {
    if (err instanceof ServiceError) return { errorType: err.errorType, status: err.status, message: err.message, fields: {} };
    if (err instanceof RuntimeError) return { errorType: err.errorType, status: err.status, message: err.message, fields: err.fields };
    if (this.controller.signal.aborted) return { errorType: 'ServiceUnavailableException', status: 503, message: 'The local service is shutting down.', fields: {} };
    return { errorType: 'InternalServerException', status: 500, message: `Internal error: ${(err as Error).message}`, fields: {} };
  }

  private async run(call: RuntimeCall, body: Buffer, authorized: boolean): Promise<{ answer: RuntimeAnswer; inputTokens: number; outputTokens: number }> {
    const { ctx } = this;
    ctx.requestFaults();
    if (ctx.requireAuth && !authorized) {
      throw new ServiceError('AccessDeniedException', 'Missing Authentication Token: sign the request (SigV4) or send Authorization: Bearer');
    }
    const model = resolveModel(ctx, call.modelId);
    if (call.operation === 'CountTokens') {
      const tokens = this.countTokens(call.modelId, model, body);
      return { answer: json({ inputTokens: tokens }), inputTokens: tokens, outputTokens: 0 };
    }
    const ask = call.operation === 'InvokeModel' ? invokeAsk(call.modelId, body) : converseAsk(call.modelId, jsonObject(body, 'the body'));
    const { family, request } = ask;
    const started = performance.now();
    // The quota counts the input and the whole output budget at the start (the model's most output
    // tokens when the body names no budget), the output used at the end.
    const budget = request.maxTokens ?? FAMILIES[family].limits(call.modelId).maxOutputTokens;
    const settle = this.admit(model.key, inputTokensOf(request) + Math.max(0, budget));
    const signal = this.controller.signal;
    if (ctx.recordDelayMs > 0) await sleep(ctx.recordDelayMs, undefined, { signal });
    const digest = createHash('sha256').update(`${call.operation}\n${model.key}\n`).update(body).digest('hex');
    const n = this.occurrence(digest);
    const { faults } = ctx;
    if (faults.recordErrors && unitHash(faults.seed, `runtime-record\n${digest}\n${n}`) < faults.recordErrors) {
      settle(0);
      throw new RuntimeError('ModelErrorException', 424, 'The model returned an error: an internal error occurred. (local fault injection)', {
        originalStatusCode: 500,
        resourceName: call.modelId,
      });
    }
    const answerKey = `runtime-${digest.slice(0, 24)}`;
    let answer: ModelAnswer;
    try {
      answer = await ctx.model.answer(request, { modelId: call.modelId, recordId: answerKey, signal });
    } catch (err) {
      settle(0);
      if (err instanceof ModelCallError) throw modelCallError(err, call.modelId);
      throw err;
    }
    const spoil = faults.invalidFields ? request.structured : undefined;
    if (spoil && unitHash(faults.seed, `runtime-invalid-fields\n${digest}\n${n}`) < faults.invalidFields!) {
      answer = spoilAnswer(answer, spoil.schema, unitHash(faults.seed, `runtime-invalid-kind\n${digest}\n${n}`) < 0.5 ? 'missing' : 'enum');
    }
    settle(answer.inputTokens + answer.outputTokens);
    const latencyMs = performance.now() - started;
    const output = modelOutputFor(family, call.modelId, answer, { recordId: answerKey, latencyMs });
    const headers: Record<string, string> =
      call.operation === 'InvokeModel'
        ? {
            'x-amzn-bedrock-input-token-count': String(answer.inputTokens),
            'x-amzn-bedrock-output-token-count': String(answer.outputTokens),
            'x-amzn-bedrock-invocation-latency': String(Math.round(latencyMs)),
          }
        : {};
    return { answer: json(output, headers), inputTokens: answer.inputTokens, outputTokens: answer.outputTokens };
  }

  /** CountTokens (§7.4): refused for the ids Bedrock refuses; else the tokens the answer would bill as input. */
  private countTokens(modelId: string, model: Resolved, body: Buffer): number {
    if (!model.countsTokens) throw new ServiceError('ValidationException', "The provided model doesn't support counting tokens.");
    const request = jsonObject(body, 'the request');
    const input = request.input;
    if (!isObject(input)) throw new ServiceError('ValidationException', "1 validation error detected: Value null at 'input' failed to satisfy constraint: Member must not be null");
    const members = Object.keys(input).filter((k) => input[k] !== undefined && input[k] !== null);
    if (members.length !== 1 || (members[0] !== 'invokeModel' && members[0] !== 'converse')) {
      throw new ServiceError('ValidationException', "1 validation error detected: Value at 'input' failed to satisfy constraint: Member must have exactly one of [invokeModel, converse] set");
    }
    if (members[0] === 'invokeModel') {
      const inner = isObject(input.invokeModel) ? input.invokeModel.body : undefined;
      if (typeof inner !== 'string') throw new ServiceError('ValidationException', "1 validation error detected: Value null at 'input.invokeModel.body' failed to satisfy constraint: Member must not be null");
      return inputTokensOf(invokeAsk(modelId, blobText(inner)).request);
    }
    if (!isObject(input.converse)) throw new ServiceError('ValidationException', "1 validation error detected: Value at 'input.converse' failed to satisfy constraint: Member must be a structure");
    return inputTokensOf(converseAsk(modelId, input.converse).request);
  }

  /** Take a place in the model's minute (or throw ThrottlingException); the returned function settles its tokens. */
  private admit(key: string, tokens: number): (used: number) => void {
    let window = this.windows.get(key);
    if (!window) this.windows.set(key, (window = new MinuteWindow()));
    const now = Date.now();
    const since = now - this.minuteMs;
    if (window.count(since) >= this.rpm) throw new ServiceError('ThrottlingException', TOO_MANY_REQUESTS);
    if (window.tokens + tokens > this.tpm) throw new ServiceError('ThrottlingException', TOO_MANY_TOKENS);
    const entry = window.add(now, tokens);
    const w = window;
    return (used) => w.settle(entry, used, Date.now() - this.minuteMs);
  }

  /** How many times this body was asked before (bounded memory: forgets all past 100,000 bodies). */
  private occurrence(digest: string): number {
    const n = this.seen.get(digest) ?? 0;
    if (this.seen.size >= 100_000 && n === 0) this.seen.clear();
    this.seen.set(digest, n + 1);
    return n;
  }
}

/** A JSON answer of 200. */
function json(data: unknown, headers: Record<string, string> = {}): RuntimeAnswer {
  return { status: 200, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(data) };
}

/**
 * A blob member's text: restJson1 sends blobs inside a JSON body base64-encoded (the SDK and boto3
 * both do); a body sent as plain JSON text (a hand-made request) is taken as it is.
 */
function blobText(value: string): string {
  const trimmed = value.trim();
  if (trimmed.startsWith('{')) return value;
  const bytes = Buffer.from(trimmed, 'base64');
  if (bytes.toString('base64').replace(/=+$/, '') !== trimmed.replace(/=+$/, '')) {
    throw new ServiceError('ValidationException', "1 validation error detected: Value at 'input.invokeModel.body' failed to satisfy constraint: Member must be base64-encoded");
  }
  return bytes.toString('utf8');
}

/** A local model's per-record failure as the runtime answers it (§7.3). */
function modelCallError(err: ModelCallError, modelId: string): Error {
  if (err.errorCode === 429) return new ServiceError('ThrottlingException', err.message);
  if (err.errorCode === 400) return new ServiceError('ValidationException', err.message);
  if (err.errorCode === 408) return new RuntimeError('ModelTimeoutException', 408, err.message);
  return new RuntimeError('ModelErrorException', 424, err.message, { originalStatusCode: err.errorCode, resourceName: modelId });
}
