/**
 * Quota profiles with the user's overrides: a limit the user did not set follows one they lowered
 * below it, and never refuses the run; limits the user set are checked as given.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { quotaProfile } from '../../src/bedrock/quotas.js';
import { cli } from '../support/cli.js';
import { useTempDir } from '../support/temp.js';
import { ROOT } from '../prepare/helpers.js';

describe('quota overrides', () => {
  it('a lower file size brings the default per-record limit down with it', () => {
    const p = quotaProfile('default', { maxBytesPerFile: 1_000_000 });
    expect(p.maxBytesPerFile).toBe(1_000_000);
    expect(p.maxRecordBytes).toBe(1_000_000);
    expect(quotaProfile('default').maxRecordBytes).toBe(1 << 20);
  });

  it('a lower job count or job size brings the per-file defaults down', () => {
    const p = quotaProfile('default', { maxRecordsPerJob: 500, maxBytesPerJob: 2_000_000, minRecordsPerJob: 10 });
    expect(p.maxRecordsPerFile).toBe(500);
    expect(p.maxBytesPerFile).toBe(2_000_000);
    expect(p.maxRecordBytes).toBe(1 << 20);
  });

  it('limits the user set are checked as given', () => {
    expect(() => quotaProfile('default', { maxBytesPerFile: 1_000_000, maxRecordBytes: 2_000_000 })).toThrow(/the record size limit \(2000000\) exceeds the file size limit \(1000000\)/);
  });
});

describe('prepare --max-bytes', () => {
  const tmp = useTempDir('quotas-');
  it('1MB is taken, below the default per-record limit the user never set', { timeout: 60_000 }, async () => {
    const r = await cli(['prepare', join(ROOT, 'fixtures/calls.csv'), '--out', 'batch', '--max-bytes', '1MB', '--min-records', '1', '--json'], tmp.dir);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ read: 283, written: 283, rejected: 0 });
  });
});
