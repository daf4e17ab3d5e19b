import type { Redis } from 'ioredis';
import { createQueueWorker, QueueName, type QueueWorker } from '@crm/queue';
import { processRequest, type StrategyDeps } from './process-request';

export interface StrategyWorkerOptions extends StrategyDeps {
  /** A `worker` Redis connection. */
  readonly connection: Redis;
  readonly prefix: string;
  /** @defaultValue 20 */
  readonly concurrency?: number;
}

/**
 * Consumes `crm.requests`: decides channel and time for each new communication and hands it
 * to the channel's queue.
 *
 * @example
 * const worker = startStrategyWorker({ db, producer, logger, connection, prefix });
 * await worker.close();
 */
export function startStrategyWorker(options: StrategyWorkerOptions): QueueWorker {
  const { connection, prefix, concurrency = 20, ...deps } = options;
  return createQueueWorker({
    queue: QueueName.requests,
    connection,
    prefix,
    concurrency,
    logger: deps.logger,
    processor: (data) => processRequest(deps, data.communicationId),
  });
}
