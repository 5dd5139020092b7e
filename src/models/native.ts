/**
 * The native families: each serves the models whose own InvokeModel request format it knows, and
 * is found by the model id, tried in this order. Converse (any model) is never among them.
 */
import { anthropic } from './anthropic.js';
import type { ModelFamily } from './family.js';
import { llama } from './llama.js';
import { mistral } from './mistral.js';
import { nova } from './nova.js';
import { titanText } from './titan-text.js';

export const NATIVE: readonly ModelFamily[] = Object.freeze([anthropic, nova, titanText, llama, mistral]);
