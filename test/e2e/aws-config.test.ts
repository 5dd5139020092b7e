/**
 * One AWS configuration for every client (src/aws/config.ts), seen from the wire. `run` goes
 * prepare → submit → collect with nothing but a named profile (a config and a credentials file, no
 * AWS variables), then with nothing but AWS_DEFAULT_REGION and keys in the environment. A recording
 * pass-through in front of moto's S3 and one in front of the local service (`serve`, standing in for
 * Bedrock) see every request: each S3 request is signed with the profile's key for the profile's
 * region, each Bedrock request for that same region, and never with the user's key (the endpoint is
 * on this machine: the loopback guard sends placeholders).
 */
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../prepare/helpers.js';
import { cli, ENV, finish, firstLine, start } from '../support/cli.js';
import { MOTO_CREDENTIALS, startMoto, type MotoServer } from '../support/moto.js';
import { startS3Proxy, type S3Proxy } from '../support/s3-proxy.js';
import { useTempDir } from '../support/temp.js';
import type { ChildProcess } from 'node:child_process';

const ROLE = 'arn:aws:iam::123456789012:role/bedrock-batch-test';
const KEY = 'AKIAACMEPROFILE00001';
const SECRET = 'acme-profile-secret-never-on-the-wire';

let s3: MotoServer;
let s3Proxy: S3Proxy;
let bedrockProxy: Recorder;
let serve: ChildProcess;
let served: Promise<unknown>;
const tmp = useTempDir('aws-config-', { shared: true });

interface Recorder {
  endpoint: string;
  requests: { method: string; path: string; headers: IncomingHttpHeaders }[];
  reset(): void;
  stop(): Promise<void>;
}

/** A pass-through to `target` that records each request's headers (the Host rewritten, as the local service answers only its own). */
async function recorder(target: string): Promise<Recorder> {
  const to = new URL(target);
  const requests: Recorder['requests'] = [];
  const server = createServer((req, res) => {
    requests.push({ method: req.method!, path: req.url!, headers: req.headers });
    const out = httpRequest({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: { ...req.headers, host: to.host } }, (answer) => {
      res.writeHead(answer.statusCode!, answer.headers);
      answer.pipe(res);
    });
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    reset: () => void (requests.length = 0),
    stop: async () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** An environment without any AWS_ variable of the machine's. */
function bareEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(ENV)) if (!k.startsWith('AWS_')) env[k] = v;
  return { ...env, HOME: tmp.dir, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...extra };
}

/** `Credential=<key>/<date>/<region>/<service>/aws4_request` of a recorded request's Authorization header. */
function scope(headers: IncomingHttpHeaders): { key: string; region: string; service: string } {
  const m = /Credential=([^/]+)\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request/.exec(String(headers.authorization ?? ''));
  if (!m) throw new Error(`unsigned request: ${String(headers.authorization)}`);
  return { key: m[1]!, region: m[2]!, service: m[3]! };
}

beforeAll(async () => {
  s3 = await startMoto();
  await s3.createBucket('acme-runs');
  s3Proxy = await startS3Proxy(s3);
  // the local service reads and writes moto directly (its requests are not the CLI's)
  serve = start(['serve', '--port', '0', '--no-state', '--quiet'], tmp.dir, {
    ...ENV,
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    AWS_ACCESS_KEY_ID: MOTO_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: MOTO_CREDENTIALS.secretAccessKey,
    AWS_REGION: 'us-east-1',
  });
  served = finish(serve);
  const url = await firstLine(serve);
  bedrockProxy = await recorder(url);
}, 60_000);

afterAll(async () => {
  await bedrockProxy?.stop();
  await s3Proxy?.stop();
  serve?.kill('SIGTERM');
  await served;
  await s3?.stop();
});

describe('one AWS configuration for S3 and Bedrock', () => {
  it('a named profile alone (config and credentials files): every request signed with its key, for its region', { timeout: 120_000 }, async () => {
    s3Proxy.reset();
    bedrockProxy.reset();
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
        '',
        '[services acme-endpoints]',
        's3 =',
        `  endpoint_url = ${s3Proxy.endpoint}`,
        'bedrock =',
        `  endpoint_url = ${bedrockProxy.endpoint}`,
        '',
      ].join('\n'),
    );
    await writeFile(credentials, ['[default]', 'aws_access_key_id = AKIADEFAULTNOTUSED01', 'aws_secret_access_key = default-secret', '', '[acme]', `aws_access_key_id = ${KEY}`, `aws_secret_access_key = ${SECRET}`, ''].join('\n'));
    const env = bareEnv({ AWS_CONFIG_FILE: config, AWS_SHARED_CREDENTIALS_FILE: credentials });
    const r = await cli(
      ['run', join(ROOT, 'fixtures/calls.csv'), '--work', 's3://acme-runs/run-1/', '--role-arn', ROLE, '--profile', 'acme', '--quotas', 'documented', '--max-records', '100', '--json', '--results', join(tmp.dir, 'results-1.jsonl')],
      tmp.dir,
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ read: 283, written: 283, succeeded: 283, failed: 0, missing: 0 });

    // S3: prepare's writes, submit's reads of the run and its ledger, collect's reads and writes
    const ops = new Set(s3Proxy.requests.map((q) => q.op));
    for (const op of ['PutObject', 'GetObject', 'ListObjects'] as const) expect(ops, op).toContain(op);
    for (const q of s3Proxy.requests) expect(scope(q.headers), `${q.op} ${q.key}`).toEqual({ key: KEY, region: 'eu-west-3', service: 's3' });
    // Bedrock: create, get, list; signed for the profile's region, with placeholders, not the profile's key
    expect(bedrockProxy.requests.length).toBeGreaterThan(2);
    for (const q of bedrockProxy.requests) {
      const s = scope(q.headers);
      expect(s.region).toBe('eu-west-3');
      expect(s.service).toBe('bedrock');
      expect(s.key).not.toBe(KEY);
    }
    expect(JSON.stringify(bedrockProxy.requests.map((q) => q.headers))).not.toContain(SECRET);
    // every request says who sent it
    for (const q of [...s3Proxy.requests, ...bedrockProxy.requests]) expect(String(q.headers['user-agent'])).toContain('app/bedrock-batch');
  });

  it('AWS_DEFAULT_REGION alone is the region of S3 and Bedrock alike', { timeout: 120_000 }, async () => {
    s3Proxy.reset();
    bedrockProxy.reset();
    const env = bareEnv({
      AWS_DEFAULT_REGION: 'ap-south-1',
      AWS_ACCESS_KEY_ID: 'AKIAENVIRONMENT00001',
      AWS_SECRET_ACCESS_KEY: 'environment-secret',
      AWS_ENDPOINT_URL_S3: s3Proxy.endpoint,
      AWS_ENDPOINT_URL_BEDROCK: bedrockProxy.endpoint,
      AWS_CONFIG_FILE: join(tmp.dir, 'no-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(tmp.dir, 'no-credentials'),
    });
    const r = await cli(
      ['run', join(ROOT, 'fixtures/calls.csv'), '--work', 's3://acme-runs/run-2/', '--role-arn', ROLE, '--quotas', 'documented', '--json', '--results', join(tmp.dir, 'results-2.jsonl'), '--debug'],
      tmp.dir,
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ read: 283, succeeded: 283 });
    expect(s3Proxy.requests.length).toBeGreaterThan(3);
    for (const q of s3Proxy.requests) expect(scope(q.headers)).toEqual({ key: 'AKIAENVIRONMENT00001', region: 'ap-south-1', service: 's3' });
    expect(bedrockProxy.requests.length).toBeGreaterThan(2);
    for (const q of bedrockProxy.requests) expect(scope(q.headers)).toMatchObject({ region: 'ap-south-1', service: 'bedrock' });
    for (const q of bedrockProxy.requests) expect(scope(q.headers).key).not.toBe('AKIAENVIRONMENT00001');

    // --debug: one line per request, with its operation, status and time, and no secret or record text
    const debug = r.stderr.split('\n').filter((l) => l.startsWith('bedrock-batch: debug: aws '));
    expect(debug.length).toBe(s3Proxy.requests.length + bedrockProxy.requests.length);
    expect(debug.some((l) => / S3 PutObject 127\.0\.0\.1:\d+ 200 \d+ ms id=/.test(l))).toBe(true);
    expect(debug.some((l) => / Bedrock CreateModelInvocationJob 127\.0\.0\.1:\d+ 200 \d+ ms id=\S+/.test(l))).toBe(true);
    expect(r.stderr).not.toContain('environment-secret');
    expect(r.stderr).not.toContain('AKIAENVIRONMENT00001');
    expect(r.stderr).not.toMatch(/arrived damaged|Customer:|Agent:/);
  });

  it('a profile named on the command line wins over keys in the environment, as in the AWS CLI (estimate and status, reading S3)', { timeout: 60_000 }, async () => {
    s3Proxy.reset();
    const env = bareEnv({
      AWS_CONFIG_FILE: join(tmp.dir, 'config'),
      AWS_SHARED_CREDENTIALS_FILE: join(tmp.dir, 'credentials'),
      AWS_ACCESS_KEY_ID: 'AKIAENVIRONMENT00002',
      AWS_SECRET_ACCESS_KEY: 'environment-secret',
    });
    const r = await cli(['estimate', 's3://acme-runs/run-1/batch/', '--profile', 'acme', '--json'], tmp.dir, env);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).total.records).toBe(283);
    // status reads the run and its ledger in S3, and asks Bedrock, with the same settings
    const st = await cli(['status', 's3://acme-runs/run-1/batch/', '--profile', 'acme', '--json'], tmp.dir, env);
    expect(st.code, st.stderr).toBe(0);
    expect(JSON.parse(st.stdout).jobs.map((j: { status: string }) => j.status)).toEqual(['Completed']);
    expect(s3Proxy.requests.length).toBeGreaterThan(0);
    for (const q of s3Proxy.requests) expect(scope(q.headers)).toEqual({ key: KEY, region: 'eu-west-3', service: 's3' });
  });

  it('serve --profile reads and writes S3 with that profile too (no --root)', { timeout: 120_000 }, async () => {
    s3Proxy.reset();
    const env = bareEnv({ AWS_CONFIG_FILE: join(tmp.dir, 'config'), AWS_SHARED_CREDENTIALS_FILE: join(tmp.dir, 'credentials') });
    const served2 = start(['serve', '--port', '0', '--no-state', '--profile', 'acme'], tmp.dir, env);
    const done2 = finish(served2);
    try {
      const url = await firstLine(served2);
      const r = await cli(
        ['run', join(ROOT, 'fixtures/calls.csv'), '--work', 's3://acme-runs/run-3/', '--role-arn', ROLE, '--profile', 'acme', '--bedrock-endpoint-url', url, '--quotas', 'documented', '--json', '--results', join(tmp.dir, 'results-3.jsonl')],
        tmp.dir,
        env,
      );
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ read: 283, succeeded: 283 });
    } finally {
      served2.kill('SIGTERM');
    }
    const { stderr } = await done2;
    expect(stderr).toContain('profile "acme"');
    expect(stderr).not.toContain(SECRET);
    // the service's reads of the shards and writes of the outputs went through the profile's S3 endpoint, with its key
    const outputs = s3Proxy.requests.filter((q) => q.key.endsWith('.jsonl.out') && ['PutObject', 'CreateMultipartUpload', 'UploadPart'].includes(q.op));
    expect(outputs.length).toBeGreaterThan(0);
    for (const q of s3Proxy.requests) expect(scope(q.headers)).toEqual({ key: KEY, region: 'eu-west-3', service: 's3' });
  });

  it('a profile named but in neither file is an error that names it', { timeout: 60_000 }, async () => {
    const env = bareEnv({ AWS_CONFIG_FILE: join(tmp.dir, 'config'), AWS_SHARED_CREDENTIALS_FILE: join(tmp.dir, 'credentials') });
    const r = await cli(['submit', 's3://acme-runs/run-1/batch/', '--profile', 'acme-typo', '--role-arn', ROLE], tmp.dir, env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('the AWS profile "acme-typo" (--profile) is in neither the config nor the credentials file');
  });
});
