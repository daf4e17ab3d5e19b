import { PreferencesCache } from '@crm/delivery';
import { createRedisConnection, waitForRedis } from '@crm/queue';
import { strategySettingsOf, type ServiceStart } from '@crm/runtime';
import { startStrategyWorker } from './strategy-worker';

/**
 * The strategy worker (with the reconciler) on a runtime. It reads clients' routing preferences
 * through the Redis cache (`PREFERENCES_CACHE_TTL_SECONDS`; 0: straight from PostgreSQL), on a
 * fail-fast connection of its own: while Redis is away, reads go to PostgreSQL at once.
 */
export const strategyWorkerService: ServiceStart = async (runtime) => {
  const { config } = runtime;
  const cacheRedis = createRedisConnection({ url: config.redis.url, role: 'producer', name: 'strategy-worker-cache' });
  await waitForRedis(cacheRedis);
  const preferencesCache = new PreferencesCache({
    db: runtime.db(),
    redis: cacheRedis,
    prefix: config.redis.queuePrefix,
    ttlSeconds: config.preferences.cacheTtlSeconds,
    logger: runtime.logger,
  });
  const worker = startStrategyWorker({
    db: runtime.db(),
    producer: await runtime.producer(),
    logger: runtime.logger,
    connection: runtime.workerConnection(),
    prefix: config.redis.queuePrefix,
    concurrency: config.queue.concurrency,
    lockDurationMs: config.queue.lockDurationMs,
    batchWindowMs: config.queue.batchWindowMs,
    reconcilerIntervalMs: config.queue.reconcilerIntervalMs,
    settings: strategySettingsOf(config),
    preferences: (clientIds) => preferencesCache.getMany(clientIds),
  });
  await worker.ready();
  return { stop: [() => worker.close(), () => cacheRedis.quit().catch(() => cacheRedis.disconnect())] };
};
