/**
 * `bedrock-batch serve` (the built CLI) serves the Bedrock Runtime on its one URL, and boto3's
 * `bedrock-runtime` client talks to it unchanged (HTTP/1.1, SigV4, restJson1 as botocore writes it):
 * invoke_model, converse and count_tokens answer; `--runtime-rpm` caps the requests a minute and the
 * next one is a ThrottlingException as botocore reads it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, ENV, firstLine } from '../support/cli.js';
import { useTempDir } from '../support/temp.js';
import { anthropicInput, HAIKU } from './helpers.js';

const tmp = useTempDir('runtime-serve-');
const running: ChildProcess[] = [];
afterEach(async () => {
  for (const c of running.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGTERM');
      await new Promise((r) => c.once('close', r));
    }
  }
});

// Run with the endpoint in argv[1] and the Anthropic body in argv[2]; prints one JSON line per call.
const SCRIPT = `
import json, sys, boto3
from botocore.config import Config
endpoint, body = sys.argv[1], sys.argv[2]
rt = boto3.client('bedrock-runtime', region_name='us-east-1', endpoint_url=endpoint, aws_access_key_id='local',
                  aws_secret_access_key='local', config=Config(retries={'total_max_attempts': 1}))
HAIKU = '${HAIKU}'
def call(name, fn):
    try:
        out = fn()
        out.pop('ResponseMetadata', None)
        print(json.dumps({'call': name, 'ok': out}, default=str))
    except rt.exceptions.ThrottlingException as e:
        print(json.dumps({'call': name, 'throttled': e.response['Error']['Message'], 'status': e.response['ResponseMetadata']['HTTPStatusCode']}))
    except Exception as e:
        print(json.dumps({'call': name, 'error': type(e).__name__, 'message': str(e)}))
def invoke():
    r = rt.invoke_model(modelId=HAIKU, body=body, contentType='application/json', accept='application/json')
    h = r['ResponseMetadata']['HTTPHeaders']
    return {'body': json.loads(r['body'].read()), 'input': h.get('x-amzn-bedrock-input-token-count')}
call('invoke', invoke)
call('converse', lambda: rt.converse(modelId='us.amazon.nova-lite-v1:0', messages=[{'role': 'user', 'content': [{'text': 'Customer: my parcel is late. Agent: I have reshipped it today.'}]}], inferenceConfig={'maxTokens': 100}))
call('count', lambda: rt.count_tokens(modelId=HAIKU, input={'invokeModel': {'body': body}}))
call('invoke-again', invoke)
call('invoke-over', invoke)
`;

describe('serve and boto3', () => {
  it('answers invoke_model, converse and count_tokens, and throttles past --runtime-rpm', async () => {
    const child = spawn(process.execPath, [BIN, 'serve', '--no-state', '--quiet', '--runtime-rpm', '2'], { cwd: tmp.dir, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    running.push(child);
    let serveErr = '';
    child.stderr!.on('data', (d) => (serveErr += d));
    const endpoint = await firstLine(child).catch((err: Error) => {
      throw new Error(`${err.message}; its stderr: ${serveErr}`);
    });
    expect(endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const py = spawnSync('python3', ['-c', SCRIPT, endpoint, JSON.stringify(anthropicInput())], { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: tmp.dir } });
    // python3 with boto3 is a prerequisite of the suite (moto needs it too): a missing one says so here
    expect(py.stderr, `python3 said: ${py.stdout}\nserve said: ${serveErr}`).toBe('');
    const calls = Object.fromEntries(py.stdout.trim().split('\n').map((l) => [JSON.parse(l).call, JSON.parse(l)]));
    const invoked = calls.invoke.ok;
    expect(invoked.body.content[0].text).toContain('[local stand-in]');
    expect(Number(invoked.input)).toBe(invoked.body.usage.input_tokens);
    expect(calls.converse.ok.output.message.content[0].text).toContain('[local stand-in]');
    expect(calls.converse.ok.usage.totalTokens).toBeGreaterThan(0);
    expect(calls.count.ok.inputTokens).toBe(invoked.body.usage.input_tokens);
    expect(calls['invoke-again'].ok.body).toEqual(invoked.body);
    expect(calls['invoke-over']).toEqual({ call: 'invoke-over', throttled: 'Too many requests, please wait before trying again.', status: 429 });
  });
});
