/**
 * `manifest.json.out`: the six counters Bedrock writes beside a job's outputs
 * (docs/bedrock.md §2.3), read and set against what collect parsed. Disagreements are
 * reported, never fatal: the manifest is Bedrock's word on what it billed, the lines are what came
 * back, and a user needs to see both when they differ.
 */
import { MANIFEST_FIELDS } from '../bedrock/vocabulary.js';
import type { ManifestIssue, OutputManifest } from './types.js';


/** Parse a manifest's text; unknown keys are ignored, non-numbers are left out. Throws on bad JSON. */
export function parseManifest(text: string): OutputManifest {
  const value: unknown = JSON.parse(text);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new SyntaxError('the manifest is not a JSON object');
  const o = value as Record<string, unknown>;
  const m: OutputManifest = {};
  for (const f of MANIFEST_FIELDS) {
    const v = typeof o[f] === 'string' && /^\d+$/.test(o[f] as string) ? Number(o[f]) : o[f];
    if (typeof v === 'number' && Number.isFinite(v)) m[f] = v;
  }
  return m;
}

/** Add manifest `b` into `a` (for a prepared job answered by several Bedrock jobs). */
export function addManifest(a: OutputManifest | undefined, b: OutputManifest): OutputManifest {
  const out: OutputManifest = { ...(a ?? {}) };
  for (const f of MANIFEST_FIELDS) if (b[f] !== undefined) out[f] = (out[f] ?? 0) + b[f]!;
  return out;
}

/** What collect counted for one job's output folder. */
export interface ParsedCounts {
  /** Records the job was given (its lineage), when the folder answers exactly one prepared job. */
  submitted?: number;
  succeeded: number;
  failed: number;
  inputTokens: number;
  outputTokens: number;
  /** Whether every success line had token counts (else token totals are not compared). */
  tokensComplete: boolean;
}

/** The fields where `manifest` and `parsed` disagree. */
export function reconcileManifest(jobId: string, job: string | undefined, manifest: OutputManifest, parsed: ParsedCounts): ManifestIssue[] {
  const issues: ManifestIssue[] = [];
  const check = (field: keyof OutputManifest, value: number | undefined, note?: string) => {
    const m = manifest[field];
    if (m === undefined || value === undefined || m === value) return;
    const issue: ManifestIssue = { jobId, field, manifest: m, parsed: value };
    if (job !== undefined) issue.job = job;
    if (note) issue.note = note;
    issues.push(issue);
  };
  check('totalRecordCount', parsed.submitted, 'records in the shards the job was given');
  check('successRecordCount', parsed.succeeded);
  check('errorRecordCount', parsed.failed);
  check('processedRecordCount', parsed.succeeded + parsed.failed);
  if (parsed.tokensComplete) {
    check('inputTokenCount', parsed.inputTokens, 'summed over success lines');
    check('outputTokenCount', parsed.outputTokens, 'summed over success lines');
  }
  return issues;
}
