import { sql, type Kysely } from 'kysely';

/**
 * Client replies (issue 7): every inbound SMS and WhatsApp message, once
 * (`(provider, provider_message_id)` is unique, so a provider's retry of the webhook records
 * nothing twice). The sender is kept only as a blind index (`from_hash`, the same keyed hash as
 * `crm_client_preferences.phone_hash`) and the text only encrypted (`body_encrypted`, pgcrypto).
 * `kind` is what the reply meant: an opt-out or opt-in keyword, a request for help, or an answer
 * (with the option it picked, `selection`, and the communication it answered).
 *
 * The last inbound WhatsApp message of a number also opens WhatsApp's 24-hour customer-service
 * window, in which free text may be sent: `crm_inbound_messages_from_idx` answers that.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are untyped by design (Kysely docs)
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE crm_inbound_messages (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      provider text NOT NULL CHECK (provider IN ('twilio', 'whatsapp')),
      provider_message_id text NOT NULL,
      channel text NOT NULL CHECK (channel IN ('sms', 'whatsapp')),
      from_hash bytea NOT NULL,
      client_id text,
      communication_id uuid REFERENCES crm_communications (id) ON DELETE SET NULL,
      kind text NOT NULL CHECK (kind IN ('opt_out', 'opt_in', 'help', 'reply')),
      keyword text,
      selection integer CHECK (selection IS NULL OR selection >= 1),
      reply_id text,
      body_encrypted bytea,
      received_at timestamptz NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT crm_inbound_messages_provider_message_uq UNIQUE (provider, provider_message_id)
    )`.execute(db);
  await sql`CREATE INDEX crm_inbound_messages_from_idx ON crm_inbound_messages (from_hash, channel, received_at DESC)`.execute(db);
  await sql`CREATE INDEX crm_inbound_messages_client_idx ON crm_inbound_messages (client_id, received_at DESC) WHERE client_id IS NOT NULL`.execute(db);
  await sql`CREATE INDEX crm_inbound_messages_communication_idx ON crm_inbound_messages (communication_id) WHERE communication_id IS NOT NULL`.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE crm_inbound_messages`.execute(db);
}
