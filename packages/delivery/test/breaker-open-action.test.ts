import type { FailureAction } from '@crm/core';
import { breakerOpenAction } from '@crm/delivery';

// What a message does when its channel's breaker is open (no provider call was made).
const retry: FailureAction = { action: 'retry', delayMs: 200, spendsAttempt: true };
const exhausted: FailureAction = { action: 'fallback', openBreaker: false, reason: 'retries_exhausted' };

describe('breakerOpenAction', () => {
  it('falls back at once when the plan has another channel', () => {
    expect(breakerOpenAction({ channel_plan: ['email', 'whatsapp', 'sms'], channels_tried: ['email'] }, retry, 30_000))
      .toEqual({ action: 'fallback', openBreaker: false, reason: 'breaker_open' });
  });

  it('on the last channel waits for the breaker (at least its reset time), spending an attempt', () => {
    expect(breakerOpenAction({ channel_plan: ['whatsapp'], channels_tried: ['whatsapp'] }, retry, 30_000))
      .toEqual({ action: 'retry', delayMs: 30_000, spendsAttempt: true });
    expect(breakerOpenAction({ channel_plan: ['email', 'sms'], channels_tried: ['email', 'sms'] }, { ...retry, delayMs: 45_000 }, 30_000))
      .toEqual({ action: 'retry', delayMs: 45_000, spendsAttempt: true });
  });

  it('on the last channel with its attempts spent: the fallback, which ends the message failed', () => {
    expect(breakerOpenAction({ channel_plan: ['sms'], channels_tried: ['sms'] }, exhausted, 30_000))
      .toEqual({ action: 'fallback', openBreaker: false, reason: 'breaker_open' });
  });
});
