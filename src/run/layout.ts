/**
 * The layout of a prepared run, one owner for its names (docs/contracts.md, "Layout of a prepared run"):
 *
 *   <run>/prepared.json                 the run: model, quotas, jobs, shards, counts, recipe
 *   <run>/input/job-0001/part-00001.jsonl   what a job reads: one folder per job, nothing else in it
 *   <run>/lineage/job-0001/part-00001.jsonl {recordId, key, file, line, ...passthrough}, line for line
 *   <run>/rejects.jsonl                 {file, line, key, stage, code, reason}
 *   <run>/ledger.jsonl                  submit's ledger (src/jobs/ledger.ts)
 *   <run>/local-service/jobs.json       the embedded local service's jobs for this run (+ .lock)
 *   <run>/retry-2/ ...                  a retry run collect planned, in this same layout
 *   <run>/dead-letter.jsonl             records collect gave up on
 *   <run>/on-demand/job-0001/<recordId>.json   answers of an on-demand folder until its outputs are written
 *   <run>/reused.jsonl                  earlier answers of the calls --skip-answered skipped
 */

export const PREPARED_KEY = 'prepared.json';
export const INPUT_PREFIX = 'input/';
export const LINEAGE_PREFIX = 'lineage/';
export const REJECTS_KEY = 'rejects.jsonl';
export const LEDGER_KEY = 'ledger.jsonl';
export const LOCAL_SERVICE_PREFIX = 'local-service/';
export const DEAD_LETTER_KEY = 'dead-letter.jsonl';
/** The on-demand path's spool (docs/on-demand.md): `on-demand/<job>/<recordId>.json`. */
export const ON_DEMAND_PREFIX = 'on-demand/';
/** The earlier answers of the calls `--skip-answered` skipped (src/results/reuse.ts). */
export const REUSED_KEY = 'reused.jsonl';

/** A shard or lineage file as rollover names it, below `input/` or `lineage/`. */
export const SHARD_NAME = /^job-\d{4,}\/part-\d{5,}\.jsonl$/;

/** What a writer of ours leaves while it writes (src/stores/local.ts): `<key>.partial-<pid>-<n>`. */
export const PARTIAL_SUFFIX = /\.partial-\d+-\d+$/;

/** The retry runs collect writes beside a run: `retry-<attempt>/`. */
export const RETRY_DIR = /^retry-\d+\/$/;
