import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { sql } from 'kysely';
import { readEnvironment } from '@crm/config';
import { migrationState } from '@crm/db';
import { migrations } from '@crm/migrations';
import { createLogger } from '@crm/observability';
import { createRedisConnection, waitForRedis } from '@crm/queue';
import { checkReadiness, startOpsServer, type OpsServer } from '@crm/runtime';
import { createTestDatabase, createTestRedis, startPrivateRedis, testEnvironment, type PrivateRedis, type TestDatabase, type TestRedis } from '@crm/testing';
import { startTestIngest, type TestIngest } from '../../services/ingest/test/support/test-ingest';

// Issue 9 items 1 and 3: /health, /ready (PostgreSQL, Redis, migrations) and /metrics, on
// ingest and on the ops server every worker runs (runService, OPS_PORT).
const root = join(__dirname, '..', '..');
const logger = createLogger({ service: 'ops-test', level: 'silent' });
const allMigrations = Object.keys(migrations).sort();

let t: TestDatabase;
let r: TestRedis;
beforeAll(async () => {
  [t, r] = await Promise.all([createTestDatabase(), createTestRedis()]);
});
afterAll(async () => {
  await Promise.all([t?.destroy(), r?.destroy()]);
});

describe('migrationState', () => {
  it('is current on a migrated database, and names what is missing otherwise', async () => {
    expect(await migrationState(t.db)).toEqual({ current: true, pending: [] });
    const fresh = await createTestDatabase({ migrate: false });
    try {
      expect(await migrationState(fresh.db)).toEqual({ current: false, pending: allMigrations });
    } finally {
      await fresh.destroy();
    }
  });
});

describe('the ops server of a worker', () => {
  let ops: OpsServer;
  beforeAll(async () => {
    ops = await startOpsServer({ host: '127.0.0.1', port: 0, logger, db: t.db, redisPing: () => r.redis.ping() });
  });
  afterAll(() => ops?.close());

  it('answers /health and /ready (PostgreSQL, Redis, migrations)', async () => {
    const health = await fetch(`${ops.url}/health`);
    expect([health.status, await health.json()]).toEqual([200, { status: 'ok' }]);
    const ready = await fetch(`${ops.url}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', postgres: true, redis: true, migrations: true, pendingMigrations: [] });
  });

  it('serves the metrics registry in Prometheus text format', async () => {
    const response = await fetch(`${ops.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    for (const name of ['crm_communications_total', 'crm_delivery_time_seconds', 'crm_open_rate', 'crm_api_errors_total', 'crm_queue_jobs', 'crm_job_duration_seconds', 'crm_breaker_state', 'crm_preferences_cache_total']) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    // prom-client's default process metrics.
    expect(text).toContain('process_cpu_user_seconds_total');
    expect(text).toContain('nodejs_eventloop_lag_seconds');
  });

  it('answers anything else as problem details: 404 for another path, 405 for another method', async () => {
    const missing = await fetch(`${ops.url}/nope`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toBe('application/problem+json');
    expect(await missing.json()).toMatchObject({ status: 404, code: 'not_found' });
    const post = await fetch(`${ops.url}/health`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect(await post.json()).toMatchObject({ status: 405, code: 'method_not_allowed' });
  });

  it('is not ready (503) on a database a migration is missing from', async () => {
    const behind = await createTestDatabase();
    const missing = allMigrations[allMigrations.length - 1]!;
    const server = await startOpsServer({ host: '127.0.0.1', port: 0, logger, db: behind.db, redisPing: () => r.redis.ping() });
    try {
      await sql`DELETE FROM kysely_migration WHERE name = ${missing}`.execute(behind.db);
      const ready = await fetch(`${server.url}/ready`);
      expect(ready.status).toBe(503);
      expect(ready.headers.get('content-type')).toBe('application/problem+json');
      expect(await ready.json()).toMatchObject({ code: 'not_ready', postgres: true, redis: true, migrations: false, pendingMigrations: [missing], detail: `migrations not applied: ${missing}` });
    } finally {
      await server.close();
      await behind.destroy();
    }
  });
});

describe('/ready when a dependency is away', () => {
  let privateRedis: PrivateRedis;
  let ingest: TestIngest;
  let fresh: TestDatabase;
  let freshIngest: TestIngest;
  beforeAll(async () => {
    privateRedis = await startPrivateRedis();
    const connection = createRedisConnection({ url: privateRedis.url, role: 'producer' });
    await waitForRedis(connection);
    ingest = await startTestIngest('ops-ready-redis-test', { redisPing: () => connection.ping() });
    fresh = await createTestDatabase({ migrate: false });
    freshIngest = await startTestIngest('ops-ready-migrations-test', { db: fresh.db });
    // The private Redis's connection goes with the ingest.
    const close = ingest.close.bind(ingest);
    ingest = { ...ingest, close: async () => { await close(); connection.disconnect(); } };
  });
  afterAll(async () => {
    await ingest?.close();
    await freshIngest?.close();
    await fresh?.destroy();
    await privateRedis?.stop();
  });

  it('ingest answers 503 naming Redis once Redis is stopped', async () => {
    expect((await ingest.app.inject({ method: 'GET', url: '/ready' })).statusCode).toBe(200);
    await privateRedis.stop();
    const down = await ingest.app.inject({ method: 'GET', url: '/ready' });
    expect(down.statusCode).toBe(503);
    expect(down.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(down.json()).toMatchObject({ code: 'not_ready', postgres: true, redis: false, migrations: true, detail: 'redis did not answer' });
  });

  it('ingest answers 503 on a schema without the migrations, listing them', async () => {
    const response = await freshIngest.app.inject({ method: 'GET', url: '/ready' });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({ code: 'not_ready', postgres: true, redis: true, migrations: false, pendingMigrations: allMigrations });
  });

  it('checkReadiness gives up on a dependency that does not answer in time', async () => {
    const readiness = await checkReadiness({ db: t.db, redisPing: () => new Promise(() => undefined), timeoutMs: 100 });
    expect(readiness).toMatchObject({ ready: false, postgres: true, redis: false, migrations: true, detail: 'redis did not answer' });
  });
});

describe('ingest /metrics', () => {
  let ingest: TestIngest;
  beforeAll(async () => {
    ingest = await startTestIngest('ops-metrics-test');
  });
  afterAll(() => ingest?.close());

  it('serves the metrics without an API key', async () => {
    const response = await ingest.app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(response.body).toContain('# TYPE crm_communications_total counter');
  });
});

describe('a worker started by runService', () => {
  beforeAll(() => {
    // The program runs from dist/: build whatever is stale (incremental, quick when up to date).
    execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', 'services/strategy-worker'], { cwd: root, stdio: 'inherit' });
  }, 180_000);

  it('logs its ops server address at start and serves /health, /ready and /metrics there until SIGTERM', async () => {
    const env = { ...testEnvironment({ LOG_LEVEL: 'info', DATABASE_URL: t.url, QUEUE_PREFIX: r.prefix, OPS_PORT: '0' }), PATH: readEnvironment().PATH };
    const child = spawn(process.execPath, ['services/strategy-worker/dist/main.js'], { cwd: root, env: env as NodeJS.ProcessEnv });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      const started = await new Promise<{ service: string; opsUrl: string }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "started" line:\n${stdout}\n${stderr}`)), 30_000);
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
          const line = stdout.split('\n').find((l) => l.includes('"msg":"started"'));
          if (line) {
            clearTimeout(timer);
            resolve(JSON.parse(line) as { service: string; opsUrl: string });
          }
        });
      });
      expect(started.service).toBe('strategy-worker');
      expect(started.opsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect((await fetch(`${started.opsUrl}/health`)).status).toBe(200);
      const ready = await fetch(`${started.opsUrl}/ready`);
      expect([ready.status, await ready.json()]).toEqual([200, { status: 'ready', postgres: true, redis: true, migrations: true, pendingMigrations: [] }]);
      const metrics = await (await fetch(`${started.opsUrl}/metrics`)).text();
      // The worker's queues, counted at scrape time, and its default process metrics.
      expect(metrics).toMatch(/crm_queue_jobs\{queue="crm\.requests",state="waiting"\} \d+/);
      expect(metrics).toContain('process_resident_memory_bytes');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(stderr).toBe('');
    expect(stdout).toContain('"msg":"stopped"');
  }, 60_000);
});
