import { sql, type Kysely } from 'kysely';
import type { Database } from '@crm/db';

const CHUNK = 100_000;

export interface SampleHistoryOptions {
  readonly communications: number;
  /** Clients with preferences. @defaultValue one per 20 communications, 100 to 50,000 */
  readonly clients?: number;
  /** Days before today the communications are spread over. @defaultValue 365 */
  readonly days?: number;
  /** Called after each chunk with the number loaded so far. */
  readonly progress?: (loaded: number) => void;
}

/**
 * Loads `communications` generated communications (INSERT … SELECT generate_series, in chunks
 * of 100,000), created over the `days` days before today (UTC; today itself is left alone),
 * each with a `created` row in the delivery log and email opens flagged human or machine there,
 * and the preferences of `clients` clients. Seeded: the same options give the same rows. Ids
 * are `sample-client-…` and `sample-plan-…`; nothing personal (no address, number or body).
 * For the analytics benchmark and the dashboard's screenshots; the rollups are not rebuilt.
 */
export async function loadSampleHistory(db: Kysely<Database>, options: SampleHistoryOptions): Promise<void> {
  const n = options.communications;
  const clientCount = options.clients ?? Math.min(50_000, Math.max(100, Math.floor(n / 20)));
  const days = options.days ?? 365;
  await sql`SELECT setseed(0.42)`.execute(db);
  for (let start = 1; start <= n; start += CHUNK) {
    const end = Math.min(n, start + CHUNK - 1);
    await sql`
      WITH g AS (
        SELECT i, random() AS rc, random() AS rs, random() AS rd, random() AS ro, random() AS rk, random() AS rr, random() AS rm,
          date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '1 second' - random() * (${days}::int * interval '1 day' - interval '1 second') AS created
        FROM generate_series(${start}::int, ${end}::int) i
      ), f AS (
        SELECT *, CASE WHEN rc < 0.5 THEN 'email' WHEN rc < 0.8 THEN 'sms' WHEN rc < 0.97 THEN 'whatsapp' END AS ch,
          rs >= 0.08 AS sent
        FROM g
      ), h AS (
        SELECT *,
          ch IS NOT NULL AND sent AND rd < 0.9 AS delivered,
          ch IS NOT NULL AND sent AND ((ch = 'email' AND ro < 0.45) OR (ch = 'whatsapp' AND ro < 0.6)) AS opened
        FROM f
      ), k AS (
        SELECT *, opened AND ch = 'email' AND rk < 0.2 AS clicked, (delivered OR opened) AND rr < 0.1 AS responded FROM h
      ), inserted AS (
        INSERT INTO crm_communications (client_id, plan_id, message_type, status, channel, created_at, updated_at,
          sent_at, delivered_at, opened_at, clicked_at, responded_at, failed_at, bounced_at, cancelled_at)
        SELECT 'sample-client-' || (i % ${clientCount}::int), 'sample-plan-' || (i % 2000),
          (ARRAY['welcome', 'budget_summary', 'vendor_options', 'selection_confirmation', 'blueprint_delivery', 'error_notification', 'reminder'])[1 + i % 7]::crm_message_type,
          (CASE WHEN ch IS NULL THEN (CASE WHEN rs < 0.5 THEN 'cancelled' ELSE 'pending' END)
                WHEN NOT sent THEN (CASE WHEN rs < 0.05 THEN 'failed' ELSE 'bounced' END)
                WHEN responded THEN 'responded' WHEN clicked THEN 'clicked' WHEN opened THEN 'opened'
                WHEN delivered THEN 'delivered' ELSE 'sent' END)::crm_status,
          ch::crm_channel, created, created,
          CASE WHEN ch IS NOT NULL AND sent THEN created + interval '5 seconds' END,
          CASE WHEN delivered THEN created + interval '20 seconds' END,
          CASE WHEN opened THEN created + interval '10 minutes' END,
          CASE WHEN clicked THEN created + interval '12 minutes' END,
          CASE WHEN responded THEN created + interval '5 seconds' + rr * interval '2 days' END,
          CASE WHEN ch IS NOT NULL AND NOT sent AND rs < 0.05 THEN created + interval '5 seconds' END,
          CASE WHEN ch IS NOT NULL AND NOT sent AND rs >= 0.05 THEN created + interval '5 seconds' END,
          CASE WHEN ch IS NULL AND rs < 0.5 THEN created + interval '1 minute' END
        FROM k
        RETURNING id, channel, opened_at
      )
      INSERT INTO crm_delivery_logs (communication_id, event, channel, detail)
      SELECT id, 'created', NULL, '{}'::jsonb FROM inserted
      UNION ALL
      SELECT id, 'opened', channel, jsonb_build_object('machine', random() < 0.3, 'reason', 'sample')
      FROM inserted WHERE opened_at IS NOT NULL AND channel = 'email'`.execute(db);
    options.progress?.(end);
  }
  await sql`
    INSERT INTO crm_client_preferences (client_id, channels, timezone, opt_outs, quiet_hours_start, quiet_hours_end, language, batching)
    SELECT 'sample-client-' || i,
      CASE i % 4 WHEN 0 THEN NULL WHEN 1 THEN ARRAY['email', 'sms'] WHEN 2 THEN ARRAY['whatsapp', 'email'] ELSE ARRAY['sms'] END,
      (ARRAY['Europe/Paris', 'America/New_York', 'Asia/Tokyo', NULL])[1 + i % 4],
      CASE WHEN i % 10 = 0 THEN ARRAY['sms'] ELSE ARRAY[]::text[] END,
      CASE WHEN i % 3 = 0 THEN '22:00'::time END, CASE WHEN i % 3 = 0 THEN '07:00'::time END,
      (ARRAY['en', 'fr', 'de'])[1 + i % 3], i % 2 = 0
    FROM generate_series(0, ${clientCount - 1}::int) i
    ON CONFLICT (client_id) DO NOTHING`.execute(db);
  await sql`ANALYZE`.execute(db);
}

