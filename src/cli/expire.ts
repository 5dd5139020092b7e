/**
 * `--expire-days N`, the same on every command that writes a run to S3 (prepare, collect, run): the
 * objects it writes carry the tag `bedrock-batch-expire-days=N` (src/stores/tags.ts), so a bucket
 * lifecycle rule on that tag removes them N days on, whether or not anyone runs `clean`
 * (docs/cleanup.md). A local location has no tags: there the flag does nothing.
 *
 *   addExpireOption(cmd)                         declare the flag
 *   const days = expireDaysFrom(flags)           undefined when not given
 *   const s3 = withExpireTags(await s3OptionsFrom(flags), days)   the stores' options, tagged
 *   await tagRunOutputs(openStore(output, s3), ledgerState, expireTags(days))   collect: Bedrock's outputs
 */
import type { Command } from 'commander';
import { s3ClientFor, type S3StoreOptions } from '../stores/s3.js';
import { expireTags } from '../stores/tags.js';
import { int } from './parsers.js';

export interface ExpireFlags {
  expireDays?: number;
}

export function addExpireOption(cmd: Command): Command {
  return cmd.option(
    '--expire-days <n>',
    'S3: tag what this writes bedrock-batch-expire-days=N, for a bucket lifecycle rule that deletes it N days on (docs/cleanup.md); nothing on a local disk',
    int('--expire-days', 1),
  );
}

/** The days `--expire-days` gave, or undefined. */
export function expireDaysFrom(flags: ExpireFlags): number | undefined {
  return flags.expireDays;
}

/**
 * The store options with the expiry tag on every object written, sharing `s3`'s client (so the
 * command keeps one client for all its stores); `s3` itself when `days` is undefined.
 */
export function withExpireTags<T extends S3StoreOptions>(s3: T, days: number | undefined): T {
  if (days === undefined) return s3;
  return { ...s3, client: s3ClientFor(s3), tags: { ...s3.tags, ...expireTags(days) } };
}
