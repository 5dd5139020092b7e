/**
 * src/aws/config.ts: where each setting comes from, in the AWS CLI's order, read from real config
 * and credentials files; the user-agent app id and the debug log, seen on a real request.
 */
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ListBucketsCommand } from '@aws-sdk/client-s3';
import { ListModelInvocationJobsCommand } from '@aws-sdk/client-bedrock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsClientConfig, isLoopbackEndpoint, resolveAwsOptions, resolveAwsSettings } from '../../src/aws/config.js';
import { createBedrockClient } from '../../src/jobs/client.js';
import { createS3Client } from '../../src/stores/s3-client.js';
import { useTempDir } from '../support/temp.js';

const tmp = useTempDir('aws-config-unit-', { shared: true });
let files: NodeJS.ProcessEnv;

beforeAll(async () => {
  const config = join(tmp.dir, 'config');
  const credentials = join(tmp.dir, 'credentials');
  await writeFile(
    config,
    [
      '[default]',
      'region = us-west-2',
      '',
      '[profile acme]',
      'region = eu-west-3',
      'services = acme-endpoints',
      'endpoint_url = http://127.0.0.1:7001',
      '',
      '[profile plain]',
      'region = ap-south-1',
      'endpoint_url = http://127.0.0.1:7002',
      '',
      '[profile quiet]',
      'endpoint_url = http://127.0.0.1:7003',
      'ignore_configured_endpoint_urls = true',
      '',
      '[services acme-endpoints]',
      's3 =',
      '  endpoint_url = http://127.0.0.1:7101',
      'bedrock =',
      '  endpoint_url = http://127.0.0.1:7102',
      'service_quotas =',
      '  endpoint_url = http://127.0.0.1:7103',
      '',
    ].join('\n'),
  );
  await writeFile(credentials, ['[keys-only]', 'aws_access_key_id = AKIAKEYSONLY00000001', 'aws_secret_access_key = s', ''].join('\n'));
  files = { AWS_CONFIG_FILE: config, AWS_SHARED_CREDENTIALS_FILE: credentials };
});

describe('the region, in the AWS CLI order', () => {
  it('--region, AWS_REGION, AWS_DEFAULT_REGION, the profile', async () => {
    const env = { ...files, AWS_REGION: 'us-east-2', AWS_DEFAULT_REGION: 'ca-central-1' };
    expect(await resolveAwsSettings('S3', { region: 'sa-east-1', profile: 'acme', env })).toMatchObject({ region: 'sa-east-1', regionSource: 'option' });
    expect(await resolveAwsSettings('S3', { profile: 'acme', env })).toMatchObject({ region: 'us-east-2', regionSource: 'AWS_REGION' });
    expect(await resolveAwsSettings('S3', { profile: 'acme', env: { ...files, AWS_DEFAULT_REGION: 'ca-central-1' } })).toMatchObject({ region: 'ca-central-1', regionSource: 'AWS_DEFAULT_REGION' });
    expect(await resolveAwsSettings('S3', { profile: 'acme', env: files })).toMatchObject({ profile: 'acme', profileSource: 'option', region: 'eu-west-3', regionSource: 'profile' });
    expect(await resolveAwsSettings('S3', { env: { ...files, AWS_PROFILE: 'plain' } })).toMatchObject({ profile: 'plain', profileSource: 'AWS_PROFILE', region: 'ap-south-1' });
    expect(await resolveAwsSettings('S3', { env: files })).toMatchObject({ profile: 'default', profileSource: 'default', region: 'us-west-2' });
    // the synchronous config (no file read) takes AWS_DEFAULT_REGION too, which the JS SDK alone does not
    expect(awsClientConfig('Bedrock', { env: { AWS_DEFAULT_REGION: 'eu-central-1' } }).region).toBe('eu-central-1');
  });
});

describe('the endpoint, per service', () => {
  it('the option, AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, the services section, the profile', async () => {
    const env = { ...files, AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:7201', AWS_ENDPOINT_URL: 'http://127.0.0.1:7202' };
    expect(await resolveAwsSettings('S3', { endpointUrl: 'http://127.0.0.1:7200', profile: 'acme', env })).toMatchObject({ endpoint: 'http://127.0.0.1:7200', endpointSource: '--endpoint-url' });
    expect(await resolveAwsSettings('S3', { profile: 'acme', env })).toMatchObject({ endpoint: 'http://127.0.0.1:7201', endpointSource: 'AWS_ENDPOINT_URL_S3' });
    expect(await resolveAwsSettings('Bedrock', { profile: 'acme', env })).toMatchObject({ endpoint: 'http://127.0.0.1:7202', endpointSource: 'AWS_ENDPOINT_URL' });
    expect((await resolveAwsSettings('Bedrock', { profile: 'acme', env: files })).endpoint).toBe('http://127.0.0.1:7102');
    expect((await resolveAwsSettings('Service Quotas', { profile: 'acme', env: files })).endpoint).toBe('http://127.0.0.1:7103');
    // a service the section does not name: the profile's own endpoint_url
    expect((await resolveAwsSettings('STS', { profile: 'acme', env: files })).endpoint).toBe('http://127.0.0.1:7001');
    expect((await resolveAwsSettings('S3', { profile: 'plain', env: files })).endpoint).toBe('http://127.0.0.1:7002');
    expect((await resolveAwsSettings('S3', { env: files })).endpoint).toBeUndefined();
  });

  it('ignores the configured ones when told to, by the variable or the profile', async () => {
    expect((await resolveAwsSettings('S3', { profile: 'quiet', env: files })).endpoint).toBeUndefined();
    const env = { ...files, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true', AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:7201' };
    expect((await resolveAwsSettings('S3', { profile: 'acme', env })).endpoint).toBeUndefined();
    expect((await resolveAwsSettings('S3', { profile: 'acme', env, endpointUrl: 'http://127.0.0.1:7200' })).endpoint).toBe('http://127.0.0.1:7200');
  });

  it('resolveAwsOptions fills what the profile says, and keeps what was given', async () => {
    expect(await resolveAwsOptions('S3', { profile: 'acme', env: files })).toMatchObject({ profile: 'acme', region: 'eu-west-3', endpointUrl: 'http://127.0.0.1:7101' });
    expect(await resolveAwsOptions('S3', { profile: 'acme', region: 'us-east-1', endpointUrl: 'http://127.0.0.1:9', env: files })).toMatchObject({ region: 'us-east-1', endpointUrl: 'http://127.0.0.1:9' });
  });
});

describe('profiles', () => {
  it('a profile only in the credentials file is found; a profile named nowhere is an error naming it and its source', async () => {
    expect((await resolveAwsSettings('S3', { profile: 'keys-only', env: files })).profile).toBe('keys-only');
    await expect(resolveAwsSettings('S3', { profile: 'acme-typo', env: files })).rejects.toThrow(/the AWS profile "acme-typo" \(--profile\) is in neither the config nor the credentials file/);
    await expect(resolveAwsSettings('S3', { env: { ...files, AWS_PROFILE: 'gone' } })).rejects.toThrow(/"gone" \(AWS_PROFILE\)/);
  });

  it('refuses an endpoint from a profile that is not an http(s) URL, naming where it came from', async () => {
    const config = join(tmp.dir, 'bad-config');
    await writeFile(config, '[profile bad]\nendpoint_url = ftp://example.com\n');
    await expect(resolveAwsSettings('S3', { profile: 'bad', env: { AWS_CONFIG_FILE: config, AWS_SHARED_CREDENTIALS_FILE: join(tmp.dir, 'none') } })).rejects.toThrow(/endpoint_url of profile "bad" "ftp:\/\/example.com" must be an http/);
  });

  it('loopback endpoints are told apart from the rest', () => {
    for (const e of ['http://127.0.0.1:8089', 'http://localhost:1', 'http://[::1]:2', 'http://127.1.2.3']) expect(isLoopbackEndpoint(e), e).toBe(true);
    for (const e of ['https://bedrock.us-east-1.amazonaws.com', 'http://10.0.0.1:8089', 'http://localhost.example.com', undefined]) expect(isLoopbackEndpoint(e), String(e)).toBe(false);
  });
});

describe('on the wire', () => {
  let seen: IncomingHttpHeaders[] = [];
  let endpoint: string;
  const server = createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(500, { 'x-amzn-requestid': 'req-123', 'content-type': 'application/json' }).end('{}');
  });
  beforeAll(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => void server.close());

  it('every client says it is bedrock-batch (or the AWS_SDK_UA_APP_ID given), and --debug logs one line per attempt, no secrets', async () => {
    seen = [];
    const lines: string[] = [];
    const credentials = { accessKeyId: 'AKIAWIRE000000000001', secretAccessKey: 'wire-secret' };
    const s3 = createS3Client({ endpointUrl: endpoint, region: 'eu-west-1', credentials, maxAttempts: 2, debug: (l) => lines.push(l) });
    await expect(s3.send(new ListBucketsCommand({}))).rejects.toThrow();
    const bedrock = createBedrockClient({ endpoint, region: 'eu-west-1', credentials, debug: (l) => lines.push(l), env: { AWS_SDK_UA_APP_ID: 'acme-nightly' } });
    await expect(bedrock.send(new ListModelInvocationJobsCommand({}))).rejects.toThrow();
    s3.destroy();
    bedrock.destroy();
    expect(String(seen[0]!['user-agent'])).toContain('app/bedrock-batch');
    expect(String(seen.at(-1)!['user-agent'])).toContain('app/acme-nightly');
    // S3: two attempts (maxAttempts 2), Bedrock: one (the toolkit retries Bedrock calls itself)
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^aws S3 ListBuckets 127\.0\.0\.1:\d+ 500 \d+ ms id=req-123$/);
    expect(lines[2]).toMatch(/^aws Bedrock ListModelInvocationJobs 127\.0\.0\.1:\d+ 500 \d+ ms id=req-123$/);
    expect(lines.join('\n')).not.toMatch(/wire-secret|AKIAWIRE/);
  });

  it('Bedrock on this machine gets the placeholder credentials, even when credentials are given', async () => {
    seen = [];
    const keyOf = (h: IncomingHttpHeaders) => /Credential=([^/]+)\//.exec(String(h.authorization))?.[1];
    const guarded = createBedrockClient({ endpoint, region: 'eu-west-1' });
    await expect(guarded.send(new ListModelInvocationJobsCommand({}))).rejects.toThrow();
    const given = createBedrockClient({ endpoint, region: 'eu-west-1', credentials: { accessKeyId: 'AKIAGIVEN00000000001', secretAccessKey: 's' } });
    await expect(given.send(new ListModelInvocationJobsCommand({}))).rejects.toThrow();
    guarded.destroy();
    given.destroy();
    expect(seen.map(keyOf)).toEqual(['LOCALSERVICE', 'LOCALSERVICE']);
  });
});
