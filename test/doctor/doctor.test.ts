/**
 * `doctor` end to end: moto's server answers STS GetCallerIdentity, IAM GetRole and S3 (one port),
 * the local service answers Bedrock's model calls and Service Quotas, and a pass-through or a
 * refusing endpoint stands in for a missing permission. Every client is the real SDK over HTTP.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBatchQuotas, accountQuotaProfile } from '../../src/aws/service-quotas.js';
import { findBatchModel } from '../../src/bedrock/batch-models.js';
import { quotaProfile } from '../../src/bedrock/quotas.js';
import { runDoctor, type DoctorCheck, type DoctorOptions, type DoctorReport } from '../../src/doctor.js';
import { localCredentials, startLocalService, type LocalService } from '../../src/local/server.js';
import { inProcess } from '../support/cli.js';
import { MOTO_CREDENTIALS, startMoto, type MotoServer } from '../support/moto.js';
import { startS3Proxy, type S3Proxy } from '../support/s3-proxy.js';
import { refusingEndpoint as refusing } from '../support/refusing.js';
import { tempDir, type TempDir } from '../support/temp.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const ACCOUNT = '123456789012';
const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0';
const TRUST_BEDROCK = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'bedrock.amazonaws.com' }, Action: 'sts:AssumeRole' }] };
const roleArn = (name: string) => `arn:aws:iam::${ACCOUNT}:role/${name}`;

let moto: MotoServer;
let local: LocalService;
let tmp: TempDir;

/** Where nothing is configured: the machine's own AWS files are not read. */
function isolatedEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    AWS_CONFIG_FILE: join(tmp.dir, 'no-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(tmp.dir, 'no-credentials'),
    AWS_ENDPOINT_URL_STS: moto.endpoint,
    AWS_ENDPOINT_URL_IAM: moto.endpoint,
    AWS_ENDPOINT_URL_SERVICE_QUOTAS: local.endpoint,
    AWS_REGION: 'us-east-1',
    ...extra,
  };
}

/** A doctor against moto and the local service, with these options on top. */
function doctor(over: Partial<DoctorOptions> = {}, env: NodeJS.ProcessEnv = {}): Promise<DoctorReport> {
  return runDoctor({
    model: HAIKU,
    roleArn: roleArn('BedrockBatch'),
    input: 's3://doc-in/run/',
    output: 's3://doc-out/results/',
    quotas: 'default',
    aws: { env: isolatedEnv(env), credentials: MOTO_CREDENTIALS, maxAttempts: 1 },
    s3: { endpointUrl: moto.endpoint, forcePathStyle: true },
    bedrockEndpointUrl: local.endpoint,
    ...over,
  });
}

function check(report: DoctorReport, name: DoctorCheck['name'], subject?: string): DoctorCheck {
  const found = report.checks.find((c) => c.name === name && (subject === undefined || c.subject === subject));
  if (!found) throw new Error(`no ${name} check${subject ? ` for ${subject}` : ''} in ${JSON.stringify(report.checks)}`);
  return found;
}

const statuses = (r: DoctorReport) => r.checks.map((c) => `${c.name}${c.subject?.startsWith('s3://') ? ` ${c.subject}` : ''}: ${c.status}`);

const refusingEndpoint = () => refusing('rest-json', 'User: arn:aws:iam::123456789012:user/moto is not authorized to perform this action');

beforeAll(async () => {
  tmp = await tempDir('doctor-');
  moto = await startMoto();
  local = await startLocalService({ stateFile: false, paused: true });
  const iam = new IAMClient({ endpoint: moto.endpoint, region: 'us-east-1', credentials: MOTO_CREDENTIALS });
  const role = (name: string, policy: unknown) => iam.send(new CreateRoleCommand({ RoleName: name, AssumeRolePolicyDocument: JSON.stringify(policy) }));
  await role('BedrockBatch', TRUST_BEDROCK);
  await role('LambdaOnly', { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }] });
  await role('OtherAccountOnly', {
    Version: '2012-10-17',
    Statement: [{ ...TRUST_BEDROCK.Statement[0], Condition: { StringEquals: { 'aws:SourceAccount': '999999999999' } } }],
  });
  await role('OtherRegionOnly', {
    Version: '2012-10-17',
    Statement: [{ ...TRUST_BEDROCK.Statement[0], Condition: { ArnLike: { 'aws:SourceArn': `arn:aws:bedrock:eu-west-1:${ACCOUNT}:model-invocation-job/*` } } }],
  });
  iam.destroy();
  await moto.createBucket('doc-in');
  await moto.createBucket('doc-out');
  await moto.client.send(new CreateBucketCommand({ Bucket: 'doc-eu', CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } }));
});

afterAll(async () => {
  await local?.close();
  await moto?.stop();
  await tmp?.cleanup();
});

describe('doctor', () => {
  it('all ok: whose credentials, the region and its source, the model, the role, both buckets, the quotas', async () => {
    const r = await doctor();
    expect(statuses(r)).toEqual([
      'credentials: ok',
      'region: ok',
      'model: ok',
      'role: ok',
      'bucket s3://doc-in: ok',
      'bucket s3://doc-out: ok',
      'quotas: ok',
    ]);
    expect(r.ok).toBe(true);
    expect(check(r, 'credentials').detail).toMatch(/^arn:aws:sts::123456789012:user\/moto \(account 123456789012\), from the credentials given$/);
    expect(check(r, 'region').detail).toBe(`us-east-1 (from AWS_REGION); Bedrock at ${local.endpoint} (--endpoint-url)`);
    expect(check(r, 'model').detail).toMatch(/Claude 3 Haiku \(Anthropic\) runs batch by its own id .*; Bedrock in us-east-1 has Claude 3 Haiku \(ACTIVE\)/);
    expect(check(r, 'role').detail).toMatch(/exists in the caller's account; its trust policy lets bedrock\.amazonaws\.com assume it/);
    expect(check(r, 'bucket', 's3://doc-in').detail).toBe(`exists (input); in us-east-1; owned by ${ACCOUNT} (the caller's account)`);
    expect(check(r, 'quotas').detail).toMatch(/^within the account's 6 quotas of Claude 3 Haiku in us-east-1$/);
    // never a key in what it prints
    expect(JSON.stringify(r)).not.toMatch(/testing|LOCALSERVICE|not-a-secret/);
  });

  it('a role whose trust policy does not name bedrock.amazonaws.com, or only under conditions jobs here do not meet', async () => {
    const lambda = check(await doctor({ roleArn: roleArn('LambdaOnly') }), 'role');
    expect(lambda).toMatchObject({ status: 'problem' });
    expect(lambda.detail).toMatch(/its trust policy does not let bedrock\.amazonaws\.com assume it \(it trusts lambda\.amazonaws\.com\)/);
    expect(lambda.fix).toMatch(/"Principal":\{"Service":"bedrock\.amazonaws\.com"\},"Action":"sts:AssumeRole"/);
    const account = check(await doctor({ roleArn: roleArn('OtherAccountOnly') }), 'role');
    expect(account.status).toBe('problem');
    expect(account.detail).toMatch(/aws:SourceAccount is 999999999999, not 123456789012/);
    const region = check(await doctor({ roleArn: roleArn('OtherRegionOnly') }), 'role');
    expect(region.status).toBe('problem');
    expect(region.detail).toMatch(/aws:SourceArn .*eu-west-1.* does not match jobs of 123456789012 in us-east-1/);
  });

  it('a missing role, a role of another account, a role ARN with the wrong path, not an ARN', async () => {
    const missing = await doctor({ roleArn: roleArn('NoSuchRole') });
    expect(check(missing, 'role')).toMatchObject({ status: 'problem', detail: expect.stringMatching(/^no role NoSuchRole in account 123456789012 \(NoSuchEntity/) });
    expect(check(missing, 'role').fix).toMatch(/batch-iam-sr\.html/);
    expect(missing.ok).toBe(false);
    const other = check(await doctor({ roleArn: 'arn:aws:iam::999999999999:role/BedrockBatch' }), 'role');
    expect(other).toMatchObject({ status: 'problem', detail: expect.stringMatching(/the role is in account 999999999999, the caller in 123456789012/) });
    const path = check(await doctor({ roleArn: `arn:aws:iam::${ACCOUNT}:role/service-role/BedrockBatch` }), 'role');
    expect(path).toMatchObject({ status: 'problem', fix: `use --role-arn ${roleArn('BedrockBatch')}` });
    expect(check(await doctor({ roleArn: 'BedrockBatch' }), 'role')).toMatchObject({ status: 'problem', detail: 'not an IAM role ARN' });
  });

  it('a bucket in another region, a missing bucket', async () => {
    const r = await doctor({ input: 's3://doc-eu/run/', output: 's3://doc-missing/out/' });
    const eu = check(r, 'bucket', 's3://doc-eu');
    expect(eu).toMatchObject({ status: 'problem', detail: expect.stringContaining('in eu-west-1, while the jobs run in us-east-1') });
    expect(eu.fix).toMatch(/use a bucket in us-east-1, or run the jobs in eu-west-1 \(--region eu-west-1\)/);
    const missing = check(r, 'bucket', 's3://doc-missing');
    expect(missing).toMatchObject({ status: 'problem', detail: 'does not exist (output)', fix: 'create it in us-east-1: aws s3 mb s3://doc-missing --region us-east-1' });
    expect(r.ok).toBe(false);
  });

  it('an unknown model, a model without batch, a profile-only model by its own id, a profile of another geography, a region the model does not run batch in', async () => {
    const typo = check(await doctor({ model: 'anthropic.claude-3-haikuu-20240307-v1:0' }), 'model');
    expect(typo.status).toBe('problem');
    expect(typo.detail).toMatch(/^not in the batch model catalogue of \d{4}-\d{2}-\d{2}: .*; Bedrock in us-east-1 does not know it \(GetFoundationModel: ResourceNotFoundException \(404\)/);
    expect(typo.fix).toMatch(/aws bedrock list-foundation-models --region us-east-1/);
    const titan = await doctor({ model: 'amazon.titan-text-express-v1' });
    expect(check(titan, 'model').status).toBe('problem');
    expect(check(titan, 'quotas')).toMatchObject({ status: 'unchecked', detail: expect.stringMatching(/not in the batch model catalogue/) });
    const premier = check(await doctor({ model: 'amazon.nova-premier-v1:0' }), 'model');
    expect(premier).toMatchObject({ status: 'problem', fix: expect.stringMatching(/^name a profile of it: us\.amazon\.nova-premier-v1:0/) });
    const eu = check(await doctor({ model: `eu.${HAIKU}` }), 'model');
    expect(eu).toMatchObject({ status: 'problem', detail: expect.stringMatching(/Bedrock in us-east-1 does not know it \(GetInferenceProfile: ResourceNotFoundException/) });
    const us = check(await doctor({ model: `us.${HAIKU}` }), 'model');
    expect(us).toMatchObject({ status: 'ok', detail: expect.stringMatching(/has the profile "US Anthropic Claude 3 Haiku"/) });
    // Nova Lite by its own id runs batch in us-east-1 and us-gov-west-1 only (the catalogue's AWS rows)
    const nova = check(await doctor({ model: 'amazon.nova-lite-v1:0', aws: { env: isolatedEnv({ AWS_REGION: 'eu-west-3' }), credentials: MOTO_CREDENTIALS, maxAttempts: 1 } }), 'model');
    expect(nova.status).toBe('problem');
    expect(nova.detail).toMatch(/Nova Lite runs batch by its own id in us-east-1, us-gov-west-1 \(.*\), not in eu-west-3/);
    expect(nova.fix).toMatch(/or name its cross-region profile \(e\.g\. us\.amazon\.nova-lite-v1:0\), which runs batch in eu-west-3/);
  });

  it("a quota profile above the account's quotas: each limit, the flags that fit, the increase to ask for", async () => {
    const r = await doctor({ quotas: 'documented' }, {});
    expect(check(r, 'quotas').status).toBe('ok'); // the local service enforces `documented` by default
    const strict = await startLocalService({ stateFile: false, paused: true, quotas: quotaProfile('default', { maxJobsInFlight: 2 }) });
    try {
      const over = await doctor({ quotas: 'documented' }, { AWS_ENDPOINT_URL_SERVICE_QUOTAS: strict.endpoint });
      const q = check(over, 'quotas');
      expect(q.status).toBe('problem');
      expect(q.subject).toBe('profile "documented"');
      expect(q.detail).toMatch(/minimum records per job: the profile's 100 is below the account's 1,000 \(L-[0-9A-F]{8} "Minimum number of records per batch inference job for Claude 3 Haiku", applied\)/);
      expect(q.detail).toMatch(/bytes per input file: the profile's 1,000,000,000 bytes is above the account's 200,000,000 bytes/);
      expect(q.detail).toMatch(/jobs in flight per model: the profile's 20 is above the account's 2/);
      expect(q.fix).toMatch(/--min-records 1000, --max-bytes 200000000, --max-job-bytes 1000000000, --max-in-flight 2/);
      expect(q.fix).toMatch(/aws service-quotas request-service-quota-increase --service-code bedrock --quota-code L-[0-9A-F]{8} --desired-value 20 --region us-east-1/);
      expect(over.ok).toBe(false);
      // the same quotas, read for a planner, make a profile within them
      const account = await readBatchQuotas(findBatchModel(HAIKU)!, { env: isolatedEnv({ AWS_ENDPOINT_URL_SERVICE_QUOTAS: strict.endpoint }), region: 'us-east-1' });
      expect(Object.values(account.quotas).every((x) => x.source === 'applied')).toBe(true);
      expect(accountQuotaProfile(quotaProfile('documented'), account)).toMatchObject({ minRecordsPerJob: 1000, maxBytesPerFile: 200_000_000, maxJobsInFlight: 2 });
    } finally {
      await strict.close();
    }
  });

  it('a missing permission is "could not check", never a crash; the local endpoints get placeholder credentials, never the user\'s', async () => {
    const refusing = await refusingEndpoint();
    const proxy: S3Proxy = await startS3Proxy(moto, { fault: (req) => (req.method === 'HEAD' && req.bucket === 'doc-in' ? { error: { status: 403, code: 'AccessDenied' } } : undefined) });
    try {
      const r = await doctor({ bedrockEndpointUrl: refusing.endpoint, s3: { endpointUrl: proxy.endpoint, forcePathStyle: true } }, { AWS_ENDPOINT_URL_SERVICE_QUOTAS: refusing.endpoint });
      expect(check(r, 'model')).toMatchObject({ status: 'unchecked', detail: expect.stringMatching(/Bedrock could not be asked \(GetFoundationModel: AccessDeniedException \(403\): .*\); this needs bedrock:GetFoundationModel/) });
      expect(check(r, 'quotas')).toMatchObject({ status: 'unchecked', detail: expect.stringMatching(/Service Quotas could not be read \(AccessDeniedException \(403\).*servicequotas:ListServiceQuotas/) });
      expect(check(r, 'bucket', 's3://doc-in')).toMatchObject({ status: 'unchecked', detail: expect.stringMatching(/S3 refused HeadBucket/) });
      expect(check(r, 'bucket', 's3://doc-out').status).toBe('ok');
      expect(r.ok).toBe(true);
      expect(refusing.seen.length).toBe(2);
      for (const h of refusing.seen) {
        expect(h.authorization).toContain(`Credential=${localCredentials().accessKeyId}/`);
        expect(h.authorization).not.toContain(MOTO_CREDENTIALS.accessKeyId);
      }
    } finally {
      await proxy.stop();
      await refusing.close();
    }
  });

  it("another owner's bucket (ExpectedBucketOwner answered 403), and --expected-bucket-owner", async () => {
    // moto ignores x-amz-expected-bucket-owner: the pass-through answers as S3 does for another owner
    const proxy = await startS3Proxy(moto, {
      fault: (req) => {
        const owner = req.headers['x-amz-expected-bucket-owner'];
        return owner !== undefined && !(req.bucket === 'doc-out' && owner === '111122223333') && req.bucket === 'doc-out' ? { error: { status: 403, code: 'AccessDenied' } } : undefined;
      },
    });
    try {
      const s3 = { endpointUrl: proxy.endpoint, forcePathStyle: true } as const;
      const mine = check(await doctor({ s3 }), 'bucket', 's3://doc-out');
      expect(mine).toMatchObject({ status: 'problem', detail: expect.stringContaining("not owned by 123456789012 (the caller's account)") });
      expect(mine.fix).toMatch(/--expected-bucket-owner/);
      const theirs = await doctor({ s3, input: 's3://doc-out/run/', expectedBucketOwner: '111122223333' });
      expect(check(theirs, 'bucket', 's3://doc-out')).toMatchObject({ status: 'ok', detail: expect.stringContaining('owned by 111122223333') });
      expect(proxy.requests.some((q) => q.headers['x-amz-expected-bucket-owner'] === '111122223333')).toBe(true);
    } finally {
      await proxy.stop();
    }
  });

  it('a HeadBucket answered 301 (S3 of another region): the region comes from GetBucketLocation', async () => {
    const proxy = await startS3Proxy(moto, { fault: (req) => (req.method === 'HEAD' && req.bucket === 'doc-eu' ? { error: { status: 301, code: 'PermanentRedirect' } } : undefined) });
    try {
      const r = await doctor({ input: 's3://doc-eu/run/', s3: { endpointUrl: proxy.endpoint, forcePathStyle: true } });
      expect(check(r, 'bucket', 's3://doc-eu')).toMatchObject({ status: 'problem', detail: expect.stringMatching(/^exists \(input\); in eu-west-1, while the jobs run in us-east-1/) });
    } finally {
      await proxy.stop();
    }
  });

  it('an STS endpoint that refuses connections: credentials "could not check", and the owner check says why it was not made', async () => {
    const r = await doctor({}, { AWS_ENDPOINT_URL_STS: 'http://127.0.0.1:9' });
    expect(check(r, 'credentials')).toMatchObject({ status: 'unchecked', detail: expect.stringMatching(/^STS GetCallerIdentity failed: STS could not be reached \(ECONNREFUSED/) });
    expect(check(r, 'bucket', 's3://doc-in').detail).toMatch(/its owner was not checked: no account known/);
    expect(check(r, 'role').detail).toMatch(/whether it is in the caller's account is not known/);
    expect(r.ok).toBe(true);
  });

  it("a prepared run in S3: its model, quota profile and location; no region at all is a problem", async () => {
    const prepared = {
      version: 2,
      state: 'prepared',
      createdAt: new Date().toISOString(),
      jobs: [],
      model: { modelId: HAIKU, family: 'anthropic', invocationType: 'InvokeModel' },
      quotas: quotaProfile('default'),
      submittable: true,
      written: 0,
    };
    await moto.client.send(new PutObjectCommand({ Bucket: 'doc-in', Key: 'prepared-run/prepared.json', Body: JSON.stringify(prepared) }));
    const r = await doctor({ run: 's3://doc-in/prepared-run/', model: undefined, input: undefined, quotas: undefined });
    expect(check(r, 'run')).toMatchObject({ status: 'ok', detail: `s3://doc-in/prepared-run/: 0 jobs of ${HAIKU}, quota profile "default"` });
    expect(check(r, 'model').subject).toBe(HAIKU);
    expect(check(r, 'quotas').subject).toBe('profile "default"');
    expect(check(r, 'bucket', 's3://doc-in').detail).toMatch(/^exists \(the run\)/);
    const missing = check(await doctor({ run: 's3://doc-in/nothing-here/' }), 'run');
    expect(missing).toMatchObject({ status: 'problem', detail: expect.stringContaining('does not exist') });
    const noRegion = await doctor({ s3: { endpointUrl: moto.endpoint, forcePathStyle: true, region: 'us-east-1' }, bedrockEndpointUrl: 'https://bedrock.example.com' }, { AWS_REGION: '' });
    expect(check(noRegion, 'region')).toMatchObject({ status: 'problem', fix: expect.stringMatching(/--region, set AWS_REGION or AWS_DEFAULT_REGION/) });
  });

  it('refuses options it cannot use before any request', async () => {
    await expect(doctor({ input: './local-dir' })).rejects.toMatchObject({ code: 'E_BAD_OPTION' });
    await expect(doctor({ expectedBucketOwner: '12' })).rejects.toMatchObject({ code: 'E_BAD_OPTION' });
    await expect(doctor({ quotas: 'nope' })).rejects.toMatchObject({ code: 'E_BAD_OPTION' });
  });
});

/** `bedrock-batch doctor ...` in this process, with the AWS environment a user sets. */
const cli = (args: string[], env: NodeJS.ProcessEnv) => inProcess(['doctor', ...args], env);

describe('bedrock-batch doctor', () => {
  it('--json through AWS_ENDPOINT_URL_* and a named profile (config and credentials files, no key in the environment); exit 0, then 1 on a problem', async () => {
    const dir = join(tmp.dir, 'aws');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'config'), '[profile acme]\nregion = us-east-1\n');
    await writeFile(join(dir, 'credentials'), `[acme]\naws_access_key_id = ${MOTO_CREDENTIALS.accessKeyId}\naws_secret_access_key = ${MOTO_CREDENTIALS.secretAccessKey}\n`);
    const env = {
      AWS_CONFIG_FILE: join(dir, 'config'),
      AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials'),
      AWS_ENDPOINT_URL_STS: moto.endpoint,
      AWS_ENDPOINT_URL_IAM: moto.endpoint,
      AWS_ENDPOINT_URL_S3: moto.endpoint,
      AWS_ENDPOINT_URL_BEDROCK: local.endpoint,
      AWS_ENDPOINT_URL_SERVICE_QUOTAS: local.endpoint,
      AWS_MAX_ATTEMPTS: '1',
    };
    const args = ['--profile', 'acme', '--model', HAIKU, '--role-arn', roleArn('BedrockBatch'), '--input', 's3://doc-in/run/', '--output', 's3://doc-out/results/', '--quotas', 'default'];
    const ok = await cli([...args, '--json'], env);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    const report = JSON.parse(ok.stdout) as DoctorReport;
    expect(Object.keys(report)).toEqual(['checks', 'ok']);
    expect(report.ok).toBe(true);
    expect(statuses(report)).toEqual(['credentials: ok', 'region: ok', 'model: ok', 'role: ok', 'bucket s3://doc-in: ok', 'bucket s3://doc-out: ok', 'quotas: ok']);
    expect(check(report, 'credentials').detail).toMatch(/from profile "acme" \(--profile\)$/);
    expect(check(report, 'region').detail).toBe(`us-east-1 (from profile "acme"); Bedrock at ${local.endpoint} (AWS_ENDPOINT_URL_BEDROCK)`);

    const bad = await cli([...args.slice(0, 4), '--role-arn', roleArn('LambdaOnly'), '--input', 's3://doc-eu/run/'], env);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^ok {7}credentials: arn:aws:sts::123456789012:user\/moto/m);
    expect(bad.stdout).toMatch(/^PROBLEM {2}role arn:aws:iam::123456789012:role\/LambdaOnly: .*\n {9}fix: add to its trust policy/m);
    expect(bad.stdout).toMatch(/^PROBLEM {2}bucket s3:\/\/doc-eu: .*in eu-west-1, while the jobs run in us-east-1/m);
    expect(bad.stdout).toMatch(/\n\n2 problems found\n$/);

    const usage = await cli(['--quotas', 'nope'], env);
    expect(usage.code).toBe(2);
  });
});
