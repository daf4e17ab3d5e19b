import { randomBytes } from 'node:crypto';
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
  const keys = async (): Promise<string[]> => {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      found.push(...batch);
      cursor = next;
    } while (cursor !== '0');
    return found;
  };
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
