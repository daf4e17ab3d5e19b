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
  /**
   * `clientId`: the row's client (an opaque id, never a phone number), for the per-recipient
   * rate limit; jobs added before it existed lack it. Not part of the job id.
   */
  [QueueName.messaging]: z.strictObject({ communicationId, channel: z.enum(['sms', 'whatsapp']), attempt, clientId: ExternalIdSchema.optional() }),
  [QueueName.fallback]: z.strictObject({ communicationId, failedChannel: MessageChannelSchema, category: ErrorCategorySchema }),
  [QueueName.digest]: z.strictObject({ clientId: ExternalIdSchema, windowId: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/) }),
  /**
   * A communication's event, or `client.replied`: a client's inbound message (`inboundId`, a
   * `crm_inbound_messages` row holding the parsed reply) and the communication it answered, if any.
   */
  [QueueName.events]: z.union([
    z.strictObject({
      communicationId,
      event: z.enum(['sent', 'delivered', 'opened', 'clicked', 'responded', 'failed', 'bounced']),
      at: z.iso.datetime(),
    }),
    z.strictObject({ event: z.literal('client.replied'), inboundId: z.uuid(), communicationId: communicationId.optional(), at: z.iso.datetime() }),
  ]),
  /** One `crm_callback_deliveries` row to send (its event and subscription are read from PostgreSQL). */
  [QueueName.callbacks]: z.strictObject({ deliveryId: z.uuid() }),
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
      // One event per inbound message; a communication's events by kind and time.
      return d.inboundId !== undefined ? `inbound.${String(d.inboundId)}.replied` : `${String(d.communicationId)}.${String(d.event)}.${Date.parse(String(d.at))}`;
    case QueueName.callbacks:
      return `callback.${String(d.deliveryId)}`;
    default:
      throw new TypeError(`unknown queue ${String(queue)}`);
  }
}
