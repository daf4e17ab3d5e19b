import { randomBytes } from 'node:crypto';
import { createRedisConnection, keysUnder, QueueProducer, waitForRedis } from '@crm/queue';
import { Redis } from 'ioredis';
import { testEnvironment } from './test-environment';

export interface TestRedis {
  readonly url: string;
  /** A queue prefix for this test file only, e.g. `crm-test-1a2b3c`. */
  readonly prefix: string;
  /** A plain connection for assertions (not for BullMQ workers). */
  readonly redis: Redis;
  /** Every key under this file's prefix. */
  keys(): Promise<string[]>;
  /** Deletes every key under the prefix and closes the connection. */
  destroy(): Promise<void>;
}

/**
 * The real Redis of `REDIS_URL` with a queue prefix of its own, so test files run in parallel
 * and leave nothing behind. Call `destroy()` in `afterAll`.
 */
export async function createTestRedis(): Promise<TestRedis> {
  const url = testEnvironment().REDIS_URL;
  const prefix = `crm-test-${randomBytes(6).toString('hex')}`;
  const redis = new Redis(url, { maxRetriesPerRequest: 3, lazyConnect: true });
  await redis.connect();
  const keys = (): Promise<string[]> => keysUnder(redis, prefix);
  return {
    url,
    prefix,
    redis,
    keys,
    async destroy() {
      const found = await keys();
      for (let i = 0; i < found.length; i += 500) await redis.del(...found.slice(i, i + 500));
      await redis.quit();
    },
  };
}

/** A queue producer on a Redis prefix of the test file's own (see {@link testProducerPerFile}). */
export interface TestProducer {
  readonly r: TestRedis;
  /** The producer's own connection (`producer` role). */
  readonly connection: Redis;
  readonly producer: QueueProducer;
}

/**
 * A {@link createTestRedis} prefix and a {@link QueueProducer} on it, made before the file's first
 * test and closed (keys deleted) after its last, with the jest hooks of the file that calls it.
 *
 * @example
 * const q = testProducerPerFile();
 * it('enqueues', async () => { await q.producer.enqueue('crm.requests', { communicationId }); });
 */
export function testProducerPerFile(): TestProducer {
  type Hook = (fn: () => Promise<void>) => void;
  const { beforeAll, afterAll } = globalThis as unknown as { beforeAll: Hook; afterAll: Hook };
  let current: TestProducer | undefined;
  beforeAll(async () => {
    const r = await createTestRedis();
    const connection = createRedisConnection({ url: r.url, role: 'producer' });
    await waitForRedis(connection);
    current = { r, connection, producer: new QueueProducer({ connection, prefix: r.prefix }) };
  });
  afterAll(async () => {
    if (!current) return;
    await current.producer.close();
    await current.connection.quit();
    await current.r.destroy();
  });
  const get = (): TestProducer => {
    if (!current) throw new Error('the test producer exists inside tests only (after beforeAll)');
    return current;
  };
  return {
    get r() { return get().r; },
    get connection() { return get().connection; },
    get producer() { return get().producer; },
  };
}
