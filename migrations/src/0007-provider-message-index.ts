import { sql, type Kysely } from 'kysely';

/**
 * Provider status webhooks (issue 7): a callback names the message by the provider's id (a
 * Twilio SID, a WhatsApp `wamid.…`), stored as `crm_communications.provider_message_id` when it
 * was sent; this index finds its communication without a scan. Partial: most rows (pending,
 * email in flight) have none.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are untyped by design (Kysely docs)
export async function up(db: Kysely<any>): Promise<void> {
  await sql`CREATE INDEX crm_communications_provider_message_idx ON crm_communications (provider_message_id) WHERE provider_message_id IS NOT NULL`.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX crm_communications_provider_message_idx`.execute(db);
}
