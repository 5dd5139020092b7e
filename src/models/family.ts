/**
 * A model family knows one request/response shape (docs/bedrock.md §1.2), all of it in one file per
 * family: how to build `modelInput` for a prompt, which rules a `modelInput` must follow, how to read
 * `modelOutput` back and tell its shape from the others', and its `local` part: how the local double
 * (src/local) checks and reads a `modelInput` and what it answers. The local part is a check and a
 * reader of its own, written from the documented shape, never a call into the builder or the rules
 * above it: the double checks what prepare writes, so it must not see records through prepare's
 * eyes (see local-double.ts). It shares only the model facts: limits, the version string, which
 * models refuse what. The registry (index.ts) iterates the families; nothing else names them.
 */
import type { ErrorCode } from '../errors.js';
import type { LocalShape } from './local-double.js';

export type FamilyName = 'anthropic' | 'nova' | 'titan-text' | 'llama' | 'mistral' | 'converse';

export type InvocationType = 'InvokeModel' | 'Converse';

/** Generation settings from the command line or the caller; families map them to their own keys. */
export interface ModelOptions {
  /** The job's model: base id, cross-region profile id (`us.anthropic...`) or ARN. */
  modelId: string;
  /** Output-token budget per record; each family has a default. */
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  /** A system prompt for every record. */
  system?: string;
  /** Ask every record for an answer that follows a JSON Schema (docs/structured.md). */
  structured?: StructuredRequest;
}

/**
 * How a record asks for structured fields, strongest first (docs/structured.md):
 * - `native`: Bedrock structured outputs (`output_config.format` for Claude, `response_format` for
 *   open-weight models, `outputConfig.textFormat` for Converse): the service enforces the schema;
 * - `tool`: a forced tool whose input schema is the schema (Claude `tools` + `tool_choice`, Nova
 *   `toolConfig`); never in Converse-type batch records, which Bedrock fails with 400;
 * - `prompt`: a JSON-only instruction with the schema in the prompt text.
 */
export type StructuredVia = 'native' | 'tool' | 'prompt';

/** A JSON Schema answer request, as model options carry it. */
export interface StructuredRequest {
  /** The answer's JSON Schema: an object schema with `properties` (docs/structured.md lists the subset). */
  schema: Record<string, unknown>;
  /** The schema's name (the tool or format name): 1 to 64 of [A-Za-z0-9_-]. */
  name: string;
  /** The way records ask for it. */
  via: StructuredVia;
}

/** The text a record sends, split as the model sees it. */
export interface PromptText {
  prompt: string;
  system?: string;
}

/** What every family reads out of one output line's `modelOutput`. */
export interface ModelOutputSummary {
  /** The generated text, or undefined when the output holds none. */
  text: string | undefined;
  /** The family's own stop reason (`end_turn`, `max_tokens`, `FINISH`, `stop`, ...). */
  stopReason?: string;
  inputTokens?: number;
  outputTokens?: number;
  /** The input of the first tool call the output holds (a forced tool's answer), when it holds one. */
  toolInput?: unknown;
}

export interface ValidationIssue {
  code: ErrorCode;
  /** One line naming the field and the rule, e.g. `max_tokens must be an integer from 1 to 4096`. */
  reason: string;
}

export interface ModelLimits {
  /** Context window in tokens (input + output). */
  contextTokens: number;
  /** Most output tokens one request may ask for. */
  maxOutputTokens: number;
}

export interface ModelFamily {
  readonly name: FamilyName;
  /** The job's `modelInvocationType` for records of this shape. */
  readonly invocationType: InvocationType;
  /** Whether this family serves the model id (region prefixes and ARNs allowed). */
  matches(modelId: string): boolean;
  /** The limits of one model of the family (a conservative default for unknown versions). */
  limits(modelId: string): ModelLimits;
  /** The family's default output-token budget. */
  readonly defaultMaxTokens: number;
  /** Build `modelInput` for one prompt. Options were checked by `checkOptions`. */
  buildInput(prompt: PromptText, options: ModelOptions): Record<string, unknown>;
  /** Options that cannot work for this family, named (thrown once, before any data flows). */
  checkOptions(options: ModelOptions): ValidationIssue[];
  /**
   * The ways records of this family ask `modelId` for structured fields, strongest first (the table
   * in docs/structured.md); never empty: `prompt` works everywhere. `buildInput` builds each of them
   * for `options.structured`, and `checkOptions` refuses any other.
   */
  structuredVias(modelId: string): readonly StructuredVia[];
  /** Every rule `modelInput` breaks: required keys, types, ranges, stray keys, empty text. */
  validateInput(modelInput: Record<string, unknown>, modelId: string): ValidationIssue[];
  /** The output-token budget a `modelInput` asks for. */
  maxOutputTokensOf(modelInput: Record<string, unknown>): number | undefined;
  /** All prompt text in a `modelInput` (for token estimates). */
  inputTextOf(modelInput: Record<string, unknown>): string;
  /** Read one `modelOutput`; unknown shapes give `text: undefined`, never a throw. */
  readOutput(modelOutput: unknown): ModelOutputSummary;
  /**
   * Whether `modelOutput` has this family's response shape, by its keys alone (for outputs whose
   * family is not known, or not the one expected). At most one family claims a documented shape.
   */
  ownsOutput(modelOutput: unknown): boolean;
  /**
   * The family that answers in this family's `modelOutput` shape too (Nova's native output and
   * Converse's differ only by Converse's `metrics`, which may be missing): an output the shape
   * gives to it may still be this family's, and both read it alike.
   */
  readonly sharesOutputShapeWith?: FamilyName;
  /** How the local double checks and reads this family's `modelInput` and answers it. */
  readonly local: LocalShape;
}
