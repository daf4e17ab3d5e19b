import { z } from 'zod';
import { MessageChannelSchema, MessageTypeSchema, UrgencyLevelSchema } from './enums';
import { E164PhoneSchema, EmailSchema, ExternalIdSchema, JsonObjectSchema, StorableStringSchema, TimeZoneSchema } from './validators';

/**
 * Contact details sent along with a request, as Novu does with inline subscribers. They are
 * stored (encrypted) with the client's preferences, never on the communication or in a job.
 */
export const RecipientSchema = z.strictObject({
  email: EmailSchema.optional(),
  phone: E164PhoneSchema.optional(),
  timezone: TimeZoneSchema.optional(),
});
export type Recipient = z.infer<typeof RecipientSchema>;

/**
 * What a workflow node asks the engine to do: "send the budget summary to client 42".
 * Unknown fields are refused so that a typo (`chanel`) is an error, not a silent default.
 *
 * @example
 * CommunicationRequestSchema.parse({
 *   clientId: 'client-42', planId: 'plan-7', messageType: 'budget_summary',
 *   variables: { clientName: 'Ada', total: 18500, currency: 'EUR' },
 * });
 */
export const CommunicationRequestSchema = z.strictObject({
  clientId: ExternalIdSchema,
  planId: ExternalIdSchema,
  messageType: MessageTypeSchema,
  urgency: UrgencyLevelSchema.default('normal'),
  /** Template variables. They may hold personal data and stay in PostgreSQL only. */
  variables: JsonObjectSchema.default({}),
  /** Forces a channel; `null` lets the strategy choose. */
  channel: MessageChannelSchema.nullable().default(null),
  /** Earliest send time (ISO 8601 with an offset); still subject to quiet hours unless critical. */
  sendAt: z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time with an offset' }).nullable().default(null),
  /** Makes retries safe: the same key with the same body returns the first communication. */
  idempotencyKey: StorableStringSchema.min(1).max(255).nullable().default(null),
  metadata: JsonObjectSchema.default({}),
  recipient: RecipientSchema.nullable().default(null),
  /**
   * Files to send with an email: ids returned by `POST /api/crm/attachments` (the files stay in
   * PostgreSQL; the request and its job carry only the ids). At most 10; ingest checks that each
   * exists and that together they fit the size limit.
   */
  attachments: z.array(z.uuid()).max(10).default([]),
});
/** A request as sent (defaults optional). */
export type CommunicationRequestInput = z.input<typeof CommunicationRequestSchema>;
/** A request after validation (defaults applied). */
export type CommunicationRequest = z.output<typeof CommunicationRequestSchema>;
