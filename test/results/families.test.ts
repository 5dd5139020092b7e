/**
 * Every model family's output shape, from hand-written fixtures in Bedrock's documented shapes
 * (fixtures/outputs/families, see its README): text, stop reason and tokens normalised, errors with
 * their code as a number or a string, the raw output kept.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FAMILIES } from '../../src/models/index.js';
import type { FamilyName } from '../../src/models/family.js';
import { recordErrorOf } from '../../src/results/join.js';
import { familyOfOutput, readModelOutput } from '../../src/results/model-output.js';
import { parseOutputLine } from '../../src/results/output-line.js';
import { isRetryable } from '../../src/results/retry.js';

const DIR = join(import.meta.dirname, '..', '..', 'fixtures', 'outputs', 'families');
const expected = JSON.parse(readFileSync(join(DIR, 'expected.json'), 'utf8')) as Record<FamilyName, Record<string, unknown>[]>;

function lines(family: string) {
  return readFileSync(join(DIR, `${family}.jsonl.out`), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const p = parseOutputLine(Buffer.from(l));
      if (!p.ok) throw new Error(p.reason);
      return p.value;
    });
}

describe('model families: reading outputs', () => {
  for (const name of Object.keys(FAMILIES) as FamilyName[]) {
    it(`${name}: text, stop reason, tokens and errors`, () => {
      const got = lines(name).map((v) => {
        if (v.hasError) {
          const e = recordErrorOf(v.error);
          return { recordId: v.recordId, kind: 'error', errorCode: e.code, retryable: isRetryable(e) };
        }
        const s = readModelOutput(v.modelOutput, FAMILIES[name]);
        return { recordId: v.recordId, kind: 'success', ...s };
      });
      expect(got).toEqual(expected[name]);
    });

    it(`${name}: the shape alone tells the family`, () => {
      for (const v of lines(name)) {
        if (!v.hasModelOutput) continue;
        const shape = familyOfOutput(v.modelOutput);
        expect(shape === name || (name === 'nova' && shape === 'converse') || (name === 'converse' && shape === 'nova')).toBe(true);
        expect(readModelOutput(v.modelOutput)).toEqual(readModelOutput(v.modelOutput, FAMILIES[name]));
      }
    });
  }

  it('reads an output with the right family when the run said another (Converse output, anthropic run)', () => {
    const v = lines('converse')[0]!;
    expect(readModelOutput(v.modelOutput, FAMILIES.anthropic).text).toBe('Billing error reported; a refund is issued.');
  });

  it('gives no text (never a throw) for shapes no family knows', () => {
    expect(readModelOutput({ embedding: [0.1, 0.2], inputTextTokenCount: 3 })).toEqual({ text: undefined });
    expect(readModelOutput(null, FAMILIES.nova)).toEqual({ text: undefined });
    expect(readModelOutput('text', FAMILIES.llama)).toEqual({ text: undefined });
  });

  it('reads error codes defensively', () => {
    expect(recordErrorOf({ errorCode: 400, errorMessage: 'bad' })).toEqual({ code: 400, message: 'bad' });
    expect(recordErrorOf({ errorCode: '429', errorMessage: 'slow' })).toEqual({ code: '429', message: 'slow' });
    expect(recordErrorOf({ errorMessage: { detail: 'x' } })).toEqual({ code: undefined, message: '{"detail":"x"}' });
    expect(recordErrorOf('boom')).toEqual({ code: undefined, message: 'boom' });
    expect(recordErrorOf({ errorCode: 500, errorMessage: 'x'.repeat(5000) }).message!.length).toBe(1000);
  });

  it('retries throttling, timeouts and server errors, not the record\'s own 4xx', () => {
    const r = (code: number | string | undefined) => isRetryable({ code, message: undefined });
    expect([400, 403, 404, 413, 422].map(r)).toEqual([false, false, false, false, false]);
    expect([408, 429, 500, 503, 424].map(r)).toEqual([true, true, true, true, true]);
    expect(['400', ' 429 ', 'ValidationException', 'ThrottlingException', 'ModelTimeoutException', undefined].map(r)).toEqual([false, true, false, true, true, true]);
  });
});
