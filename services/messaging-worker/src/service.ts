import { channelWorkerDeps } from '@crm/delivery';
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
  const deps = await channelWorkerDeps(runtime);
  const worker = startMessagingWorker({
    ...deps,
    senders: {
      sms: smsSender(createTwilioClient(config.twilio), { publicBaseUrl: config.server.publicBaseUrl }),
      whatsapp: whatsAppSender(createWhatsAppClient(config.whatsapp)),
    },
  });
  await worker.ready();
  return { stop: [() => worker.close(), async () => deps.breakers.shutdown()] };
};
