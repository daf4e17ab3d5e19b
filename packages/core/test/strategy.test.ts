import fc from 'fast-check';
import {
  calculateSendTime,
  capFreesAt,
  defaultTimingPolicy,
  determineStrategy,
  messageChannels,
  messageTypes,
  planSendTime,
  resolveRouting,
  shouldBatch,
  type BatchInput,
  type DailySpan,
  type DigestPolicy,
  type MessageChannel,
  type MessageType,
  type StrategyInput,
  type UrgencyLevel,
} from '@crm/core';
import { allowedAt, inSpan } from './support/local-clock';

// ---------------------------------------------------------------------------------------------
// Helpers (the local clock is read with Intl, not luxon: see support/local-clock.ts).
// ---------------------------------------------------------------------------------------------

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Whether some minute of the day is outside `quiet` and inside `window` (else quiet hours win). */
const bothPossible = (quiet: DailySpan | null, window: DailySpan | null) =>
  window === null || Array.from({ length: 1440 }, (_, m) => m).some((m) => !(quiet && inSpan(m, quiet)) && inSpan(m, window));

/** How many of `recent` (clamped to `now`, as capFreesAt reads them) lie in `(from, to]`. */
const countIn = (recent: readonly Date[], now: Date, from: number, to: number) =>
  recent.map((at) => Math.min(at.getTime(), now.getTime())).filter((at) => at > from && at <= to).length;

const zones = ['America/New_York', 'Europe/London', 'Australia/Lord_Howe', 'Asia/Kolkata'];
const allZones = Intl.supportedValuesOf('timeZone');
const zone = fc.oneof(fc.constantFrom(...zones), fc.constantFrom(...allZones));
const hhmm = fc.tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 })).map(([h, m]) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`);
// 2025-2027, with extra weight on the days around DST changes (New York, London, Lord Howe).
const instant = fc
  .oneof(
    fc.integer({ min: Date.UTC(2025, 0, 1), max: Date.UTC(2027, 11, 31) }),
    fc.constantFrom(Date.UTC(2026, 2, 8, 6), Date.UTC(2026, 10, 1, 5), Date.UTC(2026, 2, 29, 0), Date.UTC(2026, 9, 25, 0), Date.UTC(2026, 3, 4, 14), Date.UTC(2026, 9, 3, 15)).chain((base) => fc.integer({ min: base - DAY, max: base + DAY })),
  )
  .map((ms) => new Date(ms));
const channel = fc.constantFrom<MessageChannel>(...messageChannels);
const urgency = fc.constantFrom<UrgencyLevel>('low', 'normal', 'high', 'critical');
const nonCritical = fc.constantFrom<UrgencyLevel>('low', 'normal', 'high');
const messageType = fc.constantFrom<MessageType | 'digest'>(...messageTypes, 'digest');

// ---------------------------------------------------------------------------------------------
// determineStrategy
// ---------------------------------------------------------------------------------------------

const allDeliverable: readonly MessageChannel[] = ['email', 'sms', 'whatsapp'];
const base: StrategyInput = {
  urgency: 'normal',
  messageType: 'reminder',
  requestedChannel: null,
  hasAttachment: false,
  preferredChannels: ['email', 'sms', 'whatsapp'],
  optOuts: [],
  hasEmail: true,
  hasPhone: true,
  deliverable: allDeliverable,
};

type Row = [name: string, input: Partial<StrategyInput>, channels: MessageChannel[], alsoEmail: boolean, reason: string];

/** Rows whose outcome is the same whatever the urgency: forced channels and no usable channel. */
const anyUrgencyRows: Row[] = [
  ['forced channel, usable, not preferred', { requestedChannel: 'whatsapp', preferredChannels: ['email'] }, ['whatsapp'], false, 'channel whatsapp requested'],
  ['forced channel, opted out', { requestedChannel: 'sms', optOuts: ['sms'] }, [], false, 'requested channel sms cannot be used (opted out)'],
  ['forced channel, no phone number', { requestedChannel: 'whatsapp', hasPhone: false }, [], false, 'requested channel whatsapp cannot be used (no phone number)'],
  ['forced channel, no email address', { requestedChannel: 'email', hasEmail: false }, [], false, 'requested channel email cannot be used (no email address)'],
  ['forced channel, not deliverable', { requestedChannel: 'whatsapp', deliverable: ['email', 'sms'] }, [], false, 'requested channel whatsapp cannot be used (not available in this deployment)'],
  ['no usable channel', { preferredChannels: ['email', 'sms'], optOuts: ['email'], hasPhone: false }, [], false, 'no usable channel (email: opted out; sms: no phone number)'],
  ['no usable channel (not deliverable)', { preferredChannels: ['whatsapp'], deliverable: ['email'] }, [], false, 'no usable channel (whatsapp: not available in this deployment)'],
  ['no preferred channels', { preferredChannels: [] }, [], false, 'no usable channel (no preferred channels)'],
];

/** Rows for low, normal and high: preference order, filtered, with content fit. */
const preferenceRows: Row[] = [
  ['preference order kept', { preferredChannels: ['whatsapp', 'email', 'sms'] }, ['whatsapp', 'email', 'sms'], false, 'client preference order: whatsapp → email → sms'],
  ['preference order kept (sms first)', { preferredChannels: ['sms', 'whatsapp'] }, ['sms', 'whatsapp'], false, 'client preference order: sms → whatsapp'],
  ['duplicates in preferences', { preferredChannels: ['sms', 'sms', 'email', 'sms'] }, ['sms', 'email'], false, 'client preference order: sms → email'],
  ['opt-out removed and named', { preferredChannels: ['sms', 'email', 'whatsapp'], optOuts: ['sms'] }, ['email', 'whatsapp'], false, 'client preference order: email → whatsapp (skipped sms: opted out)'],
  ['two opt-outs', { preferredChannels: ['sms', 'email', 'whatsapp'], optOuts: ['whatsapp', 'sms'] }, ['email'], false, '(skipped sms: opted out; whatsapp: opted out)'],
  ['no email address', { preferredChannels: ['email', 'sms'], hasEmail: false }, ['sms'], false, '(skipped email: no email address)'],
  ['no phone number', { preferredChannels: ['sms', 'whatsapp', 'email'], hasPhone: false }, ['email'], false, '(skipped sms: no phone number; whatsapp: no phone number)'],
  ['not deliverable here', { preferredChannels: ['whatsapp', 'sms'], deliverable: ['email', 'sms'] }, ['sms'], false, '(skipped whatsapp: not available in this deployment)'],
  ['blueprint: email first', { messageType: 'blueprint_delivery', preferredChannels: ['sms', 'whatsapp', 'email'] }, ['email', 'sms', 'whatsapp'], false, 'content: the document goes by email first: email → sms → whatsapp'],
  ['attachment: email first', { hasAttachment: true, preferredChannels: ['whatsapp', 'email'] }, ['email', 'whatsapp'], false, 'the document goes by email first'],
  ['attachment, email already first', { hasAttachment: true, preferredChannels: ['email', 'sms'] }, ['email', 'sms'], false, 'client preference order: email → sms'],
  ['blueprint, email opted out: order stays', { messageType: 'blueprint_delivery', preferredChannels: ['sms', 'whatsapp', 'email'], optOuts: ['email'] }, ['sms', 'whatsapp'], false, 'client preference order: sms → whatsapp (skipped email: opted out)'],
  ['attachment, no email address: order stays', { hasAttachment: true, preferredChannels: ['whatsapp', 'email', 'sms'], hasEmail: false }, ['whatsapp', 'sms'], false, 'client preference order: whatsapp → sms (skipped email: no email address)'],
  ['blueprint, email not preferred: order stays', { messageType: 'blueprint_delivery', preferredChannels: ['whatsapp', 'sms'] }, ['whatsapp', 'sms'], false, 'client preference order: whatsapp → sms'],
];

const criticalRows: Row[] = [
  ['fastest first, copy by email', { preferredChannels: ['email', 'whatsapp', 'sms'] }, ['sms', 'whatsapp'], true, 'critical: fastest channel sms, then whatsapp, and a copy by email'],
  ['sms before whatsapp whatever the preference', { preferredChannels: ['whatsapp', 'email', 'sms'] }, ['sms', 'whatsapp'], true, 'fastest channel sms, then whatsapp'],
  ['email not preferred: no copy', { preferredChannels: ['whatsapp', 'sms'] }, ['sms', 'whatsapp'], false, 'critical: fastest channel sms, then whatsapp'],
  ['no phone: email alone', { preferredChannels: ['sms', 'email', 'whatsapp'], hasPhone: false }, ['email'], false, 'critical: email is the only usable channel (skipped sms: no phone number; whatsapp: no phone number)'],
  ['email opted out: no copy', { preferredChannels: ['email', 'sms', 'whatsapp'], optOuts: ['email'] }, ['sms', 'whatsapp'], false, 'critical: fastest channel sms, then whatsapp (skipped email: opted out)'],
  ['no email address: no copy', { hasEmail: false }, ['sms', 'whatsapp'], false, '(skipped email: no email address)'],
  ['sms opted out: whatsapp and a copy', { preferredChannels: ['sms', 'whatsapp', 'email'], optOuts: ['sms'] }, ['whatsapp'], true, 'critical: fastest channel whatsapp, and a copy by email (skipped sms: opted out)'],
  ['sms not deliverable', { deliverable: ['email', 'whatsapp'] }, ['whatsapp'], true, '(skipped sms: not available in this deployment)'],
  ['blueprint: still text first, copy by email', { messageType: 'blueprint_delivery', hasAttachment: true, preferredChannels: ['email', 'sms'] }, ['sms'], true, 'critical: fastest channel sms, and a copy by email'],
  ['only email preferred', { preferredChannels: ['email'] }, ['email'], false, 'critical: email is the only usable channel'],
];

const withUrgency = (urgencies: readonly UrgencyLevel[], rows: readonly Row[]) =>
  urgencies.flatMap((u) => rows.map(([name, input, channels, alsoEmail, reason]): [UrgencyLevel, ...Row] => [u, name, input, channels, alsoEmail, reason]));

describe('determineStrategy (tables)', () => {
  it.each([
    ...withUrgency(['low', 'normal', 'high', 'critical'], anyUrgencyRows),
    ...withUrgency(['low', 'normal', 'high'], preferenceRows),
    ...withUrgency(['critical'], criticalRows),
  ])('%s: %s', (u, _name, input, channels, alsoEmail, reason) => {
    const decision = determineStrategy({ ...base, ...input, urgency: u });
    expect(decision.channels).toEqual(channels);
    expect(decision.alsoEmail).toBe(alsoEmail);
    expect(decision.reason).toContain(reason);
  });

  it('matches its documented example', () => {
    expect(
      determineStrategy({ ...base, urgency: 'critical', messageType: 'error_notification', preferredChannels: ['email', 'sms'] }),
    ).toEqual({ channels: ['sms'], alsoEmail: true, reason: 'critical: fastest channel sms, and a copy by email' });
  });
});

describe('determineStrategy (properties)', () => {
  const strategyInput = fc.record<StrategyInput>({
    urgency,
    messageType,
    requestedChannel: fc.option(channel, { nil: null }),
    hasAttachment: fc.boolean(),
    preferredChannels: fc.array(channel, { maxLength: 5 }),
    optOuts: fc.subarray([...messageChannels]),
    hasEmail: fc.boolean(),
    hasPhone: fc.boolean(),
    deliverable: fc.shuffledSubarray([...messageChannels]),
  });
  const usable = (c: MessageChannel, input: StrategyInput) =>
    !input.optOuts.includes(c) && (c === 'email' ? input.hasEmail : input.hasPhone) && input.deliverable.includes(c);

  it('only ever picks usable channels, without repeats, from the preferences (or the forced one)', () => {
    fc.assert(
      fc.property(strategyInput, (input) => {
        const { channels, alsoEmail, reason } = determineStrategy(input);
        expect(reason.length).toBeGreaterThan(0);
        for (const c of channels) {
          expect(input.optOuts).not.toContain(c);
          expect(c === 'email' ? input.hasEmail : input.hasPhone).toBe(true);
          expect(input.deliverable).toContain(c);
        }
        expect(new Set(channels).size).toBe(channels.length);
        if (input.requestedChannel) {
          expect(channels).toEqual(usable(input.requestedChannel, input) ? [input.requestedChannel] : []);
        } else {
          for (const c of channels) expect(input.preferredChannels).toContain(c);
          // Nothing usable is dropped, except email under critical when it goes as the copy.
          const expected = new Set(input.preferredChannels.filter((c) => usable(c, input)));
          if (alsoEmail) expected.delete('email');
          expect(new Set(channels)).toEqual(expected);
        }
        const emailUsable = usable('email', input);
        expect(alsoEmail).toBe(input.urgency === 'critical' && input.requestedChannel === null && emailUsable && input.preferredChannels.includes('email') && channels.length > 0 && !channels.includes('email'));
        if (alsoEmail) expect(input.urgency === 'critical' && emailUsable && !channels.includes('email')).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('keeps the preference order for low/normal/high, apart from a document moving email first', () => {
    fc.assert(
      fc.property(strategyInput, nonCritical, (raw, u) => {
        const input = { ...raw, urgency: u, requestedChannel: null };
        const { channels } = determineStrategy(input);
        const inOrder = [...new Set(input.preferredChannels)].filter((c) => usable(c, input));
        const document = input.hasAttachment || input.messageType === 'blueprint_delivery';
        expect(channels).toEqual(document && inOrder.includes('email') ? ['email', ...inOrder.filter((c) => c !== 'email')] : inOrder);
      }),
      { numRuns: 500 },
    );
  });

  it('puts the fastest text channel first for critical', () => {
    fc.assert(
      fc.property(strategyInput, (raw) => {
        const input = { ...raw, urgency: 'critical' as const, requestedChannel: null };
        const { channels } = determineStrategy(input);
        if (channels.includes('sms') && channels.includes('whatsapp')) expect(channels).toEqual(['sms', 'whatsapp']);
        if (channels.includes('email')) expect(channels).toEqual(['email']);
      }),
      { numRuns: 500 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// shouldBatch
// ---------------------------------------------------------------------------------------------

describe('shouldBatch', () => {
  const policy: DigestPolicy = { enabled: true, windowMs: 900_000, maxItems: 10 };
  const lowInput: BatchInput = { urgency: 'low', messageType: 'reminder', requestedChannel: null, requestedAt: null, hasAttachment: false, clientAllowsBatching: true };

  it.each<[string, Partial<BatchInput>, Partial<DigestPolicy>, boolean, string]>([
    ['low urgency batches', {}, {}, true, 'low urgency: waits up to 15 min for a digest of up to 10'],
    ['normal is never batched', { urgency: 'normal' }, {}, false, 'normal urgency is never batched'],
    ['high is never batched', { urgency: 'high' }, {}, false, 'high urgency is never batched'],
    ['critical is never batched', { urgency: 'critical' }, {}, false, 'critical urgency is never batched'],
    ['policy disabled', {}, { enabled: false }, false, 'batching is off'],
    ['client disallows', { clientAllowsBatching: false }, {}, false, 'the client does not want digests'],
    ['a digest itself', { messageType: 'digest' }, {}, false, 'a digest is not batched again'],
    ['requested channel', { requestedChannel: 'email' }, {}, false, 'a channel was requested'],
    ['requested time', { requestedAt: new Date('2026-01-15T12:00:00Z') }, {}, false, 'a send time was requested'],
    ['attachment', { hasAttachment: true }, {}, false, 'it carries a document'],
    ['blueprint_delivery', { messageType: 'blueprint_delivery' }, {}, false, 'it carries a document'],
    ['other window and size', {}, { windowMs: 3_600_000, maxItems: 3 }, true, 'waits up to 60 min for a digest of up to 3'],
    ['a window under a minute', {}, { windowMs: 30_000 }, true, 'waits up to 30 s'],
    ['a window of no whole minutes', {}, { windowMs: 90_000 }, true, 'waits up to 90 s'],
  ])('%s', (_name, input, policyChanges, batch, reason) => {
    const decision = shouldBatch({ ...lowInput, ...input }, { ...policy, ...policyChanges });
    expect(decision.batch).toBe(batch);
    expect(decision.reason).toContain(reason);
  });

  it('batches exactly the plain low-urgency messages of a client who allows it', () => {
    const batchInput = fc.record<BatchInput>({
      urgency,
      messageType,
      requestedChannel: fc.option(channel, { nil: null }),
      requestedAt: fc.option(instant, { nil: null }),
      hasAttachment: fc.boolean(),
      clientAllowsBatching: fc.boolean(),
    });
    fc.assert(
      fc.property(batchInput, fc.boolean(), (input, enabled) => {
        const plain = input.urgency === 'low' && enabled && input.clientAllowsBatching && input.messageType !== 'digest' && input.messageType !== 'blueprint_delivery'
          && input.requestedChannel === null && input.requestedAt === null && !input.hasAttachment;
        expect(shouldBatch(input, { ...policy, enabled }).batch).toBe(plain);
      }),
      { numRuns: 500 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// capFreesAt
// ---------------------------------------------------------------------------------------------

describe('capFreesAt', () => {
  const capInput = fc
    .record({
      now: instant,
      max: fc.integer({ min: 1, max: 5 }),
      windowMs: fc.oneof(fc.integer({ min: 1, max: 48 * HOUR }), fc.constant(DAY)),
    })
    .chain(({ now, max, windowMs }) =>
      fc.record({
        now: fc.constant(now),
        cap: fc.constant({ max, windowMs }),
        // Mostly inside or just outside the window; some in the future (on their way: read as now);
        // repeated instants allowed.
        recent: fc.array(
          fc.oneof(
            fc.integer({ min: -2 * windowMs, max: 0 }),
            fc.integer({ min: -windowMs, max: 0 }),
            fc.constantFrom(-windowMs, -windowMs + 1, 0),
            fc.integer({ min: 1, max: HOUR }),
          ).map((offset) => new Date(now.getTime() + offset)),
          { maxLength: 10 },
        ),
      }),
    );

  it('is null while fewer than max are in the window; otherwise the earliest later instant at which one more fits', () => {
    fc.assert(
      fc.property(capInput, ({ now, cap, recent }) => {
        const frees = capFreesAt({ now, recent, cap });
        const countNow = countIn(recent, now, now.getTime() - cap.windowMs, now.getTime());
        if (countNow < cap.max) {
          expect(frees).toBeNull();
          return;
        }
        expect(frees).not.toBeNull();
        const t = (frees as Date).getTime();
        expect(t).toBeGreaterThan(now.getTime());
        expect(countIn(recent, now, t - cap.windowMs, t)).toBeLessThanOrEqual(cap.max - 1);
        expect(countIn(recent, now, t - 1 - cap.windowMs, t - 1)).toBeGreaterThanOrEqual(cap.max);
      }),
      { numRuns: 1000 },
    );
  });

  it('means no cap when max is 0 (or less)', () => {
    fc.assert(
      fc.property(capInput, fc.integer({ min: -3, max: 0 }), ({ now, cap, recent }, max) => {
        expect(capFreesAt({ now, recent: [...recent, now, now, now], cap: { ...cap, max } })).toBeNull();
      }),
      { numRuns: 200 },
    );
  });

  it('frees when the oldest of the last max messages leaves the window (documented example)', () => {
    const t = new Date('2026-01-15T12:00:00Z');
    const ago = (h: number) => new Date(t.getTime() - h * HOUR);
    expect(capFreesAt({ now: t, recent: [ago(3), ago(2), ago(1)], cap: { max: 3, windowMs: DAY } })).toEqual(new Date(ago(3).getTime() + DAY));
    // Out of order, with one already outside the window.
    expect(capFreesAt({ now: t, recent: [ago(1), ago(30), ago(5), ago(2)], cap: { max: 3, windowMs: DAY } })).toEqual(new Date(ago(5).getTime() + DAY));
    expect(capFreesAt({ now: t, recent: [ago(1), ago(30), ago(2)], cap: { max: 3, windowMs: DAY } })).toBeNull();
  });
});

// ---------------------------------------------------------------------------------------------
// planSendTime
// ---------------------------------------------------------------------------------------------

describe('planSendTime', () => {
  const smsCap = defaultTimingPolicy.frequencyCaps.sms as { max: number; windowMs: number };
  const recentBefore = (now: Date) =>
    fc.array(fc.integer({ min: 0, max: 30 * HOUR }).map((ago) => new Date(now.getTime() - ago)), { maxLength: 6 });
  const planInput = fc
    .record({
      now: instant,
      timezone: zone,
      quietHours: fc.oneof(fc.constant(undefined), fc.constant(null), fc.record({ start: hhmm, end: hhmm })),
    })
    .chain((input) => fc.record({ now: fc.constant(input.now), timezone: fc.constant(input.timezone), quietHours: fc.constant(input.quietHours), recent: recentBefore(input.now) }));

  it('defaults: an sms plan is never early, quiet, outside the window or over the cap, and is the earliest such instant', () => {
    fc.assert(
      fc.property(planInput, nonCritical, ({ now, timezone, quietHours, recent }, u) => {
        const plan = planSendTime({ now, timezone, requestedAt: null, channel: 'sms', urgency: u, quietHours, recentOnChannel: recent, policy: defaultTimingPolicy });
        const sendAt = plan.sendAt;
        const quiet = quietHours === undefined ? defaultTimingPolicy.defaultQuietHours : quietHours;
        const smsWindow = defaultTimingPolicy.channelWindows.sms ?? null;
        // Quiet hours that cover the whole sms window win over it (see calculateSendTime).
        const window = bothPossible(quiet, smsWindow) ? smsWindow : null;
        const underCap = (at: number) => countIn(recent, now, at - smsCap.windowMs, at) <= smsCap.max - 1;

        expect(sendAt.getTime()).toBeGreaterThanOrEqual(now.getTime());
        expect(allowedAt(sendAt, timezone, quiet, window)).toBe(true);
        expect(underCap(sendAt.getTime())).toBe(true);
        // A day of waiting for the local clock (25 h on the day the clocks go back) after the cap frees.
        expect(sendAt.getTime() - now.getTime()).toBeLessThanOrEqual(DAY + HOUR + smsCap.windowMs);
        if (quietHours === undefined) expect(sendAt.getTime() - now.getTime()).toBeLessThanOrEqual(DAY + smsCap.windowMs);
        // Earliest: a millisecond before, something forbade it.
        const before = sendAt.getTime() - 1;
        expect(before < now.getTime() || !allowedAt(new Date(before), timezone, quiet, window) || !underCap(before)).toBe(true);
        expect(plan.postponed).toBe(sendAt.getTime() > now.getTime());
      }),
      { numRuns: 500 },
    );
  });

  it('the default policy caps only sms: other channels get calculateSendTime as is', () => {
    fc.assert(
      fc.property(planInput, fc.constantFrom<MessageChannel>('email', 'whatsapp'), nonCritical, ({ now, timezone, quietHours, recent }, ch, u) => {
        const plan = planSendTime({ now, timezone, requestedAt: null, channel: ch, urgency: u, quietHours, recentOnChannel: [...recent, now, now, now, now], policy: defaultTimingPolicy });
        const quiet = quietHours === undefined ? defaultTimingPolicy.defaultQuietHours : quietHours;
        expect(plan).toEqual(calculateSendTime({ now, timezone, requestedAt: null, channel: ch, urgency: u, quietHours: quiet, channelWindows: defaultTimingPolicy.channelWindows }));
      }),
      { numRuns: 200 },
    );
  });

  it('critical goes at max(now, requestedAt), through quiet hours and the cap', () => {
    fc.assert(
      fc.property(planInput, channel, fc.option(fc.integer({ min: -2 * DAY, max: 3 * DAY }), { nil: null }), ({ now, timezone, quietHours, recent }, ch, requestedOffset) => {
        const requestedAt = requestedOffset === null ? null : new Date(now.getTime() + requestedOffset);
        const full = [...recent, now, now, now, now];
        const plan = planSendTime({ now, timezone, requestedAt, channel: ch, urgency: 'critical', quietHours, recentOnChannel: full, policy: defaultTimingPolicy });
        expect(plan.sendAt.getTime()).toBe(Math.max(now.getTime(), requestedAt?.getTime() ?? 0));
        expect(plan.postponed).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('postpones a 4th sms within 24 h to when the first leaves the window', () => {
    // London, Thursday 2026-01-15 12:00 GMT; three SMS went in the last 23 h.
    const now = new Date('2026-01-15T12:00:00Z');
    const recent = [new Date('2026-01-14T13:00:00Z'), new Date('2026-01-15T09:00:00Z'), new Date('2026-01-15T10:00:00Z')];
    const plan = planSendTime({ now, timezone: 'Europe/London', requestedAt: null, channel: 'sms', urgency: 'normal', quietHours: undefined, recentOnChannel: recent, policy: defaultTimingPolicy });
    expect(plan.sendAt).toEqual(new Date('2026-01-15T13:00:00Z'));
    expect(plan.postponed).toBe(true);
    expect(plan.reason).toBe('postponed to 2026-01-15T13:00:00.000Z: the sms cap of 3 per 24 h is reached');
    // With only two of them, it goes now.
    expect(planSendTime({ now, timezone: 'Europe/London', requestedAt: null, channel: 'sms', urgency: 'normal', quietHours: undefined, recentOnChannel: recent.slice(1), policy: defaultTimingPolicy })).toMatchObject({ sendAt: now, postponed: false });
  });

  it('moves a cap that frees at night on to 08:00 local', () => {
    // New York, 2026-01-15 15:00 EST; the first of three SMS went at 21:00 EST the evening before
    // (a critical one), so the cap frees at 21:00 EST today: quiet, hence 08:00 EST tomorrow.
    const now = new Date('2026-01-15T20:00:00Z');
    const recent = [new Date('2026-01-15T02:00:00Z'), new Date('2026-01-15T14:00:00Z'), new Date('2026-01-15T15:00:00Z')];
    const plan = planSendTime({ now, timezone: 'America/New_York', requestedAt: null, channel: 'sms', urgency: 'high', quietHours: undefined, recentOnChannel: recent, policy: defaultTimingPolicy });
    expect(plan.sendAt).toEqual(new Date('2026-01-16T13:00:00Z'));
    expect(plan.postponed).toBe(true);
    expect(plan.reason).toContain('the sms cap of 3 per 24 h is reached');
    expect(plan.reason).toContain('08:00 America/New_York');
  });
});

describe('resolveRouting', () => {
  const defaults = { channels: ['whatsapp', 'email'] as const, timezone: 'Europe/Madrid' };
  it('gives a client the engine never saw the configured defaults, and no contact details', () => {
    expect(resolveRouting(undefined, defaults)).toEqual({
      preferredChannels: ['whatsapp', 'email'], optOuts: [], hasEmail: false, hasPhone: false,
      timezone: 'Europe/Madrid', quietHours: undefined, batching: true, defaulted: true,
    });
  });
  it('fills in only what a stored client never stated', () => {
    const stored = { channels: null, optOuts: ['sms' as const], timezone: null, quietHours: null, batching: false, hasEmail: true, hasPhone: false };
    expect(resolveRouting(stored, defaults)).toMatchObject({ preferredChannels: ['whatsapp', 'email'], timezone: 'Europe/Madrid', quietHours: undefined, optOuts: ['sms'], batching: false, defaulted: false });
    const stated = { ...stored, channels: ['sms' as const], timezone: 'Asia/Tokyo', quietHours: { start: '22:00', end: '07:00' } };
    expect(resolveRouting(stated, defaults)).toMatchObject({ preferredChannels: ['sms'], timezone: 'Asia/Tokyo', quietHours: { start: '22:00', end: '07:00' } });
  });
});
