import type { ProblemDocument, ProblemField } from './types';

/**
 * The engine answered with an error (4xx or 5xx), after any retries. `code` is the problem's
 * code (`validation_failed`, `not_found`, `idempotency_conflict`, …; `http_<status>` when the
 * answer was not a problem document) and `errors` names each bad field.
 *
 * @example
 * try { await crm.send(request); } catch (error) {
 *   if (error instanceof CrmApiError && error.code === 'validation_failed') console.log(error.fieldErrors());
 * }
 */
export class CrmApiError extends Error {
  override readonly name = 'CrmApiError';
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  readonly errors: readonly ProblemField[];
  /** The engine's `x-request-id` of the answer (quote it when asking an operator), or `null`. */
  readonly requestId: string | null;
  /** Seconds the engine asked to wait (`Retry-After`), or `null`. */
  readonly retryAfterSeconds: number | null;
  /** The whole problem document, as answered. */
  readonly problem: ProblemDocument;

  constructor(init: {
    status: number;
    problem: ProblemDocument;
    requestId: string | null;
    retryAfterSeconds?: number | null;
    method: string;
    path: string;
  }) {
    const code = init.problem.code ?? `http_${init.status}`;
    const detail = init.problem.detail ?? init.problem.title ?? `HTTP ${init.status}`;
    super(`${init.method} ${init.path}: ${init.status} ${code}: ${detail}`);
    this.status = init.status;
    this.code = code;
    this.detail = detail;
    this.errors = init.problem.errors ?? [];
    this.requestId = init.requestId;
    this.retryAfterSeconds = init.retryAfterSeconds ?? null;
    this.problem = init.problem;
  }

  /** The bad fields as `{ field: message }` (the first message of each field). */
  fieldErrors(): Record<string, string> {
    const fields: Record<string, string> = {};
    for (const error of this.errors) fields[error.field] ??= error.message;
    return fields;
  }
}

/**
 * The engine could not be reached, or did not answer within `timeoutMs`, after any retries.
 * `cause` is the last underlying error.
 */
export class CrmNetworkError extends Error {
  override readonly name = 'CrmNetworkError';
  /** Whether the last attempt timed out (rather than failing to connect or losing the connection). */
  readonly timedOut: boolean;

  constructor(message: string, options: { cause: unknown; timedOut: boolean }) {
    super(message, { cause: options.cause });
    this.timedOut = options.timedOut;
  }
}

/** Why a signature was refused. */
export type CrmSignatureFailure = 'missing' | 'malformed' | 'mismatch' | 'too_old';

/**
 * `verifyCrmEvent` refused a request: answer it with 400 (or 401) and do not act on it.
 *
 * - `missing`: no `crm-signature` header;
 * - `malformed`: the header is not `t=<seconds>,v1=<hex>[,v1=<hex>…]`, or the body is not an event;
 * - `mismatch`: no `v1` value is the HMAC of this body with this secret;
 * - `too_old`: signed more than `toleranceSeconds` (300) away from now (a replay, or a clock off).
 */
export class CrmSignatureError extends Error {
  override readonly name = 'CrmSignatureError';
  readonly reason: CrmSignatureFailure;

  constructor(reason: CrmSignatureFailure, message: string) {
    super(message);
    this.reason = reason;
  }
}
