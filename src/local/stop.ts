/**
 * Why a job's work is cut short: StopModelInvocationJob (`stop`: the job ends Stopped, keeping what
 * it wrote) or the service closing (`close`: the job stays as it is, and the next start with the
 * same state file picks it up). The service aborts a job's signal with a `Stop`; the phases that
 * catch an error ask `stopReason` whether it was one.
 */

export class Stop extends Error {
  constructor(readonly why: 'stop' | 'close') {
    super(why);
  }
}

/** `stop` or `close` when `err` comes from a Stop (thrown, or the reason `signal` aborted with); else undefined. */
export function stopReason(err: unknown, signal: AbortSignal): Stop['why'] | undefined {
  if (err instanceof Stop) return err.why;
  return signal.aborted && signal.reason instanceof Stop ? signal.reason.why : undefined;
}
