import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { defaultStrategySettings, ExternalIdSchema, MessageChannelSchema, preferencesInputSchema, type StrategySettings } from '@crm/core';
import { getPreferences, upsertPreferences, type StoredPreferences } from '@crm/db';
import type { IngestDeps } from '../app';

/** `:clientId`: an opaque client id, as in a communication request. */
const PreferencesParamsSchema = z.strictObject({ clientId: ExternalIdSchema });

/** Fields whose value can come from the configured defaults (DEFAULT_CHANNELS, DEFAULT_TIMEZONE, DEFAULT_QUIET_HOURS). */
const DefaultedFieldSchema = z.enum(['channels', 'timezone', 'quietHours']);
type DefaultedField = z.infer<typeof DefaultedFieldSchema>;

/** A client's preferences as the API answers them (GET, and POST after storing). */
export const PreferencesAnswerSchema = z.object({
  clientId: z.string(),
  /** `false`: the engine has never stored anything for this client; everything below is a default. */
  known: z.boolean(),
  /** Channels in order of preference. */
  channels: z.array(MessageChannelSchema),
  timezone: z.string(),
  /** `null`: no quiet hours (only when the configured default has none). */
  quietHours: z.object({ start: z.string(), end: z.string() }).nullable(),
  optOuts: z.array(MessageChannelSchema),
  language: z.string(),
  batching: z.boolean(),
  email: z.string().nullable(),
  phone: z.string().nullable(),
  /** The address bounced and is not used for email until it changes. */
  emailSuppressed: z.boolean(),
  /** The fields above that the client never stated: they show the configured defaults. */
  defaults: z.array(DefaultedFieldSchema),
});
export type PreferencesAnswer = z.infer<typeof PreferencesAnswerSchema>;

/** What a client who never stated anything gets besides the configured defaults (the table's column defaults). */
const unstated = { optOuts: [], language: 'en', batching: true } as const;

/** The answer for `clientId`: its stored preferences with the configured defaults in place of what it never stated. */
export function preferencesAnswer(clientId: string, stored: StoredPreferences | undefined, settings: StrategySettings): PreferencesAnswer {
  const defaults: DefaultedField[] = [];
  const pick = <T>(field: DefaultedField, value: T | null | undefined, fallback: T): T => {
    if (value !== null && value !== undefined) return value;
    defaults.push(field);
    return fallback;
  };
  const channels = pick('channels', stored?.channels && stored.channels.length > 0 ? stored.channels : null, [...settings.defaults.channels]);
  const timezone = pick('timezone', stored?.timezone, settings.defaults.timezone);
  const defaultQuiet = settings.timing.defaultQuietHours;
  const quietHours = pick('quietHours', stored?.quietHours, defaultQuiet && { start: defaultQuiet.start, end: defaultQuiet.end });
  return {
    clientId,
    known: stored !== undefined,
    channels,
    timezone,
    quietHours,
    optOuts: stored?.optOuts ?? [...unstated.optOuts],
    language: stored?.language ?? unstated.language,
    batching: stored?.batching ?? unstated.batching,
    email: stored?.email ?? null,
    phone: stored?.phone ?? null,
    emailSuppressed: stored?.emailSuppressed ?? false,
    defaults,
  };
}

/**
 * `POST /api/crm/preferences`: creates or updates a client's preferences (one statement; fields
 * left out keep their stored value; email and phone encrypted), then invalidates the client's
 * cached routing preferences and answers **200** with what is stored, in the shape of GET.
 *
 * `GET /api/crm/preferences/:clientId`: the client's preferences, with the configured defaults
 * (DEFAULT_CHANNELS, DEFAULT_TIMEZONE, DEFAULT_QUIET_HOURS) in place of what they never stated,
 * named in `defaults`. A client the engine has never seen is **200** too, `known: false`, with
 * the defaults a new client gets.
 *
 * Email and phone are in the answers (the API caller owns them) but never in a log line.
 */
export const preferencesRoutes: FastifyPluginAsync<IngestDeps> = async (app, deps) => {
  const settings = deps.strategy ?? defaultStrategySettings;
  const api = app.withTypeProvider<ZodTypeProvider>();

  api.post(
    '/api/crm/preferences',
    {
      schema: {
        summary: "Create or update a client's preferences",
        description:
          'Fields left out keep their stored value; email and phone are stored encrypted. Answers what is stored, in the shape of ' +
          'the GET, and invalidates the client\'s cached routing preferences.',
        body: preferencesInputSchema,
        response: { 200: PreferencesAnswerSchema },
      },
    },
    async (request) => {
      const input = request.body;
      const stored = await upsertPreferences(deps.db, deps.keys, input);
      // After the commit (the upsert is one auto-committed statement); never throws.
      await deps.preferencesCache?.invalidate([input.clientId]);
      // Which fields changed, never their values.
      const fields = Object.keys(input).filter((key) => key !== 'clientId' && input[key as keyof typeof input] !== undefined);
      request.log.info({ clientId: input.clientId, fields }, 'preferences stored');
      return preferencesAnswer(input.clientId, stored, settings);
    },
  );

  api.get(
    '/api/crm/preferences/:clientId',
    {
      schema: {
        summary: "A client's preferences, with the configured defaults",
        description: 'What the client never stated shows the configured defaults (DEFAULT_CHANNELS, DEFAULT_TIMEZONE, DEFAULT_QUIET_HOURS), named in `defaults`; a client the engine has never seen is 200 with `known: false`.',
        params: PreferencesParamsSchema,
        response: { 200: PreferencesAnswerSchema },
      },
    },
    async (request) => {
      const { clientId } = request.params;
      return preferencesAnswer(clientId, await getPreferences(deps.db, deps.keys, clientId), settings);
    },
  );
};
