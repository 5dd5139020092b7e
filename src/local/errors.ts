/**
 * Service errors as Bedrock's control plane sends them (docs/bedrock.md §4.4): an exception
 * name in `x-amzn-ErrorType`, the HTTP status the model assigns to it, and `{"message": "..."}`.
 * The SDK maps the name to its modelled exception class, so `err.name` on the client side is the
 * name given here and `err.$metadata.httpStatusCode` the status.
 */

/** The exceptions the four model-invocation-job operations declare, with their HTTP status. */
export const SERVICE_ERROR_STATUS = Object.freeze({
  AccessDeniedException: 403,
  ConflictException: 400,
  InternalServerException: 500,
  ResourceNotFoundException: 404,
  ServiceQuotaExceededException: 400,
  ThrottlingException: 429,
  ValidationException: 400,
  /** Not modelled: what restJson1 services answer for a body that does not parse. */
  SerializationException: 400,
  /** Not modelled: a path no operation serves. */
  UnknownOperationException: 404,
});

export type ServiceErrorName = keyof typeof SERVICE_ERROR_STATUS;

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
