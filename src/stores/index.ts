import { BatchError } from '../errors.js';
import { LocalStore } from './local.js';
import type { Store } from './store.js';

export type { ObjectInfo, Store, WriteOptions } from './store.js';
export { joinKey } from './store.js';
export { LocalStore, readFileStream } from './local.js';

/** Open the store for a location: a local directory path (or `file://` URI); `s3://` comes with the S3 store. */
export function openStore(uri: string): Store {
  if (/^s3:\/\//i.test(uri)) {
    throw new BatchError('E_BAD_OPTION', `S3 locations are not supported yet: ${uri}`, {
      hint: 'write to a local directory for now',
    });
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri) && !uri.startsWith('file://')) {
    throw new BatchError('E_BAD_OPTION', `unsupported location ${uri}`, { hint: 'use a local path or s3://bucket/prefix' });
  }
  return new LocalStore(uri);
}
