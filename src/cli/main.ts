/** The `bedrock-batch` command: wires stages together; no logic of its own beyond that. */
import { Command, CommanderError } from 'commander';
import { prepareCommand } from './prepare.js';
import { submitCommand } from './submit.js';
import { statusCommand } from './status.js';
import { stopCommand } from './stop.js';
import { serveCommand } from './serve.js';
import { collectCommand } from './collect.js';
import { estimateCommand } from './estimate.js';
import { runCommand } from './run.js';
import { reportError } from './output.js';

export function program(): Command {
  const cli = new Command('bedrock-batch')
    .description('Prepare call-center exports for Amazon Bedrock batch inference, submit them, and collect the results.')
    .option('--debug', 'print stack traces with errors')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();
  cli.addCommand(prepareCommand());
  cli.addCommand(submitCommand());
  cli.addCommand(statusCommand());
  cli.addCommand(stopCommand());
  cli.addCommand(serveCommand());
  cli.addCommand(collectCommand());
  cli.addCommand(estimateCommand());
  cli.addCommand(runCommand());
  return cli;
}

export async function main(argv: string[] = process.argv): Promise<number> {
  const cli = program();
  try {
    await cli.parseAsync(argv);
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander has printed its own message (or the help)
      return error.exitCode;
    }
    reportError(error, argv.includes('--debug'));
    // a command may have set its own code first (130 for an interrupt)
    return process.exitCode !== undefined && Number(process.exitCode) !== 0 ? Number(process.exitCode) : 1;
  }
}
