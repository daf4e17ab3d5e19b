import type { Redis } from 'ioredis';
import { deliverAttempt, type ChannelSender, type DeliveryDeps } from '@crm/delivery';
import { createQueueWorker, postponeJob, QueueName, type QueueWorker } from '@crm/queue';

export interface MessagingWorkerOptions extends DeliveryDeps {
  /** One sender per channel of `crm.messaging`. */
  readonly senders: { readonly sms: ChannelSender; readonly whatsapp: ChannelSender };
  /** A `worker` Redis connection. */
  readonly connection: Redis;
  readonly prefix: string;
  /** Messages in flight at once. @defaultValue 10 */
  readonly concurrency?: number;
  /** How long a job stays locked to a worker that stopped answering. @defaultValue 30000 */
  readonly lockDurationMs?: number;
}

/**
 * Consumes `crm.messaging` (`{ communicationId, channel: sms | whatsapp, attempt, clientId? }`):
 * each job is one attempt of the shared delivery protocol ({@link deliverAttempt}) with that
 * channel's sender: a slot under the provider's rate limits (`rateLimits`: the account's and
 * the recipient's), claimed on the row, sent through the provider's breaker, recorded, then
 * retried or handed to the fallback by error category. A job over a rate limit by more than
 * `maxWaitMs` is moved back to the delayed set ({@link postponeJob}): not failed, no attempt
 * spent, its row still `queued`.
 *
 * @example
 * const worker = startMessagingWorker({ ...deliveryDeps, senders: { sms, whatsapp }, connection, prefix });
 */
export function startMessagingWorker(options: MessagingWorkerOptions): QueueWorker {
  const { senders, connection, prefix, concurrency = 10, lockDurationMs, ...deps } = options;
  for (const channel of ['sms', 'whatsapp'] as const) {
    if (senders[channel].channel !== channel) throw new TypeError(`the ${channel} sender sends on ${senders[channel].channel}`);
  }
  return createQueueWorker({
    queue: QueueName.messaging,
    connection,
    prefix,
    concurrency,
    ...(lockDurationMs !== undefined && { lockDuration: lockDurationMs }),
    logger: deps.logger,
    processor: async (data, job, token) => {
      const { communicationId, attempt, channel, clientId } = data;
      const result = await deliverAttempt(deps, { communicationId, attempt, channel, ...(clientId !== undefined && { clientId }) }, senders[channel]);
      if (result.outcome === 'postponed') await postponeJob(job, token, result.delayMs);
    },
  });
}
