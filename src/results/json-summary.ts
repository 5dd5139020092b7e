/**
 * The object `collect --json` prints for a collection (`collectRun`'s summary), one place for it:
 * the CLI prints it, and the HTML report (report-html.ts) is drawn from the very same object, so
 * the figures a person reads there are those a script reads here.
 *
 * For a schema run it adds `structured` (the schema's name, how records asked for it, and whether
 * it came from the prepared run or `--schema`), `fields` (each enum and boolean property's counts
 * over the valid answers) and, always, `invalid` (of `failed`: answers that did not validate).
 * `truncated` counts the calls cut to fit (`--fit truncate`); `redacted` sums the PII replaced per
 * type (`--redact`), when the run redacted. `reused` counts the earlier answers of calls prepare
 * skipped (`--skip-answered`), written after the run's own rows: `results.records` = submitted +
 * reused.
 */
import type { CollectRunSummary } from './run.js';

const round = (n: number) => Math.round(n * 1e6) / 1e6;

/** The --json shape: {"submitted","succeeded","failed","invalid","missing",...,"results","retry","deadLetter",...}. */
export function jsonSummary(s: CollectRunSummary, reportUri: string | undefined = s.report?.uri): Record<string, unknown> {
  const c = s.collect;
  return {
    submitted: c.submitted,
    succeeded: c.succeeded,
    failed: c.failed,
    invalid: c.invalid,
    missing: c.missing,
    pending: c.pending,
    reused: c.reused,
    inputTokens: c.inputTokens,
    outputTokens: c.outputTokens,
    ...(c.schema ? { structured: { name: c.schema.name, ...(c.schema.via ? { via: c.schema.via } : {}), from: c.schema.from } } : {}),
    ...(c.fields ? { fields: c.fields } : {}),
    truncated: c.truncated,
    ...(c.redacted ? { redacted: c.redacted } : {}),
    results: { uri: s.results.uri, records: s.results.records, format: s.results.format },
    ...(reportUri !== undefined ? { report: reportUri } : {}),
    retry: s.plan
      ? {
          uri: s.plan.retry.uri,
          records: s.plan.retry.records,
          attempt: s.plan.retry.attempt,
          submittable: s.plan.retry.submittable,
          ...(s.plan.retry.problem ? { problem: s.plan.retry.problem } : {}),
          jobs: s.plan.retry.jobs,
        }
      : { uri: null, records: 0 },
    deadLetter: s.plan ? { uri: s.plan.deadLetter.uri, records: s.plan.deadLetter.records, byReason: s.plan.deadLetter.byReason } : { uri: null, records: 0 },
    jobs: c.jobs.map((j) => ({
      job: j.job,
      jobIds: j.jobIds,
      ...(j.status ? { status: j.status } : {}),
      submitted: j.submitted,
      succeeded: j.succeeded,
      failed: j.failed,
      invalid: j.invalid,
      missing: j.missing,
      inputTokens: j.inputTokens,
      outputTokens: j.outputTokens,
    })),
    cost: {
      currency: s.cost.currency,
      ...(s.cost.total.cost ? { total: round(s.cost.total.cost.total), input: round(s.cost.total.cost.input), output: round(s.cost.total.cost.output) } : { total: null }),
      tokens: s.cost.total.tokens,
      estimate: true,
      label: s.cost.label,
    },
    model: c.model,
    attempt: c.attempt,
    errorsByCode: c.errorsByCode,
    missingByReason: c.missingByReason,
    badLines: c.badLineCount,
    truncatedFiles: c.badLines.filter((b) => b.truncated).map((b) => b.file),
    manifestIssues: c.manifestIssues,
    unknownRecords: c.unknownRecords,
    duplicates: c.duplicates,
    unmatchedFiles: c.unmatchedFiles,
    ignoredFolders: c.ignoredFolders,
    warnings: c.warnings,
    outputFiles: c.outputFiles,
    outputBytes: c.outputBytes,
    seconds: Number(c.seconds.toFixed(3)),
  };
}
