/** Errors in tests: the `BatchError` a call throws, to check its code, message and hint. */
import { isBatchError, type BatchError } from '../../src/errors.js';

/** The BatchError that `fn` throws; any other error is rethrown, and no error fails the test. */
export function thrownBatchError(fn: () => unknown): BatchError {
  try {
    fn();
  } catch (e) {
    if (isBatchError(e)) return e;
    throw e;
  }
  throw new Error('expected a BatchError');
}
