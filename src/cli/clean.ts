/** `bedrock-batch clean <run>`: remove a collected run's copies of the calls (src/run/clean.ts, docs/cleanup.md). */
import { Command } from 'commander';
import { BatchError } from '../errors.js';
import { CLEAN_KINDS, cleanRun, type CleanSummary } from '../run/clean.js';
import { formatBytes, formatCount } from './output.js';
import { addAwsOptions, s3OptionsFrom, type AwsFlags } from './s3-options.js';

/** What commander hands `clean`'s action. */
interface CleanFlags extends AwsFlags {
  dryRun?: boolean;
  force?: boolean;
  retryFiles?: boolean;
  json?: boolean;
  quiet?: boolean;
}

export function cleanCommand(): Command {
  const cmd = new Command('clean')
    .summary("remove a collected run's shards, lineage and job outputs (the copies of the calls)")
    .description(
      'Once collect has written the results, remove what still holds the calls: the shards prepared.json lists (at the ' +
        'size it records), their lineage, the job outputs of the jobs the ledger lists (Bedrock echoes every request ' +
        'into them), and what the on-demand path and --skip-answered left in the run. Nothing else: a changed shard, a ' +
        'file the run did not write, or one reached through a symbolic link is kept and named. The results, the report, ' +
        'the ledger, prepared.json, the rejects and the dead letters are kept. A run that was not collected is refused ' +
        '(E_NOT_COLLECTED) unless --force. Retry runs collect planned are cleaned with the run once they are collected ' +
        'too; until then a pending retry needs its shards (--retry-files removes them anyway). Running it again finds ' +
        'nothing left. In S3, keys go 1,000 a DeleteObjects request.',
    )
    .argument('<run>', 'the prepared run (what prepare --out was given), or the --work location of `bedrock-batch run`')
    .option('--dry-run', 'list what would be removed, with the bytes; remove nothing')
    .option('--force', 'remove them even though the run was not collected')
    .option('--retry-files', 'also remove the shards and lineage of retry runs that were not collected (giving those retries up)')
    .option('--json', 'print the summary as one JSON object on stdout')
    .option('-q, --quiet', 'no summary on stderr');
  return addAwsOptions(cmd, { primary: 'S3' }).action(async (run: string, flags: CleanFlags) => {
    const summary = await cleanRun({
      run,
      s3: await s3OptionsFrom(flags),
      dryRun: flags.dryRun === true,
      force: flags.force === true,
      retryFiles: flags.retryFiles === true,
    });
    if (flags.json) process.stdout.write(JSON.stringify(summary) + '\n');
    if (!flags.quiet && !flags.json) process.stderr.write(humanSummary(summary));
    if (summary.failed.length > 0) {
      const shown = summary.failed.slice(0, 5).map((f) => `${f.uri} (${f.code})`).join(', ');
      throw new BatchError('E_STORE', `clean could not remove ${summary.failed.length} file(s): ${shown}${summary.failed.length > 5 ? ', ...' : ''}`, {
        hint: 'the rest was removed and recorded in the ledger; fix the cause (S3: s3:DeleteObject on those keys) and run clean again: it removes what is left',
      });
    }
  });
}

/** The summary on stderr: what went, per kind, and what stayed. */
export function humanSummary(s: CleanSummary): string {
  const lines: string[] = [];
  const would = s.dryRun ? 'would remove' : 'removed';
  if (s.nothingLeft) {
    lines.push(`clean: nothing left to remove in ${s.run}: no shards, lineage or job outputs of this run are there any more`);
  } else {
    lines.push(`clean: ${would} ${formatCount(s.total.files)} file(s), ${formatBytes(s.total.bytes)}, from ${s.run}${s.dryRun ? ' (dry run: nothing was removed)' : ''}`);
    for (const k of CLEAN_KINDS) {
      const t = s.removed[k];
      if (t.files > 0) lines.push(`  ${k.padEnd(10)} ${formatCount(t.files).padStart(7)} file(s)  ${formatBytes(t.bytes)}`);
    }
    if (s.runs.length > 1) for (const r of s.runs.slice(1)) lines.push(`  with the retry run ${r.run}: ${formatCount(r.removed.files)} file(s)`);
    if (s.dryRun) for (const f of s.files) lines.push(`  ${would} ${f.uri} (${formatCount(f.bytes)} bytes)`);
  }
  if (s.kept.length > 0) {
    lines.push('  kept:');
    for (const k of s.kept.slice(0, 50)) lines.push(`    ${k.uri}: ${k.why}`);
    if (s.kept.length > 50) lines.push(`    ... and ${formatCount(s.kept.length - 50)} more (--json lists them all)`);
  }
  return lines.join('\n') + '\n';
}
