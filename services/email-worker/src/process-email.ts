import type { Kysely } from 'kysely';
import { instrumentEmailHtml, isEmailBounce, listUnsubscribeHeaders, unsubscribeUrl } from '@crm/core';
import { loadAttachments, MissingAttachmentError, suppressEmail, type Database } from '@crm/db';
import { ProviderError, type EmailAttachment, type EmailTransport } from '@crm/providers';
import { deliverAttempt, type AttemptOutcome, type ChannelSender, type DeliveryDeps, type PreferencesCache, type SendReceipt, type TemplateStore } from '@crm/delivery';
import { MissingTemplateVariablesError } from '@crm/templates';
import { renderPlainEmail } from './render-plain-email';

/** What every email carries besides its template (config.email and PUBLIC_BASE_URL). */
export interface EmailContentSettings {
  /** The current templates (crm_communication_templates, cached). */
  readonly templates: TemplateStore;
  /** Public URL of ingest: tracking and unsubscribe links point there. */
  readonly publicBaseUrl: string;
  readonly trackingSecret: string;
  /** Open pixel and click rewriting on or off; unsubscribe links are always there. */
  readonly tracking: boolean;
  readonly postalAddress: string;
  readonly unsubscribeMailto: string;
}

export interface EmailDeps extends DeliveryDeps {
  readonly transport: EmailTransport;
  /** Domain of generated Message-IDs. @defaultValue 'crm-engine.local' */
  readonly messageIdDomain?: string;
  /**
   * Templates, tracking and compliance headers. Without them the worker sends the plain-text
   * skeleton message (pipeline tests that are not about content).
   */
  readonly content?: EmailContentSettings;
}

/** The communication's files, in order; a file that is gone is a permanent failure. */
async function attachmentsOf(db: Kysely<Database> | undefined, ids: readonly string[]): Promise<EmailAttachment[]> {
  if (ids.length === 0 || !db) return [];
  try {
    return (await loadAttachments(db, ids)).map((a) => ({ filename: a.filename, contentType: a.contentType, content: a.content }));
  } catch (error) {
    if (error instanceof MissingAttachmentError) {
      throw new ProviderError({ provider: 'smtp', category: 'permanent', code: 'attachment_missing', message: 'an attachment of this communication is no longer stored' });
    }
    throw error;
  }
}

const schemeOf = (url: string): string => /^([a-z][a-z0-9+.-]*):/i.exec(url.trim())?.[1]?.toLowerCase() ?? 'relative';

/**
 * The `href` and `src` values of `html` that are not https, mailto:, tel: or cid: (and not under
 * the engine's own public URL, which is plain http in development). Cheap (one regular
 * expression over the rendered HTML), unlike a full validate_html, which the template tests run.
 */
export function unsafeLinks(html: string, ownBaseUrl: string): string[] {
  const found: string[] = [];
  for (const match of html.matchAll(/\s(?:href|src)\s*=\s*(?:"([^"]*)"|'([^']*)')/gi)) {
    const url = (match[1] ?? match[2] ?? '').replace(/&amp;/g, '&').trim();
    if (/^(https:|mailto:|tel:|cid:)/i.test(url) || url.startsWith(`${ownBaseUrl}/`)) continue;
    found.push(url);
  }
  return found;
}

/** An SMTP reply that means the address does not take mail. */
const isBounce = (error: unknown): error is ProviderError => error instanceof ProviderError && isEmailBounce(error.category, error.code);

/**
 * The email channel as a {@link ChannelSender}: renders the communication from its template (or
 * the plain skeleton), adds the unsubscribe headers and footer link, the open pixel and tracked
 * links, attaches its files, and hands it to the SMTP transport.
 *
 * - A client without an email address, or whose address bounced before, is a permanent failure
 *   of this channel (the strategy normally never picks email for them).
 * - A render that lacks required variables is a permanent failure naming them (not their values).
 * - An SMTP 5xx reply suppresses the address for email (it bounced) before the failure goes on
 *   to the fallback.
 */
export function emailSender(
  transport: EmailTransport,
  options: { readonly db?: Kysely<Database>; readonly messageIdDomain?: string; readonly content?: EmailContentSettings; readonly preferencesCache?: PreferencesCache } = {},
): ChannelSender {
  const messageIdDomain = options.messageIdDomain ?? 'crm-engine.local';
  return {
    channel: 'email',
    provider: 'smtp',
    async send({ communication, contact }): Promise<SendReceipt> {
      if (!contact.email) {
        throw new ProviderError({ provider: 'smtp', category: 'permanent', code: 'no_email_address', message: 'the client has no email address' });
      }
      const id = communication.id;
      const content = options.content;
      let subject: string;
      let text: string;
      let html: string | undefined;
      let headers: Record<string, string> = { 'X-CRM-Communication-Id': id };
      let template: SendReceipt['template'];
      if (content) {
        const { version, compiled } = await content.templates.get(communication.message_type);
        const context = { unsubscribeUrl: unsubscribeUrl(content.publicBaseUrl, content.trackingSecret, id), postalAddress: content.postalAddress };
        let rendered;
        try {
          rendered = compiled.render(communication.variables, context);
        } catch (error) {
          if (error instanceof MissingTemplateVariablesError) {
            throw new ProviderError({ provider: 'smtp', category: 'permanent', code: 'template_variables_missing', message: `template ${communication.message_type} v${version.version} needs ${error.missing.join(', ')}` });
          }
          throw error;
        }
        const unsafe = unsafeLinks(rendered.html, content.publicBaseUrl);
        if (unsafe.length > 0) {
          // A variable put a javascript:, data: or plain-http URL into a link or image: refuse to
          // send it rather than mail it (the scheme alone is logged, not the URL).
          throw new ProviderError({ provider: 'smtp', category: 'permanent', code: 'unsafe_link', message: `template ${communication.message_type}: links must be https, mailto: or tel: (found ${[...new Set(unsafe.map(schemeOf))].join(', ')})` });
        }
        subject = rendered.subject;
        text = rendered.text;
        html = instrumentEmailHtml(rendered.html, { communicationId: id, baseUrl: content.publicBaseUrl, secret: content.trackingSecret, tracking: content.tracking });
        headers = { ...headers, ...listUnsubscribeHeaders({ baseUrl: content.publicBaseUrl, secret: content.trackingSecret, communicationId: id, mailto: content.unsubscribeMailto }) };
        template = { id: version.id, version: version.version };
      } else {
        ({ subject, text } = renderPlainEmail(communication.message_type, communication.variables));
      }
      const attachments = await attachmentsOf(options.db, communication.attachment_ids);
      try {
        const sent = await transport.send({
          to: contact.email,
          subject,
          text,
          ...(html !== undefined && { html }),
          // One Message-ID per communication: a resend after a crash carries the same id, so a
          // receiving system that deduplicates by Message-ID shows it once.
          messageId: `<${id}@${messageIdDomain}>`,
          headers,
          ...(attachments.length > 0 && { attachments }),
        });
        return {
          providerMessageId: sent.messageId,
          detail: { response: sent.response, ...(template && { templateVersion: template.version }), ...(attachments.length > 0 && { attachments: attachments.length }) },
          ...(template && { template }),
        };
      } catch (error) {
        if (isBounce(error) && options.db) {
          await suppressEmail(options.db, { clientId: communication.client_id, reason: `smtp ${error.code ?? ''}`.trim() });
          // Committed: the cached routing preferences still show the address as usable.
          await options.preferencesCache?.invalidate([communication.client_id]);
        }
        throw error;
      }
    },
  };
}

/** The {@link emailSender} an email worker with `deps` uses. */
export function emailSenderFor(deps: EmailDeps): ChannelSender {
  return emailSender(deps.transport, {
    db: deps.db,
    ...(deps.messageIdDomain !== undefined && { messageIdDomain: deps.messageIdDomain }),
    ...(deps.content && { content: deps.content }),
    ...(deps.preferencesCache && { preferencesCache: deps.preferencesCache }),
  });
}

/**
 * Sends one email attempt for a `crm.email` job through the shared delivery protocol
 * ({@link deliverAttempt}): claimed on the row, sent through the SMTP breaker, recorded, then
 * retried or handed to the fallback by error category.
 */
export async function processEmail(deps: EmailDeps, communicationId: string, attempt: number, sender = emailSenderFor(deps)): Promise<AttemptOutcome> {
  return deliverAttempt(deps, { communicationId, attempt, channel: 'email' }, sender);
}
