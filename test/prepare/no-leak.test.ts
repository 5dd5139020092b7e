/**
 * Nothing leaks: exports whose every text cell is full of sentinel personal data (a card number, an
 * SSN, a name, a phone number, an email address) are driven through the built CLI into every reject
 * code prepare can emit from them, and into runs that end in an error. The sentinels may appear in
 * the shards (what the model is sent) and nowhere else: not in rejects.jsonl, stderr, stdout,
 * prepared.json or the lineage files. Keys are never sentinels (a key is allowed in a reject).
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTempDir } from '../support/temp.js';
import { cli, type CliResult } from './helpers.js';

const tmp = useTempDir('noleak-');

const PII = 'Zebediah Quarrington, card 4111 1111 1111 1111, SSN 078-05-1120, phone +1 555 867 5309, mail zebediah.q@example.org';
/** What must never be seen outside the shards (fragments too: a preview cut at 40 characters still leaks). */
const SENTINELS = ['Zebediah', 'Quarrington', '4111 1111', '078-05-1120', '867 5309', 'zebediah.q@', 'example.org'];

const pii = (n = 1) => Array.from({ length: n }, () => PII).join(' ');
const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
const latin1 = (s: string) => Buffer.from(s, 'latin1');

async function filesUnder(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (sub: string) => {
    let entries;
    try {
      entries = await readdir(join(dir, sub), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const rel = sub ? `${sub}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(rel);
      else out.set(rel, await readFile(join(dir, rel), 'utf8'));
    }
  };
  await walk('');
  return out;
}

function leaks(where: string, text: string): string[] {
  return SENTINELS.filter((s) => text.includes(s)).map((s) => `${where}: ${JSON.stringify(s)}`);
}

describe('no transcript text outside the shards', () => {
  it('every reject code and every error a bad export can cause names file, line, key and code, never the text', async () => {
    const d = tmp.dir;
    const big = (bytes: number) => `${PII} ${'lorem ipsum '.repeat(Math.ceil(bytes / 12))}`.slice(0, bytes);
    // One call per CSV row (the fast CSV engine).
    await writeFile(
      join(d, 'a.csv'),
      Buffer.concat([
        Buffer.from(
          [
            'call_id,transcript',
            `k-a1,${q(pii())}`, //                                    written
            `k-a2,${PII} "quoted" ${PII}`, //                          E_BAD_QUOTE
            `${q(pii())},${q(pii())},${q(pii())}`, //                    E_COLUMN_COUNT (the first field is text)
            `,${q(pii(2))}`, //                                        E_MISSING_KEY
            'k-a3,', //                                                E_MISSING_TEXT
            `k-a1,${q(pii())}`, //                                     E_DUPLICATE_KEY (adjacent, one call per row)
            `k-a5,${q(big(9000))}`, //                                 E_ROW_TOO_LARGE (--max-record-bytes 8192)
            `k-a6,${q(big(7900))}`, //                                 E_RECORD_TOO_LARGE (with the template around it)
            '',
          ].join('\n'),
        ),
        latin1(`k-a4,"${PII} caf\xe9"\n`), //                          E_INVALID_UTF8
        Buffer.from(`k-a7,"${PII} never closed\n${PII}\n`), //         E_UNTERMINATED_QUOTE
      ]),
    );
    // One utterance per row.
    await writeFile(
      join(d, 'u.csv'),
      [
        'call_id,speaker,text',
        `u-1,Agent,${q(big(3000))}`, //                               E_CALL_TOO_LARGE: 4 x 3000 bytes > 8192
        `u-1,Customer,${q(big(3000))}`,
        `u-1,Agent,${q(big(3000))}`,
        `u-1,Customer,${q(big(3000))}`,
        `u-2,Agent,${q(pii())}`, //                                    written
        `,Customer,${q(pii())}`, //                                    E_MISSING_KEY
        `u-3,Agent,${q(pii())}`,
        `u-2,Agent,${q(pii())}`, //                                    E_DUPLICATE_KEY (comes back)
        `u-4,Agent,`, //                                               E_MISSING_TEXT
        '',
      ].join('\n'),
    );
    // JSONL.
    const line = (o: unknown) => JSON.stringify(o);
    await writeFile(
      join(d, 'b.jsonl'),
      Buffer.concat([
        Buffer.from(
          [
            line({ call_id: 'k-b1', transcript: pii() }), //          written
            `{"call_id":"k-b2","transcript":${PII}}`, //              E_BAD_JSON (V8 quotes the text around the error)
            `{"call_id":"k-b3","transcript":"${PII}" ${PII}}`, //      E_BAD_JSON
            `{"call_id":"k-b4","transcript":"${PII}`, //              E_BAD_JSON (string never closed)
            `${PII}`, //                                               E_BAD_JSON
            line([pii()]), //                                          E_NOT_AN_OBJECT
            line(pii()), //                                            E_NOT_AN_OBJECT
            line({ transcript: pii() }), //                            E_MISSING_KEY
            line({ call_id: 'k-b5', transcript: '' }), //              E_MISSING_TEXT
            line({ call_id: 'k-a1', transcript: pii() }), //           E_DUPLICATE_KEY (seen in a.csv)
            line({ call_id: 'k-b6', transcript: big(9000) }), //       E_ROW_TOO_LARGE
            '',
          ].join('\n'),
        ),
        latin1(`{"call_id":"k-b7","transcript":"${PII} caf\xe9"}\n`), // E_INVALID_UTF8
      ]),
    );
    // A JSON array: good, bad, not an object, then a broken structure.
    await writeFile(
      join(d, 'c.json'),
      `[\n${line({ call_id: 'k-c1', transcript: pii() })},\n{"call_id":"k-c2","transcript":${PII}},\n${line(pii())},\n` +
        `${line({ call_id: 'k-c3', transcript: pii() })} ${line({ call_id: 'k-c4', transcript: pii() })}\n]\n`,
    );
    await writeFile(join(d, 'd.json'), `{\n  "call_id": "k-d1",\n  "transcript": "${PII}",\n  ${PII}\n}\n`); // E_BAD_JSON
    await writeFile(join(d, 'e.json'), ''); // E_EMPTY_INPUT
    await writeFile(join(d, 'f.txt'), latin1(`Agent: ${PII} caf\xe9\n`)); // E_INVALID_UTF8
    await writeFile(join(d, 'g.csv'), ''); // E_EMPTY_INPUT
    await writeFile(join(d, 'h.txt'), `Agent: hello\nCustomer: ${PII}\n`); // written
    // The csv-parse engine (a two-character delimiter): its messages quote field values.
    await writeFile(
      join(d, 'p.csv'),
      Buffer.concat([
        Buffer.from(
          [
            'call_id|;transcript',
            `k-p1|;${q(pii())}`, //                                     written
            `k-p2|;${PII} "${PII}" ${PII}`, //                          E_BAD_QUOTE
            `k-p3|;"${PII}"${PII}`, //                                  E_BAD_QUOTE
            `${q(pii())}|;${q(pii())}|;${q(pii())}`, //                 E_COLUMN_COUNT
            `|;${q(pii())}`, //                                         E_MISSING_KEY
            '',
          ].join('\n'),
        ),
        latin1(`k-p4|;"${PII} caf\xe9"\n`), //                           E_INVALID_UTF8
        Buffer.from(`k-p5|;"${PII} never closed\n`), //                  E_UNTERMINATED_QUOTE
      ]),
    );
    // A template naming a field some calls lack, and a model with a small context.
    await writeFile(join(d, 't.txt'), 'Summarise this call handled by {{agent}}:\n{{transcript}}\n');
    await writeFile(
      join(d, 'm.jsonl'),
      [
        line({ call_id: 'k-m1', agent: 'Sam', transcript: pii() }), //            written
        line({ call_id: 'k-m2', transcript: pii() }), //                            E_TEMPLATE (no agent)
        line({ call_id: 'k-m3', agent: 'Sam', transcript: big(40_000) }), //        E_TOO_MANY_TOKENS (8k context)
        '',
      ].join('\n'),
    );
    // Exports that stop the run: formats that cannot be told, headers that cannot be read.
    await writeFile(join(d, 'x1.jsonl'), line({ note: pii(), memo: pii() }) + '\n');
    await writeFile(join(d, 'x2.csv'), `call_id,"${PII}"x,transcript\nk,${q(pii())},${q(pii())}\n`);
    await writeFile(join(d, 'x3.csv'), `call_id|;"${PII}"x|;transcript\nk|;a|;b\n`);
    await writeFile(join(d, 'x4.csv'), `call_id,transcript,text\nk,${q(pii())},${q(pii())}\n`);

    const runs: Array<{ name: string; args: string[]; out?: string; code: number }> = [
      {
        name: 'main',
        out: join(d, 'run-main'),
        // the default quota profile: 7 records are below its minimum, so the run ends in an error (exit 1)
        args: ['a.csv', 'u.csv', 'b.jsonl', 'c.json', 'd.json', 'e.json', 'f.txt', 'g.csv', 'h.txt', '--max-record-bytes', '8192'],
        code: 1,
      },
      { name: 'main, one thread', out: join(d, 'run-one'), args: ['a.csv', 'u.csv', 'b.jsonl', '--max-record-bytes', '8192', '--quotas', 'local', '--workers', '0'], code: 0 },
      { name: 'csv-parse', out: join(d, 'run-csv-parse'), args: ['p.csv', '--delimiter', '|;', '--quotas', 'local'], code: 0 },
      {
        name: 'template',
        out: join(d, 'run-template'),
        args: ['m.jsonl', '--template', join(d, 't.txt'), '--model', 'amazon.titan-text-express-v1', '--quotas', 'local'],
        code: 0,
      },
      { name: 'unknown format', out: join(d, 'run-x1'), args: ['x1.jsonl', '--quotas', 'local'], code: 1 },
      { name: 'bad header', out: join(d, 'run-x2'), args: ['x2.csv', '--quotas', 'local'], code: 1 },
      { name: 'bad header, csv-parse', out: join(d, 'run-x3'), args: ['x3.csv', '--delimiter', '|;', '--quotas', 'local'], code: 1 },
      { name: 'ambiguous', out: join(d, 'run-x4'), args: ['x4.csv', '--quotas', 'local'], code: 1 },
      { name: 'no such column', out: join(d, 'run-x5'), args: ['x4.csv', '--quotas', 'local', '--text', 'nope'], code: 1 },
    ];
    const problems: string[] = [];
    const codes = new Set<string>();
    let shardText = '';
    for (const r of runs) {
      const res: CliResult = await cli(['prepare', ...r.args, '--out', r.out!, '--json'], { cwd: d });
      if (res.code !== r.code) problems.push(`${r.name}: exit code ${res.code}, expected ${r.code}: ${res.stderr.slice(0, 300)}`);
      problems.push(...leaks(`${r.name} stdout`, res.stdout), ...leaks(`${r.name} stderr`, res.stderr));
      const files = await filesUnder(r.out!);
      for (const [rel, text] of files) {
        if (rel.startsWith('input/')) {
          shardText += text;
          continue;
        }
        problems.push(...leaks(`${r.name} ${rel}`, text));
        if (rel === 'rejects.jsonl') {
          for (const l of text.split('\n').filter(Boolean)) {
            const x = JSON.parse(l) as Record<string, unknown>;
            // exactly the documented fields: no preview of the row
            const fields = Object.keys(x).filter((k) => k !== 'key').join(',');
            if (fields !== 'file,line,stage,code,reason') problems.push(`${r.name} ${rel}: ${x.code} has the fields ${fields}`);
            codes.add(String(x.code));
          }
        }
      }
      if (r.code === 0 && !(files.has('rejects.jsonl') && files.has('prepared.json'))) problems.push(`${r.name}: no prepared run in ${r.out}: ${res.stderr.slice(0, 300)}`);
    }
    expect(problems).toEqual([]);
    // The reject codes a bad export can cause (E_DUPLICATE_ID needs a 1 in 2^64 draw; E_INVALID_MODEL_INPUT,
    // E_STRAY_KEY and E_BAD_RECORD_ID need a custom stage: none of them carries row text either).
    expect([...codes].sort()).toEqual(
      [
        'E_BAD_JSON',
        'E_BAD_QUOTE',
        'E_CALL_TOO_LARGE',
        'E_COLUMN_COUNT',
        'E_DUPLICATE_KEY',
        'E_EMPTY_INPUT',
        'E_INVALID_UTF8',
        'E_MISSING_KEY',
        'E_MISSING_TEXT',
        'E_NOT_AN_OBJECT',
        'E_RECORD_TOO_LARGE',
        'E_ROW_TOO_LARGE',
        'E_TEMPLATE',
        'E_TOO_MANY_TOKENS',
        'E_UNTERMINATED_QUOTE',
      ].sort(),
    );
    // The good calls did reach the shards (the sentinels are where they belong).
    expect(shardText).toContain('Zebediah Quarrington');
    expect(shardText).toContain('4111 1111 1111 1111');
  }, 120_000);
});
