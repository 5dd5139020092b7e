/**
 * `--quotas account` (src/aws/service-quotas.ts resolveQuotaProfile): the account's batch quotas read
 * from Service Quotas through the real SDK client, against the local service (which lists the quotas
 * it enforces: here a profile unlike `documented`, so a value read and a value fallen back differ);
 * each quota that cannot be read falls back to the documented default, and the summary line says which.
 * The refused path is an endpoint that answers AccessDeniedException as Service Quotas does without
 * permission (the local service never refuses).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BATCH_QUOTA_FIELDS, describeQuotaSources, resolveQuotaProfile, type BatchQuotaField } from '../../src/aws/service-quotas.js';
import { ACCOUNT_FALLBACK_PROFILE, QUOTA_CHOICES, QUOTA_PROFILES, quotaProfile } from '../../src/bedrock/quotas.js';
import { localCredentials, startLocalService, type LocalService } from '../../src/local/server.js';
import { refusingEndpoint as refusing } from '../support/refusing.js';
import { tempDir, type TempDir } from '../support/temp.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0';
/** In the catalogue without a minimum: the local service lists no minimum-records quota for it. */
const SONNET_45 = 'anthropic.claude-sonnet-4-5-20250929-v1:0';
/** What the local service enforces and lists: every value unlike `documented`'s but records per file and per job. */
const ACCOUNT = quotaProfile('default', { maxJobsInFlight: 7 });
const DOCUMENTED = QUOTA_PROFILES[ACCOUNT_FALLBACK_PROFILE]!;

let local: LocalService;
let tmp: TempDir;

/** Nothing of this machine's AWS setup: no files, no variables but these. */
function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { AWS_CONFIG_FILE: join(tmp.dir, 'no-config'), AWS_SHARED_CREDENTIALS_FILE: join(tmp.dir, 'no-credentials'), ...extra };
}

const aws = (endpointUrl: string, extra: NodeJS.ProcessEnv = {}) => ({ env: env(extra), endpointUrl, region: 'us-east-1', maxAttempts: 1 });

const refusingEndpoint = () => refusing('aws-json', 'User: arn:aws:iam::123456789012:user/ci is not authorized to perform: servicequotas:ListServiceQuotas');

const fields = (f: (field: BatchQuotaField) => unknown) => Object.fromEntries(BATCH_QUOTA_FIELDS.map((k) => [k, f(k)]));

beforeAll(async () => {
  tmp = await tempDir('quotas-account-');
  local = await startLocalService({ stateFile: false, paused: true, quotas: ACCOUNT });
});

afterAll(async () => {
  await local?.close();
  await tmp?.cleanup();
});

describe('--quotas account', () => {
  it('is one of the choices, beside the fixed profiles, which stay as they are', () => {
    expect(QUOTA_CHOICES).toEqual([...Object.keys(QUOTA_PROFILES), 'account']);
    expect(Object.keys(QUOTA_PROFILES)).toEqual(['default', 'documented', 'local']);
    expect(() => quotaProfile('account')).toThrow(/read from the account's Service Quotas/);
  });

  it("reads every quota of the model from Service Quotas and plans with the account's values", async () => {
    const r = await resolveQuotaProfile('account', { model: HAIKU, aws: aws(local.endpoint) });
    expect(r.profile).toEqual({ ...ACCOUNT, name: 'account', maxRecordBytes: DOCUMENTED.maxRecordBytes });
    expect(r.sources).toEqual(fields(() => 'account'));
    expect(r.fallbacks).toEqual({});
    expect(r.notes).toEqual([]);
    expect(Object.values(r.read!.quotas).map((q) => q.source)).toEqual(Array(6).fill('applied'));
    expect(describeQuotaSources(r)).toBe(
      'quotas: account (min records 1,000 from Service Quotas, records per file 50,000 from Service Quotas, records per job 50,000 from Service Quotas, ' +
        'file size 200 MB from Service Quotas, job size 1 GB from Service Quotas, max in flight 7 from Service Quotas)',
    );
  });

  it("a quota the account does not list for the model falls back to the documented default, and the summary says so", async () => {
    const r = await resolveQuotaProfile('account', { model: SONNET_45, aws: aws(local.endpoint) });
    expect(r.profile.minRecordsPerJob).toBe(DOCUMENTED.minRecordsPerJob);
    expect(r.profile.maxJobsInFlight).toBe(7);
    expect(r.sources).toEqual(fields((f) => (f === 'minRecordsPerJob' ? 'default' : 'account')));
    expect(r.fallbacks).toEqual({ minRecordsPerJob: 'not listed for Claude Sonnet 4.5' });
    expect(r.notes.join('\n')).toMatch(/min records: not read from Service Quotas for Claude Sonnet 4\.5, the documented default is used/);
    expect(describeQuotaSources(r)).toMatch(/^quotas: account \(min records 100 documented default: not listed for Claude Sonnet 4\.5, records per file 50,000 from Service Quotas, .*max in flight 7 from Service Quotas\)$/);
  });

  it('Service Quotas refusing (AccessDeniedException) is every quota at the documented default, never a failure; the local endpoint gets placeholder credentials', async () => {
    const refusing = await refusingEndpoint();
    try {
      const r = await resolveQuotaProfile('account', { model: HAIKU, aws: { ...aws(refusing.endpoint), credentials: { accessKeyId: 'AKIAUSERSOWNKEY00000', secretAccessKey: 'users-own-secret' } } });
      expect(r.profile).toEqual({ ...DOCUMENTED, name: 'account' });
      expect(r.sources).toEqual(fields(() => 'default'));
      expect(r.fallbacks).toEqual(fields(() => 'not readable'));
      expect(r.notes).toHaveLength(1);
      expect(r.notes[0]).toMatch(/^Service Quotas could not be read \(AccessDeniedException \(400\): User: .* is not authorized .*\); reading them needs servicequotas:ListServiceQuotas and servicequotas:ListAWSDefaultServiceQuotas: every quota is the documented default$/);
      expect(describeQuotaSources(r)).toMatch(/^quotas: account \(min records 100 documented default: not readable, .*file size 1 GB documented default: not readable, job size 5 GB documented default: not readable, max in flight 20 documented default: not readable\)$/);
      expect(refusing.seen.length).toBe(1);
      expect(refusing.seen[0]!.authorization).toContain(`Credential=${localCredentials().accessKeyId}/`);
      expect(refusing.seen[0]!.authorization).not.toContain('AKIAUSERSOWNKEY00000');
    } finally {
      await refusing.close();
    }
  });

  it('an endpoint that does not answer, a model outside the catalogue, no region: the documented defaults, each saying why', async () => {
    const closed = await refusingEndpoint();
    await closed.close(); // its port now refuses connections
    const down = await resolveQuotaProfile('account', { model: HAIKU, aws: aws(closed.endpoint) });
    expect(down.sources).toEqual(fields(() => 'default'));
    expect(down.notes[0]).toMatch(/^Service Quotas could not be read \(.*ECONNREFUSED.*\): every quota is the documented default$/);

    const unknown = await resolveQuotaProfile('account', { model: 'acme.secret-model-v1:0', aws: aws(local.endpoint) });
    expect(unknown.profile).toEqual({ ...DOCUMENTED, name: 'account' });
    expect(unknown.fallbacks).toEqual(fields(() => 'model not catalogued'));
    expect(unknown.notes).toEqual(['acme.secret-model-v1:0 is not in the batch model catalogue, so its quota names are not known: every quota is the documented default']);

    const nowhere = await resolveQuotaProfile('account', { model: HAIKU, aws: { env: env() } });
    expect(nowhere.fallbacks).toEqual(fields(() => 'no region'));
    expect(nowhere.notes[0]).toMatch(/^no AWS region, and batch quotas are per region/);
  });

  it("overrides apply over the account's values and the summary names them; a fixed profile is itself", async () => {
    const r = await resolveQuotaProfile('account', { model: HAIKU, aws: aws(local.endpoint), overrides: { maxJobsInFlight: 2 } });
    expect(r.profile).toMatchObject({ name: 'account+overrides', maxJobsInFlight: 2, minRecordsPerJob: 1000 });
    expect(r.overridden).toEqual(['maxJobsInFlight']);
    expect(describeQuotaSources(r)).toMatch(/^quotas: account\+overrides \(min records 1,000 from Service Quotas, .*max in flight 2 overridden\)$/);

    const named = await resolveQuotaProfile('documented', { model: HAIKU, aws: aws(local.endpoint) });
    expect(named.profile).toEqual(quotaProfile('documented'));
    expect(named.sources).toEqual(fields(() => 'default'));
    expect(describeQuotaSources(named)).toBe('quotas: documented');
    await expect(resolveQuotaProfile('nope', { model: HAIKU, aws: aws(local.endpoint) })).rejects.toMatchObject({ code: 'E_BAD_OPTION', message: expect.stringMatching(/unknown quota profile "nope"/) });
  });
});
