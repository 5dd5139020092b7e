import { describe, expect, it } from 'vitest';
import { accountOfRole, isTerminal, JOB_STATUSES, jobArnOf, jobIdOf, matchesPattern, TERMINAL_STATUSES } from '../../src/bedrock/vocabulary.js';

describe('Bedrock vocabulary', () => {
  it('a job ARN built from its parts matches the documented identifier pattern, and its id comes back out', () => {
    const arn = jobArnOf('eu-west-1', '123456789012', 'abc123def456');
    expect(arn).toBe('arn:aws:bedrock:eu-west-1:123456789012:model-invocation-job/abc123def456');
    expect(matchesPattern('jobIdentifier', arn)).toBe(true);
    expect(jobIdOf(arn)).toBe('abc123def456');
    expect(jobIdOf('abc123def456')).toBe('abc123def456');
  });

  it('patterns match whole values, including the ones the service model leaves unanchored', () => {
    expect(matchesPattern('modelId', 'anthropic.claude-3-haiku-20240307-v1:0')).toBe(true);
    expect(matchesPattern('modelId', 'anthropic.claude-3-haiku-20240307-v1:0 trailing')).toBe(false);
    expect(matchesPattern('s3Uri', 's3://my-bucket/prefix/')).toBe(true);
    expect(matchesPattern('s3Uri', 'S3://my-bucket/prefix/')).toBe(false);
    expect(matchesPattern('jobName', 'calls-2026-12')).toBe(true);
    expect(matchesPattern('jobName', 'my job')).toBe(false);
  });

  it('terminal statuses are the five a job never leaves, all of them real statuses', () => {
    expect([...TERMINAL_STATUSES].sort()).toEqual(['Completed', 'Expired', 'Failed', 'PartiallyCompleted', 'Stopped']);
    for (const s of TERMINAL_STATUSES) expect(JOB_STATUSES).toContain(s);
    expect(isTerminal('InProgress')).toBe(false);
    expect(isTerminal('Stopping')).toBe(false);
    expect(isTerminal(undefined)).toBe(false);
  });

  it('reads the account out of a role ARN, in any partition', () => {
    expect(accountOfRole('arn:aws:iam::123456789012:role/batch')).toBe('123456789012');
    expect(accountOfRole('arn:aws-us-gov:iam::210987654321:role/batch')).toBe('210987654321');
    expect(accountOfRole('arn:aws:iam:::role/batch')).toBe('');
  });
});
