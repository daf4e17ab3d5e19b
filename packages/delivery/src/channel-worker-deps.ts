import type { Redis } from 'ioredis';
import type { Runtime } from '@crm/runtime';
import { ProviderBreakers } from './breakers';
import { PreferencesCache } from './preferences-cache';
import type { DeliveryDeps } from './deliver-attempt';
import { sendRateLimitsFromConfig } from './send-rate-limits';
import { batchedWrites } from './writes';

/** What every channel worker is started with, from a runtime's config and connections. */
export interface ChannelWorkerDeps extends DeliveryDeps {
  readonly connection: Redis;
  readonly prefix: string;
  readonly concurrency: number;
  readonly lockDurationMs: number;
}

/**
 * The delivery dependencies of a channel worker service: the runtime's database, producer, keys
 * and logger; one breaker per provider (`config.breaker`); the retry policy; coalesced writes
 * when `WORKER_BATCH_WINDOW_MS` > 0; the provider rate limits of `config.rateLimits` (Twilio
 * and WhatsApp, on the worker connection; none when all are off); the routing preferences cache
 * to invalidate (`PREFERENCES_CACHE_TTL_SECONDS`, on the worker connection: invalidation only,
 * bounded by the cache's Redis timeout); and the queue settings. Stop the breakers on shutdown.
 *
 * @example
 * const deps = await channelWorkerDeps(runtime);
 * const worker = startEmailWorker({ ...deps, transport });
 * return { stop: [() => worker.close(), async () => deps.breakers.shutdown()] };
 */
export async function channelWorkerDeps(runtime: Runtime): Promise<ChannelWorkerDeps> {
  const { config } = runtime;
  const rateLimits = sendRateLimitsFromConfig(config.rateLimits, { redis: runtime.workerConnection(), prefix: config.redis.queuePrefix });
  return {
    db: runtime.db(),
    producer: await runtime.producer(),
    keys: runtime.keys,
    logger: runtime.logger,
    breakers: new ProviderBreakers(config.breaker, runtime.logger),
    retry: config.retry,
    ...(config.queue.batchWindowMs > 0 && { writes: batchedWrites(runtime.db(), runtime.keys, { windowMs: config.queue.batchWindowMs }) }),
    ...(rateLimits && { rateLimits }),
    preferencesCache: new PreferencesCache({ db: runtime.db(), redis: runtime.workerConnection(), prefix: config.redis.queuePrefix, ttlSeconds: config.preferences.cacheTtlSeconds, logger: runtime.logger }),
    connection: runtime.workerConnection(),
    prefix: config.redis.queuePrefix,
    concurrency: config.queue.concurrency,
    lockDurationMs: config.queue.lockDurationMs,
  };
}
