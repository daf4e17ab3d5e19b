/**
 * `npm run bench:ingest` — the ingest API alone, over real HTTP on loopback, against its own
 * fresh database and queue prefix (nothing consumes the jobs):
 *
 *   (a) batch:  POST /api/crm/communications/batch with --batch-size items (default 1000),
 *               --batch-concurrency requests in flight (default 2), until --batch-n items
 *               (default 50000) are stored: communications/s and request latency;
 *   (b) single: POST /api/crm/communications, --concurrency requests in flight (default 32),
 *               --n requests (default 10000): requests/s, p50/p99 latency.
 *
 * Each pass first warms up. The load comes from a child process (undici connection pool), so
 * that the client does not share ingest's event loop. Requests carry an API key (created with
 * ApiKeyRepository) and refer to clients whose contact details were stored beforehand, as a
 * workflow's would; `--with-recipient` sends an inline recipient with every item instead.
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { Client } from 'pg';
import { Pool } from 'undici';
import { loadConfigOrExit, readEnvironment } from '@crm/config';
import { ApiKeyRepository, createDatabase, migrateToLatest, upsertClientContacts } from '@crm/db';
import { startIngest } from '@crm/ingest';
import { createLogger } from '@crm/observability';
import { createRedisConnection, QueueProducer, waitForRedis } from '@crm/queue';

const { values: args } = parseArgs({
  options: {
    'batch-n': { type: 'string', default: '50000' },
    'batch-size': { type: 'string', default: '1000' },
    'batch-concurrency': { type: 'string', default: '2' },
    n: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '32' },
    'with-recipient': { type: 'boolean', default: false },
    skip: { type: 'string', default: '' },
    // Internal: the load-generating child process.
    client: { type: 'string' },
    key: { type: 'string' },
  },
});
const int = (name: keyof typeof args): number => {
  const value = Number(args[name]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
  return value;
};
const BATCH_N = int('batch-n');
const BATCH_SIZE = int('batch-size');
const BATCH_CONCURRENCY = int('batch-concurrency');
const N = int('n');
const CONCURRENCY = int('concurrency');
const WITH_RECIPIENT = args['with-recipient'] === true;
const skip = new Set(String(args.skip).split(',').filter(Boolean));
const CLIENTS = 1000;
const say = (line: string) => process.stdout.write(`${line}\n`);
const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

let sequence = 0;
const request = () => {
  const n = sequence++;
  const client = n % CLIENTS;
  return {
    clientId: `bench-client-${client}`,
    planId: `bench-plan-${n % 97}`,
    messageType: 'reminder',
    variables: { n, clientName: 'Ada', eventName: 'Summer gala', reminderText: 'Please confirm the guest list.', dueDate: '2026-12-01' },
    idempotencyKey: `bench-${n}`,
    ...(WITH_RECIPIENT && { recipient: { email: `bench${client}@example.com`, timezone: 'Europe/Paris' } }),
  };
};

/** Runs `task` with `concurrency` in flight until `total` calls were made; returns the seconds and each call's ms. */
async function drive(total: number, concurrency: number, task: () => Promise<void>): Promise<{ seconds: number; latencies: number[] }> {
  const latencies: number[] = [];
  let started = 0;
  const begin = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started < total) {
        started++;
        const at = performance.now();
        await task();
        latencies.push(performance.now() - at);
      }
    }),
  );
  return { seconds: (performance.now() - begin) / 1000, latencies: latencies.sort((a, b) => a - b) };
}

interface PassResult {
  readonly pass: 'batch' | 'single';
  /** CPU time of the ingest process during the pass, µs (filled in by the parent). */
  cpuMicros?: number;
  readonly items: number;
  readonly requests: number;
  readonly seconds: number;
  readonly p50: number;
  readonly p99: number;
}

/** The child process: posts the load to `url` and reports each pass to the parent. */
async function client(url: string, key: string): Promise<void> {
  const pool = new Pool(url, { connections: Math.max(CONCURRENCY, BATCH_CONCURRENCY), pipelining: 1 });
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${key}` };
  const post = async (path: string, body: unknown) => {
    const response = await pool.request({ method: 'POST', path, headers, body: JSON.stringify(body) });
    const text = await response.body.text();
    if (response.statusCode !== 202) throw new Error(`${path} answered ${response.statusCode}: ${text.slice(0, 300)}`);
  };
  const postBatch = () => post('/api/crm/communications/batch', { items: Array.from({ length: BATCH_SIZE }, request) });
  const postOne = () => post('/api/crm/communications', request());
  const report = (result: PassResult) => process.send?.(result);
  if (!skip.has('batch')) {
    await drive(4, BATCH_CONCURRENCY, postBatch); // warm-up
    const batches = Math.ceil(BATCH_N / BATCH_SIZE);
    process.send?.('start');
    const { seconds, latencies } = await drive(batches, BATCH_CONCURRENCY, postBatch);
    report({ pass: 'batch', items: batches * BATCH_SIZE, requests: batches, seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) });
  }
  if (!skip.has('single')) {
    await drive(500, CONCURRENCY, postOne); // warm-up
    process.send?.('start');
    const { seconds, latencies } = await drive(N, CONCURRENCY, postOne);
    report({ pass: 'single', items: N, requests: N, seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) });
  }
  await pool.close();
}

/** Forks this script as the client and collects its reports. */
function runClient(url: string, key: string): Promise<PassResult[]> {
  return new Promise((resolve, reject) => {
    const results: PassResult[] = [];
    const child = fork(__filename, [...process.argv.slice(2), '--client', url, '--key', key], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
    let cpuAtStart = process.cpuUsage();
    child.on('message', (message) => {
      if (message === 'start') cpuAtStart = process.cpuUsage();
      else {
        const used = process.cpuUsage(cpuAtStart);
        results.push({ ...(message as PassResult), cpuMicros: used.user + used.system });
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(results) : reject(new Error(`the load client exited with ${code}`))));
  });
}

async function main(): Promise<void> {
  const env = readEnvironment();
  const baseUrl = env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
  const redisUrl = env.REDIS_URL || 'redis://127.0.0.1:6379';
  const name = `crm_bench_ingest_${Date.now()}`;
  const admin = new Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  const prefix = `crm-bench-ingest-${randomBytes(4).toString('hex')}`;
  const config = loadConfigOrExit({
    ...env,
    DATABASE_URL: url.toString(),
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: prefix,
    DB_ENCRYPTION_KEY: env.DB_ENCRYPTION_KEY || randomBytes(32).toString('hex'),
    BLIND_INDEX_KEY: env.BLIND_INDEX_KEY || randomBytes(32).toString('hex'),
  });
  const db = createDatabase({ url: config.database.url, poolMax: config.database.poolMax, applicationName: 'bench-ingest' });
  const connection = createRedisConnection({ url: redisUrl, role: 'producer' });
  const keys = { encryptionKey: config.security.dbEncryptionKey, blindIndexKey: config.security.blindIndexKey };
  try {
    const migrated = await migrateToLatest(db);
    if (migrated.error) throw migrated.error instanceof Error ? migrated.error : new Error(String(migrated.error));
    await waitForRedis(connection);
    const producer = new QueueProducer({ connection, prefix });
    const server = await startIngest(
      { db, producer, keys, logger: createLogger({ service: 'bench-ingest', level: 'error' }), redisPing: () => connection.ping(), bodyLimitBytes: config.server.bodyLimitBytes },
      { host: '127.0.0.1', port: 0 },
    );
    const { key } = await ApiKeyRepository.create(db, { name: 'bench-ingest' });
    await upsertClientContacts(db, keys, Array.from({ length: CLIENTS }, (_, n) => ({ clientId: `bench-client-${n}`, email: `bench${n}@example.com` })));

    say(`crm-engine ingest bench: ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, DATABASE_POOL_MAX=${config.database.poolMax}${WITH_RECIPIENT ? ', inline recipient on every item' : ''}`);
    for (const result of await runClient(server.url, key)) {
      if (result.pass === 'batch') {
        say(`batch:  ${result.requests} × ${BATCH_SIZE} items, ${BATCH_CONCURRENCY} in flight: ${(result.items / result.seconds).toFixed(0)} communications/s; per request p50 ${result.p50.toFixed(0)} ms, p99 ${result.p99.toFixed(0)} ms; ingest CPU ${((result.cpuMicros ?? 0) / result.items).toFixed(0)} µs per communication`);
      } else {
        say(`single: ${result.requests} requests, ${CONCURRENCY} in flight: ${(result.requests / result.seconds).toFixed(0)} requests/s; p50 ${result.p50.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms; ingest CPU ${((result.cpuMicros ?? 0) / result.requests).toFixed(0)} µs per request`);
      }
    }
    await server.close();
    await producer.close();
  } finally {
    await db.destroy();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
    let cursor = '0';
    do {
      const [next, found] = await connection.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (found.length > 0) await connection.del(...found);
      cursor = next;
    } while (cursor !== '0');
    await connection.quit();
  }
}

const role = args.client !== undefined && args.key !== undefined ? client(args.client, args.key) : main();
role.then(
  () => process.exit(0),
  (error: unknown) => {
    say(`\nbench:ingest failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
