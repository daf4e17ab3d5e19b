/**
 * `npm run bench:analytics` — the analytics queries at scale. In a fresh database of its own
 * (dropped at the end unless --keep), it loads --n generated communications (default 1,000,000;
 * INSERT … SELECT generate_series, spread over the last 365 days, each with a `created` row in
 * the delivery log and email opens flagged human or machine there) and the preferences of N/20 clients (at most 50,000), builds the daily rollups, then
 * runs each dashboard query --runs times (default 20) and prints p50/p95 in ms against the
 * 200 ms target, and the EXPLAIN (ANALYZE) plan of the SQL each one reads.
 *
 *   npm run bench:analytics                       # N = 1,000,000
 *   npm run bench:analytics -- --n 100000 --runs 10 --no-explain
 */
import { randomBytes } from 'node:crypto';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { sql, type Kysely } from 'kysely';
import { Client } from 'pg';
import { loadDatabaseConfig } from '@crm/config';
import {
  analyticsCellsSource,
  createDatabase,
  getAnalyticsCells,
  getAnalyticsReport,
  getPreferenceDistribution,
  migrateToLatest,
  rebuildAnalyticsRollups,
  recomputeAnalyticsCells,
  type AnalyticsCellKey,
  type AnalyticsFilters,
  type Database,
} from '@crm/db';

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '1000000' },
    runs: { type: 'string', default: '20' },
    keep: { type: 'boolean', default: false },
    // A database kept by an earlier --keep run: time the queries again without loading.
    database: { type: 'string' },
    'no-explain': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (args.help === true) {
  process.stdout.write('npm run bench:analytics -- [--n 1000000] [--runs 20] [--keep] [--no-explain] [--database <kept database>]\n');
  process.exit(0);
}
const positive = (name: 'n' | 'runs'): number => {
  const value = Number(args[name]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
  return value;
};
const N = positive('n');
const RUNS = positive('runs');
const TARGET_P95_MS = 200;
const CHUNK = 100_000;
/** Clients with preferences: one per 20 communications, at most 50,000. */
const CLIENTS = Math.min(50_000, Math.max(100, Math.floor(N / 20)));
const say = (line: string) => process.stdout.write(`${line}\n`);
const percentile = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
const dayOf = (date: Date) => date.toISOString().slice(0, 10);
const daysAgo = (days: number) => dayOf(new Date(Date.now() - days * 86_400_000));

/** Loads `n` communications created over the last 365 days, in chunks; opens get a delivery-log row with a machine flag. */
async function load(db: Kysely<Database>, n: number): Promise<void> {
  await sql`SELECT setseed(0.42)`.execute(db);
  for (let start = 1; start <= n; start += CHUNK) {
    const end = Math.min(n, start + CHUNK - 1);
    await sql`
      WITH g AS (
        SELECT i, random() AS rc, random() AS rs, random() AS rd, random() AS ro, random() AS rk, random() AS rr, random() AS rm,
          now() - random() * interval '365 days' AS created
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
        SELECT 'bench-client-' || (i % 50000), 'bench-plan-' || (i % 2000),
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
      SELECT id, 'opened', channel, jsonb_build_object('machine', random() < 0.3, 'reason', 'bench')
      FROM inserted WHERE opened_at IS NOT NULL AND channel = 'email'`.execute(db);
    process.stderr.write(`\rloaded ${end.toLocaleString('en')} / ${n.toLocaleString('en')}`);
  }
  process.stderr.write('\n');
  await sql`
    INSERT INTO crm_client_preferences (client_id, channels, timezone, opt_outs, quiet_hours_start, quiet_hours_end, language, batching)
    SELECT 'bench-client-' || i,
      CASE i % 4 WHEN 0 THEN NULL WHEN 1 THEN ARRAY['email', 'sms'] WHEN 2 THEN ARRAY['whatsapp', 'email'] ELSE ARRAY['sms'] END,
      (ARRAY['Europe/Paris', 'America/New_York', 'Asia/Tokyo', NULL])[1 + i % 4],
      CASE WHEN i % 10 = 0 THEN ARRAY['sms'] ELSE ARRAY[]::text[] END,
      CASE WHEN i % 3 = 0 THEN '22:00'::time END, CASE WHEN i % 3 = 0 THEN '07:00'::time END,
      (ARRAY['en', 'fr', 'de'])[1 + i % 3], i % 2 = 0
    FROM generate_series(0, ${CLIENTS - 1}::int) i`.execute(db);
  await sql`ANALYZE`.execute(db);
}

interface Timed {
  readonly name: string;
  readonly p50: number;
  readonly p95: number;
  readonly max: number;
}

async function time(name: string, runs: number, query: () => Promise<unknown>): Promise<Timed> {
  await query(); // warm-up
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const begin = performance.now();
    await query();
    ms.push(performance.now() - begin);
  }
  ms.sort((a, b) => a - b);
  return { name, p50: percentile(ms, 50), p95: percentile(ms, 95), max: ms[ms.length - 1] ?? NaN };
}

async function explain(db: Kysely<Database>, title: string, filters: AnalyticsFilters): Promise<void> {
  const { rows } = await sql<{ 'QUERY PLAN': string }>`EXPLAIN (ANALYZE, BUFFERS) ${analyticsCellsSource(filters)}`.execute(db);
  say(`\n#### ${title}\n\n\`\`\`\n${rows.map((row) => row['QUERY PLAN']).join('\n')}\n\`\`\``);
}

async function main(): Promise<number> {
  const baseUrl = loadDatabaseConfig().url;
  const reuse = args.database;
  if (reuse !== undefined && !/^crm_bench_analytics_[0-9a-f]+$/.test(reuse)) throw new Error('--database must name a database an earlier --keep run kept');
  const name = reuse ?? `crm_bench_analytics_${randomBytes(4).toString('hex')}`;
  const admin = new Client({ connectionString: baseUrl });
  await admin.connect();
  if (reuse === undefined) await admin.query(`CREATE DATABASE ${name} TEMPLATE template0`);
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  const db = createDatabase({ url: url.toString(), poolMax: 4, applicationName: 'bench-analytics' });
  try {
    const { error } = await migrateToLatest(db);
    if (error) throw error instanceof Error ? error : new Error(String(error));
    say(`crm-engine analytics bench: ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, N=${N.toLocaleString('en')}, ${RUNS} runs per query`);
    if (reuse === undefined) {
      let begin = performance.now();
      await load(db, N);
      say(`load: ${((performance.now() - begin) / 1000).toFixed(1)} s`);
      begin = performance.now();
      const cells = await rebuildAnalyticsRollups(db, daysAgo(366), daysAgo(-1));
      say(`rollups: ${cells.toLocaleString('en')} cells built in ${((performance.now() - begin) / 1000).toFixed(1)} s`);
    } else say(`reusing ${name} (N and clients as loaded then)`);

    const last30 = { from: daysAgo(29), to: daysAgo(0) };
    const lastYear = { from: daysAgo(364), to: daysAgo(0) };
    const oneDay = daysAgo(3);
    const { rows: dayCells } = await sql<{ channel: AnalyticsCellKey['channel']; message_type: AnalyticsCellKey['messageType'] }>`
      SELECT channel, message_type FROM crm_analytics_daily WHERE day = ${oneDay}::date`.execute(db);
    const dirtyDay: AnalyticsCellKey[] = dayCells.map((row) => ({ day: oneDay, channel: row.channel, messageType: row.message_type }));
    const queries: [string, () => Promise<unknown>][] = [
      ['dashboard, last 30 days', () => getAnalyticsReport(db, last30)],
      ['dashboard, last 365 days', () => getAnalyticsReport(db, lastYear)],
      ['dashboard, 30 days, channel=email', () => getAnalyticsReport(db, { ...last30, channel: 'email' })],
      ['dashboard, 365 days, messageType=reminder', () => getAnalyticsReport(db, { ...lastYear, messageType: 'reminder' })],
      ['dashboard, 365 days, planId (raw, plan index)', () => getAnalyticsReport(db, { ...lastYear, planId: 'bench-plan-7' })],
      ['dashboard, 365 days, planId + channel', () => getAnalyticsReport(db, { ...lastYear, planId: 'bench-plan-7', channel: 'sms' })],
      ['CSV cells, 365 days', () => getAnalyticsCells(db, lastYear)],
      [`preference distribution (${CLIENTS.toLocaleString('en')} clients)`, () => getPreferenceDistribution(db)],
      [`worker: recompute one day's ${dirtyDay.length} cells`, () => recomputeAnalyticsCells(db, dirtyDay)],
    ];
    const results: Timed[] = [];
    for (const [title, query] of queries) results.push(await time(title, RUNS, query));

    say('\n| query | p50 ms | p95 ms | max ms | p95 < 200 ms |');
    say('|---|---:|---:|---:|:-:|');
    for (const r of results) say(`| ${r.name} | ${r.p50.toFixed(1)} | ${r.p95.toFixed(1)} | ${r.max.toFixed(1)} | ${r.p95 < TARGET_P95_MS ? 'yes' : 'NO'} |`);

    if (args['no-explain'] !== true) {
      say('\n### Plans (EXPLAIN ANALYZE of the cells each query reads)');
      await explain(db, 'rollups, last 365 days', lastYear);
      await explain(db, 'rollups, 30 days, channel=email', { ...last30, channel: 'email' });
      await explain(db, 'communications by plan, 365 days', { ...lastYear, planId: 'bench-plan-7' });
    }
    return results.every((r) => r.p95 < TARGET_P95_MS) ? 0 : 2;
  } finally {
    await db.destroy();
    if (args.keep === true || reuse !== undefined) say(`\nkept database ${name}`);
    else await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench:analytics: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
