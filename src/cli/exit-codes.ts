/**
 * The exit codes of the `bedrock-batch` command, one owner: every command returns one of these, and
 * README.md's "Exit codes" table documents exactly these (test/package/cli.test.ts checks both).
 */
export const EXIT = {
  /** The command did what it was asked; for submit and run, no job Failed or Expired. */
  ok: 0,
  /** An error stopped the command; a job Failed or Expired; prepare's run cannot be submitted as it is. */
  error: 1,
  /** The command line cannot be used: an unknown command or option, a missing or malformed argument. */
  usage: 2,
  /** Interrupted by SIGINT (Ctrl-C): 128 + 2, as shells report it. */
  sigint: 130,
  /** Stopped by SIGTERM: 128 + 15. */
  sigterm: 143,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The exit code of a command stopped by a signal (the CLI listens for SIGINT and SIGTERM). */
export function exitCodeFor(signal: NodeJS.Signals): ExitCode {
  return signal === 'SIGTERM' ? EXIT.sigterm : EXIT.sigint;
}
