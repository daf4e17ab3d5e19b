import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { basicCredentialsMatch, buildApp, type IngestDeps } from '@crm/ingest';
import { createLogger } from '@crm/observability';
import { createRedisConnection, QueueProducer, queueNames, waitForRedis } from '@crm/queue';
import { createTestApiKey, createTestDatabase, createTestRedis, type TestDatabase, type TestRedis } from '@crm/testing';

let t: TestDatabase;
let r: TestRedis;
let connection: Redis;
let producer: QueueProducer;
let app: FastifyInstance;
let disabled: FastifyInstance;
const operator = { username: 'operator', password: 'correct horse battery staple' };
const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

beforeAll(async () => {
  [t, r] = await Promise.all([createTestDatabase(), createTestRedis()]);
  connection = createRedisConnection({ url: r.url, role: 'producer' });
  await waitForRedis(connection);
  producer = new QueueProducer({ connection, prefix: r.prefix });
  const deps: IngestDeps = {
    db: t.db, producer, keys: { encryptionKey: 'e'.repeat(32), blindIndexKey: 'b'.repeat(32) },
    logger: createLogger({ service: 'ingest-board-test', level: 'silent' }), redisPing: () => connection.ping(), bodyLimitBytes: 65_536,
  };
  app = await buildApp({ ...deps, operator });
  disabled = await buildApp({ ...deps, operator: { username: 'operator', password: null } });
});
afterAll(async () => {
  await Promise.all([app.close(), disabled.close()]);
  await producer.close();
  await connection.quit();
  await Promise.all([t.destroy(), r.destroy()]);
});

describe('Bull Board at /admin/queues', () => {
  it.each([
    ['no credentials', {}],
    ['a wrong password', basic('operator', 'wrong password!!')],
    ['a wrong user', basic('admin', operator.password)],
    ['a password prefix', basic('operator', operator.password.slice(0, -1))],
    ['no colon', { authorization: `Basic ${Buffer.from('operator').toString('base64')}` }],
    ['a bearer key', { authorization: 'Bearer crm_live_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' }],
  ])('answers 401 with a Basic challenge for %s', async (_name, headers: Record<string, string>) => {
    for (const url of ['/admin/queues', '/admin/queues/api/queues']) {
      const response = await app.inject({ method: 'GET', url, headers });
      expect(response.statusCode).toBe(401);
      expect(response.headers['www-authenticate']).toMatch(/^Basic realm="crm-engine operators"/);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(response.json()).toMatchObject({ status: 401, code: 'operator_unauthorized' });
    }
  });

  it('does not let an API key in, nor operator credentials into the API', async () => {
    const { headers } = await createTestApiKey(t.db);
    expect((await app.inject({ method: 'GET', url: '/admin/queues', headers })).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: '/api/crm/communications', headers: basic(operator.username, operator.password) })).statusCode).toBe(401);
  });

  it('serves the board with the operator credentials', async () => {
    const response = await app.inject({ method: 'GET', url: '/admin/queues', headers: basic(operator.username, operator.password) });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/html/);
    expect(response.body).toContain('crm-engine queues');
    // Its scripts and styles load from under the same path, behind the same login.
    const asset = /(static\/js\/main\.[^"]+\.js)/.exec(response.body)?.[1];
    expect(asset).toBeDefined();
    expect((await app.inject({ method: 'GET', url: `/admin/queues/${asset}`, headers: basic(operator.username, operator.password) })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: `/admin/queues/${asset}` })).statusCode).toBe(401);
  });

  it('lists every queue of the engine through its API', async () => {
    await producer.enqueue('crm.requests', { communicationId: '6f1c7f55-2d5f-4d57-9d1f-3d1b8f7c9a11' });
    const response = await app.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: basic(operator.username, operator.password) });
    expect(response.statusCode).toBe(200);
    const { queues } = response.json<{ queues: { name: string; counts: Record<string, number> }[] }>();
    expect(queues.map((q) => q.name).sort()).toEqual([...queueNames].sort());
    expect(queues.find((q) => q.name === 'crm.requests')?.counts.waiting).toBe(1);
  });

  it('answers 503 operator_access_disabled when no password is configured', async () => {
    const response = await disabled.inject({ method: 'GET', url: '/admin/queues', headers: basic('operator', '') });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({ code: 'operator_access_disabled' });
  });
});

describe('basicCredentialsMatch', () => {
  it('needs both parts exactly', () => {
    const header = (text: string) => `Basic ${Buffer.from(text).toString('base64')}`;
    expect(basicCredentialsMatch(header('op:pass:with:colons'), 'op', 'pass:with:colons')).toBe(true);
    expect(basicCredentialsMatch(header('op:pass'), 'op', 'pass ')).toBe(false);
    expect(basicCredentialsMatch(header('op:'), 'op', '')).toBe(true);
    expect(basicCredentialsMatch(undefined, 'op', 'pass')).toBe(false);
    expect(basicCredentialsMatch('Basic !!!', 'op', 'pass')).toBe(false);
  });
});

describe('Bull Board API with bodies it cannot quote back (found by npm run fuzz)', () => {
  it('answers a NUL in a body or query 400 problem+json (Bull Board threw: a 500), and its own errors without message or stack', async () => {
    const headers = { ...basic(operator.username, operator.password), 'content-type': 'application/json' };
    for (const payload of ['"\\u0000"', '{"every":"\\u0000"}']) {
      const response = await app.inject({ method: 'PATCH', url: '/admin/queues/api/queues/crm.requests/job-schedulers/x', headers, payload });
      expect(response.statusCode).toBe(400);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(response.json()).toMatchObject({ code: 'validation_failed' });
    }
    // An error Bull Board's own handler answered (Fastify's JSON parser) with its message, and its stack under NODE_ENV=development: ours shows neither.
    const broken = await app.inject({ method: 'PATCH', url: '/admin/queues/api/queues/crm.requests/job-schedulers/x', headers, payload: '"' });
    expect(broken.statusCode).toBe(400);
    expect(broken.json()).toEqual(expect.objectContaining({ code: 'validation_failed', status: 400 }));
    expect(broken.json()).not.toHaveProperty('details');
    expect(broken.body).not.toMatch(/node_modules|\n\s+at |not valid JSON/);
  });
});
