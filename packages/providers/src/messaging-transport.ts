import type { JsonObject } from '@crm/core';

/** What a provider answered when it accepted a message. */
export interface AcceptedMessage {
  /** The provider's id of the message: a Twilio SID (`SM…`) or a WhatsApp id (`wamid.…`). */
  readonly providerMessageId: string;
  /** A few non-personal facts from the answer (e.g. Twilio's `status`), for the delivery log. */
  readonly detail?: JsonObject;
}

/** One SMS, ready to send. */
export interface OutgoingSms {
  /** E.164, e.g. `+14155550123`. */
  readonly to: string;
  readonly body: string;
  /** Where Twilio posts status changes of this message (absolute URL). */
  readonly statusCallback?: string;
}

/**
 * What the messaging worker needs from Twilio, and no more. Failures are thrown as
 * `ProviderError` (provider `twilio`) with their category.
 */
export interface SmsClient {
  send(message: OutgoingSms): Promise<AcceptedMessage>;
}

/** One WhatsApp text message, ready to send (the original shape, without `kind`). */
export interface OutgoingWhatsAppText {
  /** The recipient's phone number, E.164 (with or without `+`). */
  readonly to: string;
  readonly text: string;
  /**
   * Meta's `biz_opaque_callback_data`: an opaque string (at most 512 characters) that comes
   * back in the status webhooks of this message. The engine puts the communication id here.
   */
  readonly callbackData?: string;
}

/** What every kind of outgoing WhatsApp message has. */
interface OutgoingWhatsAppBase {
  /** The recipient's phone number, E.164 (with or without `+`). */
  readonly to: string;
  /** `biz_opaque_callback_data` (see {@link OutgoingWhatsAppText.callbackData}). */
  readonly callbackData?: string;
}

/** A plain text message. */
export interface OutgoingWhatsAppTextMessage extends OutgoingWhatsAppBase {
  readonly kind: 'text';
  /** At most 4,096 characters. */
  readonly text: string;
}

/** One reply button: `id` comes back in the `button_reply` of the client's answer. */
export interface WhatsAppReplyButton {
  /** Unique within the message, at most 256 characters. */
  readonly id: string;
  /** The label, 1–20 characters. */
  readonly title: string;
}

/** An interactive message with one to three reply buttons. */
export interface OutgoingWhatsAppButtons extends OutgoingWhatsAppBase {
  readonly kind: 'buttons';
  /** At most 1,024 characters. */
  readonly body: string;
  /** At most 60 characters. */
  readonly footer?: string;
  /** One to three. */
  readonly buttons: readonly WhatsAppReplyButton[];
}

/** One row of a list message: `id` comes back in the `list_reply` of the client's answer. */
export interface WhatsAppListRow {
  /** Unique within the message, at most 200 characters. */
  readonly id: string;
  /** At most 24 characters. */
  readonly title: string;
  /** At most 72 characters. */
  readonly description?: string;
}

/** An interactive list message: one section of one to ten rows behind a button. */
export interface OutgoingWhatsAppList extends OutgoingWhatsAppBase {
  readonly kind: 'list';
  /** At most 1,024 characters. */
  readonly body: string;
  /** At most 60 characters. */
  readonly footer?: string;
  /** The label of the button that opens the list, at most 20 characters. */
  readonly buttonLabel: string;
  /** The section's title, at most 24 characters (optional with one section). */
  readonly sectionTitle?: string;
  /** One to ten. */
  readonly rows: readonly WhatsAppListRow[];
}

/**
 * An approved template message: the only kind WhatsApp delivers outside the 24-hour
 * customer-service window (error 131047).
 */
export interface OutgoingWhatsAppTemplate extends OutgoingWhatsAppBase {
  readonly kind: 'template';
  /** The approved template's name, `^[a-z0-9_]{1,512}$`. */
  readonly name: string;
  /** The template's language code, e.g. `en_US`, `de`. */
  readonly language: string;
  /** The values of the body's `{{1}}`, `{{2}}`, …, in order. */
  readonly bodyParameters: readonly string[];
}

/** Every kind of WhatsApp message the engine sends. */
export type OutgoingWhatsApp = OutgoingWhatsAppTextMessage | OutgoingWhatsAppButtons | OutgoingWhatsAppList | OutgoingWhatsAppTemplate;

/**
 * What the messaging worker needs from the WhatsApp Cloud API, and no more. A message without
 * `kind` is a text ({@link OutgoingWhatsAppText}). Failures are thrown as `ProviderError`
 * (provider `whatsapp`) with their category.
 */
export interface WhatsAppClient {
  send(message: OutgoingWhatsApp | OutgoingWhatsAppText): Promise<AcceptedMessage>;
}
