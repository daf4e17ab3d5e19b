import { channelWorkerDeps, TemplateStore } from '@crm/delivery';
import { createSmtpTransport } from '@crm/providers';
import { createRedisConnection } from '@crm/queue';
import type { ServiceStart } from '@crm/runtime';
import { startEmailWorker } from './email-worker';

/**
 * The email worker on a runtime, sending through the SMTP server of `config.smtp`. On start it
 * publishes the repository's email templates whose content changed (a new version each) and
 * listens for versions other processes publish.
 */
export const emailWorkerService: ServiceStart = async (runtime) => {
  const { config } = runtime;
  const transport = createSmtpTransport(config.smtp);
  const deps = await channelWorkerDeps(runtime);
  const redis = createRedisConnection({ url: config.redis.url, role: 'worker', name: 'email-worker-templates' });
  const subscriber = createRedisConnection({ url: config.redis.url, role: 'worker', name: 'email-worker-template-events' });
  const templates = new TemplateStore({ db: deps.db, logger: runtime.logger, redis, subscriber, prefix: config.redis.queuePrefix });
  await templates.seed();
  await templates.listen();
  const worker = startEmailWorker({
    ...deps,
    transport,
    content: {
      templates,
      publicBaseUrl: config.server.publicBaseUrl,
      trackingSecret: config.email.trackingSecret,
      tracking: config.email.tracking,
      postalAddress: config.email.postalAddress,
      unsubscribeMailto: config.email.unsubscribeMailto,
    },
  });
  await worker.ready();
  return {
    stop: [
      () => worker.close(),
      () => transport.close(),
      async () => deps.breakers.shutdown(),
      () => Promise.all([redis, subscriber].map((connection) => connection.quit().catch(() => connection.disconnect()))),
    ],
  };
};
