/**
 * Each family's local check names the published request schema it is written from and the day it
 * was last compared with it (`local.source`), and docs/bedrock.md §1.2 lists the same pages and dates.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FAMILIES } from '../../src/models/index.js';

const doc = readFileSync(new URL('../../docs/bedrock.md', import.meta.url), 'utf8');

describe.each(Object.values(FAMILIES))('$name', (family) => {
  it('names its request schema and the day it was read', () => {
    const { url, checked, also = [] } = family.local.source;
    for (const page of [url, ...also]) expect(page).toMatch(/^https:\/\/docs\.(aws\.amazon|anthropic)\.com\/\S+$/);
    expect(checked).toMatch(/^20\d\d-\d\d-\d\d$/);
    expect(Number.isNaN(Date.parse(checked))).toBe(false);
  });

  it('is listed in docs/bedrock.md with the same page and date', () => {
    const row = doc.split('\n').find((l) => l.startsWith(`| ${family.name} | `));
    expect(row, `no row for ${family.name} in docs/bedrock.md`).toBeDefined();
    expect(row).toContain(family.local.source.url);
    expect(row).toContain(`| ${family.local.source.checked} |`);
  });
});
