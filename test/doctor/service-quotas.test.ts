/**
 * src/aws/service-quotas.ts on its own: quota names as AWS writes them (a listing of Bedrock's quota
 * names with codes, docs/bedrock.md §5) map onto the quota profile's fields, and
 * `accountQuotaProfile` keeps a profile within an account's quotas.
 */
import { describe, expect, it } from 'vitest';
import { accountQuotaProfile, batchQuotaFieldOf, type AccountBatchQuotas, type BatchQuotaField } from '../../src/aws/service-quotas.js';
import { findBatchModel } from '../../src/bedrock/batch-models.js';
import { quotaProfile } from '../../src/bedrock/quotas.js';

const model = (id: string) => findBatchModel(id)!;

describe('batchQuotaFieldOf', () => {
  it("reads AWS's names, wherever they put \"(in GB)\", and Nova's \"V1\"", () => {
    const cases: [string, string, BatchQuotaField | undefined][] = [
      ['Minimum number of records per batch inference job for Qwen3 Coder 30B', 'qwen.qwen3-coder-30b-a3b-v1:0', 'minRecordsPerJob'],
      ['Batch inference job size for Qwen3 Coder 480B (in GB)', 'qwen.qwen3-coder-480b-a35b-v1:0', 'maxBytesPerJob'],
      ['Batch inference job size (in GB) for Claude 3.7 Sonnet', 'anthropic.claude-3-7-sonnet-20250219-v1:0', 'maxBytesPerJob'],
      ['Records per input file per batch inference job for Claude Sonnet 4', 'anthropic.claude-sonnet-4-20250514-v1:0', 'maxRecordsPerFile'],
      ['Batch inference input file size (in GB) for Claude 3 Haiku', 'anthropic.claude-3-haiku-20240307-v1:0', 'maxBytesPerFile'],
      ['Batch inference input file size for Qwen3 235B (in GB)', 'qwen.qwen3-235b-a22b-2507-v1:0', 'maxBytesPerFile'],
      ['Records per batch inference job for Claude 3 Haiku', 'anthropic.claude-3-haiku-20240307-v1:0', 'maxRecordsPerJob'],
      ['Minimum number of records per batch inference job for Nova Lite V1', 'amazon.nova-lite-v1:0', 'minRecordsPerJob'],
      ['Minimum number of records per batch inference job for Claude 3.5 Sonnet v2', 'anthropic.claude-3-5-sonnet-20241022-v2:0', 'minRecordsPerJob'],
      ['Sum of in-progress and submitted batch inference jobs using a base model for DeepSeek v3', 'deepseek.v3-v1:0', 'maxJobsInFlight'],
      ['Minimum number of records per batch inference job for OpenAI GPT OSS 120b', 'openai.gpt-oss-120b-1:0', 'minRecordsPerJob'],
      // another model's quota, and quotas that are not batch limits
      ['Records per batch inference job for Claude 3.5 Sonnet', 'anthropic.claude-3-5-sonnet-20241022-v2:0', undefined],
      ['Minimum number of records per batch inference job for Nova Micro V1', 'amazon.nova-lite-v1:0', undefined],
      ['On-demand model inference requests per minute for Anthropic Claude 3 Haiku', 'anthropic.claude-3-haiku-20240307-v1:0', undefined],
      ['Sum of in-progress and submitted batch inference jobs using a custom model for Claude 3 Haiku', 'anthropic.claude-3-haiku-20240307-v1:0', undefined],
    ];
    for (const [name, id, field] of cases) expect([name, batchQuotaFieldOf(name, model(id))]).toEqual([name, field]);
  });
});

describe('accountQuotaProfile', () => {
  const quota = (field: BatchQuotaField, profileValue: number) => ({ field, name: field, code: 'L-1', value: profileValue, profileValue, source: 'applied' as const, adjustable: true });

  it('lowers maxima, raises the minimum, and keeps per-file limits within per-job ones', () => {
    const account: AccountBatchQuotas = {
      model: 'Claude 3 Haiku',
      notes: [],
      quotas: {
        minRecordsPerJob: quota('minRecordsPerJob', 500),
        maxRecordsPerJob: quota('maxRecordsPerJob', 20_000),
        maxBytesPerJob: quota('maxBytesPerJob', 100_000_000),
        maxJobsInFlight: quota('maxJobsInFlight', 2),
      },
    };
    const p = accountQuotaProfile(quotaProfile('documented'), account);
    expect(p).toMatchObject({
      name: 'documented+account',
      minRecordsPerJob: 500,
      maxRecordsPerJob: 20_000,
      maxRecordsPerFile: 20_000,
      maxBytesPerJob: 100_000_000,
      maxBytesPerFile: 100_000_000,
      maxRecordBytes: 1 << 20,
      maxJobsInFlight: 2,
    });
    // a profile already within keeps its name and values
    const within = quotaProfile('default');
    expect(accountQuotaProfile(within, { model: 'x', notes: [], quotas: { maxJobsInFlight: quota('maxJobsInFlight', 20) } })).toEqual(within);
  });
});
