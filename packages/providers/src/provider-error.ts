import type { ErrorCategory } from '@crm/core';

/**
 * A provider refused or failed a send. `category` decides what happens next (retry, wait,
 * fall back); branch on it or on `code`, never on the message text.
 */
export class ProviderError extends Error {
  readonly provider: string;
  readonly category: ErrorCategory;
  /** The provider's own code, e.g. an SMTP reply code `550` or Twilio `21610`. */
  readonly code: string | null;
  /** For `rate_limit`: how long the provider asked us to wait, in ms. */
  readonly retryAfterMs: number | null;

  constructor(props: {
    provider: string;
    category: ErrorCategory;
    code: string | null;
    message: string;
    retryAfterMs?: number | null;
    cause?: unknown;
  }) {
    super(props.message, { cause: props.cause });
    this.name = 'ProviderError';
    this.provider = props.provider;
    this.category = props.category;
    this.code = props.code;
    this.retryAfterMs = props.retryAfterMs ?? null;
  }
}
