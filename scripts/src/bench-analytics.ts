/**
 * `npm run bench:analytics` — the analytics queries at scale. In a fresh database of its own
 * (dropped at the end unless --keep), it loads --n generated communications (default 1,000,000;
 * `loadSampleHistory` of sample-history.ts: spread over the 365 days before today, each with a
 * `created` row in the delivery log and email opens flagged human or machine there) and the preferences of N/20 clients (at most 50,000), builds the daily rollups, then
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
import { loadSampleHistory } from './sample-history';
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
/** Clients with preferences: one per 20 communications, at most 50,000. */
const CLIENTS = Math.min(50_000, Math.max(100, Math.floor(N / 20)));
const say = (line: string) => process.stdout.write(`${line}\n`);
const percentile = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
const dayOf = (date: Date) => date.toISOString().slice(0, 10);
const daysAgo = (days: number) => dayOf(new Date(Date.now() - days * 86_400_000));

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
      await loadSampleHistory(db, { communications: N, clients: CLIENTS, days: 365, progress: (done) => process.stderr.write(`\rloaded ${done.toLocaleString('en')} / ${N.toLocaleString('en')}`) });
      process.stderr.write('\n');
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
      ['dashboard, 365 days, planId (raw, plan index)', () => getAnalyticsReport(db, { ...lastYear, planId: 'sample-plan-7' })],
      ['dashboard, 365 days, planId + channel', () => getAnalyticsReport(db, { ...lastYear, planId: 'sample-plan-7', channel: 'sms' })],
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
      await explain(db, 'communications by plan, 365 days', { ...lastYear, planId: 'sample-plan-7' });
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
