/**
 * What the local Bedrock Runtime does to a caller besides answering (docs/bedrock.md §7.3), through
 * the real `@aws-sdk/client-bedrock-runtime`: requests and tokens per minute per model (input plus
 * the output budget at the start, settled to what was used), the `throttle`, `server-errors`,
 * `record-errors` and `invalid-fields` faults (seeded; a retry draws again), the counters, and the
 * per-record delay, which a closing service cuts short.
 */
import { BedrockRuntimeClient, ConverseCommand, CountTokensCommand, InvokeModelCommand } from '@aws-sdk/client-bedrock-runtime';
import { Ajv } from 'ajv';
import { afterEach, describe, expect, it } from 'vitest';
import { localClientConfig, startLocalService, type LocalService, type StartLocalServiceOptions } from '../../src/local/server.js';
import { FAMILIES } from '../../src/models/index.js';
import { CALL_INSIGHTS, CALL_INSIGHTS_NAME } from '../../src/schema/call-insights.js';
import { anthropicInput, failure, HAIKU, TRANSCRIPT } from './helpers.js';

const NOVA = 'amazon.nova-lite-v1:0';
const started: { local: LocalService; client: BedrockRuntimeClient }[] = [];
afterEach(async () => {
  for (const { local, client } of started.splice(0)) {
    client.destroy();
    await local.close();
  }
});

async function start(options: StartLocalServiceOptions = {}): Promise<{ local: LocalService; client: BedrockRuntimeClient }> {
  const local = await startLocalService({ stateFile: false, ...options });
  const client = new BedrockRuntimeClient({ ...localClientConfig(local.endpoint), maxAttempts: 1 });
  started.push({ local, client });
  return { local, client };
}

const invokeCmd = (body: Record<string, unknown> = anthropicInput(), modelId = HAIKU) => new InvokeModelCommand({ modelId, body: JSON.stringify(body) });

/** The outcome of a call: 'ok' or the exception's name. */
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return (err as Error).name;
  }
}

describe('requests per minute', () => {
  it('answers 5 requests a minute for a model and throttles the 6th, other models and CountTokens apart', async () => {
    const { local, client } = await start({ runtime: { rpm: 5, minuteMs: 60_000 } });
    for (let i = 0; i < 5; i++) await client.send(invokeCmd());
    const sixth = await failure(client.send(invokeCmd()));
    expect(sixth).toMatchObject({ name: 'ThrottlingException', status: 429, message: 'Too many requests, please wait before trying again.' });
    // a profile is another quota than the base id; another model too; counting tokens is not an inference
    await client.send(invokeCmd(anthropicInput(), `us.${HAIKU}`));
    await client.send(new ConverseCommand({ modelId: NOVA, messages: [{ role: 'user', content: [{ text: 'hello there' }] }] }));
    await client.send(new CountTokensCommand({ modelId: HAIKU, input: { converse: { messages: [{ role: 'user', content: [{ text: 'hello there' }] }] } } }));
    const stats = local.service.runtimeStats();
    expect(stats.byModel[HAIKU]).toMatchObject({ requests: 7, answered: 6, throttled: 1, errors: 0 });
    expect(stats.byModel[`us.${HAIKU}`]).toMatchObject({ requests: 1, answered: 1 });
    expect(stats).toMatchObject({ requests: 9, answered: 8, throttled: 1, errors: 0 });
    expect(stats.byOperation.CountTokens).toMatchObject({ requests: 1, answered: 1, outputTokens: 0 });
  });

  it('lets a model in again once its oldest requests are a minute old (a short minute)', async () => {
    const minuteMs = 400;
    const { client } = await start({ runtime: { rpm: 2, minuteMs } });
    await client.send(invokeCmd());
    await client.send(invokeCmd());
    expect(await outcome(client.send(invokeCmd()))).toBe('ThrottlingException');
    await new Promise((r) => setTimeout(r, minuteMs + 50));
    expect(await outcome(client.send(invokeCmd()))).toBe('ok');
  });
});

describe('tokens per minute', () => {
  it('counts the input and the whole output budget at the start, then what was used: "Too many tokens" once the minute is full', async () => {
    const { local, client } = await start({ runtime: { tpm: 1000 } });
    const body = anthropicInput(TRANSCRIPT, 600); // 82 input tokens + a budget of 600; answers with 52
    const first = JSON.parse(Buffer.from((await client.send(invokeCmd(body))).body).toString());
    const used = first.usage.input_tokens + first.usage.output_tokens;
    const asks = first.usage.input_tokens + 600;
    expect(used).toBeLessThan(asks);
    // each answered request leaves `used` in the minute; the next fits while used * n + asks <= 1000
    const fit = Math.floor((1000 - asks) / used) + 1;
    expect(fit).toBeGreaterThan(1); // settling matters: without it only one request would fit
    for (let i = 1; i < fit; i++) await client.send(invokeCmd(body));
    const over = await failure(client.send(invokeCmd(body)));
    expect(over).toMatchObject({ name: 'ThrottlingException', status: 429, message: 'Too many tokens, please wait before trying again.' });
    // a smaller budget still fits in what is left
    expect(1000 - fit * used).toBeGreaterThanOrEqual(first.usage.input_tokens + 20);
    await client.send(invokeCmd(anthropicInput(TRANSCRIPT, 20)));
    expect(local.service.runtimeStats().byModel[HAIKU]).toMatchObject({ answered: fit + 1, throttled: 1 });
  });

  it('throttles a request whose budget alone is over the cap, as Bedrock does', async () => {
    const { client } = await start({ runtime: { tpm: 500 } });
    expect(await outcome(client.send(invokeCmd(anthropicInput(TRANSCRIPT, 600))))).toBe('ThrottlingException');
  });

  it('refuses caps that are not whole numbers of at least 1', async () => {
    await expect(startLocalService({ stateFile: false, runtime: { rpm: 0 } })).rejects.toThrow(/runtime\.rpm must be a whole number of at least 1/);
    await expect(startLocalService({ stateFile: false, runtime: { tpm: 1.5 } })).rejects.toThrow(/runtime\.tpm/);
  });
});

describe('faults', () => {
  it('throttle=0.5 throttles about half the requests, the same ones for the same seed, and counts them', async () => {
    const run = async () => {
      const { local, client } = await start({ faults: { throttle: 0.5, seed: 7 } });
      const outcomes: string[] = [];
      for (let i = 0; i < 60; i++) outcomes.push(await outcome(client.send(invokeCmd(anthropicInput(`${TRANSCRIPT} ${i}`)))));
      return { outcomes, stats: local.service.runtimeStats() };
    };
    const a = await run();
    const throttled = a.outcomes.filter((o) => o === 'ThrottlingException').length;
    expect(throttled).toBeGreaterThan(15);
    expect(throttled).toBeLessThan(45);
    expect(a.outcomes.filter((o) => o !== 'ok' && o !== 'ThrottlingException')).toEqual([]);
    expect(a.stats).toMatchObject({ requests: 60, throttled, answered: 60 - throttled, errors: 0 });
    expect((await run()).outcomes).toEqual(a.outcomes);
  });

  it('record-errors=0.3 answers about that share with ModelErrorException 424; the same body asked again draws again', async () => {
    const { local, client } = await start({ faults: { recordErrors: 0.3, seed: 3 } });
    const bodies = Array.from({ length: 60 }, (_, i) => anthropicInput(`${TRANSCRIPT} ${i}`));
    const failed: Record<string, unknown>[] = [];
    for (const body of bodies) {
      try {
        await client.send(invokeCmd(body));
      } catch (err) {
        const e = err as Error & { $metadata: { httpStatusCode: number }; originalStatusCode?: number; resourceName?: string };
        expect(e.name).toBe('ModelErrorException');
        expect(e.$metadata.httpStatusCode).toBe(424);
        expect(e.originalStatusCode).toBe(500);
        expect(e.resourceName).toBe(HAIKU);
        expect(e.message).toContain('(local fault injection)');
        failed.push(body);
      }
    }
    expect(failed.length).toBeGreaterThan(8);
    expect(failed.length).toBeLessThan(32);
    // retries: each failed body succeeds within a few attempts (each attempt is a new draw)
    let retries = 0;
    for (const body of failed) {
      for (let attempt = 0; ; attempt++) {
        expect(attempt).toBeLessThan(20);
        retries++;
        if ((await outcome(client.send(invokeCmd(body)))) === 'ok') break;
      }
    }
    // errors: the first failures and the failed retries (retries counts each body's last, answered try)
    expect(local.service.runtimeStats()).toMatchObject({ requests: 60 + retries, answered: 60, errors: retries });
    expect(retries).toBeGreaterThan(failed.length - 1);
  });

  it('invalid-fields=1 spoils every schema answer (a field missing or out of its enum); without it they validate', async () => {
    const ajv = new Ajv({ allErrors: true, strict: false });
    const valid = ajv.compile(CALL_INSIGHTS as Record<string, unknown>);
    const body = FAMILIES.anthropic.buildInput(
      { prompt: TRANSCRIPT },
      { modelId: HAIKU, maxTokens: 800, structured: { schema: CALL_INSIGHTS as Record<string, unknown>, name: CALL_INSIGHTS_NAME, via: 'tool' } },
    );
    const fieldsOf = async (client: BedrockRuntimeClient) => FAMILIES.anthropic.readOutput(JSON.parse(Buffer.from((await client.send(invokeCmd(body))).body).toString())).toolInput;
    const plain = await start();
    expect(valid(await fieldsOf(plain.client))).toBe(true);
    const spoiled = await start({ faults: { invalidFields: 1 } });
    for (let i = 0; i < 4; i++) expect(valid(await fieldsOf(spoiled.client))).toBe(false);
    // a body that asks for no schema is answered as it is
    const text = JSON.parse(Buffer.from((await spoiled.client.send(invokeCmd())).body).toString());
    expect(text.content[0].text).toContain('[local stand-in]');
  });

  it('server-errors=1 answers InternalServerException 500, counted as errors', async () => {
    const { local, client } = await start({ faults: { serverErrors: 1 } });
    expect(await failure(client.send(invokeCmd()))).toMatchObject({ name: 'InternalServerException', status: 500, fault: 'server' });
    expect(local.service.runtimeStats()).toMatchObject({ requests: 1, answered: 0, errors: 1 });
  });
});

describe('the per-record delay', () => {
  it('holds each answer back, and a closing service cuts it short', async () => {
    const { local, client } = await start({ delays: { record: 120_000 } });
    const pending = outcome(client.send(invokeCmd()));
    // wait until the request is in (counted), then close: close must not wait out the delay
    for (let i = 0; local.service.runtimeStats().requests === 0; i++) {
      expect(i).toBeLessThan(2000);
      await new Promise((r) => setTimeout(r, 5));
    }
    await local.close();
    expect(await pending).not.toBe('ok');
    // the request itself ends (not only its connection): the delay was cut short, not waited out
    for (let i = 0; local.service.runtimeStats().errors === 0; i++) {
      expect(i, 'the delayed request never ended').toBeLessThan(2000);
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(local.service.runtimeStats()).toMatchObject({ requests: 1, answered: 0, errors: 1 });
  });
});
