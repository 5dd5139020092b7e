/** How the CLI talks: a summary on stderr, JSON on stdout with --json, errors as one line plus a hint. */
import { isBatchError } from '../errors.js';

export function reportError(error: unknown, debug: boolean): void {
  const e = error as Error & { code?: string; hint?: string };
  const code = isBatchError(error) ? `${error.code}: ` : e?.code && /^E[A-Z_]+$/.test(e.code) ? `${e.code}: ` : '';
  process.stderr.write(`bedrock-batch: error: ${code}${e?.message ?? String(error)}\n`);
  if (e?.hint) process.stderr.write(`  hint: ${e.hint}\n`);
  if (debug && e?.stack) process.stderr.write(`${e.stack}\n`);
  else if (!isBatchError(error)) process.stderr.write('  (run with --debug for details)\n');
}

export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  do {
    v /= 1000;
    i++;
  } while (v >= 1000 && i < units.length - 1);
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** A status line rewritten in place on a TTY; nothing when stderr is not a TTY. */
export class StatusLine {
  private last = 0;
  private shown = false;
  constructor(private readonly enabled = process.stderr.isTTY === true) {}
  update(text: string): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.last < 200) return;
    this.last = now;
    process.stderr.write(`\r\x1b[2K${text}`);
    this.shown = true;
  }
  clear(): void {
    if (this.shown) process.stderr.write('\r\x1b[2K');
    this.shown = false;
  }
}

/** Ask on the terminal (stderr) and read one line from stdin: true only for y or yes. */
export async function askYesNo(question: string): Promise<boolean> {
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  try {
    const answer = await rl.question(question);
    return /^\s*y(es)?\s*$/i.exec(answer) !== null;
  } finally {
    rl.close();
  }
}
