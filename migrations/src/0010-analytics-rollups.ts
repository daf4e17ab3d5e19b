import { sql, type Kysely } from 'kysely';

/**
 * Analytics rollups (issue 9).
 *
 * - `crm_analytics_daily`: one row per (UTC day of `created_at`, channel, message type) with the
 *   counts of its communications by how far they got (a status implies the ones before it, as
 *   in `getCommunicationAnalytics`), the human opens (an open not flagged as a likely machine
 *   open), and the seconds from sent to response of each responded one. `channel` is `'none'`
 *   for communications never routed. A cell is always recomputed from `crm_communications`,
 *   never incremented, so a redelivered event cannot count twice.
 * - `crm_analytics_dirty`: cells an event touched, waiting for the analytics worker to recompute
 *   them in batches.
 * - Queries filtered by plan read `crm_communications` through `crm_communications_plan_idx`
 *   (plan_id, created_at); the other dashboard queries read the rollups.
 *
 * Every cell of the communications that exist now is marked dirty: the worker fills them.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are untyped by design (Kysely docs)
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE crm_analytics_daily (
      day date NOT NULL,
      channel text NOT NULL,
      message_type text NOT NULL,
      total integer NOT NULL DEFAULT 0,
      sent integer NOT NULL DEFAULT 0,
      delivered integer NOT NULL DEFAULT 0,
      opened integer NOT NULL DEFAULT 0,
      opened_human integer NOT NULL DEFAULT 0,
      clicked integer NOT NULL DEFAULT 0,
      responded integer NOT NULL DEFAULT 0,
      failed integer NOT NULL DEFAULT 0,
      bounced integer NOT NULL DEFAULT 0,
      cancelled integer NOT NULL DEFAULT 0,
      response_count integer NOT NULL DEFAULT 0,
      response_time_sum_seconds double precision NOT NULL DEFAULT 0,
      response_seconds double precision[] NOT NULL DEFAULT '{}',
      computed_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (day, channel, message_type)
    )`.execute(db);
  await sql`
    CREATE TABLE crm_analytics_dirty (
      day date NOT NULL,
      channel text NOT NULL,
      message_type text NOT NULL,
      marked_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (day, channel, message_type)
    )`.execute(db);
  await sql`
    INSERT INTO crm_analytics_dirty (day, channel, message_type)
    SELECT DISTINCT (created_at AT TIME ZONE 'UTC')::date, coalesce(channel::text, 'none'), message_type::text FROM crm_communications`.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE crm_analytics_dirty`.execute(db);
  await sql`DROP TABLE crm_analytics_daily`.execute(db);
}
