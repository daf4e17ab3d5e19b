import { isAxiosError } from 'axios';

/**
 * What went wrong with one HTTP call to a provider, reduced to what a categoriser needs: the
 * HTTP status and body when the provider answered, the network error code when it did not.
 * Never the request (which holds the phone number and the message text).
 */
export interface HttpFailure {
  /** HTTP status of the provider's answer; absent when none arrived (timeout, network error). */
  readonly status?: number;
  /** The parsed answer body, if any. */
  readonly body?: unknown;
  /** From a `Retry-After` header, in ms. */
  readonly retryAfterMs: number | null;
  /** Node's or axios's error code when no answer arrived, e.g. `ETIMEDOUT`, `ECONNREFUSED`. */
  readonly network?: string;
}

/** Default timeout of one provider HTTP call, in ms. */
export const DEFAULT_PROVIDER_TIMEOUT_MS = 10_000;

/**
 * A `Retry-After` header value in ms: delay-seconds (`"30"`) or an HTTP date; `null` when
 * absent or unreadable. A date in the past means "now" (0).
 *
 * @example parseRetryAfter('2') // 2000
 */
export function parseRetryAfter(value: unknown, now: number = Date.now()): number | null {
  const text = Array.isArray(value) ? value[0] : value;
  if (typeof text !== 'string' && typeof text !== 'number') return null;
  const trimmed = String(text).trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

/**
 * The {@link HttpFailure} behind an error thrown by axios (or anything else: an unknown error
 * counts as a network failure with its `code`, if it has one).
 */
export function httpFailureOf(error: unknown): HttpFailure {
  if (isAxiosError(error) && error.response) {
    return {
      status: error.response.status,
      body: error.response.data as unknown,
      retryAfterMs: parseRetryAfter((error.response.headers as Record<string, unknown>)['retry-after']),
    };
  }
  const code = (error as { code?: unknown } | null)?.code;
  return { retryAfterMs: null, network: typeof code === 'string' ? code : 'ERR_UNKNOWN' };
}
