import { strategySettingsOf, type ServiceStart } from '@crm/runtime';
import { startStrategyWorker } from './strategy-worker';

/** The strategy worker (with the reconciler) on a runtime. */
export const strategyWorkerService: ServiceStart = async (runtime) => {
  const { config } = runtime;
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
  });
  await worker.ready();
  return { stop: [() => worker.close()] };
};
