/**
 * The local double's own token count: the `usage` its answers report, the manifest's token
 * counters, and where an answer stops at its output budget. Written apart from prepare's estimate
 * (src/records/tokens.ts) on purpose: prepare forecasts what a job will use, the double plays the
 * model that bills, and the two must not be one function.
 *
 * Its own approximation, no real tokenizer: text is cut into pieces (a word: a run of letters,
 * marks and digits; one character of a script written without spaces: Han, kana, Thai; any other
 * visible character: punctuation, symbols, emoji) and a piece counts one token per 6 UTF-16 units
 * begun. Whitespace is free.
 */

const SPACELESS = '\\p{Script=Han}\\p{Script=Hiragana}\\p{Script=Katakana}\\p{Script=Thai}';
const PIECE = new RegExp(`[${SPACELESS}]|(?:(?![${SPACELESS}])[\\p{L}\\p{M}\\p{N}])+|\\S`, 'gu');

const tokensOf = (piece: string) => Math.ceil(piece.length / 6);

/** The tokens of `text` (see the module comment). */
export function countTokens(text: string): number {
  let tokens = 0;
  for (const [piece] of text.matchAll(PIECE)) tokens += tokensOf(piece);
  return tokens;
}

/** The longest start of `text` that counts at most `maxTokens`, ending after a whole piece. */
export function cutToTokens(text: string, maxTokens: number): string {
  let tokens = 0;
  let end = 0;
  for (const m of text.matchAll(PIECE)) {
    tokens += tokensOf(m[0]);
    if (tokens > maxTokens) break;
    end = m.index + m[0].length;
  }
  return text.slice(0, end);
}
