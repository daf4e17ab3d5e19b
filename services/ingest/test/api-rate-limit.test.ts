import { randomUUID } from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApp, type IngestDeps } from '@crm/ingest';
import { createLogger } from '@crm/observability';
import { createRedisConnection, waitForRedis } from '@crm/queue';
import { createTestApiKey } from '@crm/testing';
import { API_RATE_LIMIT_KEY_PREFIX } from '../src/api-rate-limit';
import { startTestIngest, testKeys, testWebhooks, type TestIngest } from './support/test-ingest';

// 5 requests per second per API key on /api routes, counted in Redis.
const limit = { max: 5, windowMs: 1_000 };
let ingest: TestIngest;

beforeAll(async () => {
  ingest = await startTestIngest('ingest-rate-limit-test', { apiRateLimit: limit, webhooks: testWebhooks });
});
afterAll(() => ingest.close());

/** A cheap counted request: one communication by id (404: there is none). */
const read = (headers: Record<string, string>, app: FastifyInstance = ingest.app): Promise<LightMyRequestResponse> =>
  app.inject({ method: 'GET', url: `/api/crm/communications/${randomUUID()}`, headers });

/** A key of its own for one test, with a budget nothing else has spent. */
const freshKey = async () => createTestApiKey(ingest.t.db, `rate-limit-${randomUUID()}`);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('API rate limit per key', () => {
  it('answers the 6th request in a window 429 rate_limited with Retry-After and RateLimit headers', async () => {
    const { headers } = await freshKey();
    const answers: LightMyRequestResponse[] = [];
    for (let i = 0; i < limit.max + 1; i += 1) answers.push(await read(headers));
    expect(answers.slice(0, limit.max).map((a) => a.statusCode)).toEqual([404, 404, 404, 404, 404]);
    expect(answers.slice(0, limit.max).map((a) => a.headers['ratelimit-remaining'])).toEqual(['4', '3', '2', '1', '0']);
    expect(answers[0]!.headers['ratelimit-limit']).toBe('5');
    expect(Number(answers[0]!.headers['ratelimit-reset'])).toBe(1);

    const over = answers[limit.max]!;
    expect(over.statusCode).toBe(429);
    expect(over.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(over.headers['retry-after']).toBe('1');
    expect(over.headers).toMatchObject({ 'ratelimit-limit': '5', 'ratelimit-remaining': '0', 'ratelimit-reset': '1' });
    expect(over.json()).toEqual({
      type: expect.stringMatching(/docs\/api\.md#rate-limited$/),
      title: 'Too many requests with this API key',
      status: 429,
      code: 'rate_limited',
      detail: 'this API key made more than 5 requests in 1 s; retry in 1 second (Retry-After)',
      errors: [{ field: 'authorization', in: 'header', message: 'the API key is over its limit of 5 requests per 1 s' }],
    });
    // Every /api route shares the key's budget, POSTs included.
    const post = await ingest.app.inject({ method: 'POST', url: '/api/crm/communications', headers, payload: {} });
    expect(post.statusCode).toBe(429);
  });

  it('gives another key its own budget', async () => {
    const first = await freshKey();
    const second = await freshKey();
    for (let i = 0; i < limit.max; i += 1) await read(first.headers);
    expect((await read(first.headers)).statusCode).toBe(429);
    const other = await read(second.headers);
    expect(other.statusCode).toBe(404);
    expect(other.headers['ratelimit-remaining']).toBe('4');
  });

  it('lets the key through again once the window has passed', async () => {
    const { headers } = await freshKey();
    for (let i = 0; i < limit.max; i += 1) await read(headers);
    const over = await read(headers);
    expect(over.statusCode).toBe(429);
    await sleep(Number(over.headers['retry-after']) * 1_000 + 50);
    const again = await read(headers);
    expect(again.statusCode).toBe(404);
    expect(again.headers['ratelimit-remaining']).toBe('4');
  });

  it('keeps its counter in Redis under the key id, which expires with the window', async () => {
    const { headers, id, key } = await freshKey();
    await read(headers);
    const counter = `${API_RATE_LIMIT_KEY_PREFIX}${id}`;
    expect(await ingest.r.redis.get(counter)).toBe('1');
    const ttl = await ingest.r.redis.pttl(counter);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(limit.windowMs);
    expect((await ingest.r.redis.keys(`${API_RATE_LIMIT_KEY_PREFIX}*`)).some((name) => name.includes(key))).toBe(false);
  });

  it('answers a request without a valid key 401, without counting it', async () => {
    const { headers } = await freshKey();
    const unauthenticatedHeaders: Record<string, string>[] = [{}, { authorization: 'Bearer crm_live_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' }, { authorization: 'Basic b3A6cHc=' }];
    for (const unauthenticated of unauthenticatedHeaders) {
      for (let i = 0; i < limit.max + 2; i += 1) {
        const response = await read(unauthenticated);
        expect(response.statusCode).toBe(401);
        expect(response.json()).toMatchObject({ code: 'unauthorized' });
        expect(response.headers['ratelimit-limit']).toBeUndefined();
      }
    }
    const first = await read(headers);
    expect(first.statusCode).toBe(404);
    expect(first.headers['ratelimit-remaining']).toBe('4');
  });

  it('does not limit webhooks, tracking, health or the operator pages', async () => {
    const { headers } = await freshKey();
    for (let i = 0; i < limit.max; i += 1) await read(headers);
    expect((await read(headers)).statusCode).toBe(429);
    const requests = [
      { method: 'GET' as const, url: '/health' },
      { method: 'GET' as const, url: '/ready' },
      { method: 'GET' as const, url: '/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1' },
      { method: 'POST' as const, url: '/webhooks/twilio/status', payload: 'MessageSid=SM1&MessageStatus=delivered', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
      { method: 'GET' as const, url: '/t/o/not-a-token' },
      { method: 'GET' as const, url: '/admin/queues' },
    ];
    for (const request of requests) {
      for (let i = 0; i < limit.max + 2; i += 1) {
        // The limited key's Authorization header changes nothing outside /api.
        const response = await ingest.app.inject({ ...request, headers: { ...headers, ...request.headers } });
        expect([request.url, response.statusCode]).not.toEqual([request.url, 429]);
        expect([request.url, response.headers['ratelimit-limit']]).toEqual([request.url, undefined]);
      }
    }
  });
});

describe('API rate limit without Redis', () => {
  /** An app whose rate-limit counters live on `redis`, logging into `lines`. */
  async function appWith(redis: IngestDeps['redis'], lines: string[]): Promise<FastifyInstance> {
    return buildApp({
      db: ingest.t.db, producer: ingest.producer, keys: testKeys, redisPing: () => ingest.connection.ping(), bodyLimitBytes: 65_536,
      logger: createLogger({ service: 'ingest-rate-limit-test', level: 'warn', destination: { write: (line: string) => lines.push(line) } }),
      apiRateLimit: limit, redis,
    });
  }

  it('lets requests through and warns once when Redis refuses', async () => {
    const lines: string[] = [];
    const closed = createRedisConnection({ url: ingest.r.url, role: 'producer', name: 'rate-limit-closed' });
    closed.disconnect();
    const app = await appWith(closed, lines);
    try {
      const { headers } = await freshKey();
      for (let i = 0; i < limit.max * 2; i += 1) expect((await read(headers, app)).statusCode).toBe(404);
      const warnings = lines.map((line) => JSON.parse(line) as { level: string; msg: string });
      expect(warnings).toEqual([expect.objectContaining({ level: 'warn', msg: expect.stringContaining('Redis is not answering; requests go through uncounted') })]);
    } finally {
      await app.close();
    }
  });

  it('does not wait long for a Redis that never answers', async () => {
    const lines: string[] = [];
    // A connection stuck behind a blocking command: whatever is sent next waits for it.
    const hanging = createRedisConnection({ url: ingest.r.url, role: 'worker', name: 'rate-limit-hanging' });
    await waitForRedis(hanging);
    const list = `${ingest.r.prefix}:rate-limit-block`;
    const blocked = hanging.blpop(list, 0);
    const app = await appWith(hanging, lines);
    try {
      const { headers } = await freshKey();
      const started = Date.now();
      expect((await read(headers, app)).statusCode).toBe(404);
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(lines.join('')).toContain('Redis did not answer within 500 ms');
    } finally {
      await app.close();
      await ingest.r.redis.lpush(list, 'unblock');
      await blocked;
      await hanging.quit();
    }
  });
});
