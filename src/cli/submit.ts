/** `bedrock-batch submit`: a prepared run in, Bedrock batch jobs out, watched to the end. */
import { Command, Option } from 'commander';
import { BatchError } from '../errors.js';
import { parseFaults } from '../local/faults.js';
import { openAiChatModel } from '../local/models.js';
import { reportSubmission } from '../jobs/progress.js';
import type { JobState, SubmitResult, SubmitRunOptions } from '../jobs/submit.js';
import type { LocalRunOptions } from '../jobs/target.js';
import { exitCodeFor } from './s3-options.js';

export const int = (name: string, min = 0) => (v: string) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) throw new BatchError('E_BAD_OPTION', `${name} must be a whole number${min ? ` of at least ${min}` : ''}, got "${v}"`);
  return n;
};
const seconds = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new BatchError('E_BAD_OPTION', `${name} must be a number of seconds, got "${v}"`);
  return n;
};
/** Commander's argParser for a repeatable option. */
export const collect = (v: string, all: string[] = []) => [...all, v];

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

/** Options shared by the commands that talk to a service. */
export function serviceOptions(cmd: Command): Command {
  return cmd
    .option('--region <region>', 'AWS region (default: AWS_REGION or the profile)')
    .option('--endpoint-url <url>', 'a Bedrock-compatible endpoint instead of AWS (e.g. `bedrock-batch serve`)')
    .option('--s3-root <dir>', 'with --endpoint-url: local paths under DIR are s3://bucket/key, as `serve --root DIR` maps them');
}

/** The local model and faults from the command line. */
export function localServiceOptions(opts: Record<string, any>, prefix: 'local' | ''): LocalRunOptions {
  const key = (name: string) => (prefix ? `${prefix}${name[0]!.toUpperCase()}${name.slice(1)}` : name);
  const local: LocalRunOptions = {};
  if (opts.modelEndpoint) {
    local.model = openAiChatModel({
      url: opts.modelEndpoint,
      ...(opts.modelName ? { model: opts.modelName } : {}),
      ...(opts.allowInsecureModelEndpoint ? { allowInsecureHttp: true } : {}),
    });
  }
  if (opts.fault?.length) local.faults = parseFaults(opts.fault);
  const delay = opts[key('delay')];
  const record = opts[key('recordDelay')];
  if (delay !== undefined || record !== undefined) {
    local.delays = {
      ...(delay !== undefined ? { submitted: delay, validating: delay, scheduled: delay, stopping: delay } : {}),
      ...(record !== undefined ? { record } : {}),
    };
  }
  const concurrency = opts[key('concurrency')];
  if (concurrency !== undefined) local.concurrency = concurrency;
  if (opts.hour !== undefined) local.hourMs = opts.hour;
  return local;
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
  serviceOptions(cmd)
    .option('--ledger <file>', 'the ledger (default <run>/ledger.jsonl)')
    .option('--wait', 'watch until every job has ended (the default)')
    .option('--no-wait', 'return once every folder has a job (AWS; the local service always waits)')
    .option('--max-in-flight <n>', "jobs of the model in flight at once (default: the run's quota profile)", int('--max-in-flight', 1))
    .option('--timeout-hours <n>', 'job timeout, 24 to 168 (Bedrock default 24)', int('--timeout-hours', 1))
    .option('--tag <key=value>', 'a job tag (repeat for more)', collect)
    .option('--kms-key <id>', 'KMS key id or ARN for the output')
    .option('--subnet <id>', 'VPC subnet (repeat; with --security-group)', collect)
    .option('--security-group <id>', 'VPC security group (repeat; with --subnet)', collect)
    .option('--poll <seconds>', 'first poll interval (default 5, local 0.2)', seconds('--poll'))
    .option('--json', 'print {"jobs": [...]} on stdout at the end')
    .option('-q, --quiet', 'only warnings on stderr')
    .option('--model-endpoint <url>', 'local service: answer with an OpenAI-compatible chat endpoint instead of the extractive summariser')
    .option('--model-name <name>', 'local service: the model name to ask that endpoint for')
    .option('--allow-insecure-model-endpoint', 'local service: allow a plain-http --model-endpoint on another host (the API key and transcripts cross the network unencrypted)')
    .option('--fault <name=value>', 'local service: inject a fault (record-errors=0.1, throttle=0.2, fail=job-0002, partial=..., expire=..., slow-validation=MS, seed=N)', collect)
    .option('--local-delay <ms>', 'local service: milliseconds per lifecycle step', int('--local-delay'))
    .option('--local-record-delay <ms>', 'local service: milliseconds per record', int('--local-record-delay'))
    .option('--local-concurrency <n>', 'local service: jobs running at once', int('--local-concurrency', 1))
    .addOption(new Option('--hour <ms>', 'local service: milliseconds in one hour of the job timeout').argParser(int('--hour', 1)).hideHelp())
    .action(async (run: string, opts: Record<string, any>) => {
      const code = await runSubmit(run, opts);
      process.exitCode = code;
    });
  return cmd;
}

export function submitOptions(run: string, opts: Record<string, any>, signal?: AbortSignal): SubmitRunOptions {
  const tags = (opts.tag as string[] | undefined)?.map((t) => {
    const m = /^([^=]+)=(.*)$/.exec(t);
    if (!m) throw new BatchError('E_BAD_OPTION', `--tag ${t}: expected key=value`);
    return { key: m[1]!, value: m[2]! };
  });
  if (Boolean(opts.subnet?.length) !== Boolean(opts.securityGroup?.length)) {
    throw new BatchError('E_BAD_OPTION', 'a VPC config needs both --subnet and --security-group');
  }
  const local = localServiceOptions(opts, 'local');
  return {
    run,
    ...(opts.output ? { output: opts.output } : {}),
    ...(opts.ledger ? { ledger: opts.ledger } : {}),
    ...(opts.local ? { local: true } : {}),
    ...(opts.aws ? { aws: true } : {}),
    ...(opts.endpointUrl ? { endpointUrl: opts.endpointUrl } : {}),
    ...(opts.s3Root ? { s3Root: opts.s3Root } : {}),
    ...(opts.region ? { region: opts.region } : {}),
    ...(opts.roleArn ? { roleArn: opts.roleArn } : {}),
    ...(opts.model ? { modelId: opts.model } : {}),
    wait: opts.wait !== false,
    ...(opts.maxInFlight !== undefined ? { maxInFlight: opts.maxInFlight } : {}),
    ...(opts.timeoutHours !== undefined ? { timeoutHours: opts.timeoutHours } : {}),
    ...(tags?.length ? { tags } : {}),
    ...(opts.kmsKey ? { kmsKeyId: opts.kmsKey } : {}),
    ...(opts.subnet?.length ? { vpc: { subnetIds: opts.subnet, securityGroupIds: opts.securityGroup } } : {}),
    ...(opts.poll !== undefined ? { pollMs: Math.round(opts.poll * 1000) } : {}),
    ...(Object.keys(local).length ? { localService: local } : {}),
    ...(signal ? { signal } : {}),
  };
}

async function runSubmit(run: string, opts: Record<string, any>): Promise<number> {
  const { code, result } = await executeSubmit(run, opts);
  if (!result) return code;
  if (opts.json) process.stdout.write(JSON.stringify(jobsJson(result.jobs)) + '\n');
  if (!opts.quiet) process.stderr.write(summaryText(result));
  return code;
}

/**
 * Submit and watch with the progress display and Ctrl-C handling of the command, without printing
 * the summary: `run` uses it too. `result` is absent when interrupted (code 130, 143 for SIGTERM).
 */
export async function executeSubmit(run: string, opts: Record<string, any>): Promise<{ code: number; result?: SubmitResult }> {
  const controller = new AbortController();
  let signalCode = 130;
  const onSignal = (signal: NodeJS.Signals) => {
    signalCode = exitCodeFor(signal);
    controller.abort(new BatchError('E_INTERRUPTED', `interrupted by ${signal}`));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // The SDK loads only for the commands that need it (not for prepare or --help).
  const { submitRun } = await import('../jobs/submit.js');
  const submission = submitRun(submitOptions(run, opts, controller.signal));
  const stopDisplay = reportSubmission(submission, { quiet: opts.quiet === true });
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
  return { code: result.ok ? 0 : 1, result };
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
  if (!r.finished) lines.push('  not every job has finished: `bedrock-batch status` shows where they are');
  for (const j of r.jobs) if (j.status === 'Failed' || j.status === 'Expired') lines.push(`  ${j.job} ${j.status}${j.message ? `: ${j.message}` : ''}`);
  return lines.join('\n') + '\n';
}
