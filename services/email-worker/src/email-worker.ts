import type { Redis } from 'ioredis';
import { createQueueWorker, QueueName, type QueueWorker } from '@crm/queue';
import { emailSenderFor, processEmail, type EmailDeps } from './process-email';

export interface EmailWorkerOptions extends EmailDeps {
  /** A `worker` Redis connection. */
  readonly connection: Redis;
  readonly prefix: string;
  /** Emails in flight at once; match it to the SMTP pool size. @defaultValue 10 */
  readonly concurrency?: number;
  /** How long a job stays locked to a worker that stopped answering. @defaultValue 30000 */
  readonly lockDurationMs?: number;
}

/**
 * Consumes `crm.email`: renders and sends each email through the SMTP transport.
 *
 * @example
 * const worker = startEmailWorker({ db, transport, keys, logger, connection, prefix });
 */
export function startEmailWorker(options: EmailWorkerOptions): QueueWorker {
  const { connection, prefix, concurrency = 10, lockDurationMs, ...deps } = options;
  const sender = emailSenderFor(deps);
  return createQueueWorker({
    queue: QueueName.email,
    connection,
    prefix,
    concurrency,
    ...(lockDurationMs !== undefined && { lockDuration: lockDurationMs }),
    logger: deps.logger,
    processor: async (data) => {
      await processEmail(deps, data.communicationId, data.attempt, sender);
    },
  });
}
