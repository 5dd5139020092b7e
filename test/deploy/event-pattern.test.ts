/**
 * test/support/event-pattern.ts, the EventBridge pattern matcher the template test relies on: it
 * follows EventBridge's rules for the parts it knows (exact values, `prefix`, nested fields, array
 * values, missing fields) and refuses every operator it does not know, so that a pattern it cannot
 * judge fails loudly instead of matching.
 */
import { describe, expect, it } from 'vitest';
import { matchesPattern } from '../support/event-pattern.js';

const event = { source: 'aws.bedrock', 'detail-type': 'Batch Inference Job State Change', resources: ['arn:a', 'arn:b'], detail: { status: 'Completed', n: 3, ok: true, none: null, batchJobName: 'batch-1f-job-0001' } };

describe('matchesPattern', () => {
  it('matches exact values of any JSON type, one of several alternatives, nested fields', () => {
    expect(matchesPattern({ source: ['aws.bedrock'] }, event)).toBe(true);
    expect(matchesPattern({ source: ['aws.s3', 'aws.bedrock'] }, event)).toBe(true);
    expect(matchesPattern({ detail: { n: [3], ok: [true], none: [null] } }, event)).toBe(true);
    expect(matchesPattern({ source: ['aws.s3'] }, event)).toBe(false);
    expect(matchesPattern({ detail: { n: ['3'] } }, event)).toBe(false); // a string is not the number
    expect(matchesPattern({ detail: { ok: [false] } }, event)).toBe(false);
  });

  it('needs every field the pattern names, and ignores the others', () => {
    expect(matchesPattern({}, event)).toBe(true);
    expect(matchesPattern({ source: ['aws.bedrock'], detail: { status: ['Completed'] } }, event)).toBe(true);
    expect(matchesPattern({ source: ['aws.bedrock'], detail: { status: ['Failed'] } }, event)).toBe(false);
    expect(matchesPattern({ detail: { missing: ['x'] } }, event)).toBe(false);
    expect(matchesPattern({ nowhere: { status: ['Completed'] } }, event)).toBe(false);
    expect(matchesPattern({ detail: { status: { deeper: ['x'] } } }, event)).toBe(false); // a string is not an object
  });

  it('matches a prefix of strings only', () => {
    expect(matchesPattern({ detail: { batchJobName: [{ prefix: 'batch-' }] } }, event)).toBe(true);
    expect(matchesPattern({ detail: { batchJobName: [{ prefix: 'batch-1f-job-0001' }] } }, event)).toBe(true);
    expect(matchesPattern({ detail: { batchJobName: [{ prefix: 'batch-2' }] } }, event)).toBe(false);
    expect(matchesPattern({ detail: { batchJobName: [{ prefix: 'Batch-' }] } }, event)).toBe(false); // case-sensitive
    expect(matchesPattern({ detail: { n: [{ prefix: '3' }] } }, event)).toBe(false);
  });

  it('matches an array value when one of its elements matches', () => {
    expect(matchesPattern({ resources: ['arn:b'] }, event)).toBe(true);
    expect(matchesPattern({ resources: [{ prefix: 'arn:' }] }, event)).toBe(true);
    expect(matchesPattern({ resources: ['arn:c'] }, event)).toBe(false);
  });

  it('refuses operators it does not implement, malformed ones and empty alternatives', () => {
    for (const op of [{ suffix: '-0001' }, { 'anything-but': 'x' }, { numeric: ['>', 1] }, { exists: true }, { wildcard: 'b*' }, { 'equals-ignore-case': 'x' }]) {
      expect(() => matchesPattern({ detail: { batchJobName: [op] } }, event), JSON.stringify(op)).toThrow(/knows exact values and \{"prefix": \.\.\.\} only/);
    }
    expect(() => matchesPattern({ detail: { batchJobName: [{ prefix: 'a', suffix: 'b' }] } }, event)).toThrow(/only/);
    expect(() => matchesPattern({ detail: { batchJobName: [{ prefix: 1 }] } }, event)).toThrow(/prefix must be a string/);
    expect(() => matchesPattern({ source: [] }, event)).toThrow(/lists no value/);
  });
});
