import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { buildApp, type IngestDeps } from '@crm/ingest';
import { createLogger } from '@crm/observability';
import { createRedisConnection, QueueProducer, waitForRedis } from '@crm/queue';
import { createTestApiKey, createTestDatabase, createTestRedis, testPiiKeys, type TestDatabase, type TestRedis } from '@crm/testing';

/** The ingest app of one test file, on its own database and queue prefix, with an API key. */
export interface TestIngest {
  readonly t: TestDatabase;
  readonly r: TestRedis;
  readonly connection: Redis;
  readonly producer: QueueProducer;
  readonly app: FastifyInstance;
  /** `Authorization: Bearer …` headers of a valid key. */
  readonly auth: { authorization: string };
  readonly apiKeyId: string;
  close(): Promise<void>;
}

export const testKeys = testPiiKeys;

/** Webhook secrets of the tests of ingest's provider webhooks. */
export const testWebhooks = Object.freeze({
  twilioAuthToken: 'twilio-test-auth-token',
  whatsappAppSecret: 'meta-test-app-secret',
  whatsappVerifyToken: 'meta-test-verify-token',
  publicBaseUrl: 'https://crm.example.com',
});

/**
 * @example
 * let ingest: TestIngest;
 * beforeAll(async () => { ingest = await startTestIngest('ingest-read-test'); });
 * afterAll(() => ingest.close());
 */
export async function startTestIngest(service: string, overrides: Partial<IngestDeps> = {}): Promise<TestIngest> {
  const [t, r] = await Promise.all([createTestDatabase(), createTestRedis()]);
  const connection = createRedisConnection({ url: r.url, role: 'producer' });
  await waitForRedis(connection);
  const producer = new QueueProducer({ connection, prefix: r.prefix });
  const app = await buildApp({
    db: t.db, producer, keys: testKeys, logger: createLogger({ service, level: 'silent' }),
    redisPing: () => connection.ping(), bodyLimitBytes: 65_536, redis: connection, ...overrides,
  });
  const { headers: auth, id: apiKeyId } = await createTestApiKey(t.db);
  return {
    t, r, connection, producer, app, auth, apiKeyId,
    async close() {
      await app.close();
      await producer.close();
      await connection.quit();
      await Promise.all([t.destroy(), r.destroy()]);
    },
  };
}
