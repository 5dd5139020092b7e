/**
 * The package as published. `npm pack` takes the built dist/ (`npm run build` first; the test skips
 * the `prepare` script that would build it again), the README, the LICENSE and docs/, and nothing
 * else; and the tarball works on its own, installed the way npm lays a package out: the CLI prints
 * its version and prepares a fixture, and both entry points import by name.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENV } from '../support/cli.js';
import { tempDir, type TempDir } from '../support/temp.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);
const npm = async (args: string[], cwd = ROOT) => JSON.parse((await run('npm', args, { cwd, env: ENV, maxBuffer: 16 << 20 })).stdout) as PackResult[];

interface PackResult {
  filename: string;
  files: { path: string; mode: number }[];
}

interface PackageJson {
  version: string;
  bin: Record<string, string>;
  exports: Record<string, string | Record<string, string>>;
  dependencies: Record<string, string>;
}

let pkg: PackageJson;
let packed: PackResult;
let tmp: TempDir;
let dir: string;
beforeAll(async () => {
  pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as PackageJson;
  tmp = await tempDir('pack-');
  dir = tmp.dir;
  [packed] = (await npm(['pack', '--json', '--ignore-scripts', '--pack-destination', dir])) as [PackResult];
}, 60_000);
afterAll(async () => {
  await tmp?.cleanup();
});

describe('npm pack', () => {
  it('holds the built code with its types, the README, the LICENSE and docs/, and nothing else', async () => {
    const paths = packed.files.map((f) => f.path);
    const strays = paths.filter((p) => !/^(package\.json|README\.md|LICENSE|docs\/[^/]+\.md|dist\/(src|transforms)\/.+\.(js|d\.ts|json))$/.test(p));
    expect(strays).toEqual([]); // no test/, bench/, fixtures/, .ci/, tsconfig, sources, source maps, dist/test/, dist/bench/
    for (const p of ['package.json', 'README.md', 'LICENSE', 'docs/contracts.md', 'docs/bedrock.md', 'dist/transforms/stages.js', 'dist/src/results/prices.json']) expect(paths).toContain(p);
    const code = paths.filter((p) => p.endsWith('.js'));
    expect(code.length).toBeGreaterThan(100);
    expect(code.filter((p) => !paths.includes(p.replace(/\.js$/, '.d.ts')))).toEqual([]);
    // built from today's sources: no output of a source since moved or deleted (rm -rf dist, then build)
    expect(code.filter((p) => !existsSync(join(ROOT, p.replace(/^dist\//, '').replace(/\.js$/, '.ts'))))).toEqual([]);
    // what package.json points at is there, and the CLI is executable
    const targets = [...Object.values(pkg.bin), ...Object.values(pkg.exports).flatMap((e) => (typeof e === 'string' ? [e] : Object.values(e)))];
    for (const t of targets) expect(paths).toContain(t.replace(/^\.\//, ''));
    const bin = packed.files.find((f) => f.path === pkg.bin['bedrock-batch']);
    expect(bin!.mode & 0o111).toBe(0o111);
  });

  it('installed from the tarball, runs --version and prepare, and imports by name', async () => {
    // npm's layout: the package in node_modules/bedrock-batch, its dependencies beside it (linked to
    // this checkout's, as an offline install cannot fetch them): only the declared ones, so an
    // import of an undeclared package fails here
    const modules = join(dir, 'node_modules');
    const installed = join(modules, 'bedrock-batch');
    await mkdir(installed, { recursive: true });
    await run('tar', ['-xzf', join(dir, packed.filename), '-C', installed, '--strip-components=1']);
    for (const name of Object.keys(pkg.dependencies)) {
      await mkdir(dirname(join(modules, name)), { recursive: true });
      await symlink(join(ROOT, 'node_modules', name), join(modules, name), 'dir');
    }
    const cli = (...args: string[]) => run(process.execPath, [join(installed, pkg.bin['bedrock-batch']!), ...args], { cwd: dir, env: ENV });

    expect((await cli('--version')).stdout).toBe(`${pkg.version}\n`);

    const prepared = await cli('prepare', join(ROOT, 'fixtures/calls.csv'), '--out', join(dir, 'batch'), '--quotas', 'local', '--json', '-q');
    expect(JSON.parse(prepared.stdout)).toMatchObject({ read: 283, written: 283, rejected: 0 });

    await writeFile(
      join(dir, 'user.mjs'),
      "const [root, transforms] = await Promise.all([import('bedrock-batch'), import('bedrock-batch/transforms')]);\n" +
        'console.log(JSON.stringify([Object.keys(root).sort(), Object.keys(transforms).sort()]));\n',
    );
    const [root, transforms] = JSON.parse((await run(process.execPath, [join(dir, 'user.mjs')], { cwd: dir, env: ENV })).stdout) as string[][];
    expect(root).toEqual(Object.keys(await import('../../src/index.js')).sort());
    expect(transforms).toEqual(Object.keys(await import('../../transforms/index.js')).sort());
  }, 60_000);
});
