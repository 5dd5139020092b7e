/**
 * `bedrock-batch serve` as a user runs it (the built CLI, real child processes): a free port unless
 * `--port` says otherwise, the URL first on stdout, a plain word about whose AWS credentials it
 * uses without `--root`, and a model endpoint that would send the API key in clear refused at start.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateModelInvocationJobCommand } from '@aws-sdk/client-bedrock';
import { afterEach, describe, expect, it } from 'vitest';
import { firstLine } from '../support/cli.js';
import { useTempDir } from '../support/temp.js';
import { clientOf, createInput, failure, jsonl, put, recordId, waitFor } from './helpers.js';

const bin = fileURLToPath(new URL('../../dist/src/cli/bin.js', import.meta.url));

const tmp = useTempDir('serve-');
const running: ChildProcess[] = [];
afterEach(async () => {
  for (const c of running.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGTERM');
      await new Promise((r) => c.once('close', r));
    }
  }
});

/** A clean environment: no AWS settings but what a test gives, HOME in the temporary directory. */
const baseEnv = (): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, HOME: tmp.dir, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', NO_COLOR: '1' });

interface Serve {
  child: ChildProcess;
  url: Promise<string>;
  stderr: () => string;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

function serve(args: string[], env: NodeJS.ProcessEnv = {}): Serve {
  const child = spawn(process.execPath, [bin, 'serve', ...args], { cwd: tmp.dir, env: { ...baseEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.push(child);
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  child.stdout!.on('data', (d) => (stdout += d));
  const url = firstLine(child);
  url.catch(() => {});
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, url, stderr: () => stderr, done };
}

/** Wait until the child's stderr holds `text` (the guard only stops a hung test). */
async function stderrHas(s: Serve, text: string): Promise<void> {
  const until = Date.now() + 20_000;
  while (!s.stderr().includes(text)) {
    if (Date.now() > until) throw new Error(`stderr never said "${text}": ${s.stderr()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('serve', () => {
  it('picks a free port by default: two services start side by side, each printing its own URL first', async () => {
    await mkdir(join(tmp.dir, 'a'));
    await mkdir(join(tmp.dir, 'b'));
    const one = serve(['--root', 'a', '--quiet']);
    const two = serve(['--root', 'b', '--quiet']);
    const [u1, u2] = await Promise.all([one.url, two.url]);
    expect(u1).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(u2).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(u1).not.toBe(u2);
    expect(u1).not.toBe('http://127.0.0.1:8089');
  });

  it('says plainly, even with --quiet, that without --root it acts with the AWS credentials of its environment, never printing them', async () => {
    const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    const config = join(tmp.dir, 'aws-config');
    await writeFile(config, '[profile team-dev]\nregion = eu-west-1\n');
    const cases: [NodeJS.ProcessEnv, string][] = [
      [{ AWS_PROFILE: 'team-dev', AWS_CONFIG_FILE: config }, 'profile "team-dev"'],
      [{ AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE', AWS_SECRET_ACCESS_KEY: secret, AWS_SESSION_TOKEN: 'token-secret-value' }, 'AWS_ACCESS_KEY_ID'],
    ];
    for (const [env, source] of cases) {
      for (const quiet of [[], ['--quiet']]) {
        const s = serve(['--no-state', ...quiet], env);
        await s.url;
        await stderrHas(s, 'AWS credentials');
        const text = s.stderr();
        expect(text).toContain(source);
        expect(text).not.toContain(secret);
        expect(text).not.toContain('AKIAIOSFODNN7EXAMPLE');
        expect(text).not.toContain('token-secret-value');
        s.child.kill('SIGTERM');
        await s.done;
      }
    }
    // with --root it touches no AWS account, and says nothing of credentials
    await mkdir(join(tmp.dir, 'root'));
    const rooted = serve(['--root', 'root'], { AWS_PROFILE: 'team-dev' });
    await rooted.url;
    await stderrHas(rooted, 'listens on');
    expect(rooted.stderr()).not.toContain('AWS credentials');
  });

  it('refuses at start a profile that is in neither AWS file, naming it (without --root it is the S3 it would act as)', async () => {
    const r = await serve(['--no-state', '--profile', 'team-typo'], { AWS_CONFIG_FILE: join(tmp.dir, 'no-such-config'), AWS_SHARED_CREDENTIALS_FILE: join(tmp.dir, 'no-such-credentials') }).done;
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('the AWS profile "team-typo" (--profile) is in neither the config nor the credentials file');
  });

  it('refuses at start a plain-http model endpoint on another host, naming it and the flag that allows it', async () => {
    const refused = serve(['--no-state', '--model-endpoint', 'http://models.example.com:8080/v1']);
    const r = await refused.done;
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/E_BAD_OPTION: .*http:\/\/models\.example\.com:8080\/v1/);
    expect(r.stderr).toContain('--allow-insecure-model-endpoint');
    const allowed = serve(['--no-state', '--quiet', '--model-endpoint', 'http://models.example.com:8080/v1', '--allow-insecure-model-endpoint']);
    expect(await allowed.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('--allow-model adds a model id outside the batch catalogue; --keep-order keeps the input order; the banner says which', async () => {
    await mkdir(join(tmp.dir, 'root', 'out-bucket'), { recursive: true });
    await put(join(tmp.dir, 'root'), 'in-bucket/run/a.jsonl', jsonl(60, 0, () => ({ inputText: 'User: hello\nBot:' })));
    const s = serve(['--root', 'root', '--no-state', '--quotas', 'local', '--delay', '1', '--allow-model', 'amazon.titan-text-express-v1', '--keep-order']);
    const client = clientOf(await s.url);
    try {
      await stderrHas(s, 'listens on');
      expect(s.stderr()).toContain('minimum records: 1; output: input order');
      const { jobArn } = await client.send(new CreateModelInvocationJobCommand(createInput({ modelId: 'amazon.titan-text-express-v1' })));
      expect((await waitFor(client, jobArn!, ['Completed', 'Failed'])).status).toBe('Completed');
      const out = await readFile(join(tmp.dir, 'root', 'out-bucket', 'results', jobArn!.split('/')[1]!, 'a.jsonl.out'), 'utf8');
      expect(out.trim().split('\n').map((l) => JSON.parse(l).recordId)).toEqual(Array.from({ length: 60 }, (_, i) => recordId(i)));
      const refused = await failure(client.send(new CreateModelInvocationJobCommand(createInput({ jobName: 'other', modelId: 'amazon.titan-text-lite-v1' }))));
      expect(refused.name).toBe('ValidationException');
      expect(refused.message).toContain('--allow-model');
    } finally {
      client.destroy();
    }
    // without --quotas or --min-records, each model's own minimum; output shuffled
    const plain = serve(['--root', 'root', '--no-state']);
    await plain.url;
    await stderrHas(plain, 'listens on');
    expect(plain.stderr()).toContain("minimum records: each model's; output: shuffled");
  });

  it('submit refuses such an endpoint too, before anything else', async () => {
    const child = spawn(process.execPath, [bin, 'submit', './nowhere', '--output', './out', '--model-endpoint', 'http://10.1.2.3/v1'], { cwd: tmp.dir, env: baseEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    running.push(child);
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const code = await new Promise((r) => child.on('close', r));
    expect(code).toBe(1);
    expect(stderr).toMatch(/E_BAD_OPTION: .*http:\/\/10\.1\.2\.3\/v1/);
    expect(stderr).toContain('--allow-insecure-model-endpoint');
  });
});
