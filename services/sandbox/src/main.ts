import { loadConfigOrExit } from '@crm/config';
import { createLogger } from '@crm/observability';
import { startSandbox } from './sandbox';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger({ service: 'sandbox', level: config.log.level, pretty: config.log.pretty });
  const sandbox = await startSandbox({ ...config.sandbox, logger });
  logger.info({ smtp: `smtp://${sandbox.host}:${sandbox.smtpPort}`, http: sandbox.httpUrl }, 'sandbox listening');

  const shutdown = (signal: NodeJS.Signals): void => {
    logger.info({ signal }, 'stopping');
    sandbox.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.fatal({ err: error }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

main().catch((error: unknown) => {
  process.stderr.write(`sandbox failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
