/** Commander argParsers: an option's value checked as it is parsed, E_BAD_OPTION naming the flag. */
import { BatchError } from '../errors.js';

/** A whole number of at least `min`. */
export const int = (name: string, min = 0) => (v: string) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) throw new BatchError('E_BAD_OPTION', `${name} must be a whole number${min ? ` of at least ${min}` : ''}, got "${v}"`);
  return n;
};

/** Any finite number. */
export const num = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new BatchError('E_BAD_OPTION', `${name} must be a number, got "${v}"`);
  return n;
};

/** An amount of money: a number of at least 0. */
export const amount = (name: string) => (v: string) => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new BatchError('E_BAD_OPTION', `${name} must be an amount of at least 0 (e.g. 25 or 12.50), got "${v}"`);
  return n;
};

/** A positive number of seconds. */
export const seconds = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new BatchError('E_BAD_OPTION', `${name} must be a number of seconds, got "${v}"`);
  return n;
};

/** A repeatable option: every value given, in order. */
export const repeatable = (v: string, all: string[] = []) => [...all, v];
