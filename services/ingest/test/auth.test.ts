import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { sql, type KyselyPlugin, type PluginTransformQueryArgs, type PluginTransformResultArgs, type QueryResult, type RootOperationNode, type UnknownRow } from 'kysely';
import { ApiKeyRepository } from '@crm/db';
import { ApiKeyAuthenticator, buildApp } from '@crm/ingest';
import { createLogger } from '@crm/observability';
import { createRedisConnection, QueueProducer, waitForRedis } from '@crm/queue';
import { createTestApiKey, createTestDatabase, createTestRedis, waitFor, type TestDatabase, type TestRedis } from '@crm/testing';

let t: TestDatabase;
let r: TestRedis;
let connection: Redis;
let producer: QueueProducer;
let app: FastifyInstance;
const logger = createLogger({ service: 'ingest-auth-test', level: 'silent' });
const keys = { encryptionKey: 'e'.repeat(32), blindIndexKey: 'b'.repeat(32) };
/** Short, so that revocation can be seen within a test. */
const CACHE_TTL_MS = 300;

beforeAll(async () => {
  [t, r] = await Promise.all([createTestDatabase(), createTestRedis()]);
  connection = createRedisConnection({ url: r.url, role: 'producer' });
  await waitForRedis(connection);
  producer = new QueueProducer({ connection, prefix: r.prefix });
  app = await buildApp({ db: t.db, producer, keys, logger, redisPing: () => connection.ping(), bodyLimitBytes: 65_536, apiKeyCacheTtlMs: CACHE_TTL_MS });
});
afterAll(async () => {
  await app.close();
  await producer.close();
  await connection.quit();
  await Promise.all([t.destroy(), r.destroy()]);
});

const valid = { clientId: 'client-auth', planId: 'plan-auth', messageType: 'welcome', recipient: { email: 'auth@example.com' } };
const countRows = async () => Number((await sql<{ n: string }>`SELECT count(*) AS n FROM crm_communications`.execute(t.db)).rows[0]?.n);
const post = (headers: Record<string, string>, payload: unknown = valid) =>
  app.inject({ method: 'POST', url: '/api/crm/communications', payload: payload as object, headers });

describe('API keys on /api routes', () => {
  it.each([
    ['no Authorization header', {}],
    ['an empty header', { authorization: '' }],
    ['another scheme', { authorization: 'Basic dXNlcjpwYXNz' }],
    ['Bearer without a key', { authorization: 'Bearer' }],
    ['two tokens', { authorization: 'Bearer crm_live_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa extra' }],
    ['an unknown key', { authorization: 'Bearer crm_live_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' }],
    ['a key of the wrong shape', { authorization: 'Bearer sk_test_123' }],
  ])('refuses %s with 401 problem+json, writing nothing', async (_name, headers: Record<string, string>) => {
    const before = await countRows();
    const response = await post(headers);
    expect(response.statusCode).toBe(401);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.headers['www-authenticate']).toMatch(/^Bearer realm="crm-engine"/);
    expect(response.json()).toMatchObject({ status: 401, code: 'unauthorized', errors: [{ field: 'authorization', in: 'header' }] });
    expect(await countRows()).toBe(before);
  });

  it('says invalid_token for a well-formed key it does not know', async () => {
    const response = await post({ authorization: 'Bearer crm_live_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb' });
    expect(response.headers['www-authenticate']).toBe('Bearer realm="crm-engine", error="invalid_token"');
  });

  it('checks the key before anything else: bad JSON, unknown routes and reads get 401 too', async () => {
    const badJson = await app.inject({ method: 'POST', url: '/api/crm/communications', payload: '{"x":', headers: { 'content-type': 'application/json' } });
    expect(badJson.statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: '/api/crm/nothing-here' })).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: '/api/crm/communications' })).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: '/api' })).statusCode).toBe(401);
    expect((await app.inject({ method: 'POST', url: '/api/crm/communications/batch', payload: { items: [] } })).statusCode).toBe(401);
  });

  it('leaves /health and /ready open', async () => {
    expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/ready' })).statusCode).toBe(200);
  });

  it('accepts a valid key, case-insensitive scheme, and stamps last_used_at', async () => {
    const { id, key } = await createTestApiKey(t.db, 'valid');
    expect((await post({ authorization: `Bearer ${key}` })).statusCode).toBe(202);
    expect((await post({ authorization: `bearer ${key}` }, { ...valid, planId: 'plan-auth-2' })).statusCode).toBe(202);
    // The stamp is written in the background.
    const stamped = await waitFor(async () => (await t.db.selectFrom('crm_api_keys').select('last_used_at').where('id', '=', id).executeTakeFirstOrThrow()).last_used_at ?? undefined, { message: 'last_used_at' });
    expect(stamped).toBeInstanceOf(Date);
  });

  it('stops accepting a revoked key once the cache entry expires', async () => {
    const { id, key } = await createTestApiKey(t.db, 'revoked');
    const headers = { authorization: `Bearer ${key}` };
    expect((await app.inject({ method: 'GET', url: '/api/crm/communications', headers })).statusCode).toBe(200);
    await ApiKeyRepository.revoke(t.db, id);
    await new Promise((resolve) => setTimeout(resolve, CACHE_TTL_MS + 50));
    const refused = await app.inject({ method: 'GET', url: '/api/crm/communications', headers });
    expect(refused.statusCode).toBe(401);
  });
});

/** Counts the statements run through a Kysely instance that touch crm_api_keys. */
class StatementCounter implements KyselyPlugin {
  selects = 0;
  updates = 0;
  transformQuery({ node }: PluginTransformQueryArgs): RootOperationNode {
    const text = JSON.stringify(node);
    if (text.includes('crm_api_keys')) {
      if (node.kind === 'SelectQueryNode') this.selects++;
      if (node.kind === 'UpdateQueryNode') this.updates++;
    }
    return node;
  }
  async transformResult({ result }: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return result;
  }
}

describe('ApiKeyAuthenticator', () => {
  it('asks PostgreSQL once per key and TTL, however many requests arrive at once', async () => {
    const counter = new StatementCounter();
    let now = 1_000_000;
    const authenticator = new ApiKeyAuthenticator({ db: t.db.withPlugin(counter), logger, cacheTtlMs: 60_000, touchIntervalMs: 60_000, now: () => now });
    const { id, key } = await createTestApiKey(t.db, 'cached');

    const answers = await Promise.all(Array.from({ length: 100 }, () => authenticator.authenticate(key)));
    expect(answers.every((answer) => answer?.id === id)).toBe(true);
    expect(counter.selects).toBe(1);
    expect(counter.updates).toBe(1); // last_used_at, once

    now += 30_000;
    await authenticator.authenticate(key);
    expect([counter.selects, counter.updates]).toEqual([1, 1]);

    now += 31_000; // past the TTL and the touch interval
    await authenticator.authenticate(key);
    expect([counter.selects, counter.updates]).toEqual([2, 2]);

    // Unknown keys are remembered too, so repeating one does not reach the database.
    const unknown = 'crm_live_cccccccccccccccccccccccccccccccc';
    expect(await authenticator.authenticate(unknown)).toBeNull();
    expect(await authenticator.authenticate(unknown)).toBeNull();
    expect(counter.selects).toBe(3);
    // A malformed key never does.
    expect(await authenticator.authenticate('nope')).toBeNull();
    expect(counter.selects).toBe(3);
  });

  it('forgets the oldest entries beyond its size', async () => {
    const counter = new StatementCounter();
    const authenticator = new ApiKeyAuthenticator({ db: t.db.withPlugin(counter), logger, maxEntries: 2 });
    const a = await createTestApiKey(t.db, 'a');
    const b = await createTestApiKey(t.db, 'b');
    const c = await createTestApiKey(t.db, 'c');
    for (const k of [a, b, c, a]) await authenticator.authenticate(k.key);
    expect(counter.selects).toBe(4);
  });
});
