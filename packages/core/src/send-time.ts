import { DateTime } from 'luxon';
import type { MessageChannel, UrgencyLevel } from './enums';

/** A daily span of local time, `HH:MM` to `HH:MM`; it crosses midnight when `start` > `end`. */
export interface DailySpan {
  readonly start: string;
  readonly end: string;
}

/** Quiet hours when a client states none. */
export const defaultQuietHours: DailySpan = Object.freeze({ start: '21:00', end: '08:00' });

/**
 * The local hours in which each channel may send at all. SMS and WhatsApp default to 08:00–20:00,
 * the window commonly used for US TCPA compliance; email has no window of its own.
 */
export const defaultChannelWindows: Readonly<Partial<Record<MessageChannel, DailySpan>>> = Object.freeze({
  sms: Object.freeze({ start: '08:00', end: '20:00' }),
  whatsapp: Object.freeze({ start: '08:00', end: '20:00' }),
});

export interface SendTimeInput {
  readonly now: Date;
  /** The client's IANA time zone. */
  readonly timezone: string;
  /** A time the request asked for; never earlier than `now` in the result. */
  readonly requestedAt?: Date | null;
  readonly channel: MessageChannel;
  readonly urgency: UrgencyLevel;
  /** The client's quiet hours; `null`: none. @defaultValue {@link defaultQuietHours} */
  readonly quietHours?: DailySpan | null;
  /** Each channel's allowed window. @defaultValue {@link defaultChannelWindows} */
  readonly channelWindows?: Readonly<Partial<Record<MessageChannel, DailySpan>>>;
  /** Whether `critical` ignores quiet hours and channel windows. @defaultValue true */
  readonly criticalBypassesQuietHours?: boolean;
}

export interface SendTimeDecision {
  readonly sendAt: Date;
  /** Whether `sendAt` is later than the earliest time asked for (quiet hours or a channel window). */
  readonly postponed: boolean;
  /** Why, in words, for the communication's history. */
  readonly reason: string;
}

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

/** The instants in `[from, from + spanMs]` at which the zone's UTC offset changes, to the minute. */
function clockChanges(from: DateTime, spanMs: number): DateTime[] {
  const changes: DateTime[] = [];
  const step = 6 * 60 * MINUTE;
  const begin = Math.floor(from.toMillis() / MINUTE) * MINUTE;
  for (let low = begin; low < begin + spanMs; low += step) {
    const high = low + step;
    const offsetAt = (ms: number) => DateTime.fromMillis(ms, { zone: from.zone }).offset;
    if (offsetAt(low) === offsetAt(high)) continue;
    // Binary search for the first minute with the new offset.
    let [a, b] = [low, high];
    while (b - a > MINUTE) {
      const middle = a + Math.floor((b - a) / MINUTE / 2) * MINUTE;
      if (offsetAt(middle) === offsetAt(low)) a = middle;
      else b = middle;
    }
    changes.push(DateTime.fromMillis(b, { zone: from.zone }));
  }
  return changes;
}

const minutesOf = (hhmm: string): number => {
  const match = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(hhmm);
  if (!match) throw new RangeError(`not a time of day: ${hhmm}`);
  return Number(match[1]) * 60 + Number(match[2]);
};

/** Whether local minute-of-day `minute` lies in `span` (start included, end excluded). */
function inSpan(minute: number, span: DailySpan): boolean {
  const start = minutesOf(span.start);
  const end = minutesOf(span.end);
  if (start === end) return false;
  return start < end ? minute >= start && minute < end : minute >= start || minute < end;
}

/**
 * When a message may go out: the earliest instant at or after `now` (and after `requestedAt`)
 * that is outside the client's quiet hours and inside the channel's window, both read in the
 * client's time zone (luxon). Quiet hours postpone, never drop. A window that opens inside a DST
 * gap opens when the clocks jump, and an hour that occurs twice is quiet (or not) both times.
 * `critical` goes at once when `criticalBypassesQuietHours`.
 *
 * @example
 * calculateSendTime({ now: new Date('2026-01-15T03:00:00Z'), timezone: 'America/New_York', channel: 'email', urgency: 'normal' })
 * // 22:00 local is quiet: { sendAt: 2026-01-15T13:00:00Z (08:00 local), postponed: true, … }
 */
export function calculateSendTime(input: SendTimeInput): SendTimeDecision {
  const zone = input.timezone;
  if (!DateTime.now().setZone(zone).isValid) throw new RangeError(`not an IANA time zone: ${zone}`);
  const earliest = new Date(Math.max(input.now.getTime(), input.requestedAt?.getTime() ?? 0));
  const asked = input.requestedAt && input.requestedAt > input.now ? 'the requested time' : 'now';
  if (input.urgency === 'critical' && (input.criticalBypassesQuietHours ?? true)) {
    return { sendAt: earliest, postponed: false, reason: `critical: sent ${asked}, quiet hours do not apply` };
  }
  const quiet = input.quietHours === undefined ? defaultQuietHours : input.quietHours;
  const window = (input.channelWindows ?? defaultChannelWindows)[input.channel] ?? null;
  const allowed = (at: DateTime): boolean => {
    const minute = at.hour * 60 + at.minute;
    return !(quiet && inSpan(minute, quiet)) && (window === null || inSpan(minute, window));
  };

  const start = DateTime.fromJSDate(earliest, { zone });
  if (allowed(start)) return { sendAt: earliest, postponed: false, reason: `sent ${asked}: outside quiet hours` };

  // Whether a minute is allowed changes only where the local clock reads an opening time (the
  // end of quiet hours, the start of the channel's window) or where the clocks change. So the
  // answer is the earliest allowed instant among: each opening on the days around `start` (both
  // occurrences of a time that happens twice; luxon moves a time inside a DST gap to the jump),
  // and each clock change in the next two days.
  const openings = [quiet?.end, window?.start].filter((hhmm): hhmm is string => hhmm !== undefined);
  const candidates: DateTime[] = [...clockChanges(start, 2 * DAY)];
  for (let day = -1; day <= 2; day++) {
    const date = start.plus({ days: day });
    for (const hhmm of openings) {
      const minutes = minutesOf(hhmm);
      const at = DateTime.fromObject({ year: date.year, month: date.month, day: date.day, hour: Math.floor(minutes / 60), minute: minutes % 60 }, { zone });
      candidates.push(at);
      // The same wall time an offset-change later: the second occurrence of a repeated hour.
      const later = at.plus({ minutes: Math.abs(at.offset - at.plus({ hours: 3 }).offset) });
      if (later.hour === at.hour && later.minute === at.minute && later > at) candidates.push(later);
    }
  }
  const best = candidates.filter((at) => at > start && allowed(at)).reduce<DateTime | null>((a, b) => (a === null || b < a ? b : a), null);
  if (best === null) {
    if (window === null) return { sendAt: earliest, postponed: false, reason: `sent ${asked}` };
    // Quiet hours cover the whole channel window: the client's quiet hours win over the channel.
    return calculateSendTime({ ...input, channelWindows: { ...(input.channelWindows ?? defaultChannelWindows), [input.channel]: undefined } });
  }
  const local = best.toFormat('HH:mm');
  const why = quiet && inSpan(start.hour * 60 + start.minute, quiet)
    ? `quiet hours ${quiet.start}–${quiet.end}`
    : `the ${input.channel} window ${window?.start ?? ''}–${window?.end ?? ''}`;
  return { sendAt: best.toJSDate(), postponed: true, reason: `postponed to ${local} ${zone}: ${asked} falls in ${why}` };
}
