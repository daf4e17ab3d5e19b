import { z } from 'zod';
import { ErrorCategorySchema, ExternalIdSchema, MessageChannelSchema } from '@crm/core';
import { QueueName } from './queue-names';

const communicationId = z.uuid();
const attempt = z.number().int().positive();

/**
 * What a job of each queue carries: ids and small enums only. Never an address, a phone
 * number, a name or message text: PostgreSQL holds those, and a worker reads them from there.
 * The schemas are strict, so a field with personal data cannot slip in.
 */
export const jobDataSchemas = Object.freeze({
  /** `due`: the time (epoch ms) a scheduled message wakes up, so that its wake-up job has an id of its own. */
  [QueueName.requests]: z.strictObject({ communicationId, due: z.number().int().nonnegative().optional() }),
  [QueueName.email]: z.strictObject({ communicationId, attempt }),
  [QueueName.messaging]: z.strictObject({ communicationId, channel: z.enum(['sms', 'whatsapp']), attempt }),
  [QueueName.fallback]: z.strictObject({ communicationId, failedChannel: MessageChannelSchema, category: ErrorCategorySchema }),
  [QueueName.digest]: z.strictObject({ clientId: ExternalIdSchema, windowId: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/) }),
  [QueueName.events]: z.strictObject({
    communicationId,
    event: z.enum(['sent', 'delivered', 'opened', 'clicked', 'responded', 'failed', 'bounced']),
    at: z.iso.datetime(),
  }),
} satisfies Record<QueueName, z.ZodType>);

export type JobData<Q extends QueueName> = z.infer<(typeof jobDataSchemas)[Q]>;

/**
 * The job id for `data`, derived from the row so that enqueuing the same thing twice (a retry
 * after a crash, the reconciler) finds the existing job instead of adding a second one.
 * BullMQ ids may not contain `:`.
 *
 * @example jobIdFor('crm.email', { communicationId: id, attempt: 2 }) // `${id}.email.2`
 */
export function jobIdFor<Q extends QueueName>(queue: Q, data: JobData<Q>): string {
  const d = data as Record<string, unknown>;
  switch (queue) {
    case QueueName.requests:
      return d.due === undefined ? `${String(d.communicationId)}.request` : `${String(d.communicationId)}.request.${String(d.due)}`;
    case QueueName.email:
      return `${String(d.communicationId)}.email.${String(d.attempt)}`;
    case QueueName.messaging:
      return `${String(d.communicationId)}.${String(d.channel)}.${String(d.attempt)}`;
    case QueueName.fallback:
      return `${String(d.communicationId)}.fallback.${String(d.failedChannel)}`;
    case QueueName.digest:
      // The window id alone: a client id may contain `:`.
      return `digest.${String(d.windowId)}`;
    case QueueName.events:
      return `${String(d.communicationId)}.${String(d.event)}.${Date.parse(String(d.at))}`;
    default:
      throw new TypeError(`unknown queue ${String(queue)}`);
  }
}
