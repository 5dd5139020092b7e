/** The stages as a library: a user's own pipeline, with a stage of their own in between. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import {
  assignIdsStream,
  csvRows,
  fuse,
  mapStep,
  openSource,
  openStore,
  quotaProfile,
  readInputs,
  rollover,
  stepStream,
  toRecordsStream,
  validateRecordsStream,
  type Call,
  type PrepareItem,
} from '../../src/index.js';
import { adaptCalls, adaptCallsStream, promptCalls, promptCallsStream } from '../../transforms/index.js';
import { assignIds } from '../../src/records/ids.js';
import { toRecords } from '../../src/records/to-records.js';
import { validateRecords } from '../../src/records/validate.js';
import { useTempDir } from '../support/temp.js';
import { callsCsv, MODEL, readRun } from './helpers.js';

const tmp = useTempDir('prep-');

describe('prepare as a library', () => {
  it('pipeline(open, decode, adapter, <own stage>, prompt, toRecords, assignIds, validate, rollover)', async () => {
    const file = join(tmp.dir, 'calls.csv');
    await writeFile(file, callsCsv(50));
    const out = join(tmp.dir, 'batch');
    const quotas = quotaProfile('local');
    // A user's own stage: drop queue q2 calls, and redact digits from what the model sees.
    const own = stepStream(
      mapStep<PrepareItem, PrepareItem>((item) => {
        if (item.kind !== 'call') return item;
        if (item.passthrough?.queue === 'q2') return undefined;
        return { ...item, turns: item.turns.map((t) => ({ ...t, text: t.text.replace(/\d/g, '#') })) } satisfies Call;
      }),
    );
    const sink = rollover({ store: openStore(out), quotas });
    await pipeline(
      openSource(file),
      csvRows({ file }),
      adaptCallsStream(),
      own,
      promptCallsStream(),
      toRecordsStream({ modelId: MODEL, maxTokens: 256 }),
      assignIdsStream(),
      validateRecordsStream({ modelId: MODEL, maxRecordBytes: quotas.maxRecordBytes }),
      sink,
    );
    const r = sink.result!;
    expect(r.written).toBe(34); // 50 calls less the 16 of queue q2
    expect(r.rejected).toBe(0);
    const lines = [...(await readRun(out)).shards.values()].join('').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(lines[0].modelInput.max_tokens).toBe(256);
    expect(lines.every((l) => !/Agent [0-9]/.test(JSON.stringify(l)))).toBe(true);
  });

  it('the same stages fused into one Transform (less per-stage stream overhead), over readInputs', async () => {
    const file = join(tmp.dir, 'calls.csv');
    await writeFile(file, callsCsv(40));
    const out = join(tmp.dir, 'batch');
    const quotas = quotaProfile('local');
    const steps = fuse<PrepareItem, PrepareItem>(
      adaptCalls(),
      promptCalls({ template: 'Call {{key}} with {{agent}}:\n{{transcript}}' }),
      toRecords({ modelId: MODEL }),
      assignIds() as never,
      validateRecords({ modelId: MODEL, maxRecordBytes: quotas.maxRecordBytes }),
    );
    const sink = rollover({ store: openStore(out), quotas });
    await pipeline(readInputs([file]), stepStream(steps), sink);
    expect(sink.result!.written).toBe(40);
    const first = JSON.parse([...(await readRun(out)).shards.values()][0]!.split('\n')[0]!);
    expect(first.modelInput.messages[0].content[0].text).toMatch(/^Call C0 with Agent 0:\nAgent: /);
  });
});
