/**
 * The local stand-in's answers to schema requests (docs/structured.md): fields that are valid for the
 * record's JSON Schema, derived from the call transcript, and, for the `invalid-fields` fault, the
 * same answer spoiled so that it does not validate (to rehearse collect's invalid → retry path).
 *
 * How each kind of property is filled (the supported subset: string, enum, number, integer, boolean,
 * array of string, and objects of those, as items or nested):
 * - enum: the value whose topic the transcript mentions most, by keyword rules in English and Spanish
 *   (billing/factura/cobro → billing, cancel/cancelar → cancellation, ...); sentiment, owner and
 *   language enums by their own rules; else a value like `other`, else a deterministic hash pick;
 * - boolean: keyword rules by the property's name (resolved, follow-up, escalated, refund), else a hash;
 * - string: the sentence the extractive summariser picks for it (reason, resolution, next steps),
 *   prefixed `[local stand-in] ` so nobody mistakes it for a model's text;
 * - number and integer: within minimum/maximum (sentiment-like names follow the customer's tone);
 * - array: topics or next steps from the transcript within minItems/maxItems, items within an
 *   items enum when there is one.
 * Every `properties` entry is answered (required or not) and nothing outside them. The same schema
 * and transcript always give the same answer: every choice is a keyword count or a hash of the two.
 *
 * The schema comes from `request.structured`, which each family's `readRequest` fills from the
 * request (the tool's input schema, the structured-outputs format, or the prompt's `<json_schema>`
 * block). Only the types of ./models.js are imported here (no cycle): models.ts hands over the sentences.
 */
import { createHash } from 'node:crypto';
import { isObject } from '../core/values.js';
import type { ModelAnswer, ModelRequest, StructuredAsk } from '../models/local-double.js';
import { JSON_INSTRUCTION_HEAD, SCHEMA_CLOSE, SCHEMA_OPEN } from '../schema/instruction.js';
import type { Sentence, SummaryParts } from './models.js';
import { countTokens } from './tokens.js';

/** The label every free-text field starts with. */
export const FIELD_LABEL = '[local stand-in] ';

/** What the generator reads of a call. */
export interface CallReading extends SummaryParts {
  transcript: string;
  /** How strongly a sentence states next steps (0: not at all). */
  nextScore(sentence: Sentence): number;
}

/**
 * A user turn without the JSON-only instruction of the `prompt` way (from its first words to the end
 * of its `<json_schema>` block), so that the schema's own words are not read as the call's.
 */
export function withoutInstruction(text: string): string {
  const close = text.lastIndexOf(SCHEMA_CLOSE);
  if (close < 0) return text;
  const open = text.lastIndexOf(SCHEMA_OPEN, close);
  const head = text.lastIndexOf(JSON_INSTRUCTION_HEAD, open < 0 ? close : open);
  const from = head >= 0 ? head : open >= 0 ? open : close;
  return `${text.slice(0, from)}${text.slice(close + SCHEMA_CLOSE.length)}`;
}

/**
 * The tool way's answer: a forced tool call whose input is the fields (no text), named as the request
 * names its tool. Output tokens are the fields' JSON as tokens.ts counts it; over the request's budget
 * the answer stops with `length` (the fields are kept whole: the stand-in's answers are short).
 */
export function toolAnswer(ask: StructuredAsk, fields: unknown, request: ModelRequest, inputTokens: number): ModelAnswer {
  const outputTokens = Math.max(1, countTokens(JSON.stringify(fields)));
  const max = request.maxTokens;
  const over = max !== undefined && max >= 0 && outputTokens > max;
  return { text: '', inputTokens, outputTokens: over ? max : outputTokens, stop: over ? 'length' : 'end', tool: { name: ask.name ?? 'answer', input: fields } };
}

// ---------------------------------------------------------------------------------------------
// Keyword rules. Each topic has a pattern for enum values that name it and one for the call's text.

interface Topic {
  /** The topic's name: a short English keyword (topic lists use it whatever the call's language, so calls count together). */
  name: string;
  value: RegExp;
  text: RegExp;
}

const TOPICS: readonly Topic[] = [
  {
    name: 'billing',
    value: /bill|invoice|charg|payment|factur|cobr|pago|\bfees?\b/,
    text: /\b(?:bill\w*|invoice\w*|charg\w*|overcharg\w*|payments?|paid|declined|fees?|factura\w*|cobr\w*|cargos?|pagos?|pagar|tarjeta|rechazad[oa])\b/gi,
  },
  {
    name: 'cancellation',
    value: /cancel|baja|churn/,
    text: /\b(?:cancel\w*|terminate|close my account|unsubscribe|darme de baja|dar de baja|la baja)\b/gi,
  },
  {
    name: 'refund',
    value: /refund|reembols|money back/,
    text: /\b(?:refund\w*|money back|reembols\w*|devolverme el dinero|devoluci(?:ó|o)n del dinero)\b/gi,
  },
  {
    name: 'delivery',
    value: /deliver|\bship|track|order status|env[ií]o|entrega|paquete/,
    text: /\b(?:deliver\w*|ship\w*|tracking|package|parcel|courier|carrier|arriv\w+|hasn't arrived|never arrived|env(?:í|i)os?|entrega\w*|paquete\w*|pedido|repartidor|no (?:me )?ha llegado)\b/gi,
  },
  {
    name: 'returns',
    value: /return|exchange|devol|cambio/,
    text: /\b(?:return\w*|exchange\w*|send it back|devoluci(?:ó|o)n|devolver|cambiar el producto)\b/gi,
  },
  {
    name: 'technical',
    value: /tech|bug|outage|internet|connect|t[eé]cnic|error|troubleshoot/,
    text: /\b(?:not working|doesn't work|won't (?:turn on|load|connect|start)|error\w*|crash\w*|bug|outage|internet|wi-?fi|connection|reboot|restart|troubleshoot\w*|no funciona|conexi(?:ó|o)n|reiniciar|se cae|aver(?:í|i)a)\b/gi,
  },
  {
    name: 'account',
    value: /account|login|password|profile|cuenta|contrase|acceso/,
    text: /\b(?:account\w*|log ?in|sign ?in|password|username|profile|locked out|cuenta|contraseña|usuario|perfil|acceso|iniciar sesi(?:ó|o)n)\b/gi,
  },
  {
    name: 'product',
    value: /product|quality|defect|damag|producto|defect/,
    text: /\b(?:defect\w*|damaged|broken|faulty|quality|wrong (?:item|size|color|colour)|defectuos[oa]|da(?:ñ|n)ad[oa]|rot[oa]|calidad)\b/gi,
  },
  {
    name: 'promotion',
    value: /promo|discount|coupon|offer|deal|descuento|cup[oó]n|oferta/,
    text: /\b(?:promo\w*|discount\w*|coupon\w*|offer\w*|deal|voucher|promoci(?:ó|o)n|descuento\w*|cup(?:ó|o)n|oferta\w*)\b/gi,
  },
  {
    name: 'complaint',
    value: /complain|queja|reclam|grievance/,
    text: /\b(?:complain\w*|unacceptable|ridiculous|queja\w*|reclamaci(?:ó|o)n|inaceptable)\b/gi,
  },
  {
    name: 'fraud',
    value: /fraud|unauthori|stolen|scam|fraude|robad/,
    text: /\b(?:fraud\w*|unauthori[sz]ed|stolen|scam|didn't make (?:this|that) (?:purchase|charge)|fraude|robad[oa]|no reconozco)\b/gi,
  },
  {
    name: 'sales',
    value: /\bsales?\b|purchase|\bbuy|upgrade|venta|compra|\bplans?\b/,
    text: /\b(?:buy|purchas\w*|upgrade\w*|new plan|subscribe|comprar|compra|contratar|mejorar mi plan)\b/gi,
  },
  {
    name: 'information',
    value: /^info|question|inquir|enquir|consult|pregunta/,
    text: /\b(?:question about|questions? (?:on|regarding)|wondering|i wanted to know|can you (?:tell|explain)|how do i|how does|information|pregunta\w*|quer(?:í|i)a saber|informaci(?:ó|o)n|c(?:ó|o)mo funciona)\b/gi,
  },
  {
    name: 'urgent',
    value: /^(?:high|urgent|critical|alta|urgente|cr[ií]tica)$/,
    text: /\b(?:urgent\w*|asap|immediately|right away|emergency|urgente|inmediat\w+|cuanto antes|emergencia)\b/gi,
  },
  {
    name: 'spanish',
    value: /^(?:es|spa|spanish|espa[ñn]ol|castellano)$/,
    text: /\b(?:el|la|los|las|que|por|para|con|una|usted|gracias|pero|muy|est(?:á|a)|hola|s(?:í|i)|tengo|quiero|puedo)\b/gi,
  },
  {
    name: 'english',
    value: /^(?:en|eng|english|ingl[eé]s)$/,
    text: /\b(?:the|and|you|that|for|with|this|thank|have|is|are|my|can)\b/gi,
  },
  {
    name: 'agent',
    value: /^(?:agent|agents|rep|representative|company|the company|support team|team|business|staff|us|agente|empresa|compa(?:ñ|n)(?:í|i)a)$/,
    text: /\b(?:i'll|we'll|i will|we will|let me|our team|we're going to|i'm going to|i've|we've|le enviaremos|vamos a|voy a|hemos|le llamaremos|nos pondremos)\b/gi,
  },
  {
    name: 'customer',
    value: /^(?:customer|customers|caller|client|user|cliente|usuario)$/,
    text: /\b(?:you'll need|you need|you should|you can|you will need|please (?:send|call|check|make sure|keep)|make sure you|debe|deber(?:á|a)|tendr(?:á|a) que|necesita|puede usted)\b/gi,
  },
];

/** Enum values for "none of the above": chosen when no rule speaks for any value. */
const CATCH_ALL = /^(?:other|others|general|misc\w*|unknown|none|n\/a|na|otros?|otras?|ninguno|desconocido|general inquiry|general enquiry)$/;

const POSITIVE =
  /\b(?:thank\w*|great|perfect|wonderful|excellent|appreciate\w*|happy|glad|awesome|relieved|helpful|fantastic|pleased|gracias|perfecto|excelente|genial|estupendo|content[oa]|agradezco|amable|maravillos[oa])\b/gi;
const NEGATIVE =
  /\b(?:frustrat\w*|angry|upset|annoy\w*|worried|concerned|ridiculous|unacceptable|terrible|awful|disappoint\w*|furious|stress\w*|anxious\w*|ugh|confus\w*|irritat\w*|sighs?|molest[oa]|frustrad[oa]|enfadad[oa]|enojad[oa]|preocupad[oa]|inaceptable|hart[oa]|decepcionad[oa]|furios[oa])\b/gi;

const RESOLVED_YES =
  /\b(?:resolved|fixed|solved|taken care of|all set|sorted|works now|working now|(?:i|we)(?:'ve| have)? (?:processed|issued|refunded|credited|reset|updated|cancell?ed|replaced|reshipped|waived|corrected)|solucionad[oa]|resuelt[oa]|arreglad[oa]|ya funciona|(?:he|hemos) (?:procesado|emitido|reembolsado|cancelado|actualizado|corregido|enviado|aplicado))\b/gi;
const RESOLVED_NO =
  /\b(?:not (?:been )?(?:resolved|fixed|solved|sorted)|(?:still|yet) (?:not|isn't|hasn't|doesn't|can't|unable)|unresolved|no (?:se ha|est(?:á|a)|ha sido) (?:resuelt|solucionad|arreglad)\w*|sigue sin|todav(?:í|i)a no|a(?:ú|u)n no|escalat\w+)\b/gi;
const FOLLOW_UP_YES =
  /\b(?:call (?:you )?back|follow(?:-| )?up|get back to you|reach out to you|(?:we|i)(?:'ll| will) (?:contact|call|email|reach)|(?:le|te) (?:llamaremos|llamar(?:é|e)|volveremos a llamar|volver(?:é|e) a llamar|contactaremos|contactar(?:é|e)|escribiremos)|seguimiento|nos pondremos en contacto)\b/gi;
const FOLLOW_UP_NO = /\b(?:no (?:need|further action)|nothing (?:else|more) (?:is )?needed|no hace falta|no es necesario)\b/gi;
const ESCALATED = /\b(?:escalat\w+|supervisor|manager|specialist|second level|escalad[oa]|escalar|especialista|encargad[oa])\b/gi;
const REFUNDED = /\b(?:refund\w*|credit(?:ed)? (?:back|to your)|money back|reembols\w*)\b/gi;

function hits(pattern: RegExp, text: string): number {
  return text.match(pattern)?.length ?? 0;
}

/** The words of a property's name (`sentimentAtStart`, `sentiment_start` → sentiment, at, start), lower case. */
function nameWords(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9áéíóúñü]+/)
    .filter(Boolean);
}

const has = (words: readonly string[], pattern: RegExp) => words.some((w) => pattern.test(w));

// ---------------------------------------------------------------------------------------------
// The generator.

interface Place {
  /** JSON pointer of the value, for hashes. */
  path: string;
  /** The words of the property's own name (the array's, for its items). */
  words: string[];
  /** The words of the names of the objects and arrays it is in. */
  context: string[];
  /** The text the value is about: the whole call, or one sentence for an item of a list. */
  focus: string;
  /** The sentence an item is about (for string items). */
  sentence?: Sentence;
}

/** The JSON types a schema allows, `null` last. */
function typesOf(schema: Record<string, unknown>): string[] {
  const t = schema.type;
  const list = typeof t === 'string' ? [t] : Array.isArray(t) ? t.filter((x): x is string => typeof x === 'string') : [];
  if (list.length === 0) {
    if (Array.isArray(schema.enum)) return ['enum'];
    if (isObject(schema.properties)) return ['object'];
    if (isObject(schema.items)) return ['array'];
    return ['string'];
  }
  return [...list.filter((x) => x !== 'null'), ...list.filter((x) => x === 'null')];
}

class Generator {
  private readonly text: string;
  private readonly salt: string;
  private readonly spanish: boolean;

  constructor(private readonly call: CallReading) {
    this.text = call.transcript;
    this.salt = createHash('sha256').update(call.transcript).digest('hex');
    this.spanish = hits(TOPICS.find((t) => t.name === 'spanish')!.text, this.text) > hits(TOPICS.find((t) => t.name === 'english')!.text, this.text);
  }

  /** A number in [0, 1) from the call and a place: the same pair always gives the same number. */
  private hash(path: string): number {
    return createHash('sha256').update(`${this.salt}\n${path}`).digest().readUInt32BE(0) / 2 ** 32;
  }

  value(schema: unknown, place: Place): unknown {
    if (!isObject(schema)) return null;
    if (Object.hasOwn(schema, 'const')) return schema.const;
    if (Array.isArray(schema.enum) && schema.enum.length > 0) return this.enumValue(schema.enum, place);
    for (const key of ['anyOf', 'oneOf'] as const) {
      const branches = schema[key];
      if (Array.isArray(branches)) {
        const branch = branches.find((b) => isObject(b) && !(b.type === 'null')) ?? branches[0];
        if (branch !== undefined) return this.value(branch, place);
      }
    }
    switch (typesOf(schema)[0]) {
      case 'object':
        return this.object(schema, place);
      case 'array':
        return this.array(schema, place);
      case 'boolean':
        return this.boolean(place);
      case 'number':
        return this.number(schema, place, false);
      case 'integer':
        return this.number(schema, place, true);
      case 'null':
        return null;
      default:
        return this.string(schema, place);
    }
  }

  private object(schema: Record<string, unknown>, place: Place): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const properties = isObject(schema.properties) ? schema.properties : {};
    for (const [name, sub] of Object.entries(properties)) {
      out[name] = this.value(sub, { ...place, path: `${place.path}/${name}`, words: nameWords(name), context: [...place.context, ...place.words] });
    }
    return out;
  }

  /** An enum value: sentiment, yes/no, then topic rules; else a catch-all value; else a hash pick. */
  private enumValue(values: unknown[], place: Place): unknown {
    const labels = values.map((v) => String(v).toLowerCase().replace(/[_-]+/g, ' ').trim());
    if (has([...place.words, ...place.context], /^(?:sentiment|mood|tone|emotion|feeling|feelings|satisfaction|csat|sentimiento|(?:á|a)nimo|emoci(?:ó|o)n|tono)$/)) {
      const i = this.sentimentChoice(labels, place);
      if (i >= 0) return values[i];
    }
    if (has(place.words, /^(?:owner|who|responsible|responsable|assignee)$/)) {
      const i = this.ownerChoice(labels, place);
      if (i >= 0) return values[i];
    }
    const yes = labels.findIndex((l) => /^(?:yes|true|y|s(?:í|i))$/.test(l));
    const no = labels.findIndex((l) => /^(?:no|false|n)$/.test(l));
    if (yes >= 0 && no >= 0) return values[this.boolean(place) ? yes : no];
    let best = -1;
    let bestScore = 0;
    labels.forEach((label, i) => {
      const s = this.placeScore(label, place);
      if (s > bestScore) {
        best = i;
        bestScore = s;
      }
    });
    if (best >= 0) return values[best];
    const other = labels.findIndex((l) => CATCH_ALL.test(l));
    if (other >= 0) return values[other];
    return values[Math.floor(this.hash(place.path) * values.length)];
  }

  /**
   * How much the call speaks for an enum value (`topicScore`). For the whole call, what the customer
   * says counts (agents say "your account" in every call), the reason for the call three times more.
   */
  private placeScore(label: string, place: Place): number {
    if (place.sentence || place.focus !== this.text) return this.topicScore(label, place.focus);
    return this.topicScore(label, this.customerText()) + 3 * this.topicScore(label, this.call.reason?.text ?? '');
  }

  private customerTextMemo: string | undefined;

  /** What the customer says (the whole call when no line names the customer). */
  private customerText(): string {
    if (this.customerTextMemo === undefined) {
      const lines = this.customerLines();
      this.customerTextMemo = lines.length > 0 ? lines.join('\n') : this.text;
    }
    return this.customerTextMemo;
  }

  /**
   * How much `focus` speaks for an enum value: the keywords of the topics it names, or, for a value
   * that names none, its own words (`warranty` counts "warranty", "warranties").
   */
  private topicScore(label: string, focus: string): number {
    let score = 0;
    let named = false;
    for (const topic of TOPICS) {
      if (!topic.value.test(label)) continue;
      named = true;
      score += hits(topic.text, focus);
    }
    if (named) return score;
    for (const word of label.split(/\s+/)) {
      if (word.length >= 4 && !CATCH_ALL.test(word)) score += hits(new RegExp(`\\b${word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\w*`, 'gi'), focus);
    }
    return score;
  }

  /** The customer's tone in [-1, 1] (0 when nothing is said either way), and how much was said. */
  private tone(place: Place): { polarity: number; said: number } {
    const words = [...place.words, ...place.context];
    const customer = this.customerLines();
    let lines = customer.length > 0 ? customer : this.text.split('\n');
    const third = Math.max(1, Math.ceil(lines.length / 3));
    if (has(words, /^(?:start|starting|begin|beginning|initial|opening|open|first|inicio|inicial|comienzo|principio)$/)) lines = lines.slice(0, third);
    else if (has(words, /^(?:end|ending|final|closing|close|last|finish|fin|cierre)$/)) lines = lines.slice(-third);
    const text = lines.join('\n');
    const pos = hits(POSITIVE, text);
    const neg = hits(NEGATIVE, text);
    return { polarity: pos + neg === 0 ? 0 : (pos - neg) / (pos + neg), said: pos + neg };
  }

  /** The second half of the call's lines. */
  private laterHalf(): string {
    const lines = this.text.split('\n').filter((l) => l.trim() !== '');
    return lines.slice(Math.floor(lines.length / 2)).join('\n');
  }

  /** The customer's lines, stage directions (`*sighs*`) kept: they carry the tone. */
  private customerLines(): string[] {
    const out: string[] = [];
    let customer = false;
    for (const raw of this.text.split('\n')) {
      const m = /^\s*([A-Za-z][\w .'-]{0,30}?)\s*:\s+(.*)$/.exec(raw);
      if (m) customer = /customer|caller|client|user|spk_1|speaker 2/.test(m[1]!.toLowerCase());
      if (customer && raw.trim()) out.push(m ? m[2]! : raw);
    }
    return out;
  }

  private sentimentChoice(labels: string[], place: Place): number {
    const { polarity, said } = this.tone(place);
    const kind = (l: string) =>
      /neg|angry|frustrat|upset|bad|unhappy|annoyed|dissatisf|poor|enojad|molest|insatisf|mal/.test(l)
        ? 'negative'
        : /pos|happy|satisf|good|great|pleased|content|feliz|bien|buen/.test(l)
          ? 'positive'
          : /mix|mixt/.test(l)
            ? 'mixed'
            : /neu|calm|ok|okay|indifferent|normal/.test(l)
              ? 'neutral'
              : 'unknown';
    const kinds = labels.map(kind);
    const want = said === 0 ? 'neutral' : polarity > 0.2 ? 'positive' : polarity < -0.2 ? 'negative' : 'mixed';
    const strong = Math.abs(polarity) > 0.6 && said >= 3;
    const of = (k: string) => {
      const all = kinds.map((x, i) => (x === k ? i : -1)).filter((i) => i >= 0);
      if (all.length <= 1) return all[0] ?? -1;
      const very = all.find((i) => /very|strong|extreme|muy/.test(labels[i]!));
      const mild = all.find((i) => !/very|strong|extreme|muy/.test(labels[i]!));
      return (strong ? very : mild) ?? all[0]!;
    };
    for (const k of want === 'mixed' ? ['mixed', 'neutral', polarity >= 0 ? 'positive' : 'negative'] : want === 'neutral' ? ['neutral', 'mixed'] : [want, 'mixed', 'neutral']) {
      const i = of(k);
      if (i >= 0) return i;
    }
    return -1;
  }

  /** A boolean by the keyword rules its name calls for; a hash when the call says nothing either way. */
  private boolean(place: Place): boolean {
    const words = place.words;
    const focus = place.focus;
    let yes = 0;
    let no = 0;
    if (has(words, /^(?:resolved|resolve|resolution|solved|fixed|resuelto|resuelta|solucionado|solucionada|resoluci(?:ó|o)n|issue|problem)$/)) {
      // How the call ends tells: the problem stated at the start ("still hasn't arrived") does not.
      const outcome = place.sentence ? focus : this.laterHalf();
      yes = hits(RESOLVED_YES, outcome);
      no = hits(RESOLVED_NO, outcome);
    } else if (has(words, /^(?:follow|followup|callback|call|back|contact|seguimiento|llamada|recontact)$/)) {
      yes = hits(FOLLOW_UP_YES, focus);
      no = hits(FOLLOW_UP_NO, focus);
    } else if (has(words, /^(?:escalated|escalation|escalate|supervisor|escalado|escalada)$/)) {
      yes = hits(ESCALATED, focus);
    } else if (has(words, /^(?:refund|refunded|reembolso|reembolsado)$/)) {
      yes = hits(REFUNDED, focus);
    } else {
      yes = words.filter((w) => w.length >= 5).reduce((n, w) => n + hits(new RegExp(`\\b${w}\\w*`, 'gi'), focus), 0);
    }
    if (yes === 0 && no === 0) return this.hash(place.path) < 0.5;
    return yes > no;
  }

  private number(schema: Record<string, unknown>, place: Place, integer: boolean): number {
    const num = (k: string) => (typeof schema[k] === 'number' && Number.isFinite(schema[k]) ? (schema[k] as number) : undefined);
    const exMin = num('exclusiveMinimum');
    const exMax = num('exclusiveMaximum');
    let lo = num('minimum');
    let hi = num('maximum');
    const step = integer ? 1 : 0.01;
    if (exMin !== undefined) lo = Math.max(lo ?? -Infinity, exMin + step);
    if (exMax !== undefined) hi = Math.min(hi ?? Infinity, exMax - step);
    if (lo === undefined && hi === undefined) [lo, hi] = [0, integer ? 10 : 100];
    else if (lo === undefined) lo = hi! - 10;
    else if (hi === undefined) hi = lo + 10;
    if (integer) [lo, hi] = [Math.ceil(lo!), Math.floor(hi!)];
    if (hi! < lo!) return lo!;
    let at = this.hash(place.path);
    if (has([...place.words, ...place.context], /^(?:sentiment|mood|tone|satisfaction|csat|score|rating|sentimiento|satisfacci(?:ó|o)n)$/)) {
      const { polarity } = this.tone(place);
      at = (polarity + 1) / 2;
    }
    const multiple = num('multipleOf');
    let value = lo! + at * (hi! - lo!);
    if (multiple !== undefined && multiple > 0) {
      value = Math.ceil(lo! / multiple) * multiple + Math.floor((value - lo!) / multiple) * multiple;
      if (value > hi!) value -= multiple;
      return Number(value.toFixed(10));
    }
    if (integer) return Math.min(hi!, Math.max(lo!, Math.round(value)));
    return Math.min(hi!, Math.max(lo!, Math.round(value * 100) / 100));
  }

  /** The text a free-text property asks for by the words of its name; undefined when they ask for nothing known. */
  private sentenceFor(words: string[]): string | undefined {
    const { reason, resolution, next } = this.call;
    const es = this.spanish;
    if (has(words, /^(?:summary|resumen|overview|synopsis|notes|notas|description|descripci(?:ó|o)n)$/)) {
      if (!reason) return this.text.trim().slice(0, 400);
      return [
        `${es ? 'Motivo' : 'Reason'}: ${reason.text}`,
        `${es ? 'Resolución' : 'Resolution'}: ${resolution ? resolution.text : es ? 'no se indica en la llamada.' : 'not stated in the call.'}`,
        `${es ? 'Próximos pasos' : 'Next steps'}: ${next ? next.text : es ? 'ninguno.' : 'none stated.'}`,
      ].join(' ');
    }
    if (has(words, /^(?:resolution|resolved|outcome|result|solution|action|actions|taken|soluci(?:ó|o)n|resoluci(?:ó|o)n|resultado)$/)) {
      return resolution?.text ?? (es ? 'no se indica en la llamada.' : 'not stated in the call.');
    }
    if (has(words, /^(?:next|step|steps|follow|followup|todo|pasos|paso|siguiente|siguientes|pr(?:ó|o)ximos|seguimiento)$/)) {
      return next?.text ?? (es ? 'ninguno.' : 'none stated.');
    }
    if (has(words, /^(?:reason|why|issue|problem|purpose|intent|request|motivo|raz(?:ó|o)n|causa|asunto|problema)$/)) {
      return reason?.text;
    }
    return undefined;
  }

  /**
   * Who has to act, as an enum value: by the words of the item's sentence, or of the call's next
   * steps (agent: "I'll", "we will"; customer: "you need to", "please send"); both when both do
   * about as much; none (a catch-all value) when the call states no next step. -1: no value fits.
   */
  private ownerChoice(labels: string[], place: Place): number {
    const steps = place.sentence ? [place.sentence] : this.listSentences(true);
    const agentAt = labels.findIndex((l) => TOPICS.find((t) => t.name === 'agent')!.value.test(l));
    const customerAt = labels.findIndex((l) => TOPICS.find((t) => t.name === 'customer')!.value.test(l));
    const bothAt = labels.findIndex((l) => /^(?:both|ambos|all)$/.test(l));
    const noneAt = labels.findIndex((l) => CATCH_ALL.test(l));
    if (steps.length === 0) return noneAt;
    const text = steps.map((s) => s.text).join('\n');
    const a = this.topicScore('agent', text);
    const c = this.topicScore('customer', text);
    if (bothAt >= 0 && a > 0 && c > 0 && Math.min(a, c) / Math.max(a, c) >= 0.5) return bothAt;
    if (c > a && customerAt >= 0) return customerAt;
    if (a + c > 0 || steps.some((s) => s.speaker === 'agent')) return agentAt >= 0 ? agentAt : customerAt;
    return customerAt >= 0 ? customerAt : agentAt;
  }

  /** Who a step is for: `agent` or `customer`, by the words of the step (or the call's next steps). */
  private owner(place: Place): string {
    const focus = place.sentence?.text ?? this.call.next?.text ?? this.text;
    const customer = this.topicScore('customer', focus) > this.topicScore('agent', focus);
    return this.spanish ? (customer ? 'cliente' : 'agente') : customer ? 'customer' : 'agent';
  }

  /**
   * A free-text value: owner and language by their rules; an item's own sentence; else the sentence
   * its name asks for (its own name first, then the names it is in); else the call's reason.
   */
  private string(schema: Record<string, unknown>, place: Place): string {
    let body: string | undefined;
    if (has(place.words, /^(?:owner|who|responsible|responsable|assignee)$/)) body = this.owner(place);
    else if (has(place.words, /^(?:language|lang|idioma|lengua)$/)) body = this.spanish ? 'es' : 'en';
    else if (place.sentence) body = place.sentence.text;
    else body = this.sentenceFor(place.words) ?? this.sentenceFor(place.context);
    body ??= this.call.reason?.text ?? (this.text.trim().slice(0, 200) || (this.spanish ? 'sin texto' : 'no text'));
    return fitLength(`${FIELD_LABEL}${body}`, schema);
  }

  private array(schema: Record<string, unknown>, place: Place): unknown[] {
    const items = isObject(schema.items) ? schema.items : {};
    const minItems = typeof schema.minItems === 'number' ? Math.max(0, Math.ceil(schema.minItems)) : 0;
    const maxItems = typeof schema.maxItems === 'number' ? Math.max(0, Math.floor(schema.maxItems)) : Infinity;
    const unique = schema.uniqueItems === true;
    const take = (candidates: unknown[], filler: (i: number) => unknown): unknown[] => {
      const out: unknown[] = [];
      const seen = new Set<string>();
      const add = (v: unknown) => {
        const key = JSON.stringify(v);
        if (unique && seen.has(key)) return false;
        seen.add(key);
        out.push(v);
        return true;
      };
      for (const v of candidates) if (out.length < Math.min(maxItems, Math.max(minItems, 3))) add(v);
      // Short of minItems (an empty list is an answer when the call gives nothing and none is required).
      for (let i = 0; out.length < Math.min(minItems, maxItems) && i < minItems + 64; i++) add(filler(i));
      return out;
    };

    // Items from an enum: the values the call speaks for, most first, then catch-alls, then the rest in hash order.
    if (Array.isArray(items.enum) && items.enum.length > 0) {
      const values = items.enum;
      const labels = values.map((v) => String(v).toLowerCase().replace(/[_-]+/g, ' ').trim());
      const scored = labels.map((l, i) => ({ i, s: this.placeScore(l, place) })).filter((x) => x.s > 0);
      scored.sort((a, b) => b.s - a.s || a.i - b.i);
      const chosen = scored.map((x) => values[x.i]);
      if (chosen.length === 0) {
        const other = labels.findIndex((l) => CATCH_ALL.test(l));
        chosen.push(values[other >= 0 ? other : Math.floor(this.hash(`${place.path}/0`) * values.length)]);
      }
      const start = Math.floor(this.hash(place.path) * values.length);
      return take(chosen, (i) => values[(start + i) % values.length]);
    }

    const kind = typesOf(items)[0];
    const topics = has(place.words, /^(?:topics|topic|tags|tag|keywords|keyword|categories|category|subjects|themes|temas|tema|etiquetas|categor(?:í|i)as|palabras)$/);
    const steps = has(place.words, /^(?:next|steps|step|actions|action|tasks|todo|todos|follow|followups|pasos|acciones|tareas|seguimiento)$/);
    const sentences = this.listSentences(steps);

    if (kind === 'string' && !Array.isArray(items.enum)) {
      if (topics) {
        const whole = place.focus === this.text;
        const said = whole ? this.customerText() : place.focus;
        const reason = whole ? (this.call.reason?.text ?? '') : '';
        const names = TOPICS.filter((t) => !['spanish', 'english', 'agent', 'customer', 'urgent'].includes(t.name))
          .map((t, i) => ({ t, i, s: hits(t.text, said) + 3 * hits(t.text, reason) }))
          .filter((x) => x.s > 0)
          .sort((a, b) => b.s - a.s || a.i - b.i)
          .map((x) => fitLength(`${FIELD_LABEL}${x.t.name}`, items));
        return take(names, (i) => fitLength(i < 8 ? `${FIELD_LABEL}general enquiry${i > 0 ? ` ${i + 1}` : ''}` : String(i - 7), items));
      }
      const texts = sentences.map((s) => fitLength(`${FIELD_LABEL}${s.text}`, items));
      const none = steps ? (this.spanish ? 'ninguno' : 'none stated') : this.spanish ? 'sin texto' : 'no text';
      // Fillers stay distinct when cut to a short maxLength: after a few labelled ones, plain numbers.
      return take(texts, (i) => fitLength(i < 8 ? `${FIELD_LABEL}${none}${i > 0 ? ` (${i + 1})` : ''}` : String(i - 7), items));
    }

    // Items of another kind (objects such as {step, owner}, numbers, booleans): one per sentence.
    const made = sentences.map((s, i) => this.value(items, { path: `${place.path}/${i}`, words: place.words, context: place.context, focus: s.text, sentence: s }));
    return take(made, (i) => this.value(items, { path: `${place.path}/fill${i}`, words: place.words, context: place.context, focus: place.focus }));
  }

  /** Sentences for a list: next steps (most telling first), else reason, resolution and next steps. */
  private listSentences(steps: boolean): Sentence[] {
    const { sentences, reason, resolution, next } = this.call;
    let list: Sentence[];
    if (steps) {
      // As the summary picks its next step: the agent's, late in the call, first; the agent's only when there are any.
      const scored = sentences.map((s, i) => ({ s, i, n: this.call.nextScore(s) })).filter((x) => x.n > 0);
      const agents = scored.filter((x) => x.s.speaker === 'agent');
      list = (agents.length > 0 ? agents : scored)
        .map((x) => ({ ...x, rank: x.n + x.s.at * 1.5 }))
        .sort((a, b) => b.rank - a.rank || b.i - a.i)
        .map((x) => x.s);
      if (next) list = [next, ...list.filter((s) => s !== next)];
    } else {
      list = [reason, resolution, next].filter((s): s is Sentence => s !== undefined);
    }
    const seen = new Set<string>();
    return list.filter((s) => !seen.has(s.text) && seen.add(s.text));
  }
}

/** A string cut to `maxLength` and padded to `minLength` (in code points, as JSON Schema counts). */
function fitLength(text: string, schema: Record<string, unknown>): string {
  let chars = [...text];
  const max = typeof schema.maxLength === 'number' ? Math.max(0, Math.floor(schema.maxLength)) : Infinity;
  const min = typeof schema.minLength === 'number' ? Math.max(0, Math.ceil(schema.minLength)) : 0;
  if (chars.length > max) chars = chars.slice(0, max);
  while (chars.length < min && chars.length < max) chars.push('.');
  return chars.join('');
}

/** Fields valid for `schema` (an object schema), derived from the call. */
export function fieldsFor(schema: Record<string, unknown>, call: CallReading): unknown {
  return new Generator(call).value(schema, { path: '#', words: [], context: [], focus: call.transcript });
}

// ---------------------------------------------------------------------------------------------
// The invalid-fields fault.

export type Spoil = 'missing' | 'enum';

/**
 * `fields` made invalid for `schema`: a required property left out (`missing`) or an enum property
 * given a value outside its enum (`enum`); when the schema has no such property, the other way;
 * when it has neither, a property of the wrong type; when it has no property at all, not an object.
 */
export function spoilFields(fields: unknown, schema: Record<string, unknown>, how: Spoil): unknown {
  const answer: Record<string, unknown> = isObject(fields) ? { ...fields } : {};
  const properties = isObject(schema.properties) ? schema.properties : {};
  const required = Array.isArray(schema.required) ? schema.required.filter((k): k is string => typeof k === 'string') : [];
  const missing = () => {
    const key = required[0];
    if (key === undefined) return false;
    delete answer[key];
    return true;
  };
  const outside = () => {
    for (const [key, sub] of Object.entries(properties)) {
      if (!isObject(sub)) continue;
      const within = Array.isArray(sub.enum) ? sub.enum : isObject(sub.items) && Array.isArray(sub.items.enum) ? sub.items.enum : undefined;
      if (!within) continue;
      let bad = 'not_in_enum (local stand-in fault)';
      while (within.includes(bad)) bad += '!';
      answer[key] = Array.isArray(sub.enum) ? bad : [bad];
      return true;
    }
    return false;
  };
  if (how === 'missing' ? missing() || outside() : outside() || missing()) return answer;
  const first = Object.entries(properties)[0];
  if (!first) return [];
  const types = isObject(first[1]) ? typesOf(first[1]) : ['string'];
  answer[first[0]] = types.includes('string') ? 0 : 'not a valid value (local stand-in fault)';
  return answer;
}

/**
 * A model's answer to a schema request, spoiled (`spoilFields`): a tool call's input, or the JSON
 * of a text answer. A text that is not JSON already fails validation and stays as it is.
 */
export function spoilAnswer(answer: ModelAnswer, schema: Record<string, unknown>, how: Spoil): ModelAnswer {
  if (answer.tool) return { ...answer, tool: { ...answer.tool, input: spoilFields(answer.tool.input, schema, how) } };
  let parsed: unknown;
  try {
    parsed = JSON.parse(answer.text);
  } catch {
    return answer;
  }
  const text = JSON.stringify(spoilFields(parsed, schema, how));
  return { ...answer, text, outputTokens: Math.max(1, countTokens(text)) };
}
