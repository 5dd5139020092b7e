/** `bedrock-batch prepare`: raw exports in, Bedrock batch input shards out. */
import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { BatchError } from '../errors.js';
import { prepareRun, type PrepareRunOptions, type PrepareSummary } from '../prepare.js';
import { parseBytes, QUOTA_PROFILES, quotaProfile } from '../shards/quotas.js';
import { setStoreDefaults } from '../stores/index.js';
import { ADAPTER_NAMES, callStages } from '../../transforms/index.js';
import { formatBytes, formatCount, StatusLine } from './output.js';
import { addS3Options, s3OptionsFrom, withInterrupts } from './s3-options.js';

export const DEFAULT_MODEL = 'anthropic.claude-3-haiku-20240307-v1:0';

const int = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new BatchError('E_BAD_OPTION', `${name} must be a whole number, got "${v}"`);
  return n;
};
const num = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new BatchError('E_BAD_OPTION', `${name} must be a number, got "${v}"`);
  return n;
};

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
    .addOption(new Option('--quotas <profile>', 'quota profile').choices(Object.keys(QUOTA_PROFILES)).default('default'))
    .option('--max-records <n>', 'records per shard file', int('--max-records'))
    .option('--max-bytes <size>', 'bytes per shard file (200MB, 1GB, ...)')
    .option('--min-records <n>', 'minimum records per job', int('--min-records'))
    .option('--max-job-records <n>', 'records per job', int('--max-job-records'))
    .option('--max-job-bytes <size>', 'bytes per job')
    .option('--max-record-bytes <size>', 'bytes per record (and per input row)')
    .addOption(new Option('--ids <mode>', 'recordId mode').choices(['deterministic', 'random']).default('deterministic'))
    .option('--id-namespace <text>', 'hash call ids with this instead of the file name')
    .addOption(new Option('--duplicates <scope>', 'where a call id must be unique: in the whole run (the same id in two files is a duplicate) or per file').choices(['run', 'per-file']).default('run'))
    .option('--workers <n>', 'worker threads for CSV and JSONL inputs (default: one per core; 0: this thread only)', int('--workers'))
    .option('--rejects <file>', 'the rejects file (default <out>/rejects.jsonl)')
    .option('--overwrite', 'replace a prepared run already in --out')
    .option('--json', 'print the summary as one JSON object on stdout')
    .option('-q, --quiet', 'no summary on stderr');
  return addS3Options(cmd)
    .action(async (inputs: string[], opts: Record<string, any>, cmd: Command) => {
      const summary = await runPrepare(inputs, opts);
      if (opts.json) process.stdout.write(JSON.stringify(jsonSummary(summary)) + '\n');
      if (!opts.quiet) process.stderr.write(humanSummary(summary));
      if (summary.problem) {
        process.stderr.write(`bedrock-batch: error: ${summary.problem.code}: ${summary.problem.message}\n  hint: ${summary.problem.hint}\n`);
        process.exitCode = 1;
      }
      void cmd;
    });
}

/** prepareRun's options from the command line's (everything but the signal and progress). */
export async function prepareOptionsFrom(inputs: string[], opts: Record<string, any>): Promise<PrepareRunOptions> {
  const quotas = quotaProfile(opts.quotas ?? 'default', {
    maxRecordsPerFile: opts.maxRecords,
    maxBytesPerFile: opts.maxBytes !== undefined ? parseBytes(opts.maxBytes, '--max-bytes') : undefined,
    minRecordsPerJob: opts.minRecords,
    maxRecordsPerJob: opts.maxJobRecords,
    maxBytesPerJob: opts.maxJobBytes !== undefined ? parseBytes(opts.maxJobBytes, '--max-job-bytes') : undefined,
    maxRecordBytes: opts.maxRecordBytes !== undefined ? parseBytes(opts.maxRecordBytes, '--max-record-bytes') : undefined,
  });
  // A smaller per-file limit than the profile's per-job one must not make the profile inconsistent.
  if (opts.maxRecords !== undefined && opts.maxJobRecords === undefined && quotas.maxRecordsPerJob < quotas.maxRecordsPerFile) {
    quotas.maxRecordsPerJob = quotas.maxRecordsPerFile;
  }
  const passthrough =
    opts.passthrough === undefined ? undefined : opts.passthrough === '*' || opts.passthrough === 'none' ? opts.passthrough : String(opts.passthrough).split(',').map((s: string) => s.trim()).filter(Boolean);
  const template = opts.template ? await readFile(opts.template, 'utf8').catch((e: Error) => {
    throw new BatchError('E_TEMPLATE', `cannot read the template file ${opts.template}: ${e.message}`);
  }) : undefined;
  return {
    inputs,
    out: opts.out,
    stages: callStages({
      adapt: {
        ...(opts.format ? { format: opts.format } : {}),
        ...(opts.key ? { key: opts.key } : {}),
        ...(opts.text ? { text: opts.text } : {}),
        ...(opts.speaker ? { speaker: opts.speaker } : {}),
        ...(opts.rows ? { rows: opts.rows } : {}),
        ...(passthrough !== undefined ? { passthrough } : {}),
        maxCallBytes: quotas.maxRecordBytes,
      },
      prompt: { ...(template !== undefined ? { template } : {}), ...(opts.system ? { system: opts.system } : {}) },
    }),
    ...(opts.workers !== undefined ? { workers: opts.workers } : {}),
    model: {
      modelId: opts.model,
      ...(opts.family ? { family: opts.family } : {}),
      ...(opts.invocationType ? { invocationType: opts.invocationType } : {}),
      ...(opts.maxTokens !== undefined ? { maxTokens: opts.maxTokens } : {}),
      ...(opts.temperature !== undefined ? { temperature: opts.temperature } : {}),
      ...(opts.topP !== undefined ? { topP: opts.topP } : {}),
    },
    quotas,
    ids: { mode: opts.ids ?? 'deterministic', ...(opts.idNamespace ? { namespace: opts.idNamespace } : {}), ...(opts.duplicates ? { duplicates: opts.duplicates } : {}) },
    read: {
      ...(opts.inputFormat ? { format: opts.inputFormat } : {}),
      ...(opts.delimiter ? { delimiter: opts.delimiter === '\\t' ? '\t' : opts.delimiter } : {}),
    },
    overwrite: opts.overwrite === true,
    ...(opts.rejects ? { rejects: opts.rejects } : {}),
  };
}

export async function runPrepare(inputs: string[], opts: Record<string, any>): Promise<PrepareSummary> {
  setStoreDefaults(s3OptionsFrom(opts));
  const options = await prepareOptionsFrom(inputs, opts);
  const status = new StatusLine(!opts.quiet && !opts.json && process.stderr.isTTY === true);
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
    seconds: Number(s.seconds.toFixed(3)),
  };
}

export function humanSummary(s: PrepareSummary): string {
  const lines = [
    `prepared ${formatCount(s.read)} calls from ${s.inputs.length} input${s.inputs.length === 1 ? '' : 's'} (${formatBytes(s.bytesRead)}) in ${s.seconds.toFixed(1)} s`,
    `  written:  ${formatCount(s.written)} records in ${s.shards.length} shard${s.shards.length === 1 ? '' : 's'}, ${s.jobs.length} job${s.jobs.length === 1 ? '' : 's'} (${formatBytes(s.bytesWritten)})`,
    `  rejected: ${formatCount(s.rejected)}${s.rejected ? ` (${Object.entries(s.rejectsByCode).map(([c, n]) => `${c} ${n}`).join(', ')}) -> ${s.rejects}` : ''}`,
    `  model:    ${s.model.modelId} (${s.model.family}, ${s.model.invocationType}); quotas: ${s.quotas.name}`,
  ];
  if (s.rebalanced) lines.push(`  moved ${s.rebalanced} records into the last job to reach the minimum of ${s.quotas.minRecordsPerJob}`);
  lines.push(`  run:      ${s.manifest}`);
  return lines.join('\n') + '\n';
}
