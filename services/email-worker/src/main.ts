import { createSmtpTransport } from '@crm/providers';
import { runService } from '@crm/runtime';
import { startEmailWorker } from './email-worker';

runService('email-worker', async (runtime) => {
  const { config } = runtime;
  const transport = createSmtpTransport(config.smtp);
  const worker = startEmailWorker({
    db: runtime.db(),
    transport,
    keys: { encryptionKey: config.security.dbEncryptionKey, blindIndexKey: config.security.blindIndexKey },
    logger: runtime.logger,
    connection: runtime.workerConnection(),
    prefix: config.redis.queuePrefix,
    concurrency: config.smtp.pool.maxConnections * 2,
  });
  await worker.ready();
  return [() => worker.close(), () => transport.close()];
});
