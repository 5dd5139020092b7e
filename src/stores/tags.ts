/**
 * S3 object tags: what an S3 store puts on every object it writes (`S3StoreOptions.tags`), checked
 * once against S3's rules, and the expiry tag a bucket lifecycle rule matches (docs/cleanup.md):
 * `bedrock-batch-expire-days=N` on what a run writes, and a rule per N that expires objects carrying
 * it N days after they were written.
 *
 * S3's rules (docs/cleanup.md, "Tags"): at most 10 tags per object; keys of 1 to 128 characters,
 * values of 0 to 256; letters, digits, spaces and `+ - = . _ : / @`; keys starting `aws:` are
 * AWS's own. On PutObject and CreateMultipartUpload the tag set travels as one header encoded as
 * URL query parameters (`Key1=Value1&Key2=Value2`). Local directories have no tags: a local store
 * ignores them.
 */
import { BatchError } from '../errors.js';

/** The tag key a lifecycle rule matches to expire what bedrock-batch wrote (docs/cleanup.md). */
export const EXPIRE_TAG_KEY = 'bedrock-batch-expire-days';

/** S3's limit on the tags of one object. */
export const MAX_OBJECT_TAGS = 10;

/** Characters S3 allows in a tag key or value (Unicode letters and digits, spaces, `+ - = . _ : / @`). */
const TAG_CHARS = /^[\p{L}\p{N}\p{Zs}+\-=._:/@]*$/u;

/** The tag set `{bedrock-batch-expire-days: "N"}` for `--expire-days N` (a whole number of days, at least 1). */
export function expireTags(days: number): Record<string, string> {
  if (!Number.isSafeInteger(days) || days < 1) {
    throw new BatchError('E_BAD_OPTION', `--expire-days must be a whole number of days of at least 1, got ${String(days)}`, { hint: 'e.g. --expire-days 30' });
  }
  return { [EXPIRE_TAG_KEY]: String(days) };
}

/** Throws E_BAD_OPTION unless `tags` is a tag set S3 accepts (see the module comment). */
export function checkTags(tags: Record<string, string>, what = 'tags'): void {
  const entries = Object.entries(tags);
  if (entries.length > MAX_OBJECT_TAGS) {
    throw new BatchError('E_BAD_OPTION', `${what}: ${entries.length} tags, S3 keeps at most ${MAX_OBJECT_TAGS} per object`);
  }
  for (const [key, value] of entries) {
    if (typeof value !== 'string') throw new BatchError('E_BAD_OPTION', `${what}: the value of tag "${key}" is not a string`);
    if (key.length < 1 || key.length > 128 || !TAG_CHARS.test(key) || key.toLowerCase().startsWith('aws:')) {
      throw new BatchError('E_BAD_OPTION', `${what}: "${key}" is not a tag key S3 accepts`, {
        hint: '1 to 128 letters, digits, spaces and + - = . _ : / @, not starting with aws:',
      });
    }
    if (value.length > 256 || !TAG_CHARS.test(value)) {
      throw new BatchError('E_BAD_OPTION', `${what}: the value of tag "${key}" is not one S3 accepts`, {
        hint: 'up to 256 letters, digits, spaces and + - = . _ : / @',
      });
    }
  }
}

/** The `x-amz-tagging` header value of a tag set: `k1=v1&k2=v2`, each part percent-encoded; undefined for no tags. */
export function taggingHeader(tags: Record<string, string> | undefined): string | undefined {
  if (!tags) return undefined;
  const entries = Object.entries(tags);
  if (entries.length === 0) return undefined;
  return entries.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
}
