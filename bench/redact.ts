/**
 * node dist/bench/redact.js [--mb 100] [--region US] [--pii-share 0.02] [--numbers-share 0.33] [--turns-per-text 1]
 *
 * The speed of PII redaction (transforms/redact) on a generated transcript of `--mb` MB: seeded
 * call-center turns in English and Spanish, a `--numbers-share` of them dense with numbers that are
 * not PII (dates, amounts, times, order and tracking numbers: the slow path), a `--pii-share` of
 * them with a card, phone, email, SSN, IBAN or IP address, the rest plain talk. Each turn is redacted as the stage does it (one call of the redactor per turn
 * text), and the same turns go through a plain `text.replace(/\d/g, '#')` pass as the baseline:
 * the cheapest thing that looks at every character. Prints MB/s of both (UTF-8 bytes of the turns)
 * and what was replaced, per type. `--turns-per-text 64` joins every 64 turns with `\n` into one
 * text, `Agent:`/`Customer:` before each, as prepare hands a one-call-per-row CSV's transcript to
 * the stage: a whole call as one turn, where one `@` or two colons anywhere put the email or IP
 * detector to work on the whole text.
 */
import { mulberry32 } from '../src/core/random.js';
import { createRedactor } from '../transforms/redact/index.js';
import { arg } from './driver.js';

const mb = Number(arg('mb', '100'));
const region = arg('region', 'US');
const piiShare = Number(arg('pii-share', '0.02'));
const numbersShare = Number(arg('numbers-share', '0.33'));
const turnsPerText = Math.max(1, Math.floor(Number(arg('turns-per-text', '1'))));

const PLAIN = [
  'Thank you for calling, how can I help you today?',
  'I understand, let me pull up your account and take a look at that for you.',
  'Gracias por llamar, ¿en qué le puedo ayudar?',
  'Entiendo perfectamente, déjeme revisar su cuenta un momento.',
  'Is there anything else I can help you with?',
  'No, eso es todo, muchas gracias por su ayuda.',
  'I have been waiting for the technician since this morning and nobody showed up.',
  'Perfecto, le he enviado la confirmación por correo electrónico.',
];
const NUMBERS = [
  'I was charged $1,234.56 on 03/15/2024 at 10:30 and again on the 17th.',
  'Your order 114-5829374-2201938 shipped on 2024-03-15, tracking 1Z999AA10123456784.',
  'Me cobraron 49,99 € el 15/03/2024 y otros 12,50 € el día 20.',
  'La llamada duró 45 minutos, de 10:05 a 10:50, incidencia INC-2024-00981.',
  'That is a 15% discount for 12 months, so 29.99 instead of 35.28.',
  'Su número de pedido es el 4500123987 y el código postal 28013.',
  'The card ending in 4321 was declined at 14:45 for $89.50.',
  'Firmware version 10.2.0.1, serial SN 8841 2290 1123, ZIP 90210-1234.',
];
const PII = [
  'The card number is 4111 1111 1111 1111, expiring 04/27.',
  'You can reach me at (212) 555-0143 after five.',
  'Mi móvil es el +34 612 34 56 78 y el correo juan.perez@example.com.',
  'My social security number is 512-48-3391.',
  'El IBAN es ES91 2100 0418 4502 0005 1332, del Santander.',
  'The logs show a login from 192.0.2.15 that was not me.',
  'Send it to JOHN.SMITH@EXAMPLE.COM please.',
  'Use 5555-5555-5555-4444 for the autopay.',
];

function generate(bytes: number): string[] {
  const random = mulberry32(42);
  const pick = (xs: string[]) => xs[Math.floor(random() * xs.length)]!;
  const turns: string[] = [];
  let total = 0;
  let call: string[] = [];
  while (total < bytes) {
    const r = random();
    let t = r < piiShare ? pick(PII) : r < piiShare + numbersShare ? pick(NUMBERS) : pick(PLAIN);
    if (turnsPerText > 1) {
      call.push(`${call.length % 2 === 0 ? 'Agent' : 'Customer'}: ${t}`);
      if (call.length < turnsPerText) continue;
      t = call.join('\n');
      call = [];
    }
    turns.push(t);
    total += Buffer.byteLength(t) + 1;
  }
  return turns;
}

function main() {
  process.stdout.write(`generating ${mb} MB of turns ... `);
  const turns = generate(mb * 1e6);
  const bytes = turns.reduce((n, t) => n + Buffer.byteLength(t) + 1, 0);
  const what = turnsPerText > 1 ? `texts of ${turnsPerText} turns (whole calls)` : 'turns';
  console.log(`${turns.length.toLocaleString('en-US')} ${what}, ${(bytes / 1e6).toFixed(1)} MB (${piiShare * 100}% of turns with PII, ${numbersShare * 100}% dense with other numbers)`);

  const redact = createRedactor({ phoneRegion: region });
  const counts: Record<string, number> = {};
  // warm up both paths on a slice, then measure
  for (let i = 0; i < Math.min(20_000, turns.length); i++) redact(turns[i]!, {});
  let t0 = process.hrtime.bigint();
  let sink = 0;
  for (const t of turns) sink += redact(t, counts).length;
  const redactSeconds = Number(process.hrtime.bigint() - t0) / 1e9;

  t0 = process.hrtime.bigint();
  for (const t of turns) sink += t.replace(/\d/g, '#').length;
  const baselineSeconds = Number(process.hrtime.bigint() - t0) / 1e9;

  const mbps = (s: number) => (bytes / 1e6 / s).toFixed(1).padStart(8);
  console.log(`redact (all types, region ${region})   ${mbps(redactSeconds)} MB/s   ${redactSeconds.toFixed(2)} s`);
  console.log(`baseline text.replace(/\\d/g, '#')     ${mbps(baselineSeconds)} MB/s   ${baselineSeconds.toFixed(2)} s`);
  console.log(`redact / baseline                    ${(baselineSeconds / redactSeconds).toFixed(2)}x`);
  console.log(`replaced: ${Object.entries(counts).map(([k, n]) => `${k} ${n.toLocaleString('en-US')}`).join(', ')} (checksum ${sink % 1000})`);
}

main();
