import { batchedWrites, ProviderBreakers } from '@crm/delivery';
import { createTwilioClient, createWhatsAppClient } from '@crm/providers';
import type { ServiceStart } from '@crm/runtime';
import { startMessagingWorker } from './messaging-worker';
import { smsSender, whatsAppSender } from './senders';

/**
 * The messaging worker on a runtime: SMS through Twilio (`config.twilio`) and WhatsApp through
 * the Cloud API (`config.whatsapp`); in sandbox mode both base URLs point at the sandbox.
 */
export const messagingWorkerService: ServiceStart = async (runtime) => {
  const { config } = runtime;
  const breakers = new ProviderBreakers(config.breaker, runtime.logger);
  const worker = startMessagingWorker({
    db: runtime.db(),
    producer: await runtime.producer(),
    senders: {
      sms: smsSender(createTwilioClient(config.twilio), { publicBaseUrl: config.server.publicBaseUrl }),
      whatsapp: whatsAppSender(createWhatsAppClient(config.whatsapp)),
    },
    breakers,
    retry: config.retry,
    // As the email worker: concurrent jobs share one claim and one success statement per window.
    ...(config.queue.batchWindowMs > 0 && { writes: batchedWrites(runtime.db(), runtime.keys, { windowMs: config.queue.batchWindowMs }) }),
    keys: runtime.keys,
    logger: runtime.logger,
    connection: runtime.workerConnection(),
    prefix: config.redis.queuePrefix,
    concurrency: config.queue.concurrency,
    lockDurationMs: config.queue.lockDurationMs,
  });
  await worker.ready();
  return { stop: [() => worker.close(), async () => breakers.shutdown()] };
};
