/**
 * Redaction and truncation on prepare's parallel path: worker threads (small pieces, so every file
 * is cut many times) write the same bytes as one thread, count the same PII and truncated calls, and
 * the fused path stands aside (it copies text byte for byte, which redaction and truncation rewrite).
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { prepareRun, type PrepareRunOptions } from '../../src/prepare.js';
import { fitBudget } from '../../src/records/fit.js';
import { structuredTokens } from '../../src/records/tokens.js';
import { loadSchema } from '../../src/schema/index.js';
import { familyFor } from '../../src/models/index.js';
import { callStages, type CallStageOptions } from '../../transforms/index.js';
import { useTempDir } from '../support/temp.js';
import { MODEL } from '../prepare/helpers.js';

const tmp = useTempDir('insights-parallel-');

async function filesUnder(dir: string, out = new Map<string, string>(), root = dir): Promise<Map<string, string>> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) await filesUnder(path, out, root);
    else if (e.name !== 'prepared.json') out.set(relative(root, path), await readFile(path, 'utf8'));
  }
  return out;
}

/** One call per row; every third call holds PII, every fifth is long (120 lines of speech in one cell). */
function csv(calls: number): string {
  const rows = ['call_id,agent,transcript'];
  for (let i = 0; i < calls; i++) {
    let text = `Customer: order ${10_000 + i} from 2024-05-0${1 + (i % 9)} is late.\nAgent: I refunded $${i}.99 today.`;
    if (i % 3 === 0) text += `\nCustomer: card 4111 1111 1111 1111, mail c${i}@example.com, phone (201) 555-01${String(i % 100).padStart(2, '0')}.`;
    if (i % 5 === 0) for (let k = 0; k < 120; k++) text += `\n${k % 2 ? 'Agent' : 'Customer'}: line ${k} ${'and so on '.repeat(30)}`;
    rows.push(`c-${i},${i % 3 === 0 ? `agent c${i}@example.com` : 'Ann'},"${text}"`);
  }
  return rows.join('\n') + '\n';
}

describe('redaction and truncation on worker threads', () => {
  it('write the same files and count the same as one thread, with the fused path off', { timeout: 120_000 }, async () => {
    const input = join(tmp.dir, 'calls.csv');
    await writeFile(input, csv(300));
    // a budget that the long calls (about 40 KB) exceed and the short ones fit
    const model = { modelId: MODEL, maxTokens: 1000 };
    const full = fitBudget(familyFor(MODEL), model);
    expect(full).toBeGreaterThan(5000);
    const stages: CallStageOptions = {
      adapt: { passthrough: ['agent'] },
      redact: {},
      prompt: { fit: { mode: 'truncate', budgetTokens: 5000 } },
    };
    const run = (name: string, extra: Partial<PrepareRunOptions>) =>
      prepareRun({ inputs: [input], out: join(tmp.dir, name), stages: callStages(stages), model, ...extra });
    const one = await run('one', { workers: 0 });
    const many = await run('many', { workers: 2, pieceBytes: 4096 });
    expect(many.parallel.pieces).toBeGreaterThan(20);
    expect(many.parallel.fused).toBe(0);
    expect(one.written).toBe(300);
    expect(one.truncated).toBe(60);
    expect(one.redacted).toEqual({ card: 100, email: 200, phone: 100 });
    expect(many.redacted).toEqual(one.redacted);
    expect(many.truncated).toBe(one.truncated);
    const [a, b] = await Promise.all([filesUnder(join(tmp.dir, 'one')), filesUnder(join(tmp.dir, 'many'))]);
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [path, text] of a) expect(b.get(path) === text, path).toBe(true);
    const prepared = JSON.parse(await readFile(join(tmp.dir, 'many/prepared.json'), 'utf8'));
    expect(prepared).toMatchObject({ redacted: one.redacted, truncated: 60 });
    const shards = [...a.entries()].filter(([p]) => p.startsWith('input/')).map(([, t]) => t).join('');
    expect(shards.includes('4111')).toBe(false);
    expect(shards.includes('@example.com')).toBe(false);
    expect(shards).toContain('order 10000 from 2024-05-01');
    const lineage = [...a.entries()].filter(([p]) => p.startsWith('lineage/')).map(([, t]) => t).join('');
    expect(lineage.includes('@example.com')).toBe(false);
    expect(lineage).toContain('"agent":"agent [EMAIL]"');
  });

  it('counts the schema a record carries in its input tokens, on the fused path and off it', { timeout: 60_000 }, async () => {
    const input = join(tmp.dir, 'schema.csv');
    await writeFile(input, csv(30));
    const tool = { ...loadSchema('call-insights'), via: 'tool' as const };
    const base = { inputs: [input], stages: callStages({}), workers: 1 };
    const plain = await prepareRun({ ...base, out: join(tmp.dir, 's-plain'), model: { modelId: MODEL } });
    const fused = await prepareRun({ ...base, out: join(tmp.dir, 's-fused'), model: { modelId: MODEL, structured: tool } });
    const staged = await prepareRun({ ...base, out: join(tmp.dir, 's-staged'), model: { modelId: MODEL, structured: tool }, fused: false });
    expect(fused.parallel.fused).toBeGreaterThan(20);
    const perRecord = structuredTokens(tool);
    expect(perRecord).toBeGreaterThan(300); // the call-insights schema's JSON
    expect(fused.inputTokens).toBe(plain.inputTokens + 30 * perRecord);
    expect(staged.inputTokens).toBe(fused.inputTokens);
  });

  it('leaves the fused path on when neither is asked for', { timeout: 60_000 }, async () => {
    const input = join(tmp.dir, 'plain.csv');
    await writeFile(input, csv(60));
    const s = await prepareRun({ inputs: [input], out: join(tmp.dir, 'plain'), stages: callStages({}), model: { modelId: MODEL }, workers: 1 });
    expect(s.parallel.fused).toBeGreaterThan(0);
    expect(s.redacted).toEqual({});
    expect(s.truncated).toBe(0);
  });
});
