import { z } from 'zod';

/**
 * Whether `zone` is an IANA time zone the runtime knows (e.g. `Europe/Berlin`). Fixed offsets
 * and abbreviations such as `EST` are refused: quiet hours need a zone with DST rules.
 *
 * @example isIanaTimeZone('America/New_York') // true
 */
export function isIanaTimeZone(zone: string): boolean {
  if (!/^[A-Za-z_]+(?:\/[A-Za-z0-9_+-]+)+$/.test(zone) && zone !== 'UTC') return false;
  if (knownZones.has(zone)) return true;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    // Building a formatter costs ~0.2 ms; the zones that exist are a few hundred, so remember them.
    knownZones.add(zone);
    return true;
  } catch {
    return false;
  }
}
const knownZones = new Set<string>();

export const TimeZoneSchema = z
  .string()
  .refine(isIanaTimeZone, { message: 'must be an IANA time zone such as Europe/Berlin' });

/** A phone number in E.164 form: `+` then 8 to 15 digits, no leading zero. */
export const E164PhoneSchema = z
  .string()
  .regex(/^\+[1-9]\d{7,14}$/, { message: 'must be an E.164 phone number such as +14155550123' });

export const EmailSchema = z.email({ message: 'must be an email address' }).max(254);

/** A local time of day, `HH:MM` on a 24-hour clock. */
export const TimeOfDaySchema = z
  .string()
  .regex(/^(?:[01]\d|2[0-3]):[0-5]\d$/, { message: 'must be a time of day as HH:MM (24-hour)' });

/** A language tag such as `en` or `pt-BR`. */
export const LanguageSchema = z
  .string()
  .regex(/^[a-z]{2,3}(?:-[A-Z]{2})?$/, { message: 'must be a language tag such as en or pt-BR' });

/**
 * An opaque identifier from the planning system (client or plan id). Restricted to a safe
 * alphabet so it can appear in logs and URLs: never put an email address here.
 */
export const ExternalIdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/, {
    message: 'must be 1-128 characters of letters, digits, and _ . : - (not an email address)',
  });

/** A UTF-16 surrogate without its other half (not a character: JSON.stringify writes it as a `\\ud800` escape that jsonb refuses). */
export const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * A string PostgreSQL can store: text and jsonb refuse the NUL character (U+0000), and jsonb a
 * lone UTF-16 surrogate, which would otherwise fail the insert (a 500) instead of the validation
 * (a 400 naming the field).
 */
export const StorableStringSchema = z
  .string()
  .refine((value) => !value.includes('\u0000'), { message: 'must not contain the NUL character (U+0000)' })
  .refine((value) => !LONE_SURROGATE.test(value), { message: 'must not contain a lone UTF-16 surrogate (not a character)' });

/** Any JSON value (whose strings and keys PostgreSQL can store). */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export const JsonValueSchema: z.ZodType<JsonValue> = z.lazy(() =>
  z.union([
    StorableStringSchema,
    z.number(),
    z.boolean(),
    z.null(),
    z.array(JsonValueSchema),
    z.record(StorableStringSchema, JsonValueSchema),
  ]),
);
export const JsonObjectSchema = z.record(StorableStringSchema, JsonValueSchema);
export type JsonObject = z.infer<typeof JsonObjectSchema>;
