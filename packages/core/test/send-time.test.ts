import fc from 'fast-check';
import { calculateSendTime, defaultChannelWindows, type MessageChannel } from '@crm/core';

import { allowedAt, inSpan } from './support/local-clock';

const zones = ['America/New_York', 'Europe/London', 'Australia/Lord_Howe', 'Asia/Kolkata', 'Pacific/Chatham', 'Asia/Kathmandu', 'America/Sao_Paulo', 'Pacific/Apia', 'UTC', 'America/St_Johns', 'Europe/Berlin', 'America/Los_Angeles'];
const allZones = Intl.supportedValuesOf('timeZone');
const hhmm = fc.tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 })).map(([h, m]) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`);
// 2025-2027, with extra weight on the days around DST changes.
const instant = fc.oneof(
  fc.integer({ min: Date.UTC(2025, 0, 1), max: Date.UTC(2027, 11, 31) }),
  fc.constantFrom(Date.UTC(2026, 2, 8, 6), Date.UTC(2026, 10, 1, 5), Date.UTC(2026, 2, 29, 0), Date.UTC(2026, 9, 25, 0), Date.UTC(2026, 3, 4, 14), Date.UTC(2026, 9, 3, 15)).chain((base) => fc.integer({ min: base - 86_400_000, max: base + 86_400_000 })),
).map((ms) => new Date(ms));
const channel = fc.constantFrom<MessageChannel>('email', 'sms', 'whatsapp');

describe('calculateSendTime (properties)', () => {
  it('a non-critical send time is never before now, never inside quiet hours or outside the channel window, and is the first such minute', () => {
    fc.assert(
      fc.property(instant, fc.oneof(fc.constantFrom(...zones), fc.constantFrom(...allZones)), fc.option(fc.record({ start: hhmm, end: hhmm }), { nil: null }), channel, fc.constantFrom('low', 'normal', 'high') as fc.Arbitrary<'low' | 'normal' | 'high'>, (now, zone, quiet, ch, urgency) => {
        const decision = calculateSendTime({ now, timezone: zone, quietHours: quiet, channel: ch, urgency });
        const window = defaultChannelWindows[ch] ?? null;
        const sendAt = decision.sendAt;
        expect(sendAt.getTime()).toBeGreaterThanOrEqual(now.getTime());
        // Both constraints hold unless quiet hours cover the whole channel window (then quiet hours win).
        const bothPossible = window === null || Array.from({ length: 1440 }, (_, m) => m).some((m) => !(quiet && inSpan(m, quiet)) && inSpan(m, window));
        expect(allowedAt(sendAt, zone, quiet, bothPossible ? window : null)).toBe(true);
        // Never more than a day (plus a DST hour) after the window opens; two days when what is
        // allowed is at most an hour a day, which a DST gap can swallow (e.g. quiet 02:01–02:00 in
        // Berlin on the night the clocks skip 02:00–03:00: the next 02:00 is two days on).
        const allowedMinutes = Array.from({ length: 1440 }, (_, m) => m).filter((m) => !(quiet && inSpan(m, quiet)) && (!bothPossible || window === null || inSpan(m, window))).length;
        expect(sendAt.getTime() - now.getTime()).toBeLessThanOrEqual((allowedMinutes <= 60 ? 49 : 25) * 3_600_000);
        if (decision.postponed) {
          const before = new Date(sendAt.getTime() - 60_000);
          expect(before < now || !allowedAt(before, zone, quiet, bothPossible ? window : null)).toBe(true);
        } else {
          expect(sendAt.getTime()).toBe(now.getTime());
        }
      }),
      { numRuns: 400 },
    );
  });

  it('waits two days when the one allowed minute of the day falls into the DST gap (fast-check counterexample)', () => {
    const now = new Date('2026-03-28T01:01:00.000Z');
    const decision = calculateSendTime({ now, timezone: 'Europe/Berlin', quietHours: { start: '02:01', end: '02:00' }, channel: 'email', urgency: 'low' });
    // 2026-03-29 02:00 does not exist in Berlin (02:00 → 03:00): the next 02:00 is on the 30th, CEST.
    expect(decision.sendAt).toEqual(new Date('2026-03-30T00:00:00.000Z'));
  });

  it('never goes earlier than a requested time', () => {
    fc.assert(
      fc.property(instant, fc.integer({ min: 0, max: 5 * 86_400_000 }), fc.constantFrom(...zones), channel, (now, later, zone, ch) => {
        const requestedAt = new Date(now.getTime() + later);
        expect(calculateSendTime({ now, requestedAt, timezone: zone, channel: ch, urgency: 'normal' }).sendAt.getTime()).toBeGreaterThanOrEqual(requestedAt.getTime());
      }),
      { numRuns: 200 },
    );
  });
});

describe('calculateSendTime (cases)', () => {
  const at = (iso: string) => new Date(iso);

  it('postpones an evening email in New York to 08:00 local, and says why', () => {
    const decision = calculateSendTime({ now: at('2026-01-15T03:00:00Z'), timezone: 'America/New_York', channel: 'email', urgency: 'normal' });
    expect(decision).toEqual({ sendAt: at('2026-01-15T13:00:00Z'), postponed: true, reason: 'postponed to 08:00 America/New_York: now falls in quiet hours 21:00–08:00' });
  });

  it('sends at once outside quiet hours', () => {
    expect(calculateSendTime({ now: at('2026-01-15T15:00:00Z'), timezone: 'America/New_York', channel: 'email', urgency: 'normal' })).toMatchObject({ sendAt: at('2026-01-15T15:00:00Z'), postponed: false });
  });

  it('keeps SMS to the 08:00–20:00 window even when the client has no quiet hours', () => {
    const decision = calculateSendTime({ now: at('2026-06-01T19:30:00Z'), timezone: 'Europe/London', quietHours: null, channel: 'sms', urgency: 'high' });
    // 20:30 BST: after the SMS window; next day 08:00 BST = 07:00Z.
    expect(decision).toMatchObject({ sendAt: at('2026-06-02T07:00:00Z'), postponed: true });
    expect(decision.reason).toContain('the sms window 08:00–20:00');
  });

  it('lets critical messages through quiet hours, unless configured not to', () => {
    const night = { now: at('2026-01-15T03:00:00Z'), timezone: 'America/New_York', channel: 'sms' as const, urgency: 'critical' as const };
    expect(calculateSendTime(night)).toMatchObject({ sendAt: night.now, postponed: false });
    expect(calculateSendTime({ ...night, criticalBypassesQuietHours: false }).postponed).toBe(true);
  });

  it('opens a window that falls inside a DST gap when the clocks jump', () => {
    // New York, 2026-03-08: 02:00 → 03:00. Quiet until 02:30 (a time that does not exist that night).
    const decision = calculateSendTime({ now: at('2026-03-08T06:10:00Z'), timezone: 'America/New_York', quietHours: { start: '22:00', end: '02:30' }, channel: 'email', urgency: 'normal' });
    expect(decision.sendAt).toEqual(at('2026-03-08T07:00:00Z')); // 03:00 EDT, the first minute after quiet hours
  });

  it('treats an hour that occurs twice as quiet both times', () => {
    // London, 2026-10-25: 01:00–02:00 happens twice. Quiet 00:30–01:30.
    const quiet = { start: '00:30', end: '01:30' };
    const second = calculateSendTime({ now: at('2026-10-25T01:10:00Z'), timezone: 'Europe/London', quietHours: quiet, channel: 'email', urgency: 'normal' });
    expect(second.sendAt).toEqual(at('2026-10-25T01:30:00Z')); // 01:30 GMT, after the second 01:10
  });

  it('handles zones with 45-minute offsets and 30-minute DST (Chatham, Lord Howe)', () => {
    const chatham = calculateSendTime({ now: at('2026-01-15T10:00:00Z'), timezone: 'Pacific/Chatham', channel: 'email', urgency: 'low' });
    // 23:45 CHADT (+13:45) is quiet; 08:00 local = 18:15Z.
    expect(chatham.sendAt).toEqual(at('2026-01-15T18:15:00Z'));
    const lordHowe = calculateSendTime({ now: at('2026-01-15T12:00:00Z'), timezone: 'Australia/Lord_Howe', channel: 'email', urgency: 'low' });
    // 23:00 (+11:00) is quiet; 08:00 local = 21:00Z.
    expect(lordHowe.sendAt).toEqual(at('2026-01-15T21:00:00Z'));
  });

  it('refuses an unknown time zone', () => {
    expect(() => calculateSendTime({ now: new Date(), timezone: 'Mars/Olympus', channel: 'email', urgency: 'normal' })).toThrow(RangeError);
  });
});
