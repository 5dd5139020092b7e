/** `bedrock-batch stop`: StopModelInvocationJob for one job of a run, or all of them. */
import { Command } from 'commander';
import { addServiceOptions, serviceOptionsFrom, type ServiceFlags } from './submit.js';

/** What commander hands `stop`'s action. */
interface StopFlags extends ServiceFlags {
  all?: boolean;
  run: string;
  ledger?: string;
  json?: boolean;
}

export function stopCommand(): Command {
  const cmd = new Command('stop')
    .summary('stop jobs of a submitted run (one, several, or --all)')
    .description(
      'Stop jobs: they go Stopping, then Stopped; records processed so far stay in the output (and are billed ' +
        'on AWS). Name a job by its folder (job-0002), name, id or ARN.',
    )
    .argument('[jobs...]', 'jobs to stop')
    .option('--all', 'every job of the run that has not finished')
    .option('--run <dir>', 'the prepared run', './batch')
    .option('--ledger <file>', 'the ledger (default <run>/ledger.jsonl)')
    .option('--json', 'print {"stopped": [{job, jobArn, outcome, status}]} on stdout');
  return addServiceOptions(cmd).action(async (jobs: string[], flags: StopFlags) => {
    const { stopJobs } = await import('../jobs/status.js');
    const out = await stopJobs({
      run: flags.run,
      ...(flags.ledger ? { ledger: flags.ledger } : {}),
      jobs,
      all: flags.all === true,
      ...(await serviceOptionsFrom(flags)),
    });
    if (flags.json) process.stdout.write(JSON.stringify({ stopped: out }) + '\n');
    if (out.length === 0) process.stderr.write('stop: no job to stop: every job of the run has finished\n');
    for (const o of out) {
      const what = o.outcome === 'stopping' ? 'stopping' : o.outcome === 'finished' ? `already ${o.status ?? 'finished'}` : 'not submitted';
      process.stderr.write(`stop: ${o.job} ${what}${o.jobArn ? ` (${o.jobArn})` : ''}\n`);
    }
  });
}
