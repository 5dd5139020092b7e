/**
 * Checks for the message shape Amazon Nova (native) and the Converse API share: content blocks are
 * objects keyed by their kind (`{text}`, `{image}`, `{cachePoint}`, ...), `system` is `[{text}]`.
 */
import { hasText, isObject, joinTexts, strayKeys, type Issues } from './rules.js';

const MESSAGE_KEYS: ReadonlySet<string> = new Set(['role', 'content']);

/** `messages`: a non-empty array of `{role: user|assistant, content: [block, ...]}`; each block has one known key. */
export function checkKeyedMessages(messages: unknown, blockKeys: ReadonlySet<string>, issues: Issues): void {
  if (!Array.isArray(messages) || messages.length === 0) {
    issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: 'messages is required: a non-empty array of {role, content}' });
    return;
  }
  for (let i = 0; i < messages.length; i++) {
    const m: unknown = messages[i];
    const at = `messages[${i}]`;
    if (!isObject(m)) {
      issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `${at} must be an object {role, content}` });
      continue;
    }
    strayKeys(m, MESSAGE_KEYS, at, issues);
    if (m.role !== 'user' && m.role !== 'assistant') {
      issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `${at}.role must be "user" or "assistant"` });
    }
    checkKeyedBlocks(m.content, `${at}.content`, blockKeys, issues, 'E_MISSING_TEXT');
  }
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
  blankCode: 'E_MISSING_TEXT' | 'E_INVALID_MODEL_INPUT',
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
    if ('text' in block) {
      if (typeof block.text !== 'string') issues.push({ code: 'E_INVALID_MODEL_INPUT', reason: `${at}.text must be a string` });
      else if (!hasText(block.text)) issues.push({ code: blankCode, reason: `${at}.text is empty: the model needs some text` });
    }
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
