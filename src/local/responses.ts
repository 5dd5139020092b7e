/**
 * The local model's view of a record: what a `modelInput` asks (system text, turns, output budget),
 * and the `modelOutput` each family answers with (docs/bedrock.md §1.2):
 *
 *   anthropic   {id, type:"message", role, model, content:[{type:"text",text}], stop_reason, stop_sequence, usage:{input_tokens, output_tokens}}
 *   nova        {output:{message:{role, content:[{text}]}}, stopReason, usage:{inputTokens, outputTokens, totalTokens}}
 *   converse    nova's shape plus metrics:{latencyMs}
 *   titan-text  {inputTextTokenCount, results:[{tokenCount, outputText, completionReason}]}
 *   llama       {generation, prompt_token_count, generation_token_count, stop_reason}
 *   mistral     {outputs:[{text, stop_reason}]}
 *
 * Each family's `readOutput` (src/models) reads these back; the tests check the round trip.
 */
import { createHash } from 'node:crypto';
import type { FamilyName } from '../models/family.js';
import { normalizeModelId } from '../models/ids.js';

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

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const numOf = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

function blocksText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((b) => (isObj(b) && typeof b.text === 'string' ? b.text : ''))
    .filter(Boolean)
    .join('\n');
}

function turnsOf(messages: unknown): ChatTurn[] {
  if (!Array.isArray(messages)) return [];
  return messages
    .filter(isObj)
    .map((m) => ({ role: m.role === 'assistant' ? ('assistant' as const) : ('user' as const), text: blocksText(m.content) }));
}

const LLAMA_TURN = /<\|(?:start_header_id|header_start)\|>(system|user|assistant)<\|(?:end_header_id|header_end)\|>\n\n([\s\S]*?)(?=<\|(?:eot_id|eot)\|>|$)/g;

function withOptional(req: ModelRequest, maxTokens: unknown, temperature: unknown, topP: unknown): ModelRequest {
  const m = numOf(maxTokens);
  const t = numOf(temperature);
  const p = numOf(topP);
  if (m !== undefined) req.maxTokens = m;
  if (t !== undefined) req.temperature = t;
  if (p !== undefined) req.topP = p;
  return req;
}

/** The request a `modelInput` of `family` makes. Never throws: unknown shapes give what can be read. */
export function requestOf(family: FamilyName, input: Record<string, unknown>): ModelRequest {
  switch (family) {
    case 'anthropic': {
      const req: ModelRequest = { turns: turnsOf(input.messages) };
      const system = blocksText(input.system);
      if (system) req.system = system;
      return withOptional(req, input.max_tokens, input.temperature, input.top_p);
    }
    case 'nova':
    case 'converse': {
      const req: ModelRequest = { turns: turnsOf(input.messages) };
      const system = blocksText(input.system);
      if (system) req.system = system;
      const c = isObj(input.inferenceConfig) ? input.inferenceConfig : {};
      return withOptional(req, c.maxTokens ?? c.max_new_tokens, c.temperature, c.topP ?? c.top_p);
    }
    case 'titan-text': {
      const text = typeof input.inputText === 'string' ? input.inputText : '';
      const m = /^([\s\S]*?)User: ([\s\S]*?)\nBot:\s*$/.exec(text);
      const req: ModelRequest = m ? { turns: [{ role: 'user', text: m[2]! }] } : { turns: [{ role: 'user', text }] };
      if (m && m[1]!.trim()) req.system = m[1]!.trim();
      const c = isObj(input.textGenerationConfig) ? input.textGenerationConfig : {};
      return withOptional(req, c.maxTokenCount, c.temperature, c.topP);
    }
    case 'llama': {
      const prompt = typeof input.prompt === 'string' ? input.prompt : '';
      const req: ModelRequest = { turns: [] };
      for (const m of prompt.matchAll(LLAMA_TURN)) {
        if (m[1] === 'system') req.system = m[2]!;
        else if (m[2]!.length > 0 || m[1] === 'user') req.turns.push({ role: m[1] as 'user' | 'assistant', text: m[2]! });
      }
      if (req.turns.length === 0) req.turns.push({ role: 'user', text: prompt });
      return withOptional(req, input.max_gen_len, input.temperature, input.top_p);
    }
    case 'mistral': {
      const prompt = typeof input.prompt === 'string' ? input.prompt : '';
      const m = /^(?:<s>)?\s*\[INST\]\s*([\s\S]*?)\s*\[\/INST\]\s*$/.exec(prompt);
      const req: ModelRequest = { turns: [{ role: 'user', text: m ? m[1]! : prompt }] };
      return withOptional(req, input.max_tokens, input.temperature, input.top_p);
    }
  }
}

/** All the text a request sends (for token counts). */
export function requestText(req: ModelRequest): string {
  return [req.system ?? '', ...req.turns.map((t) => t.text)].filter(Boolean).join('\n');
}

/** The id the local stand-in reports in place of the real model's: it says what it is. */
export function standInModelName(modelId: string): string {
  return `bedrock-batch-local-stand-in (for ${normalizeModelId(modelId)})`;
}

/** The `modelOutput` of `family` for an answer. */
export function modelOutputFor(
  family: FamilyName,
  modelId: string,
  answer: ModelAnswer,
  context: { recordId: string; latencyMs?: number },
): Record<string, unknown> {
  const ended = answer.stop === 'end';
  switch (family) {
    case 'anthropic':
      return {
        id: `msg_bdrk_local_${createHash('sha256').update(`${modelId}\n${context.recordId}`).digest('hex').slice(0, 24)}`,
        type: 'message',
        role: 'assistant',
        model: standInModelName(modelId),
        content: [{ type: 'text', text: answer.text }],
        stop_reason: ended ? 'end_turn' : 'max_tokens',
        stop_sequence: null,
        usage: { input_tokens: answer.inputTokens, output_tokens: answer.outputTokens },
      };
    case 'nova':
    case 'converse': {
      const out: Record<string, unknown> = {
        output: { message: { role: 'assistant', content: [{ text: answer.text }] } },
        stopReason: ended ? 'end_turn' : 'max_tokens',
        usage: { inputTokens: answer.inputTokens, outputTokens: answer.outputTokens, totalTokens: answer.inputTokens + answer.outputTokens },
      };
      if (family === 'converse') out.metrics = { latencyMs: Math.max(0, Math.round(context.latencyMs ?? 0)) };
      return out;
    }
    case 'titan-text':
      return {
        inputTextTokenCount: answer.inputTokens,
        results: [{ tokenCount: answer.outputTokens, outputText: answer.text, completionReason: ended ? 'FINISH' : 'LENGTH' }],
      };
    case 'llama':
      return {
        generation: answer.text,
        prompt_token_count: answer.inputTokens,
        generation_token_count: answer.outputTokens,
        stop_reason: ended ? 'stop' : 'length',
      };
    case 'mistral':
      return { outputs: [{ text: answer.text, stop_reason: ended ? 'stop' : 'length' }] };
  }
}

/**
 * The family of a `modelInput` judged by its shape, for models the id alone cannot place (custom
 * models, application inference profiles). Undefined when the shape is not one we know.
 */
export function familyOfShape(input: Record<string, unknown>): FamilyName | undefined {
  if (typeof input.anthropic_version === 'string') return 'anthropic';
  if (typeof input.inputText === 'string') return 'titan-text';
  if (typeof input.prompt === 'string') return /\[INST\]/.test(input.prompt) ? 'mistral' : 'llama';
  if (Array.isArray(input.messages)) return 'converse';
  return undefined;
}
