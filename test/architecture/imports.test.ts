/**
 * The seams between modules, checked on the source: who may import whom. A failure here names the
 * file and the import that crosses a seam; move the shared piece to its owner instead.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SRC = join(ROOT, 'src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Each source file (relative to src/) with the src/-relative modules it imports. */
const graph = sources(SRC).map((file) => {
  const text = readFileSync(file, 'utf8');
  const imports = [...text.matchAll(/^\s*(?:import|export)[^'"]*?from\s+'(\.[^']+)'/gm)].map((m) =>
    relative(SRC, resolve(dirname(file), m[1]!)).replace(/\.js$/, '.ts'),
  );
  return { file: relative(SRC, file), imports };
});

function crossings(from: (file: string) => boolean, to: (target: string) => boolean): string[] {
  return graph.filter((g) => from(g.file)).flatMap((g) => g.imports.filter(to).map((t) => `${g.file} imports ${t}`));
}

const under = (dir: string) => (path: string) => path.startsWith(`${dir}/`);

describe('module seams', () => {
  it('the graph is read (a broken scan would pass every rule)', () => {
    expect(graph.length).toBeGreaterThan(50);
    expect(graph.find((g) => g.file === 'jobs/submit.ts')?.imports).toContain('bedrock/vocabulary.ts');
  });

  it("jobs and results speak Bedrock's vocabulary from src/bedrock/, never from the local double", () => {
    expect(crossings((f) => under('jobs')(f) || under('results')(f), under('local'))).toEqual([]);
  });

  it("src/bedrock/ depends on nothing of the project's but its errors", () => {
    expect(crossings(under('bedrock'), (t) => !under('bedrock')(t) && t !== 'errors.ts')).toEqual([]);
  });

  it("the local service is an independent double: it never borrows prepare's checks", () => {
    const prepares = (t: string) => under('records')(t) || under('shards')(t) || t === 'prepare.ts' || t === 'models/rules.ts';
    expect(crossings(under('local'), prepares)).toEqual([]);
  });

  it('the library below the CLI never imports the CLI', () => {
    expect(crossings((f) => !under('cli')(f), under('cli'))).toEqual([]);
  });

  it('one module builds AWS clients (src/aws/config.ts): every client is configured alike', () => {
    // code lines only: doc comments may show a user how to build one
    const code = (file: string) => readFileSync(file, 'utf8').split('\n').filter((l) => !/^\s*(\*|\/\/|\/\*)/.test(l)).join('\n');
    const builders = sources(SRC).flatMap((file) =>
      [...code(file).matchAll(/new\s+(?:[A-Za-z]+)?(?:S3|Bedrock|BedrockRuntime|STS|IAM|ServiceQuotas)Client\s*\(|new\s+Client\s*\(/g)].map((m) => `${relative(SRC, file)}: ${m[0]}`),
    );
    expect(builders.length).toBeGreaterThan(0);
    expect(builders.filter((b) => !b.startsWith('aws/config.ts:'))).toEqual([]);
  });
});
