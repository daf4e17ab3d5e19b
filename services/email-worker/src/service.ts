import { createSmtpTransport } from '@crm/providers';
import type { ServiceStart } from '@crm/runtime';
import { startEmailWorker } from './email-worker';

/** The email worker on a runtime, sending through the SMTP server of `config.smtp`. */
export const emailWorkerService: ServiceStart = async (runtime) => {
  const { config } = runtime;
  const transport = createSmtpTransport(config.smtp);
  const worker = startEmailWorker({
    db: runtime.db(),
    transport,
    keys: runtime.keys,
    logger: runtime.logger,
    connection: runtime.workerConnection(),
    prefix: config.redis.queuePrefix,
    // Two jobs per pooled connection: one rendering or writing while the other waits on SMTP.
    concurrency: config.smtp.pool.maxConnections * 2,
  });
  await worker.ready();
  return { stop: [() => worker.close(), () => transport.close()] };
};
