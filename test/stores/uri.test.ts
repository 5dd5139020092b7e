import { describe, expect, it } from 'vitest';
import { openStore } from '../../src/stores/index.js';
import { s3ClientOptions } from '../../src/stores/s3-client.js';
import { PartDigests, compositeCrc32, multipartEtag } from '../../src/stores/s3-verify.js';
import { bedrockS3UriProblem, checkBedrockS3Uri } from '../../src/bedrock/s3-uri.js';
import { checkKmsKeyId, parseS3Uri } from '../../src/stores/uri.js';
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';

describe("Bedrock's S3 URI rule", () => {
  it('accepts what Bedrock accepts', () => {
    for (const uri of [
      's3://batch-in/run-42/',
      's3://batch-in/run-42/input/job-0001/part-00001.jsonl',
      's3://my.bucket-1/a/b_c/d*e/(f)/g!h/\'i\'/',
      's3://abc',
      's3://abc/',
      's3://batch-in/../x/', // matches the pattern: the local service must handle it (docs/contracts.md)
    ]) {
      expect(bedrockS3UriProblem(uri), uri).toBeUndefined();
    }
  });

  it('names the bad segment and the characters at fault', () => {
    expect(() => checkBedrockS3Uri('s3://batch-in/exports/dt=2026-11/calls.jsonl')).toThrow(
      'the location s3://batch-in/exports/dt=2026-11/calls.jsonl cannot be used with Bedrock batch inference: the key segment "dt=2026-11" has characters Bedrock refuses ("=")',
    );
    expect(bedrockS3UriProblem('s3://batch-in/my run+1/')).toMatchObject({ segment: 'my run+1', message: expect.stringContaining('(space "+")'), hint: expect.stringContaining('"my-run-1"') });
    expect(bedrockS3UriProblem('s3://batch-in/a@b~c%20/')?.message).toContain('("@" "~" "%")');
    expect(bedrockS3UriProblem('s3://batch-in/caf\u00e9/')?.message).toContain('"\u00e9"');
    expect(bedrockS3UriProblem('s3://batch-in/a//b/')).toMatchObject({ segment: '', message: expect.stringContaining('empty segment') });
  });

  it('wants a lowercase bucket of 3 to 63 characters', () => {
    expect(bedrockS3UriProblem('s3://Batch_In/x/')).toMatchObject({ segment: 'Batch_In', message: expect.stringContaining('the bucket "Batch_In"') });
    expect(bedrockS3UriProblem('s3://ab/x/')?.segment).toBe('ab');
    expect(bedrockS3UriProblem('s3://-abc/')?.segment).toBe('-abc');
    expect(bedrockS3UriProblem(`s3://${'a'.repeat(64)}/`)?.segment).toHaveLength(64);
    expect(bedrockS3UriProblem('S3://batch-in/')?.message).toContain('s3://');
    expect(bedrockS3UriProblem(`s3://batch-in/${'a/'.repeat(520)}`)?.message).toContain('at most 1024');
  });

  it('is checked when a store is opened, before anything is written', () => {
    expect(() => openStore('s3://batch-in/dt=2026-11/', { region: 'us-east-1' })).toThrow(expect.objectContaining({ code: 'E_BAD_URI' }));
    expect(() => openStore('s3://Batch-In/run/', { region: 'us-east-1' })).toThrow(/the bucket "Batch-In"/);
    // a store that only reads sources takes any key
    expect(() => openStore('s3://batch-in/dt=2026-11/', { region: 'us-east-1', bedrockUris: false })).not.toThrow();
    const store = openStore('s3://batch-in/run/', { region: 'us-east-1' });
    expect(() => store.createWriteStream('input/a b.jsonl')).toThrow(expect.objectContaining({ code: 'E_BAD_URI', message: expect.stringContaining('cannot write s3://batch-in/run/input/a b.jsonl') }));
  });

  it('parses S3 URIs and refuses what is not one', () => {
    expect(parseS3Uri('s3://b-1/a/b.csv')).toEqual({ bucket: 'b-1', key: 'a/b.csv' });
    expect(parseS3Uri('s3://b-1')).toEqual({ bucket: 'b-1', key: '' });
    expect(() => parseS3Uri('s3:///x')).toThrow(/names no bucket/);
    expect(() => parseS3Uri('s3://a b/x')).toThrow(/not a valid bucket name/);
  });

  it('checks KMS key ids against the pattern Bedrock uses', () => {
    for (const id of ['1234abcd-12ab-34cd-56ef-1234567890ab', 'alias/batch', 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab', 'arn:aws:kms:eu-west-3:111122223333:alias/x']) {
      expect(() => checkKmsKeyId(id), id).not.toThrow();
    }
    expect(() => checkKmsKeyId('my key')).toThrow(expect.objectContaining({ code: 'E_BAD_OPTION' }));
  });
});

describe('S3 client settings', () => {
  it('follow the AWS conventions: option, then AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL', () => {
    expect(s3ClientOptions({ env: {} })).toEqual({});
    expect(s3ClientOptions({ env: { AWS_ENDPOINT_URL: 'http://127.0.0.1:1', AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:2' } }).endpoint).toBe('http://127.0.0.1:2');
    expect(s3ClientOptions({ env: { AWS_ENDPOINT_URL: 'http://127.0.0.1:1' } }).endpoint).toBe('http://127.0.0.1:1');
    expect(s3ClientOptions({ endpointUrl: 'http://127.0.0.1:3', env: { AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:2' } }).endpoint).toBe('http://127.0.0.1:3');
    expect(s3ClientOptions({ env: { AWS_ENDPOINT_URL_S3: 'http://x:2', AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' } }).endpoint).toBeUndefined();
  });

  it('turn on path-style and WHEN_REQUIRED checksums for a non-AWS endpoint, unless told otherwise', () => {
    expect(s3ClientOptions({ endpointUrl: 'http://127.0.0.1:9000', env: {} })).toEqual({
      endpoint: 'http://127.0.0.1:9000',
      region: 'us-east-1',
      forcePathStyle: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    expect(s3ClientOptions({ endpointUrl: 'https://s3.eu-west-3.amazonaws.com', env: {} })).toEqual({ endpoint: 'https://s3.eu-west-3.amazonaws.com' });
    const told = s3ClientOptions({ endpointUrl: 'http://127.0.0.1:9000', forcePathStyle: false, env: { AWS_REQUEST_CHECKSUM_CALCULATION: 'when_supported', AWS_REGION: 'eu-west-3' } });
    expect(told).toEqual({ endpoint: 'http://127.0.0.1:9000', region: 'eu-west-3', forcePathStyle: false, responseChecksumValidation: 'WHEN_REQUIRED' });
  });

  it('read the region as the AWS CLI does (AWS_REGION, then AWS_DEFAULT_REGION) and pass the profile on', () => {
    expect(s3ClientOptions({ env: { AWS_DEFAULT_REGION: 'eu-central-1' } }).region).toBe('eu-central-1');
    expect(s3ClientOptions({ env: { AWS_DEFAULT_REGION: 'eu-central-1', AWS_REGION: 'us-west-2' } }).region).toBe('us-west-2');
    expect(s3ClientOptions({ region: 'ap-south-1', profile: 'batch', env: { AWS_REGION: 'us-west-2' } })).toEqual({ region: 'ap-south-1', profile: 'batch' });
  });

  it('refuse bad settings with the option named', () => {
    expect(() => s3ClientOptions({ endpointUrl: 'localhost:9000' })).toThrow(/--endpoint-url "localhost:9000" must be an http/);
    expect(() => s3ClientOptions({ endpointUrl: 'not a url' })).toThrow(/is not a URL/);
    expect(() => s3ClientOptions({ endpointUrl: 'http://key:secret@127.0.0.1:9000' })).toThrow(/must not carry credentials/);
    expect(() => s3ClientOptions({ region: 'Europe (Paris)' })).toThrow(/is not an AWS region name/);
  });
});

describe('upload digests', () => {
  it('cut parts exactly where lib-storage does, whatever the chunk sizes', () => {
    const part = 1000;
    const data = Buffer.from(Array.from({ length: 3_500 }, (_, i) => (i * 31) & 255));
    for (const chunk of [1, 7, 999, 1000, 1001, 4096]) {
      const d = new PartDigests(part, true, true);
      for (let at = 0; at < data.length; at += chunk) d.update(data.subarray(at, at + chunk));
      d.finish();
      expect(d.parts.map((p) => p.size)).toEqual([1000, 1000, 1000, 500]);
      expect(d.parts.map((p) => p.md5!.toString('hex'))).toEqual([0, 1, 2, 3].map((i) => createHash('md5').update(data.subarray(i * part, (i + 1) * part)).digest('hex')));
      expect(d.parts.map((p) => p.crc32)).toEqual([0, 1, 2, 3].map((i) => crc32(data.subarray(i * part, (i + 1) * part))));
      expect(d.crc32).toBe(crc32(data));
    }
    // an exact multiple has no empty last part; an empty object is one empty part
    const exact = new PartDigests(part, false, true);
    exact.update(data.subarray(0, 2000));
    expect(exact.finish().parts.map((p) => p.size)).toEqual([1000, 1000]);
    expect(new PartDigests(part, false, true).finish().parts.map((p) => p.size)).toEqual([0]);
  });

  it('compose multipart checksums the way S3 does', () => {
    const a = createHash('md5').update('a').digest();
    const b = createHash('md5').update('b').digest();
    expect(multipartEtag([a, b])).toBe(`${createHash('md5').update(Buffer.concat([a, b])).digest('hex')}-2`);
    // CRC32 of the big-endian part CRCs, base64 (S3's COMPOSITE checksum type)
    const parts = [crc32('hello '), crc32('world')];
    const be = Buffer.alloc(8);
    be.writeUInt32BE(parts[0]!, 0);
    be.writeUInt32BE(parts[1]!, 4);
    const expected = Buffer.alloc(4);
    expected.writeUInt32BE(crc32(be));
    expect(compositeCrc32(parts)).toBe(`${expected.toString('base64')}-2`);
  });
});
