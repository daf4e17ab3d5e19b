import fc from 'fast-check';
import {
  backoffCeiling,
  backoffDelay,
  decideAfterFailure,
  isEmailBounce,
  maxRateLimitWaits,
  nextChannel,
  type BackoffPolicy,
} from '@crm/core';

const policy: BackoffPolicy = { baseDelayMs: 1_000, factor: 2, maxDelayMs: 300_000, maxAttempts: 5 };

describe('backoff with full jitter', () => {
  it('grows exponentially up to the cap', () => {
    expect([1, 2, 3, 4, 5].map((n) => backoffCeiling(n, policy))).toEqual([1_000, 2_000, 4_000, 8_000, 16_000]);
    expect(backoffCeiling(30, policy)).toBe(300_000);
    expect(backoffCeiling(5_000, policy)).toBe(300_000);
  });

  it('stays within [0, ceiling] for any policy, attempt and random draw', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100_000 }),
        fc.double({ min: 1, max: 10, noNaN: true }),
        fc.integer({ min: 1, max: 86_400_000 }),
        fc.integer({ min: 1, max: 60 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (baseDelayMs, factor, maxDelayMs, attempt, draw) => {
          const p = { baseDelayMs, factor, maxDelayMs, maxAttempts: 5 };
          const delay = backoffDelay(attempt, p, () => draw);
          return Number.isInteger(delay) && delay >= 0 && delay <= backoffCeiling(attempt, p) && delay <= maxDelayMs;
        },
      ),
    );
  });

  it('spreads delays over the whole range (not clustered at the ceiling)', () => {
    const delays = Array.from({ length: 2_000 }, () => backoffDelay(3, policy));
    const mean = delays.reduce((a, b) => a + b, 0) / delays.length;
    expect(Math.min(...delays)).toBeLessThan(400);
    expect(Math.max(...delays)).toBeGreaterThan(3_600);
    expect(mean).toBeGreaterThan(1_600);
    expect(mean).toBeLessThan(2_400);
  });

  it('refuses a non-positive attempt', () => {
    expect(() => backoffCeiling(0, policy)).toThrow(RangeError);
  });
});

describe('what a failure does, by category', () => {
  const half = () => 0.5;

  it('transient: retries with backoff until the last attempt, then falls back', () => {
    expect(decideAfterFailure({ category: 'transient', channelAttempts: 1, rateLimitWaits: 0 }, policy, half)).toEqual({ action: 'retry', delayMs: 500, spendsAttempt: true });
    expect(decideAfterFailure({ category: 'transient', channelAttempts: 4, rateLimitWaits: 0 }, policy, half)).toEqual({ action: 'retry', delayMs: 4_000, spendsAttempt: true });
    expect(decideAfterFailure({ category: 'transient', channelAttempts: 5, rateLimitWaits: 0 }, policy, half)).toEqual({ action: 'fallback', openBreaker: false, reason: 'retries_exhausted' });
  });

  it('rate_limit: waits Retry-After (capped) without spending an attempt, and gives up after many waits', () => {
    expect(decideAfterFailure({ category: 'rate_limit', channelAttempts: 5, rateLimitWaits: 0, retryAfterMs: 7_000 }, policy)).toEqual({ action: 'retry', delayMs: 7_000, spendsAttempt: false });
    expect(decideAfterFailure({ category: 'rate_limit', channelAttempts: 1, rateLimitWaits: 0, retryAfterMs: 10_000_000 }, policy)).toEqual({ action: 'retry', delayMs: 300_000, spendsAttempt: false });
    expect(decideAfterFailure({ category: 'rate_limit', channelAttempts: 1, rateLimitWaits: 2 }, policy, half)).toEqual({ action: 'retry', delayMs: 2_000, spendsAttempt: false });
    expect(decideAfterFailure({ category: 'rate_limit', channelAttempts: 1, rateLimitWaits: maxRateLimitWaits }, policy).action).toBe('fallback');
  });

  it('permanent: falls back at once', () => {
    expect(decideAfterFailure({ category: 'permanent', channelAttempts: 1, rateLimitWaits: 0 }, policy)).toEqual({ action: 'fallback', openBreaker: false, reason: 'permanent' });
  });

  it('auth_failure: opens the breaker and falls back', () => {
    expect(decideAfterFailure({ category: 'auth_failure', channelAttempts: 1, rateLimitWaits: 0 }, policy)).toEqual({ action: 'fallback', openBreaker: true, reason: 'auth_failure' });
  });
});

describe('nextChannel', () => {
  it('picks the next untried channel', () => {
    expect(nextChannel(['email', 'sms', 'whatsapp'], [])).toBe('email');
    expect(nextChannel(['email', 'sms', 'whatsapp'], ['email'])).toBe('sms');
    expect(nextChannel(['email', 'sms', 'whatsapp'], ['email', 'sms', 'whatsapp'])).toBeNull();
  });
});

describe('isEmailBounce', () => {
  it.each([
    ['permanent', '550', true],
    ['permanent', '554', true],
    ['transient', '451', false],
    ['auth_failure', '535', false],
    ['permanent', 'no_email_address', false],
    ['permanent', null, false],
  ] as const)('%s %s → %s', (category, code, expected) => {
    expect(isEmailBounce(category, code)).toBe(expected);
  });
});
