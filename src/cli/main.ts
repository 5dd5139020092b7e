/** The `bedrock-batch` command: wires stages together; no logic of its own beyond that. */
import { createRequire } from 'node:module';
import { Command, CommanderError } from 'commander';
import { prepareCommand } from './prepare.js';
import { submitCommand } from './submit.js';
import { statusCommand } from './status.js';
import { stopCommand } from './stop.js';
import { serveCommand } from './serve.js';
import { collectCommand } from './collect.js';
import { estimateCommand } from './estimate.js';
import { runCommand } from './run.js';
import { doctorCommand } from './doctor.js';
import { cleanCommand } from './clean.js';
import { EXIT } from './exit-codes.js';
import { reportError } from './output.js';

/** The package's version, from its package.json (found by the package's own name, from src/ or dist/ alike). */
function version(): string {
  return (createRequire(import.meta.url)('bedrock-batch/package.json') as { version: string }).version;
}

export function program(): Command {
  const cli = new Command('bedrock-batch')
    .description('Prepare call-center exports for Amazon Bedrock batch inference, submit them, and collect the results.')
    .version(version(), '-V, --version', 'print the version')
    .option('--debug', 'print stack traces with errors, and log each AWS request on stderr: service, operation, host, status, time and request id (never bodies or credentials)')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    // `--debug` anywhere on the line is the program's: each command sees it as its own `debug` flag
    .hook('preAction', (root, command) => {
      if (root.opts().debug) command.setOptionValue('debug', true);
    });
  for (const command of [prepareCommand(), submitCommand(), statusCommand(), stopCommand(), serveCommand(), collectCommand(), estimateCommand(), runCommand(), cleanCommand(), doctorCommand()]) {
    // commander would otherwise end the process itself on a usage error in a command
    cli.addCommand(command.exitOverride());
  }
  return cli;
}

export async function main(argv: string[] = process.argv): Promise<number> {
  const cli = program();
  try {
    await cli.parseAsync(argv);
    return process.exitCode === undefined ? EXIT.ok : Number(process.exitCode);
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander has printed its own message (or the help, or the version)
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    reportError(error, argv.includes('--debug'));
    // a command may have set its own code first (130 for an interrupt)
    return process.exitCode !== undefined && Number(process.exitCode) !== 0 ? Number(process.exitCode) : EXIT.error;
  }
}
