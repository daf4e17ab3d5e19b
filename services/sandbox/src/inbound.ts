import { randomBytes } from 'node:crypto';
import { smsSegments } from '@crm/core';
import type { Logger } from '@crm/observability';
import { waIdOf, type CustomerServiceWindow } from './customer-service-window';
import { InboundError } from './inbound-error';
import type { SentMessages } from './sent-messages';
import type { SandboxSms } from './twilio';
import { parseTwimlMessages, signedTwilioRequest, twilioInboundParams } from './twilio-webhooks';
import { DEFAULT_WEBHOOK_RETRY_POLICY, postWebhook, type WebhookRetryPolicy } from './webhook-poster';
import type { SandboxWhatsAppMessage } from './whatsapp';
import { signedMetaRequest, whatsAppInboundPayload, type WhatsAppBusiness, type WhatsAppInboundContent } from './whatsapp-webhooks';

/** Where inbound messages go, and the WhatsApp app secret that signs them (Twilio's are signed with the auth token). */
export interface SandboxWebhooks {
  /** The number's "a message comes in" URL, e.g. `http://127.0.0.1:3000/webhooks/twilio/inbound`. */
  readonly twilioInboundUrl: string;
  /** The WhatsApp app's callback URL, e.g. `http://127.0.0.1:3000/webhooks/whatsapp` (statuses go there too). */
  readonly whatsappUrl: string;
  readonly whatsappAppSecret: string;
}

/** A client's SMS to the business. */
export interface InboundSmsInput {
  /** The client's number, E.164. */
  readonly from: string;
  readonly body: string;
  /** The business number written to. @defaultValue the configured sender number */
  readonly to?: string;
}

/** What came of an inbound SMS. */
export interface InboundSmsResult {
  /** The HTTP status ingest answered. */
  readonly status: number;
  /** The inbound message's SID (`SM…`). */
  readonly messageSid: string;
  /** The `<Message>`s of ingest's TwiML answer, stored in the SMS outbox as replies to `from`. */
  readonly replies: readonly SandboxSms[];
}

/** A client's WhatsApp message: exactly one of `text`, `buttonReply`, `listReply`. */
export interface InboundWhatsAppInput {
  /** The client's number (digits, with or without `+`). */
  readonly from: string;
  readonly text?: string;
  /** The reply button tapped; `title` defaults to the button's. */
  readonly buttonReply?: { readonly id: string; readonly title?: string };
  /** The list row picked; `title` and `description` default to the row's. */
  readonly listReply?: { readonly id: string; readonly title?: string; readonly description?: string };
  /**
   * The `wamid` replied to. A button or list reply defaults to the newest message sent to
   * `from` that had that button or row.
   */
  readonly contextMessageId?: string;
  /** The client's WhatsApp profile name. @defaultValue 'Sandbox Client' */
  readonly name?: string;
}

/** What came of an inbound WhatsApp message. */
export interface InboundWhatsAppResult {
  /** The HTTP status ingest last answered. */
  readonly status: number;
  /** The inbound message's id (`wamid.…`). */
  readonly messageId: string;
  /** `context.id` of the webhook, if any. */
  readonly contextMessageId: string | null;
  /** POSTs made (Meta retries a webhook that was not accepted). */
  readonly attempts: number;
}

/** What `GET /admin/callbacks` shows of inbound messages. */
export interface InboundCounts {
  readonly sms: number;
  readonly whatsapp: number;
  /** Inbound messages whose webhook was not accepted (non-2xx or unreachable). */
  readonly notAccepted: number;
  /** TwiML `<Message>` replies stored. */
  readonly replies: number;
}

export interface InboundSimulatorOptions {
  /** Without it, every inbound message fails with `SANDBOX_INBOUND_NOT_CONFIGURED`. */
  readonly webhooks?: SandboxWebhooks;
  readonly twilio: { readonly accountSid: string; readonly authToken: string; readonly fromNumber: string };
  readonly whatsapp: WhatsAppBusiness;
  /** The SMS outbox, where TwiML replies are stored. */
  readonly sms: SentMessages<SandboxSms>;
  /** The WhatsApp outbox, where a reply's context is looked up. */
  readonly whatsappMessages: SentMessages<SandboxWhatsAppMessage>;
  /** Inbound WhatsApp messages open the 24-hour window here. */
  readonly window: CustomerServiceWindow;
  readonly logger: Logger;
  /** @defaultValue Date.now */
  readonly clock?: () => number;
  /** Retries of a WhatsApp webhook not accepted (SMS webhooks are posted once, as Twilio does). */
  readonly retry?: Partial<WebhookRetryPolicy>;
}

const newSid = (): string => `SM${randomBytes(16).toString('hex')}`;
const newWamid = (): string => `wamid.${randomBytes(30).toString('base64')}`;

/** Whether a stored WhatsApp message offered `kind` option `id` (a reply button, or a list row). */
function offered(message: SandboxWhatsAppMessage, kind: 'button' | 'list', id: string): { title: string; description?: string } | null {
  if (message.type !== 'interactive' || message.interactive.type !== kind) return null;
  if (message.interactive.type === 'button') {
    const button = message.interactive.buttons.find((each) => each.id === id);
    return button ? { title: button.title } : null;
  }
  for (const section of message.interactive.sections) {
    const row = section.rows.find((each) => each.id === id);
    if (row) return { title: row.title, ...(row.description !== null && { description: row.description }) };
  }
  return null;
}

/**
 * Makes the sandbox play a client who writes back: an SMS posted to ingest's Twilio inbound
 * webhook, or a WhatsApp text / button reply / list reply posted to its WhatsApp webhook, each
 * signed as the provider signs it. Logs carry ids and statuses only, never a number or a text.
 *
 * @example
 * const { replies } = await inbound.sms({ from: '+14155550123', body: 'HELP' });
 * await inbound.whatsapp({ from: '+14155550123', buttonReply: { id: 'vendor-2' } });
 */
export class InboundSimulator {
  readonly #options: InboundSimulatorOptions;
  readonly #clock: () => number;
  readonly #retry: WebhookRetryPolicy;
  #counts = { sms: 0, whatsapp: 0, notAccepted: 0, replies: 0 };

  constructor(options: InboundSimulatorOptions) {
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
    this.#retry = Object.freeze({ ...DEFAULT_WEBHOOK_RETRY_POLICY, ...options.retry });
  }

  #webhooks(): SandboxWebhooks {
    const { webhooks } = this.#options;
    if (!webhooks) throw new InboundError('SANDBOX_INBOUND_NOT_CONFIGURED', 'Inbound webhooks are not configured (startSandbox({ webhooks }))');
    return webhooks;
  }

  /**
   * Posts a client's SMS to `twilioInboundUrl` (form-encoded, `X-Twilio-Signature` over that
   * URL), once, as Twilio does. Each `<Message>` of a TwiML answer is stored in the SMS outbox
   * as an `outbound-reply` to `from`. Rejects with {@link InboundError} when not configured or
   * when nothing answered.
   */
  async sms(input: InboundSmsInput): Promise<InboundSmsResult> {
    const { twilioInboundUrl } = this.#webhooks();
    const { twilio, sms, logger } = this.#options;
    const messageSid = newSid();
    const to = input.to ?? twilio.fromNumber;
    const params = twilioInboundParams({ sid: messageSid, accountSid: twilio.accountSid, from: input.from, to, body: input.body, segments: smsSegments(input.body).segments });
    const result = await postWebhook(signedTwilioRequest(twilio.authToken, twilioInboundUrl, params), { ...this.#retry, retries: 0 });
    this.#counts.sms += 1;
    if (!result.ok) this.#counts.notAccepted += 1;
    if (result.status === null) {
      logger.warn({ provider: 'twilio', messageSid, error: result.error }, 'inbound sms webhook unreachable');
      throw new InboundError('SANDBOX_INBOUND_UNREACHABLE', `The Twilio inbound webhook could not be reached (${result.error ?? 'network error'})`);
    }
    const texts = result.ok ? parseTwimlMessages(result.body) : [];
    const replies = texts.map((body) =>
      sms.add({
        id: newSid(),
        communicationId: null,
        to: input.from,
        receivedAt: new Date(this.#clock()).toISOString(),
        accountSid: twilio.accountSid,
        from: to,
        body,
        statusCallback: null,
        numSegments: smsSegments(body).segments,
        status: 'queued',
        direction: 'outbound-reply',
      }),
    );
    this.#counts.replies += replies.length;
    logger.info({ provider: 'twilio', messageSid, status: result.status, replies: replies.length }, 'inbound sms posted');
    return { status: result.status, messageSid, replies };
  }

  /** The context and full content of a WhatsApp reply. */
  #contentOf(input: InboundWhatsAppInput, waId: string): { content: WhatsAppInboundContent; contextMessageId: string | null } {
    const reply = input.buttonReply ?? input.listReply;
    if (reply === undefined) return { content: { type: 'text', text: input.text ?? '' }, contextMessageId: input.contextMessageId ?? null };
    const kind = input.buttonReply ? 'button' : 'list';
    const { whatsappMessages } = this.#options;
    const source =
      input.contextMessageId !== undefined
        ? whatsappMessages.get(input.contextMessageId)
        : whatsappMessages.list().find((message) => message.waId === waId && offered(message, kind, reply.id) !== null);
    const option = source ? offered(source, kind, reply.id) : null;
    const contextMessageId = input.contextMessageId ?? source?.id ?? null;
    const title = reply.title ?? option?.title;
    if (contextMessageId === null || title === undefined) {
      throw new InboundError('SANDBOX_INBOUND_NO_CONTEXT', `No ${kind === 'button' ? 'reply button' : 'list row'} '${reply.id}' in a message the sandbox sent to that number; give contextMessageId and title`);
    }
    if (kind === 'button') return { content: { type: 'button_reply', id: reply.id, title }, contextMessageId };
    const description = input.listReply?.description ?? option?.description;
    return { content: { type: 'list_reply', id: reply.id, title, ...(description !== undefined && { description }) }, contextMessageId };
  }

  /**
   * Posts a client's WhatsApp message to `whatsappUrl` (`X-Hub-Signature-256` over the exact
   * body), retried as Meta retries. The number's 24-hour window opens first (the client wrote,
   * whatever the webhook's fate). Rejects with {@link InboundError} when not configured, when a
   * reply has no context, or when nothing answered.
   */
  async whatsapp(input: InboundWhatsAppInput): Promise<InboundWhatsAppResult> {
    const { whatsappUrl, whatsappAppSecret } = this.#webhooks();
    const { whatsapp, window, logger } = this.#options;
    const waId = waIdOf(input.from);
    const { content, contextMessageId } = this.#contentOf(input, waId);
    const messageId = newWamid();
    const at = this.#clock();
    window.recordInbound(waId, at);
    const payload = whatsAppInboundPayload(whatsapp, { waId, name: input.name ?? 'Sandbox Client', messageId, at, content, contextMessageId });
    const result = await postWebhook(signedMetaRequest({ url: whatsappUrl, appSecret: whatsappAppSecret }, payload), this.#retry, {
      onAttemptFailed: (attempt, outcome) => logger.warn({ provider: 'whatsapp', messageId, attempt, httpStatus: outcome.status, error: outcome.error }, 'inbound whatsapp webhook not accepted'),
    });
    this.#counts.whatsapp += 1;
    if (!result.ok) this.#counts.notAccepted += 1;
    if (result.status === null) {
      throw new InboundError('SANDBOX_INBOUND_UNREACHABLE', `The WhatsApp webhook could not be reached (${result.error ?? 'network error'})`);
    }
    logger.info({ provider: 'whatsapp', messageId, type: content.type, status: result.status, attempts: result.attempts }, 'inbound whatsapp posted');
    return { status: result.status, messageId, contextMessageId, attempts: result.attempts };
  }

  counts(): InboundCounts {
    return { ...this.#counts };
  }

  reset(): void {
    this.#counts = { sms: 0, whatsapp: 0, notAccepted: 0, replies: 0 };
  }
}
