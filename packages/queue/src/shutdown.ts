import type { Logger } from '@crm/observability';

export interface ShutdownOptions {
  readonly logger: Logger;
  /** @defaultValue ['SIGTERM', 'SIGINT'] */
  readonly signals?: readonly NodeJS.Signals[];
  /** Give up waiting and exit 1 after this long, in ms. @defaultValue 30000 */
  readonly timeoutMs?: number;
  /** @defaultValue process.exit */
  readonly exit?: (code: number) => void;
}

/**
 * Runs `steps` in order on the first SIGTERM or SIGINT (stop taking work, finish what is in
 * flight, close connections), then exits 0. A second signal, or the timeout, exits 1 at once.
 *
 * @example
 * onShutdown([() => worker.close(), () => db.destroy(), () => redis.quit()], { logger });
 */
export function onShutdown(steps: readonly (() => Promise<unknown>)[], options: ShutdownOptions): void {
  const { logger, signals = ['SIGTERM', 'SIGINT'], timeoutMs = 30_000, exit = (code) => process.exit(code) } = options;
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      exit(1);
      return;
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error({ timeoutMs }, 'shutdown timed out');
      exit(1);
    }, timeoutMs);
    timer.unref();
    void (async () => {
      let code = 0;
      for (const step of steps) {
        try {
          await step();
        } catch (error) {
          code = 1;
          logger.error({ err: error instanceof Error ? { name: error.name, message: error.message } : String(error) }, 'shutdown step failed');
        }
      }
      clearTimeout(timer);
      logger.info('stopped');
      exit(code);
    })();
  };
  for (const signal of signals) process.on(signal, handler);
}
