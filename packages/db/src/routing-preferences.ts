import type { MessageChannel } from '@crm/core';
import type { Executor } from './communication-repository';

/** What the strategy reads about a client: never the contact details themselves. */
export interface RoutingPreferences {
  readonly channels: MessageChannel[];
  readonly optOuts: MessageChannel[];
  readonly timezone: string;
  /** `null`: the client never stated quiet hours (the strategy's default applies). */
  readonly quietHours: { readonly start: string; readonly end: string } | null;
  readonly hasEmail: boolean;
  readonly hasPhone: boolean;
}

/** The client's routing preferences, or `undefined` for a client the engine has never seen. */
export async function getRoutingPreferences(db: Executor, clientId: string): Promise<RoutingPreferences | undefined> {
  const row = await db
    .selectFrom('crm_client_preferences')
    .select(['channels', 'opt_outs', 'timezone', 'quiet_hours_start', 'quiet_hours_end', 'email_hash', 'phone_hash'])
    .where('client_id', '=', clientId)
    .executeTakeFirst();
  if (!row) return undefined;
  return {
    channels: row.channels,
    optOuts: row.opt_outs,
    timezone: row.timezone,
    // PostgreSQL prints a time as HH:MM:SS.
    quietHours: row.quiet_hours_start && row.quiet_hours_end ? { start: row.quiet_hours_start.slice(0, 5), end: row.quiet_hours_end.slice(0, 5) } : null,
    hasEmail: row.email_hash !== null,
    hasPhone: row.phone_hash !== null,
  };
}
