import { Redis, type RedisOptions } from 'ioredis';

export interface RedisConnectionOptions {
  /** Redis URL, e.g. `redis://127.0.0.1:6379`. */
  readonly url: string;
  /**
   * `worker`: blocking commands, retried forever (BullMQ requires `maxRetriesPerRequest: null`).
   * `producer`: fails fast when Redis is away instead of queueing commands in memory, so a
   * request is answered at once (its row is already committed; the reconciler enqueues it later).
   */
  readonly role: 'worker' | 'producer';
  /** Connection name shown by `CLIENT LIST`. */
  readonly name?: string;
}

/**
 * A Redis connection set up as BullMQ's production guide says for its role.
 *
 * @example
 * const connection = createRedisConnection({ url: config.redis.url, role: 'worker', name: 'email-worker' });
 */
export function createRedisConnection(options: RedisConnectionOptions): Redis {
  if (!options.url) throw new TypeError('createRedisConnection requires a url');
  const common: RedisOptions = {
    connectionName: options.name ?? 'crm-engine',
    // Reconnect with a capped backoff for as long as the process lives.
    retryStrategy: (times) => Math.min(times * 200, 5_000),
  };
  const role: RedisOptions =
    options.role === 'worker'
      ? { maxRetriesPerRequest: null }
      : { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true };
  const redis = new Redis(options.url, { ...common, ...role });
  // Without a listener a connection error would crash the process; ioredis reconnects itself.
  redis.on('error', () => undefined);
  return redis;
}

/** Resolves once `redis` is connected (connecting it if it is lazy), or rejects after `timeoutMs`. */
export async function waitForRedis(redis: Redis, timeoutMs = 10_000): Promise<void> {
  if (redis.status === 'ready') return;
  if (redis.status === 'wait') await redis.connect().catch(() => undefined);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`Redis did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      redis.off('ready', onReady);
    };
    if (redis.status === 'ready') onReady();
    else redis.on('ready', onReady);
  });
}

/**
 * Every key under `prefix:` (SCAN, never KEYS: it does not block Redis), e.g. what a queue
 * prefix holds, for a test's checks or a cleanup.
 */
export async function keysUnder(redis: Redis, prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    found.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return found;
}
