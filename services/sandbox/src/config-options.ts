import type { AppConfig } from '@crm/config';
import type { Logger } from '@crm/observability';
import type { StartSandboxOptions } from './sandbox';

/**
 * The sandbox's options from the engine's config: its ports, the credentials the engine sends
 * with (so the stand-ins accept them), and where its signed status callbacks and inbound
 * messages go: ingest's webhooks at `PUBLIC_BASE_URL`, as the real providers' would.
 *
 * @example const sandbox = await startSandbox(sandboxOptionsOf(config, logger));
 */
export function sandboxOptionsOf(config: AppConfig, logger: Logger): StartSandboxOptions {
  const ingest = config.server.publicBaseUrl.replace(/\/+$/, '');
  return {
    host: config.sandbox.host,
    smtpPort: config.sandbox.smtpPort,
    httpPort: config.sandbox.httpPort,
    logger,
    twilio: config.twilio,
    whatsapp: config.whatsapp,
    callbacks: { enabled: config.sandbox.callbacks, delayMs: config.sandbox.callbackDelayMs },
    webhooks: {
      twilioInboundUrl: `${ingest}/webhooks/twilio/inbound`,
      whatsappUrl: `${ingest}/webhooks/whatsapp`,
      whatsappAppSecret: config.whatsapp.appSecret,
    },
  };
}
