/** `bedrock-batch prepare`: raw exports in, Bedrock batch input shards out. */
import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { BatchError } from '../errors.js';
import { CATALOGUE_DATE, lookupBatchModel } from '../bedrock/batch-models.js';
import type { FamilyName, InvocationType, ModelOptions, StructuredVia } from '../models/family.js';
import { resolveModel } from '../records/to-records.js';
import { fitBudget } from '../records/fit.js';
import { chooseVia, loadSchema } from '../schema/index.js';
import { prepareRun, type PrepareRunOptions, type PrepareSummary } from '../prepare.js';
import type { InputFormat } from '../read/index.js';
import type { DuplicateScope, IdMode } from '../records/ids.js';
import { ACCOUNT_QUOTAS, parseBytes, QUOTA_CHOICES, quotaProfile, type QuotaProfile } from '../bedrock/quotas.js';
import { isLoopbackEndpoint } from '../aws/config.js';
import { addExpireOption, expireDaysFrom, withExpireTags, type ExpireFlags } from './expire.js';
import type { StoreOptions } from '../stores/index.js';
import { ADAPTER_NAMES, CALL_INSIGHTS_TEMPLATE, callStages, checkRedactOptions, PII_TYPES, type PiiType, type RedactOptions, type RowKind } from '../../transforms/index.js';
import { EXIT } from './exit-codes.js';
import { formatBytes, formatCount, StatusLine } from './output.js';
import { int, num } from './parsers.js';
import { addS3Options, s3OptionsFrom, withInterrupts, type AwsFlags, type S3Flags } from './s3-options.js';

export const DEFAULT_MODEL = 'anthropic.claude-3-haiku-20240307-v1:0';

/** What commander hands `prepare`'s action, besides the S3 flags. */
export interface PrepareFlags extends ExpireFlags, Pick<AwsFlags, 'region' | 'profile' | 'bedrockEndpointUrl'> {
  out: string;
  model: string;
  family?: FamilyName;
  invocationType?: InvocationType;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  system?: string;
  template?: string;
  format?: string;
  inputFormat?: InputFormat;
  delimiter?: string;
  key?: string;
  text?: string;
  speaker?: string;
  rows?: RowKind;
  passthrough?: string;
  quotas: string;
  maxRecords?: number;
  maxBytes?: string;
  minRecords?: number;
  maxJobRecords?: number;
  maxJobBytes?: string;
  maxRecordBytes?: string;
  ids: IdMode;
  idNamespace?: string;
  duplicates: DuplicateScope;
  workers?: number;
  rejects?: string;
  overwrite?: boolean;
  json?: boolean;
  quiet?: boolean;
  schema?: string;
  schemaVia?: StructuredVia;
  /** `--redact` alone: every type; `--redact card,phone`: those. */
  redact?: boolean | string;
  phoneRegion?: string;
  fit?: 'truncate' | 'reject';
  /** `--skip-answered <results file or run folder>...`: calls answered there are skipped (docs/daily-exports.md). */
  skipAnswered?: string[];
}

/** `--skip-answered`, shared by `prepare` and `run`: repeatable, and each takes one or more sources. */
export function addSkipAnsweredOption(cmd: Command): Command {
  return cmd.option(
    '--skip-answered <sources...>',
    'results files or run folders: a call answered there with the same model and the same request is not sent again; its answer goes into the results, marked reused (docs/daily-exports.md)',
  );
}

/** The structured-fields, redaction and fit options, shared by `prepare` and `run`. */
export function addInsightOptions(cmd: Command): Command {
  return cmd
    .option('--schema <file>', 'ask every call for fields of a JSON Schema (a file, or the built-in call-insights); results get a column per field')
    .addOption(new Option('--schema-via <way>', 'how records ask for the fields (default: the strongest the model takes; see docs/structured.md)').choices(['native', 'tool', 'prompt']))
    .option('--redact [types]', `replace PII before anything is written: all types, or some of ${PII_TYPES.join(',')}`)
    .option('--phone-region <CC>', 'country whose national phone format --redact reads (ISO 3166 code)', 'US')
    .addOption(new Option('--fit <mode>', 'a call over the model\'s context: reject it, or keep whole turns from its start and end').choices(['reject', 'truncate']).default('reject'));
}

export function prepareCommand(): Command {
  const cmd = new Command('prepare')
    .summary('turn raw call-center exports into Bedrock batch input shards')
    .description(
      'Read exports (CSV, TSV, JSONL, JSON, Amazon Transcribe / Contact Lens JSON, text; gzip or not; - for stdin),\n' +
        'turn each call into a validated {recordId, modelInput} record, and write shards within the quotas.\n' +
        'Writes <out>/input/job-NNNN/part-NNNNN.jsonl (what jobs read), <out>/lineage/..., <out>/rejects.jsonl\n' +
        'and <out>/prepared.json. Exit code 1 when the run cannot be submitted (e.g. below the minimum records per job).',
    )
    .argument('<inputs...>', 'files, directories, s3:// objects or prefixes, or - for stdin')
    .requiredOption('-o, --out <dir>', 'where the prepared run goes: a directory or an s3://bucket/prefix/')
    .option('-m, --model <id>', 'model id, inference profile id or ARN', DEFAULT_MODEL)
    .addOption(new Option('--family <name>', 'model family, when the model id does not tell (custom models)').choices(['anthropic', 'nova', 'titan-text', 'llama', 'mistral', 'converse']))
    .addOption(new Option('--invocation-type <type>', 'record shape: the model\'s own (InvokeModel) or Converse').choices(['InvokeModel', 'Converse']))
    .option('--max-tokens <n>', 'output tokens per record', int('--max-tokens'))
    .option('--temperature <x>', 'sampling temperature', num('--temperature'))
    .option('--top-p <x>', 'nucleus sampling', num('--top-p'))
    .option('--system <text>', 'system prompt for every record')
    .option('--template <file>', 'prompt template file ({{transcript}}, {{key}}, {{<column>}})')
    .addOption(new Option('--format <adapter>', 'source format (default: detected per file)').choices([...ADAPTER_NAMES]))
    .addOption(new Option('--input-format <type>', 'decoder (default: by extension, or sniffed)').choices(['csv', 'tsv', 'jsonl', 'json', 'text']))
    .option('--delimiter <char>', 'CSV delimiter (default , or TAB for .tsv)')
    .option('--key <column>', 'call id column')
    .option('--text <column>', 'transcript / utterance text column')
    .option('--speaker <column>', 'speaker column (one utterance per row)')
    .addOption(new Option('--rows <kind>', 'what a row is: a whole call, or one utterance (adjacent rows with the same id are one call); default: utterances when there is a speaker or role column').choices(['calls', 'utterances']))
    .option('--passthrough <columns>', 'columns carried into lineage and results: a,b,c | * | none')
    .addOption(new Option('--quotas <profile>', "quota profile, or account: the account's batch quotas for the model from Service Quotas (each one it cannot read at the documented default)").choices([...QUOTA_CHOICES]).default('default'))
    .option('--max-records <n>', 'records per shard file', int('--max-records'))
    .option('--max-bytes <size>', 'bytes per shard file (200MB, 1GB, ...)')
    .option('--min-records <n>', 'minimum records per job', int('--min-records'))
    .option('--max-job-records <n>', 'records per job', int('--max-job-records'))
    .option('--max-job-bytes <size>', 'bytes per job')
    .option('--max-record-bytes <size>', 'bytes per record (and per input row)')
    .addOption(new Option('--ids <mode>', 'recordId mode').choices(['deterministic', 'random']).default('deterministic'))
    .option('--id-namespace <text>', 'hash call ids with this instead of the file name')
    .addOption(new Option('--duplicates <scope>', 'where a call id must be unique: in the whole run (the same id in two files is a duplicate) or per file').choices(['run', 'per-file']).default('run'))
    .option('--workers <n>', 'worker threads for CSV and JSONL inputs (default: one fewer than the cores, at least 1; the main thread also prepares pieces when they are busy; 0: this thread only)', int('--workers'))
    .option('--rejects <file>', 'the rejects file (default <out>/rejects.jsonl)')
    .option('--overwrite', 'replace a prepared run already in --out')
    .option('--json', 'print the summary as one JSON object on stdout')
    .option('-q, --quiet', 'no summary on stderr');
  return addS3Options(addExpireOption(addSkipAnsweredOption(addInsightOptions(cmd))))
    .action(async (inputs: string[], flags: PrepareFlags & S3Flags) => {
      const say = (text: string) => {
        if (!flags.quiet && !flags.json) process.stderr.write(`prepare: ${text}\n`);
      };
      const s3 = withExpireTags(await s3OptionsFrom(flags), expireDaysFrom(flags));
      const summary = await runPrepare(await prepareOptionsFrom(inputs, flags, s3, say), !flags.quiet && !flags.json);
      if (flags.json) process.stdout.write(JSON.stringify(jsonSummary(summary)) + '\n');
      if (!flags.quiet) process.stderr.write(humanSummary(summary));
      if (summary.problem) {
        process.stderr.write(`bedrock-batch: error: ${summary.problem.code}: ${summary.problem.message}\n  hint: ${summary.problem.hint}\n`);
        process.exitCode = EXIT.error;
      }
    });
}

/** prepareRun's options from prepare's flags and the S3 settings (everything but the signal and progress). */
export async function prepareOptionsFrom(inputs: string[], flags: PrepareFlags, s3: StoreOptions, onQuotas?: (text: string) => void): Promise<PrepareRunOptions> {
  const overrides = {
    maxRecordsPerFile: flags.maxRecords,
    maxBytesPerFile: flags.maxBytes !== undefined ? parseBytes(flags.maxBytes, '--max-bytes') : undefined,
    minRecordsPerJob: flags.minRecords,
    maxRecordsPerJob: flags.maxJobRecords,
    maxBytesPerJob: flags.maxJobBytes !== undefined ? parseBytes(flags.maxJobBytes, '--max-job-bytes') : undefined,
    maxRecordBytes: flags.maxRecordBytes !== undefined ? parseBytes(flags.maxRecordBytes, '--max-record-bytes') : undefined,
  };
  let quotas: QuotaProfile;
  if (flags.quotas === ACCOUNT_QUOTAS) {
    // the account's quotas for the model, each one that cannot be read at the documented default (docs/quotas.md)
    const { resolveQuotaProfile, describeQuotaSources } = await import('../aws/service-quotas.js');
    const loopback = flags.bedrockEndpointUrl !== undefined && isLoopbackEndpoint(flags.bedrockEndpointUrl);
    const resolved = await resolveQuotaProfile(ACCOUNT_QUOTAS, {
      model: flags.model,
      aws: { ...(flags.region ? { region: flags.region } : {}), ...(flags.profile ? { profile: flags.profile } : {}), ...(loopback ? { endpointUrl: flags.bedrockEndpointUrl } : {}) },
      overrides,
    });
    quotas = resolved.profile;
    onQuotas?.([describeQuotaSources(resolved), ...resolved.notes.map((n) => `  note: ${n}`)].join('\n'));
  } else {
    quotas = quotaProfile(flags.quotas, overrides);
  }
  // A smaller per-file limit than the profile's per-job one must not make the profile inconsistent.
  if (flags.maxRecords !== undefined && flags.maxJobRecords === undefined && quotas.maxRecordsPerJob < quotas.maxRecordsPerFile) {
    quotas.maxRecordsPerJob = quotas.maxRecordsPerFile;
  }
  const passthrough =
    flags.passthrough === undefined ? undefined : flags.passthrough === '*' || flags.passthrough === 'none' ? flags.passthrough : flags.passthrough.split(',').map((s) => s.trim()).filter(Boolean);
  const template = flags.template ? await readFile(flags.template, 'utf8').catch((e: Error) => {
    throw new BatchError('E_TEMPLATE', `cannot read the template file ${flags.template}: ${e.message}`);
  }) : flags.schema !== undefined ? CALL_INSIGHTS_TEMPLATE : undefined;
  const model: ModelOptions & { family?: FamilyName; invocationType?: InvocationType } = {
    modelId: flags.model,
    ...(flags.family ? { family: flags.family } : {}),
    ...(flags.invocationType ? { invocationType: flags.invocationType } : {}),
    ...(flags.maxTokens !== undefined ? { maxTokens: flags.maxTokens } : {}),
    ...(flags.temperature !== undefined ? { temperature: flags.temperature } : {}),
    ...(flags.topP !== undefined ? { topP: flags.topP } : {}),
  };
  if (flags.schema !== undefined) {
    const { name, schema } = loadSchema(flags.schema);
    const family = resolveModel(model);
    model.structured = { name, schema, via: chooseVia(family, flags.model, flags.schemaVia) };
  }
  const fit = flags.fit === 'truncate' ? { mode: 'truncate' as const, budgetTokens: fitBudget(resolveModel(model), { ...model, ...(flags.system ? { system: flags.system } : {}) }) } : undefined;
  return {
    inputs,
    out: flags.out,
    stages: callStages({
      adapt: {
        ...(flags.format ? { format: flags.format } : {}),
        ...(flags.key ? { key: flags.key } : {}),
        ...(flags.text ? { text: flags.text } : {}),
        ...(flags.speaker ? { speaker: flags.speaker } : {}),
        ...(flags.rows ? { rows: flags.rows } : {}),
        ...(passthrough !== undefined ? { passthrough } : {}),
        maxCallBytes: quotas.maxRecordBytes,
      },
      ...(flags.redact !== undefined && flags.redact !== false ? { redact: redactOptions(flags.redact, flags.phoneRegion) } : {}),
      prompt: { ...(template !== undefined ? { template } : {}), ...(flags.system ? { system: flags.system } : {}), ...(fit ? { fit } : {}) },
    }),
    ...(flags.workers !== undefined ? { workers: flags.workers } : {}),
    model,
    quotas,
    ids: { mode: flags.ids, ...(flags.idNamespace ? { namespace: flags.idNamespace } : {}), duplicates: flags.duplicates },
    read: {
      ...(flags.inputFormat ? { format: flags.inputFormat } : {}),
      ...(flags.delimiter ? { delimiter: flags.delimiter === '\\t' ? '\t' : flags.delimiter } : {}),
    },
    s3,
    overwrite: flags.overwrite === true,
    ...(flags.rejects ? { rejects: flags.rejects } : {}),
    ...(flags.skipAnswered?.length ? { skipAnswered: flags.skipAnswered } : {}),
  };
}

/** `--redact [types]` and `--phone-region` as the redaction stage's options, checked here (before any reading). */
function redactOptions(types: true | string, phoneRegion: string | undefined): RedactOptions {
  const list = types === true ? undefined : types.split(',').map((t) => t.trim()).filter(Boolean);
  const options: RedactOptions = { ...(list !== undefined ? { types: list as PiiType[] } : {}), ...(phoneRegion !== undefined ? { phoneRegion } : {}) };
  checkRedactOptions(options);
  return options;
}

/** prepareRun with the command's progress line (when `progress`) and Ctrl-C handling. */
export async function runPrepare(options: PrepareRunOptions, progress: boolean): Promise<PrepareSummary> {
  const status = new StatusLine(progress && process.stderr.isTTY === true);
  try {
    return await withInterrupts((signal) =>
      prepareRun({
        ...options,
        signal,
        onProgress: (p) => status.update(`prepare: ${formatCount(p.read)} calls read, ${formatBytes(p.bytesRead)}`),
      }),
    );
  } finally {
    status.clear();
  }
}

/** The --json shape: {"read","written","rejected","shards":[{"uri","records","bytes"}]} and more. */
export function jsonSummary(s: PrepareSummary): Record<string, unknown> {
  return {
    read: s.read,
    written: s.written,
    rejected: s.rejected,
    skipped: s.skipped,
    ...(s.skippedAll ? { skippedAll: true } : {}),
    ...(s.reused ? { reused: { uri: s.reused.uri, records: s.reused.records, indexed: s.reused.indexed, sources: s.reused.sources, notes: s.reused.notes } } : {}),
    shards: s.shards,
    jobs: s.jobs.map((j) => ({ name: j.name, uri: j.uri, records: j.records, bytes: j.bytes })),
    rejects: s.rejects,
    rejectsByCode: s.rejectsByCode,
    manifest: s.manifest,
    model: s.model,
    quotas: s.quotas.name,
    submittable: s.submittable,
    ...(s.problem ? { problem: s.problem } : {}),
    bytesRead: s.bytesRead,
    bytesWritten: s.bytesWritten,
    redacted: s.redacted,
    truncated: s.truncated,
    ...(s.structured ? { structured: s.structured } : {}),
    seconds: Number(s.seconds.toFixed(3)),
  };
}

/** How a schema run's records ask for their fields, in words (docs/structured.md). */
const VIA_WORDS: Record<StructuredVia, string> = {
  native: 'as Bedrock structured output (the service enforces the schema)',
  tool: 'through a forced tool (its input follows the schema)',
  prompt: 'by a JSON-only instruction with the schema (collect validates every answer)',
};

export function humanSummary(s: PrepareSummary): string {
  const lines = [
    `prepared ${formatCount(s.read)} calls from ${s.inputs.length} input${s.inputs.length === 1 ? '' : 's'} (${formatBytes(s.bytesRead)}) in ${s.seconds.toFixed(1)} s`,
    `  written:  ${formatCount(s.written)} records in ${s.shards.length} shard${s.shards.length === 1 ? '' : 's'}, ${s.jobs.length} job${s.jobs.length === 1 ? '' : 's'} (${formatBytes(s.bytesWritten)})`,
    `  rejected: ${formatCount(s.rejected)}${s.rejected ? ` (${Object.entries(s.rejectsByCode).map(([c, n]) => `${c} ${n}`).join(', ')}) -> ${s.rejects}` : ''}`,
    ...(s.reused
      ? [
          `  skipped:  ${formatCount(s.skipped)} answered before with the same model and request (of ${formatCount(s.reused.indexed)} answers in ${s.reused.sources.length} results file${s.reused.sources.length === 1 ? '' : 's'})${s.skipped ? `; their answers -> ${s.reused.uri}, into the results at collect` : ''}`,
          ...s.reused.notes.map((n) => `  note:     ${n}`),
          ...(s.skippedAll ? ['  nothing to submit: every call was answered before (or rejected); collect writes the reused answers as the results'] : []),
        ]
      : []),
    `  model:    ${s.model.modelId} (${s.model.family}, ${s.model.invocationType}); quotas: ${s.quotas.name}`,
  ];
  if (s.structured) lines.push(`  fields:   schema ${s.structured.name}, asked ${VIA_WORDS[s.structured.via]}`);
  const redacted = Object.entries(s.redacted);
  if (redacted.length > 0) lines.push(`  redacted: ${redacted.map(([t, n]) => `${t} ${formatCount(n)}`).join(', ')} (replaced before writing; originals kept nowhere)`);
  if (s.truncated) lines.push(`  truncated: ${formatCount(s.truncated)} long call${s.truncated === 1 ? '' : 's'} cut to fit the context (whole turns kept from start and end; \`truncated\` in lineage and results)`);
  if (s.rebalanced) lines.push(`  moved ${s.rebalanced} records into the last job to reach the minimum of ${s.quotas.minRecordsPerJob}`);
  if (lookupBatchModel(s.model.modelId).kind === 'unknown') {
    // a warning, not a refusal: the catalogue is dated, and a newer model may run batch
    lines.push(
      `  note:     ${s.model.modelId} is not in the batch model catalogue of ${CATALOGUE_DATE}: Bedrock may refuse its jobs ` +
        `(\`bedrock-batch doctor --model ${s.model.modelId}\` asks your account; the local service needs --allow-model)`,
    );
  }
  lines.push(`  run:      ${s.manifest}`);
  return lines.join('\n') + '\n';
}
