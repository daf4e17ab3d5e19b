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

/** One WhatsApp text message, ready to send. */
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

/**
 * What the messaging worker needs from the WhatsApp Cloud API, and no more. Failures are thrown
 * as `ProviderError` (provider `whatsapp`) with their category.
 */
export interface WhatsAppClient {
  send(message: OutgoingWhatsAppText): Promise<AcceptedMessage>;
}
