/**
 * The CLI as a real child process needs JavaScript: transpile src/ and transforms/ (TypeScript's
 * transpileModule, no type check: tsc does that) into a cache folder inside node_modules, so the
 * packages resolve as they do for dist/. Keyed by a hash of the sources, so it is built once.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

function sources(): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
    }
  };
  walk(join(REPO, 'src'));
  walk(join(REPO, 'transforms'));
  return out.sort();
}

/** The path of the transpiled `bin.js`. */
export function buildCli(): string {
  const files = sources();
  const hash = createHash('sha256');
  for (const f of files) hash.update(f).update(readFileSync(f));
  const root = join(REPO, 'node_modules', '.cache', 'bedrock-batch-cli', hash.digest('hex').slice(0, 16));
  const bin = join(root, 'src', 'cli', 'bin.js');
  if (existsSync(bin)) return bin;
  const tmp = `${root}.tmp-${process.pid}`;
  for (const f of files) {
    const out = ts.transpileModule(readFileSync(f, 'utf8'), {
      fileName: f,
      compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true, esModuleInterop: true },
    });
    const target = join(tmp, relative(REPO, f)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, out.outputText);
  }
  writeFileSync(join(tmp, 'package.json'), '{"type":"module"}\n');
  try {
    renameSync(tmp, root);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // another worker built it first
  }
  return bin;
}
