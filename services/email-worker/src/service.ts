import { batchedWrites, ProviderBreakers } from '@crm/delivery';
import { createSmtpTransport } from '@crm/providers';
import type { ServiceStart } from '@crm/runtime';
import { startEmailWorker } from './email-worker';

/** The email worker on a runtime, sending through the SMTP server of `config.smtp`. */
export const emailWorkerService: ServiceStart = async (runtime) => {
  const { config } = runtime;
  const transport = createSmtpTransport(config.smtp);
  const breakers = new ProviderBreakers(config.breaker, runtime.logger);
  const worker = startEmailWorker({
    db: runtime.db(),
    producer: await runtime.producer(),
    transport,
    breakers,
    retry: config.retry,
    ...(config.queue.batchWindowMs > 0 && { writes: batchedWrites(runtime.db(), runtime.keys, { windowMs: config.queue.batchWindowMs }) }),
    keys: runtime.keys,
    logger: runtime.logger,
    connection: runtime.workerConnection(),
    prefix: config.redis.queuePrefix,
    concurrency: config.queue.concurrency,
    lockDurationMs: config.queue.lockDurationMs,
  });
  await worker.ready();
  return { stop: [() => worker.close(), () => transport.close(), async () => breakers.shutdown()] };
};
