import { runService } from '@crm/runtime';
import { sandboxOptionsOf } from './config-options';
import { startSandbox } from './sandbox';

// The sandbox needs no database or queue: only the config and logger of the runtime.
runService('sandbox', async ({ config, logger }) => {
  const sandbox = await startSandbox(sandboxOptionsOf(config, logger));
  logger.info({ smtp: `smtp://${sandbox.host}:${sandbox.smtpPort}`, http: sandbox.httpUrl, callbacks: config.sandbox.callbacks }, 'sandbox listening');
  return { stop: [() => sandbox.stop()], url: sandbox.httpUrl };
});
