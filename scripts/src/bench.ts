/**
 * `npm run bench` — throughput and latency of the walking skeleton against a raw BullMQ
 * baseline measured in the same run, on the same Redis and PostgreSQL.
 *
 *   (a) baseline: a two-hop BullMQ pipeline of no-op jobs (queue A → worker → queue B → worker)
 *   (b) engine:   HTTP POST to ingest → row → crm.requests → strategy worker → crm.email →
 *                 email worker → SMTP to the sandbox → row `sent`
 *
 * Everything runs in this one process (the pipeline issue moves workers to their own
 * processes). Options: --n <messages> (default 2000), --concurrency <in-flight requests>
 * (default 50).
 */
import { randomBytes } from 'node:crypto';
import { cpus, totalmem } from 'node:os';
import { Queue, Worker } from 'bullmq';
import { Client } from 'pg';
import { sql, type Kysely } from 'kysely';
import { loadConfigOrExit, readEnvironment } from '@crm/config';
import { migrateToLatest, type Database } from '@crm/db';
import { emailWorkerService } from '@crm/email-worker';
import { ingestService } from '@crm/ingest';
import { createLogger } from '@crm/observability';
import { createRedisConnection, waitForRedis } from '@crm/queue';
import { createRuntime, type StartedService } from '@crm/runtime';
import { startSandbox } from '@crm/sandbox';
import { strategyWorkerService } from '@crm/strategy-worker';

const argv = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const at = argv.indexOf(`--${name}`);
  const value = at >= 0 ? Number(argv[at + 1]) : fallback;
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
  return value;
};
const N = option('n', 2000);
const CONCURRENCY = option('concurrency', 50);
const say = (line: string) => process.stdout.write(`${line}\n`);

interface Result {
  readonly name: string;
  readonly throughput: number;
  readonly p50: number;
  readonly p99: number;
}

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

/** A progress bar on a terminal; in a log (no TTY), one line per finished phase. */
function progress(label: string, done: number, total: number): void {
  if (!process.stdout.isTTY) {
    if (done === total) say(`  ${label}: ${done}/${total}`);
    return;
  }
  const width = 30;
  const filled = Math.round((done / total) * width);
  process.stdout.write(`\r  ${label.padEnd(9)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`);
  if (done === total) process.stdout.write('\n');
}

async function baseline(redisUrl: string, prefix: string): Promise<Result> {
  const connection = createRedisConnection({ url: redisUrl, role: 'worker', name: 'bench-baseline' });
  const first = new Queue('bench.a', { connection, prefix });
  const second = new Queue('bench.b', { connection, prefix });
  const latencies: number[] = [];
  let done = 0;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const hopA = new Worker('bench.a', async (job) => void (await second.add('b', job.data, { removeOnComplete: true })), { connection, prefix, concurrency: 50 });
  const hopB = new Worker(
    'bench.b',
    async (job) => {
      latencies.push(Date.now() - (job.data as { at: number }).at);
      if (++done % 100 === 0 || done === N) progress('baseline', done, N);
      if (done === N) finish();
    },
    { connection, prefix, concurrency: 50 },
  );
  const started = Date.now();
  for (let i = 0; i < N; i += 500) {
    const batch = Array.from({ length: Math.min(500, N - i) }, () => ({ name: 'a', data: { at: Date.now() }, opts: { removeOnComplete: true } }));
    await first.addBulk(batch);
  }
  await finished;
  const seconds = (Date.now() - started) / 1000;
  await Promise.all([hopA.close(), hopB.close()]);
  await Promise.all([first.obliterate({ force: true }), second.obliterate({ force: true })]);
  await Promise.all([first.close(), second.close()]);
  await connection.quit();
  latencies.sort((a, b) => a - b);
  return { name: 'raw BullMQ, two hops', throughput: N / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

async function engine(databaseUrl: string, redisUrl: string, prefix: string): Promise<Result & { statementsPerMessage: number; ingestRate: number }> {
  const env = readEnvironment();
  const logger = createLogger({ service: 'bench', level: 'error' });
  const sandbox = await startSandbox({ logger, smtpPort: 0, httpPort: 0, capacity: 100 });
  const config = loadConfigOrExit({
    ...env,
    DATABASE_URL: databaseUrl,
    DATABASE_POOL_MAX: '20',
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: prefix,
    LOG_LEVEL: 'error',
    PORT: '0',
    PROVIDER_MODE: 'sandbox',
    SMTP_HOST: sandbox.host,
    SMTP_PORT: String(sandbox.smtpPort),
    SMTP_POOL_MAX_CONNECTIONS: '10',
    DB_ENCRYPTION_KEY: env.DB_ENCRYPTION_KEY || randomBytes(32).toString('hex'),
    BLIND_INDEX_KEY: env.BLIND_INDEX_KEY || randomBytes(32).toString('hex'),
  });
  // The same runtime and service starters as the services' main.ts and npm start.
  const runtime = createRuntime({ service: 'bench', config, logger });
  const db = runtime.db();
  const { error } = await migrateToLatest(db);
  if (error) throw error;
  const services: StartedService[] = [];
  for (const start of [emailWorkerService, strategyWorkerService, ingestService]) services.push(await start(runtime));
  const ingestUrl = services.find((service) => service.url)?.url ?? '';
  // One recipient with stored contact details, so requests carry no personal data.
  await fetch(`${ingestUrl}/api/crm/communications`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ clientId: 'bench-client', planId: 'bench-warmup', messageType: 'welcome', recipient: { email: 'bench@example.com' } }),
  });
  const statementsBefore = await statementCount(db);

  const started = Date.now();
  let sent = 0;
  let next = 0;
  const post = async (): Promise<void> => {
    while (next < N) {
      next++;
      const response = await fetch(`${ingestUrl}/api/crm/communications`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ clientId: 'bench-client', planId: 'bench', messageType: 'reminder', variables: { n: next } }),
      });
      if (response.status !== 202) throw new Error(`ingest answered ${response.status}`);
      await response.arrayBuffer();
      if (++sent % 100 === 0 || sent === N) progress('ingest', sent, N);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, post));
  const ingestSeconds = (Date.now() - started) / 1000;
  for (;;) {
    const row = await db.selectFrom('crm_communications').select((eb) => eb.fn.countAll<string>().as('n')).where('plan_id', '=', 'bench').where('status', '=', 'sent').executeTakeFirstOrThrow();
    progress('sent', Number(row.n), N);
    if (Number(row.n) >= N) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const { rows } = await sql<{ ms: number; first: Date; last: Date }>`
    SELECT extract(epoch FROM (sent_at - created_at)) * 1000 AS ms, created_at AS first, sent_at AS last
    FROM crm_communications WHERE plan_id = 'bench' ORDER BY ms`.execute(db);
  const latencies = rows.map((row) => Number(row.ms));
  const firstAccepted = Math.min(...rows.map((row) => row.first.getTime()));
  const lastSent = Math.max(...rows.map((row) => row.last.getTime()));
  const statementsPerMessage = ((await statementCount(db)) - statementsBefore) / N;

  for (const service of services.reverse()) for (const step of service.stop) await step();
  await runtime.close();
  await sandbox.stop();
  return {
    name: 'engine (HTTP → sent)',
    throughput: N / ((lastSent - firstAccepted) / 1000),
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    statementsPerMessage,
    ingestRate: N / ingestSeconds,
  };
}

/** Transactions committed in this database so far (pg_stat_database; updated with a small lag). */
async function statementCount(db: Kysely<Database>): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 600));
  const { rows } = await sql<{ n: string }>`SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = current_database()`.execute(db);
  return Number(rows[0]?.n ?? 0);
}

async function main(): Promise<void> {
  const env = readEnvironment();
  const baseUrl = env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
  const redisUrl = env.REDIS_URL || 'redis://127.0.0.1:6379';
  const name = `crm_bench_${Date.now()}`;
  const admin = new Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const settings = await admin.query<{ synchronous_commit: string }>('SHOW synchronous_commit');
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  const prefix = `crm-bench-${randomBytes(4).toString('hex')}`;
  const redis = createRedisConnection({ url: redisUrl, role: 'producer' });
  await waitForRedis(redis);
  const persistence = await redis.config('GET', 'appendonly');
  try {
    say(`crm-engine bench: N=${N}, HTTP concurrency ${CONCURRENCY}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`);
    say(`durability: PostgreSQL synchronous_commit=${settings.rows[0]?.synchronous_commit}, Redis appendonly=${String((persistence as string[])[1])}`);
    const base = await baseline(redisUrl, prefix);
    const eng = await engine(url.toString(), redisUrl, prefix);
    say('');
    say('| pipeline | messages/s | p50 ms | p99 ms | vs baseline |');
    say('|---|---|---|---|---|');
    for (const r of [base, eng]) say(`| ${r.name} | ${r.throughput.toFixed(0)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${((r.throughput / base.throughput) * 100).toFixed(0)}% |`);
    say('');
    say(`ingest (single requests over HTTP): ${eng.ingestRate.toFixed(0)} requests/s`);
    say(`PostgreSQL transactions per message: ${eng.statementsPerMessage.toFixed(1)}`);
  } finally {
    await redis.quit();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
    const cleaner = createRedisConnection({ url: redisUrl, role: 'worker' });
    let cursor = '0';
    do {
      const [nextCursor, keys] = await cleaner.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length > 0) await cleaner.del(...keys);
      cursor = nextCursor;
    } while (cursor !== '0');
    await cleaner.quit();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    say(`\nbench failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
