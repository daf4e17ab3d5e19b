import { sql, type Kysely } from 'kysely';

// A migration is a snapshot: its enum values are written out here rather than imported from
// @crm/core, so that a later change to the code cannot change what an old migration did.
// A test checks that the database enums equal the ones in @crm/core.
const messageTypes = ['welcome', 'budget_summary', 'vendor_options', 'selection_confirmation', 'blueprint_delivery', 'error_notification', 'reminder'];
const channels = ['email', 'sms', 'whatsapp'];
const urgencies = ['low', 'normal', 'high', 'critical'];
const statuses = ['pending', 'scheduled', 'queued', 'sending', 'sent', 'delivered', 'opened', 'clicked', 'responded', 'failed', 'cancelled', 'bounced'];
const errorCategories = ['transient', 'rate_limit', 'permanent', 'auth_failure'];

/** Timestamps keep millisecond precision, the precision of a JavaScript Date, so that a cursor
 * built from a returned row compares equal to the stored value. */
const ts = sql`timestamptz(3)`;
// Channel lists are text[] with a CHECK rather than crm_channel[]: node-postgres parses text[]
// natively, while an enum array arrives as an unparsed '{…}' string.
const channelArray = sql.raw(`'{${channels.join(',')}}'::text[]`);
const stampedStatuses = statuses.filter((status) => status !== 'pending');

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are untyped by design (Kysely docs)
export async function up(db: Kysely<any>): Promise<void> {
  // CREATE EXTENSION is database-wide: serialise it so that parallel migrations (one schema or
  // database per test file) cannot race on pg_extension's unique index.
  await sql`SELECT pg_advisory_xact_lock(hashtext('crm-engine:pgcrypto'))`.execute(db);
  await sql`CREATE EXTENSION IF NOT EXISTS pgcrypto`.execute(db);

  await db.schema.createType('crm_message_type').asEnum(messageTypes).execute();
  await db.schema.createType('crm_channel').asEnum(channels).execute();
  await db.schema.createType('crm_urgency').asEnum(urgencies).execute();
  await db.schema.createType('crm_status').asEnum(statuses).execute();
  await db.schema.createType('crm_error_category').asEnum(errorCategories).execute();

  await db.schema
    .createTable('crm_communication_templates')
    .addColumn('id', 'uuid', (col) => col.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('message_type', sql`crm_message_type`, (col) => col.notNull())
    .addColumn('channel', sql`crm_channel`, (col) => col.notNull())
    .addColumn('language', 'text', (col) => col.notNull().defaultTo('en'))
    .addColumn('version', 'integer', (col) => col.notNull().check(sql`version > 0`))
    .addColumn('subject', 'text')
    .addColumn('body', 'text', (col) => col.notNull())
    .addColumn('text_body', 'text')
    .addColumn('published_at', ts)
    .addColumn('created_at', ts, (col) => col.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('crm_communication_templates_version_uq', ['message_type', 'channel', 'language', 'version'])
    .execute();

  let communications = db.schema
    .createTable('crm_communications')
    .addColumn('id', 'uuid', (col) => col.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('client_id', 'text', (col) => col.notNull())
    .addColumn('plan_id', 'text', (col) => col.notNull())
    .addColumn('message_type', sql`crm_message_type`, (col) => col.notNull())
    .addColumn('urgency', sql`crm_urgency`, (col) => col.notNull().defaultTo('normal'))
    .addColumn('status', sql`crm_status`, (col) => col.notNull().defaultTo('pending'))
    .addColumn('requested_channel', sql`crm_channel`)
    .addColumn('channel', sql`crm_channel`)
    .addColumn('channels_tried', sql`text[]`, (col) => col.notNull().defaultTo(sql`'{}'`).check(sql`channels_tried <@ ${channelArray}`))
    .addColumn('strategy_reason', 'text')
    .addColumn('template_id', 'uuid', (col) => col.references('crm_communication_templates.id'))
    .addColumn('template_version', 'integer')
    .addColumn('variables', 'jsonb', (col) => col.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('metadata', 'jsonb', (col) => col.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('send_at', ts)
    .addColumn('scheduled_for', ts)
    .addColumn('idempotency_key', 'text')
    .addColumn('request_hash', 'text')
    .addColumn('provider_message_id', 'text')
    .addColumn('attempt_count', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .addColumn('last_error_code', 'text')
    .addColumn('last_error_category', sql`crm_error_category`)
    .addColumn('failure_reason', 'text')
    .addColumn('created_at', ts, (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', ts, (col) => col.notNull().defaultTo(sql`now()`));
  for (const status of stampedStatuses) communications = communications.addColumn(`${status}_at`, ts);
  await communications
    .addCheckConstraint('crm_communications_idempotency_ck', sql`(idempotency_key IS NULL) = (request_hash IS NULL)`)
    .execute();

  // One index per way the repository reads: history newest first (optionally by plan, client,
  // status or channel), keyset pagination on (created_at, id), analytics by date range.
  await sql`CREATE UNIQUE INDEX crm_communications_idempotency_key_uq ON crm_communications (idempotency_key) WHERE idempotency_key IS NOT NULL`.execute(db);
  await sql`CREATE INDEX crm_communications_created_idx ON crm_communications (created_at DESC, id DESC)`.execute(db);
  await sql`CREATE INDEX crm_communications_plan_idx ON crm_communications (plan_id, created_at DESC, id DESC)`.execute(db);
  await sql`CREATE INDEX crm_communications_client_idx ON crm_communications (client_id, created_at DESC, id DESC)`.execute(db);
  await sql`CREATE INDEX crm_communications_status_idx ON crm_communications (status, created_at DESC, id DESC)`.execute(db);
  await sql`CREATE INDEX crm_communications_channel_idx ON crm_communications (channel, created_at DESC, id DESC)`.execute(db);

  await db.schema
    .createTable('crm_client_preferences')
    .addColumn('client_id', 'text', (col) => col.primaryKey())
    .addColumn('channels', sql`text[]`, (col) =>
      col.notNull().defaultTo(sql`'{email,whatsapp,sms}'`).check(sql`channels <@ ${channelArray} AND cardinality(channels) > 0`),
    )
    .addColumn('timezone', 'text', (col) => col.notNull().defaultTo('UTC'))
    .addColumn('quiet_hours_start', 'time')
    .addColumn('quiet_hours_end', 'time')
    .addColumn('opt_outs', sql`text[]`, (col) => col.notNull().defaultTo(sql`'{}'`).check(sql`opt_outs <@ ${channelArray}`))
    .addColumn('language', 'text', (col) => col.notNull().defaultTo('en'))
    .addColumn('batching', 'boolean', (col) => col.notNull().defaultTo(true))
    // Personal data: pgp_sym_encrypt ciphertext, and an HMAC-SHA256 blind index of the
    // normalised value so that an inbound message finds its client without decrypting.
    .addColumn('email_encrypted', 'bytea')
    .addColumn('email_hash', 'bytea')
    .addColumn('phone_encrypted', 'bytea')
    .addColumn('phone_hash', 'bytea')
    .addColumn('created_at', ts, (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', ts, (col) => col.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('crm_client_preferences_quiet_hours_ck', sql`(quiet_hours_start IS NULL) = (quiet_hours_end IS NULL)`)
    .addCheckConstraint('crm_client_preferences_email_ck', sql`(email_encrypted IS NULL) = (email_hash IS NULL)`)
    .addCheckConstraint('crm_client_preferences_phone_ck', sql`(phone_encrypted IS NULL) = (phone_hash IS NULL)`)
    .execute();
  await sql`CREATE INDEX crm_client_preferences_email_hash_idx ON crm_client_preferences (email_hash) WHERE email_hash IS NOT NULL`.execute(db);
  await sql`CREATE INDEX crm_client_preferences_phone_hash_idx ON crm_client_preferences (phone_hash) WHERE phone_hash IS NOT NULL`.execute(db);

  await db.schema
    .createTable('crm_delivery_logs')
    .addColumn('id', 'bigint', (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('communication_id', 'uuid', (col) => col.notNull().references('crm_communications.id').onDelete('cascade'))
    .addColumn('event', 'text', (col) => col.notNull())
    .addColumn('from_status', sql`crm_status`)
    .addColumn('to_status', sql`crm_status`)
    .addColumn('channel', sql`crm_channel`)
    .addColumn('attempt', 'integer')
    .addColumn('provider', 'text')
    .addColumn('provider_message_id', 'text')
    .addColumn('provider_event_id', 'text')
    .addColumn('error_code', 'text')
    .addColumn('error_category', sql`crm_error_category`)
    .addColumn('error_message', 'text')
    .addColumn('latency_ms', 'integer')
    .addColumn('detail', 'jsonb', (col) => col.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('created_at', ts, (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await sql`CREATE INDEX crm_delivery_logs_communication_idx ON crm_delivery_logs (communication_id, id)`.execute(db);
  // Webhooks are deduplicated by the provider's event id.
  await sql`CREATE UNIQUE INDEX crm_delivery_logs_provider_event_uq ON crm_delivery_logs (provider, provider_event_id) WHERE provider_event_id IS NOT NULL`.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('crm_delivery_logs').execute();
  await db.schema.dropTable('crm_client_preferences').execute();
  await db.schema.dropTable('crm_communications').execute();
  await db.schema.dropTable('crm_communication_templates').execute();
  for (const type of ['crm_error_category', 'crm_status', 'crm_urgency', 'crm_channel', 'crm_message_type']) {
    await db.schema.dropType(type).execute();
  }
  // pgcrypto stays: an extension is shared by the whole database and may serve others.
}
