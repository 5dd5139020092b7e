/**
 * The records of a shard, streamed: one `{recordId, modelInput}` per line (docs/contracts.md,
 * "Record"), split on `\n` only by the one line splitter (src/core/lines.ts), never the whole shard
 * in memory. The consumer pulls: while it does not ask for the next record, the shard is not read
 * further (at most one chunk's records wait). Errors name the shard and the line, never its text.
 */
import { BatchError } from '../errors.js';
import { LineSplitter, type LineHandler } from '../core/lines.js';
import { isObject } from '../core/values.js';
import type { Store } from '../stores/store.js';

export interface ShardRecord {
  recordId: string;
  modelInput: Record<string, unknown>;
  /** 1-based line in the shard. */
  line: number;
}

export async function* shardRecords(store: Store, key: string): AsyncGenerator<ShardRecord> {
  const file = store.resolve(key);
  const splitter = new LineSplitter({ overflow: 'error', file });
  let batch: ShardRecord[] = [];
  const onLine: LineHandler = (buf, start, end, line) => {
    batch.push(parseRecord(buf.toString('utf8', start, end), file, line));
  };
  for await (const chunk of store.createReadStream(key) as AsyncIterable<Buffer>) {
    splitter.push(chunk, onLine);
    if (batch.length > 0) {
      const taken = batch;
      batch = [];
      yield* taken;
    }
  }
  splitter.end(onLine);
  yield* batch;
}

function parseRecord(text: string, file: string, line: number): ShardRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new BatchError('E_BAD_JSON', 'the record is not valid JSON', { file, line, hint: 'prepare the run again: shards hold one {"recordId","modelInput"} object per line' });
  }
  if (!isObject(value)) throw new BatchError('E_NOT_AN_OBJECT', 'the record is not a JSON object', { file, line });
  const { recordId, modelInput } = value;
  if (typeof recordId !== 'string' || recordId === '') {
    throw new BatchError('E_BAD_RECORD_ID', 'the record has no recordId: on demand, every record needs one to join its answer', { file, line });
  }
  if (!isObject(modelInput)) throw new BatchError('E_INVALID_MODEL_INPUT', `record ${recordId} has no modelInput object`, { file, line, key: recordId });
  return { recordId, modelInput, line };
}
