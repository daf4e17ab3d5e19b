import type { Redis } from 'ioredis';
import { createQueueWorker, QueueName, type QueueWorker } from '@crm/queue';
import { processEmail, type EmailDeps } from './process-email';

export interface EmailWorkerOptions extends EmailDeps {
  /** A `worker` Redis connection. */
  readonly connection: Redis;
  readonly prefix: string;
  /** Emails in flight at once; match it to the SMTP pool size. @defaultValue 10 */
  readonly concurrency?: number;
}

/**
 * Consumes `crm.email`: renders and sends each email through the SMTP transport.
 *
 * @example
 * const worker = startEmailWorker({ db, transport, keys, logger, connection, prefix });
 */
export function startEmailWorker(options: EmailWorkerOptions): QueueWorker {
  const { connection, prefix, concurrency = 10, ...deps } = options;
  return createQueueWorker({
    queue: QueueName.email,
    connection,
    prefix,
    concurrency,
    logger: deps.logger,
    processor: (data) => processEmail(deps, data.communicationId, data.attempt),
  });
}
