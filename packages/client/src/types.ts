/**
 * The request and answer types of the engine's HTTP API, written by hand from docs/api.md, the
 * zod schemas of `@crm/core` (`CommunicationRequestSchema`, `preferencesInputSchema`) and the
 * answer schemas of ingest (`services/ingest/src/representation.ts`). The SDK has no runtime
 * dependency on `@crm/core`: a workflow installs only this package. A test checks that these
 * types accept what the schemas accept.
 */

/** What a communication is about; one template family per type. */
export type MessageType =
  | 'welcome'
  | 'budget_summary'
  | 'vendor_options'
  | 'selection_confirmation'
  | 'blueprint_delivery'
  | 'error_notification'
  | 'reminder';

/** A message type as stored: a request's type, or `digest` for a digest the engine made. */
export type StoredMessageType = MessageType | 'digest';

/** The channels the engine can send on. */
export type MessageChannel = 'email' | 'sms' | 'whatsapp';

/** How urgent a communication is; drives channel choice and whether quiet hours apply. */
export type UrgencyLevel = 'low' | 'normal' | 'high' | 'critical';

/** The life of a communication (see ARCHITECTURE.md, "Status"). */
export type CommunicationStatus =
  | 'pending'
  | 'scheduled'
  | 'batched'
  | 'queued'
  | 'sending'
  | 'sent'
  | 'delivered'
  | 'opened'
  | 'clicked'
  | 'responded'
  | 'failed'
  | 'cancelled'
  | 'bounced';

/** What kind of failure a provider error is. */
export type ErrorCategory = 'transient' | 'rate_limit' | 'permanent' | 'auth_failure';

/** Any JSON value. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
/** A JSON object (template variables, metadata). */
export type JsonObject = { [key: string]: JsonValue };

/** Contact details sent along with a request; stored encrypted with the client's preferences. */
export interface Recipient {
  email?: string;
  /** E.164, e.g. `+14155550123`. */
  phone?: string;
  /** An IANA time zone, e.g. `Europe/Lisbon`. */
  timezone?: string;
}

/**
 * The body of `POST /api/crm/communications` (and each item of a batch). Only `clientId`,
 * `planId` and `messageType` are required; the engine fills in the rest.
 *
 * @example
 * const request: CommunicationRequest = {
 *   clientId: 'client-42', planId: 'plan-7', messageType: 'budget_summary',
 *   variables: { clientName: 'Ada', total: 18500, currency: 'EUR' },
 * };
 */
export interface CommunicationRequest {
  /** 1–128 of `A-Z a-z 0-9 _ . : -`; an opaque id, never an address. */
  clientId: string;
  planId: string;
  messageType: MessageType;
  /** Default `normal`. */
  urgency?: UrgencyLevel;
  /**
   * Template variables (JSON values; typed loosely so that your own interfaces fit); stored in
   * PostgreSQL only.
   */
  variables?: Record<string, unknown>;
  /** Forces a channel; `null` (the default) lets the strategy choose. */
  channel?: MessageChannel | null;
  /** Earliest send time, ISO 8601 with an offset. */
  sendAt?: string | null;
  /** Up to 255 characters; the same key with the same body returns the first communication. */
  idempotencyKey?: string | null;
  /** JSON values stored with the communication and sent back in every `communication.*` event. */
  metadata?: Record<string, unknown>;
  recipient?: Recipient | null;
  /** Up to 10 ids returned by {@link CrmClient.uploadAttachment}. */
  attachments?: string[];
}

/** Whether a request made a new communication or found the one of its idempotency key. */
export type SendOutcome = 'created' | 'duplicate';

/** The answer to `send`: 202 (`created`) or 200 (`duplicate`, nothing new stored). */
export interface SendResult {
  id: string;
  status: CommunicationStatus;
  outcome: SendOutcome;
}

/** One item of the answer to `sendBatch`, in the order of the request. */
export interface BatchItemResult {
  index: number;
  id: string;
  status: CommunicationStatus;
  outcome: SendOutcome;
}

export interface BatchResult {
  items: BatchItemResult[];
}

/** The last error of a communication. */
export interface CommunicationError {
  code: string | null;
  category: ErrorCategory | null;
  message: string;
}

/** A communication as the history lists it (`GET /api/crm/communications`). */
export interface CommunicationSummary {
  id: string;
  clientId: string;
  planId: string;
  messageType: StoredMessageType;
  urgency: UrgencyLevel;
  status: CommunicationStatus;
  channel: MessageChannel | null;
  channelsTried: MessageChannel[];
  attemptCount: number;
  requestedChannel: MessageChannel | null;
  sendAt: string | null;
  scheduledFor: string | null;
  idempotencyKey: string | null;
  providerMessageId: string | null;
  lastError: CommunicationError | null;
  failureReason: string | null;
  /** Why these channels and this time. */
  strategyReason: string | null;
  /** The digest this message waits in (`scheduled`) or went out in (`batched`). */
  digestId: string | null;
  /** The email copy of a critical message: the message it copies. */
  copyOf: string | null;
  attachments: string[];
  metadata: JsonObject;
  createdAt: string;
  updatedAt: string;
  /** Status stamps (ISO 8601, UTC), present once the communication has been there. */
  scheduledAt?: string;
  queuedAt?: string;
  sendingAt?: string;
  sentAt?: string;
  deliveredAt?: string;
  openedAt?: string;
  clickedAt?: string;
  respondedAt?: string;
  failedAt?: string;
  cancelledAt?: string;
  bouncedAt?: string;
}

/** One entry of a communication's delivery log. */
export interface DeliveryLogEntry {
  id: string;
  event: string;
  fromStatus: CommunicationStatus | null;
  toStatus: CommunicationStatus | null;
  channel: MessageChannel | null;
  attempt: number | null;
  provider: string | null;
  providerMessageId: string | null;
  providerEventId: string | null;
  errorCode: string | null;
  errorCategory: ErrorCategory | null;
  errorMessage: string | null;
  latencyMs: number | null;
  detail: JsonObject;
  createdAt: string;
}

/** One communication with its variables and delivery log (oldest entry first). */
export interface CommunicationDetail extends CommunicationSummary {
  variables: JsonObject;
  deliveryLog: DeliveryLogEntry[];
}

/** One value or several (sent as `a,b`). */
export type OneOrMany<T> = T | readonly T[];

/** The filters of `history` (all optional, combined with AND). */
export interface HistoryFilters {
  planId?: string;
  clientId?: string;
  channel?: OneOrMany<MessageChannel>;
  status?: OneOrMany<CommunicationStatus>;
  messageType?: OneOrMany<StoredMessageType>;
  /** Created at or after (ISO 8601 with an offset, or a Date). */
  from?: string | Date;
  /** Created before. */
  to?: string | Date;
  /** 1–500, default 50. */
  limit?: number;
  /** The `nextCursor` of the previous page. */
  cursor?: string | null;
}

/** One page of the history, newest first. `nextCursor` is `null` on the last page. */
export interface HistoryPage {
  items: CommunicationSummary[];
  nextCursor: string | null;
}

/** Quiet hours as local `HH:MM` times; `end` before `start` crosses midnight. */
export interface QuietHours {
  start: string;
  end: string;
}

/**
 * The body of `POST /api/crm/preferences`: the client's id and at least one preference. A field
 * left out keeps its stored value; `null` resets `channels`, `timezone`, `quietHours` to the
 * configured defaults and removes `email` or `phone`.
 */
export interface PreferencesInput {
  clientId: string;
  channels?: MessageChannel[] | null;
  timezone?: string | null;
  quietHours?: QuietHours | null;
  optOuts?: MessageChannel[];
  /** A language tag such as `en` or `pt-BR`. */
  language?: string;
  batching?: boolean;
  email?: string | null;
  /** International form; stored as E.164. */
  phone?: string | null;
}

/** A client's preferences as the engine answers them (configured defaults filled in). */
export interface Preferences {
  clientId: string;
  /** `false`: the engine has never stored anything for this client. */
  known: boolean;
  channels: MessageChannel[];
  timezone: string;
  quietHours: QuietHours | null;
  optOuts: MessageChannel[];
  language: string;
  batching: boolean;
  email: string | null;
  phone: string | null;
  /** The address bounced and is not used for email until it changes. */
  emailSuppressed: boolean;
  /** The fields the client never stated: they show the configured defaults. */
  defaults: ('channels' | 'timezone' | 'quietHours')[];
}

/** The filters of `analytics`. Days are UTC `YYYY-MM-DD`, both ends included (default: the last 30 days). */
export interface AnalyticsFilters {
  from?: string;
  to?: string;
  channel?: MessageChannel;
  messageType?: StoredMessageType;
  planId?: string;
}

/** Counts and rates of a group of communications; a rate is `null` when its denominator is 0. */
export interface AnalyticsMetrics {
  total: number;
  sent: number;
  delivered: number;
  opened: number;
  openedHuman: number;
  clicked: number;
  responded: number;
  failed: number;
  bounced: number;
  cancelled: number;
  responseCount: number;
  responseTimeSumSeconds: number;
  deliveryRate: number | null;
  openRate: number | null;
  humanOpenRate: number | null;
  clickRate: number | null;
  responseRate: number | null;
  avgResponseSeconds: number | null;
  medianResponseSeconds: number | null;
}

/** One step of the funnel sent → delivered → opened → clicked → responded. */
export interface FunnelStep {
  stage: 'sent' | 'delivered' | 'opened' | 'clicked' | 'responded';
  count: number;
  rateOfSent: number | null;
  rateOfPrevious: number | null;
}

/** How clients' preferences are spread (no personal data). */
export interface PreferenceDistribution {
  clients: number;
  firstChoice: { channel: MessageChannel | 'default'; clients: number }[];
  timezones: { timezone: string; clients: number }[];
  optOuts: { channel: MessageChannel; clients: number }[];
  quietHoursSet: number;
  batching: number;
  languages: { language: string; clients: number }[];
}

/** The answer of `GET /api/crm/analytics`. */
export interface AnalyticsReport {
  filters: { from: string; to: string; channel?: MessageChannel; messageType?: StoredMessageType; planId?: string };
  /** `rollups`, or `communications` when filtered by plan. */
  source: 'rollups' | 'communications';
  overall: AnalyticsMetrics;
  byChannel: (AnalyticsMetrics & { channel: MessageChannel })[];
  byMessageType: (AnalyticsMetrics & { messageType: StoredMessageType })[];
  byDay: (AnalyticsMetrics & { day: string })[];
  funnel: FunnelStep[];
  preferences: PreferenceDistribution;
}

/** The file types an attachment may have (checked by the engine against the file's magic bytes). */
export type AttachmentContentType = 'application/pdf' | 'image/png' | 'image/jpeg';

/** The input of `uploadAttachment`. */
export interface AttachmentUpload {
  /** 1–200 characters, no `/` or `\`, no control characters. */
  filename: string;
  contentType: AttachmentContentType;
  /** The file's bytes (a Buffer is a Uint8Array). */
  data: Uint8Array | ArrayBuffer | Blob;
}

/** An uploaded file: list its `id` in a request's `attachments`. */
export interface Attachment {
  id: string;
  filename: string;
  contentType: AttachmentContentType;
  /** Bytes. */
  size: number;
  /** SHA-256 of the content, hex. */
  sha256: string;
}

/** The event types the engine POSTs to subscriptions. */
export type CrmEventType =
  | 'communication.sent'
  | 'communication.delivered'
  | 'communication.failed'
  | 'communication.responded'
  | 'client.replied';

/** The input of `callbacks.create`. */
export interface CallbackInput {
  /** Where the engine POSTs the events. */
  url: string;
  events: CrmEventType[];
  /** The signing secret; the engine generates one (`whsec_…`) when left out. */
  secret?: string;
}

/** A subscription as listed (no secret). */
export interface CallbackSubscription {
  id: string;
  url: string;
  events: CrmEventType[];
  createdAt: string;
}

/** A subscription just created, with its secret: the only time the engine shows it. */
export interface CreatedCallbackSubscription extends CallbackSubscription {
  secret: string;
}

/** `data` of the `communication.*` events. */
export interface CommunicationEventData {
  communicationId: string;
  clientId: string;
  planId: string;
  messageType: StoredMessageType;
  status: CommunicationStatus;
  channel: MessageChannel | null;
  channelsTried: MessageChannel[];
  failureReason: string | null;
  /** The request's metadata object, e.g. `{ workflowRunId }`. */
  metadata: JsonObject;
  at: string;
}

/** `data` of `client.replied`: a client's answer by SMS or WhatsApp. */
export interface ClientRepliedData {
  inboundId: string;
  /** `null` when the sender is not a known client. */
  clientId: string | null;
  planId: string | null;
  /** The message it answered, or `null`. */
  communicationId: string | null;
  channel: 'sms' | 'whatsapp';
  text: string | null;
  /** The option number the client chose (e.g. 2), or `null`. */
  selection: number | null;
  at: string;
}

interface CrmEventBase<T extends CrmEventType, D> {
  /** Stable across retries and redeliveries: deduplicate on it. */
  id: string;
  type: T;
  createdAt: string;
  data: D;
}

export type CommunicationSentEvent = CrmEventBase<'communication.sent', CommunicationEventData>;
export type CommunicationDeliveredEvent = CrmEventBase<'communication.delivered', CommunicationEventData>;
/** Also for bounced messages (`data.status` is then `bounced`). */
export type CommunicationFailedEvent = CrmEventBase<'communication.failed', CommunicationEventData>;
export type CommunicationRespondedEvent = CrmEventBase<'communication.responded', CommunicationEventData>;
export type ClientRepliedEvent = CrmEventBase<'client.replied', ClientRepliedData>;

/**
 * An event the engine POSTs to a subscription, discriminated by `type`.
 *
 * @example
 * if (event.type === 'client.replied') resume(event.data.communicationId, event.data.selection);
 */
export type CrmEvent =
  | CommunicationSentEvent
  | CommunicationDeliveredEvent
  | CommunicationFailedEvent
  | CommunicationRespondedEvent
  | ClientRepliedEvent;

/** One bad field of a problem answer. */
export interface ProblemField {
  /** E.g. `messageType`, `items.3.recipient`, `cursor`. */
  field: string;
  in?: 'body' | 'query' | 'params' | 'header';
  message: string;
}

/** An RFC 9457 problem document as the engine answers it. */
export interface ProblemDocument {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  code?: string;
  errors?: ProblemField[];
}
