import { z } from 'zod';
import {
  CommunicationStatusSchema,
  digestMessageType,
  ErrorCategorySchema,
  MessageChannelSchema,
  MessageTypeSchema,
  UrgencyLevelSchema,
} from '@crm/core';
import { deliveryLogJson, type CommunicationRow, type DeliveryLogRow } from '@crm/db';

/**
 * The JSON form of communications and delivery-log rows: camelCase, timestamps as ISO 8601
 * strings. The zod schemas double as the routes' response schemas, so a field that is not
 * listed here (such as an address, were a row ever to hold one) can never reach a client.
 */

const iso = z.string();
const json = z.record(z.string(), z.unknown());

/** The status stamps, present only once the communication has been there. */
const stamps = ['scheduledAt', 'queuedAt', 'sendingAt', 'sentAt', 'deliveredAt', 'openedAt', 'clickedAt', 'respondedAt', 'failedAt', 'cancelledAt', 'bouncedAt'] as const;
const stampColumns = {
  scheduledAt: 'scheduled_at',
  queuedAt: 'queued_at',
  sendingAt: 'sending_at',
  sentAt: 'sent_at',
  deliveredAt: 'delivered_at',
  openedAt: 'opened_at',
  clickedAt: 'clicked_at',
  respondedAt: 'responded_at',
  failedAt: 'failed_at',
  cancelledAt: 'cancelled_at',
  bouncedAt: 'bounced_at',
} as const satisfies Record<(typeof stamps)[number], keyof CommunicationRow>;

export const CommunicationSummarySchema = z.object({
  id: z.uuid(),
  clientId: z.string(),
  planId: z.string(),
  /** A request's type, or `digest` for a digest the engine made. */
  messageType: z.union([MessageTypeSchema, z.literal(digestMessageType)]),
  urgency: UrgencyLevelSchema,
  status: CommunicationStatusSchema,
  channel: MessageChannelSchema.nullable(),
  channelsTried: z.array(MessageChannelSchema),
  attemptCount: z.number().int(),
  requestedChannel: MessageChannelSchema.nullable(),
  sendAt: iso.nullable(),
  scheduledFor: iso.nullable(),
  idempotencyKey: z.string().nullable(),
  providerMessageId: z.string().nullable(),
  lastError: z.object({ code: z.string().nullable(), category: ErrorCategorySchema.nullable(), message: z.string() }).nullable(),
  failureReason: z.string().nullable(),
  strategyReason: z.string().nullable(),
  /** The digest this message waits in (`scheduled`) or went out in (`batched`). */
  digestId: z.uuid().nullable(),
  /** The email copy of a critical message: the message it copies. */
  copyOf: z.uuid().nullable(),
  /** Ids of the files sent with it (`POST /api/crm/attachments`). */
  attachments: z.array(z.uuid()),
  metadata: json,
  createdAt: iso,
  updatedAt: iso,
  ...Object.fromEntries(stamps.map((stamp) => [stamp, iso.optional()])),
} as Record<string, z.ZodType>);

export const DeliveryLogEntrySchema = z.object({
  id: z.string(),
  event: z.string(),
  fromStatus: CommunicationStatusSchema.nullable(),
  toStatus: CommunicationStatusSchema.nullable(),
  channel: MessageChannelSchema.nullable(),
  attempt: z.number().int().nullable(),
  provider: z.string().nullable(),
  providerMessageId: z.string().nullable(),
  providerEventId: z.string().nullable(),
  errorCode: z.string().nullable(),
  errorCategory: ErrorCategorySchema.nullable(),
  errorMessage: z.string().nullable(),
  latencyMs: z.number().int().nullable(),
  detail: json,
  createdAt: iso,
});

export const CommunicationDetailSchema = CommunicationSummarySchema.extend({
  variables: json,
  deliveryLog: z.array(DeliveryLogEntrySchema),
});

export type CommunicationSummary = Record<string, unknown>;

const isoOrNull = (date: Date | null): string | null => (date === null ? null : date.toISOString());

/** A communication as the history lists it: everything but its variables. */
export function communicationSummary(row: CommunicationRow): CommunicationSummary {
  const summary: CommunicationSummary = {
    id: row.id,
    clientId: row.client_id,
    planId: row.plan_id,
    messageType: row.message_type,
    urgency: row.urgency,
    status: row.status,
    channel: row.channel,
    channelsTried: row.channels_tried,
    attemptCount: row.attempt_count,
    requestedChannel: row.requested_channel,
    sendAt: isoOrNull(row.send_at),
    scheduledFor: isoOrNull(row.scheduled_for),
    idempotencyKey: row.idempotency_key,
    providerMessageId: row.provider_message_id,
    lastError: row.last_error === null ? null : { code: row.last_error_code, category: row.last_error_category, message: row.last_error },
    failureReason: row.failure_reason,
    strategyReason: row.strategy_reason,
    digestId: row.digest_id,
    copyOf: row.copy_of,
    attachments: row.attachment_ids,
    metadata: row.metadata,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
  for (const stamp of stamps) {
    const value = row[stampColumns[stamp]];
    if (value !== null) summary[stamp] = value.toISOString();
  }
  return summary;
}

/** One delivery-log row (the same shape the GDPR export uses). */
export function deliveryLogEntry(row: DeliveryLogRow): z.infer<typeof DeliveryLogEntrySchema> {
  return deliveryLogJson(row);
}

/** A communication with its variables and its delivery log, oldest entry first. */
export function communicationDetail(row: CommunicationRow, log: readonly DeliveryLogRow[]): CommunicationSummary {
  return { ...communicationSummary(row), variables: row.variables, deliveryLog: log.map(deliveryLogEntry) };
}
