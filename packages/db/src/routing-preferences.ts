import type { MessageChannel } from '@crm/core';
import type { Executor } from './communication-repository';

/** What the strategy reads about a client: never the contact details themselves. */
export interface RoutingPreferences {
  /** `null`: never stated (the configured default applies). */
  readonly channels: MessageChannel[] | null;
  readonly optOuts: MessageChannel[];
  /** `null`: never stated (the configured default applies). */
  readonly timezone: string | null;
  /** `null`: the client never stated quiet hours (the configured default applies). */
  readonly quietHours: { readonly start: string; readonly end: string } | null;
  /** Whether low-urgency messages may wait for a digest. */
  readonly batching: boolean;
  /** The language messages are written in (a tag such as `en`, `pt-BR`). */
  readonly language: string;
  readonly hasEmail: boolean;
  readonly hasPhone: boolean;
  /** The email address bounced (SMTP 5xx) and is not used for email until it changes. */
  readonly emailSuppressed: boolean;
}

/**
 * The routing preferences of each client in `clientIds` the engine has seen, in one query.
 * This is the one way the engine reads preferences for routing (the preferences issue puts a
 * cache in front of it); a client missing from the map has none, and the strategy applies the
 * configured defaults.
 */
export async function getRoutingPreferencesMany(db: Executor, clientIds: readonly string[]): Promise<Map<string, RoutingPreferences>> {
  const unique = [...new Set(clientIds)];
  if (unique.length === 0) return new Map();
  const rows = await db
    .selectFrom('crm_client_preferences')
    .select(['client_id', 'channels', 'opt_outs', 'timezone', 'quiet_hours_start', 'quiet_hours_end', 'batching', 'language', 'email_hash', 'phone_hash', 'email_suppressed_at'])
    .where('client_id', 'in', unique)
    .execute();
  return new Map(
    rows.map((row) => [
      row.client_id,
      {
        channels: row.channels,
        optOuts: row.opt_outs,
        timezone: row.timezone,
        // PostgreSQL prints a time as HH:MM:SS.
        quietHours: row.quiet_hours_start && row.quiet_hours_end ? { start: row.quiet_hours_start.slice(0, 5), end: row.quiet_hours_end.slice(0, 5) } : null,
        batching: row.batching,
        language: row.language,
        hasEmail: row.email_hash !== null,
        hasPhone: row.phone_hash !== null,
        emailSuppressed: row.email_suppressed_at !== null,
      },
    ]),
  );
}

/** {@link getRoutingPreferencesMany} for one client: `undefined` for a client the engine has never seen. */
export async function getRoutingPreferences(db: Executor, clientId: string): Promise<RoutingPreferences | undefined> {
  return (await getRoutingPreferencesMany(db, [clientId])).get(clientId);
}
