/**
 * Every family in the registry (src/models/index.ts), the same round trip: build a record for a
 * prompt, let the family's local part check it and read it back as the local double does, answer,
 * and read the answer with the family's reader; each shape test claims its own shapes only. The
 * per-family tests pin the exact documented shapes; this one catches a family whose parts disagree.
 */
import { describe, expect, it } from 'vitest';
import type { FamilyName, ModelFamily } from '../../src/models/family.js';
import { FAMILIES } from '../../src/models/index.js';
import type { ModelAnswer } from '../../src/models/local-double.js';

/** A model each family serves: a new family must name one here. */
const MODEL: Record<FamilyName, string> = {
  anthropic: 'anthropic.claude-3-haiku-20240307-v1:0',
  nova: 'amazon.nova-lite-v1:0',
  'titan-text': 'amazon.titan-text-express-v1',
  llama: 'meta.llama3-1-8b-instruct-v1:0',
  mistral: 'mistral.mistral-7b-instruct-v0:2',
  converse: 'qwen.qwen3-32b-v1:0',
};
/** Families whose documented answer carries no token counts (docs/bedrock.md §1.2). */
const NO_TOKEN_COUNTS: ReadonlySet<FamilyName> = new Set(['mistral']);

const PROMPT = 'Summarise: the caller asks about a refund.';
const SYSTEM = 'Be brief.';
const CONTEXT = { modelName: 'stand-in', answerId: '0123456789abcdef01234567', latencyMs: 4 };
const answer = (stop: ModelAnswer['stop']): ModelAnswer => ({ text: 'A refund is on its way.', inputTokens: 12, outputTokens: 3, stop });

const all = Object.values(FAMILIES);
const claimersOf = (output: unknown) => all.filter((f) => f.ownsOutput(output)).map((f) => f.name);

describe.each(all.map((f): [FamilyName, ModelFamily] => [f.name, f]))('the %s family', (name, family) => {
  const modelId = MODEL[name];
  const input = family.buildInput({ prompt: PROMPT, system: SYSTEM }, { modelId, maxTokens: 77, temperature: 0.2, topP: 0.9 });

  it('builds a record its local part reads back: prompt, system, budget and sampling', () => {
    const request = family.local.readRequest(input);
    expect(request).toMatchObject({ maxTokens: 77, temperature: 0.2, topP: 0.9 });
    expect(request.turns).toHaveLength(1);
    const turn = request.turns[0]!;
    expect(turn.role).toBe('user');
    if (request.system !== undefined) {
      expect([request.system, turn.text]).toEqual([SYSTEM, PROMPT]);
    } else {
      // No system field in the shape (Mistral): the system prompt leads the user turn.
      expect(turn.text.startsWith(SYSTEM) && turn.text.endsWith(PROMPT)).toBe(true);
    }
  });

  it("builds records its local check takes, up to the model's most output tokens", () => {
    const most = family.buildInput({ prompt: PROMPT }, { modelId, maxTokens: family.limits(modelId).maxOutputTokens });
    expect(family.local.checkRequest(input, modelId)).toEqual([]);
    expect(family.local.checkRequest(most, modelId)).toEqual([]);
    expect(family.local.checkRequest({ ...input, modelId }, modelId)).toEqual(['#/modelId: not a key of this request (extra inputs are not permitted)']);
  });

  it('is the family a shape guess gives the record, or one that reads it alike', () => {
    const guessed = all.find((f) => f.local.claimsInput?.(input));
    if (family.local.claimsInput) expect(guessed).toBe(family);
    else expect(guessed?.local.readRequest(input)).toEqual(family.local.readRequest(input));
  });

  it('reads its own answer back: text, stop reason and token counts', () => {
    const ended = family.readOutput(family.local.writeOutput(answer('end'), CONTEXT));
    const cut = family.readOutput(family.local.writeOutput(answer('length'), CONTEXT));
    expect(ended.text).toBe('A refund is on its way.');
    expect(ended.stopReason).toEqual(expect.any(String));
    expect(cut.stopReason).toEqual(expect.any(String));
    expect(cut.stopReason).not.toBe(ended.stopReason);
    const tokens = NO_TOKEN_COUNTS.has(name) ? [undefined, undefined] : [12, 3];
    expect([ended.inputTokens, ended.outputTokens]).toEqual(tokens);
  });

  it('claims its answer by shape, and no other family does', () => {
    expect(claimersOf(family.local.writeOutput(answer('end'), CONTEXT))).toEqual([name]);
  });

  it.runIf(family.sharesOutputShapeWith !== undefined)('shares its output shape only with a family that says so in return, and reads alike', () => {
    const twin = family.sharesOutputShapeWith!;
    expect(FAMILIES[twin].sharesOutputShapeWith).toBe(name);
    const output = FAMILIES[twin].local.writeOutput(answer('end'), CONTEXT);
    expect(family.readOutput(output)).toEqual(FAMILIES[twin].readOutput(output));
  });
});
