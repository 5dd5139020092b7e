/**
 * A rough token count, for validation (does a record fit the model's context?) and for cost
 * forecasts. It is an ESTIMATE, not what Bedrock bills: each model has its own tokenizer, and the
 * real counts come back in the output (`usage`) and in `manifest.json.out`.
 *
 * The rule: about 4 characters per token for Latin-script text, more tokens per character for
 * other scripts. Instead of classifying every character (a per-character loop or regex over ~4 KB
 * per record), it uses the UTF-8 length, which V8 computes natively: every UTF-8 byte beyond the
 * first of a character adds 1.5/4 token. So
 *   ASCII                                   1 byte   → 0.25 token per character
 *   Latin accents, Greek, Cyrillic, Arabic  2 bytes  → 0.625
 *   CJK, Devanagari, Thai, most of the BMP  3 bytes  → 1.0
 *   emoji and other astral characters       4 bytes  → 1.25 (2 UTF-16 units)
 * which leans high for non-Latin scripts, the safe side for a context check.
 */

import type { StructuredRequest } from '../models/family.js';
import { jsonInstruction } from '../schema/instruction.js';

/** Rough token estimate of `text` (0 for empty or absent text). See the module comment. */
export function estimateTokens(text: string | undefined): number {
  if (!text) return 0;
  return tokensOf(text.length, Buffer.byteLength(text, 'utf8'));
}

/** The same estimate from a text's UTF-16 length and UTF-8 byte length (for callers that count
 * both as they go, such as prepare's fused path). */
export function tokensOf(units: number, utf8Bytes: number): number {
  return Math.ceil((units + 1.5 * (utf8Bytes - units)) / 4);
}

/**
 * The estimated input tokens a record's request adds for its schema (`ModelOptions.structured`,
 * docs/structured.md), the same for every record: the schema's JSON when it travels as a tool or an
 * output format (Bedrock bills it as input), the JSON-only instruction when it is in the prompt.
 */
export function structuredTokens(structured: StructuredRequest | undefined): number {
  if (structured === undefined) return 0;
  return structured.via === 'prompt' ? estimateTokens(jsonInstruction(structured.schema)) : estimateTokens(JSON.stringify(structured.schema));
}
