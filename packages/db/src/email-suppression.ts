import { sql } from 'kysely';
import type { Executor } from './communication-repository';

/**
 * Marks the client's email address as bounced (an SMTP 5xx reply): the strategy stops choosing
 * email for them until their address changes (a new address clears it). Idempotent; keeps the
 * first bounce's time.
 */
export async function suppressEmail(db: Executor, input: { readonly clientId: string; readonly reason: string }): Promise<void> {
  await sql`
    UPDATE crm_client_preferences
    SET email_suppressed_at = coalesce(email_suppressed_at, now()), email_suppression_reason = coalesce(email_suppression_reason, ${input.reason}), updated_at = now()
    WHERE client_id = ${input.clientId}`.execute(db);
}
