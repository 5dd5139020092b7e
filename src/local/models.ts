/**
 * The local service's pluggable model. A model answers one family-neutral request (see
 * responses.ts); the service wraps the answer in the job's family shape.
 *
 * - `extractiveSummariser()` (the default): deterministic and instant. It picks, from the call
 *   transcript in the prompt, the sentences that state the reason for the call, its resolution and
 *   the next steps, and labels its answer as a local stand-in. Same input, same output, always.
 *   A schema request (`request.structured`, which the families read from the request) gets fields
 *   valid for the schema instead (structured.ts): a forced tool's input for the tool way, the JSON
 *   text for the native and prompt ways. English and Spanish calls alike.
 * - `openAiChatModel({ url })`: any OpenAI-compatible chat-completions endpoint (a local llama.cpp,
 *   vLLM or Ollama server, or a hosted one), for realistic text without Bedrock. Its API key goes
 *   to that endpoint only: redirects to another origin are not followed, plain http to a host that
 *   is not this machine needs `allowInsecureHttp`, and the key is cut out of every error message.
 *
 * A model signals a per-record failure by throwing `ModelCallError`: the record gets an error line
 * `{errorCode, errorMessage}` instead of `modelOutput`, as Bedrock writes it.
 */
import { BatchError } from '../errors.js';
import { normalizeModelId } from '../models/ids.js';
import { requestText, type ModelAnswer, type ModelRequest } from './responses.js';
import { fieldsFor, toolAnswer, withoutInstruction } from './structured.js';
import { countTokens, cutToTokens } from './tokens.js';

export interface ModelContext {
  /** The job's model id as the job was created with it. */
  modelId: string;
  recordId: string;
  signal: AbortSignal;
}

export interface LocalModel {
  /** Shown in logs and in `serve`'s banner. */
  readonly name: string;
  /** Records one job may have in flight with this model at once (default 1). */
  readonly concurrency?: number;
  answer(request: ModelRequest, context: ModelContext): Promise<ModelAnswer> | ModelAnswer;
}

/** A per-record failure: the record's output line carries `error: {errorCode, errorMessage}`. */
export class ModelCallError extends Error {
  constructor(
    readonly errorCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'ModelCallError';
  }
}

export const STAND_IN_LABEL = '[local stand-in]';

export interface ExtractiveOptions {
  /** Put `[local stand-in]` before the summary (default true): nobody mistakes it for a real model's text. */
  label?: boolean;
}

export interface Sentence {
  text: string;
  speaker: 'customer' | 'agent' | 'other';
  /** Position in the transcript, 0..1. */
  at: number;
}

const REASON =
  /\b(?:calling (?:about|because|regarding|to)|the reason|issue|problem|trouble|complain\w*|(?:haven't|hasn't|didn't|never) (?:received|arrived|got|come|shown|worked|been)|wrong|broken|damaged|missing|overcharged|charged|charge|bill(?:ing|ed)?|refund|cancel\w*|i need|i want|i'd like|i would like|question about|not working|doesn't work|won't|can't|cannot|error|late|delay\w*|lost|llamo (?:por|porque|para)|el motivo|problema|queja|factura\w*|cobro\w*|reembolso|cancelar|necesito|quiero|quisiera|no funciona|no (?:me )?ha llegado|equivocad\w+|roto|rota|da(?:ñ|n)ad[oa])\b/gi;
/** What the agent did: counted twice. */
const RESOLUTION_DONE =
  /\b(?:i|we)(?:'ve| have| just| went ahead and| already)? (?:processed|issued|refunded|credited|applied|updated|reset|cancell?ed|arranged|scheduled|sent|fixed|resolved|reshipped|replaced|submitted|escalated|added|removed|changed|waived|corrected|initiated|generated|created|placed|expedited|upgraded|reversed)\b|\b(?:he|hemos|ya) (?:procesado|emitido|reembolsado|acreditado|aplicado|actualizado|restablecido|cancelado|programado|enviado|solucionado|resuelto|reemplazado|corregido|escalado|cambiado)\b/gi;
const RESOLUTION =
  /\b(?:refund(?:ed)?|credit(?:ed)?|replacement|resolved|fixed|processed|issued|waiv\w+|re-?ship\w*|escalat\w+|taken care of|all set|sorted|return label|discount|reembols\w*|solucionad[oa]|resuelt[oa]|procesad[oa]|arreglad[oa]|descuento)\b/gi;
/** Courtesy that states nothing: never a summary sentence if anything else will do. */
const COURTESY =
  /\b(?:don't hesitate|feel free|any other questions|anything else|thank you|thanks for|have a (?:great|good|nice|wonderful)|grateful|appreciate|loyalty|my pleasure|glad (?:i|to)|you're welcome|how can i (?:help|assist)|is there anything|gracias por|que tenga un buen|algo m(?:á|a)s|en qu(?:é|e) (?:puedo|le puedo) ayudar)\b/i;
const NEXT =
  /\b(?:will|you'll|we'll|i'll|within (?:\d+|a|an|one|two|three|five|seven|the next)|\d+(?:-\d+)? (?:business |working )?(?:days|hours|weeks)|follow(?:-| )?up|call (?:you )?back|email|expect|should (?:receive|arrive|see|get)|tracking|next step\w*|reach out|monitor|keep an eye|confirmation|recibir\w*|llamaremos|le llamar\w*|seguimiento|en (?:\d+|unos|los pr(?:ó|o)ximos) d(?:í|i)as|le enviaremos|nos pondremos en contacto)\b/gi;

function score(sentence: Sentence, pattern: RegExp): number {
  let hits = sentence.text.match(pattern)?.length ?? 0;
  if (pattern === RESOLUTION) hits += 2 * (sentence.text.match(RESOLUTION_DONE)?.length ?? 0);
  return hits > 0 && COURTESY.test(sentence.text) ? hits - 2.5 : hits;
}

/** Split a transcript into sentences, with who says them and where. */
export function sentencesOf(transcript: string): Sentence[] {
  const out: { text: string; speaker: Sentence['speaker'] }[] = [];
  let speaker: Sentence['speaker'] = 'other';
  for (const raw of transcript.split('\n')) {
    let line = raw.trim();
    if (!line) continue;
    const m = /^([A-Za-z][\w .'-]{0,30}?)\s*:\s+(.*)$/.exec(line);
    if (m) {
      const who = m[1]!.toLowerCase();
      speaker = /customer|caller|client|user|spk_1|speaker 2/.test(who) ? 'customer' : /agent|rep|support|service|spk_0|speaker 1/.test(who) ? 'agent' : 'other';
      line = m[2]!;
    }
    line = line.replace(/\*[^*\n]{1,60}\*/g, ' ').replace(/\s+/g, ' ').trim();
    for (const s of line.match(/[^.!?]+[.!?]+["')\]]*|[^.!?]+$/g) ?? []) {
      const text = s.trim();
      if (text.split(' ').length >= 4) out.push({ text, speaker });
    }
  }
  return out.map((s, i) => ({ ...s, at: out.length > 1 ? i / (out.length - 1) : 0 }));
}

/** The sentences of a transcript and the ones that state its reason, resolution and next steps. */
export interface SummaryParts {
  sentences: Sentence[];
  /** Undefined only when the transcript has no sentence. */
  reason?: Sentence;
  resolution?: Sentence;
  next?: Sentence;
}

/** Pick the reason, resolution and next-steps sentences of a transcript (each at most once). */
export function summaryParts(transcript: string): SummaryParts {
  const sentences = sentencesOf(transcript);
  if (sentences.length === 0) return { sentences };
  const used = new Set<Sentence>();
  const pick = (pattern: RegExp, bias: (s: Sentence) => number): Sentence | undefined => {
    let best: Sentence | undefined;
    let bestScore = 0;
    for (const s of sentences) {
      if (used.has(s)) continue;
      const hits = score(s, pattern);
      if (hits <= 0) continue;
      const total = hits + bias(s);
      if (total > bestScore) {
        best = s;
        bestScore = total;
      }
    }
    if (best) used.add(best);
    return best;
  };
  const reason =
    pick(REASON, (s) => (s.speaker === 'customer' ? 1.5 : 0) + (1 - s.at) * 2) ?? sentences.find((s) => s.speaker === 'customer') ?? sentences[0]!;
  used.add(reason);
  const resolution = pick(RESOLUTION, (s) => (s.speaker === 'agent' ? 1.5 : 0) + s.at);
  const next = pick(NEXT, (s) => (s.speaker === 'agent' ? 1 : 0) + s.at * 1.5 - (resolution && s.at < resolution.at ? 1 : 0));
  const parts: SummaryParts = { sentences, reason };
  if (resolution) parts.resolution = resolution;
  if (next) parts.next = next;
  return parts;
}

/** How strongly a sentence states next steps (0: not at all), for lists of them. */
export function nextStepScore(sentence: Sentence): number {
  return score(sentence, NEXT);
}

/** The extractive summary of a transcript: reason, resolution, next steps (each one sentence). */
export function extractiveSummary(transcript: string): string {
  const { reason, resolution, next } = summaryParts(transcript);
  if (!reason) return transcript.trim().slice(0, 400);
  return [
    `Reason: ${reason.text}`,
    `Resolution: ${resolution ? resolution.text : 'not stated in the call.'}`,
    `Next steps: ${next ? next.text : 'none stated.'}`,
  ].join('\n');
}

/** The transcript inside a prompt: between `<transcript>` tags when the prompt has them, else the whole text. */
export function transcriptOf(prompt: string): string {
  const m = /<transcript>([\s\S]*?)<\/transcript>/i.exec(prompt);
  return m ? m[1]! : prompt;
}

/** Cap an answer's text at the request's output budget, as a model would stop at it (tokens as tokens.ts counts them). */
export function withinBudget(text: string, request: ModelRequest): ModelAnswer {
  const inputTokens = Math.max(1, countTokens(requestText(request)));
  const outputTokens = Math.max(1, countTokens(text));
  const max = request.maxTokens;
  if (max !== undefined && max >= 0 && outputTokens > max) {
    const cut = cutToTokens(text, max);
    return { text: cut, inputTokens, outputTokens: Math.min(max, Math.max(1, countTokens(cut))), stop: 'length' };
  }
  return { text, inputTokens, outputTokens, stop: 'end' };
}

/** The default local model (see the module comment). */
export function extractiveSummariser(options: ExtractiveOptions = {}): LocalModel {
  const label = options.label !== false;
  return {
    name: 'extractive summariser (deterministic local stand-in)',
    answer(request) {
      const user = [...request.turns].reverse().find((t) => t.role === 'user')?.text ?? '';
      const ask = request.structured;
      if (ask) {
        // A schema request: fields valid for the schema, read from the call (structured.ts).
        const transcript = transcriptOf(withoutInstruction(user));
        const fields = fieldsFor(ask.schema, { transcript, ...summaryParts(transcript), nextScore: nextStepScore });
        if (ask.via === 'tool') return toolAnswer(ask, fields, request, Math.max(1, countTokens(requestText(request))));
        return withinBudget(JSON.stringify(fields), request);
      }
      const summary = extractiveSummary(transcriptOf(user));
      return withinBudget(label ? `${STAND_IN_LABEL} ${summary}` : summary, request);
    },
  };
}

export interface OpenAiChatOptions {
  /** The endpoint's base URL (`http://127.0.0.1:8080/v1`) or its full chat-completions URL. */
  url: string;
  /** The `model` to ask for (default: the job's base model id). */
  model?: string;
  /** Sent as `Authorization: Bearer ...`; never logged. Default: `OPENAI_API_KEY` from the environment. */
  apiKey?: string;
  /** Records in flight per job (default 4). */
  concurrency?: number;
  /** Per request (default 120 s). */
  timeoutMs?: number;
  /** Retries on 429 and 5xx, with a short backoff (default 2). */
  retries?: number;
  /**
   * Allow plain `http://` to a host that is not this machine (default false: refused, because the
   * API key and every transcript would cross the network unencrypted). `--allow-insecure-model-endpoint`.
   */
  allowInsecureHttp?: boolean;
}

const LOOPBACK_HOST = /^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;

/** The endpoint's URL, checked: http(s) only, no credentials in it, plain http only to this machine unless allowed. */
function endpointUrl(options: OpenAiChatOptions): URL {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new BatchError('E_BAD_OPTION', `the model endpoint "${options.url}" is not a URL`, { hint: 'e.g. http://127.0.0.1:8080/v1 or https://api.example.com/v1' });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new BatchError('E_BAD_OPTION', `the model endpoint ${url.origin === 'null' ? `"${url.protocol}"` : url.origin} is not http:// or https://`);
  }
  if (url.username || url.password) {
    throw new BatchError('E_BAD_OPTION', `the model endpoint ${url.origin} has credentials in its URL`, { hint: 'give the API key in OPENAI_API_KEY instead' });
  }
  if (url.protocol === 'http:' && !LOOPBACK_HOST.test(url.hostname) && options.allowInsecureHttp !== true) {
    throw new BatchError(
      'E_BAD_OPTION',
      `the model endpoint ${options.url} is plain http to another host: the API key and every transcript would cross the network unencrypted; use https://, or pass --allow-insecure-model-endpoint if that network is yours`,
      { hint: 'https:// for a remote endpoint; --allow-insecure-model-endpoint (allowInsecureHttp) accepts plain http knowingly' },
    );
  }
  return url;
}

/** Cut a secret (and any run of 8 or more of its characters) out of a text. */
export function redactSecret(text: string, secret: string | undefined): string {
  if (!secret || secret.length < 4) return text;
  return text.split(secret).join('[redacted]').replace(/[A-Za-z0-9_.+/=-]{8,}/g, (m) => (secret.includes(m) ? '[redacted]' : m));
}

/** A model that forwards each record to an OpenAI-compatible `/chat/completions` endpoint. */
export function openAiChatModel(options: OpenAiChatOptions): LocalModel {
  const checked = endpointUrl(options);
  const base = options.url.replace(/\/+$/, '');
  const url = /\/chat\/completions$/.test(base) ? base : `${base}/chat/completions`;
  const apiKey = options.apiKey ?? process.env.OPENAI_API_KEY;
  const timeoutMs = options.timeoutMs ?? 120_000;
  const retries = options.retries ?? 2;
  const where = checked.host;
  const origin = checked.origin;
  const clean = (text: string) => redactSecret(text, apiKey);
  return {
    name: `OpenAI-compatible endpoint ${origin}`,
    concurrency: options.concurrency ?? 4,
    async answer(request, context) {
      const messages: { role: string; content: string }[] = [];
      if (request.system) messages.push({ role: 'system', content: request.system });
      for (const t of request.turns) messages.push({ role: t.role, content: t.text });
      const body: Record<string, unknown> = { model: options.model ?? normalizeModelId(context.modelId), messages };
      if (request.maxTokens !== undefined) body.max_tokens = request.maxTokens;
      if (request.temperature !== undefined) body.temperature = request.temperature;
      if (request.topP !== undefined) body.top_p = request.topP;
      for (let attempt = 0; ; attempt++) {
        let res: Response;
        try {
          // Redirects are followed by hand, and only on the same origin: the key and the records go
          // to the configured endpoint and nowhere else.
          let target = url;
          for (let hop = 0; ; hop++) {
            res = await fetch(target, {
              method: 'POST',
              redirect: 'manual',
              headers: { 'content-type': 'application/json', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
              body: JSON.stringify(body),
              signal: AbortSignal.any([context.signal, AbortSignal.timeout(timeoutMs)]),
            });
            if (res.status < 300 || res.status > 399) break;
            await res.body?.cancel().catch(() => {});
            const location = res.headers.get('location');
            let next: URL | undefined;
            try {
              next = location ? new URL(location, target) : undefined;
            } catch {
              next = undefined;
            }
            if (next && next.origin === origin && (res.status === 307 || res.status === 308) && hop < 3) {
              target = next.href;
              continue;
            }
            throw new ModelCallError(
              502,
              clean(
                `the model endpoint ${where} answered with a redirect (${res.status}) to ${next ? (next.origin === origin ? next.pathname : next.origin) : 'nowhere'}: not followed (the API key and the records go to the configured endpoint only; give its final URL)`,
              ),
            );
          }
        } catch (err) {
          if (err instanceof ModelCallError) throw err;
          if (context.signal.aborted) throw err;
          if (attempt < retries) {
            await sleep(200 * 2 ** attempt);
            continue;
          }
          const cause = (err as Error & { cause?: Error }).cause;
          throw new ModelCallError(500, clean(`the model endpoint ${where} could not be reached: ${(err as Error).message}${cause?.message ? ` (${cause.message})` : ''}`));
        }
        const text = await res.text();
        if (!res.ok) {
          if ((res.status === 429 || res.status >= 500) && attempt < retries) {
            await sleep(200 * 2 ** attempt);
            continue;
          }
          throw new ModelCallError(res.status, clean(`the model endpoint ${where} answered ${res.status}: ${errorText(text)}`));
        }
        let data: any;
        try {
          data = JSON.parse(text);
        } catch {
          throw new ModelCallError(500, `the model endpoint ${where} answered with a body that is not JSON`);
        }
        const choice = data?.choices?.[0];
        const content = choice?.message?.content;
        if (typeof content !== 'string') throw new ModelCallError(500, `the model endpoint ${where} answered without choices[0].message.content`);
        const answer = withinBudget(content, { ...request, maxTokens: undefined } as ModelRequest);
        const usage = data?.usage ?? {};
        if (typeof usage.prompt_tokens === 'number') answer.inputTokens = usage.prompt_tokens;
        if (typeof usage.completion_tokens === 'number') answer.outputTokens = usage.completion_tokens;
        if (choice.finish_reason === 'length') answer.stop = 'length';
        return answer;
      }
    },
  };
}

function errorText(body: string): string {
  let message = body;
  try {
    const data = JSON.parse(body);
    message = typeof data?.error?.message === 'string' ? data.error.message : typeof data?.error === 'string' ? data.error : body;
  } catch {
    // not JSON: the raw text, shortened
  }
  const flat = message.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? `${flat.slice(0, 199)}…` : flat || '(empty body)';
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
