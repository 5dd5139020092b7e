/** `bedrock-batch submit`: a prepared run in, Bedrock batch jobs out, watched to the end. */
import { Command, Option } from 'commander';
import { BatchError } from '../errors.js';
import { parseFaults } from '../local/faults.js';
import { openAiChatModel } from '../local/models.js';
import { reportSubmission } from '../jobs/progress.js';
import type { JobState, SubmitMode, SubmitResult, SubmitRunOptions } from '../jobs/submit.js';
import { describeBudget } from '../jobs/budget.js';
import { isTerminal } from '../bedrock/vocabulary.js';
import { readPrices } from './collect.js';
import type { LocalRunOptions } from '../target.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { amount, int, repeatable, seconds } from './parsers.js';
import type { S3StoreOptions } from '../stores/s3.js';
import { addAwsOptions, bedrockSettingsFrom, s3OptionsFrom, type AwsFlags } from './s3-options.js';

/** The `--json` shape of submit and status: `{"jobs": [{jobArn, jobName, status, input, output, records}]}`. */
export function jobsJson(jobs: readonly JobState[]): { jobs: Record<string, unknown>[] } {
  return {
    jobs: jobs.map((j) => ({
      jobArn: j.jobArn ?? null,
      jobName: j.jobName,
      status: j.status,
      input: j.input,
      output: j.output ?? null,
      records: j.records,
    })),
  };
}

/** Options shared by the commands that talk to Bedrock: the AWS options (Bedrock's `--endpoint-url`), and `--s3-root`. */
export function addServiceOptions(cmd: Command): Command {
  return addAwsOptions(cmd, { primary: 'Bedrock' }).option(
    '--s3-root <dir>',
    'with a Bedrock --endpoint-url: local paths under DIR are s3://bucket/key, as `serve --root DIR` maps them',
  );
}

/** What commander hands an action for the options addServiceOptions declares. */
export interface ServiceFlags extends AwsFlags {
  s3Root?: string;
}

/**
 * The service options the flags ask for (only those given): Bedrock's settings, and S3's for a run
 * in S3 (`s3` when the caller has resolved them already, as `run` has).
 */
export async function serviceOptionsFrom(flags: ServiceFlags, given?: S3StoreOptions): Promise<Pick<SubmitRunOptions, 'region' | 'endpointUrl' | 'profile' | 'debug' | 's3Root' | 's3'>> {
  const s3 = given ?? (await s3OptionsFrom(flags, 'Bedrock'));
  return {
    ...bedrockSettingsFrom(flags, 'Bedrock'),
    ...(flags.s3Root ? { s3Root: flags.s3Root } : {}),
    ...(Object.keys(s3).length ? { s3 } : {}),
  };
}

/** The local service's flags, by `serve`'s names (submit's delays and concurrency carry a `--local-` prefix). */
export interface LocalServiceFlags {
  modelEndpoint?: string;
  allowModel?: string[];
  keepOrder?: boolean;
  modelName?: string;
  allowInsecureModelEndpoint?: boolean;
  fault?: string[];
  delay?: number;
  recordDelay?: number;
  concurrency?: number;
  hour?: number;
}

/** The local model and faults from the command line. */
export function localServiceOptionsFrom(flags: LocalServiceFlags): LocalRunOptions {
  const local: LocalRunOptions = {};
  if (flags.modelEndpoint) {
    local.model = openAiChatModel({
      url: flags.modelEndpoint,
      ...(flags.modelName ? { model: flags.modelName } : {}),
      ...(flags.allowInsecureModelEndpoint ? { allowInsecureHttp: true } : {}),
    });
  }
  if (flags.fault?.length) local.faults = parseFaults(flags.fault);
  if (flags.allowModel?.length) local.extraModels = flags.allowModel;
  if (flags.keepOrder) local.outputOrder = { order: 'input' };
  const { delay, recordDelay: record } = flags;
  if (delay !== undefined || record !== undefined) {
    local.delays = {
      ...(delay !== undefined ? { submitted: delay, validating: delay, scheduled: delay, stopping: delay } : {}),
      ...(record !== undefined ? { record } : {}),
    };
  }
  if (flags.concurrency !== undefined) local.concurrency = flags.concurrency;
  if (flags.hour !== undefined) local.hourMs = flags.hour;
  return local;
}

/** What commander hands `submit`'s action. */
export interface SubmitFlags extends ServiceFlags, Pick<LocalServiceFlags, 'modelEndpoint' | 'modelName' | 'allowInsecureModelEndpoint' | 'fault' | 'hour' | 'allowModel' | 'keepOrder'> {
  output?: string;
  roleArn?: string;
  model?: string;
  local?: boolean;
  aws?: boolean;
  ledger?: string;
  wait?: boolean;
  maxInFlight?: number;
  timeoutHours?: number;
  tag?: string[];
  kmsKey?: string;
  subnet?: string[];
  securityGroup?: string[];
  poll?: number;
  json?: boolean;
  quiet?: boolean;
  localDelay?: number;
  localRecordDelay?: number;
  localConcurrency?: number;
  mode?: SubmitMode;
  maxCost?: number;
  prices?: string;
  onDemandConcurrency?: number;
  rpm?: number;
  tpm?: number;
}

/** The flags of the on-demand path and the cost ceiling, shared by `submit` and `run`. */
export function addModeOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--mode <mode>', 'batch jobs, on-demand calls through the Bedrock Runtime, or auto: on demand for a job folder below the quota profile\'s minimum records per job (default auto)').choices([
        'batch',
        'on-demand',
        'auto',
      ]),
    )
    .option('--on-demand-concurrency <n>', 'on demand: requests in flight at once (default 8)', int('--on-demand-concurrency', 1))
    .option('--rpm <n>', 'on demand: at most N requests per minute (your account\'s on-demand quota for the model)', int('--rpm', 1))
    .option('--tpm <n>', 'on demand: at most N tokens per minute (input + output budget)', int('--tpm', 1))
    .option('--max-cost <amount>', 'create nothing when the estimate (input + the whole output budget) is above this amount (USD, or your --prices currency)', amount('--max-cost'))
    .option('--prices <file>', 'price table JSON for --max-cost (per 1,000 tokens), over the built-in illustrative one');
}

/** submitRun's mode, on-demand and budget options from the flags (the price table read only when needed). */
export async function modeOptionsFrom(flags: Pick<SubmitFlags, 'mode' | 'maxCost' | 'prices' | 'onDemandConcurrency' | 'rpm' | 'tpm'>, s3?: S3StoreOptions): Promise<Pick<SubmitRunOptions, 'mode' | 'maxCost' | 'prices' | 'onDemand'>> {
  const limits = {
    ...(flags.onDemandConcurrency !== undefined ? { concurrency: flags.onDemandConcurrency } : {}),
    ...(flags.rpm !== undefined ? { rpm: flags.rpm } : {}),
    ...(flags.tpm !== undefined ? { tpm: flags.tpm } : {}),
  };
  return {
    ...(flags.mode ? { mode: flags.mode } : {}),
    ...(flags.maxCost !== undefined ? { maxCost: flags.maxCost } : {}),
    ...(flags.prices !== undefined ? { prices: await readPrices(flags.prices, s3) } : {}),
    ...(Object.keys(limits).length ? { onDemand: limits } : {}),
  };
}

export function submitCommand(): Command {
  const cmd = new Command('submit')
    .summary('submit a prepared run as Bedrock batch jobs, and watch them')
    .description(
      'Create one Bedrock batch inference job per job folder of a prepared run, at most --max-in-flight ' +
        'of the model at once, and watch them to the end. Every step goes to <run>/ledger.jsonl: run the same ' +
        'command again after a crash or Ctrl-C and it resumes, never creating a second job for a folder.\n\n' +
        'Local or AWS: local directories run on the local service, in this process, with no AWS account; ' +
        'an s3:// run or output (or --endpoint-url, or --aws) goes to Amazon Bedrock. --local / --aws force it. ' +
        'Exit code 1 when any job Failed or Expired, 130 when interrupted (143 on SIGTERM).',
    )
    .argument('<run>', 'the prepared run (what `prepare --out` was given)')
    .option('-o, --output <location>', 'where jobs write: a directory (local) or s3://bucket/prefix/ (default: the ledger\'s)')
    .option('--role-arn <arn>', 'the IAM role Bedrock assumes to read the input and write the output (AWS)')
    .option('-m, --model <id>', 'another id of the prepared model\'s family (e.g. a us./eu. profile id)')
    .option('--local', 'run on the local service in this process')
    .option('--aws', 'run on Amazon Bedrock');
  addModeOptions(addServiceOptions(cmd))
    .option('--ledger <file>', 'the ledger (default <run>/ledger.jsonl)')
    .option('--wait', 'watch until every job has ended (the default)')
    .option('--no-wait', 'one step: reconcile, create the jobs the quota allows now, answer on-demand folders, record it, and exit saying what remains; safe to repeat from several machines (AWS or `serve`; the in-process local service always waits)')
    .option('--max-in-flight <n>', "jobs of the model in flight at once (default: the run's quota profile)", int('--max-in-flight', 1))
    .option('--timeout-hours <n>', 'job timeout, 24 to 168 (Bedrock default 24)', int('--timeout-hours', 1))
    .option('--tag <key=value>', 'a job tag (repeat for more)', repeatable)
    .option('--kms-key <id>', 'KMS key id or ARN for the output')
    .option('--subnet <id>', 'VPC subnet (repeat; with --security-group)', repeatable)
    .option('--security-group <id>', 'VPC security group (repeat; with --subnet)', repeatable)
    .option('--poll <seconds>', 'first poll interval (default 5, local 0.2)', seconds('--poll'))
    .option('--json', 'print {"jobs": [...]} on stdout at the end')
    .option('-q, --quiet', 'only warnings on stderr')
    .option('--model-endpoint <url>', 'local service: answer with an OpenAI-compatible chat endpoint instead of the extractive summariser')
    .option('--model-name <name>', 'local service: the model name to ask that endpoint for')
    .option('--allow-insecure-model-endpoint', 'local service: allow a plain-http --model-endpoint on another host (the API key and transcripts cross the network unencrypted)')
    .option('--fault <name=value>', 'local service: inject a fault (record-errors=0.1, invalid-fields=0.1, throttle=0.2, fail=job-0002, partial=..., expire=..., slow-validation=MS, seed=N)', repeatable)
    .option('--allow-model <id>', 'local service: accept this model id too (repeatable); a model outside its batch catalogue is refused at create, as Bedrock refuses it', repeatable)
    .option('--keep-order', 'local service: write output lines in input order (by default they come out shuffled, as Bedrock keeps no order)')
    .option('--local-delay <ms>', 'local service: milliseconds per lifecycle step', int('--local-delay'))
    .option('--local-record-delay <ms>', 'local service: milliseconds per record', int('--local-record-delay'))
    .option('--local-concurrency <n>', 'local service: jobs running at once', int('--local-concurrency', 1))
    .addOption(new Option('--hour <ms>', 'local service: milliseconds in one hour of the job timeout').argParser(int('--hour', 1)).hideHelp())
    .action(async (run: string, flags: SubmitFlags) => {
      process.exitCode = await runSubmit(run, flags);
    });
  return cmd;
}

/** submitRun's options from submit's flags (all but the signal); `s3`: S3 settings resolved already. */
export async function submitOptionsFrom(run: string, flags: SubmitFlags, s3?: S3StoreOptions): Promise<SubmitRunOptions> {
  const tags = flags.tag?.map((t) => {
    const m = /^([^=]+)=(.*)$/.exec(t);
    if (!m) throw new BatchError('E_BAD_OPTION', `--tag ${t}: expected key=value`);
    return { key: m[1]!, value: m[2]! };
  });
  if (Boolean(flags.subnet?.length) !== Boolean(flags.securityGroup?.length)) {
    throw new BatchError('E_BAD_OPTION', 'a VPC config needs both --subnet and --security-group');
  }
  const local = localServiceOptionsFrom({ ...flags, delay: flags.localDelay, recordDelay: flags.localRecordDelay, concurrency: flags.localConcurrency });
  return {
    run,
    ...(flags.output ? { output: flags.output } : {}),
    ...(flags.ledger ? { ledger: flags.ledger } : {}),
    ...(flags.local ? { local: true } : {}),
    ...(flags.aws ? { aws: true } : {}),
    ...(await serviceOptionsFrom(flags, s3)),
    ...(flags.roleArn ? { roleArn: flags.roleArn } : {}),
    ...(flags.model ? { modelId: flags.model } : {}),
    wait: flags.wait !== false,
    ...(flags.maxInFlight !== undefined ? { maxInFlight: flags.maxInFlight } : {}),
    ...(flags.timeoutHours !== undefined ? { timeoutHours: flags.timeoutHours } : {}),
    ...(tags?.length ? { tags } : {}),
    ...(flags.kmsKey ? { kmsKeyId: flags.kmsKey } : {}),
    ...(flags.subnet?.length && flags.securityGroup ? { vpc: { subnetIds: flags.subnet, securityGroupIds: flags.securityGroup } } : {}),
    ...(flags.poll !== undefined ? { pollMs: Math.round(flags.poll * 1000) } : {}),
    ...(Object.keys(local).length ? { localService: local } : {}),
    ...(await modeOptionsFrom(flags, s3)),
  };
}

async function runSubmit(run: string, flags: SubmitFlags): Promise<number> {
  const { code, result } = await executeSubmit(await submitOptionsFrom(run, flags), flags.quiet === true);
  if (!result) return code;
  if (flags.json) process.stdout.write(JSON.stringify({ ...jobsJson(result.jobs), ...stepJson(result) }) + '\n');
  if (!flags.quiet) process.stderr.write(summaryText(result));
  return code;
}

/** What a step tells its caller (and `--json`): what remains, whether collect can run, what this call did. */
export function stepJson(r: SubmitResult): Record<string, unknown> {
  return {
    remaining: r.remaining,
    running: r.jobs.filter((j) => j.jobArn && !isTerminal(j.status)).length,
    collectReady: r.collectReady,
    created: r.created,
    ledgerEvents: r.ledgerEvents,
    onDemand: r.onDemand,
    ...(r.budget ? { budget: r.budget } : {}),
  };
}

/**
 * Submit and watch with the progress display and Ctrl-C handling of the command, without printing
 * the summary: `run` uses it too. `result` is absent when interrupted (code 130, 143 for SIGTERM).
 */
export async function executeSubmit(options: SubmitRunOptions, quiet: boolean): Promise<{ code: number; result?: SubmitResult }> {
  const controller = new AbortController();
  let signalCode: number = EXIT.sigint;
  const onSignal = (signal: NodeJS.Signals) => {
    signalCode = exitCodeFor(signal);
    controller.abort(new BatchError('E_INTERRUPTED', `interrupted by ${signal}`));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // The SDK loads only for the commands that need it (not for prepare or --help).
  const { submitRun } = await import('../jobs/submit.js');
  const submission = submitRun({ ...options, signal: controller.signal });
  const stopDisplay = reportSubmission(submission, { quiet });
  let result: SubmitResult;
  try {
    result = await submission.done();
  } catch (err) {
    stopDisplay();
    if (controller.signal.aborted) {
      process.stderr.write('bedrock-batch: interrupted. The ledger is up to date: run the same command to resume (AWS jobs keep running; local jobs wait for it).\n');
      return { code: signalCode };
    }
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  stopDisplay();
  return { code: result.ok ? EXIT.ok : EXIT.error, result };
}

function summaryText(r: SubmitResult): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const words = Object.entries(r.byStatus)
    .map(([s, c]) => `${c} ${s}`)
    .join(', ');
  const lines = [
    `submit: ${r.jobs.length} job${r.jobs.length === 1 ? '' : 's'} (${words}) on ${r.target}`,
    `  records: ${n(r.records.processed)}/${n(r.records.total)} processed, ${n(r.records.success)} succeeded, ${n(r.records.error)} failed`,
    `  output:  ${r.output}`,
    `  ledger:  ${r.ledger}`,
  ];
  const onDemand = r.jobs.filter((j) => j.mode === 'on-demand');
  if (onDemand.length) {
    lines.push(
      `  on demand: ${onDemand.length} folder${onDemand.length === 1 ? '' : 's'} answered through the Bedrock Runtime (${onDemand.map((j) => j.job).join(', ')})` +
        (r.onDemand.requests ? `; ${n(r.onDemand.requests)} requests in ${r.onDemand.seconds.toFixed(1)} s, ${n(r.onDemand.throttled)} throttled${r.onDemand.resumed ? `, ${n(r.onDemand.resumed)} answers kept from before` : ''}` : ''),
    );
  }
  if (r.budget) lines.push(`  ${describeBudget(r.budget)}`);
  if (!r.finished) {
    lines.push(
      r.remaining > 0
        ? `  step: ${r.remaining} folder${r.remaining === 1 ? '' : 's'} still without a job (the quota is full): run the same command again later; collect cannot run yet`
        : r.collectReady
          ? '  step: every job has ended: collect can run'
          : '  step: every folder has a job; not every job has ended: run the same command again later (or `bedrock-batch status`); collect cannot run yet',
    );
  }
  for (const j of r.jobs) if (j.status === 'Failed' || j.status === 'Expired') lines.push(`  ${j.job} ${j.status}${j.message ? `: ${j.message}` : ''}`);
  return lines.join('\n') + '\n';
}
