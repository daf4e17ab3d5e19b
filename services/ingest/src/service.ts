import { createWhatsAppClient } from '@crm/providers';
import { strategySettingsOf, type ServiceStart } from '@crm/runtime';
import { startIngest } from './ingest';

/** The ingest API on a runtime, listening on `HOST:PORT`. */
export const ingestService: ServiceStart = async (runtime) => {
  const { config } = runtime;
  const connection = runtime.workerConnection();
  const server = await startIngest(
    {
      db: runtime.db(),
      producer: await runtime.producer(),
      keys: runtime.keys,
      logger: runtime.logger,
      redisPing: () => connection.ping(),
      bodyLimitBytes: config.server.bodyLimitBytes,
      operator: config.operator,
      strategy: strategySettingsOf(config),
      webhooks: {
        twilioAuthToken: config.twilio.authToken,
        whatsappAppSecret: config.whatsapp.appSecret,
        whatsappVerifyToken: config.whatsapp.verifyToken,
        publicBaseUrl: config.server.publicBaseUrl,
        replyWindowMs: config.inbound.replyWindowMs,
        whatsappReplies: createWhatsAppClient(config.whatsapp),
      },
      email: { trackingSecret: config.email.trackingSecret, machineOpenWindowMs: config.email.machineOpenWindowMs, attachmentMaxTotalBytes: config.email.attachmentMaxTotalBytes },
    },
    config.server,
  );
  return { stop: [() => server.close()], url: server.url };
};
