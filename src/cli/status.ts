/** `bedrock-batch status`: the run's jobs from the ledger, with live record counts from the service. */
import { Command } from 'commander';
import type { RunStatus } from '../jobs/status.js';
import { addServiceOptions, jobsJson, serviceOptionsFrom, type ServiceFlags } from './submit.js';

/** What commander hands `status`'s action. */
interface StatusFlags extends ServiceFlags {
  ledger?: string;
  live: boolean;
  json?: boolean;
}

export function statusCommand(): Command {
  const cmd = new Command('status')
    .summary("show a submitted run's jobs, with live record counts")
    .description('Read the run\'s ledger and ask the service (AWS, or the local service) where each job is. `--json` prints {"jobs": [{jobArn, jobName, status, input, output, records}]} on stdout.')
    .argument('[run]', 'the prepared run', './batch')
    .option('--ledger <file>', 'the ledger (default <run>/ledger.jsonl)')
    .option('--no-live', 'only what the ledger recorded: no calls to the service')
    .option('--json', 'print {"jobs": [...]} on stdout');
  return addServiceOptions(cmd).action(async (run: string, flags: StatusFlags) => {
    const { runStatus } = await import('../jobs/status.js');
    const status = await runStatus({
      run,
      ...(flags.ledger ? { ledger: flags.ledger } : {}),
      live: flags.live,
      ...(await serviceOptionsFrom(flags)),
    });
    if (flags.json) process.stdout.write(JSON.stringify(jobsJson(status.jobs)) + '\n');
    else process.stdout.write(statusTable(status));
    for (const note of status.notes) process.stderr.write(`status: note: ${note}\n`);
  });
}

export function statusTable(s: RunStatus): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const rows = [['JOB', 'STATUS', 'RECORDS', 'ERRORS', 'JOB ID', 'NAME']];
  for (const j of s.jobs) {
    rows.push([j.job, j.status, `${n(j.records.processed)}/${n(j.records.total)}`, n(j.records.error), j.jobId ?? '-', j.jobName]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
  const words = Object.entries(s.byStatus)
    .map(([st, c]) => `${c} ${st}`)
    .join(', ');
  lines.push('');
  lines.push(`${s.jobs.length} job${s.jobs.length === 1 ? '' : 's'}: ${words}; ${n(s.records.processed)}/${n(s.records.total)} records processed, ${n(s.records.error)} errors`);
  if (s.target) lines.push(`asked ${s.target}`);
  else if (!s.mode) lines.push(`not submitted yet (no ledger at ${s.ledger})`);
  for (const j of s.jobs) if (j.message && (j.status === 'Failed' || j.status === 'Expired' || j.status === 'PartiallyCompleted')) lines.push(`${j.job}: ${j.message}`);
  return lines.join('\n') + '\n';
}
