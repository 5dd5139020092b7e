/** The built CLI in child processes, as a user runs it: for the tests that drive bedrock-batch end to end. */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import split2 from 'split2';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** The built CLI (`npm test` builds dist/ first): what `npx bedrock-batch` runs. */
export const BIN = fileURLToPath(new URL('../../dist/src/cli/bin.js', import.meta.url));
export const ENV: NodeJS.ProcessEnv = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', NO_COLOR: '1' };

export interface Finished {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

export function start(args: string[], cwd: string, env: NodeJS.ProcessEnv = ENV): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
}

export function finish(child: ChildProcess): Promise<Finished> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

/**
 * The first line a child writes (`serve` prints its URL first), split as text by split2; rejects when
 * the child exits before it. Other listeners of the stream still see all of its output.
 */
export function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines: Readable = child.stdout!.pipe(split2());
    lines.once('data', (line: string) => resolve(line.trim()));
    child.once('close', (code) => reject(new Error(`the command exited (${code}) before it wrote a line`)));
  });
}

/** Run the CLI to its end. */
export const cli = (args: string[], cwd: string, env?: NodeJS.ProcessEnv): Promise<Finished> => finish(start(args, cwd, env));

/** Wait until `holds()` is true while `child` runs (the guard only stops a hung test). */
export async function until(child: ChildProcess, holds: () => boolean | Promise<boolean>, what: string, guardMs = 30_000): Promise<void> {
  const end = Date.now() + guardMs;
  while (!(await holds())) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the process ended (${child.exitCode ?? child.signalCode}) before ${what}`);
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * The CLI in this process (the bin's code, no process start): stdout and stderr captured, the exit
 * code returned. `env`: AWS variables to run with instead of this process's (restored after).
 */
export async function inProcess(args: string[], env?: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  const { main } = await import('../../src/cli/main.js');
  const saved = { ...process.env };
  if (env) {
    for (const k of Object.keys(process.env)) if (k.startsWith('AWS_')) delete process.env[k];
    Object.assign(process.env, env);
  }
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => ((stdout += String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += String(chunk)), true)) as typeof process.stderr.write;
  try {
    const code = await main(['node', 'bedrock-batch', ...args]);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
    process.exitCode = undefined;
    if (env) {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  }
}
