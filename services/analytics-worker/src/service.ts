import type { ServiceStart } from '@crm/runtime';
import { startAnalyticsWorker } from './analytics-worker';

/**
 * The analytics worker on a runtime: consumes `crm.events`, keeps the daily rollups of
 * `crm_analytics_daily` and sets the `crm_open_rate` gauge (served by the runtime's ops server,
 * or by ingest in the all-in-one start).
 */
export const analyticsWorkerService: ServiceStart = async (runtime) => {
  const { config } = runtime;
  const worker = startAnalyticsWorker({
    db: runtime.db(),
    logger: runtime.logger,
    connection: runtime.workerConnection(),
    prefix: config.redis.queuePrefix,
    concurrency: config.queue.concurrency,
  });
  await worker.ready();
  return { stop: [() => worker.close()] };
};
