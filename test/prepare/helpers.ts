/** Helpers for the end-to-end prepare tests: seeded exports, reading a prepared run back, the built CLI. */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFile } from 'node:child_process';
import { mulberry32, type Random } from '../../src/core/random.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = join(ROOT, 'dist/src/cli/bin.js');
export const MODEL = 'anthropic.claude-3-haiku-20240307-v1:0';

const WORDS = ['order', 'refund', 'the', 'delayed', 'card', 'thanks', 'account', 'please', 'shipping', '¿Puede?', 'naïve', 'café', '—', 'ok'];

export function sentence(rand: Random, n = 8): string {
  const w: string[] = [];
  for (let i = 0; i < n; i++) w.push(WORDS[Math.floor(rand() * WORDS.length)]!);
  return w.join(' ');
}

const q = (s: string) => `"${s.replace(/"/g, '""')}"`;

/** One call per row, multi-line quoted transcripts with quotes and commas inside. */
export function callsCsv(n: number, seed = 1, opts: { duplicateEvery?: number } = {}): string {
  const rand = mulberry32(seed);
  let out = 'call_id,agent,queue,transcript\n';
  for (let i = 0; i < n; i++) {
    const id = opts.duplicateEvery && i > 0 && i % opts.duplicateEvery === 0 ? `C${i - 5}` : `C${i}`;
    const turns: string[] = [];
    const t = 2 + Math.floor(rand() * 6);
    for (let k = 0; k < t; k++) turns.push(`${k % 2 ? 'Customer' : 'Agent'}: ${sentence(rand)}, "${sentence(rand, 2)}"`);
    out += `${id},${q(`Agent ${i % 7}`)},q${i % 3},${q(turns.join('\n'))}\n`;
  }
  return out;
}

/** One utterance per row, calls of 1 to 30 rows (so calls span pieces), a few keyless rows. */
export function utterancesCsv(calls: number, seed = 2): string {
  const rand = mulberry32(seed);
  let out = 'call_id,speaker,start_time,text\n';
  for (let c = 0; c < calls; c++) {
    const rows = 1 + Math.floor(rand() * 30);
    for (let r = 0; r < rows; r++) {
      const key = rand() < 0.01 ? '' : `U${c}`;
      out += `${key},${r % 2 ? 'Customer' : 'Agent'},${r * 3.5},${q(sentence(rand, 4 + Math.floor(rand() * 12)))}\n`;
    }
  }
  return out;
}

export interface RunFiles {
  shards: Map<string, string>;
  lineage: Map<string, string>;
  rejects: string[];
  prepared: Record<string, unknown>;
}

/** Everything a prepared run holds, by key. */
export async function readRun(dir: string): Promise<RunFiles> {
  const walk = async (sub: string): Promise<Map<string, string>> => {
    const out = new Map<string, string>();
    const base = join(dir, sub);
    let jobs: string[] = [];
    try {
      jobs = (await readdir(base)).sort();
    } catch {
      return out;
    }
    for (const job of jobs) for (const f of (await readdir(join(base, job))).sort()) out.set(`${job}/${f}`, await readFile(join(base, job, f), 'utf8'));
    return out;
  };
  const rejects = (await readFile(join(dir, 'rejects.jsonl'), 'utf8')).split('\n').filter(Boolean);
  const prepared = await readFile(join(dir, 'prepared.json'), 'utf8').then((t) => JSON.parse(t) as Record<string, unknown>, () => ({}));
  return { shards: await walk('input'), lineage: await walk('lineage'), rejects, prepared };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the built CLI (what `npx bedrock-batch` runs). */
export function cli(args: string[], options: { input?: string | Buffer; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [BIN, ...args], { cwd: options.cwd ?? ROOT, maxBuffer: 64 << 20, encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    if (options.input !== undefined) child.stdin!.end(options.input);
    else child.stdin!.end();
  });
}
