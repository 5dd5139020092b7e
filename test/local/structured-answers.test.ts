/**
 * The local stand-in's answers to schema requests (src/local/structured.ts): fields that validate
 * (ajv, as collect validates them) against the built-in call-insights schema and random schemas of
 * the supported subset, read from English and Spanish calls by keyword rules, the same every time;
 * and the `invalid-fields` fault, whose answers fail validation for about its share of the records
 * and draw again in a retry job. End to end: each family's schema request through the real
 * @aws-sdk/client-bedrock against the local service, answered in that family's shape.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateModelInvocationJobCommand } from '@aws-sdk/client-bedrock';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { mulberry32, type Random } from '../../src/core/random.js';
import { normalizeFaults, parseFaults, unitHash } from '../../src/local/faults.js';
import { extractiveSummariser } from '../../src/local/models.js';
import { FIELD_LABEL, spoilAnswer, spoilFields, withoutInstruction } from '../../src/local/structured.js';
import type { FamilyName, StructuredVia } from '../../src/models/family.js';
import { FAMILIES } from '../../src/models/index.js';
import type { ModelAnswer, ModelRequest } from '../../src/models/local-double.js';
import { CALL_INSIGHTS, CALL_INSIGHTS_NAME } from '../../src/schema/call-insights.js';
import { jsonInstruction } from '../../src/schema/instruction.js';
import { quotaProfile } from '../../src/bedrock/quotas.js';
import { useTempDir } from '../support/temp.js';
import { createInput, put, useLocalService, waitFor } from './helpers.js';

const ajv = new Ajv({ allErrors: true, strict: false });
const INSIGHTS = CALL_INSIGHTS as Record<string, unknown>;
const validInsights = ajv.compile(INSIGHTS);

const FIXTURE_CALLS = readFileSync(new URL('../../fixtures/calls.jsonl', import.meta.url), 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l).transcript as string);

const SPANISH_CALLS = [
  [
    'Agente: Buenos días, gracias por llamar. ¿En qué le puedo ayudar?',
    'Cliente: Hola, llamo porque me han hecho un cobro duplicado en la factura de este mes.',
    'Agente: Lo siento mucho, déjeme revisar su cuenta un momento.',
    'Agente: He procesado el reembolso del cargo duplicado, ya está solucionado.',
    'Agente: Recibirá el dinero en unos cinco días hábiles y le llamaremos para confirmar.',
    'Cliente: Perfecto, muchas gracias por su ayuda.',
  ].join('\n'),
  [
    'Agente: Buenas tardes, soy Laura, ¿en qué puedo ayudarle?',
    'Cliente: Estoy muy molesto, quiero cancelar mi contrato de internet ya mismo.',
    'Agente: Entiendo, lamento la situación. ¿Me indica el motivo de la baja?',
    'Cliente: El servicio no funciona desde hace una semana y nadie lo arregla.',
    'Agente: He cancelado su contrato con fecha de hoy y le enviaremos la confirmación por correo.',
    'Cliente: Vale, gracias.',
  ].join('\n'),
  [
    'Cliente: Hola, el router no funciona y no tengo conexión desde ayer, es urgente.',
    'Agente: Vamos a reiniciar el equipo de forma remota, un momento por favor.',
    'Agente: Sigue sin conexión, así que lo escalo al equipo técnico.',
    'Agente: Un técnico le llamará mañana por la mañana para seguimiento.',
    'Cliente: De acuerdo, espero que lo arreglen pronto, estoy harto.',
  ].join('\n'),
];

const ALL_CALLS = [...FIXTURE_CALLS, ...SPANISH_CALLS];

const model = extractiveSummariser();
const context = { modelId: 'anthropic.claude-3-haiku-20240307-v1:0', recordId: 'REC00000001', signal: new AbortController().signal };

function ask(transcript: string, schema: Record<string, unknown>, via: StructuredVia = 'tool', extra: Partial<ModelRequest> = {}): ModelRequest {
  return { turns: [{ role: 'user', text: `Summarise this call.\n<transcript>\n${transcript}\n</transcript>` }], maxTokens: 4000, structured: { schema, via, name: CALL_INSIGHTS_NAME }, ...extra };
}

async function fields(request: ModelRequest): Promise<Record<string, unknown>> {
  const answer = await model.answer(request, context);
  return (request.structured?.via === 'tool' ? answer.tool!.input : JSON.parse(answer.text)) as Record<string, unknown>;
}

/** Every string in a value that no enum of the schema gives, with its place. */
function freeStrings(value: unknown, schema: Record<string, unknown>, at = '#'): [string, string][] {
  if (Array.isArray(schema.enum)) return [];
  if (typeof value === 'string') return [[at, value]];
  if (Array.isArray(value)) return value.flatMap((v, i) => freeStrings(v, (schema.items ?? {}) as Record<string, unknown>, `${at}/${i}`));
  if (value && typeof value === 'object') {
    const props = (schema.properties ?? {}) as Record<string, Record<string, unknown>>;
    return Object.entries(value).flatMap(([k, v]) => freeStrings(v, props[k] ?? {}, `${at}/${k}`));
  }
  return [];
}

describe('answers to schema requests', () => {
  it('validate against the built-in call-insights schema, every way, for the sample calls and Spanish calls', async () => {
    for (const transcript of ALL_CALLS) {
      for (const via of ['tool', 'native', 'prompt'] as const) {
        const request = ask(transcript, INSIGHTS, via);
        const answer = await model.answer(request, context);
        if (via === 'tool') {
          expect(answer.text).toBe('');
          expect(answer.tool!.name).toBe(CALL_INSIGHTS_NAME);
        } else {
          expect(answer.tool).toBeUndefined();
        }
        expect(answer.stop).toBe('end');
        expect(answer.outputTokens).toBeGreaterThan(10);
        const f = via === 'tool' ? answer.tool!.input : JSON.parse(answer.text);
        expect(validInsights(f), JSON.stringify(validInsights.errors)).toBe(true);
        expect(Object.keys(f as object).sort()).toEqual(Object.keys(INSIGHTS.properties as object).sort());
        // Free text is labelled as the stand-in's and taken from the call.
        const free = freeStrings(f, INSIGHTS);
        expect(free.length).toBeGreaterThan(2);
        for (const [, s] of free) expect(s.startsWith(FIELD_LABEL)).toBe(true);
        const reason = (f as { reason: string }).reason.slice(FIELD_LABEL.length);
        expect(transcript.replace(/\*[^*\n]{1,60}\*/g, ' ').replace(/\s+/g, ' ')).toContain(reason);
      }
    }
  });

  it('validate against random schemas of the supported subset', async () => {
    const r = mulberry32(20261207);
    let checked = 0;
    for (let n = 0; n < 300; n++) {
      const schema = randomSchema(r);
      const validate = ajv.compile(schema);
      for (const transcript of [ALL_CALLS[n % ALL_CALLS.length]!, SPANISH_CALLS[n % SPANISH_CALLS.length]!]) {
        for (const via of ['tool', 'native'] as const) {
          const f = await fields(ask(transcript, schema, via));
          expect(validate(f), `${JSON.stringify(schema)}\n${JSON.stringify(f)}\n${JSON.stringify(validate.errors)}`).toBe(true);
          expect(Object.keys(f).sort()).toEqual(Object.keys(schema.properties as object).sort());
          checked++;
        }
      }
    }
    expect(checked).toBe(1200);
  });

  it('read the call by keyword rules in English and Spanish', async () => {
    const cases: [string, Partial<Record<string, unknown>>][] = [
      [
        "Customer: Hi, I'm calling because I was charged twice on my last bill.\nAgent: Let me check that for you.\nAgent: I've refunded the duplicate charge, it's resolved now.\nCustomer: Great, thank you so much!",
        { reason_category: 'billing', resolved: true, sentiment_end: 'positive' },
      ],
      [
        'Cliente: Hola, llamo porque hay un cobro que no reconozco en mi factura.\nAgente: Déjeme revisarlo.\nAgente: Ya está solucionado, hemos anulado el cargo.\nCliente: Perfecto, muchas gracias.',
        { reason_category: 'billing', resolved: true, sentiment_end: 'positive' },
      ],
      [
        "Customer: I'm so frustrated, I want to cancel my subscription today.\nAgent: I'm sorry to hear that.\nAgent: I have cancelled it and a supervisor will call you back tomorrow.\nCustomer: Fine.",
        { reason_category: 'cancellation', follow_up_needed: true, sentiment_start: 'negative' },
      ],
      [
        'Cliente: Estoy harto, quiero cancelar mi suscripción.\nAgente: Lamento oír eso.\nAgente: Ya la he cancelado y le llamaremos mañana para confirmar.\nCliente: Bien.',
        { reason_category: 'cancellation', follow_up_needed: true, sentiment_start: 'negative' },
      ],
      [
        "Customer: My internet is not working since yesterday.\nAgent: Let me restart your router remotely.\nAgent: It's still not working, so I'm escalating this to our technicians.\nCustomer: I'm really upset about this.",
        { reason_category: 'technical_support', resolved: false, sentiment_end: 'negative' },
      ],
      [
        'Cliente: No funciona la conexión a internet desde ayer.\nAgente: Voy a reiniciar el router.\nAgente: Sigue sin conexión, todavía no está resuelto, lo escalo al equipo técnico.\nCliente: Estoy muy molesto.',
        { reason_category: 'technical_support', resolved: false, sentiment_end: 'negative' },
      ],
    ];
    for (const [transcript, want] of cases) {
      const f = await fields(ask(transcript, INSIGHTS));
      expect(validInsights(f)).toBe(true);
      expect(f, transcript).toMatchObject(want);
    }
    // Topics are English keywords whatever the call's language, so calls count together.
    const es = await fields(ask(SPANISH_CALLS[0]!, INSIGHTS));
    expect(es.topics).toContain(`${FIELD_LABEL}billing`);
    expect(es.next_steps).toEqual([`${FIELD_LABEL}Recibirá el dinero en unos cinco días hábiles y le llamaremos para confirmar.`]);
    expect(es.next_step_owner).toBe('agent');
    // Enums of other names follow the same rules: the values' own words and their topics.
    const schema = {
      type: 'object',
      properties: {
        queue: { type: 'string', enum: ['shipping', 'returns', 'billing', 'other'] },
        call_back: { type: 'boolean' },
        topics: { type: 'array', items: { type: 'string', enum: ['refund', 'delivery', 'account', 'promotion'] }, minItems: 1, maxItems: 2 },
      },
      required: ['queue', 'call_back', 'topics'],
      additionalProperties: false,
    };
    const delivery = await fields(
      ask("Customer: My package never arrived and the tracking hasn't moved in a week.\nAgent: I'll reship it today and follow up by email.", schema),
    );
    expect(delivery).toEqual({ queue: 'shipping', call_back: true, topics: ['delivery'] });
    const returns = await fields(ask('Cliente: Quiero hacer una devolución, el producto llegó dañado.\nAgente: Le enviaremos la etiqueta de devolución.', schema));
    expect(returns.queue).toBe('returns');
  });

  it('are the same for the same request, and differ between calls', async () => {
    const seen = new Set<string>();
    for (const transcript of ALL_CALLS) {
      const a = await model.answer(ask(transcript, INSIGHTS), context);
      const b = await model.answer(ask(transcript, INSIGHTS), { ...context, recordId: 'OTHER000001' });
      expect(b).toEqual(a);
      seen.add(JSON.stringify(a.tool!.input));
    }
    expect(seen.size).toBe(ALL_CALLS.length);
    // A field no rule decides is a hash of the call and its place: the same each time, not always the same value.
    const schema = { type: 'object', properties: { colour: { type: 'string', enum: ['red', 'green', 'blue', 'amber'] }, n: { type: 'integer', minimum: 1, maximum: 1000 } } };
    const picks = await Promise.all(ALL_CALLS.map((t) => fields(ask(t, schema))));
    expect(new Set(picks.map((p) => p.colour)).size).toBeGreaterThan(1);
    expect(new Set(picks.map((p) => p.n)).size).toBeGreaterThan(5);
    expect(await Promise.all(ALL_CALLS.map((t) => fields(ask(t, schema))))).toEqual(picks);
  });

  it('read the call, not the schema, in a prompt-way request', async () => {
    const noisy = {
      type: 'object',
      description: 'billing billing invoice charge payment billing',
      properties: { category: { type: 'string', enum: ['billing', 'cancellation'], description: 'billing means a bill, an invoice, a charge' } },
      required: ['category'],
    };
    const prompt = 'Customer: I want to cancel my plan, please cancel it today.\nAgent: Done, it is cancelled.';
    const request: ModelRequest = { turns: [{ role: 'user', text: `${prompt}\n${jsonInstruction(noisy)}` }], structured: { schema: noisy, via: 'prompt' } };
    expect(withoutInstruction(request.turns[0]!.text)).toBe(`${prompt}\n`);
    expect(JSON.parse((await model.answer(request, context)).text)).toEqual({ category: 'cancellation' });
  });

  it('name the tool as the request does ("answer" without a name) and stop at the output budget', async () => {
    const schema = { type: 'object', properties: { reason: { type: 'string' } }, required: ['reason'] };
    const unnamed: ModelRequest = { turns: [{ role: 'user', text: FIXTURE_CALLS[0]! }], structured: { schema, via: 'tool' } };
    expect((await model.answer(unnamed, context)).tool!.name).toBe('answer');
    const short = await model.answer({ ...ask(FIXTURE_CALLS[0]!, INSIGHTS, 'native'), maxTokens: 8 }, context);
    expect(short.stop).toBe('length');
    expect(short.outputTokens).toBeLessThanOrEqual(8);
    expect(() => JSON.parse(short.text)).toThrow();
    const tool = await model.answer({ ...ask(FIXTURE_CALLS[0]!, INSIGHTS, 'tool'), maxTokens: 8 }, context);
    expect(tool).toMatchObject({ stop: 'length', outputTokens: 8 });
  });

  it('leave requests without a schema to the summary', async () => {
    const answer = await model.answer({ turns: [{ role: 'user', text: `<transcript>${SPANISH_CALLS[0]}</transcript>` }] }, context);
    expect(answer.tool).toBeUndefined();
    expect(answer.text).toBe(
      '[local stand-in] Reason: Hola, llamo porque me han hecho un cobro duplicado en la factura de este mes.\n' +
        'Resolution: He procesado el reembolso del cargo duplicado, ya está solucionado.\n' +
        'Next steps: Recibirá el dinero en unos cinco días hábiles y le llamaremos para confirmar.',
    );
  });
});

describe('the invalid-fields fault', () => {
  it('is parsed and checked like the other rates', () => {
    expect(parseFaults(['invalid-fields=0.25', 'seed=4'])).toMatchObject({ invalidFields: 0.25, seed: 4 });
    expect(() => parseFaults(['invalid-fields=1.5'])).toThrow(/fault invalidFields must be a rate from 0 to 1, got 1.5/);
    expect(() => parseFaults(['invalid-fields=some'])).toThrow(/--fault invalid-fields=some: invalid-fields takes a number/);
    expect(() => normalizeFaults({ invalidFields: -0.1 })).toThrow(/invalidFields/);
  });

  it('spoils an answer so that it fails validation: a required property left out, or an enum value outside its enum', async () => {
    for (const transcript of ALL_CALLS) {
      const good = await fields(ask(transcript, INSIGHTS));
      const missing = spoilFields(good, INSIGHTS, 'missing');
      expect(validInsights(missing)).toBe(false);
      expect(validInsights.errors!.map((e) => e.keyword)).toEqual(['required']);
      const outside = spoilFields(good, INSIGHTS, 'enum');
      expect(validInsights(outside)).toBe(false);
      expect(validInsights.errors!.map((e) => e.keyword)).toEqual(['enum']);
      expect(validInsights(good)).toBe(true); // not changed in place
    }
    // A schema without the one falls back to the other, then to a wrong type, then to a non-object.
    const noRequired = { type: 'object', properties: { a: { type: 'string', enum: ['x'] } } };
    const noEnum = { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] };
    const neither = { type: 'object', properties: { n: { type: 'number' }, s: { type: 'string' } } };
    const nothing = { type: 'object', properties: {} };
    for (const schema of [noRequired, noEnum, neither, nothing]) {
      const validate = ajv.compile(schema);
      for (const how of ['missing', 'enum'] as const) {
        const good = await fields(ask(FIXTURE_CALLS[1]!, schema));
        expect(validate(good)).toBe(true);
        expect(validate(spoilFields(good, schema, how)), `${JSON.stringify(schema)} ${how}`).toBe(false);
      }
    }
    // Whole answers: a tool call's input, or the JSON of a text; a text that is not JSON stays.
    const tool = await model.answer(ask(FIXTURE_CALLS[2]!, INSIGHTS, 'tool'), context);
    expect(validInsights(spoilAnswer(tool, INSIGHTS, 'enum').tool!.input)).toBe(false);
    const text = await model.answer(ask(FIXTURE_CALLS[2]!, INSIGHTS, 'native'), context);
    expect(validInsights(JSON.parse(spoilAnswer(text, INSIGHTS, 'missing').text))).toBe(false);
    const prose: ModelAnswer = { text: 'not JSON', inputTokens: 1, outputTokens: 2, stop: 'end' };
    expect(spoilAnswer(prose, INSIGHTS, 'missing')).toBe(prose);
  });
});

// Through the service: the real SDK creates jobs, the service reads records and writes output lines.

const tmp = useTempDir('structured-answers-');
const service = useLocalService();

async function outputLines(jobArn: string, file = 'a.jsonl'): Promise<any[]> {
  const jobId = jobArn.split('/').pop()!;
  return (await readFile(join(tmp.dir, 'out-bucket', 'results', jobId, `${file}.out`), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
}

async function runJob(jobName: string, modelId: string, prefix: string, type: 'InvokeModel' | 'Converse' = 'InvokeModel'): Promise<any[]> {
  const { jobArn } = await service.client!.send(
    new CreateModelInvocationJobCommand(
      createInput({ jobName, modelId, modelInvocationType: type, inputDataConfig: { s3InputDataConfig: { s3Uri: `s3://in-bucket/${prefix}/` } } }),
    ),
  );
  expect((await waitFor(service.client!, jobArn!, ['Completed', 'PartiallyCompleted', 'Failed', 'Stopped', 'Expired'], 60_000)).status).toBe('Completed');
  return outputLines(jobArn!);
}

/** The answer a family's output holds: the forced tool's input, else the JSON of its text. */
function answerOf(family: FamilyName, output: Record<string, unknown>): unknown {
  const read = FAMILIES[family].readOutput(output);
  return read.toolInput !== undefined ? read.toolInput : JSON.parse(read.text!);
}

function records(n: number, input: (i: number) => Record<string, unknown>, tag = 'S'): string {
  let out = '';
  for (let i = 0; i < n; i++) out += JSON.stringify({ recordId: `${tag}${String(i).padStart(10, '0')}`, modelInput: input(i) }) + '\n';
  return out;
}

describe('through the local service', () => {
  it("answers each family's schema request in its own shape, with schema-valid fields", async () => {
    await put(tmp.dir, 'out-bucket/.keep', '');
    await service.start({ root: tmp.dir, quotas: quotaProfile('local', { maxJobsInFlight: 10 }) });
    const cases: { family: FamilyName; modelId: string; via: StructuredVia; type: 'InvokeModel' | 'Converse'; shape: (o: any) => void }[] = [
      {
        family: 'anthropic',
        modelId: 'anthropic.claude-3-haiku-20240307-v1:0',
        via: 'tool',
        type: 'InvokeModel',
        shape: (o) => {
          expect(o.content).toHaveLength(1);
          expect(o.content[0]).toMatchObject({ type: 'tool_use', name: CALL_INSIGHTS_NAME });
          expect(o.stop_reason).toBe('tool_use');
        },
      },
      {
        family: 'anthropic',
        modelId: 'anthropic.claude-sonnet-4-5-20250929-v1:0',
        via: 'native',
        type: 'InvokeModel',
        shape: (o) => {
          expect(o.content[0].type).toBe('text');
          expect(o.stop_reason).toBe('end_turn');
        },
      },
      {
        family: 'anthropic',
        modelId: 'anthropic.claude-3-haiku-20240307-v1:0',
        via: 'prompt',
        type: 'InvokeModel',
        shape: (o) => expect(o.content[0].type).toBe('text'),
      },
      {
        family: 'nova',
        modelId: 'amazon.nova-lite-v1:0',
        via: 'tool',
        type: 'InvokeModel',
        shape: (o) => {
          expect(o.output.message.content[0].toolUse).toMatchObject({ name: CALL_INSIGHTS_NAME });
          expect(o.stopReason).toBe('tool_use');
        },
      },
      {
        family: 'converse',
        modelId: 'anthropic.claude-sonnet-4-5-20250929-v1:0',
        via: 'native',
        type: 'Converse',
        shape: (o) => {
          expect(typeof o.output.message.content[0].text).toBe('string');
          expect(o.metrics).toBeDefined();
        },
      },
      {
        family: 'converse',
        modelId: 'amazon.nova-pro-v1:0',
        via: 'prompt',
        type: 'Converse',
        shape: (o) => expect(typeof o.output.message.content[0].text).toBe('string'),
      },
    ];
    for (const [n, c] of cases.entries()) {
      const options = { modelId: c.modelId, maxTokens: 2000, structured: { schema: INSIGHTS, name: CALL_INSIGHTS_NAME, via: c.via } };
      expect(FAMILIES[c.family].checkOptions(options)).toEqual([]);
      const prefix = `case-${n}`;
      await put(tmp.dir, `in-bucket/${prefix}/a.jsonl`, records(ALL_CALLS.length, (i) => FAMILIES[c.family].buildInput({ prompt: `<transcript>\n${ALL_CALLS[i]}\n</transcript>` }, options)));
      const lines = await runJob(`schema-${n}-${c.family}-${c.via}`, c.modelId, prefix, c.type);
      expect(lines).toHaveLength(ALL_CALLS.length);
      for (const line of lines) {
        expect(line.error, `${c.family} ${c.via}: ${JSON.stringify(line.error)}`).toBeUndefined();
        c.shape(line.modelOutput);
        const f = answerOf(c.family, line.modelOutput);
        expect(validInsights(f), `${c.family} ${c.via}: ${JSON.stringify(validInsights.errors)}`).toBe(true);
        expect((f as { reason: string }).reason.startsWith(FIELD_LABEL)).toBe(true);
      }
    }
  });

  it('answers about its share of schema records invalidly, both ways, and a retry job draws again', async () => {
    await put(tmp.dir, 'out-bucket/.keep', '');
    const rate = 0.3;
    await service.start({ root: tmp.dir, faults: { invalidFields: rate, seed: 7 } });
    const modelId = 'anthropic.claude-3-haiku-20240307-v1:0';
    const options = { modelId, maxTokens: 2000, structured: { schema: INSIGHTS, name: CALL_INSIGHTS_NAME, via: 'tool' as const } };
    const n = 1000;
    const input = (i: number) => FAMILIES.anthropic.buildInput({ prompt: `<transcript>\n${ALL_CALLS[i % ALL_CALLS.length]}\n</transcript>` }, options);
    // Records without a schema are left alone: the fault is for schema records only.
    const plain = (i: number) => FAMILIES.anthropic.buildInput({ prompt: `<transcript>\n${ALL_CALLS[i % ALL_CALLS.length]}\n</transcript>` }, { modelId, maxTokens: 500 });
    await put(tmp.dir, 'in-bucket/first/a.jsonl', records(n, input) + records(100, plain, 'P'));
    const first = await runJob('fields-first', modelId, 'first');
    expect(first).toHaveLength(n + 100);
    const invalid = new Set<string>();
    const keywords = new Map<string, number>();
    for (const line of first) {
      expect(line.error).toBeUndefined();
      if (line.recordId.startsWith('P')) {
        expect(FAMILIES.anthropic.readOutput(line.modelOutput).text).toMatch(/^\[local stand-in\] Reason: /);
        continue;
      }
      const f = answerOf('anthropic', line.modelOutput);
      if (validInsights(f)) continue;
      invalid.add(line.recordId);
      const kind = validInsights.errors!.map((e) => e.keyword).join(',');
      keywords.set(kind, (keywords.get(kind) ?? 0) + 1);
    }
    // Binomial(1000, 0.3): sd ≈ 14.5; ±50 is more than three of them.
    expect(invalid.size).toBeGreaterThan(n * rate - 50);
    expect(invalid.size).toBeLessThan(n * rate + 50);
    expect([...keywords.keys()].sort()).toEqual(['enum', 'required']);
    expect(Math.min(...keywords.values())).toBeGreaterThan(invalid.size * 0.35);

    // Chosen by the seed, the job's name and the record, as record errors are: the same run fails the same way ...
    const chosen = first.filter((l) => l.recordId.startsWith('S') && unitHash(7, `invalid-fields\nfields-first\n${l.recordId}`) < rate).map((l) => l.recordId);
    expect(new Set(chosen)).toEqual(invalid);
    // ... while a retry job (another name) of the invalid records draws again: most now succeed.
    const ids = [...invalid];
    const byId = new Map(first.map((l) => [l.recordId, l.modelInput]));
    await put(tmp.dir, 'in-bucket/retry/a.jsonl', ids.map((id) => JSON.stringify({ recordId: id, modelInput: byId.get(id) }) + '\n').join(''));
    const retry = await runJob('fields-first-a2', modelId, 'retry');
    const stillInvalid = retry.filter((l) => !validInsights(answerOf('anthropic', l.modelOutput))).length;
    expect(stillInvalid).toBeGreaterThan(0);
    expect(stillInvalid).toBeLessThan(ids.length * rate + 30);
    expect(ids.length - stillInvalid).toBeGreaterThan(ids.length * 0.5);
  });
});

/** A random object schema of the supported subset (string, enum, number, integer, boolean, array of string). */
function randomSchema(r: Random): Record<string, unknown> {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const NAMES = ['reason', 'resolution', 'resolved', 'next_steps', 'topics', 'sentiment_start', 'sentiment_end', 'follow_up', 'owner', 'score', 'count', 'notes', 'category', 'language', 'priority', 'tags', 'colour', 'x1', 'motivo', 'resuelto', 'urgent', 'summary', 'escalated', 'refund'];
  const ENUMS = [
    ['billing', 'cancellation', 'technical_support', 'other'],
    ['positive', 'neutral', 'negative'],
    ['very_negative', 'negative', 'neutral', 'positive', 'very_positive'],
    ['agent', 'customer', 'both', 'none'],
    ['yes', 'no'],
    ['en', 'es'],
    ['high', 'medium', 'low'],
    ['red', 'green'],
    ['a'],
  ];
  const properties: Record<string, unknown> = {};
  const count = 1 + Math.floor(r() * 8);
  for (let i = 0; i < count; i++) {
    const name = `${pick(NAMES)}${r() < 0.3 ? `_${i}` : ''}`;
    const kind = pick(['string', 'enum', 'number', 'integer', 'boolean', 'array', 'arrayEnum'] as const);
    const bound = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
    let p: Record<string, unknown>;
    switch (kind) {
      case 'string': {
        p = { type: 'string' };
        if (r() < 0.3) p.maxLength = bound(1, 80);
        if (r() < 0.3) p.minLength = Math.min(bound(0, 40), (p.maxLength as number | undefined) ?? 40);
        break;
      }
      case 'enum':
        p = { type: 'string', enum: pick(ENUMS) };
        break;
      case 'number':
      case 'integer': {
        p = { type: kind };
        const lo = bound(-50, 50);
        if (r() < 0.7) p.minimum = lo;
        if (r() < 0.7) p.maximum = lo + bound(0, 100);
        if (r() < 0.15) p.exclusiveMinimum = lo - 1;
        break;
      }
      case 'boolean':
        p = { type: 'boolean' };
        break;
      default: {
        p = { type: 'array', items: kind === 'arrayEnum' ? { type: 'string', enum: pick(ENUMS) } : { type: 'string', ...(r() < 0.2 ? { maxLength: bound(5, 60) } : {}) } };
        const size = kind === 'arrayEnum' ? ((p.items as { enum: string[] }).enum.length) : 10;
        if (r() < 0.5) p.minItems = bound(0, Math.min(4, size));
        if (r() < 0.5) p.maxItems = Math.max((p.minItems as number | undefined) ?? 0, bound(0, 6));
        if (r() < 0.4) p.uniqueItems = true;
      }
    }
    if (r() < 0.5) p.description = `${name}: what the call says about it`;
    properties[name] = p;
  }
  const required = Object.keys(properties).filter(() => r() < 0.7);
  return { type: 'object', properties, required, additionalProperties: false };
}
