import { sql, type Kysely } from 'kysely';

const channels = ['email', 'sms', 'whatsapp'];
const channelArray = sql.raw(`'{${channels.join(',')}}'::text[]`);
const ts = sql`timestamptz(3)`;

/**
 * What the delivery pipeline keeps on a communication so that any worker (or the reconciler,
 * after Redis lost its jobs) can tell from the row alone what should happen next:
 *
 * - `channel_plan`: the channels to try, in order, as the strategy decided;
 * - `channel_attempts` / `rate_limit_waits`: spent on the current channel (the retry budget);
 * - `next_attempt_at`: when the current channel's next attempt is due (backoff);
 * - `awaiting_fallback`: the current channel gave up and the strategy must pick the next.
 *
 * `attempt_count` (from 0001) numbers every channel job of the communication; jobs carry it,
 * and every pipeline write is conditional on it.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are untyped by design (Kysely docs)
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('crm_communications')
    .addColumn('channel_plan', sql`text[]`, (col) => col.notNull().defaultTo(sql`'{}'`).check(sql`channel_plan <@ ${channelArray}`))
    .addColumn('channel_attempts', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('rate_limit_waits', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('next_attempt_at', ts)
    .addColumn('awaiting_fallback', 'boolean', (col) => col.notNull().defaultTo(false))
    .execute();
  // The reconciler's scan: rows still in flight, oldest change first. Partial, so it stays as
  // small as the backlog however many finished rows the table holds.
  await sql`CREATE INDEX crm_communications_in_flight_idx ON crm_communications (updated_at, id)
    WHERE status IN ('pending', 'scheduled', 'queued', 'sending')`.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX IF EXISTS crm_communications_in_flight_idx`.execute(db);
  await db.schema
    .alterTable('crm_communications')
    .dropColumn('channel_plan')
    .dropColumn('channel_attempts')
    .dropColumn('rate_limit_waits')
    .dropColumn('next_attempt_at')
    .dropColumn('awaiting_fallback')
    .execute();
}
