import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { sql, type Kysely } from 'kysely';
import { Redis } from 'ioredis';
import { signTrackingToken } from '@crm/core';
import { ApiKeyRepository, CommunicationRepository, type Database } from '@crm/db';
import { buildApp } from '@crm/ingest';
import { createLogger } from '@crm/observability';
import { createRedisConnection, QueueProducer, waitForRedis } from '@crm/queue';
import { createBenchDatabase, type Cleanup } from '../bench/infra';
import { freePort, waitUntil } from '../bench/children';

/** The secrets the fuzzed app is built with (test values, never production ones). */
export const fuzzSecrets = Object.freeze({
  keys: Object.freeze({ encryptionKey: 'e'.repeat(32), blindIndexKey: 'b'.repeat(32) }),
  operator: Object.freeze({ username: 'operator', password: 'correct horse battery staple' }),
  webhooks: Object.freeze({
    twilioAuthToken: 'twilio-fuzz-auth-token',
    whatsappAppSecret: 'meta-fuzz-app-secret',
    whatsappVerifyToken: 'meta-fuzz-verify-token',
    publicBaseUrl: 'https://crm.example.com',
  }),
  trackingSecret: 'fuzz-tracking-secret-0123456789abcdef',
});

/** One route of the app, as Fastify registered it. */
export interface RouteInfo {
  readonly method: string;
  /** Fastify's pattern, e.g. `/api/crm/communications/:id` or `/t/o/*`. */
  readonly url: string;
}

/** What exists in the fuzzed database, so that generated requests can also name real things. */
export interface FuzzSeed {
  readonly communicationId: string;
  readonly clientId: string;
  readonly phone: string;
  readonly bearer: string;
  readonly basic: string;
  readonly openToken: string;
  readonly clickToken: string;
  readonly unsubscribeToken: string;
  readonly callbackId: string;
}

/** Everything a rejected request must leave as it was: row counts (and last updates) of every table, and Redis's key count. */
export interface StateSnapshot {
  readonly tables: Readonly<Record<string, string>>;
  readonly redisKeys: number;
}

/** The ingest app under fuzzing, on a database and a redis-server of its own. */
export interface FuzzTarget {
  readonly app: FastifyInstance;
  readonly routes: readonly RouteInfo[];
  readonly seed: FuzzSeed;
  readonly databaseName: string;
  snapshot(): Promise<StateSnapshot>;
  close(): Promise<void>;
}

/** A redis-server of the run's own (DBSIZE counts this app's keys only), nothing on disk. */
async function startRedisServer(cleanup: Cleanup): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  cleanup.add(`stopping redis-server on ${port}`, async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((done) => {
      child.once('exit', () => done());
      child.kill('SIGTERM');
    });
  });
  const url = `redis://127.0.0.1:${port}`;
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  probe.on('error', () => undefined);
  await waitUntil(async () => (await probe.ping().catch(() => null)) === 'PONG', { what: `redis-server on ${port}`, timeoutMs: 10_000 });
  probe.disconnect();
  return { url, child };
}

/** One statement that counts the rows of every crm_* table and the latest `updated_at` where there is one. */
async function snapshotStatement(db: Kysely<Database>): Promise<string> {
  const { rows } = await sql<{ table_name: string; has_updated: boolean }>`
    SELECT t.table_name,
           EXISTS (SELECT 1 FROM information_schema.columns c WHERE c.table_schema = t.table_schema AND c.table_name = t.table_name AND c.column_name = 'updated_at') AS has_updated
      FROM information_schema.tables t
     WHERE t.table_schema = 'public' AND t.table_type = 'BASE TABLE' AND t.table_name LIKE 'crm\\_%'
     ORDER BY t.table_name`.execute(db);
  const parts = rows.map(({ table_name: name, has_updated: updated }) =>
    `'${name}', (SELECT count(*)::text${updated ? ` || '@' || coalesce(max(updated_at)::text, '-')` : ''} FROM "${name}")`,
  );
  return `SELECT json_build_object(${parts.join(', ')}) AS state`;
}

/** The routes Fastify registered, read from `printRoutes` (one full path per line, with its methods). */
export function routesOf(app: FastifyInstance): RouteInfo[] {
  const tree = app.printRoutes();
  const routes: RouteInfo[] = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const start = line.search(/[^│├└─\s]/);
    if (start < 0) continue;
    const depth = Math.floor(start / 4);
    const match = /^(.*?)(?: \(([A-Z, ]+)\))?$/.exec(line.slice(start));
    stack.length = depth;
    stack[depth] = match?.[1] ?? '';
    if (!match?.[2]) continue;
    const url = stack.join('');
    for (const method of match[2].split(',').map((m) => m.trim())) routes.push({ method, url });
  }
  return routes;
}

/**
 * Builds ingest as its tests do, with every optional part switched on (operator login, webhook
 * secrets, email settings), on a fresh migrated database and a private redis-server, and seeds
 * one client, communication, callback subscription and API key.
 */
export async function startFuzzTarget(options: { readonly databaseUrl: string; readonly cleanup: Cleanup }): Promise<FuzzTarget> {
  const { cleanup } = options;
  const redisServer = await startRedisServer(cleanup);
  const database = await createBenchDatabase(options.databaseUrl, 'fuzz', cleanup);
  const connection = createRedisConnection({ url: redisServer.url, role: 'producer' });
  cleanup.add('closing the fuzz Redis connection', () => connection.quit());
  await waitForRedis(connection);
  const prefix = 'crm-fuzz';
  const producer = new QueueProducer({ connection, prefix });
  cleanup.add('closing the fuzz producer', () => producer.close());
  const app = await buildApp({
    db: database.db, producer, keys: fuzzSecrets.keys, logger: createLogger({ service: 'fuzz-ingest', level: 'silent' }),
    redisPing: () => connection.ping(), bodyLimitBytes: 65_536, redis: connection,
    operator: fuzzSecrets.operator,
    webhooks: fuzzSecrets.webhooks,
    email: { trackingSecret: fuzzSecrets.trackingSecret, machineOpenWindowMs: 0, attachmentMaxTotalBytes: 1e7 },
  });
  cleanup.add('closing the fuzz app', () => app.close());
  await app.ready();

  const { key } = await ApiKeyRepository.create(database.db, { name: 'fuzz' });
  const bearer = `Bearer ${key}`;
  const basic = `Basic ${Buffer.from(`${fuzzSecrets.operator.username}:${fuzzSecrets.operator.password}`).toString('base64')}`;
  const clientId = 'fuzz-client-1';
  const phone = '+14155550123';
  const accepted = await app.inject({
    method: 'POST', url: '/api/crm/communications', headers: { authorization: bearer },
    payload: { clientId, planId: 'fuzz-plan', messageType: 'reminder', recipient: { email: 'fuzz@example.com', phone } },
  });
  if (accepted.statusCode !== 202) throw new Error(`seeding a communication answered ${accepted.statusCode}: ${accepted.body}`);
  const communicationId = accepted.json<{ id: string }>().id;
  for (const to of ['queued', 'sending', 'sent'] as const) {
    await CommunicationRepository.updateStatus(database.db, { id: communicationId, to, ...(to === 'queued' && { channel: 'email' as const }) });
  }
  const subscribed = await app.inject({
    method: 'POST', url: '/api/crm/callbacks', headers: { authorization: bearer },
    payload: { url: 'http://127.0.0.1:9/fuzz-callback', events: ['communication.sent'] },
  });
  const callbackId = subscribed.statusCode < 300 ? String(subscribed.json<{ id?: unknown }>().id ?? '') : '';

  const statement = await snapshotStatement(database.db);
  const snapshot = async (): Promise<StateSnapshot> => {
    const [{ rows }, redisKeys] = await Promise.all([sql.raw<{ state: Record<string, string> }>(statement).execute(database.db), connection.dbsize()]);
    return { tables: rows[0]?.state ?? {}, redisKeys };
  };

  return {
    app,
    routes: routesOf(app),
    databaseName: database.name,
    seed: {
      communicationId, clientId, phone, bearer, basic, callbackId,
      openToken: signTrackingToken(fuzzSecrets.trackingSecret, { k: 'o', c: communicationId }),
      clickToken: signTrackingToken(fuzzSecrets.trackingSecret, { k: 'c', c: communicationId, u: 'https://example.com/venue' }),
      unsubscribeToken: signTrackingToken(fuzzSecrets.trackingSecret, { k: 'u', c: communicationId }),
    },
    snapshot,
    close: () => cleanup.run((line) => process.stderr.write(`${line}\n`)),
  };
}

/** The routes docs/openapi.json lists, as `METHOD /path` with Fastify's `:param` syntax. */
export function openApiRoutes(root: string): string[] {
  const document = JSON.parse(readFileSync(resolve(root, 'docs', 'openapi.json'), 'utf8')) as { paths: Record<string, Record<string, unknown>> };
  return Object.entries(document.paths).flatMap(([path, operations]) =>
    Object.keys(operations).map((method) => `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
  );
}
