import { sql, type Kysely } from 'kysely';

/**
 * Event callbacks (issue 11).
 *
 * - `crm_callback_subscriptions`: a subscriber's URL, the event types it wants and its signing
 *   secret, encrypted with pgcrypto like client PII (`secret_encrypted`, and `secret_key_id`
 *   naming the key). Deleting a subscription stamps `deleted_at` and drops the secret; its
 *   pending deliveries stop.
 * - `crm_callback_deliveries`: one row per (subscription, event), `UNIQUE (subscription_id,
 *   event_id)`: the dispatcher may see a source row twice (its overlap window) and two replicas
 *   may race, yet each event is delivered to each subscription once. The event comes from a
 *   `crm_delivery_logs` row (a status change: `delivery_log_id`) or a `crm_inbound_messages`
 *   reply (`inbound_id`); the payload is built from those rows when it is sent, so nothing
 *   personal is copied here.
 * - `crm_callback_cursors`: how far the dispatcher has scanned each source (by `created_at`);
 *   a replica takes a source's row with `FOR UPDATE SKIP LOCKED`.
 * - Partial indexes on the sources' `created_at` serve the dispatcher's scans.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are untyped by design (Kysely docs)
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE crm_callback_subscriptions (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      url text NOT NULL CHECK (url ~* '^https?://' AND length(url) <= 2048),
      events text[] NOT NULL CHECK (
        cardinality(events) > 0
        AND events <@ ARRAY['communication.sent', 'communication.delivered', 'communication.failed', 'communication.responded', 'client.replied']::text[]
      ),
      secret_encrypted bytea,
      secret_key_id text,
      created_at timestamptz NOT NULL DEFAULT now(),
      deleted_at timestamptz,
      CHECK (deleted_at IS NOT NULL OR secret_encrypted IS NOT NULL)
    )`.execute(db);
  await sql`CREATE INDEX crm_callback_subscriptions_active_idx ON crm_callback_subscriptions (created_at) WHERE deleted_at IS NULL`.execute(db);
  await sql`
    CREATE TABLE crm_callback_deliveries (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      subscription_id uuid NOT NULL REFERENCES crm_callback_subscriptions (id) ON DELETE CASCADE,
      event_id text NOT NULL,
      event_type text NOT NULL CHECK (event_type IN ('communication.sent', 'communication.delivered', 'communication.failed', 'communication.responded', 'client.replied')),
      communication_id uuid REFERENCES crm_communications (id) ON DELETE CASCADE,
      delivery_log_id bigint,
      inbound_id uuid REFERENCES crm_inbound_messages (id) ON DELETE CASCADE,
      event_at timestamptz NOT NULL,
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
      attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
      last_status_code integer,
      last_error text,
      next_attempt_at timestamptz NOT NULL DEFAULT now(),
      created_at timestamptz NOT NULL DEFAULT now(),
      delivered_at timestamptz,
      failed_at timestamptz,
      CONSTRAINT crm_callback_deliveries_event_uq UNIQUE (subscription_id, event_id),
      CHECK ((delivery_log_id IS NOT NULL AND communication_id IS NOT NULL) OR inbound_id IS NOT NULL)
    )`.execute(db);
  await sql`CREATE INDEX crm_callback_deliveries_pending_idx ON crm_callback_deliveries (next_attempt_at) WHERE status = 'pending'`.execute(db);
  await sql`CREATE INDEX crm_callback_deliveries_communication_idx ON crm_callback_deliveries (communication_id) WHERE communication_id IS NOT NULL`.execute(db);
  await sql`CREATE INDEX crm_callback_deliveries_inbound_idx ON crm_callback_deliveries (inbound_id) WHERE inbound_id IS NOT NULL`.execute(db);
  await sql`
    CREATE TABLE crm_callback_cursors (
      source text PRIMARY KEY CHECK (source IN ('delivery_logs', 'inbound_messages')),
      scanned_to timestamptz NOT NULL
    )`.execute(db);
  await sql`INSERT INTO crm_callback_cursors (source, scanned_to) VALUES ('delivery_logs', now()), ('inbound_messages', now())`.execute(db);
  await sql`
    CREATE INDEX crm_delivery_logs_callback_idx ON crm_delivery_logs (created_at)
    WHERE to_status IN ('sent', 'delivered', 'failed', 'bounced', 'responded')`.execute(db);
  await sql`CREATE INDEX crm_inbound_messages_created_idx ON crm_inbound_messages (created_at) WHERE kind = 'reply'`.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX crm_inbound_messages_created_idx`.execute(db);
  await sql`DROP INDEX crm_delivery_logs_callback_idx`.execute(db);
  await sql`DROP TABLE crm_callback_cursors`.execute(db);
  await sql`DROP TABLE crm_callback_deliveries`.execute(db);
  await sql`DROP TABLE crm_callback_subscriptions`.execute(db);
}
