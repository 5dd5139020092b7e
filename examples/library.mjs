// Prepare a batch run with a stage of your own between the toolkit's:
//   node library.mjs calls.csv.gz ./batch
import { pipeline } from 'node:stream/promises';
import { openSource, csvRows, toRecordsStream, assignIdsStream, validateRecordsStream,
         rollover, openStore, quotaProfile, stepStream, mapStep } from 'bedrock-batch';
import { adaptCallsStream, promptCallsStream } from 'bedrock-batch/transforms';

const [input = 'calls.csv.gz', out = './batch'] = process.argv.slice(2);
const model = 'anthropic.claude-3-haiku-20240307-v1:0';
const quotas = quotaProfile('documented');
const sink = rollover({ store: openStore(out), quotas });
await pipeline(
  openSource(input),                                // bytes (gunzipped)
  csvRows({ file: input }),                         // rows with file and line
  adaptCallsStream(),                               // calls
  stepStream(mapStep((x) =>                         // a stage of yours: leave a queue's calls out
    (x.kind === 'call' && x.passthrough?.queue === 'promotions' ? undefined : x))),
  promptCallsStream({ system: 'You summarise calls.' }),
  toRecordsStream({ modelId: model, maxTokens: 512 }),
  assignIdsStream(),
  validateRecordsStream({ modelId: model, maxRecordBytes: quotas.maxRecordBytes }),
  sink,
);
const { written, rejected, jobs } = sink.result;   // also shards, bytes, rejectsByCode, ...
console.log(`${written} records in ${jobs.length} job(s), ${rejected} rejected: ${out}`);
