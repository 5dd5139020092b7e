/**
 * `clean` on a run in S3 (moto's server, real SDK clients): prepared into a bucket with
 * `--expire-days` tags, submitted on the embedded local service reading and writing that S3, and
 * collected; then the job outputs tagged as collect's `--expire-days` does (`tagRunOutputs`), and
 * cleaned: exactly the run's shards, lineage and job outputs go, in DeleteObjects requests, a key
 * S3 refuses is named and the rest still goes, and a second clean removes what was left.
 */
import { GetObjectTaggingCommand, PutBucketPolicyCommand, DeleteBucketPolicyCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withExpireTags } from '../../src/cli/expire.js';
import { Ledger } from '../../src/jobs/ledger.js';
import { cleanRun, tagRunOutputs } from '../../src/run/clean.js';
import { EXPIRE_TAG_KEY, expireTags, openStore, parseS3Uri, type StoreOptions } from '../../src/stores/index.js';
import { startMoto, type MotoServer } from '../support/moto.js';
import { startS3Proxy, type S3Proxy } from '../support/s3-proxy.js';
import { useTempDir } from '../support/temp.js';
import { collect, prepare, s3Files, submit, TRANSCRIPT_WORDS, without, type Where } from './clean-helpers.js';

let s3: MotoServer;
let proxy: S3Proxy;
let options: StoreOptions;
const tmp = useTempDir('clean-s3-');

beforeAll(async () => {
  s3 = await startMoto();
  for (const b of ['runs', 'outs']) await s3.createBucket(b);
  proxy = await startS3Proxy(s3);
  options = proxy.clientOptions;
});
afterAll(async () => {
  await proxy?.stop();
  await s3?.stop();
});

async function tagsOf(uri: string): Promise<Record<string, string>> {
  const { bucket, key } = parseS3Uri(uri);
  const res = await s3.client.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }));
  return Object.fromEntries((res.TagSet ?? []).map((t) => [t.Key!, t.Value!]));
}

describe('clean on a run in S3', () => {
  it('tags what prepare wrote and the job outputs, then removes exactly the transcript copies, one DeleteObjects request per location', async () => {
    const w: Where = { run: 's3://runs/r1/', out: 's3://outs/r1/', results: 's3://runs/r1-results.jsonl', scratch: tmp.dir, s3: options };
    // prepare --expire-days 30; submit and collect without it
    await prepare({ ...w, s3: withExpireTags(options, 30) }, 25, 10);
    const { jobs } = await submit(w);
    await collect(w);
    expect(jobs).toHaveLength(3);
    // prepare's objects carry the tag; Bedrock's outputs do not, until collect tags them
    expect(await tagsOf('s3://runs/r1/input/job-0001/part-00001.jsonl')).toEqual({ [EXPIRE_TAG_KEY]: '30' });
    expect(await tagsOf('s3://runs/r1/lineage/job-0001/part-00001.jsonl')).toEqual({ [EXPIRE_TAG_KEY]: '30' });
    expect(await tagsOf('s3://runs/r1/prepared.json')).toEqual({ [EXPIRE_TAG_KEY]: '30' });
    const firstOut = `s3://outs/r1/${jobs[0]!.jobId}/part-00001.jsonl.out`;
    expect(await tagsOf(firstOut)).toEqual({});
    // the user's own file in a job's output folder, and a shard changed since prepare
    await s3.client.send(new PutObjectCommand({ Bucket: 'outs', Key: `r1/${jobs[0]!.jobId}/notes.txt`, Body: 'mine\n' }));
    await s3.client.send(new PutObjectCommand({ Bucket: 'runs', Key: 'r1/input/job-0003/part-00003.jsonl', Body: '{}\n' }));

    const state = await Ledger.read('s3://runs/r1/ledger.jsonl', options);
    const tagged = await tagRunOutputs(openStore(w.out, options), state, expireTags(30));
    expect(tagged).toEqual({ tagged: 6, local: false });
    expect(await tagsOf(firstOut)).toEqual({ [EXPIRE_TAG_KEY]: '30' });
    expect(await tagsOf(`s3://outs/r1/${jobs[0]!.jobId}/manifest.json.out`)).toEqual({ [EXPIRE_TAG_KEY]: '30' });
    expect(await tagsOf(`s3://outs/r1/${jobs[0]!.jobId}/notes.txt`)).toEqual({});

    const runBefore = await s3Files(w.run, options);
    const outBefore = await s3Files(w.out, options);
    const shardKeys = [1, 2, 3].map((n) => `job-000${n}/part-0000${n}.jsonl`);
    const runGone = [...shardKeys.slice(0, 2).map((k) => `input/${k}`), ...shardKeys.map((k) => `lineage/${k}`)];
    const outGone = jobs.flatMap(({ jobId }, i) => [`${jobId}/part-0000${i + 1}.jsonl.out`, `${jobId}/manifest.json.out`]);

    // a dry run first: nothing goes
    const dry = await cleanRun({ run: w.run, s3: options, dryRun: true });
    expect(dry.total.files).toBe(runGone.length + outGone.length);
    expect(await s3Files(w.run, options)).toEqual(runBefore);

    proxy.reset();
    const s = await cleanRun({ run: w.run, s3: options });
    expect(without(await s3Files(w.run, options), ['ledger.jsonl'])).toEqual(without(runBefore, [...runGone, 'ledger.jsonl']));
    expect(await s3Files(w.out, options)).toEqual(without(outBefore, outGone));
    expect(s.removed).toMatchObject({ shards: { files: 2 }, lineage: { files: 3 }, outputs: { files: 6 } });
    expect(s.total.bytes).toBe([...runGone.map((k) => runBefore.get(k)), ...outGone.map((k) => outBefore.get(k))].reduce((n, b) => n + Number(b), 0));
    // one DeleteObjects per store (the run, the outputs), no DeleteObject one by one
    expect(proxy.requests.filter((r) => r.method === 'POST' && r.op === 'Other')).toHaveLength(2);
    expect(proxy.ops('DeleteObject')).toEqual([]);
    const kept = new Map(s.kept.map((k) => [k.uri, k.why]));
    expect(kept.get('s3://runs/r1/input/job-0003/part-00003.jsonl')).toContain('changed since prepare');
    expect(kept.get(`s3://outs/r1/${jobs[0]!.jobId}/notes.txt`)).toContain('not an output of job job-0001');
    expect(kept.get('s3://runs/r1-results.jsonl')).toBe('the results');
    expect(JSON.stringify(s)).not.toContain(TRANSCRIPT_WORDS);
    expect((await Ledger.read('s3://runs/r1/ledger.jsonl', options)).cleaned).toMatchObject({ removed: 11 });

    const again = await cleanRun({ run: w.run, s3: options });
    expect(again.nothingLeft).toBe(true);
    expect(await s3Files(w.out, options)).toEqual(without(outBefore, outGone));
  });

  it('refuses a run not collected, and names each key S3 refused while removing the rest', async () => {
    const w: Where = { run: 's3://runs/r2/', out: 's3://outs/r2/', results: 's3://runs/r2-results.jsonl', scratch: tmp.dir, s3: options };
    await prepare(w, 12, 6);
    const { jobs } = await submit(w);
    const before = await s3Files(w.run, options);
    await expect(cleanRun({ run: w.run, s3: options })).rejects.toMatchObject({ code: 'E_NOT_COLLECTED' });
    expect(await s3Files(w.run, options)).toEqual(before);
    await collect(w);

    // S3 refuses to delete one output
    const refused = `r2/${jobs[1]!.jobId}/manifest.json.out`;
    const policy = { Version: '2012-10-17', Statement: [{ Effect: 'Deny', Principal: '*', Action: 's3:DeleteObject', Resource: `arn:aws:s3:::outs/${refused}` }] };
    await s3.client.send(new PutBucketPolicyCommand({ Bucket: 'outs', Policy: JSON.stringify(policy) }));
    try {
      const s = await cleanRun({ run: w.run, s3: options });
      expect(s.failed).toEqual([{ uri: `s3://outs/${refused}`, code: 'AccessDenied', message: expect.any(String) }]);
      expect(s.total.files).toBe(2 + 2 + 3);
      expect([...(await s3Files(w.out, options)).keys()]).toEqual([refused.slice('r2/'.length)]);
      expect((await Ledger.read('s3://runs/r2/ledger.jsonl', options)).cleaned).toMatchObject({ removed: 7 });
    } finally {
      await s3.client.send(new DeleteBucketPolicyCommand({ Bucket: 'outs' }));
    }
    const rest = await cleanRun({ run: w.run, s3: options });
    expect(rest.total.files).toBe(1);
    expect(rest.failed).toEqual([]);
    expect(await s3Files(w.out, options)).toEqual(new Map());
  });
});
