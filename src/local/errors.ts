/**
 * Service errors as Bedrock's control plane sends them (docs/bedrock.md §4.4): an exception
 * name in `x-amzn-ErrorType`, the HTTP status the model assigns to it, and `{"message": "..."}`.
 * The SDK maps the name to its modelled exception class, so `err.name` on the client side is the
 * name given here and `err.$metadata.httpStatusCode` the status.
 */
import { SERVICE_ERROR_STATUS, type ServiceErrorName } from '../bedrock/vocabulary.js';

export class ServiceError extends Error {
  readonly status: number;
  constructor(
    readonly errorType: ServiceErrorName,
    message: string,
  ) {
    super(message);
    this.name = errorType;
    this.status = SERVICE_ERROR_STATUS[errorType];
  }
}

/** A URI label (`{jobIdentifier}`, `{modelId}`, ...) decoded, or the ValidationException a malformed one gets, naming `member`. */
export function decodeLabel(label: string, member: string): string {
  try {
    return decodeURIComponent(label);
  } catch {
    throw new ServiceError('ValidationException', `1 validation error detected: Value '${label.slice(0, 200)}' at '${member}' failed to satisfy constraint: Member must be percent-encoded correctly`);
  }
}
