/**
 * What the local double (src/local) asks of every model family: the family-neutral request a
 * `modelInput` makes, the answer a local model gives, the `local` part each family declares to
 * translate between the two and its own shapes (docs/bedrock.md §1.2), and the few readers those
 * parts share.
 *
 * Independent on purpose: the double exists to check what prepare wrote, so these readers are
 * written from the request shapes and never call the families' builders or rules (rules.ts,
 * fields.ts, keyed-blocks.ts' checks).
 */

export interface ChatTurn {
  role: 'user' | 'assistant';
  text: string;
}

/** One record's request, family-neutral. */
export interface ModelRequest {
  system?: string;
  turns: ChatTurn[];
  maxTokens?: number;
  temperature?: number;
  topP?: number;
}

/** What a local model answers. */
export interface ModelAnswer {
  text: string;
  inputTokens: number;
  outputTokens: number;
  /** `end`: the model finished; `length`: it ran into the output budget. */
  stop: 'end' | 'length';
}

/** What an answer's `modelOutput` may carry besides the answer itself. */
export interface AnswerContext {
  /** The name the stand-in reports in place of the real model's. */
  modelName: string;
  /** A stable id of this record's answer (hex), for shapes that carry a message id. */
  answerId: string;
  /** How long the answer took, in whole milliseconds. */
  latencyMs: number;
}

/** How the local double reads one family's `modelInput` and answers it. */
export interface LocalShape {
  /**
   * Whether a `modelInput` has this family's shape, for jobs whose model id cannot tell (custom
   * models, application inference profiles); the first family in the registry that claims it wins.
   * Absent when the shape is another family's too (Nova's native body reads as a Converse one).
   */
  claimsInput?(modelInput: Record<string, unknown>): boolean;
  /** The request a `modelInput` makes. Never throws: unknown shapes give what can be read. */
  readRequest(modelInput: Record<string, unknown>): ModelRequest;
  /** The `modelOutput` this family answers with. */
  writeOutput(answer: ModelAnswer, context: AnswerContext): Record<string, unknown>;
}

function isObj(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The object itself, or an empty one for anything else. */
export function objectOr(value: unknown): Record<string, unknown> {
  return isObj(value) ? value : {};
}

/** A string's text, or the `text` of content blocks joined by newlines; '' for anything else. */
export function blocksText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((b) => objectOr(b).text)
    .filter((t): t is string => typeof t === 'string' && t !== '')
    .join('\n');
}

/** The request of a chat body: `messages` `[{role, content}]` and an optional `system` (a string or blocks). */
export function chatRequest(messages: unknown, system: unknown): ModelRequest {
  const turns = Array.isArray(messages)
    ? messages.filter(isObj).map((m): ChatTurn => ({ role: m.role === 'assistant' ? 'assistant' : 'user', text: blocksText(m.content) }))
    : [];
  const req: ModelRequest = { turns };
  const text = blocksText(system);
  if (text) req.system = text;
  return req;
}

/** `req` with the generation settings that are finite numbers. */
export function withSettings(req: ModelRequest, maxTokens: unknown, temperature: unknown, topP: unknown): ModelRequest {
  if (isFiniteNumber(maxTokens)) req.maxTokens = maxTokens;
  if (isFiniteNumber(temperature)) req.temperature = temperature;
  if (isFiniteNumber(topP)) req.topP = topP;
  return req;
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}
