/**
 * The message shape Amazon Nova (native) and the Converse API share (docs/bedrock.md §1.2): content
 * blocks are objects keyed by their kind (`{text}`, `{image}`, `{cachePoint}`, ...), `system` is
 * `[{text}]`, settings sit in `inferenceConfig`, and the answer is
 * `{output:{message:{content:[{text}]}}, stopReason, usage:{inputTokens, outputTokens, totalTokens}}`.
 * The two families differ only in the keys they allow; both build, check, read and answer with
 * what is here. A forced tool's answer is a `{"toolUse":{"toolUseId","name","input"}}` block with
 * `stopReason` `tool_use`; a JSON-only instruction (docs/structured.md) is a second text block of the
 * user turn.
 */
import type { ModelOptions, ModelOutputSummary, PromptText } from './family.js';
import { fieldsOf, joinTexts, outputSummary, samplingOf, systemOf } from './fields.js';
import { chatRequest, objectOr, withSettings, type AnswerContext, type ModelAnswer, type ModelRequest } from './local-double.js';
import { jsonInstruction } from '../schema/instruction.js';
import { isObject } from '../core/values.js';
import { blockText, checkMessages, strayKeys, type BlankCode, type Issues } from './rules.js';

/**
 * The body for one prompt: the user message (with the JSON-only instruction as a second block when
 * `options.structured` asks the `prompt` way), system blocks when there is a system prompt,
 * `inferenceConfig`. The family adds its own key for the other ways.
 */
export function buildKeyedInput(prompt: PromptText, options: ModelOptions, defaultMaxTokens: number): Record<string, unknown> {
  const system = systemOf(prompt, options);
  const content: Record<string, unknown>[] = [{ text: prompt.prompt }];
  if (options.structured?.via === 'prompt') content.push({ text: jsonInstruction(options.structured.schema) });
  return {
    messages: [{ role: 'user', content }],
    ...(system === undefined ? {} : { system: [{ text: system }] }),
    inferenceConfig: { maxTokens: options.maxTokens ?? defaultMaxTokens, ...samplingOf(options, 'topP') },
  };
}

/** `messages`: a non-empty array of `{role: user|assistant, content: [block, ...]}`; each block has one known key. */
export function checkKeyedMessages(messages: unknown, blockKeys: ReadonlySet<string>, issues: Issues): void {
  checkMessages(messages, (content, path) => checkKeyedBlocks(content, path, blockKeys, issues, 'E_MISSING_TEXT'), issues);
}

/** `system`, when present: a non-empty array of blocks (`[{text}]`). */
export function checkKeyedSystem(system: unknown, blockKeys: ReadonlySet<string>, issues: Issues): void {
  if (system === undefined) return;
  checkKeyedBlocks(system, 'system', blockKeys, issues, 'E_INVALID_MODEL_INPUT');
}

function checkKeyedBlocks(
  content: unknown,
  path: string,
  blockKeys: ReadonlySet<string>,
  issues: Issues,
  blankCode: BlankCode,
): void {
  if (!Array.isArray(content) || content.length === 0) {
    issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `${path} must be a non-empty array of blocks like {"text":"..."}` });
    return;
  }
  for (let i = 0; i < content.length; i++) {
    const block: unknown = content[i];
    const at = `${path}[${i}]`;
    if (!isObject(block)) {
      issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `${at} must be an object like {"text":"..."}` });
      continue;
    }
    strayKeys(block, blockKeys, at, issues);
    let kinds = 0;
    for (const key in block) if (blockKeys.has(key)) kinds++;
    if (kinds !== 1) {
      issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `${at} must hold exactly one of ${[...blockKeys].join(', ')}` });
      continue;
    }
    if ('text' in block) blockText(block, at, blankCode, issues);
  }
}

/** System and message text of a keyed-block body, joined by newlines (for token estimates). */
export function keyedInputText(input: Record<string, unknown>): string {
  let text = joinTexts(input.system) ?? '';
  if (Array.isArray(input.messages)) {
    for (const m of input.messages) {
      if (!isObject(m)) continue;
      const t = joinTexts(m.content);
      if (t !== undefined) text = text ? `${text}\n${t}` : t;
    }
  }
  return text;
}

/** Whether an output has the shared answer shape: `{output:{message:{...}}}`. */
export function isKeyedOutput(output: unknown): output is Record<string, unknown> {
  return isObject(output) && isObject(output.output) && isObject(output.output.message);
}

/** Read `{output:{message:{content:[{text} or {toolUse}]}}, stopReason, usage:{inputTokens, outputTokens}}`. */
export function readKeyedOutput(output: unknown): ModelOutputSummary {
  const fields = fieldsOf(output);
  const message = fieldsOf(fieldsOf(fields.output).message);
  const usage = fieldsOf(fields.usage);
  const summary = outputSummary(joinTexts(message.content), fields.stopReason, usage.inputTokens, usage.outputTokens);
  if (Array.isArray(message.content)) {
    for (const block of message.content) {
      if (isObject(block) && isObject(block.toolUse) && 'input' in block.toolUse) {
        summary.toolInput = block.toolUse.input;
        break;
      }
    }
  }
  return summary;
}

// The local double's side (see local-double.ts): its own reading, none of the checks above.

/** The request of a keyed-block body; either spelling of the settings (`maxTokens`/`max_new_tokens`, `topP`/`top_p`). */
export function keyedRequest(input: Record<string, unknown>): ModelRequest {
  const config = objectOr(input.inferenceConfig);
  return withSettings(chatRequest(input.messages, input.system), config.maxTokens ?? config.max_new_tokens, config.temperature, config.topP ?? config.top_p);
}

/** The shared answer shape for a local answer: a `toolUse` block for a tool call, else the text. */
export function keyedAnswer(answer: ModelAnswer, context?: AnswerContext): Record<string, unknown> {
  const content = answer.tool
    ? [{ toolUse: { toolUseId: `tooluse_local_${context?.answerId ?? '0'}`, name: answer.tool.name, input: answer.tool.input } }]
    : [{ text: answer.text }];
  return {
    output: { message: { role: 'assistant', content } },
    stopReason: answer.stop === 'length' ? 'max_tokens' : answer.tool ? 'tool_use' : 'end_turn',
    usage: { inputTokens: answer.inputTokens, outputTokens: answer.outputTokens, totalTokens: answer.inputTokens + answer.outputTokens },
  };
}
