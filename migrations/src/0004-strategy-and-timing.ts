import { sql, type Kysely } from 'kysely';

const ts = sql`timestamptz(3)`;

/**
 * What the strategy needs beyond the pipeline (issue 5):
 *
 * - `crm_digests`: one row per digest window of a client. At most one is `open` per client (a
 *   partial unique index), and every change to it happens under its row lock: an item joins
 *   the open digest, the flush closes it; so an item either makes it into the digest being
 *   flushed or starts the next one, never both and never neither.
 * - `crm_communications.digest_id`: the digest an item waits in (status `scheduled`) or went
 *   out in (status `batched`, new). The digest message itself is a communication of type
 *   `digest` (new) whose variables list the items.
 * - `crm_communications.copy_of`: the email copy of a `critical` message, one at most (unique).
 * - An index for the frequency cap: a client's messages on a channel by the time they went.
 * - `crm_client_preferences.channels` and `.timezone` become nullable without a default: NULL
 *   means "never stated", and the strategy applies the configured defaults (DEFAULT_CHANNELS,
 *   DEFAULT_TIMEZONE) instead of values frozen into the table when the row was made.
 *
 * `ALTER TYPE … ADD VALUE` may run inside the migration's transaction as long as nothing in the
 * same transaction uses the new values, which nothing here does.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are untyped by design (Kysely docs)
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TYPE crm_status ADD VALUE IF NOT EXISTS 'batched' AFTER 'scheduled'`.execute(db);
  await sql`ALTER TYPE crm_message_type ADD VALUE IF NOT EXISTS 'digest'`.execute(db);
  await db.schema
    .createTable('crm_digests')
    .addColumn('id', 'uuid', (col) => col.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('client_id', 'text', (col) => col.notNull())
    .addColumn('status', 'text', (col) => col.notNull().defaultTo('open').check(sql`status IN ('open', 'flushed')`))
    .addColumn('item_count', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('opened_at', ts, (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('flush_at', ts, (col) => col.notNull())
    .addColumn('flushed_at', ts)
    .addColumn('communication_id', 'uuid', (col) => col.references('crm_communications.id').onDelete('set null'))
    .execute();
  await sql`CREATE UNIQUE INDEX crm_digests_open_uq ON crm_digests (client_id) WHERE status = 'open'`.execute(db);
  await db.schema
    .alterTable('crm_communications')
    .addColumn('digest_id', 'uuid', (col) => col.references('crm_digests.id').onDelete('set null'))
    .addColumn('copy_of', 'uuid', (col) => col.references('crm_communications.id').onDelete('cascade'))
    .execute();
  await sql`CREATE INDEX crm_communications_digest_idx ON crm_communications (digest_id) WHERE digest_id IS NOT NULL`.execute(db);
  await sql`CREATE UNIQUE INDEX crm_communications_copy_of_uq ON crm_communications (copy_of) WHERE copy_of IS NOT NULL`.execute(db);
  await sql`ALTER TABLE crm_client_preferences
    ALTER COLUMN channels DROP NOT NULL, ALTER COLUMN channels DROP DEFAULT,
    ALTER COLUMN timezone DROP NOT NULL, ALTER COLUMN timezone DROP DEFAULT`.execute(db);
  await sql`CREATE INDEX crm_communications_cap_idx ON crm_communications (client_id, channel, sent_at) WHERE sent_at IS NOT NULL`.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX IF EXISTS crm_communications_cap_idx`.execute(db);
  await sql`UPDATE crm_client_preferences SET channels = coalesce(channels, '{email,whatsapp,sms}'), timezone = coalesce(timezone, 'UTC')`.execute(db);
  await sql`ALTER TABLE crm_client_preferences
    ALTER COLUMN channels SET DEFAULT '{email,whatsapp,sms}', ALTER COLUMN channels SET NOT NULL,
    ALTER COLUMN timezone SET DEFAULT 'UTC', ALTER COLUMN timezone SET NOT NULL`.execute(db);
  await db.schema.alterTable('crm_communications').dropColumn('copy_of').dropColumn('digest_id').execute();
  await db.schema.dropTable('crm_digests').execute();
  // PostgreSQL cannot drop a value from an enum; `batched` and `digest` stay, unused.
}
