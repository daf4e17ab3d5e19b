import type { ServiceStart } from '@crm/runtime';
import { startCallbackWorker } from './callback-worker';

/**
 * The callback worker on a runtime: dispatches the events recorded in PostgreSQL to the
 * callback subscriptions and consumes `crm.callbacks`, POSTing each signed event (see
 * docs/callbacks.md).
 */
export const callbackWorkerService: ServiceStart = async (runtime) => {
  const { config } = runtime;
  const worker = startCallbackWorker({
    db: runtime.db(),
    keys: runtime.keys,
    logger: runtime.logger,
    connection: runtime.workerConnection(),
    producer: await runtime.producer(),
    prefix: config.redis.queuePrefix,
    concurrency: config.queue.concurrency,
    lockDurationMs: config.queue.lockDurationMs,
    timeoutMs: config.callbacks.timeoutMs,
    maxAttempts: config.callbacks.maxAttempts,
    dispatchIntervalMs: config.callbacks.dispatchIntervalMs,
    dispatchOverlapMs: config.callbacks.dispatchOverlapMs,
    reconcileIntervalMs: config.queue.reconcilerIntervalMs,
    requireHttps: config.callbacks.requireHttps,
  });
  await worker.ready();
  return { stop: [() => worker.close()] };
};
