/**
 * The local service's Bedrock Runtime (src/local/runtime-api.ts, docs/bedrock.md §7) through the real
 * `@aws-sdk/client-bedrock-runtime` (HTTP/2, as it talks by default) and plain HTTP/1.1: InvokeModel
 * for each family in its own shape with Bedrock's token headers, Converse (tools included), CountTokens
 * (and its refusals), the model ids Bedrock takes or refuses, and answers that are the batch jobs'
 * answers for the same modelInput, word for word but for the answer id and the latency.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateModelInvocationJobCommand } from '@aws-sdk/client-bedrock';
import { BedrockRuntimeClient, ConverseCommand, CountTokensCommand, InvokeModelCommand } from '@aws-sdk/client-bedrock-runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localClientConfig, type LocalService } from '../../src/local/server.js';
import { FAMILIES } from '../../src/models/index.js';
import { CALL_INSIGHTS, CALL_INSIGHTS_NAME } from '../../src/schema/call-insights.js';
import { tempDir } from '../support/temp.js';
import { anthropicInput, clientOf, createInput, failure, HAIKU, put, startFast, TRANSCRIPT, waitFor } from './helpers.js';

const NOVA = 'amazon.nova-lite-v1:0';
const LLAMA = 'meta.llama3-1-8b-instruct-v1:0';
const TITAN = 'amazon.titan-text-express-v1';
const MISTRAL = 'mistral.mistral-small-2402-v1:0';

let local: LocalService;
let runtime: BedrockRuntimeClient;
let root: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  const t = await tempDir('runtime-api-');
  root = t.dir;
  cleanup = t.cleanup;
  // Titan Text runs on demand but not in batch: outside the catalogue, added as a user adds it
  local = await startFast({ root, stateFile: false, extraModels: [TITAN], outputOrder: { order: 'input' } });
  runtime = new BedrockRuntimeClient({ ...localClientConfig(local.endpoint), maxAttempts: 1 });
});
afterAll(async () => {
  runtime.destroy();
  await local.close();
  await cleanup();
});

async function invoke(modelId: string, body: unknown): Promise<Record<string, any>> {
  const r = await runtime.send(new InvokeModelCommand({ modelId, body: JSON.stringify(body), contentType: 'application/json', accept: 'application/json' }));
  expect(r.contentType).toBe('application/json');
  return JSON.parse(Buffer.from(r.body).toString('utf8'));
}

const user = (text: string) => ({ role: 'user' as const, content: [{ text }] });

const BODIES: Record<string, { modelId: string; family: keyof typeof FAMILIES; body: Record<string, unknown> }> = {
  anthropic: { modelId: HAIKU, family: 'anthropic', body: anthropicInput() },
  nova: { modelId: NOVA, family: 'nova', body: { messages: [user(TRANSCRIPT)], inferenceConfig: { maxTokens: 300 } } },
  llama: { modelId: LLAMA, family: 'llama', body: { prompt: `<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n${TRANSCRIPT}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n`, max_gen_len: 300 } },
  'titan-text': { modelId: TITAN, family: 'titan-text', body: { inputText: `User: ${TRANSCRIPT}\nBot:`, textGenerationConfig: { maxTokenCount: 300 } } },
  mistral: { modelId: MISTRAL, family: 'mistral', body: { prompt: `<s>[INST] ${TRANSCRIPT} [/INST]`, max_tokens: 300 } },
};

describe('InvokeModel', () => {
  it.each(Object.keys(BODIES))('answers a %s body in its own response shape, the stand-in named', async (name) => {
    const { modelId, family, body } = BODIES[name]!;
    const output = await invoke(modelId, body);
    const f = FAMILIES[family];
    expect(f.ownsOutput(output) || (f.sharesOutputShapeWith !== undefined && FAMILIES[f.sharesOutputShapeWith].ownsOutput(output))).toBe(true);
    const read = f.readOutput(output);
    expect(read.text).toContain('[local stand-in]');
    expect(read.text).toContain('processed a refund');
  });

  it("sends Bedrock's token and latency headers with the answer (plain HTTP/1.1 too), equal to the body's usage", async () => {
    const res = await fetch(`${local.endpoint}/model/${encodeURIComponent(HAIKU)}/invoke`, {
      method: 'POST',
      headers: { authorization: 'Bearer local', 'content-type': 'application/json' },
      body: JSON.stringify(anthropicInput()),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-amzn-requestid')).toBeTruthy();
    const body = (await res.json()) as { usage: { input_tokens: number; output_tokens: number } };
    expect(Number(res.headers.get('x-amzn-bedrock-input-token-count'))).toBe(body.usage.input_tokens);
    expect(Number(res.headers.get('x-amzn-bedrock-output-token-count'))).toBe(body.usage.output_tokens);
    expect(res.headers.get('x-amzn-bedrock-invocation-latency')).toMatch(/^\d+$/);
  });

  it('gives the same answer to the same body, every time', async () => {
    const a = await invoke(HAIKU, anthropicInput());
    const b = await invoke(HAIKU, anthropicInput());
    expect(b).toEqual(a);
  });

  it('stops at the output budget as a model would (stop_reason max_tokens)', async () => {
    const out = await invoke(HAIKU, anthropicInput(TRANSCRIPT, 5));
    expect(out.stop_reason).toBe('max_tokens');
    expect(out.usage.output_tokens).toBeLessThanOrEqual(5);
  });

  it('refuses a body the model would refuse with a ValidationException 400 naming the field', async () => {
    const f = await failure(runtime.send(new InvokeModelCommand({ modelId: HAIKU, body: JSON.stringify({ ...anthropicInput(), modelId: HAIKU }) })));
    expect(f).toMatchObject({ name: 'ValidationException', status: 400, fault: 'client' });
    expect(f.message).toMatch(/^Malformed input request: #\/modelId: not a key of this request/);
    const notJson = await failure(runtime.send(new InvokeModelCommand({ modelId: HAIKU, body: '{"anthropic_version":' })));
    expect(notJson.name).toBe('ValidationException');
    expect(notJson.message).toContain('not valid JSON');
  });
});

describe('model ids', () => {
  it('takes a base id, a cross-region profile id and ARNs, percent-encoded in the path', async () => {
    const expected = await invoke(HAIKU, anthropicInput());
    for (const id of [`us.${HAIKU}`, `arn:aws:bedrock:us-east-1::foundation-model/${HAIKU}`, `arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.${HAIKU}`]) {
      const out = await invoke(id, anthropicInput());
      expect(out.content, id).toEqual(expected.content);
    }
    // a profile-only model by its profile
    const premier = await invoke('us.amazon.nova-premier-v1:0', BODIES.nova!.body);
    expect(premier.output.message.content[0].text).toContain('[local stand-in]');
  });

  it('refuses what Bedrock refuses: an unknown id, a profile-only model by its own id, a profile of another geography, a malformed id', async () => {
    const unknown = await failure(runtime.send(new InvokeModelCommand({ modelId: 'anthropic.claude-nope-v1:0', body: JSON.stringify(anthropicInput()) })));
    expect(unknown).toMatchObject({ name: 'ValidationException', status: 400 });
    expect(unknown.message).toMatch(/^The provided model identifier is invalid\./);
    expect(unknown.message).toContain('--allow-model');
    const premier = await failure(runtime.send(new ConverseCommand({ modelId: 'amazon.nova-premier-v1:0', messages: [user('hello there')] })));
    expect(premier.message).toMatch(/^Invocation of model ID amazon\.nova-premier-v1:0 with on-demand throughput isn’t supported/);
    const eu = await failure(runtime.send(new InvokeModelCommand({ modelId: `eu.${HAIKU}`, body: JSON.stringify(anthropicInput()) })));
    expect(eu.message).toMatch(/^The provided model identifier is invalid\./);
    const otherRegion = await failure(runtime.send(new InvokeModelCommand({ modelId: `arn:aws:bedrock:eu-west-1::foundation-model/${HAIKU}`, body: '{}' })));
    expect(otherRegion.message).toMatch(/^The provided model identifier is invalid\./);
    const malformed = await failure(runtime.send(new InvokeModelCommand({ modelId: 'claude haiku', body: '{}' })));
    expect(malformed.message).toMatch(/^1 validation error detected: Value 'claude haiku' at 'modelId' failed to satisfy constraint/);
  });

  it('reads the family of an opaque ARN (custom model, application profile) from the body, as batch does', async () => {
    const arn = 'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abcdef123456';
    const out = await invoke(arn, anthropicInput());
    expect(FAMILIES.anthropic.readOutput(out).text).toContain('[local stand-in]');
  });

  it('names the streaming operations it does not serve', async () => {
    const res = await fetch(`${local.endpoint}/model/${encodeURIComponent(HAIKU)}/invoke-with-response-stream`, {
      method: 'POST',
      headers: { authorization: 'Bearer local' },
      body: JSON.stringify(anthropicInput()),
    });
    expect(res.status).toBe(404);
    expect(res.headers.get('x-amzn-errortype')).toBe('UnknownOperationException');
    expect(((await res.json()) as { message: string }).message).toMatch(/^InvokeModelWithResponseStream .* is not served by the local service: use InvokeModel/);
  });
});

describe('Converse', () => {
  it('answers {output:{message}}, stopReason, usage and metrics for any model', async () => {
    for (const modelId of [HAIKU, NOVA, `us.${LLAMA}`, TITAN]) {
      const r = await runtime.send(new ConverseCommand({ modelId, system: [{ text: 'Summarise the call.' }], messages: [user(TRANSCRIPT)], inferenceConfig: { maxTokens: 200, temperature: 0.2 } }));
      expect(r.output?.message?.role, modelId).toBe('assistant');
      expect(r.output?.message?.content?.[0]?.text, modelId).toContain('[local stand-in] Reason:');
      expect(r.stopReason, modelId).toBe('end_turn');
      expect(r.usage!.totalTokens).toBe(r.usage!.inputTokens! + r.usage!.outputTokens!);
      expect(r.metrics?.latencyMs).toBeGreaterThanOrEqual(0);
    }
  });

  it('calls a forced tool with fields of its schema (toolUse, stopReason tool_use): the runtime takes toolConfig, batch does not', async () => {
    const r = await runtime.send(
      new ConverseCommand({
        modelId: NOVA,
        messages: [user(TRANSCRIPT)],
        toolConfig: { tools: [{ toolSpec: { name: CALL_INSIGHTS_NAME, inputSchema: { json: CALL_INSIGHTS as any } } }], toolChoice: { tool: { name: CALL_INSIGHTS_NAME } } },
      }),
    );
    expect(r.stopReason).toBe('tool_use');
    const use = r.output?.message?.content?.[0]?.toolUse;
    expect(use?.name).toBe(CALL_INSIGHTS_NAME);
    expect(Object.keys(use?.input as object).sort()).toEqual(Object.keys((CALL_INSIGHTS as any).properties).sort());
    const missing = await failure(
      runtime.send(new ConverseCommand({ modelId: NOVA, messages: [user('hello there')], toolConfig: { tools: [{ toolSpec: { name: 'a', inputSchema: { json: {} } } }], toolChoice: { tool: { name: 'b' } } } })),
    );
    expect(missing.name).toBe('ValidationException');
    expect(missing.message).toContain('#/toolConfig/toolChoice/tool/name: no tool named "b"');
  });

  it('refuses turns out of order as the batch check does', async () => {
    const f = await failure(runtime.send(new ConverseCommand({ modelId: NOVA, messages: [{ role: 'assistant', content: [{ text: 'hi' }] }] })));
    expect(f.name).toBe('ValidationException');
    expect(f.message).toMatch(/^Malformed input request: #\/messages/);
  });
});

describe('CountTokens', () => {
  it("counts what InvokeModel and Converse bill as input (the body goes base64, as the SDK sends a blob)", async () => {
    const body = anthropicInput();
    const billed = (await invoke(HAIKU, body)).usage.input_tokens;
    const counted = await runtime.send(new CountTokensCommand({ modelId: HAIKU, input: { invokeModel: { body: new TextEncoder().encode(JSON.stringify(body)) } } }));
    expect(counted.inputTokens).toBe(billed);
    const conv = await runtime.send(new ConverseCommand({ modelId: HAIKU, system: [{ text: 'Be brief.' }], messages: [user(TRANSCRIPT)] }));
    const conCount = await runtime.send(new CountTokensCommand({ modelId: `arn:aws:bedrock:us-east-1::foundation-model/${HAIKU}`, input: { converse: { system: [{ text: 'Be brief.' }], messages: [user(TRANSCRIPT)] } } }));
    expect(conCount.inputTokens).toBe(conv.usage!.inputTokens);
  });

  it("refuses Nova, cross-region profile ids and other families: \"The provided model doesn't support counting tokens\"", async () => {
    for (const modelId of [NOVA, `us.${HAIKU}`, LLAMA]) {
      const f = await failure(runtime.send(new CountTokensCommand({ modelId, input: { converse: { messages: [user('hello there')] } } })));
      expect(f, modelId).toMatchObject({ name: 'ValidationException', status: 400, message: "The provided model doesn't support counting tokens." });
    }
    const bad = await failure(runtime.send(new CountTokensCommand({ modelId: HAIKU, input: { invokeModel: { body: new TextEncoder().encode(JSON.stringify({ max_tokens: 10 })) } } })));
    expect(bad.message).toMatch(/^Malformed input request: .*anthropic_version: required/);
  });
});

/** An Anthropic answer without its ids (the message's and a tool call's: each answer's own). */
function withoutIds(output: Record<string, any>): Record<string, unknown> {
  const { id, ...rest } = output;
  void id;
  return { ...rest, content: (rest.content as Record<string, unknown>[]).map(({ id: blockId, ...block }) => (void blockId, block)) };
}

describe('the same answers as a batch job', () => {
  it('gives each record the modelOutput the batch job wrote for it (but the answer id and latency), and its error as a ValidationException', async () => {
    const schemaRecord = FAMILIES.anthropic.buildInput(
      { prompt: TRANSCRIPT },
      { modelId: HAIKU, maxTokens: 800, structured: { schema: CALL_INSIGHTS as Record<string, unknown>, name: CALL_INSIGHTS_NAME, via: 'tool' } },
    );
    const records: Record<string, unknown>[] = [
      anthropicInput(),
      anthropicInput(TRANSCRIPT.replace('wrong charge', 'late parcel'), 40),
      schemaRecord,
      { ...anthropicInput(), temperature: 3 }, // refused by the model
    ];
    const conv = [
      { messages: [user(TRANSCRIPT)], inferenceConfig: { maxTokens: 300 } },
      { system: [{ text: 'One line.' }], messages: [user(TRANSCRIPT)], inferenceConfig: { maxTokens: 12 } },
    ];
    const line = (modelInput: unknown, i: number) => JSON.stringify({ recordId: `RT${String(i).padStart(9, '0')}`, modelInput }) + '\n';
    await put(root, 'in-bucket/native/a.jsonl', records.map(line).join(''));
    await put(root, 'in-bucket/conv/a.jsonl', conv.map(line).join(''));
    await put(root, 'out-bucket/.keep', '');
    const control = clientOf(local);
    try {
      const outputs = async (name: string, prefix: string, over: Record<string, unknown>) => {
        const { jobArn } = await control.send(
          new CreateModelInvocationJobCommand(createInput({ jobName: name, inputDataConfig: { s3InputDataConfig: { s3Uri: `s3://in-bucket/${prefix}/` } }, ...over })),
        );
        expect((await waitFor(control, jobArn!, ['Completed', 'Failed'])).status).toBe('Completed');
        const dir = join(root, 'out-bucket', 'results', jobArn!.split('/').pop()!);
        expect(await readdir(dir)).toContain('a.jsonl.out');
        return (await readFile(join(dir, 'a.jsonl.out'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
      };
      const native = await outputs('same-native', 'native', {});
      expect(native).toHaveLength(records.length);
      for (const [i, out] of native.entries()) {
        if (out.error) {
          const f = await failure(runtime.send(new InvokeModelCommand({ modelId: HAIKU, body: JSON.stringify(records[i]) })));
          expect(f.name).toBe('ValidationException');
          expect(f.message).toBe(out.error.errorMessage);
          continue;
        }
        const answer = await invoke(HAIKU, records[i]);
        expect(withoutIds(answer), `record ${i}`).toEqual(withoutIds(out.modelOutput));
        expect(answer.id).toMatch(/^msg_bdrk_local_/);
        expect(out.modelOutput.id).not.toBe(answer.id); // the answer id is the record's
      }
      expect(native.filter((o) => o.error)).toHaveLength(1);
      expect(native[2].modelOutput.content[0].type).toBe('tool_use');
      const converse = await outputs('same-converse', 'conv', { modelInvocationType: 'Converse', modelId: NOVA });
      for (const [i, out] of converse.entries()) {
        const r = await runtime.send(new ConverseCommand({ modelId: NOVA, ...(conv[i] as any) }));
        expect({ output: r.output, stopReason: r.stopReason, usage: r.usage }, `record ${i}`).toEqual({
          output: out.modelOutput.output,
          stopReason: out.modelOutput.stopReason,
          usage: out.modelOutput.usage,
        });
      }
      expect(converse[1].modelOutput.stopReason).toBe('max_tokens');
    } finally {
      control.destroy();
    }
  });
});
