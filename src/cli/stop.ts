/** `bedrock-batch stop`: StopModelInvocationJob for one job of a run, or all of them. */
import { Command } from 'commander';
import { serviceOptions } from './submit.js';

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
  return serviceOptions(cmd).action(async (jobs: string[], opts: Record<string, any>) => {
    const { stopJobs } = await import('../jobs/status.js');
    const out = await stopJobs({
      run: opts.run,
      ...(opts.ledger ? { ledger: opts.ledger } : {}),
      jobs,
      all: opts.all === true,
      ...(opts.region ? { region: opts.region } : {}),
      ...(opts.endpointUrl ? { endpointUrl: opts.endpointUrl } : {}),
      ...(opts.s3Root ? { s3Root: opts.s3Root } : {}),
    });
    if (opts.json) process.stdout.write(JSON.stringify({ stopped: out }) + '\n');
    if (out.length === 0) process.stderr.write('stop: no job to stop: every job of the run has finished\n');
    for (const o of out) {
      const what = o.outcome === 'stopping' ? 'stopping' : o.outcome === 'finished' ? `already ${o.status ?? 'finished'}` : 'not submitted';
      process.stderr.write(`stop: ${o.job} ${what}${o.jobArn ? ` (${o.jobArn})` : ''}\n`);
    }
  });
}
