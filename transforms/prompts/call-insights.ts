/**
 * The default template of a schema run (`--schema`): the same transcript as the call-summary
 * template, but the model is asked to fill in the schema's fields instead of writing prose. How the
 * fields are asked for (an output format, a forced tool, or a JSON-only instruction appended after
 * this text) is the model family's part (docs/structured.md), so the template names no format.
 */
export const CALL_INSIGHTS_TEMPLATE = `You are given the transcript of a customer-service call between an agent and a customer.

<transcript>
{{transcript}}
</transcript>

Read the whole call and fill in every field described by the schema, from what was said in the call only.
Write free-text fields in the language of the call, concisely. Where the call does not say, choose the closest option
(for example "other" or "none") rather than guessing details.`;
