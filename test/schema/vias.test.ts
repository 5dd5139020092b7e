/**
 * `structuredVias` and `chooseVia` (src/schema/vias.ts): the strongest way a family and model
 * take, a `--schema-via` override the model allows, and the refusal of one it lacks.
 */
import { describe, expect, it } from 'vitest';
import { FAMILIES } from '../../src/models/index.js';
import { chooseVia, loadSchema, structuredVias } from '../../src/schema/index.js';
import { thrownBatchError } from '../support/errors.js';

const SONNET_4_5 = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';
const HAIKU_3 = 'anthropic.claude-3-haiku-20240307-v1:0';


describe('structuredVias', () => {
  it('gives the family table, strongest first, by name or by family', () => {
    expect(structuredVias('anthropic', SONNET_4_5)).toEqual(['native', 'tool', 'prompt']);
    expect(structuredVias(FAMILIES.anthropic, HAIKU_3)).toEqual(['tool', 'prompt']);
    expect(structuredVias('converse', SONNET_4_5)).toEqual(['native', 'prompt']);
    expect(structuredVias('nova', 'us.amazon.nova-premier-v1:0')).toEqual(['tool', 'prompt']);
    expect(structuredVias('llama', 'meta.llama3-8b-instruct-v1:0')).toEqual(['prompt']);
  });

  it('returns a copy: a caller cannot change the table', () => {
    structuredVias('anthropic', SONNET_4_5).pop();
    expect(structuredVias('anthropic', SONNET_4_5)).toHaveLength(3);
  });

  it('refuses an unknown family', () => {
    expect(thrownBatchError(() => structuredVias('gpt' as never, 'x')).message).toMatch(/family "gpt" is unknown/);
  });
});

describe('chooseVia', () => {
  it('picks the strongest way by default', () => {
    expect(chooseVia('anthropic', SONNET_4_5)).toBe('native');
    expect(chooseVia('anthropic', HAIKU_3)).toBe('tool');
    expect(chooseVia('nova', 'amazon.nova-micro-v1:0')).toBe('tool');
    expect(chooseVia('converse', SONNET_4_5)).toBe('native');
    expect(chooseVia('converse', 'qwen.qwen3-32b-v1:0')).toBe('prompt');
    expect(chooseVia('titan-text', 'amazon.titan-text-premier-v1:0')).toBe('prompt');
  });

  it('takes an override the model allows', () => {
    expect(chooseVia('anthropic', SONNET_4_5, 'tool')).toBe('tool');
    expect(chooseVia('anthropic', SONNET_4_5, 'prompt')).toBe('prompt');
    expect(chooseVia('converse', SONNET_4_5, 'prompt')).toBe('prompt');
  });

  it('refuses --schema-via tool for Converse, quoting the 400', () => {
    const e = thrownBatchError(() => chooseVia('converse', SONNET_4_5, 'tool'));
    expect(e.code).toBe('E_BAD_OPTION');
    expect(e.message).toContain(`${SONNET_4_5} in a Converse batch job cannot take --schema-via tool`);
    expect(e.message).toMatch(/fails Converse-type batch records that carry toolConfig with 400/);
    expect(e.hint).toMatch(/leave --schema-via out to use the strongest way \(native\)/);
  });

  it('refuses a way the model lacks, naming the model and the ways it takes', () => {
    const e = thrownBatchError(() => chooseVia('anthropic', HAIKU_3, 'native'));
    expect(e.message).toBe(`${HAIKU_3} (anthropic) has no Bedrock structured outputs for this request shape; use --schema-via tool or prompt`);
    expect(thrownBatchError(() => chooseVia('llama', 'meta.llama3-8b-instruct-v1:0', 'tool')).message).toMatch(/takes no forced tool.*use --schema-via prompt/);
    expect(thrownBatchError(() => chooseVia('nova', 'amazon.nova-lite-v1:0', 'strict')).message).toMatch(/"strict" is not a way: use --schema-via tool or prompt/);
  });

  it('agrees with checkOptions for every family and way', () => {
    const { name, schema } = loadSchema('call-insights');
    const models = { anthropic: HAIKU_3, nova: 'amazon.nova-lite-v1:0', 'titan-text': 'amazon.titan-text-lite-v1', llama: 'meta.llama3-8b-instruct-v1:0', mistral: 'mistral.mistral-7b-instruct-v0:2', converse: SONNET_4_5 };
    for (const family of Object.values(FAMILIES)) {
      const modelId = models[family.name];
      for (const via of ['native', 'tool', 'prompt'] as const) {
        const ok = family.checkOptions({ modelId, structured: { name, schema, via } }).length === 0;
        let chosen = true;
        try {
          chooseVia(family, modelId, via);
        } catch {
          chosen = false;
        }
        expect([family.name, via, chosen]).toEqual([family.name, via, ok]);
      }
    }
  });
});
