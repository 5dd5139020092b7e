/**
 * Structured fields with a schema (docs/structured.md): the schema a run asks every record to
 * answer with (`loadSchema`: the built-in `call-insights` or a JSON Schema file in the supported
 * subset), the way each model is asked (`structuredVias`, `chooseVia`), and the JSON-only
 * instruction of the `prompt` way. The model families build the requests (src/models/); collect
 * validates the answers.
 *
 *   const { name, schema } = loadSchema('call-insights');
 *   const via = chooseVia('anthropic', modelId);            // 'native' for Claude Sonnet 4.5
 *   toRecords({ modelId, structured: { name, schema, via } });
 */
export { CALL_INSIGHTS, CALL_INSIGHTS_NAME } from './call-insights.js';
export { jsonInstruction, JSON_INSTRUCTION_HEAD, SCHEMA_CLOSE, SCHEMA_OPEN } from './instruction.js';
export { BUILT_IN_SCHEMA, checkSchema, loadSchema, schemaName, type LoadedSchema } from './load.js';
export { chooseVia, structuredVias } from './vias.js';
export { nativeSchema } from '../models/structured.js';
