import { channelWorkerDeps } from '@crm/delivery';
import { createTwilioClient, createWhatsAppClient } from '@crm/providers';
import type { ServiceStart } from '@crm/runtime';
import { startMessagingWorker } from './messaging-worker';
import { smsSender, whatsAppSender } from './senders';

/**
 * The messaging worker on a runtime: SMS through Twilio (`config.twilio`) and WhatsApp through
 * the Cloud API (`config.whatsapp`); in sandbox mode both base URLs point at the sandbox.
 * Before each call it takes the provider's rate limits (`config.rateLimits`: TWILIO_RATE_LIMIT
 * and SMS_RECIPIENT_RATE_LIMIT, WHATSAPP_RATE_LIMIT and WHATSAPP_RECIPIENT_RATE_LIMIT), shared
 * by every replica through Redis; {@link channelWorkerDeps} builds them.
 */
export const messagingWorkerService: ServiceStart = async (runtime) => {
  const { config } = runtime;
  const deps = await channelWorkerDeps(runtime);
  const worker = startMessagingWorker({
    ...deps,
    senders: {
      sms: smsSender(createTwilioClient(config.twilio), { publicBaseUrl: config.server.publicBaseUrl, db: deps.db, logger: deps.logger, ...(deps.preferencesCache && { preferencesCache: deps.preferencesCache }) }),
      whatsapp: whatsAppSender(createWhatsAppClient(config.whatsapp), { db: deps.db, keys: deps.keys, logger: deps.logger }),
    },
  });
  await worker.ready();
  return { stop: [() => worker.close(), async () => deps.breakers.shutdown()] };
};
