/**
 * stream-json in the JSON reader's place: its parser() + streamArray() over a JSON array export,
 * each element made a source item, give the same records through the adapters and record stages
 * as the toolkit's own JSON reader (src/read/json.ts); examples/stream-json.mjs does it end to end,
 * run as a user's script against the built package.
 */
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parser } from 'stream-json';
import { streamArray } from 'stream-json/streamers/stream-array.js';
import { describe, expect, it } from 'vitest';
import { quotaProfile } from '../../src/bedrock/quotas.js';
import { fuse } from '../../src/core/step.js';
import { jsonItems } from '../../src/read/json.js';
import { assignIds } from '../../src/records/ids.js';
import { toRecords } from '../../src/records/to-records.js';
import type { PrepareItem, PreparedRecord } from '../../src/records/types.js';
import { validateRecords } from '../../src/records/validate.js';
import { adaptCalls, promptCalls } from '../../transforms/index.js';
import { ENV } from '../support/cli.js';
import { useTempDir } from '../support/temp.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/stream-json.mjs', import.meta.url));
// ABCD dialogues: a third-party JSON array export
const DIALOGUES = fileURLToPath(new URL('../../fixtures/chat-datasets/abcd_sample.json', import.meta.url));
const MODEL = 'anthropic.claude-3-haiku-20240307-v1:0';

const tmp = useTempDir('stream-json-');

/** The example's stages, from the adapter to validation, over the items a reader gives. */
async function prepared(items: AsyncIterable<PrepareItem>): Promise<PrepareItem[]> {
  const quotas = quotaProfile('documented');
  const stages = fuse<PrepareItem, PrepareItem>(
    adaptCalls(),
    promptCalls({ system: 'You summarise calls.' }),
    toRecords({ modelId: MODEL, maxTokens: 512 }),
    assignIds(),
    validateRecords({ modelId: MODEL, maxRecordBytes: quotas.maxRecordBytes }),
  );
  const out: PrepareItem[] = [];
  for await (const item of items) stages.write(item, (x) => out.push(x));
  stages.end?.((x) => out.push(x));
  return out;
}

// Each reader is a stream pipeline: an error destroys its last stream, and the `for await` over it throws.

/** The toolkit's JSON reader over the export. */
const jsonReader = (): AsyncIterable<PrepareItem> => pipeline(createReadStream(DIALOGUES), jsonItems({ file: DIALOGUES }), () => {});

/** stream-json's parser() + streamArray() over the export, each element a source item. */
async function* streamJsonReader(): AsyncGenerator<PrepareItem> {
  const elements: AsyncIterable<{ key: number; value: unknown }> = pipeline(createReadStream(DIALOGUES), parser.asStream(), streamArray.asStream(), () => {});
  // stream-json counts elements, not lines: the element's number stands in
  for await (const { key, value } of elements) yield { kind: 'item', file: DIALOGUES, line: key + 1, value };
}

/** A record as the shard holds it, and what its lineage keeps but the place in the file. */
const sent = (items: PrepareItem[]) =>
  items.map((x) => {
    if (x.kind !== 'record') throw new Error(`expected records only, got a ${x.kind}`);
    const { recordId, modelInput, key, passthrough } = x as PreparedRecord;
    return { recordId, modelInput, key, passthrough };
  });

describe('stream-json in place of the JSON reader', () => {
  it('gives the same records as the toolkit\'s JSON reader, through the same stages', async () => {
    const ours = await prepared(jsonReader());
    const theirs = await prepared(streamJsonReader());
    expect(ours).toHaveLength(3);
    expect(sent(theirs)).toEqual(sent(ours));
  });

  it('README.md shows examples/stream-json.mjs word for word, under "With stream-json"', async () => {
    const readme = await readFile(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
    const section = readme.slice(readme.indexOf('\n### With stream-json\n'));
    expect(/\n```js\n([\s\S]*?)```\n/.exec(section)?.[1]).toBe(await readFile(EXAMPLE, 'utf8'));
  });

  it('examples/stream-json.mjs prepares the export: the shard holds those records', async () => {
    const out = join(tmp.dir, 'batch');
    const { stdout } = await promisify(execFile)(process.execPath, [EXAMPLE, DIALOGUES, out], { cwd: tmp.dir, env: ENV });
    expect(stdout).toBe(`3 records in 1 job(s), 0 rejected: ${out}\n`);
    const shard = (await readFile(join(out, 'input/job-0001/part-00001.jsonl'), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as unknown);
    const ours = sent(await prepared(jsonReader()));
    expect(shard).toEqual(ours.map(({ recordId, modelInput }) => ({ recordId, modelInput })));
  });
});
