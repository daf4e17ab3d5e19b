import type { ServiceStart } from '@crm/runtime';
import { startStrategyWorker } from './strategy-worker';

/** The strategy worker on a runtime. */
export const strategyWorkerService: ServiceStart = async (runtime) => {
  const worker = startStrategyWorker({
    db: runtime.db(),
    producer: await runtime.producer(),
    logger: runtime.logger,
    connection: runtime.workerConnection(),
    prefix: runtime.config.redis.queuePrefix,
  });
  await worker.ready();
  return { stop: [() => worker.close()] };
};
