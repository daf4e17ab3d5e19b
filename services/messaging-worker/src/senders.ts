import type { ChannelSender } from '@crm/delivery';
import { ProviderError, type SmsClient, type WhatsAppClient } from '@crm/providers';
import { renderPlainText } from './render-plain-text';

export interface SmsSenderOptions {
  /**
   * Base of the URL Twilio posts this message's status changes to; the sender adds
   * `/webhooks/twilio/status?cid=<communication id>`. Left out, no StatusCallback is sent.
   */
  readonly publicBaseUrl?: string;
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

/**
 * SMS through Twilio as a {@link ChannelSender}: a short plain text ({@link renderPlainText}),
 * with the communication id in the StatusCallback URL.
 */
export function smsSender(client: SmsClient, options: SmsSenderOptions = {}): ChannelSender {
  return {
    channel: 'sms',
    provider: 'twilio',
    async send({ communication, contact }) {
      if (!contact.phone) throw noPhone('twilio');
      const receipt = await client.send({
        to: contact.phone,
        body: renderPlainText(communication.message_type, communication.variables, 'sms'),
        ...(options.publicBaseUrl !== undefined && { statusCallback: twilioStatusCallbackUrl(options.publicBaseUrl, communication.id) }),
      });
      return { providerMessageId: receipt.providerMessageId, ...(receipt.detail && { detail: receipt.detail }) };
    },
  };
}

/**
 * WhatsApp through the Cloud API as a {@link ChannelSender}: a text message, with the
 * communication id as `biz_opaque_callback_data` (it comes back in Meta's status webhooks).
 */
export function whatsAppSender(client: WhatsAppClient): ChannelSender {
  return {
    channel: 'whatsapp',
    provider: 'whatsapp',
    async send({ communication, contact }) {
      if (!contact.phone) throw noPhone('whatsapp');
      const receipt = await client.send({
        to: contact.phone,
        text: renderPlainText(communication.message_type, communication.variables, 'whatsapp'),
        callbackData: communication.id,
      });
      return { providerMessageId: receipt.providerMessageId, ...(receipt.detail && { detail: receipt.detail }) };
    },
  };
}
