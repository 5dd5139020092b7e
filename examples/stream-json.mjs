// Read a JSON array export with stream-json instead of the toolkit's JSON reader, and prepare it:
//   node stream-json.mjs dialogues.json ./batch
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { parser } from 'stream-json';
import { streamArray } from 'stream-json/streamers/stream-array.js';
import { toRecordsStream, assignIdsStream, validateRecordsStream,
         rollover, openStore, quotaProfile, stepStream, mapStep } from 'bedrock-batch';
import { adaptCallsStream, promptCallsStream } from 'bedrock-batch/transforms';

const [input = 'dialogues.json', out = './batch'] = process.argv.slice(2);
const model = 'anthropic.claude-3-haiku-20240307-v1:0';
const quotas = quotaProfile('documented');
const sink = rollover({ store: openStore(out), quotas });
await pipeline(
  createReadStream(input),
  parser.asStream(),                                // JSON tokens
  streamArray.asStream(),                           // { key, value }: one per array element
  stepStream(mapStep(({ key, value }) =>            // the toolkit's source items; stream-json
    ({ kind: 'item', file: input, line: key + 1, value }))), // counts elements, not lines
  adaptCallsStream(),                               // calls
  promptCallsStream({ system: 'You summarise calls.' }),
  toRecordsStream({ modelId: model, maxTokens: 512 }),
  assignIdsStream(),
  validateRecordsStream({ modelId: model, maxRecordBytes: quotas.maxRecordBytes }),
  sink,
);
const { written, rejected, jobs } = sink.result;
console.log(`${written} records in ${jobs.length} job(s), ${rejected} rejected: ${out}`);
