/**
 * The calls of a generated CSV export (generate.ts) written again as JSON Lines and as one JSON
 * array (an element per line, as exports print them), cached next to it in bench/.data/: the line
 * and JSON readers are measured on the same calls.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { csvRows } from '../src/read/csv.js';
import type { Reject, SourceItem } from '../src/records/types.js';

export interface JsonInputs {
  jsonl: string;
  json: string;
}

/** `calls.jsonl` next to `calls.csv`, made from its calls (unless already newer than it). */
export async function generateJsonl(csv: string): Promise<string> {
  const jsonl = csv.replace(/\.csv$/, '.jsonl');
  await writeCalls(csv, jsonl, { open: '', between: '\n', close: '\n' });
  return jsonl;
}

/** `calls.jsonl` and `calls.json` next to `calls.csv`, made from its calls (unless already newer than it). */
export async function generateJsonInputs(csv: string): Promise<JsonInputs> {
  const jsonl = csv.replace(/\.csv$/, '.jsonl');
  const json = csv.replace(/\.csv$/, '.json');
  await writeCalls(csv, jsonl, { open: '', between: '\n', close: '\n' });
  await writeCalls(csv, json, { open: '[\n', between: ',\n', close: '\n]\n' });
  return { jsonl, json };
}

async function writeCalls(csv: string, out: string, frame: { open: string; between: string; close: string }): Promise<void> {
  const made = await stat(out).catch(() => undefined);
  if (made && made.mtimeMs > (await stat(csv)).mtimeMs) return;
  await pipeline(
    createReadStream(csv, { highWaterMark: 1 << 20 }),
    csvRows({ file: csv }),
    async function* (items: AsyncIterable<SourceItem | Reject>) {
      yield frame.open;
      let first = true;
      for await (const item of items) {
        if (item.kind !== 'item') continue;
        yield (first ? '' : frame.between) + JSON.stringify(item.value);
        first = false;
      }
      yield frame.close;
    },
    createWriteStream(`${out}.part`),
  );
  await rename(`${out}.part`, out);
}
