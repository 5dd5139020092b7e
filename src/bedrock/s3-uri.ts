/**
 * Bedrock's rule for the S3 URIs a batch job is given (docs/bedrock.md §3.1 and §6.10): a bucket of
 * 3-63 characters `[a-z0-9][-.a-z0-9]{1,61}[a-z0-9]`, then `/`-separated, non-empty key segments of
 * `[-!_*'().a-zA-Z0-9]` only, an optional trailing `/`, at most 1024 characters in all. A URI that
 * breaks it makes CreateModelInvocationJob fail with a ValidationException long after prepare wrote
 * the shards, so it is checked before anything is written, and the error names the segment and the
 * characters at fault. The documented pattern (`PATTERNS.s3Uri`) has the last word.
 */
import { BatchError } from '../errors.js';
import { matchesPattern } from './vocabulary.js';

/** The S3 limit on a URI Bedrock accepts for job input and output (facts §3.1). */
export const BEDROCK_S3_URI_MAX = 1024;

const BEDROCK_BUCKET = /^[a-z0-9][-.a-z0-9]{1,61}[a-z0-9]$/;
const BEDROCK_SEGMENT = /^[-!_*'().a-zA-Z0-9]+$/;
const BAD_SEGMENT_CHARS = /[^-!_*'().a-zA-Z0-9]/g;

/** What is wrong with `uri` under Bedrock's S3 URI rule, or undefined when nothing is. */
export function bedrockS3UriProblem(uri: string): { segment?: string; message: string; hint: string } | undefined {
  if (!/^s3:\/\//.test(uri)) {
    return { message: 'Bedrock needs an s3:// URI (lowercase scheme)', hint: 'write it as s3://bucket/prefix/' };
  }
  if (uri.length > BEDROCK_S3_URI_MAX) {
    return { message: `the URI is ${uri.length} characters; Bedrock accepts at most ${BEDROCK_S3_URI_MAX}`, hint: 'use a shorter prefix' };
  }
  const rest = uri.slice(5);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  if (!BEDROCK_BUCKET.test(bucket)) {
    return {
      segment: bucket,
      message: `the bucket "${bucket}" breaks Bedrock's rule: 3-63 lowercase letters, digits, "." and "-", starting and ending with a letter or digit`,
      hint: 'use a bucket whose name is lowercase (Bedrock batch jobs cannot read or write the others)',
    };
  }
  if (slash < 0) return undefined;
  const path = rest.slice(slash + 1);
  if (path === '') return undefined;
  const segments = (path.endsWith('/') ? path.slice(0, -1) : path).split('/');
  for (const segment of segments) {
    if (segment === '') {
      return { segment, message: 'the key has an empty segment ("//"), which Bedrock refuses', hint: 'remove the doubled "/"' };
    }
    if (!BEDROCK_SEGMENT.test(segment)) {
      const bad = [...new Set(segment.match(BAD_SEGMENT_CHARS) ?? [])].map(showChar).join(' ');
      return {
        segment,
        message: `the key segment "${segment}" has characters Bedrock refuses (${bad})`,
        hint: `Bedrock batch jobs accept key segments of letters, digits and - ! _ * ' ( ) . only; rename it, e.g. "${segment.replace(BAD_SEGMENT_CHARS, '-')}"`,
      };
    }
  }
  if (!matchesPattern('s3Uri', uri)) return { message: "it does not match Bedrock's S3 URI pattern", hint: 'write it as s3://bucket/prefix/' };
  return undefined;
}

/** Throws E_BAD_URI naming the bad bucket or segment when `uri` breaks Bedrock's S3 URI rule. */
export function checkBedrockS3Uri(uri: string, what = 'the location'): void {
  const problem = bedrockS3UriProblem(uri);
  if (problem) throw new BatchError('E_BAD_URI', `${what} ${uri} cannot be used with Bedrock batch inference: ${problem.message}`, { hint: problem.hint });
}

function showChar(c: string): string {
  if (c === ' ') return 'space';
  if (/\s|[\u0000-\u001f\u007f]/.test(c)) return `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
  return `"${c}"`;
}
