import type { DailySpan } from '@crm/core';

// The local clock read with Intl (not luxon), so that the time-zone tests do not share the code
// they check.

const formats = new Map<string, Intl.DateTimeFormat>();

/** Minutes since local midnight of `at` in `timeZone`. */
export function localMinute(at: Date, timeZone: string): number {
  let format = formats.get(timeZone);
  if (!format) formats.set(timeZone, (format = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })));
  const parts = format.formatToParts(at);
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  return get('hour') * 60 + get('minute');
}

const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3));

/** Whether local minute-of-day `minute` lies in `span` (start included, end excluded; may cross midnight). */
export function inSpan(minute: number, span: DailySpan): boolean {
  const [start, end] = [minutes(span.start), minutes(span.end)];
  if (start === end) return false;
  return start < end ? minute >= start && minute < end : minute >= start || minute < end;
}

/** Whether `at` is outside `quiet` and inside `window`, in `zone`. */
export const allowedAt = (at: Date, zone: string, quiet: DailySpan | null, window: DailySpan | null): boolean => {
  const minute = localMinute(at, zone);
  return !(quiet && inSpan(minute, quiet)) && (window === null || inSpan(minute, window));
};
