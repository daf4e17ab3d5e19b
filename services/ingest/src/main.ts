import { runService } from '@crm/runtime';
import { startIngest } from './ingest';

runService('ingest', async (runtime) => {
  const { config } = runtime;
  const producer = await runtime.producer();
  const connection = runtime.workerConnection();
  const server = await startIngest(
    {
      db: runtime.db(),
      producer,
      keys: { encryptionKey: config.security.dbEncryptionKey, blindIndexKey: config.security.blindIndexKey },
      logger: runtime.logger,
      redisPing: () => connection.ping(),
      bodyLimitBytes: config.server.bodyLimitBytes,
    },
    config.server,
  );
  runtime.logger.info({ url: server.url }, 'ingest listening');
  return [() => server.close()];
});
