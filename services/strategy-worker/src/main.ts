import { runService } from '@crm/runtime';
import { startStrategyWorker } from './strategy-worker';

runService('strategy-worker', async (runtime) => {
  const worker = startStrategyWorker({
    db: runtime.db(),
    producer: await runtime.producer(),
    logger: runtime.logger,
    connection: runtime.workerConnection(),
    prefix: runtime.config.redis.queuePrefix,
  });
  await worker.ready();
  return [() => worker.close()];
});
