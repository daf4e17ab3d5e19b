import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';
import type {
  AttachmentContentType,
  CommunicationStatus,
  ErrorCategory,
  JsonObject,
  MessageChannel,
  StoredMessageType,
  UrgencyLevel,
} from '@crm/core';

/** A timestamp column: read as a Date, written as a Date or an ISO string. */
type Timestamp = ColumnType<Date, Date | string, Date | string>;
type GeneratedTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Json = ColumnType<JsonObject, string, string>;
type GeneratedJson = ColumnType<JsonObject, string | undefined, string>;

export interface CommunicationsTable {
  id: Generated<string>;
  client_id: string;
  plan_id: string;
  message_type: StoredMessageType;
  urgency: ColumnType<UrgencyLevel, UrgencyLevel | undefined, UrgencyLevel>;
  status: ColumnType<CommunicationStatus, CommunicationStatus | undefined, CommunicationStatus>;
  requested_channel: MessageChannel | null;
  channel: MessageChannel | null;
  channels_tried: ColumnType<MessageChannel[], MessageChannel[] | undefined, MessageChannel[]>;
  strategy_reason: string | null;
  template_id: string | null;
  template_version: number | null;
  variables: GeneratedJson;
  metadata: GeneratedJson;
  send_at: Timestamp | null;
  scheduled_for: Timestamp | null;
  idempotency_key: string | null;
  request_hash: string | null;
  provider_message_id: string | null;
  attempt_count: Generated<number>;
  channel_plan: ColumnType<MessageChannel[], MessageChannel[] | undefined, MessageChannel[]>;
  channel_attempts: Generated<number>;
  rate_limit_waits: Generated<number>;
  next_attempt_at: Timestamp | null;
  awaiting_fallback: Generated<boolean>;
  /** The digest this message waits in (`scheduled`) or went out in (`batched`). */
  digest_id: string | null;
  /** For the email copy of a `critical` message: the message it copies. */
  copy_of: string | null;
  /** The files sent with it (`crm_attachments` ids), in order; `[]` for none. */
  attachment_ids: ColumnType<string[], readonly string[] | undefined, readonly string[]>;
  last_error: string | null;
  last_error_code: string | null;
  last_error_category: ErrorCategory | null;
  failure_reason: string | null;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
  scheduled_at: Timestamp | null;
  queued_at: Timestamp | null;
  sending_at: Timestamp | null;
  sent_at: Timestamp | null;
  delivered_at: Timestamp | null;
  opened_at: Timestamp | null;
  clicked_at: Timestamp | null;
  responded_at: Timestamp | null;
  failed_at: Timestamp | null;
  cancelled_at: Timestamp | null;
  bounced_at: Timestamp | null;
}

export interface ClientPreferencesTable {
  client_id: string;
  /** `null`: never stated; the configured DEFAULT_CHANNELS apply. */
  channels: ColumnType<MessageChannel[] | null, MessageChannel[] | null | undefined, MessageChannel[] | null>;
  /** `null`: never stated; the configured DEFAULT_TIMEZONE applies. */
  timezone: ColumnType<string | null, string | null | undefined, string | null>;
  /** `HH:MM:SS` as PostgreSQL prints a `time`. */
  quiet_hours_start: string | null;
  quiet_hours_end: string | null;
  opt_outs: ColumnType<MessageChannel[], MessageChannel[] | undefined, MessageChannel[]>;
  language: ColumnType<string, string | undefined, string>;
  batching: ColumnType<boolean, boolean | undefined, boolean>;
  email_encrypted: Buffer | null;
  email_hash: Buffer | null;
  /** Set when the address bounced (SMTP 5xx): not used for email until it changes. */
  email_suppressed_at: Timestamp | null;
  email_suppression_reason: string | null;
  phone_encrypted: Buffer | null;
  phone_hash: Buffer | null;
  /** `piiKeyId` of the key that encrypted `email_encrypted`; `null`: written before migration 0009. */
  email_key_id: string | null;
  /** `piiKeyId` of the key that encrypted `phone_encrypted`; `null`: written before migration 0009. */
  phone_key_id: string | null;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
}

export interface CommunicationTemplatesTable {
  id: Generated<string>;
  message_type: StoredMessageType;
  channel: MessageChannel;
  language: ColumnType<string, string | undefined, string>;
  version: number;
  subject: string | null;
  body: string;
  text_body: string | null;
  /** Variables a render of this version needs. */
  required_variables: ColumnType<string[], string[] | undefined, string[]>;
  /** SHA-256 of subject, body and text: seeding publishes a new version only when it changes. */
  content_hash: string | null;
  published_at: Timestamp | null;
  created_at: GeneratedTimestamp;
}

/** A client's digest window (see migration 0004). */
export interface DigestsTable {
  id: Generated<string>;
  client_id: string;
  status: ColumnType<'open' | 'flushed', 'open' | 'flushed' | undefined, 'open' | 'flushed'>;
  item_count: Generated<number>;
  opened_at: GeneratedTimestamp;
  flush_at: Timestamp;
  flushed_at: Timestamp | null;
  /** The digest message, once flushed with at least one item. */
  communication_id: string | null;
}

/** An uploaded file (see migration 0005): PDF, PNG or JPEG, its type checked by magic bytes. */
export interface AttachmentsTable {
  id: Generated<string>;
  filename: string;
  content_type: AttachmentContentType;
  size_bytes: number;
  /** SHA-256 of `content`, 32 bytes. */
  sha256: Buffer;
  content: Buffer;
  created_at: GeneratedTimestamp;
}

/** A client's inbound SMS or WhatsApp message (see migration 0008). */
export interface InboundMessagesTable {
  id: Generated<string>;
  provider: 'twilio' | 'whatsapp';
  provider_message_id: string;
  channel: 'sms' | 'whatsapp';
  /** HMAC-SHA256 of the sender's normalised number with the blind-index key. */
  from_hash: Buffer;
  client_id: string | null;
  communication_id: string | null;
  kind: 'opt_out' | 'opt_in' | 'help' | 'reply';
  keyword: string | null;
  selection: number | null;
  /** A WhatsApp button or list row id that was tapped. */
  reply_id: string | null;
  /** The text, pgcrypto-encrypted. */
  body_encrypted: Buffer | null;
  /** `piiKeyId` of the key that encrypted the text; `null`: written before migration 0009. */
  body_key_id: string | null;
  received_at: Timestamp;
  created_at: GeneratedTimestamp;
}

/** What a delivery-log row records; see {@link DeliveryLogEntry}. */
export const deliveryLogEvents = [
  'created',
  'status_changed',
  'attempt_started',
  'attempt_succeeded',
  'attempt_failed',
  'retry_scheduled',
  'fallback',
  'cancelled',
  'requeued',
  'webhook',
  'opened',
  'clicked',
  'unsubscribed',
  'bounced',
  'responded',
] as const;
export type DeliveryLogEvent = (typeof deliveryLogEvents)[number];

export interface DeliveryLogsTable {
  id: ColumnType<string, never, never>;
  communication_id: string;
  event: DeliveryLogEvent;
  from_status: CommunicationStatus | null;
  to_status: CommunicationStatus | null;
  channel: MessageChannel | null;
  attempt: number | null;
  provider: string | null;
  provider_message_id: string | null;
  provider_event_id: string | null;
  error_code: string | null;
  error_category: ErrorCategory | null;
  error_message: string | null;
  latency_ms: number | null;
  detail: GeneratedJson;
  created_at: GeneratedTimestamp;
}

/** API keys; the key itself is never stored, only its SHA-256 (see api-key-repository.ts). */
export interface ApiKeysTable {
  id: Generated<string>;
  name: string;
  key_prefix: string;
  key_hash: Buffer;
  created_at: GeneratedTimestamp;
  last_used_at: Timestamp | null;
  revoked_at: Timestamp | null;
}

/** Who did what to whose personal data (see migration 0009); never the data itself. */
export interface AuditLogTable {
  id: ColumnType<string, never, never>;
  /** e.g. `client.erased`, `client.exported`. */
  action: string;
  client_id: string | null;
  /** The API key (its id) or operator that asked. */
  actor: string | null;
  detail: GeneratedJson;
  created_at: GeneratedTimestamp;
}

/** A day's rollup of one channel and message type (see migration 0010). */
export interface AnalyticsDailyTable {
  /** The UTC day of the communications' `created_at`, as PostgreSQL prints a `date` (`YYYY-MM-DD`). */
  day: ColumnType<string, string, string>;
  /** `'none'`: communications never routed to a channel. */
  channel: MessageChannel | 'none';
  message_type: StoredMessageType;
  total: number;
  sent: number;
  delivered: number;
  opened: number;
  /** Opened, not counting those whose only opens were likely machine opens. */
  opened_human: number;
  clicked: number;
  responded: number;
  failed: number;
  bounced: number;
  cancelled: number;
  /** Responded ones with a `sent_at`: the ones with a time to response. */
  response_count: number;
  response_time_sum_seconds: number;
  /** Each time to response, in seconds, ascending. */
  response_seconds: number[];
  computed_at: GeneratedTimestamp;
}

/** A rollup cell an event touched, waiting to be recomputed (see migration 0010). */
export interface AnalyticsDirtyTable {
  day: ColumnType<string, string, string>;
  channel: MessageChannel | 'none';
  message_type: StoredMessageType;
  marked_at: GeneratedTimestamp;
}

/** The event types a callback subscription may ask for (see migration 0011). */
export const callbackEventTypes = [
  'communication.sent',
  'communication.delivered',
  'communication.failed',
  'communication.responded',
  'client.replied',
] as const;
export type CallbackEventType = (typeof callbackEventTypes)[number];

/** A subscriber of event callbacks (see migration 0011). */
export interface CallbackSubscriptionsTable {
  id: Generated<string>;
  url: string;
  events: ColumnType<CallbackEventType[], readonly CallbackEventType[], readonly CallbackEventType[]>;
  /** The signing secret, pgcrypto-encrypted; `null` once the subscription is deleted. */
  secret_encrypted: Buffer | null;
  /** `piiKeyId` of the key that encrypted the secret. */
  secret_key_id: string | null;
  created_at: GeneratedTimestamp;
  deleted_at: Timestamp | null;
}

export type CallbackDeliveryStatus = 'pending' | 'delivered' | 'failed';

/** One event for one subscription, and how its delivery went (see migration 0011). */
export interface CallbackDeliveriesTable {
  id: Generated<string>;
  subscription_id: string;
  /** `evt_` + 32 hex digits, derived from the subscription and the source row. */
  event_id: string;
  event_type: CallbackEventType;
  communication_id: string | null;
  /** The `crm_delivery_logs` row of a `communication.*` event. */
  delivery_log_id: ColumnType<string | null, string | number | null | undefined, string | number | null>;
  /** The `crm_inbound_messages` row of a `client.replied` event. */
  inbound_id: string | null;
  /** When the engine recorded the event (its source row's `created_at`). */
  event_at: Timestamp;
  status: ColumnType<CallbackDeliveryStatus, CallbackDeliveryStatus | undefined, CallbackDeliveryStatus>;
  attempts: Generated<number>;
  last_status_code: number | null;
  last_error: string | null;
  next_attempt_at: GeneratedTimestamp;
  created_at: GeneratedTimestamp;
  delivered_at: Timestamp | null;
  failed_at: Timestamp | null;
}

/** How far the callback dispatcher has scanned each source (see migration 0011). */
export interface CallbackCursorsTable {
  source: 'delivery_logs' | 'inbound_messages';
  scanned_to: Timestamp;
}

/** The engine's tables, as Kysely sees them. */
export interface Database {
  crm_api_keys: ApiKeysTable;
  crm_attachments: AttachmentsTable;
  crm_callback_cursors: CallbackCursorsTable;
  crm_callback_deliveries: CallbackDeliveriesTable;
  crm_callback_subscriptions: CallbackSubscriptionsTable;
  crm_audit_log: AuditLogTable;
  crm_communications: CommunicationsTable;
  crm_client_preferences: ClientPreferencesTable;
  crm_communication_templates: CommunicationTemplatesTable;
  crm_delivery_logs: DeliveryLogsTable;
  crm_digests: DigestsTable;
  crm_inbound_messages: InboundMessagesTable;
  crm_analytics_daily: AnalyticsDailyTable;
  crm_analytics_dirty: AnalyticsDirtyTable;
}

export type CommunicationRow = Selectable<CommunicationsTable>;
export type NewCommunicationRow = Insertable<CommunicationsTable>;
export type CommunicationUpdate = Updateable<CommunicationsTable>;
export type DeliveryLogRow = Selectable<DeliveryLogsTable>;
export type ClientPreferencesRow = Selectable<ClientPreferencesTable>;
export type { Json };
