/**
 * The built-in schema `--schema call-insights`: what a call-center team counts and filters by, read
 * from one call's transcript (docs/structured.md lists the fields). The descriptions are written for
 * the model: they say what to put in each field and what to do when the call does not say. Free
 * text follows the call's language; topics are short English keywords, so that calls in Spanish and
 * in English count together. Every field is required and nothing else is allowed, as Bedrock's
 * structured outputs need (`additionalProperties: false`).
 */

const SENTIMENT = ['negative', 'neutral', 'positive'] as const;

/** The name records carry for it (the tool or format name). */
export const CALL_INSIGHTS_NAME = 'call_insights';

export const CALL_INSIGHTS: Readonly<Record<string, unknown>> = deepFreeze({
  type: 'object',
  description: 'The outcome of one customer-service call, read from its transcript.',
  properties: {
    reason: {
      type: 'string',
      description: "Why the customer called, in one sentence, in the call's language. Use the customer's own request, not the agent's reading of it.",
    },
    reason_category: {
      type: 'string',
      enum: ['billing', 'technical_support', 'account', 'sales', 'cancellation', 'complaint', 'information', 'other'],
      description:
        'The category of the reason: billing (charges, invoices, refunds, payments), technical_support (something does not work), ' +
        'account (access, personal data, plan changes), sales (buying or upgrading), cancellation (ending a service), ' +
        'complaint (dissatisfaction with service or staff), information (questions only), other (none of these).',
    },
    resolution: {
      type: 'string',
      description: "What was done about the reason by the end of the call, in one or two sentences, in the call's language. Say so when nothing was done.",
    },
    resolved: {
      type: 'boolean',
      description: "true when the customer's reason was fully dealt with during the call; false when anything is still pending or it is unclear.",
    },
    next_steps: {
      type: 'array',
      items: { type: 'string' },
      description: "The actions promised or still needed after the call, each a short sentence in the call's language; empty when there are none.",
    },
    next_step_owner: {
      type: 'string',
      enum: ['agent', 'customer', 'both', 'none'],
      description: 'Who has to act on the next steps: agent (the company), customer, both, or none when there are no next steps.',
    },
    sentiment_start: {
      type: 'string',
      enum: [...SENTIMENT],
      description: "The customer's mood in the first part of the call.",
    },
    sentiment_end: {
      type: 'string',
      enum: [...SENTIMENT],
      description: "The customer's mood in the last part of the call.",
    },
    topics: {
      type: 'array',
      items: { type: 'string' },
      maxItems: 5,
      description: 'Up to 5 topics of the call, most important first, each one to three lowercase English words (for example "refund", "late delivery").',
    },
    follow_up_needed: {
      type: 'boolean',
      description: 'true when someone at the company has to contact the customer again or act after the call; false otherwise.',
    },
  },
  required: [
    'reason',
    'reason_category',
    'resolution',
    'resolved',
    'next_steps',
    'next_step_owner',
    'sentiment_start',
    'sentiment_end',
    'topics',
    'follow_up_needed',
  ],
  additionalProperties: false,
});

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
