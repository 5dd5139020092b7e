/**
 * `bedrock-batch run`: raw export in, summaries out, in one command. It wires the stages the other
 * commands run, with no logic of its own beyond the order and the report:
 *
 *   prepare <inputs> --out <work>/batch   (skipped when <work>/batch already holds this run)
 *   submit <work>/batch --output <work>/out --wait   (resumes from the ledger)
 *   collect <work>/out --prepared <work>/batch --results <work>/results.jsonl
 *
 * Run the same command again after an interruption and it goes on where it stopped: the prepared
 * run is kept, submit never creates a second job for a folder, and collect is read-only on the
 * outputs.
 */
import { Command, Option } from 'commander';
import { BatchError } from '../errors.js';
import { Ledger } from '../jobs/ledger.js';
import { isS3Uri } from '../stores/uri.js';
import { decideMode } from '../target.js';
import { isTerminal, jobIdOf } from '../bedrock/vocabulary.js';
import { prepareRecipe } from '../prepare.js';
import type { DuplicateScope } from '../records/ids.js';
import { LEDGER_KEY } from '../run/layout.js';
import { inspectRunLocation } from '../run/location.js';
import { recipeChanges } from '../run/recipe.js';
import { claimWork, freshWork, ledgerJobs } from '../run/work.js';
import { QUOTA_CHOICES } from '../bedrock/quotas.js';
import { openStore } from '../stores/index.js';
import { ADAPTER_NAMES } from '../../transforms/index.js';
import { collectOptionsFrom, recordCollected, runCollect, tagOutputs } from './collect.js';
import { addExpireOption, expireDaysFrom, withExpireTags, type ExpireFlags } from './expire.js';
import { formatCount } from './output.js';
import { int, repeatable, seconds } from './parsers.js';
import { addInsightOptions, addSkipAnsweredOption, DEFAULT_MODEL, humanSummary as prepareText, prepareOptionsFrom, runPrepare, type PrepareFlags } from './prepare.js';
import { addAwsOptions, s3OptionsFrom, type AwsFlags } from './s3-options.js';
import { addModeOptions, executeSubmit, stepJson, submitOptionsFrom, type SubmitFlags } from './submit.js';
import type { SubmitResult } from '../jobs/submit.js';
import { acquireLease, PREPARE_LEASE_KEY, writeStepStatus, type StepStatus } from '../run/step.js';
import { describeBudget, type BudgetCheck } from '../jobs/budget.js';
import { askYesNo } from './output.js';
import { formatMoney } from '../results/report.js';

/**
 * What commander hands `run`'s action. A flag named as one of prepare's or submit's means the same;
 * but `--endpoint-url` is S3's (as prepare's), and Bedrock's is `--bedrock-endpoint-url`. The AWS
 * options (profile, region, endpoints, debug) reach every stage alike.
 */
interface RunFlags
  extends AwsFlags,
    ExpireFlags,
    Pick<
      PrepareFlags,
      'model' | 'maxTokens' | 'system' | 'template' | 'format' | 'key' | 'text' | 'speaker' | 'rows' | 'passthrough' | 'maxRecords' | 'maxJobRecords' | 'minRecords' | 'skipAnswered' | 'json' | 'quiet' | 'schema' | 'schemaVia' | 'redact' | 'phoneRegion' | 'fit'
    >,
    Pick<
      SubmitFlags,
      'output' | 'roleArn' | 'local' | 'aws' | 'maxInFlight' | 'timeoutHours' | 'fault' | 'localRecordDelay' | 'allowModel' | 'keepOrder' | 'mode' | 'maxCost' | 'prices' | 'onDemandConcurrency' | 'rpm' | 'tpm' | 'wait' | 'poll'
    > {
  yes?: boolean;
  work: string;
  results?: string;
  duplicates?: DuplicateScope;
  quotas?: string;
  csvEscapeFormulas: boolean;
  fresh?: boolean;
  /** `--report <file>`, or false for `--no-report` (default `<work>/report.html`). */
  report?: string | false;
}

export function runCommand(): Command {
  const cmd = new Command('run')
    .summary('prepare, submit, watch and collect in one go (resumable)')
    .description(
      'Prepare the exports into <work>/batch, submit them (the embedded local service, or Amazon Bedrock with an ' +
        's3:// --work and --role-arn), watch the jobs, collect the results into <work>/results.jsonl, and print a ' +
        'short report. Run the same command again after an interruption: it continues where it stopped.\n\n' +
        'On the local service the quota profile is "local" unless --quotas says otherwise (a sample of a few hundred ' +
        'calls is below Bedrock\'s minimum records per job); on AWS it is "default".',
    )
    .argument('<inputs...>', 'files, directories, s3:// objects or prefixes, or - for stdin')
    .option('-w, --work <location>', 'where the run lives: a directory, or s3://bucket/prefix/ for AWS', './bedrock-batch-run')
    .option('-o, --output <location>', 'where jobs write (default <work>/out)')
    .option('-r, --results <file>', 'results file: .jsonl, .csv or .tsv (default <work>/results.jsonl)')
    .option('--role-arn <arn>', 'AWS: the IAM role Bedrock assumes to read the input and write the output')
    .option('-m, --model <id>', 'model id, inference profile id or ARN', DEFAULT_MODEL)
    .option('--max-tokens <n>', 'output tokens per record', int('--max-tokens', 1))
    .option('--system <text>', 'system prompt for every record')
    .option('--template <file>', 'prompt template file ({{transcript}}, {{key}}, {{<column>}})')
    .addOption(new Option('--format <adapter>', 'source format (default: detected per file)').choices([...ADAPTER_NAMES]))
    .option('--key <column>', 'call id column')
    .option('--text <column>', 'transcript / utterance text column')
    .option('--speaker <column>', 'speaker column (one utterance per row)')
    .addOption(new Option('--rows <kind>', 'what a row is: a whole call, or one utterance (default: utterances when there is a speaker or role column)').choices(['calls', 'utterances']))
    .addOption(new Option('--duplicates <scope>', 'where a call id must be unique: in the whole run, or per file').choices(['run', 'per-file']))
    .option('--passthrough <columns>', 'columns carried into the results: a,b,c | * | none')
    .addOption(new Option('--quotas <profile>', "quota profile (default: local on the local service, default on AWS), or account: the account's batch quotas from Service Quotas").choices([...QUOTA_CHOICES]))
    .option('--max-records <n>', 'records per shard file', int('--max-records', 1))
    .option('--min-records <n>', 'minimum records per job', int('--min-records', 1))
    .option('--max-job-records <n>', 'records per job', int('--max-job-records', 1))
    .option('--max-in-flight <n>', "jobs of the model in flight at once (default: the quota profile's)", int('--max-in-flight', 1))
    .option('--timeout-hours <n>', 'AWS: job timeout, 24 to 168', int('--timeout-hours', 1))
    .option('--local', 'run on the local service in this process')
    .option('--aws', 'run on Amazon Bedrock')
    .option('--fault <name=value>', 'local service: inject a fault (record-errors=0.1, invalid-fields=0.1, partial=job-0002, ...)', repeatable)
    .option('--local-record-delay <ms>', 'local service: milliseconds per record', int('--local-record-delay'))
    .option('--allow-model <id>', 'local service: accept this model id too (repeatable); a model outside its batch catalogue is refused at create, as Bedrock refuses it', repeatable)
    .option('--keep-order', 'local service: write output lines in input order (by default shuffled, as Bedrock keeps no order)')
    .option('--no-csv-escape-formulas', "CSV/TSV results: write cells exactly as they are (by default a cell a spreadsheet would run gets a leading ')")
    .option('--report <file>', 'the HTML report: one self-contained page of the figures and, for a schema run, its fields (default <work>/report.html)')
    .option('--no-report', 'write no HTML report')
    .option('--poll <seconds>', 'first interval between job status checks (default 5 on AWS, 0.2 locally)', seconds('--poll'))
    .option('--yes', 'on a terminal, submit to AWS without showing the estimate and asking first')
    .option('--no-wait', 'one step (for a scheduler): prepare if needed, create the jobs the quota allows now, collect once every job has ended, write <work>/step.json, and exit; safe to repeat from several machines')
    .option('--fresh', 'start over: remove the files this run wrote under a local <work> (nothing else; jobs already created are left alone and listed)')
    .option('--json', 'print the report as one JSON object on stdout')
    .option('-q, --quiet', 'only the report');
  return addAwsOptions(addExpireOption(addSkipAnsweredOption(addModeOptions(addInsightOptions(cmd)))), { primary: 'S3', bedrock: true }).action(async (inputs: string[], flags: RunFlags) => {
    process.exitCode = await runAll(inputs, flags);
  });
}

const join = (base: string, name: string) => `${base.replace(/\/+$/, '')}/${name}`;

/** prepare's problems that leave a folder below the minimum per batch job: answered on demand unless --mode batch. */
const ON_DEMAND_PROBLEMS = new Set(['E_BELOW_MIN_RECORDS', 'E_CANNOT_REBALANCE']);

/** How long a step's claim to prepare holds before another step may take it over (a 1 TB prepare takes about 2 h). */
const PREPARE_LEASE_MS = 3 * 3_600_000;

/** What `run` goes on with when every call was skipped (answered before): no job, nothing to wait for. */
function nothingSubmitted(output: string): SubmitResult {
  return {
    mode: 'local',
    target: 'nothing submitted (every call was answered before)',
    ledger: '',
    output,
    jobs: [],
    byStatus: {},
    records: { total: 0, processed: 0, success: 0, error: 0 },
    created: 0,
    ok: true,
    finished: true,
    remaining: 0,
    collectReady: true,
    ledgerEvents: 0,
    onDemand: { jobs: 0, records: 0, requests: 0, throttled: 0, resumed: 0, seconds: 0 },
  };
}

function modeWords(m: { batch: number; onDemand: number }): string {
  if (m.batch === 0 && m.onDemand === 0) return 'nothing submitted';
  const part = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  if (m.onDemand === 0) return `mode batch (${part(m.batch, 'job')})`;
  if (m.batch === 0) return `mode on-demand (${part(m.onDemand, 'folder')} through the Bedrock Runtime, at on-demand prices)`;
  return `mode batch and on-demand (${part(m.batch, 'batch job')}, ${part(m.onDemand, 'folder')} on demand)`;
}

async function runAll(inputs: string[], flags: RunFlags): Promise<number> {
  const work = flags.work;
  const s3Work = isS3Uri(work);
  const batch = join(work, 'batch');
  const output = flags.output ?? join(work, 'out');
  const results = flags.results ?? join(work, 'results.jsonl');
  if (!s3Work && isS3Uri(output)) {
    throw new BatchError('E_BAD_OPTION', `--output ${output} is in S3 but --work ${work} is local: Bedrock reads a job's input from S3`, {
      hint: 'give --work s3://bucket/prefix/ (the shards go there), or leave --output out to run locally',
    });
  }
  // one set of S3 settings (and so one client) for every stage; prepare and collect tag what they write (--expire-days)
  const s3 = await s3OptionsFrom(flags);
  const expireDays = expireDaysFrom(flags);
  const tagged = withExpireTags(s3, expireDays);
  const say = (text: string) => {
    if (!flags.quiet && !flags.json) process.stderr.write(text);
  };
  if (flags.fresh) {
    if (s3Work) throw new BatchError('E_BAD_OPTION', '--fresh clears only a local --work', { hint: `remove the run's files under ${work} yourself, or use another --work` });
    const f = await freshWork(work, { batch, output, results }, s3);
    say(`run: --fresh removed ${formatCount(f.removed)} file(s) this run wrote under ${work}; nothing else was touched\n`);
    if (f.jobs.length > 0) {
      // created, billed, maybe still running: never silently orphaned
      const running = f.jobs.filter((j) => !isTerminal(j.status)).length;
      process.stderr.write(
        `run: the replaced run's ${f.jobs.length} job(s) were created (and billed), and are left alone${running ? `; ${running} may still be running` : ''}:\n` +
          f.jobs.map((j) => `  ${j.job} ${j.jobArn} (last seen ${j.status})\n`).join('') +
          `  their ledger is kept: ${f.ledgers.join(', ')} (bedrock-batch status/stop take it with --ledger)\n`,
      );
    }
  }
  const mode = decideMode({ run: batch, output, local: flags.local === true, aws: flags.aws === true, endpointUrl: flags.bedrockEndpointUrl });
  const quotas = flags.quotas ?? (mode.mode === 'local' ? 'local' : 'default');
  await claimWork(work, { batch, output, results }, s3);

  // 1. prepare, unless this work location already holds the same run
  const here = await inspectRunLocation(openStore(batch, s3));
  const prepareOptions = await prepareOptionsFrom(
    inputs,
    {
      out: batch,
      model: flags.model,
      maxTokens: flags.maxTokens,
      system: flags.system,
      template: flags.template,
      format: flags.format,
      key: flags.key,
      text: flags.text,
      speaker: flags.speaker,
      rows: flags.rows,
      passthrough: flags.passthrough,
      quotas,
      maxRecords: flags.maxRecords,
      maxJobRecords: flags.maxJobRecords,
      minRecords: flags.minRecords,
      ids: 'deterministic',
      duplicates: flags.duplicates ?? 'run',
      ...(flags.schema !== undefined ? { schema: flags.schema } : {}),
      ...(flags.schemaVia !== undefined ? { schemaVia: flags.schemaVia } : {}),
      ...(flags.redact !== undefined ? { redact: flags.redact } : {}),
      ...(flags.phoneRegion !== undefined ? { phoneRegion: flags.phoneRegion } : {}),
      ...(flags.fit !== undefined ? { fit: flags.fit } : {}),
      ...(flags.skipAnswered?.length ? { skipAnswered: flags.skipAnswered } : {}),
      ...(flags.region ? { region: flags.region } : {}),
      ...(flags.profile ? { profile: flags.profile } : {}),
      ...(flags.bedrockEndpointUrl ? { bedrockEndpointUrl: flags.bedrockEndpointUrl } : {}),
    },
    tagged,
    (text) => say(`run: ${text}\n`),
  );
  const step = flags.wait === false;
  const workStore = openStore(work, s3);
  let jobNamePrefix: string | undefined;
  const stepDone = async (status: Omit<StepStatus, 'v' | 'at'>): Promise<number> => {
    const full: StepStatus = { v: 1, at: new Date().toISOString(), ...status, ...(jobNamePrefix ? { jobNamePrefix } : {}) };
    await writeStepStatus(workStore, full);
    if (flags.json) process.stdout.write(JSON.stringify(full) + '\n');
    say(`run: step: ${full.phase}${full.note ? `: ${full.note}` : ''}; jobs ${full.jobs.created}/${full.jobs.total} created, ${full.jobs.running} running, ${full.jobs.ended} ended; ${full.done ? `done: ${full.results}` : full.collectReady ? 'collect can run' : 'run the same command again later'}\n`);
    return 0;
  };
  if (step && here.state !== 'prepared') {
    // one stepper prepares; the others see its lease and come back later
    const lease = await acquireLease(workStore, PREPARE_LEASE_KEY, PREPARE_LEASE_MS);
    if (!lease.mine) {
      return stepDone({
        phase: 'preparing',
        jobs: { total: 0, created: 0, running: 0, ended: 0, remaining: 0 },
        collectReady: false,
        done: false,
        results: null,
        ledgerEvents: 0,
        note: `another step has been preparing since ${lease.since}`,
      });
    }
  }
  let rejected: number;
  let read: number;
  let skipped = 0;
  let skippedAll = false;
  let rejectsByCode: Record<string, number>;
  let prepared: { redacted?: Record<string, number> | undefined; truncated?: number | undefined };
  if (here.state === 'prepared') {
    const file = here.prepared!.file;
    // A step of a submitted run does not look at the inputs again (one request per input object,
    // every step): the step that prepared compared them, and the jobs exist.
    const changes = step && here.submitted ? [] : recipeChanges(file.recipe, await prepareRecipe(prepareOptions));
    if (changes.length > 0) {
      const jobs = here.submitted ? ledgerJobs(batch, await Ledger.read(openStore(batch, s3).resolve(LEDGER_KEY), s3)) : [];
      throw new BatchError('E_RUN_CHANGED', `${batch} was prepared from other inputs or settings: ${changes.slice(0, 6).join('; ')}${changes.length > 6 ? `; and ${changes.length - 6} more` : ''}`, {
        hint:
          (jobs.length ? `its ${jobs.length} job(s) were already created (${jobs.map((j) => `${j.job} ${jobIdOf(j.jobArn)} ${j.status}`).join(', ')}). ` : '') +
          'run it as it was prepared (the same inputs and options), or --fresh to prepare it again (only files this run wrote are removed; jobs already created are left alone and listed), or use another --work',
      });
    }
    if (inputs.includes('-')) say('run: input - (stdin) cannot be compared with what was prepared: the prepared run is kept as it is\n');
    read = file.read ?? 0;
    rejected = file.rejected ?? 0;
    skipped = file.skipped ?? 0;
    skippedAll = file.skippedAll === true;
    rejectsByCode = file.rejectsByCode ?? {};
    prepared = { redacted: file.redacted, truncated: file.truncated };
    say(`run: ${batch} is already prepared (${formatCount(file.written ?? 0)} records, quotas ${file.quotas?.name ?? '?'}): going on from there\n`);
  } else {
    // a prepare that was interrupted is replaced (its own files only)
    const summary = await runPrepare({ ...prepareOptions, overwrite: here.state === 'preparing' }, false);
    say(prepareText(summary));
    if (summary.problem && !(flags.mode !== 'batch' && ON_DEMAND_PROBLEMS.has(summary.problem.code) && summary.written > 0)) {
      throw new BatchError(summary.problem.code, summary.problem.message, {
        hint: ON_DEMAND_PROBLEMS.has(summary.problem.code) ? `${summary.problem.hint}; or drop --mode batch: a folder below the minimum is answered on demand` : summary.problem.hint,
      });
    }
    if (summary.problem) say(`run: ${summary.problem.message}: that folder is answered on demand, through the Bedrock Runtime (docs/on-demand.md)\n`);
    read = summary.read;
    rejected = summary.rejected;
    skipped = summary.skipped;
    skippedAll = summary.skippedAll === true;
    rejectsByCode = summary.rejectsByCode;
    prepared = { redacted: summary.redacted, truncated: summary.truncated };
  }

  // 2. submit and watch (resumes from the ledger): the prepared run's model, watched to the end
  const submit = await submitOptionsFrom(batch, {
    output,
    roleArn: flags.roleArn,
    local: flags.local,
    aws: flags.aws,
    // the same AWS settings as every stage; submit's --endpoint-url is Bedrock's, run's is S3's
    ...(flags.bedrockEndpointUrl ? { bedrockEndpointUrl: flags.bedrockEndpointUrl } : {}),
    ...(flags.profile ? { profile: flags.profile } : {}),
    ...(flags.region ? { region: flags.region } : {}),
    ...(flags.debug ? { debug: true } : {}),
    maxInFlight: flags.maxInFlight,
    timeoutHours: flags.timeoutHours,
    fault: flags.fault,
    localRecordDelay: flags.localRecordDelay,
    allowModel: flags.allowModel,
    keepOrder: flags.keepOrder,
    ...(step ? { wait: false } : {}),
    ...(flags.poll !== undefined ? { poll: flags.poll } : {}),
    ...(flags.mode ? { mode: flags.mode } : {}),
    ...(flags.maxCost !== undefined ? { maxCost: flags.maxCost } : {}),
    ...(flags.prices !== undefined ? { prices: flags.prices } : {}),
    ...(flags.onDemandConcurrency !== undefined ? { onDemandConcurrency: flags.onDemandConcurrency } : {}),
    ...(flags.rpm !== undefined ? { rpm: flags.rpm } : {}),
    ...(flags.tpm !== undefined ? { tpm: flags.tpm } : {}),
  }, s3);
  // On a terminal, money on AWS is spent only after a yes (never without a terminal, nor in a step).
  const interactive = process.stdin.isTTY === true && process.stderr.isTTY === true;
  if (mode.mode === 'aws' && interactive && !flags.yes && !step) {
    submit.confirm = (b: BudgetCheck) => askYesNo(`run: ${describeBudget(b)}\nrun: ${b.label}\nrun: submit? [y/N] `);
  }
  // every call answered before (--skip-answered): nothing to submit; collect writes the reused answers
  const { code, result } = skippedAll ? { code: 0, result: nothingSubmitted(submit.output ?? output) } : await executeSubmit(submit, flags.quiet === true || flags.json === true);
  if (!result) return code;
  if (skippedAll) say('run: every call was answered before (--skip-answered): nothing submitted; collecting the earlier answers\n');
  const ledgerNow = await Ledger.read(openStore(batch, s3).resolve(LEDGER_KEY), s3);
  jobNamePrefix = result.jobs[0]?.jobName.replace(/job-\d+$/, '');
  const jobsLine = {
    total: result.jobs.length,
    created: result.jobs.filter((j) => j.jobArn).length,
    running: result.jobs.filter((j) => j.jobArn && !isTerminal(j.status)).length,
    ended: result.jobs.filter((j) => isTerminal(j.status)).length,
    remaining: result.remaining,
  };
  if (step && !result.collectReady) {
    return stepDone({ phase: result.remaining > 0 ? 'submitting' : 'running', jobs: jobsLine, collectReady: false, done: false, results: null, ledgerEvents: result.ledgerEvents });
  }
  if (ledgerNow.cleaned || (step && ledgerNow.collected)) {
    // collected already (and maybe cleaned: the outputs are gone): never collect again over it
    const where = ledgerNow.collected?.results ?? results;
    if (step) return stepDone({ phase: 'collected', jobs: jobsLine, collectReady: true, done: true, results: where, ledgerEvents: result.ledgerEvents });
    say(`run: this run was collected into ${where}${ledgerNow.cleaned ? ' and cleaned (its shards and job outputs are gone)' : ''}: nothing to do\n`);
    if (flags.json) process.stdout.write(JSON.stringify({ results: { uri: where }, collected: true, cleaned: ledgerNow.cleaned !== undefined, ...stepJson(result) }) + '\n');
    return code;
  }

  // 3. collect
  const collect = await collectOptionsFrom(output, { prepared: batch, results, maxAttempts: 3, csvEscapeFormulas: flags.csvEscapeFormulas }, tagged);
  const reportAt = flags.report === false ? undefined : (flags.report ?? join(work, 'report.html'));
  const collectOptions = {
    ...collect,
    ...(reportAt !== undefined ? { report: reportAt, reportExtra: { prepare: { read, written: result.records.total, rejected, skipped, rejectsByCode, ...prepared } } } : {}),
  };
  const c = await runCollect(collectOptions, false);
  await recordCollected(collectOptions, c);
  if (expireDays !== undefined) await tagOutputs(collectOptions, output, expireDays);
  if (step) return stepDone({ phase: 'collected', jobs: jobsLine, collectReady: true, done: true, results: c.results.uri, ledgerEvents: result.ledgerEvents + 1 });
  const s = c.collect;
  const cost = c.cost.total.cost;
  const report = {
    read,
    written: result.records.total,
    rejected,
    skipped,
    reused: s.reused,
    succeeded: s.succeeded,
    failed: s.failed,
    invalid: s.invalid,
    missing: s.missing,
    ...(s.fields ? { fields: s.fields } : {}),
    ...(s.redacted ? { redacted: s.redacted } : {}),
    truncated: s.truncated,
    inputTokens: s.inputTokens,
    outputTokens: s.outputTokens,
    cost: cost ? { total: Math.round(cost.total * 1e6) / 1e6, currency: c.cost.currency, estimate: true, label: c.cost.label } : null,
    results: { uri: c.results.uri, records: c.results.records },
    report: c.report?.uri ?? null,
    retry: c.plan?.retry.uri ? { uri: c.plan.retry.uri, records: c.plan.retry.records } : null,
    deadLetter: c.plan ? { uri: c.plan.deadLetter.uri, records: c.plan.deadLetter.records } : null,
    quotas,
    service: result.target,
    mode: { batch: result.jobs.filter((j) => j.mode === 'batch').length, onDemand: result.jobs.filter((j) => j.mode === 'on-demand').length },
    ...(result.budget ? { budget: result.budget } : {}),
    jobs: result.jobs.map((j) => ({ job: j.job, status: j.status, jobArn: j.jobArn ?? null })),
  };
  if (flags.json) process.stdout.write(JSON.stringify(report) + '\n');
  if (!flags.json) {
    const lines = [
      `run: ${formatCount(read)} calls read, ${formatCount(s.succeeded)} summaries written, ${formatCount(rejected)} rejected, ${formatCount(s.failed)} failed, ${formatCount(s.missing)} missing` +
        (skipped ? `, ${formatCount(skipped)} skipped (answered before: ${formatCount(s.reused)} reused in the results)` : ''),
      `  tokens:  ${formatCount(s.inputTokens)} in, ${formatCount(s.outputTokens)} out; estimated cost at Bedrock ${report.mode.onDemand ? (report.mode.batch ? 'batch and on-demand' : 'on-demand') : 'batch'} prices ${cost ? formatMoney(cost.total, c.cost.currency) : 'unknown (no price for this model)'}`,
      `           ${c.cost.label}`,
      `  service: ${result.target}; quota profile ${quotas}; ${modeWords(report.mode)}`,
      `  results: ${c.results.uri}`,
    ];
    if (c.report) lines.push(`  report:  ${c.report.uri}`);
    if (s.invalid) lines.push(`  invalid: ${formatCount(s.invalid)} answers did not follow the schema (counted as failed; retried like errors)`);
    if (report.retry) lines.push(`  retry:   ${report.retry.records} records in ${report.retry.uri} (bedrock-batch submit ${report.retry.uri} --output ${join(work, 'out-retry')})`);
    if (rejected) lines.push(`  rejects: ${join(batch, 'rejects.jsonl')}`);
    process.stderr.write(lines.join('\n') + '\n');
  }
  return code;
}
