/**
 * The price table, as data: `prices.json` beside this file (illustrative list prices, labelled with
 * where they came from and when), overridable by a user's own JSON in the same shape:
 *
 *   {"currency":"USD","per":1000,"batchDiscount":0.5,"asOf":"...","source":"...",
 *    "models":[{"match":"anthropic.claude-3-haiku","input":0.00025,"output":0.00125}, ...]}
 *
 * `match` is a prefix of the base model id (ARNs and `us.`/`eu.` profile prefixes are stripped
 * first); the longest match wins, and on a tie a user's row wins over the default. `input`/`output` are
 * on-demand prices per `per` tokens; the batch price is that less `batchDiscount` (a row may
 * give its own `batchDiscount`, or `batchInput`/`batchOutput` outright). A user's table replaces
 * the defaults entirely with `"extends": false`.
 *
 * A job folder answered on demand (docs/on-demand.md) is priced at the row's on-demand `input` and
 * `output`, with no batch discount (`onDemandPriceFor`): with the default discount of 0.5, twice the
 * batch price.
 */
import { BatchError } from '../errors.js';
import { normalizeModelId } from '../models/ids.js';
import DEFAULT_TABLE from './prices.json' with { type: 'json' };

export interface PriceRow {
  match: string;
  input: number;
  output: number;
  batchInput?: number;
  batchOutput?: number;
  batchDiscount?: number;
}

export interface PriceTable {
  description?: string;
  asOf?: string;
  source?: string;
  currency: string;
  /** Tokens the prices are for (1000). */
  per: number;
  /** Fraction off on-demand prices for batch jobs (0.5 = half price). */
  batchDiscount: number;
  batchDiscountSource?: string;
  models: PriceRow[];
}

/** Batch prices for one model, per `per` tokens. */
export interface ModelPrice {
  match: string;
  input: number;
  output: number;
  currency: string;
  per: number;
  /** The discount applied to the on-demand row (0 when the row gave batch prices outright, or for on-demand prices). */
  batchDiscount: number;
  /** Set to `on-demand` by `onDemandPriceFor`: the row's prices as they are, for records answered one by one. */
  mode?: 'on-demand';
}

/** The built-in table (a copy: change it freely). */
export function defaultPrices(): PriceTable {
  return structuredClone(DEFAULT_TABLE) as PriceTable;
}

function checkNumber(v: unknown, what: string, where: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new BatchError('E_PRICES', `${where}: ${what} must be a number of at least 0, got ${JSON.stringify(v)}`, {
      hint: 'prices are per 1,000 tokens by default, e.g. {"match":"anthropic.claude-3-haiku","input":0.00025,"output":0.00125}',
    });
  }
  return v;
}

/**
 * A price table from a user's JSON (text or value), on top of the defaults unless it says
 * `"extends": false`. Every problem is an E_PRICES error naming the row.
 */
export function loadPrices(user: string | unknown, where = 'the price table', base: PriceTable = defaultPrices()): PriceTable {
  let value: unknown = user;
  if (typeof user === 'string') {
    try {
      value = JSON.parse(user);
    } catch (error) {
      throw new BatchError('E_PRICES', `${where} is not valid JSON: ${(error as Error).message}`);
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BatchError('E_PRICES', `${where} must be a JSON object with a "models" list`);
  const o = value as Record<string, unknown>;
  const rows = o.models ?? [];
  if (!Array.isArray(rows)) throw new BatchError('E_PRICES', `${where}: "models" must be a list of {match, input, output}`);
  const models: PriceRow[] = rows.map((r: unknown, i: number) => {
    const at = `${where}, models[${i}]`;
    if (typeof r !== 'object' || r === null) throw new BatchError('E_PRICES', `${at} must be an object {match, input, output}`);
    const row = r as Record<string, unknown>;
    if (typeof row.match !== 'string' || !row.match) throw new BatchError('E_PRICES', `${at}: match must be a model id or id prefix`);
    const out: PriceRow = { match: row.match, input: checkNumber(row.input, 'input', at), output: checkNumber(row.output, 'output', at) };
    if (row.batchInput !== undefined) out.batchInput = checkNumber(row.batchInput, 'batchInput', at);
    if (row.batchOutput !== undefined) out.batchOutput = checkNumber(row.batchOutput, 'batchOutput', at);
    if (row.batchDiscount !== undefined) out.batchDiscount = checkNumber(row.batchDiscount, 'batchDiscount', at);
    if (out.batchDiscount !== undefined && out.batchDiscount > 1) throw new BatchError('E_PRICES', `${at}: batchDiscount is a fraction from 0 to 1`);
    return out;
  });
  const keep = o.extends !== false;
  const table: PriceTable = {
    currency: typeof o.currency === 'string' ? o.currency : keep ? base.currency : 'USD',
    per: o.per !== undefined ? checkNumber(o.per, 'per', where) : keep ? base.per : 1000,
    batchDiscount: o.batchDiscount !== undefined ? checkNumber(o.batchDiscount, 'batchDiscount', where) : keep ? base.batchDiscount : 0,
    models: keep ? [...models, ...base.models] : models,
  };
  if (table.per <= 0) throw new BatchError('E_PRICES', `${where}: per must be above 0`);
  if (table.batchDiscount > 1) throw new BatchError('E_PRICES', `${where}: batchDiscount is a fraction from 0 to 1`);
  for (const k of ['description', 'asOf', 'batchDiscountSource'] as const) {
    const v = typeof o[k] === 'string' ? (o[k] as string) : keep ? base[k] : undefined;
    if (v !== undefined) table[k] = v;
  }
  table.source = typeof o.source === 'string' ? o.source : keep ? `${where}, then ${base.source ?? 'the built-in table'}` : where;
  return table;
}

/** The table's row for a model: the longest `match` that prefixes its base id (or the id as given). */
function rowFor(table: PriceTable, modelId: string): PriceRow | undefined {
  const base = normalizeModelId(modelId);
  let best: PriceRow | undefined;
  for (const row of table.models) {
    if ((base.startsWith(row.match) || modelId.startsWith(row.match)) && (!best || row.match.length > best.match.length)) best = row;
  }
  return best;
}

/** The batch price of a model, or undefined when the table does not know it. */
export function priceFor(table: PriceTable, modelId: string): ModelPrice | undefined {
  const best = rowFor(table, modelId);
  if (!best) return undefined;
  const discount = best.batchDiscount ?? table.batchDiscount;
  const given = best.batchInput !== undefined && best.batchOutput !== undefined;
  return {
    match: best.match,
    input: best.batchInput ?? best.input * (1 - discount),
    output: best.batchOutput ?? best.output * (1 - discount),
    currency: table.currency,
    per: table.per,
    batchDiscount: given ? 0 : discount,
  };
}

/**
 * The on-demand price of a model (no batch discount: the row's `input` and `output` as they are),
 * or undefined when the table does not know it. Profile ids and ARNs are priced as their base model.
 */
export function onDemandPriceFor(table: PriceTable, modelId: string): ModelPrice | undefined {
  const row = rowFor(table, modelId);
  if (!row) return undefined;
  return { match: row.match, input: row.input, output: row.output, currency: table.currency, per: table.per, batchDiscount: 0, mode: 'on-demand' };
}

/** The cost of some tokens at a model's price. */
export function costOf(price: ModelPrice, inputTokens: number, outputTokens: number): { input: number; output: number; total: number } {
  const input = (inputTokens / price.per) * price.input;
  const output = (outputTokens / price.per) * price.output;
  return { input, output, total: input + output };
}

/** A one-line label for reports: that these are estimates, and from which prices. */
export function priceLabel(table: PriceTable, price: ModelPrice | undefined, modelId: string): string {
  if (!price) return `no price for ${modelId} in the price table: pass --prices with a row for it`;
  const pct = Math.round(price.batchDiscount * 100);
  const mode = price.mode === 'on-demand' ? 'on-demand' : `batch${pct ? `, ${pct}% off on-demand` : ''}`;
  return `ESTIMATE at ${price.currency} ${fmtPrice(price.input)} in / ${fmtPrice(price.output)} out per ${price.per} tokens (${mode}; "${price.match}" from ${table.source ?? 'the price table'}${table.asOf ? `, ${table.asOf}` : ''}); not a bill: verify prices for your region`;
}

function fmtPrice(n: number): string {
  return n.toPrecision(3).replace(/\.?0+$/, '').replace(/\.?0+e/, 'e');
}
