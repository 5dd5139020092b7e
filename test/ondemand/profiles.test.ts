/**
 * The pieces of the on-demand path that need no service: which id a model is called by
 * (profiles.ts), what a failed call means (call.ts), spool keys, job ids and on-demand prices.
 */
import { describe, expect, it } from 'vitest';
import { classifyError, converseInput } from '../../src/ondemand/call.js';
import { geographyOf, isProfileRequired, onDemandModelId, profileFor } from '../../src/ondemand/profiles.js';
import { onDemandJobId } from '../../src/ondemand/runner.js';
import { recordIdOfSpoolKey, spoolKey } from '../../src/ondemand/spool.js';
import { costOf, defaultPrices, loadPrices, onDemandPriceFor, priceFor, priceLabel } from '../../src/results/prices.js';

const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0';
const SONNET_4 = 'anthropic.claude-sonnet-4-20250514-v1:0';
const SONNET_35_V2 = 'anthropic.claude-3-5-sonnet-20241022-v2:0';

describe('onDemandModelId', () => {
  it('keeps a model served on demand by its own id', () => {
    expect(onDemandModelId(HAIKU, 'us-east-1')).toEqual({ modelId: HAIKU });
    expect(onDemandModelId('amazon.nova-lite-v1:0', 'us-east-1')).toEqual({ modelId: 'amazon.nova-lite-v1:0' });
  });

  it("calls a profile-only model through its geography's profile, and says so", () => {
    expect(onDemandModelId(SONNET_4, 'us-west-2')).toEqual({
      modelId: `us.${SONNET_4}`,
      profile: `us.${SONNET_4}`,
      note: expect.stringContaining(`calling us.${SONNET_4}`),
    });
    expect(onDemandModelId(SONNET_4, 'eu-central-1').modelId).toBe(`eu.${SONNET_4}`);
    expect(onDemandModelId(SONNET_4, 'ap-northeast-1').modelId).toBe(`apac.${SONNET_4}`);
    expect(onDemandModelId('amazon.nova-premier-v1:0', 'us-gov-west-1').modelId).toBe('us-gov.amazon.nova-premier-v1:0');
    // no geography: the global profile where the model has one, else the id with a note
    expect(onDemandModelId(SONNET_4, 'sa-east-1').modelId).toBe(`global.${SONNET_4}`);
    const none = onDemandModelId('anthropic.claude-3-7-sonnet-20250219-v1:0', 'sa-east-1');
    expect(none.modelId).toBe('anthropic.claude-3-7-sonnet-20250219-v1:0');
    expect(none.profile).toBeUndefined();
    expect(none.note).toMatch(/none is known for sa-east-1/);
  });

  it('needs a profile for a regional model only outside its Regions', () => {
    expect(onDemandModelId(SONNET_35_V2, 'us-west-2')).toEqual({ modelId: SONNET_35_V2 });
    expect(onDemandModelId(SONNET_35_V2, 'us-east-1')).toMatchObject({ modelId: `us.${SONNET_35_V2}`, note: expect.stringContaining('in us-east-1') });
  });

  it('uses profile ids and ARNs as they are', () => {
    for (const id of [`us.${SONNET_4}`, `global.${SONNET_4}`, `arn:aws:bedrock:us-east-1::foundation-model/${SONNET_4}`, 'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123']) {
      expect(onDemandModelId(id, 'us-east-1')).toEqual({ modelId: id });
      expect(profileFor(id, 'us-east-1')).toBeUndefined();
    }
    expect(geographyOf('ca-central-1')).toBeUndefined();
  });

  it("knows the runtime's refusal of a base id (straight and curly apostrophes)", () => {
    const msg = (q: string) => `Invocation of model ID ${SONNET_4} with on-demand throughput isn${q}t supported. Retry your request with the ID or ARN of an inference profile that contains this model.`;
    expect(isProfileRequired(msg("'"))).toBe(true);
    expect(isProfileRequired(msg('\u2019'))).toBe(true);
    expect(isProfileRequired('Malformed input request: #: extraneous key [foo] is not permitted')).toBe(false);
  });
});

describe('classifyError', () => {
  const err = (name: string, status: number, message = 'm', extra: Record<string, unknown> = {}) => Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status }, ...extra });

  it('asks again after throttling, 5xx, a model not ready or timed out, and network errors', () => {
    expect(classifyError(err('ThrottlingException', 429))).toMatchObject({ kind: 'retry', throttled: true });
    expect(classifyError(err('ServiceQuotaExceededException', 400))).toMatchObject({ kind: 'retry', throttled: true });
    for (const [name, status] of [['ServiceUnavailableException', 503], ['InternalServerException', 500], ['ModelNotReadyException', 429], ['ModelTimeoutException', 408], ['SomethingNew', 502]] as const) {
      expect(classifyError(err(name, status)).kind, name).toBe('retry');
    }
    expect(classifyError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))).toMatchObject({ kind: 'retry', throttled: false });
  });

  it("makes a refused body or a model's failure the record's error line, as batch does", () => {
    expect(classifyError(err('ValidationException', 400, 'Malformed input request'))).toEqual({ kind: 'record', errorCode: 400, errorMessage: 'Malformed input request', name: 'ValidationException' });
    expect(classifyError(err('ModelErrorException', 424, 'The model failed'))).toMatchObject({ kind: 'record', errorCode: 424 });
  });

  it('ends the job on no access, no such model, a profile-only model, or anything unknown', () => {
    expect(classifyError(err('AccessDeniedException', 403))).toMatchObject({ kind: 'fatal', reason: 'access' });
    expect(classifyError(err('ResourceNotFoundException', 404))).toMatchObject({ kind: 'fatal', reason: 'not-found' });
    expect(classifyError(err('ValidationException', 400, "Invocation of model ID x with on-demand throughput isn't supported."))).toMatchObject({ kind: 'fatal', reason: 'profile' });
    expect(classifyError(err('ValidationException', 400, 'The provided model identifier is invalid.'))).toMatchObject({ kind: 'fatal', reason: 'not-found' });
    expect(classifyError(err('ConflictException', 400))).toMatchObject({ kind: 'fatal', reason: 'other' });
  });
});

describe('Converse requests', () => {
  it("take the record's fields and the model id, with base64 bytes decoded, leaving the record as it was", () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47]).toString('base64');
    const modelInput = {
      messages: [{ role: 'user', content: [{ text: 'hi' }, { image: { format: 'png', source: { bytes: png } } }] }],
      system: [{ text: 'be brief' }],
      inferenceConfig: { maxTokens: 10 },
    };
    const before = JSON.stringify(modelInput);
    const input = converseInput('m.x-v1:0', modelInput) as unknown as Record<string, any>;
    expect(input.modelId).toBe('m.x-v1:0');
    expect(input.inferenceConfig).toEqual({ maxTokens: 10 });
    expect(Buffer.from(input.messages[0].content[1].image.source.bytes)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47]));
    expect(JSON.stringify(modelInput)).toBe(before);
  });
});

describe('spool keys and job ids', () => {
  it('round-trip a record id, and ignore other keys', () => {
    expect(spoolKey('on-demand/job-0001/', 'AbC123xyz09')).toBe('on-demand/job-0001/AbC123xyz09.json');
    expect(recordIdOfSpoolKey('p/', spoolKey('p/', 'a/b c'))).toBe('a/b c');
    expect(recordIdOfSpoolKey('p/', 'p/x/y.json')).toBeUndefined();
    expect(recordIdOfSpoolKey('p/', 'p/x.json.partial-1-1')).toBeUndefined();
    expect(recordIdOfSpoolKey('p/', 'q/x.json')).toBeUndefined();
  });

  it('a job id is on-demand- and 10 hex digits, the same for the same token, never a batch job id', () => {
    expect(onDemandJobId('t1')).toMatch(/^on-demand-[0-9a-f]{10}$/);
    expect(onDemandJobId('t1')).not.toMatch(/^[a-z0-9]{12}$/);
    expect(onDemandJobId('t1')).toBe(onDemandJobId('t1'));
    expect(onDemandJobId('t2')).not.toBe(onDemandJobId('t1'));
  });
});

describe('on-demand prices', () => {
  it('are the rows as they are: twice the batch price at the default 50% discount', () => {
    const table = defaultPrices();
    const batch = priceFor(table, HAIKU)!;
    const od = onDemandPriceFor(table, `us.${HAIKU}`)!;
    expect(od).toMatchObject({ match: batch.match, batchDiscount: 0, mode: 'on-demand' });
    expect(od.input).toBeCloseTo(batch.input / (1 - table.batchDiscount), 12);
    expect(od.output).toBeCloseTo(batch.output / (1 - table.batchDiscount), 12);
    expect(costOf(od, 1000, 1000).total).toBeCloseTo(2 * costOf(batch, 1000, 1000).total, 12);
    expect(priceLabel(table, od, HAIKU)).toMatch(/\(on-demand; /);
    expect(priceLabel(table, batch, HAIKU)).toMatch(/\(batch, 50% off on-demand; /);
  });

  it('ignore batch prices a row gives outright, and know nothing the table does not', () => {
    const mine = loadPrices({ models: [{ match: 'custom.x', input: 1, output: 2, batchInput: 0.1, batchOutput: 0.2 }] });
    expect(onDemandPriceFor(mine, 'custom.x-v1')).toMatchObject({ input: 1, output: 2 });
    expect(priceFor(mine, 'custom.x-v1')).toMatchObject({ input: 0.1, output: 0.2 });
    expect(onDemandPriceFor(mine, 'nobody.knows')).toBeUndefined();
  });
});
