/**
 * Seeded generator of large, realistic call-center CSV exports for benchmarks (never committed):
 * `call_id,agent,queue,started_at,transcript`, one call per row, transcripts of a few KB as quoted
 * multi-line fields with `""` escapes, commas and some non-ASCII text.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { once } from 'node:events';
import { mulberry32, type Random } from '../src/core/random.js';

const AGENT_LINES = [
  'Thank you for calling Oktank support, my name is {agent}. How can I help you today?',
  'I understand, and I am sorry for the trouble. Let me pull up your account.',
  'Could you confirm the email address on the account, please?',
  'I see the order here. It shipped on the 14th, but the carrier marked it "delayed, address issue".',
  'I can issue a replacement at no cost, or refund the full amount to your card. Which would you prefer?',
  'Done. You will get a confirmation email within the hour, with the tracking number.',
  'Is there anything else I can help you with today?',
  'I have escalated this to our billing team; they will call you back within 2 business days.',
  'For security, I have sent a one-time code to the phone number on file. Could you read it to me?',
  'Your plan renews on the 1st, and the new rate of $49.99 applies from then.',
];
const CUSTOMER_LINES = [
  'Hi, I am calling because my order never arrived, and it has been two weeks.',
  'Sure, it is {email}.',
  'That is frustrating, to be honest. I needed it for my daughter\'s birthday, which was on Saturday.',
  'A replacement, please, but can you make sure it ships express this time?',
  'I was charged twice for the same order, once on the 3rd and again on the 5th.',
  'Okay, thank you, that is really helpful. ¿Puede enviarme la factura también?',
  'No, that is all. Thanks for sorting it out so quickly.',
  'The app keeps saying "session expired" when I try to log in, even after resetting my password.',
  'I would like to cancel, unless there is a cheaper plan — the price went up again.',
  'Yes, the code is 4 8 1 5 1 6.',
];
const QUEUES = ['billing', 'orders', 'tech-support', 'retention', 'general'];
const AGENTS = ['Ana Souza', 'Ben Okafor', 'Chen Wei', 'Dana Kowalski', 'Eli Haddad', 'Farah Nasser'];

function csvQuote(s: string): string {
  return '"' + s.replace(/"/g, '""') + '"';
}

/** Call number `index` as one CSV row (newline-terminated), drawn from `rand`. */
export function makeCall(rand: Random, index: number): string {
  const agent = AGENTS[Math.floor(rand() * AGENTS.length)]!;
  const turns = 14 + Math.floor(rand() * 30);
  const lines: string[] = [];
  for (let t = 0; t < turns; t++) {
    const pool = t % 2 === 0 ? AGENT_LINES : CUSTOMER_LINES;
    let text = pool[Math.floor(rand() * pool.length)]!.replace('{agent}', agent.split(' ')[0]!).replace('{email}', `user${index}@example.com`);
    if (rand() < 0.3) text += ' ' + pool[Math.floor(rand() * pool.length)]!.replace('{agent}', 'me').replace('{email}', 'the same address');
    lines.push(`${t % 2 === 0 ? 'Agent' : 'Customer'}: ${text}`);
  }
  const started = new Date(Date.UTC(2026, 10, 1) + index * 37_000).toISOString();
  const id = `C${String(index).padStart(9, '0')}`;
  return `${id},${csvQuote(agent)},${QUEUES[index % QUEUES.length]},${started},${csvQuote(lines.join('\n'))}\n`;
}

/** Writes a CSV export of at least `bytes` bytes to `path` (skipped when a file of that size exists). */
export async function generateCsv(path: string, bytes: number, seed = 42): Promise<{ path: string; bytes: number; calls: number }> {
  try {
    const s = await stat(path);
    if (s.size >= bytes && s.size < bytes + 1_000_000) return { path, bytes: s.size, calls: -1 };
  } catch {}
  await mkdir(dirname(path), { recursive: true });
  const out = createWriteStream(path);
  const rand = mulberry32(seed);
  let written = 0;
  let calls = 0;
  const header = 'call_id,agent,queue,started_at,transcript\n';
  out.write(header);
  written += header.length;
  let batch: string[] = [];
  let batchBytes = 0;
  while (written < bytes) {
    const row = makeCall(rand, calls++);
    const n = Buffer.byteLength(row);
    batch.push(row);
    batchBytes += n;
    written += n;
    if (batchBytes > 1 << 20) {
      if (!out.write(batch.join(''))) await once(out, 'drain');
      batch = [];
      batchBytes = 0;
    }
  }
  out.write(batch.join(''));
  out.end();
  await once(out, 'close');
  return { path, bytes: written, calls };
}
