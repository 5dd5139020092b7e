/**
 * deploy/Dockerfile and its build context (deploy/Dockerfile.dockerignore), checked as text (no
 * Docker engine here; the image is not built in tests): Node 22 slim, multi-stage (devDependencies
 * only in the build stage), the non-root `node` user before the ENTRYPOINT, no credentials in ENV
 * or ARG, the build copying what `npm run build` compiles and the runtime what package.json
 * publishes, and a context that lets in only what the build copies. Each rule is also shown to
 * catch a Dockerfile that breaks it.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEPLOY, readJson, ROOT } from '../support/deploy.js';

const DOCKERFILE = readFileSync(`${DEPLOY}Dockerfile`, 'utf8');
const IGNORE = readFileSync(`${DEPLOY}Dockerfile.dockerignore`, 'utf8');

interface Instruction {
  op: string;
  args: string;
  stage: number;
}

/** Instructions in order (comments and blank lines dropped, continuation lines joined), with their stage. */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let stage = -1;
  for (const line of text.replace(/\\\n/g, ' ').split('\n')) {
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!m || line.trimStart().startsWith('#')) continue;
    const op = m[1]!.toUpperCase();
    if (op === 'FROM') stage++;
    out.push({ op, args: m[2]!.trim(), stage });
  }
  return out;
}

const SECRET_NAME = /(ACCESS_KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|PRIVATE_KEY|API_KEY|AWS_PROFILE)/i;

/** What is wrong with a Dockerfile, by the rules of docs/deploy.md §2.1: [] when nothing. */
function problems(text: string): string[] {
  const all = instructions(text);
  const out: string[] = [];
  const froms = all.filter((i) => i.op === 'FROM');
  for (const f of froms) if (/^node:22-slim(@sha256:[a-f0-9]{64})?\s+AS\s+\w+$/i.exec(f.args) === null) out.push(`FROM ${f.args}: every stage is node:22-slim (a tag, or a tag and a digest), named`);
  if (froms.length < 2) out.push('one stage: the build and its devDependencies must stay out of the image (multi-stage)');
  const last = froms.length - 1;
  const runtime = all.filter((i) => i.stage === last);
  const entry = runtime.findIndex((i) => i.op === 'ENTRYPOINT');
  if (entry < 0) out.push('no ENTRYPOINT in the runtime stage');
  const users = runtime.filter((i) => i.op === 'USER');
  const lastUser = users[users.length - 1];
  if (!lastUser || lastUser.args !== 'node') out.push(`the runtime stage runs as ${lastUser?.args ?? 'root'}, not node`);
  else if (runtime.indexOf(lastUser) > entry) out.push('USER node comes after the ENTRYPOINT');
  if (!runtime.some((i) => i.op === 'ENV' && /\bNODE_ENV=production\b/.exec(i.args) !== null)) out.push('the runtime stage does not set NODE_ENV=production');
  for (const i of all.filter((x) => x.op === 'ENV' || x.op === 'ARG')) if (SECRET_NAME.exec(i.args) !== null) out.push(`${i.op} ${i.args}: no credentials in the image`);
  for (const i of all.filter((x) => x.op === 'COPY' || x.op === 'ADD')) if (/(^|\s)(\S*\/)?\.(aws|env|npmrc)\b/.exec(i.args) !== null) out.push(`${i.op} ${i.args}: no credential files in the image`);
  const installs = runtime.filter((i) => i.op === 'RUN' && /\bnpm (ci|install)\b/.exec(i.args) !== null);
  if (installs.length !== 1 || /--omit=dev/.exec(installs[0]!.args) === null) out.push('the runtime stage installs with npm ci --omit=dev, once');
  return out;
}

/** The sources COPY takes from the build context (not from another stage), per stage. */
const contextCopies = (stage?: number) =>
  instructions(DOCKERFILE)
    .filter((i) => i.op === 'COPY' && !i.args.startsWith('--from') && (stage === undefined || i.stage === stage))
    .flatMap((i) => i.args.split(/\s+/).slice(0, -1));

describe('deploy/Dockerfile', () => {
  it('keeps every rule: node:22-slim, multi-stage, USER node before the ENTRYPOINT, NODE_ENV=production, no credentials', () => {
    expect(problems(DOCKERFILE)).toEqual([]);
    const entry = instructions(DOCKERFILE).find((i) => i.op === 'ENTRYPOINT')!;
    const pkg = readJson<{ bin: Record<string, string> }>(`${ROOT}package.json`);
    expect(JSON.parse(entry.args)).toEqual(['node', `/app/${pkg.bin['bedrock-batch']}`]);
  });

  it('and each rule catches a Dockerfile that breaks it', () => {
    const broken: [string, string, RegExp][] = [
      ['another base image', DOCKERFILE.replace('FROM node:22-slim AS runtime', 'FROM node:20 AS runtime'), /every stage is node:22-slim/],
      ['a single stage', DOCKERFILE.replace(/^FROM node:22-slim AS build[\s\S]*?(?=^FROM)/m, ''), /multi-stage/],
      ['root at run time', DOCKERFILE.replace('USER node\n', ''), /runs as root/],
      ['USER after the ENTRYPOINT', DOCKERFILE.replace('USER node\n', '').replace('CMD ["--help"]', 'CMD ["--help"]\nUSER node'), /after the ENTRYPOINT/],
      ['a key in ENV', DOCKERFILE.replace('ENV NODE_ENV=production', 'ENV NODE_ENV=production AWS_SECRET_ACCESS_KEY=abc'), /no credentials in the image/],
      ['a token in ARG', DOCKERFILE.replace('FROM node:22-slim AS runtime', 'FROM node:22-slim AS runtime\nARG NPM_TOKEN'), /no credentials in the image/],
      ['~/.aws copied in', DOCKERFILE.replace('USER node', 'COPY .aws /home/node/.aws\nUSER node'), /no credential files/],
      ['devDependencies at run time', DOCKERFILE.replace('npm ci --omit=dev --ignore-scripts', 'npm ci --ignore-scripts'), /--omit=dev/],
    ];
    for (const [what, text, expected] of broken) {
      expect(text, what).not.toBe(DOCKERFILE);
      expect(problems(text).join('\n'), what).toMatch(expected);
    }
  });

  it('builds what `npm run build` compiles, and ships what package.json publishes', () => {
    const build = readJson<{ include: string[] }>(`${ROOT}tsconfig.build.json`);
    const copied = contextCopies(0).map((p) => p.replace(/\/$/, ''));
    for (const dir of build.include) expect(copied, `tsconfig.build.json compiles ${dir}/`).toContain(dir);
    for (const file of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'scripts']) expect(copied).toContain(file);
    const pkg = readJson<{ files: string[] }>(`${ROOT}package.json`);
    const shipped = instructions(DOCKERFILE)
      .filter((i) => i.op === 'COPY' && i.args.startsWith('--from=build'))
      .map((i) => i.args.split(/\s+/)[1]!.replace('/src/', ''));
    expect(shipped.sort()).toEqual(pkg.files.filter((f) => f.startsWith('dist/')).sort());
  });
});

describe('deploy/Dockerfile.dockerignore', () => {
  const rules = IGNORE.split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));

  it('lets in only what the build copies: everything else (.git, node_modules, test-artifacts, dist, .env) stays out', () => {
    expect(rules[0]).toBe('*');
    const letIn = rules.filter((r) => r.startsWith('!')).map((r) => r.slice(1).replace(/\/$/, ''));
    expect(letIn.sort()).toEqual([...new Set(contextCopies().map((p) => p.replace(/\/$/, '')))].sort());
    for (const never of ['.git', 'node_modules', 'test-artifacts', 'dist', 'test', '.env', '.aws']) expect(letIn).not.toContain(never);
    expect(rules).toContain('**/node_modules/');
    expect(rules).toContain('bench/.data/');
  });
});
