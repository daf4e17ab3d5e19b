import type { Kysely } from 'kysely';
import type { JsonObject } from '@crm/core';
import { recordProviderOptOut, whatsAppSessionOf, type Database, type PiiKeys } from '@crm/db';
import type { ChannelSender, PreferencesCache, SendReceipt } from '@crm/delivery';
import type { Logger } from '@crm/observability';
import {
  isOutsideCustomerServiceWindow,
  isTwilioOptOut,
  ProviderError,
  type AcceptedMessage,
  type OutgoingWhatsApp,
  type SmsClient,
  type WhatsAppClient,
} from '@crm/providers';
import { composeSms, composeWhatsApp, whatsAppTemplateMessage, type WhatsAppContent } from '@crm/templates';

export interface SmsSenderOptions {
  /**
   * Base of the URL Twilio posts this message's status changes to; the sender adds
   * `/webhooks/twilio/status?cid=<communication id>`. Left out, no StatusCallback is sent.
   */
  readonly publicBaseUrl?: string;
  /** Where a provider-reported opt-out (Twilio 21610) is recorded. Left out, it is not. */
  readonly db?: Kysely<Database>;
  readonly logger?: Logger;
  /** Invalidated after recording such an opt-out. @defaultValue none */
  readonly preferencesCache?: PreferencesCache;
}

/**
 * The status callback URL of one communication: ingest's Twilio status webhook with the
 * communication id as `cid`, so a callback (and the sandbox's outbox) names its communication.
 *
 * @example twilioStatusCallbackUrl('https://crm.example.com', id) // 'https://crm.example.com/webhooks/twilio/status?cid=…'
 */
export function twilioStatusCallbackUrl(publicBaseUrl: string, communicationId: string): string {
  const url = new URL('webhooks/twilio/status', publicBaseUrl.endsWith('/') ? publicBaseUrl : `${publicBaseUrl}/`);
  url.searchParams.set('cid', communicationId);
  return url.href;
}

/** No phone number for this client (erased since, or never given): this channel cannot work. */
const noPhone = (provider: string): ProviderError =>
  new ProviderError({ provider, category: 'permanent', code: 'no_phone_number', message: 'the client has no phone number' });

const receiptOf = (accepted: AcceptedMessage, detail: JsonObject): SendReceipt => ({
  providerMessageId: accepted.providerMessageId,
  detail: { ...(accepted.detail ?? {}), ...detail },
});

/**
 * SMS through Twilio as a {@link ChannelSender}: the message type's text template composed to
 * one segment where it fits (`composeSms`: 160 GSM-7 or 70 UCS-2 characters), with the
 * communication id in the StatusCallback URL. The delivery log gets the template, encoding and
 * segment count. Twilio's 21610 ("the recipient replied STOP") also records the opt-out, so the
 * strategy stops choosing SMS for the client; the error then falls back as `permanent`.
 */
export function smsSender(client: SmsClient, options: SmsSenderOptions = {}): ChannelSender {
  return {
    channel: 'sms',
    provider: 'twilio',
    async send({ communication, contact }) {
      if (!contact.phone) throw noPhone('twilio');
      const text = composeSms(communication.message_type, communication.variables);
      try {
        const accepted = await client.send({
          to: contact.phone,
          body: text.body,
          ...(options.publicBaseUrl !== undefined && { statusCallback: twilioStatusCallbackUrl(options.publicBaseUrl, communication.id) }),
        });
        return receiptOf(accepted, { textTemplate: text.template, encoding: text.encoding, segments: text.segments });
      } catch (error) {
        if (isTwilioOptOut(error) && options.db) {
          const changed = await recordProviderOptOut(options.db, communication.client_id, 'sms');
          if (changed) await options.preferencesCache?.invalidate([communication.client_id]);
          options.logger?.info({ communicationId: communication.id, changed }, 'Twilio says the recipient opted out (21610): SMS opt-out recorded');
        }
        throw error;
      }
    },
  };
}

export interface WhatsAppSenderOptions {
  /** Reads when the client last wrote (the 24-hour window) and their language. */
  readonly db: Kysely<Database>;
  readonly keys: PiiKeys;
  readonly logger?: Logger;
  /** @defaultValue () => new Date() */
  readonly now?: () => Date;
}

/** WhatsApp's customer-service window: free-form messages only this long after the client last wrote. */
export const CUSTOMER_SERVICE_WINDOW_MS = 24 * 3_600_000;

/** The free-form content as a Cloud API message. */
function freeForm(content: WhatsAppContent, to: string, callbackData: string): OutgoingWhatsApp {
  switch (content.kind) {
    case 'text':
      return { kind: 'text', to, text: content.body, callbackData };
    case 'buttons':
      return { kind: 'buttons', to, body: content.body, buttons: content.buttons, callbackData, ...(content.footer !== undefined && { footer: content.footer }) };
    case 'list':
      return { kind: 'list', to, body: content.body, buttonLabel: content.buttonLabel, rows: content.rows, callbackData, ...(content.footer !== undefined && { footer: content.footer }) };
  }
}

/**
 * WhatsApp through the Cloud API as a {@link ChannelSender}, with the communication id as
 * `biz_opaque_callback_data` (it comes back in Meta's status webhooks).
 *
 * Inside the 24-hour customer-service window (the client's number wrote to us on WhatsApp less
 * than 24 h ago) it sends the formatted message (`composeWhatsApp`: bold title, lists, reply
 * buttons or a list for vendor options). Outside it, WhatsApp delivers only approved templates,
 * so it sends the message type's template (`crm_<type>` in the client's language) instead; and
 * when Meta answers 131047 (the window closed meanwhile, or we did not see the last message) it
 * re-sends at once as the template, in the same attempt. The delivery log says which was sent.
 */
export function whatsAppSender(client: WhatsAppClient, options: WhatsAppSenderOptions): ChannelSender {
  const now = options.now ?? (() => new Date());
  return {
    channel: 'whatsapp',
    provider: 'whatsapp',
    async send({ communication, contact }) {
      if (!contact.phone) throw noPhone('whatsapp');
      const { id, message_type: type, variables } = communication;
      const session = await whatsAppSessionOf(options.db, options.keys, { clientId: communication.client_id, phone: contact.phone });
      const asTemplate = async (reason: string): Promise<SendReceipt> => {
        const template = whatsAppTemplateMessage(type, variables, session.language);
        const accepted = await client.send({ kind: 'template', to: contact.phone!, name: template.name, language: template.language, bodyParameters: template.bodyParameters, callbackData: id });
        return receiptOf(accepted, { kind: 'template', approvedTemplate: template.name, language: template.language, why: reason });
      };
      const inWindow = session.lastInboundAt !== null && now().getTime() - session.lastInboundAt.getTime() < CUSTOMER_SERVICE_WINDOW_MS;
      if (!inWindow) return asTemplate('outside_24h_window');

      const content = composeWhatsApp(type, variables);
      try {
        const accepted = await client.send(freeForm(content, contact.phone, id));
        return receiptOf(accepted, { kind: content.kind, textTemplate: content.template });
      } catch (error) {
        if (!isOutsideCustomerServiceWindow(error)) throw error;
        options.logger?.info({ communicationId: id }, 'WhatsApp answered 131047 (outside the 24-hour window): re-sending as the approved template');
        return asTemplate('error_131047');
      }
    },
  };
}
