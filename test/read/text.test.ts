/** Plain-text documents (src/read/text.ts): the whole file as one item, bounded. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DocumentBuffer, normalizeDocumentOptions, textDocument } from '../../src/read/text.js';
import { bytes, decode, splitEvery } from './helpers.js';

describe('textDocument', () => {
  it('a whole file is one item on line 1: its text, BOM stripped, and its bytes less the BOM', async () => {
    const text = 'Agent: Hello.\r\nCustomer: Hi \u2028 there 😀\n';
    const out = await decode(textDocument({ file: 't.txt' }), splitEvery(bytes(`\ufeff${text}`), 3));
    expect(out).toEqual([{ kind: 'item', file: 't.txt', line: 1, value: text, bytes: Buffer.byteLength(text) }]);
  });

  it('a real transcript, byte for byte', async () => {
    const data = readFileSync(new URL('../../fixtures/text/1034.txt', import.meta.url));
    const [item] = await decode(textDocument({ file: '1034.txt' }), splitEvery(data, 1000));
    expect(item).toMatchObject({ kind: 'item', value: data.toString('utf8'), bytes: data.length });
  });

  it('an empty file is one E_EMPTY_INPUT reject (counted, not lost); invalid UTF-8 is E_INVALID_UTF8', async () => {
    expect(await decode(textDocument({ file: 'e.txt' }), [])).toEqual([expect.objectContaining({ kind: 'reject', code: 'E_EMPTY_INPUT', file: 'e.txt', line: 1, bytes: 0 })]);
    const bad = await decode(textDocument(), [Buffer.from([0x48, 0x69, 0xff, 0x0a])]);
    expect(bad).toEqual([expect.objectContaining({ kind: 'reject', code: 'E_INVALID_UTF8', bytes: 4 })]);
  });

  it('a file over maxDocumentBytes is one E_ROW_TOO_LARGE; past the limit its bytes are only counted', async () => {
    const out = await decode(textDocument({ maxDocumentBytes: 1000 }), Array.from({ length: 50 }, () => Buffer.alloc(100, 'z')));
    expect(out).toEqual([expect.objectContaining({ code: 'E_ROW_TOO_LARGE', bytes: 5000, reason: expect.stringMatching(/5000 bytes, over the limit of 1000/) })]);
    const doc = new DocumentBuffer(1000);
    for (let i = 0; i < 50; i++) doc.push(Buffer.alloc(100));
    expect(doc.over).toBe(true);
    expect((doc as unknown as { parts: Buffer[] }).parts).toEqual([]);
  });

  it('bad options throw E_BAD_OPTION', () => {
    expect(() => normalizeDocumentOptions({ maxDocumentBytes: 0 })).toThrow(/maxDocumentBytes 0/);
  });
});
