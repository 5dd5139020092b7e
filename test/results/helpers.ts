import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectResults, type CollectOptions } from '../../src/results/collect.js';
import type { CollectResult, CollectSummary } from '../../src/results/types.js';

export const OUTPUT_FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'outputs');

/** A scratch copy of the scenario (fixtures/outputs/run and out): collect writes beside the run. */
export async function scenario(): Promise<{ dir: string; run: string; out: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'collect-'));
  await cp(join(OUTPUT_FIXTURES, 'run'), join(dir, 'run'), { recursive: true });
  await cp(join(OUTPUT_FIXTURES, 'out'), join(dir, 'out'), { recursive: true });
  return { dir, run: join(dir, 'run'), out: join(dir, 'out'), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export async function collectAll(options: CollectOptions): Promise<{ results: CollectResult[]; summary: CollectSummary }> {
  const c = collectResults(options);
  const results: CollectResult[] = [];
  for await (const r of c) results.push(r);
  return { results, summary: c.summary };
}

export async function jsonLines(path: string): Promise<Record<string, unknown>[]> {
  return (await readFile(path, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

export type Answer = (recordId: string, modelInput: unknown, index: number) => { modelOutput: unknown } | { error: { errorCode: number | string; errorMessage: string } } | null;

/**
 * Writes what Bedrock would for a prepared run (a test double of the service's output side only):
 * one `<jobId>/<shard>.out` per shard, lines in reverse input order, plus `manifest.json.out`.
 * `answer` returns a line's modelOutput or error, or null to leave the record out.
 */
export async function writeOutputs(run: string, out: string, answer: Answer, idPrefix = 'job'): Promise<string[]> {
  const { mkdir, writeFile } = await import('node:fs/promises');
  const prepared = JSON.parse(await readFile(join(run, 'prepared.json'), 'utf8')) as {
    jobs: { name: string; shards: { key: string }[] }[];
  };
  const ids: string[] = [];
  let index = 0;
  for (const job of prepared.jobs) {
    const jobId = `${idPrefix}${job.name.replace(/\D/g, '')}`.padEnd(12, 'x').slice(0, 12).toLowerCase();
    ids.push(jobId);
    await mkdir(join(out, jobId), { recursive: true });
    const m = { totalRecordCount: 0, processedRecordCount: 0, successRecordCount: 0, errorRecordCount: 0, inputTokenCount: 0, outputTokenCount: 0 };
    for (const shard of job.shards) {
      const lines: string[] = [];
      for (const l of (await readFile(join(run, shard.key), 'utf8')).split('\n')) {
        if (!l) continue;
        m.totalRecordCount++;
        const rec = JSON.parse(l) as { recordId: string; modelInput: unknown };
        const a = answer(rec.recordId, rec.modelInput, index++);
        if (a === null) continue;
        m.processedRecordCount++;
        if ('error' in a) m.errorRecordCount++;
        else {
          m.successRecordCount++;
          const u = (a.modelOutput as { usage?: { input_tokens?: number; output_tokens?: number } }).usage;
          m.inputTokenCount += u?.input_tokens ?? 0;
          m.outputTokenCount += u?.output_tokens ?? 0;
        }
        lines.push(JSON.stringify({ recordId: rec.recordId, modelInput: rec.modelInput, ...a }));
      }
      const name = shard.key.slice(shard.key.lastIndexOf('/') + 1);
      await writeFile(join(out, jobId, `${name}.out`), lines.reverse().map((x) => x + '\n').join(''));
    }
    await writeFile(join(out, jobId, 'manifest.json.out'), JSON.stringify(m));
  }
  return ids;
}

/** An Anthropic Messages response. */
export function claude(text: string, inputTokens = 100, outputTokens = 20): { modelOutput: unknown } {
  return {
    modelOutput: {
      id: 'msg_bdrk_test',
      type: 'message',
      role: 'assistant',
      model: 'claude-3-haiku-20240307',
      content: [{ type: 'text', text }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: inputTokens, output_tokens: outputTokens },
    },
  };
}

/**
 * A Store over a local directory that is not a LocalStore (so collect takes the generic path, as
 * it will for S3) and streams objects in tiny chunks, so lines and UTF-8 characters are cut
 * across chunk boundaries everywhere.
 */
export async function chunkyStore(root: string, chunk = 37): Promise<import('../../src/stores/store.js').Store> {
  const { LocalStore } = await import('../../src/stores/local.js');
  const { Readable } = await import('node:stream');
  const inner = new LocalStore(root);
  return {
    uri: inner.uri,
    resolve: (key) => inner.resolve(key),
    createWriteStream: (key) => inner.createWriteStream(key),
    createReadStream: (key) =>
      Readable.from(
        (async function* () {
          for await (const c of inner.createReadStream(key) as AsyncIterable<Buffer>) {
            for (let i = 0; i < c.length; i += chunk) yield new Uint8Array(c.subarray(i, i + chunk));
          }
        })(),
        { objectMode: false },
      ),
    list: (prefix) => inner.list(prefix),
    exists: (key) => inner.exists(key),
    delete: (key) => inner.delete(key),
  };
}
