/**
 * The README stays true: every command line it shows uses a command and options the CLI has, every
 * command is documented, and every error code the toolkit can raise is explained in its Errors table.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT } from '../prepare/helpers.js';

const help = (...args: string[]) =>
  new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [BIN, ...args, '--help'], { maxBuffer: 8 << 20 }, (error, stdout) => (error ? reject(error) : resolve(stdout))),
  );

/** `npx bedrock-batch ...` lines of the README's code blocks, continuation lines joined. */
function commandLines(readme: string): string[] {
  const lines = readme.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^ {4,}/.test(lines[i]!) || !lines[i]!.includes('npx bedrock-batch ')) continue;
    let line = lines[i]!.trim();
    while (line.endsWith('\\') && i + 1 < lines.length) line = line.slice(0, -1) + ' ' + lines[++i]!.trim();
    out.push(line.replace(/#.*$/, '').trim());
  }
  return out;
}

describe('the README', () => {
  let readme: string;
  let commands: string[];
  const helps = new Map<string, string>();
  beforeAll(async () => {
    readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const top = await help();
    commands = [...top.matchAll(/^ {2}([a-z]+) (?:\[options\])?/gm)].map((m) => m[1]!).filter((c) => c !== 'help');
    await Promise.all(commands.map(async (c) => helps.set(c, await help(c))));
  });

  it('shows only commands and options the CLI has', () => {
    const shown = commandLines(readme);
    expect(shown.length).toBeGreaterThan(15);
    const problems: string[] = [];
    for (const line of shown) {
      for (const part of line.split(/&&|\|/)) {
        const m = /npx bedrock-batch ([a-z]+)(.*)$/.exec(part.trim());
        if (!m) continue;
        const [, command, rest] = m;
        const text = helps.get(command!);
        if (!text) {
          problems.push(`${line}: no command ${command}`);
          continue;
        }
        for (const [flag] of rest!.matchAll(/(?<=\s)--[a-z][a-z0-9-]*/g)) {
          if (!new RegExp(`(^|[ ,])${flag}([ ,=]|$)`, 'm').test(text)) problems.push(`${line}: ${command} has no ${flag}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('documents every command', () => {
    expect(commands).toEqual(expect.arrayContaining(['prepare', 'submit', 'status', 'stop', 'serve', 'collect', 'estimate', 'run']));
    for (const c of commands) expect(readme, c).toMatch(new RegExp(`npx bedrock-batch ${c}\\b`));
  });

  it('explains every error code', async () => {
    const source = await readFile(join(ROOT, 'src/errors.ts'), 'utf8');
    const union = source.slice(source.indexOf('export type ErrorCode'), source.indexOf(';', source.indexOf('export type ErrorCode')));
    const codes = [...union.matchAll(/'(E_[A-Z_0-9]+)'/g)].map((m) => m[1]!);
    expect(codes.length).toBeGreaterThan(40);
    const table = readme.slice(readme.indexOf('## Errors'));
    const rows = table.split('\n').filter((l) => l.startsWith('| `E_'));
    const documented = new Set(rows.flatMap((r) => [...r.split('|')[1]!.matchAll(/`(E_[A-Z_0-9]+)`/g)].map((m) => m[1]!)));
    expect(codes.filter((c) => !documented.has(c))).toEqual([]);
    expect([...documented].filter((c) => !codes.includes(c))).toEqual([]);
  });

  it('every command has complete --help: a description and every option explained', () => {
    for (const [command, text] of helps) {
      expect(text, command).toMatch(new RegExp(`^Usage: bedrock-batch ${command} `));
      const options = text.slice(text.indexOf('Options:'));
      for (const line of options.split('\n').slice(1)) {
        // an option line that is only flags (no explanation) is incomplete
        if (/^ {2}-/.test(line)) expect(line.trim(), `${command}: ${line.trim()}`).toMatch(/^\S.*?\s{2,}\S/);
      }
    }
  });
});
