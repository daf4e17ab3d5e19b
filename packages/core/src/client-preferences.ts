import { z } from 'zod';
import { MessageChannelSchema } from './enums';
import {
  E164PhoneSchema,
  EmailSchema,
  ExternalIdSchema,
  LanguageSchema,
  TimeOfDaySchema,
  TimeZoneSchema,
} from './validators';

/** A daily window in the client's local time during which nothing non-critical is sent. */
export const QuietHoursSchema = z.strictObject({
  start: TimeOfDaySchema,
  end: TimeOfDaySchema,
});
export type QuietHours = z.infer<typeof QuietHoursSchema>;

const uniqueChannels = MessageChannelSchema.array().refine((list) => new Set(list).size === list.length, {
  message: 'must not list a channel twice',
});

/**
 * How a client wants to be reached. Email and phone are personal data: they are stored
 * encrypted and never cached, queued or logged.
 */
export const ClientPreferencesSchema = z.strictObject({
  clientId: ExternalIdSchema,
  /** Channels in order of preference; the strategy tries them in this order. */
  channels: uniqueChannels.min(1, { message: 'must list at least one channel' }),
  timezone: TimeZoneSchema,
  quietHours: QuietHoursSchema.nullable(),
  /** Channels the client has opted out of. */
  optOuts: uniqueChannels,
  language: LanguageSchema,
  /** Whether low-urgency messages may be merged into a digest. */
  batching: z.boolean(),
  email: EmailSchema.nullable(),
  phone: E164PhoneSchema.nullable(),
});
export type ClientPreferences = z.infer<typeof ClientPreferencesSchema>;

/** Preferences for a client who never stated any. */
const defaults: Omit<ClientPreferences, 'clientId'> = {
  channels: ['email', 'whatsapp', 'sms'],
  timezone: 'UTC',
  quietHours: { start: '21:00', end: '08:00' },
  optOuts: [],
  language: 'en',
  batching: true,
  email: null,
  phone: null,
};
export const defaultClientPreferences: Readonly<Omit<ClientPreferences, 'clientId'>> = Object.freeze(defaults);
