/**
 * A realistic input for the HTML report: a schema run of 120 calls shaped like `collect --json`
 * (with the prepare counts `run --json` adds), the run's schema (call-insights-like), and the calls
 * as rows, built deterministically. Field tallies are counted from the rows, so the report's charts
 * can be checked against both. Two hostile values ride along as a real run could carry them: a call
 * id and a summary holding markup, and an error code holding markup.
 */
import type { ReportRow } from '../../src/results/report-html.js';

export const HOSTILE_KEY = '</script><script>window.__pwned = 1</script>';
export const HOSTILE_TEXT = 'Caller said <img src=x onerror="window.__pwned = 2"> & "hi" \u2028 then </script><script>window.__pwned = 3</script>';
export const HOSTILE_CODE = '<img src="http://127.0.0.1:9/x.png" onerror="window.__pwned = 4">';

export const REASONS = ['billing', 'technical', 'cancellation', 'sales', 'other'] as const;
export const SENTIMENTS = ['negative', 'neutral', 'positive'] as const;

export const SCHEMA: Record<string, unknown> = {
  title: 'call-insights',
  type: 'object',
  properties: {
    reason: { type: 'string', enum: [...REASONS], description: 'why the customer called' },
    resolution: { type: 'string', description: 'what was done' },
    resolved: { type: 'boolean', description: 'resolved on the call' },
    sentiment_start: { type: 'string', enum: [...SENTIMENTS] },
    sentiment_end: { type: 'string', enum: [...SENTIMENTS] },
    topics: { type: 'array', items: { type: 'string' } },
    follow_up_needed: { type: 'boolean' },
  },
  required: ['reason', 'resolved', 'sentiment_start', 'sentiment_end', 'follow_up_needed'],
};

export interface Sample {
  json: Record<string, unknown>;
  rows: ReportRow[];
  schema: Record<string, unknown>;
}

/** 120 calls: 107 valid answers, 3 invalid, 6 record errors, 4 missing; 'other' is never the reason. */
export function sampleRun(): Sample {
  const rows: ReportRow[] = [];
  for (let i = 0; i < 120; i++) {
    const key = i === 7 ? HOSTILE_KEY : `CALL-${String(1000 + i)}`;
    const job = i < 60 ? 'job-0001' : 'job-0002';
    if (i % 30 === 11) {
      rows.push({ key, status: 'missing', job, error: 'no output line (job Expired)' });
      continue;
    }
    if (i % 20 === 13) {
      rows.push({ key, status: 'error', job, error: i === 13 ? 'ThrottlingException' : 'model error 400' });
      continue;
    }
    if (i % 24 === 5) {
      rows.push({ key, status: 'invalid', job, error: 'fields: must have required property resolved', text: '{"reason": "billing"' });
      continue;
    }
    const reason = REASONS[(i * 7) % 4]!; // never 'other'
    const fields: Record<string, unknown> = {
      reason,
      resolution: i === 7 ? '<script>window.__pwned = 5</script>' : `resolved the ${reason} question`,
      resolved: i % 3 !== 0,
      sentiment_start: SENTIMENTS[i % 3]!,
      sentiment_end: SENTIMENTS[(i + 1) % 3]!,
      topics: [reason, i % 2 ? 'refund' : 'plan change'],
      follow_up_needed: i % 5 === 0,
    };
    rows.push({
      key,
      status: 'success',
      job,
      fields,
      text: i === 7 ? HOSTILE_TEXT : `The customer called about ${reason}; the agent ${fields.resolved ? 'resolved it' : 'opened a ticket'}.`,
      ...(i % 17 === 0 ? { truncated: 12 + i } : {}),
      ...(i % 9 === 0 ? { redacted: { card: 1, phone: 2 } } : {}),
    });
  }
  const valid = rows.filter((r) => r.status === 'success');
  const tally = (name: string, values: readonly string[]) => {
    const counts: Record<string, number> = {};
    for (const v of values) {
      const n = valid.filter((r) => String(r.fields![name]) === v).length;
      if (n) counts[v] = n; // zero counts left out, as a collector may
    }
    return counts;
  };
  const count = (status: string, job?: string) => rows.filter((r) => r.status === status && (!job || r.job === job)).length;
  const jobs = ['job-0001', 'job-0002'].map((job, j) => ({
    job,
    jobIds: [`abcd1234ef5${j}`],
    status: j === 0 ? 'Completed' : 'PartiallyCompleted',
    submitted: rows.filter((r) => r.job === job).length,
    succeeded: count('success', job),
    failed: count('error', job) + count('invalid', job),
    missing: count('missing', job),
    inputTokens: 101_000 + j * 1000,
    outputTokens: 20_500 + j * 100,
  }));
  const json: Record<string, unknown> = {
    read: 127,
    written: 120,
    rejected: 7,
    rejectsByCode: { E_CALL_TOO_LARGE: 4, E_DUPLICATE_KEY: 3 },
    submitted: rows.length,
    succeeded: valid.length,
    failed: count('error') + count('invalid'),
    invalid: count('invalid'),
    missing: count('missing'),
    pending: 0,
    inputTokens: 203_000,
    outputTokens: 41_100,
    fields: {
      reason: { type: 'enum', counts: tally('reason', REASONS) },
      resolved: { type: 'boolean', counts: tally('resolved', ['true', 'false']) },
      sentiment_start: { type: 'enum', counts: tally('sentiment_start', SENTIMENTS) },
      sentiment_end: { type: 'enum', counts: tally('sentiment_end', SENTIMENTS) },
      follow_up_needed: { type: 'boolean', counts: tally('follow_up_needed', ['true', 'false']) },
    },
    redacted: { card: 14, phone: 28, email: 3 },
    truncated: rows.filter((r) => r.truncated).length,
    results: { uri: 'demo/results.csv', records: 120, format: 'csv' },
    retry: { uri: 'demo/batch/retry-2', records: 10, attempt: 2, submittable: true, jobs: [] },
    deadLetter: { uri: 'demo/batch/dead-letter.jsonl', records: 1, byReason: { 'invalid answer': 1 } },
    jobs,
    cost: { currency: 'USD', total: 0.1234, input: 0.0812, output: 0.0422, tokens: 'outputs', estimate: true, label: 'estimate at Bedrock batch list prices of 2025-01' },
    model: { modelId: 'anthropic.claude-3-haiku-20240307-v1:0', family: 'anthropic' },
    attempt: 1,
    errorsByCode: { '400': count('error') - 1, [HOSTILE_CODE]: 1 },
    missingByReason: { 'no output line (job Expired)': count('missing') },
    badLines: 0,
    manifestIssues: [],
    unknownRecords: 0,
    duplicates: 0,
    warnings: [],
  };
  return { json, rows, schema: SCHEMA };
}
