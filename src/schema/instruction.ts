/**
 * The JSON-only instruction: what a record asking for structured fields the `prompt` way
 * (docs/structured.md) carries after its prompt, in the same user turn. It says to answer with one
 * JSON object and nothing else, and holds the schema between `<json_schema>` and `</json_schema>`,
 * where the local double finds it (src/models/local-double.ts reads it on its own, from these
 * documented markers). Nothing is guaranteed by it: collect validates every answer.
 *
 * A leaf module: the model families import it to build and to tell the instruction from the prompt.
 */

/** The first words of the instruction: the families' blank-prompt checks cut the user turn here. */
export const JSON_INSTRUCTION_HEAD = 'Answer with one JSON object and nothing else';
export const SCHEMA_OPEN = '<json_schema>';
export const SCHEMA_CLOSE = '</json_schema>';
/** What separates the prompt from the instruction in a string prompt (Llama, Mistral, Titan). */
export const INSTRUCTION_SEPARATOR = '\n\n';

const cache = new WeakMap<object, string>();

/**
 * The instruction for `schema` (built once per schema object: every record of a run shares it). A
 * marker inside the schema's own text (a description) is written `\u003c...`, still the same JSON.
 */
export function jsonInstruction(schema: Record<string, unknown>): string {
  let text = cache.get(schema);
  if (text === undefined) {
    text =
      `${JSON_INSTRUCTION_HEAD}: no prose before or after it, no code fence. ` +
      'It must follow this JSON Schema (give every required property, no others):\n' +
      `${SCHEMA_OPEN}\n${JSON.stringify(schema).replace(/<(\/?json_schema>)/g, '\\u003c$1')}\n${SCHEMA_CLOSE}`;
    cache.set(schema, text);
  }
  return text;
}

/** `prompt` with the instruction after it, as string-prompt families put it into their user turn. */
export function withJsonInstruction(prompt: string, schema: Record<string, unknown>): string {
  return `${prompt}${INSTRUCTION_SEPARATOR}${jsonInstruction(schema)}`;
}

/**
 * The text before an instruction that ends `text` (the prompt of a user turn built by
 * `withJsonInstruction`), or `text` itself when it does not end with one.
 */
export function withoutJsonInstruction(text: string): string {
  if (!text.endsWith(SCHEMA_CLOSE)) return text;
  const at = text.lastIndexOf(INSTRUCTION_SEPARATOR + JSON_INSTRUCTION_HEAD);
  return at < 0 ? text : text.slice(0, at);
}
