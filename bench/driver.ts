/**
 * What the benchmark drivers share: their command-line options, the data folder (bench/.data/ in the
 * source tree, never committed), one task per child process (so that each peak RSS is the task's
 * own) and the columns of the table they print.
 */
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** bench/.data/ (the drivers run from dist/bench/). */
export const dataDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', '.data');

/** The value after `--name` on the command line, or `fallback`. */
export function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

/** What one task measured, as its child process prints it (the last line of its stdout, JSON). */
export interface Row {
  task: string;
  seconds: number;
  /** CPU seconds (user + system): steadier than wall time when the machine is shared. */
  cpuSeconds: number;
  bytes: number;
  records: number;
  maxRssMiB: number;
}

/** Runs `node [flags] script ...args`, a task in a process of its own, and returns what it measured. */
export function runChild(script: string, args: readonly string[], nodeFlags: readonly string[] = []): Row {
  const out = execFileSync(process.execPath, [...nodeFlags, script, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 20,
  });
  return JSON.parse(out.trim().split('\n').pop()!) as Row;
}

export const pad = (s: string, n: number) => s.padEnd(n);
export const num = (n: number, d = 1) => n.toFixed(d).padStart(9);

/**
 * A measured value next to its target, as the bench tables print it: `2.41x (target >= 1.5x) met`.
 * `unit` follows the numbers (`x`, ` MiB`); `atMost` for targets that are ceilings (peak RSS).
 */
export function against(value: number, target: number, unit = 'x', atMost = false): string {
  const met = atMost ? value <= target : value >= target;
  const d = unit === 'x' ? 2 : 0;
  return `${value.toFixed(d)}${unit} (target ${atMost ? '<=' : '>='} ${target.toFixed(d)}${unit}) ${met ? 'met' : 'MISSED'}`;
}
