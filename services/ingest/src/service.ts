import { PreferencesCache } from '@crm/delivery';
import { createWhatsAppClient } from '@crm/providers';
import { createRedisConnection, waitForRedis } from '@crm/queue';
import { strategySettingsOf, type ServiceStart } from '@crm/runtime';
import { startIngest } from './ingest';

/** The ingest API on a runtime, listening on `HOST:PORT`. */
export const ingestService: ServiceStart = async (runtime) => {
  const { config } = runtime;
  const connection = runtime.workerConnection();
  // Plain commands (the preferences cache, the API rate limit) on a fail-fast connection: while
  // Redis is away they fail at once (and fall back) instead of queueing.
  const redis = createRedisConnection({ url: config.redis.url, role: 'producer', name: 'ingest-commands' });
  await waitForRedis(redis);
  const preferencesCache = new PreferencesCache({ db: runtime.db(), redis, prefix: config.redis.queuePrefix, ttlSeconds: config.preferences.cacheTtlSeconds, logger: runtime.logger });
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
      redis,
      preferencesCache,
      apiRateLimit: config.api.rateLimit,
      email: { trackingSecret: config.email.trackingSecret, machineOpenWindowMs: config.email.machineOpenWindowMs, attachmentMaxTotalBytes: config.email.attachmentMaxTotalBytes },
      callbacks: { requireHttps: config.callbacks.requireHttps },
    },
    config.server,
  );
  return { stop: [() => server.close(), () => redis.quit().catch(() => redis.disconnect())], url: server.url };
};
