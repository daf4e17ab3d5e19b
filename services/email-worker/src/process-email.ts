import { ProviderError, type EmailTransport } from '@crm/providers';
import { deliverAttempt, type AttemptOutcome, type ChannelSender, type DeliveryDeps } from '@crm/delivery';
import { renderPlainEmail } from './render-plain-email';

export interface EmailDeps extends DeliveryDeps {
  readonly transport: EmailTransport;
  /** Domain of generated Message-IDs. @defaultValue 'crm-engine.local' */
  readonly messageIdDomain?: string;
}

/**
 * The email channel as a {@link ChannelSender}: renders the communication and hands it to the
 * SMTP transport. A client without an email address is a permanent failure of this channel
 * (the strategy normally never picks email for them; their address may have been erased since).
 */
export function emailSender(transport: EmailTransport, messageIdDomain = 'crm-engine.local'): ChannelSender {
  return {
    channel: 'email',
    provider: 'smtp',
    async send({ communication, contact }) {
      if (!contact.email) {
        throw new ProviderError({ provider: 'smtp', category: 'permanent', code: 'no_email_address', message: 'the client has no email address' });
      }
      const email = renderPlainEmail(communication.message_type, communication.variables);
      const sent = await transport.send({
        to: contact.email,
        subject: email.subject,
        text: email.text,
        // One Message-ID per communication: a resend after a crash carries the same id, so a
        // receiving system that deduplicates by Message-ID shows it once.
        messageId: `<${communication.id}@${messageIdDomain}>`,
        headers: { 'X-CRM-Communication-Id': communication.id },
      });
      return { providerMessageId: sent.messageId, detail: { response: sent.response } };
    },
  };
}

/**
 * Sends one email attempt for a `crm.email` job through the shared delivery protocol
 * ({@link deliverAttempt}): claimed on the row, sent through the SMTP breaker, recorded, then
 * retried or handed to the fallback by error category.
 */
export async function processEmail(deps: EmailDeps, communicationId: string, attempt: number, sender = emailSender(deps.transport, deps.messageIdDomain)): Promise<AttemptOutcome> {
  return deliverAttempt(deps, { communicationId, attempt, channel: 'email' }, sender);
}
