import { runService } from '@crm/runtime';
import { startSandbox } from './sandbox';

// The sandbox needs no database or queue: only the config and logger of the runtime.
runService('sandbox', async ({ config, logger }) => {
  // It accepts the credentials the engine is configured with (the sandbox defaults unless set).
  const sandbox = await startSandbox({ ...config.sandbox, logger, twilio: config.twilio, whatsapp: config.whatsapp });
  logger.info({ smtp: `smtp://${sandbox.host}:${sandbox.smtpPort}`, http: sandbox.httpUrl }, 'sandbox listening');
  return { stop: [() => sandbox.stop()], url: sandbox.httpUrl };
});
