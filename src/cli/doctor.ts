/**
 * `bedrock-batch doctor`: the preflight of src/doctor.ts on the command line. One line per check
 * (ok, PROBLEM with its fix, or "could not check" with the reason) on stdout, or with `--json`
 * `{"checks": [{name, subject?, status, detail, fix?}], "ok": boolean}`. Exit code 1 when a check
 * found a problem, 0 otherwise (checks that could not be made are said, and do not fail it).
 */
import { Command, Option } from 'commander';
import { QUOTA_PROFILES } from '../bedrock/quotas.js';
import type { DoctorCheck, DoctorReport } from '../doctor.js';
import { EXIT } from './exit-codes.js';
import { addAwsOptions, bedrockSettingsFrom, s3OptionsFrom, type AwsFlags } from './s3-options.js';

/** What commander hands `doctor`'s action. */
interface DoctorFlags extends AwsFlags {
  model?: string;
  roleArn?: string;
  input?: string;
  output?: string;
  quotas?: string;
  json?: boolean;
}

export function doctorCommand(): Command {
  const cmd = new Command('doctor')
    .summary('check what a run will use on AWS, before anything is written or billed')
    .description(
      'Check, for a run on Amazon Bedrock: the credentials (and whose they are), the region, the model (it runs batch, ' +
        'there), the role (it exists, Bedrock may assume it), the buckets of the input and output (they exist, in the ' +
        "jobs' region, owned by you or --expected-bucket-owner) and the account's batch quotas against the quota profile. " +
        'Each check prints ok, a PROBLEM with its fix, or "could not check" with the reason (a missing permission is not ' +
        'an error). Exit code 1 when a problem is found.',
    )
    .argument('[run]', 'a prepared run (what `prepare --out` was given): its model, quota profile and input location')
    .option('-m, --model <id>', "the model the jobs name (default: the run's)")
    .option('--role-arn <arn>', 'the IAM role Bedrock assumes to read the input and write the output')
    .option('--input <s3-uri>', "where the jobs read (default: the run's location, when it is in S3)")
    .option('--output <s3-uri>', 'where the jobs write')
    .addOption(new Option('--quotas <profile>', "the quota profile to check the account's quotas against (default: the run's, else default)").choices(Object.keys(QUOTA_PROFILES)))
    .option('--json', 'print {"checks": [...], "ok": boolean} on stdout');
  return addAwsOptions(cmd, { primary: 'Bedrock' }).action(async (run: string | undefined, flags: DoctorFlags) => {
    const { runDoctor } = await import('../doctor.js');
    const bedrock = bedrockSettingsFrom(flags, 'Bedrock');
    const s3 = await s3OptionsFrom(flags, 'Bedrock');
    const report = await runDoctor({
      ...(run !== undefined ? { run } : {}),
      ...(flags.model !== undefined ? { model: flags.model } : {}),
      ...(flags.roleArn !== undefined ? { roleArn: flags.roleArn } : {}),
      ...(flags.input !== undefined ? { input: flags.input } : {}),
      ...(flags.output !== undefined ? { output: flags.output } : {}),
      ...(flags.quotas !== undefined ? { quotas: flags.quotas } : {}),
      ...(flags.expectedBucketOwner !== undefined ? { expectedBucketOwner: flags.expectedBucketOwner } : {}),
      aws: {
        ...(bedrock.profile !== undefined ? { profile: bedrock.profile } : {}),
        ...(bedrock.region !== undefined ? { region: bedrock.region } : {}),
        ...(bedrock.debug ? { debug: bedrock.debug } : {}),
      },
      s3,
      ...(bedrock.endpointUrl !== undefined ? { bedrockEndpointUrl: bedrock.endpointUrl } : {}),
    });
    process.stdout.write(flags.json ? `${JSON.stringify(report)}\n` : doctorText(report));
    process.exitCode = report.ok ? EXIT.ok : EXIT.error;
  });
}

const LABEL: Record<DoctorCheck['status'], string> = { ok: 'ok', problem: 'PROBLEM', unchecked: 'could not check' };

/** The report as people read it: a line per check, its fix below, and a summary line. */
export function doctorText(report: DoctorReport): string {
  const width = Math.max(...report.checks.map((c) => LABEL[c.status].length));
  const lines = report.checks.map((c) => {
    const head = `${LABEL[c.status].padEnd(width)}  ${c.name}${c.subject ? ` ${c.subject}` : ''}: ${c.detail}`;
    return c.fix ? `${head}\n${' '.repeat(width + 2)}fix: ${c.fix}` : head;
  });
  const count = (s: DoctorCheck['status']) => report.checks.filter((c) => c.status === s).length;
  const problems = count('problem');
  const unchecked = count('unchecked');
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  lines.push('');
  lines.push(
    problems
      ? `${plural(problems, 'problem')} found${unchecked ? `; ${unchecked} could not be checked` : ''}`
      : unchecked
        ? `no problem found, but ${unchecked} could not be checked (see above)`
        : 'no problem found',
  );
  return `${lines.join('\n')}\n`;
}
