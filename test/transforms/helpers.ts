/** Test helpers: build SourceItems by hand (the readers are tested elsewhere) and run a Step. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'csv-parse/sync';
import type { Step } from '../../src/core/step.js';
import type { Call, PrepareItem, Reject, SourceItem } from '../../src/records/types.js';

export const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url));

export function item(file: string, line: number, value: unknown, bytes?: number): SourceItem {
  const it: SourceItem = { kind: 'item', file, line, value };
  if (bytes !== undefined) it.bytes = bytes;
  return it;
}

/** A whole JSON fixture as one item (one call per file). */
export function jsonItem(rel: string): SourceItem {
  return item(`fixtures/${rel}`, 1, JSON.parse(readFileSync(FIXTURES + rel, 'utf8')));
}

/** The elements of a JSON array fixture as items (line numbers made up: 1-based index). */
export function jsonArrayItems(rel: string): SourceItem[] {
  const arr = JSON.parse(readFileSync(FIXTURES + rel, 'utf8')) as unknown[];
  return arr.map((v, i) => item(`fixtures/${rel}`, i + 2, v));
}

export function textItem(rel: string): SourceItem {
  return item(`fixtures/${rel}`, 1, readFileSync(FIXTURES + rel, 'utf8'));
}

/** CSV fixture rows as items keyed by header, with the line each record starts on. */
export function csvItems(rel: string, name = `fixtures/${rel}`): SourceItem[] {
  const records = parse(readFileSync(FIXTURES + rel), { columns: true, info: true, bom: true }) as Array<{
    record: Record<string, string>;
    info: { lines: number; bytes: number };
  }>;
  let prevLines = 1;
  return records.map((r) => {
    const start = prevLines + 1;
    prevLines = r.info.lines;
    return item(name, start, r.record);
  });
}

export function jsonlItems(rel: string): SourceItem[] {
  return readFileSync(FIXTURES + rel, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l, i) => item(`fixtures/${rel}`, i + 1, JSON.parse(l)));
}

/** Run items through a step (write each, then end) and collect what it emits. */
export function run(step: Step<PrepareItem, PrepareItem>, items: PrepareItem[]): PrepareItem[] {
  const out: PrepareItem[] = [];
  const emit = (x: PrepareItem) => out.push(x);
  for (const i of items) step.write(i, emit);
  step.end?.(emit);
  return out;
}

export const calls = (items: PrepareItem[]) => items.filter((x): x is Call => x.kind === 'call');
export const rejects = (items: PrepareItem[]) => items.filter((x): x is Reject => x.kind === 'reject');

/** The one call out of a single-item run, failing loudly otherwise. */
export function only(items: PrepareItem[]): Call {
  if (items.length !== 1 || items[0]!.kind !== 'call') throw new Error(`expected one call, got ${JSON.stringify(items).slice(0, 300)}`);
  return items[0] as Call;
}
