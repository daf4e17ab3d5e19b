/**
 * Errors answered as RFC 9457 problem details (`application/problem+json`). Every code the API
 * can answer with is in {@link problemTypes}, documented in docs/api.md.
 */
export const problemTypes = Object.freeze({
  validation_failed: { status: 400, title: 'The request is not valid' },
  invalid_json: { status: 400, title: 'The body is not valid JSON' },
  unauthorized: { status: 401, title: 'A valid API key is required' },
  operator_unauthorized: { status: 401, title: 'Operator credentials are required' },
  invalid_signature: { status: 403, title: 'The provider signature is missing or does not verify' },
  verify_token_mismatch: { status: 403, title: 'The webhook subscription handshake was refused' },
  cross_origin_write: { status: 403, title: 'A dashboard write must come from the dashboard' },
  not_found: { status: 404, title: 'Not found' },
  client_not_found: { status: 404, title: 'The engine holds nothing about this client' },
  not_cancellable: { status: 409, title: 'The communication can no longer be cancelled' },
  idempotency_conflict: { status: 409, title: 'The idempotency key was used with a different request' },
  body_too_large: { status: 413, title: 'The body is larger than the configured limit' },
  attachments_too_large: { status: 413, title: 'The attachments together are larger than the configured limit' },
  unsupported_media_type: { status: 415, title: 'The content type is not supported' },
  attachment_type_mismatch: { status: 415, title: 'The file is not of the type it was declared as' },
  unreachable_client: { status: 422, title: 'The client cannot be reached on any channel' },
  unknown_attachment: { status: 422, title: 'An attachment id is not one of an uploaded file' },
  rate_limited: { status: 429, title: 'Too many requests with this API key' },
  not_ready: { status: 503, title: 'A dependency is not available' },
  operator_access_disabled: { status: 503, title: 'Operator pages are switched off (OPERATOR_PASSWORD is not set)' },
  webhooks_not_configured: { status: 503, title: 'Provider webhooks are not configured' },
  internal: { status: 500, title: 'Internal error' },
} as const);
export type ProblemCode = keyof typeof problemTypes;

/** One bad field: where it is and what is wrong with it (never its value). */
export interface FieldProblem {
  /** Dotted path in the body, query or params (`recipient.email`, `items.3.messageType`), or a header name. */
  readonly field: string;
  /** Where the field is. */
  readonly in: 'body' | 'query' | 'params' | 'header';
  readonly message: string;
}

export interface ProblemBody {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly code: ProblemCode;
  readonly errors?: readonly FieldProblem[];
}

/** Thrown by handlers; the error handler turns it into a problem response. */
export class ProblemError extends Error {
  readonly code: ProblemCode;
  readonly status: number;
  readonly errors: readonly FieldProblem[];
  constructor(code: ProblemCode, detail: string, errors: readonly FieldProblem[] = []) {
    super(detail);
    this.name = 'ProblemError';
    this.code = code;
    this.status = problemTypes[code].status;
    this.errors = errors;
  }
}

/** The body of a problem response. */
export function problemBody(code: ProblemCode, detail: string, errors: readonly FieldProblem[] = []): ProblemBody {
  const { status, title } = problemTypes[code];
  return {
    type: `https://github.com/crm-engine/crm-engine/blob/main/docs/api.md#${code.replace(/_/g, '-')}`,
    title,
    status,
    detail,
    code,
    ...(errors.length > 0 && { errors }),
  };
}
