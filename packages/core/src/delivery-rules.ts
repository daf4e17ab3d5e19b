import type { ErrorCategory, MessageChannel } from './enums';

/** Exponential backoff with full jitter (see AWS's "Exponential Backoff And Jitter"). */
export interface BackoffPolicy {
  readonly baseDelayMs: number;
  readonly factor: number;
  readonly maxDelayMs: number;
  /** Attempts on one channel before falling back to the next. */
  readonly maxAttempts: number;
}

/**
 * The upper bound of the delay before retry number `failedAttempts` (1 after the first
 * failure): `min(maxDelayMs, baseDelayMs × factor^(failedAttempts − 1))`, in whole ms.
 *
 * @example backoffCeiling(3, { baseDelayMs: 1000, factor: 2, maxDelayMs: 300000, maxAttempts: 5 }) // 4000
 */
export function backoffCeiling(failedAttempts: number, policy: BackoffPolicy): number {
  if (!Number.isInteger(failedAttempts) || failedAttempts < 1) throw new RangeError('failedAttempts must be a positive integer');
  const exponential = policy.baseDelayMs * policy.factor ** (failedAttempts - 1);
  return Math.floor(Math.min(policy.maxDelayMs, Number.isFinite(exponential) ? exponential : policy.maxDelayMs));
}

/**
 * The delay before the next retry: uniformly random in `[0, backoffCeiling]` ("full jitter"),
 * so that many messages failing together do not retry together.
 *
 * @param random a source of numbers in [0, 1); injectable for tests.
 * @example backoffDelay(1, policy) // somewhere in 0..1000 ms with a 1 s base
 */
export function backoffDelay(failedAttempts: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  return Math.floor(random() * (backoffCeiling(failedAttempts, policy) + 1));
}

/** What a channel worker does after a failed attempt. */
export type FailureAction =
  | { readonly action: 'retry'; readonly delayMs: number; readonly spendsAttempt: boolean }
  | { readonly action: 'fallback'; readonly openBreaker: boolean; readonly reason: string };

export interface FailureContext {
  readonly category: ErrorCategory;
  /** Attempts already spent on this channel, the failed one included. */
  readonly channelAttempts: number;
  /** Waits for a rate limit on this channel so far (they spend no attempt, but are bounded). */
  readonly rateLimitWaits: number;
  /** The provider's Retry-After, when it gave one. */
  readonly retryAfterMs?: number | null;
}

/** Rate-limit waits on one channel before the engine stops waiting and falls back. */
export const maxRateLimitWaits = 20;

/**
 * The table of ARCHITECTURE.md, as code:
 *
 * | category | action |
 * |---|---|
 * | `transient` | retry with backoff; after the last attempt, fall back |
 * | `rate_limit` | wait (Retry-After when given) without spending an attempt |
 * | `permanent` | fall back at once |
 * | `auth_failure` | open the provider's breaker, fall back |
 *
 * @example decideAfterFailure({ category: 'permanent', channelAttempts: 1, rateLimitWaits: 0 }, policy)
 * // { action: 'fallback', openBreaker: false, reason: 'permanent' }
 */
export function decideAfterFailure(context: FailureContext, policy: BackoffPolicy, random: () => number = Math.random): FailureAction {
  switch (context.category) {
    case 'transient':
      return context.channelAttempts < policy.maxAttempts
        ? { action: 'retry', delayMs: backoffDelay(context.channelAttempts, policy, random), spendsAttempt: true }
        : { action: 'fallback', openBreaker: false, reason: 'retries_exhausted' };
    case 'rate_limit': {
      if (context.rateLimitWaits >= maxRateLimitWaits) return { action: 'fallback', openBreaker: false, reason: 'rate_limited' };
      const given = context.retryAfterMs;
      const delayMs = given !== undefined && given !== null && given >= 0
        ? Math.min(given, policy.maxDelayMs)
        : backoffDelay(context.rateLimitWaits + 1, policy, random);
      return { action: 'retry', delayMs, spendsAttempt: false };
    }
    case 'permanent':
      return { action: 'fallback', openBreaker: false, reason: 'permanent' };
    case 'auth_failure':
      return { action: 'fallback', openBreaker: true, reason: 'auth_failure' };
    default: {
      const unknown: never = context.category;
      throw new TypeError(`unknown error category ${String(unknown)}`);
    }
  }
}

/**
 * The next channel after `tried` ones, or `null` when all have been tried.
 *
 * @example nextChannel(['email', 'sms', 'whatsapp'], ['email']) // 'sms'
 */
export function nextChannel(plan: readonly MessageChannel[], tried: readonly MessageChannel[]): MessageChannel | null {
  return plan.find((channel) => !tried.includes(channel)) ?? null;
}

/**
 * Whether an email failure means the address does not take mail: a permanent SMTP 5xx reply
 * (530/535, authentication, are categorised `auth_failure` and never count). The email worker
 * suppresses the address on it; the strategy ends the message `bounced` when no channel is left.
 *
 * @example isEmailBounce('permanent', '550') // true
 * @example isEmailBounce('transient', '451') // false
 */
export function isEmailBounce(category: ErrorCategory | null | undefined, code: string | null | undefined): boolean {
  return category === 'permanent' && /^5\d\d$/.test(code ?? '');
}
