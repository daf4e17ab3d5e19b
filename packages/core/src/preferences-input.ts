import { parsePhoneNumberFromString } from 'libphonenumber-js';
import { z } from 'zod';
import { MessageChannelSchema } from './enums';
import { EmailSchema, ExternalIdSchema, TimeOfDaySchema, TimeZoneSchema } from './validators';

/** Channels without repeats; the order is the client's order of preference. */
const distinctChannels = MessageChannelSchema.array().refine((list) => new Set(list).size === list.length, {
  message: 'must not list a channel twice',
});

/**
 * A phone number in international form (`+` and the country code), valid by libphonenumber's
 * metadata, normalised to E.164 (`+44 20 7946 0958` → `+442079460958`). Spaces, dots, dashes
 * and parentheses are allowed between the digits; a national form (`020 …`, `0044 …`) is not.
 *
 * @example PreferencesPhoneSchema.parse('+1 (415) 555-0123') // '+14155550123'
 */
export const PreferencesPhoneSchema = z
  .string()
  .max(32)
  .transform((value, ctx) => {
    const phone = /^\+\d[\d\s().-]*$/.test(value.trim()) ? parsePhoneNumberFromString(value.trim()) : undefined;
    if (!phone?.isValid()) {
      ctx.addIssue({ code: 'custom', message: 'must be a valid phone number in international E.164 form such as +14155550123' });
      return z.NEVER;
    }
    return phone.number;
  });

/**
 * A language tag such as `en`, `pt-BR`, `zh-Hant-TW` or `es-419` (language, optional script,
 * optional region) that `Intl.getCanonicalLocales` accepts, stored in its canonical case
 * (`pt-br` → `pt-BR`).
 */
export const PreferencesLanguageSchema = z
  .string()
  .max(35)
  .transform((value, ctx) => {
    let canonical: string | undefined;
    if (/^[A-Za-z]{2,3}(?:-[A-Za-z]{4})?(?:-(?:[A-Za-z]{2}|\d{3}))?$/.test(value)) {
      try {
        canonical = Intl.getCanonicalLocales(value)[0];
      } catch {
        canonical = undefined;
      }
    }
    if (canonical === undefined) {
      ctx.addIssue({ code: 'custom', message: 'must be a language tag such as en or pt-BR' });
      return z.NEVER;
    }
    return canonical;
  });

/** Quiet hours as `HH:MM` local times; `end` before `start` crosses midnight (`21:00`–`08:00`). */
export const PreferencesQuietHoursSchema = z
  .strictObject({ start: TimeOfDaySchema, end: TimeOfDaySchema })
  .refine((span) => span.start !== span.end, { message: 'must differ from start', path: ['end'] });

/**
 * The body of `POST /api/crm/preferences` (camelCase JSON; unknown fields refused): the
 * client's id and at least one preference to store. A field left out keeps its stored value.
 * `null` has a meaning for some fields: `channels`, `timezone` and `quietHours` go back to the
 * configured defaults (`DEFAULT_CHANNELS`, `DEFAULT_TIMEZONE`, the default quiet hours), and
 * `email` or `phone` removes that contact detail. Email and phone are personal data: stored
 * encrypted, never logged, cached or queued.
 *
 * @example
 * preferencesInputSchema.parse({ clientId: 'client-42', channels: ['whatsapp', 'email'], quietHours: { start: '22:00', end: '07:30' } });
 */
export const preferencesInputSchema = z
  .strictObject({
    clientId: ExternalIdSchema,
    /** Channels in order of preference (at least one, no repeats); `null`: the configured default. */
    channels: distinctChannels.min(1, { message: 'must list at least one channel' }).nullable().optional(),
    /** IANA time zone (`Europe/Berlin`); `null`: the configured default. */
    timezone: TimeZoneSchema.nullable().optional(),
    /** `null`: the configured default quiet hours. */
    quietHours: PreferencesQuietHoursSchema.nullable().optional(),
    /** Channels the client opted out of; `[]` opts back in to every channel. */
    optOuts: distinctChannels.optional(),
    language: PreferencesLanguageSchema.optional(),
    /** Whether low-urgency messages may wait for a digest. */
    batching: z.boolean().optional(),
    /** `null` removes the stored address. */
    email: EmailSchema.nullable().optional(),
    /** International form, stored as E.164; `null` removes the stored number. */
    phone: PreferencesPhoneSchema.nullable().optional(),
  })
  .refine((input) => Object.entries(input).some(([key, value]) => key !== 'clientId' && value !== undefined), {
    message: 'must set at least one preference besides clientId (channels, timezone, quietHours, optOuts, language, batching, email, phone)',
  });

/** A preferences update as sent. */
export type PreferencesInputBody = z.input<typeof preferencesInputSchema>;
/** A preferences update after validation (phone in E.164, language canonical). */
export type PreferencesInput = z.output<typeof preferencesInputSchema>;
