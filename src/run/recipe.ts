/**
 * A run's recipe: everything that shapes its records, as flat named fields, so that a resumed run
 * can say exactly what changed since it was prepared (`prompt.template`, `model.maxTokens`,
 * `input calls.csv`, ...) instead of going on silently with records built from other settings.
 *
 *   inputs     each input file with its size and modification time (an S3 object: size and ETag;
 *              stdin: cannot be compared)
 *   model.*    model id, family, invocation type, max tokens, temperature, top-p
 *   stages.*   the call stages' options: format, columns, passthrough, template, system, ...
 *   ids.*      the recordId mode and namespace
 *   quotas.*   the quota profile in force (name and every limit)
 *   read.*     decoder, delimiter
 *   rejects    where rejects go
 *
 * Long text (a template, a system prompt) is kept as its sha256, never as text.
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { expandInputs } from '../read/index.js';
import { s3ClientFor, type S3StoreOptions } from '../stores/s3.js';
import { isS3Uri, parseS3Uri } from '../stores/uri.js';

export type RecipeValue = string | number | boolean | null;

export interface Recipe {
  v: 1;
  /** One entry per input file, in reading order: `{input, size, mtime}` / `{input, size, etag}` / `{input: '-'}`. */
  inputs: { input: string; size?: number; mtime?: number; etag?: string }[];
  /** Every other setting, flat: `model.maxTokens`, `stages.prompt.template`, `quotas.maxRecordsPerFile`, ... */
  settings: Record<string, RecipeValue>;
}

export interface RecipeSource {
  inputs: readonly string[];
  /** Settings to flatten under their names (`model`, `stages`, `ids`, `quotas`, `read`, `rejects`). */
  settings: Record<string, unknown>;
  /** Client settings for `s3://` inputs (default: the SDK's own). */
  s3?: S3StoreOptions;
}

const LONG = 80;

/** Flatten a settings tree into dotted names; long strings become their sha256. Functions and symbols are `custom`. */
export function flattenSettings(value: unknown, prefix = '', out: Record<string, RecipeValue> = {}): Record<string, RecipeValue> {
  if (value === undefined) return out;
  if (value === null || typeof value === 'number' || typeof value === 'boolean') {
    out[prefix] = value;
  } else if (typeof value === 'string') {
    out[prefix] = value.length > LONG ? `sha256:${createHash('sha256').update(value).digest('hex')}` : value;
  } else if (typeof value === 'bigint') {
    out[prefix] = String(value);
  } else if (Array.isArray(value)) {
    out[prefix] = `json:${JSON.stringify(value)}`.length > LONG ? `sha256:${createHash('sha256').update(JSON.stringify(value)).digest('hex')}` : `json:${JSON.stringify(value)}`;
  } else if (typeof value === 'object') {
    if (value instanceof URL) {
      out[prefix] = value.href;
      return out;
    }
    for (const [k, v] of Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      flattenSettings(v, prefix ? `${prefix}.${k}` : k, out);
    }
  } else {
    out[prefix] = 'custom';
  }
  return out;
}

/** The recipe of a run about to be prepared (or prepared again): inputs as they are now, and its settings. */
export async function recipeOf(source: RecipeSource): Promise<Recipe> {
  const files = await expandInputs(source.inputs, source.s3 ? { s3: source.s3 } : {});
  const inputs: Recipe['inputs'] = [];
  for (const input of files) {
    if (input === '-') inputs.push({ input });
    else if (isS3Uri(input)) {
      const { bucket, key } = parseS3Uri(input);
      try {
        const owner = source.s3?.expectedBucketOwner;
        const head = await s3ClientFor(source.s3).send(new HeadObjectCommand({ Bucket: bucket, Key: key, ...(owner ? { ExpectedBucketOwner: owner } : {}) }));
        inputs.push({ input, ...(head.ContentLength !== undefined ? { size: head.ContentLength } : {}), ...(head.ETag ? { etag: head.ETag } : {}) });
      } catch {
        inputs.push({ input });
      }
    } else {
      const s = await stat(input).catch(() => undefined);
      inputs.push({ input: resolvePath(input), ...(s ? { size: s.size, mtime: Math.round(s.mtimeMs) } : {}) });
    }
  }
  return { v: 1, inputs, settings: flattenSettings(source.settings) };
}

/**
 * What differs between the recipe a run was prepared with and the one it would be prepared with
 * now, in words. Standard input cannot be compared (its bytes are gone): it is not reported here.
 */
export function recipeChanges(before: Recipe | undefined, now: Recipe): string[] {
  if (!before || before.v !== 1) return ['the run was prepared by an older bedrock-batch that kept no recipe'];
  const changes: string[] = [];
  const was = new Map(before.inputs.map((i) => [i.input, i]));
  const is = new Map(now.inputs.map((i) => [i.input, i]));
  for (const [name, i] of is) {
    const w = was.get(name);
    if (!w) changes.push(`input ${name} is new`);
    else if (name === '-') continue; // stdin cannot be compared: the caller says so
    else if (w.size !== i.size) changes.push(`input ${name} changed (${w.size ?? '?'} -> ${i.size ?? '?'} bytes)`);
    else if (w.etag !== i.etag) changes.push(`input ${name} changed (ETag ${w.etag} -> ${i.etag})`);
    else if (w.mtime !== i.mtime) changes.push(`input ${name} changed (modified ${new Date(i.mtime ?? 0).toISOString()})`);
  }
  for (const name of was.keys()) if (!is.has(name)) changes.push(`input ${name} is no longer given`);
  if (changes.length === 0 && before.inputs.map((i) => i.input).join('\n') !== now.inputs.map((i) => i.input).join('\n')) {
    changes.push('the inputs are in another order (record ids and shards follow it)');
  }
  const keys = new Set([...Object.keys(before.settings), ...Object.keys(now.settings)]);
  for (const k of [...keys].sort()) {
    const a = before.settings[k];
    const b = now.settings[k];
    if (a === b) continue;
    // text (a template, a prompt) is named, not shown
    const show = (v: RecipeValue | undefined) => (v === undefined ? 'unset' : typeof v === 'string' && (v.startsWith('sha256:') || v.includes('\n')) ? 'text' : JSON.stringify(v));
    changes.push(`${k}: ${show(a)} -> ${show(b)}${show(a) === 'text' && show(b) === 'text' ? ' (other text)' : ''}`);
  }
  return changes;
}
