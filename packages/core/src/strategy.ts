import type { MessageChannel, MessageType, UrgencyLevel } from './enums';
import { calculateSendTime, defaultChannelWindows, defaultQuietHours, type DailySpan, type SendTimeDecision } from './send-time';

/**
 * The strategy's rules (SPEC item 3): which channels, in which order, when, and whether to wait
 * for a digest. Pure: the strategy worker reads the facts and applies the decision.
 */

/** What the strategy knows about a client when it orders channels: never the contact details. */
export interface ChannelFacts {
  /** The client's channels in order of preference. */
  readonly preferredChannels: readonly MessageChannel[];
  readonly optOuts: readonly MessageChannel[];
  /** Which contact details exist (never the details themselves). */
  readonly hasEmail: boolean;
  readonly hasPhone: boolean;
  /** The email address bounced before (SMTP 5xx): email is not used until it changes. */
  readonly emailSuppressed?: boolean;
}

export interface StrategyInput extends ChannelFacts {
  readonly urgency: UrgencyLevel;
  /** `digest` for a digest message the engine made. */
  readonly messageType: MessageType | 'digest';
  /** A channel the request forces: only that one is tried. */
  readonly requestedChannel: MessageChannel | null;
  /** The message carries a document (a PDF) that only email can carry whole. */
  readonly hasAttachment: boolean;
  /** Channels that have a worker in this deployment. */
  readonly deliverable: readonly MessageChannel[];
}

export interface ChannelDecision {
  /** The channels to try, in order; empty when none can be used. */
  readonly channels: readonly MessageChannel[];
  /** `critical` only: a copy also goes by email, at once, as a communication of its own. */
  readonly alsoEmail: boolean;
  /** Why, in words, for the communication's history. */
  readonly reason: string;
}

/** Faster channels first, for `critical`: a phone buzzes sooner than an inbox is read. */
export const fastestFirst: readonly MessageChannel[] = Object.freeze(['sms', 'whatsapp', 'email']);

/**
 * Message types that carry a document: a blueprint comes with its PDF. Email carries it; a text
 * channel can only link to it.
 */
export const documentMessageTypes: readonly (MessageType | 'digest')[] = Object.freeze(['blueprint_delivery']);

/** Why a channel cannot be used for this client, or `null` when it can. */
function unusable(channel: MessageChannel, facts: ChannelFacts, deliverable: readonly MessageChannel[]): string | null {
  if (facts.optOuts.includes(channel)) return 'opted out';
  if (channel === 'email' ? !facts.hasEmail : !facts.hasPhone) return channel === 'email' ? 'no email address' : 'no phone number';
  if (channel === 'email' && facts.emailSuppressed) return 'the address bounced';
  if (!deliverable.includes(channel)) return 'not available in this deployment';
  return null;
}

/**
 * determine_strategy: the order in which to try channels, from urgency × client preferences ×
 * opt-outs × available contact details × content fit, with the reason in words.
 *
 * - A forced channel is tried alone (and fails the message when it cannot be used).
 * - Channels the client opted out of, has no contact detail for, or that this deployment cannot
 *   send on are left out (and named in the reason).
 * - Content fit: a message with a document (a blueprint and its PDF) tries email first.
 * - `critical`: the fastest usable channel first (SMS, then WhatsApp), the other text channel
 *   as its fallback, and a copy by email at once (`alsoEmail`), so the client both gets a buzz and
 *   has the details in the inbox. Email alone when it is the only usable channel.
 * - Otherwise the client's preference order.
 *
 * @example determineStrategy({ urgency: 'critical', messageType: 'error_notification', requestedChannel: null,
 *   hasAttachment: false, preferredChannels: ['email', 'sms'], optOuts: [], hasEmail: true, hasPhone: true,
 *   deliverable: ['email', 'sms', 'whatsapp'] })
 * // { channels: ['sms'], alsoEmail: true, reason: 'critical: fastest channel sms, and a copy by email' }
 */
export function determineStrategy(input: StrategyInput): ChannelDecision {
  const why = (channel: MessageChannel) => unusable(channel, input, input.deliverable);
  const skipped = (candidates: readonly MessageChannel[]) =>
    candidates.flatMap((channel) => {
      const reason = why(channel);
      return reason ? [`${channel}: ${reason}`] : [];
    });
  const withSkipped = (text: string, candidates: readonly MessageChannel[]) => {
    const notes = skipped(candidates);
    return notes.length > 0 ? `${text} (skipped ${notes.join('; ')})` : text;
  };

  if (input.requestedChannel) {
    const reason = why(input.requestedChannel);
    return reason
      ? { channels: [], alsoEmail: false, reason: `requested channel ${input.requestedChannel} cannot be used (${reason})` }
      : { channels: [input.requestedChannel], alsoEmail: false, reason: `channel ${input.requestedChannel} requested` };
  }
  const preferred = [...new Set(input.preferredChannels)];
  const usable = preferred.filter((channel) => why(channel) === null);
  if (usable.length === 0) {
    return { channels: [], alsoEmail: false, reason: `no usable channel (${skipped(preferred).join('; ') || 'no preferred channels'})` };
  }

  if (input.urgency === 'critical') {
    const fast = [...usable].filter((channel) => channel !== 'email').sort((a, b) => fastestFirst.indexOf(a) - fastestFirst.indexOf(b));
    if (fast.length === 0) return { channels: ['email'], alsoEmail: false, reason: withSkipped('critical: email is the only usable channel', preferred) };
    const alsoEmail = usable.includes('email');
    const chain = fast.length > 1 ? `fastest channel ${fast[0]}, then ${fast.slice(1).join(' → ')}` : `fastest channel ${fast[0]}`;
    return { channels: fast, alsoEmail, reason: withSkipped(`critical: ${chain}${alsoEmail ? ', and a copy by email' : ''}`, preferred) };
  }

  const carriesDocument = input.hasAttachment || documentMessageTypes.includes(input.messageType);
  if (carriesDocument && usable.includes('email') && usable[0] !== 'email') {
    const channels = ['email' as const, ...usable.filter((channel) => channel !== 'email')];
    return { channels, alsoEmail: false, reason: withSkipped(`content: the document goes by email first: ${channels.join(' → ')}`, preferred) };
  }
  return { channels: usable, alsoEmail: false, reason: withSkipped(`client preference order: ${usable.join(' → ')}`, preferred) };
}

/** BatchConfig as the rules see it. */
export interface DigestPolicy {
  readonly enabled: boolean;
  /** Longest an item waits for its digest. */
  readonly windowMs: number;
  /** A digest goes as soon as it holds this many items. */
  readonly maxItems: number;
}

export interface BatchInput {
  readonly urgency: UrgencyLevel;
  readonly messageType: MessageType | 'digest';
  readonly requestedChannel: MessageChannel | null;
  /** A send time the request asked for. */
  readonly requestedAt: Date | null;
  readonly hasAttachment: boolean;
  /** The client's own choice (preferences `batching`). */
  readonly clientAllowsBatching: boolean;
}

/**
 * should_batch: whether a message waits to be merged into the client's digest. Only `low`
 * urgency waits; `normal`, `high` and `critical` never do. A message that asked for a channel or
 * a time, carries a document, or is itself a digest is sent on its own; so is everything when
 * batching is off in the config or in the client's preferences.
 *
 * @example shouldBatch({ urgency: 'low', messageType: 'reminder', requestedChannel: null, requestedAt: null,
 *   hasAttachment: false, clientAllowsBatching: true }, { enabled: true, windowMs: 900000, maxItems: 10 })
 * // { batch: true, reason: 'low urgency: waits up to 15 min for a digest of up to 10' }
 */
export function shouldBatch(input: BatchInput, policy: DigestPolicy): { readonly batch: boolean; readonly reason: string } {
  const no = (reason: string) => ({ batch: false, reason });
  if (input.urgency !== 'low') return no(`${input.urgency} urgency is never batched`);
  if (!policy.enabled) return no('batching is off');
  if (!input.clientAllowsBatching) return no('the client does not want digests');
  if (input.messageType === 'digest') return no('a digest is not batched again');
  if (input.requestedChannel) return no('a channel was requested');
  if (input.requestedAt) return no('a send time was requested');
  if (input.hasAttachment || documentMessageTypes.includes(input.messageType)) return no('it carries a document');
  const minutes = policy.windowMs / 60_000;
  const window = minutes >= 1 && Number.isInteger(minutes) ? `${minutes} min` : `${policy.windowMs / 1000} s`;
  return { batch: true, reason: `low urgency: waits up to ${window} for a digest of up to ${policy.maxItems}` };
}

/** A frequency cap: at most `max` messages on a channel per client in any `windowMs`. */
export interface FrequencyCap {
  readonly max: number;
  readonly windowMs: number;
}

/**
 * The earliest instant at or after `now` at which one more message fits under `cap`, given when
 * the client's recent messages on the channel went (or `now` for those still on their way), or
 * `null` when it fits now. A cap postpones, never drops: the answer is when the oldest message
 * that keeps the count at `max` leaves the window.
 *
 * @example capFreesAt({ now: t, recent: [t-3h, t-2h, t-1h], cap: { max: 3, windowMs: 24h } }) // t-3h + 24h
 */
export function capFreesAt(input: { readonly now: Date; readonly recent: readonly Date[]; readonly cap: FrequencyCap }): Date | null {
  const { now, cap } = input;
  if (cap.max <= 0) return null;
  const windowStart = now.getTime() - cap.windowMs;
  const inWindow = input.recent.map((at) => Math.min(at.getTime(), now.getTime())).filter((at) => at > windowStart).sort((a, b) => a - b);
  if (inWindow.length < cap.max) return null;
  // After the (n − max + 1)-th oldest leaves the window, max − 1 remain: room for one more.
  const oldestToLeave = inWindow[inWindow.length - cap.max] as number;
  return new Date(oldestToLeave + cap.windowMs);
}

/** The configured timing rules: quiet hours and windows (see send-time.ts) and frequency caps. */
export interface TimingPolicy {
  /** Quiet hours of a client who never stated any; `null`: none. */
  readonly defaultQuietHours: DailySpan | null;
  readonly channelWindows: Readonly<Partial<Record<MessageChannel, DailySpan>>>;
  readonly criticalBypassesQuietHours: boolean;
  /** Per channel; a channel without one is not capped. */
  readonly frequencyCaps: Readonly<Partial<Record<MessageChannel, FrequencyCap>>>;
}

export const defaultTimingPolicy: TimingPolicy = Object.freeze({
  defaultQuietHours,
  channelWindows: defaultChannelWindows,
  criticalBypassesQuietHours: true,
  frequencyCaps: Object.freeze({ sms: Object.freeze({ max: 3, windowMs: 24 * 60 * 60_000 }) }),
});

export interface SendPlanInput {
  readonly now: Date;
  readonly timezone: string;
  readonly requestedAt: Date | null;
  readonly channel: MessageChannel;
  readonly urgency: UrgencyLevel;
  /** The client's quiet hours; `undefined`: the policy's default; `null`: none. */
  readonly quietHours: DailySpan | null | undefined;
  /** When the client's recent messages on `channel` went (for the frequency cap). */
  readonly recentOnChannel: readonly Date[];
  readonly policy: TimingPolicy;
}

/**
 * calculate_optimal_send_time with the frequency cap: the earliest instant that is after any
 * requested time, outside quiet hours, inside the channel's window and under the channel's cap.
 * `critical` ignores the cap along with quiet hours when the policy lets it bypass them.
 *
 * @example planSendTime({ now, timezone: 'Europe/London', requestedAt: null, channel: 'sms', urgency: 'normal',
 *   quietHours: undefined, recentOnChannel: [], policy: defaultTimingPolicy }).sendAt
 */
export function planSendTime(input: SendPlanInput): SendTimeDecision {
  const quietHours = input.quietHours === undefined ? input.policy.defaultQuietHours : input.quietHours;
  const at = (now: Date) =>
    calculateSendTime({
      now,
      timezone: input.timezone,
      requestedAt: input.requestedAt,
      channel: input.channel,
      urgency: input.urgency,
      quietHours,
      channelWindows: input.policy.channelWindows,
      criticalBypassesQuietHours: input.policy.criticalBypassesQuietHours,
    });
  const first = at(input.now);
  const cap = input.policy.frequencyCaps[input.channel];
  const bypass = input.urgency === 'critical' && input.policy.criticalBypassesQuietHours;
  if (!cap || bypass) return first;
  const frees = capFreesAt({ now: first.sendAt, recent: input.recentOnChannel, cap });
  if (!frees) return first;
  // The cap frees later; that instant may be quiet, so ask again from there. Quiet hours and
  // windows only depend on the local time, and the cap only frees up as time passes, so one more
  // pass is enough.
  const later = at(frees);
  const hours = Math.round(cap.windowMs / 3_600_000);
  const capText = `the ${input.channel} cap of ${cap.max} per ${hours >= 1 ? `${hours} h` : `${cap.windowMs / 1000} s`}`;
  // `later` was asked from the moment the cap frees, which its reason calls "now".
  const then = later.postponed ? `; then ${later.reason.replace(': now falls in', ': the time it frees falls in')}` : '';
  return { sendAt: later.sendAt, postponed: true, reason: `postponed to ${later.sendAt.toISOString()}: ${capText} is reached${then}` };
}

/** What the engine stores about a client's routing (see @crm/db's `RoutingPreferences`). */
export interface StoredRoutingPreferences {
  /** `null`: never stated (the defaults apply). */
  readonly channels: readonly MessageChannel[] | null;
  readonly optOuts: readonly MessageChannel[];
  /** `null`: never stated (the defaults apply). */
  readonly timezone: string | null;
  /** `null`: never stated (the policy's default applies). */
  readonly quietHours: DailySpan | null;
  readonly batching: boolean;
  readonly hasEmail: boolean;
  readonly hasPhone: boolean;
  /** The email address bounced. @defaultValue false */
  readonly emailSuppressed?: boolean;
}

/** A client's routing facts with the configured defaults filled in. */
export interface ClientRouting extends ChannelFacts {
  readonly timezone: string;
  /** `undefined`: the policy's default quiet hours. */
  readonly quietHours: DailySpan | undefined;
  readonly batching: boolean;
  /** Whether the client has preferences of their own, or got the defaults. */
  readonly defaulted: boolean;
}

/** What a client who never stated preferences gets (the config's DEFAULT_* variables). */
export interface PreferenceDefaults {
  readonly channels: readonly MessageChannel[];
  readonly timezone: string;
}

/**
 * The routing facts of a client: their stored preferences, or for a client the engine has
 * never seen, the configured defaults (no contact details, so no usable channel: a request
 * normally brings them in `recipient`).
 *
 * @example resolveRouting(undefined, { channels: ['email'], timezone: 'UTC' }).defaulted // true
 */
export function resolveRouting(stored: StoredRoutingPreferences | undefined, defaults: PreferenceDefaults): ClientRouting {
  if (!stored) {
    return { preferredChannels: defaults.channels, optOuts: [], hasEmail: false, hasPhone: false, timezone: defaults.timezone, quietHours: undefined, batching: true, defaulted: true };
  }
  return {
    preferredChannels: stored.channels && stored.channels.length > 0 ? stored.channels : defaults.channels,
    optOuts: stored.optOuts,
    hasEmail: stored.hasEmail,
    hasPhone: stored.hasPhone,
    emailSuppressed: stored.emailSuppressed ?? false,
    timezone: stored.timezone ?? defaults.timezone,
    quietHours: stored.quietHours ?? undefined,
    batching: stored.batching,
    defaulted: false,
  };
}

/** The strategy's configuration: defaults for clients without preferences, timing, digests. */
export interface StrategySettings {
  readonly defaults: PreferenceDefaults;
  readonly timing: TimingPolicy;
  readonly digest: DigestPolicy;
}

/** The config's defaults: email, WhatsApp, SMS; UTC; quiet hours 21:00–08:00; 3 SMS a day; 15-minute digests of up to 10. */
export const defaultStrategySettings: StrategySettings = Object.freeze({
  defaults: Object.freeze({ channels: Object.freeze(['email', 'whatsapp', 'sms'] as const), timezone: 'UTC' }),
  timing: defaultTimingPolicy,
  digest: Object.freeze({ enabled: true, windowMs: 15 * 60_000, maxItems: 10 }),
});
