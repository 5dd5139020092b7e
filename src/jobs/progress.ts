/**
 * What a watching user sees: on a TTY, one progress bar (records processed of the run's total,
 * jobs by status) with status changes printed above it; otherwise plain lines, one per event, that
 * read well in CI logs. Both go to stderr; stdout is kept for `--json`.
 */
import cliProgress from 'cli-progress';
import type { RunSubmission, JobState, SubmittedEvent, TargetEvent, WaitingEvent } from './submit.js';
import type { Progress, RetryEvent } from './watch.js';

export interface ReporterOptions {
  stream?: NodeJS.WriteStream;
  /** Draw a bar (default: when the stream is a TTY). */
  tty?: boolean;
  /** Only warnings and notes. */
  quiet?: boolean;
}

const n = (x: number) => x.toLocaleString('en-US');

export function statusWords(byStatus: Record<string, number>): string {
  return Object.entries(byStatus)
    .map(([s, c]) => `${c} ${s}`)
    .join(', ');
}

export function jobLine(j: JobState): string {
  const r = j.records;
  const counts = j.jobArn ? ` ${n(r.processed)}/${n(r.total)} records${r.error ? `, ${n(r.error)} errors` : ''}` : '';
  return `${j.job} ${j.jobName} ${j.status}${counts}${j.message ? `: ${j.message}` : ''}`;
}

/** Print a submission's events; returns a function that stops the display. */
export function reportSubmission(sub: RunSubmission, options: ReporterOptions = {}): () => void {
  const stream = options.stream ?? process.stderr;
  const tty = options.tty ?? stream.isTTY === true;
  const quiet = options.quiet === true;
  let bars: cliProgress.MultiBar | undefined;
  let bar: cliProgress.SingleBar | undefined;
  const say = (text: string) => {
    if (bars) bars.log(`${text}\n`);
    else stream.write(`${text}\n`);
  };
  let lastWaiting = '';
  let lastPlain = 0;
  let lastProcessed = -1;

  sub.on('target', (t: TargetEvent) => {
    if (!quiet) say(`submit: using ${t.description} (${t.reason})${t.resumed ? '; resuming from the ledger' : ''}`);
  });
  sub.on('note', (text: string) => say(`submit: note: ${text}`));
  sub.on('retry', (e: RetryEvent) => {
    if (!quiet) say(`submit: ${e.operation}: ${e.error}; retry ${e.attempt} in ${(e.delayMs / 1000).toFixed(1)} s`);
  });
  sub.on('submitted', (e: SubmittedEvent) => {
    if (quiet) return;
    const how = e.how === 'created' ? 'submitted' : e.how === 'adopted' ? 'found on the service (adopted)' : 'known';
    if (e.how !== 'known') say(`submit: ${e.job.job} ${how}: ${e.job.jobArn}`);
  });
  sub.on('status', (j: JobState, previous?: string) => {
    if (quiet && j.status !== 'Failed' && j.status !== 'Expired') return;
    say(`submit: ${jobLine(j)}${previous ? ` (was ${previous})` : ''}`);
  });
  sub.on('waiting', (w: WaitingEvent) => {
    const text = `submit: ${w.inFlight} of ${w.maxInFlight} jobs of this model in flight; ${w.pending} waiting for a slot`;
    if (!quiet && text !== lastWaiting) say(text);
    lastWaiting = text;
  });
  sub.on('progress', (p: Progress<JobState>) => {
    if (quiet) return;
    const words = statusWords(p.byStatus);
    if (tty) {
      if (!bars) {
        bars = new cliProgress.MultiBar(
          {
            stream,
            format: ' {bar} {percentage}% | {value}/{total} records | {jobs}',
            hideCursor: true,
            clearOnComplete: false,
            stopOnComplete: false,
            barsize: 30,
            etaBuffer: 20,
          },
          cliProgress.Presets.shades_classic,
        );
        bar = bars.create(Math.max(1, p.records.total), p.records.processed, { jobs: words });
      }
      bar!.setTotal(Math.max(1, p.records.total));
      bar!.update(p.records.processed, { jobs: words });
      return;
    }
    const now = Date.now();
    if (p.records.processed !== lastProcessed && (now - lastPlain > 5000 || p.finished)) {
      lastPlain = now;
      lastProcessed = p.records.processed;
      stream.write(`submit: ${n(p.records.processed)}/${n(p.records.total)} records processed; jobs: ${words}\n`);
    }
  });
  return () => {
    bars?.update(); // flush lines logged since the last redraw
    bars?.stop();
    bars = undefined;
  };
}
