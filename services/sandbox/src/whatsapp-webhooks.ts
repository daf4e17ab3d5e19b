import { createHmac } from 'node:crypto';
import { metaSignature } from '@crm/providers';
import { shouldShuffle, shuffled, statusSequence, type DeliveryOutcome } from './delivery-outcomes';
import type { CallbackStep } from './status-callbacks';
import type { WebhookRequest } from './webhook-poster';
import { whatsAppErrorInfo, type SandboxWhatsAppMessage } from './whatsapp';

/** The business side of the webhooks: `entry[].id` and `value.metadata`. */
export interface WhatsAppBusiness {
  /** The WhatsApp Business Account id (`entry[].id`). */
  readonly businessAccountId: string;
  readonly phoneNumberId: string;
  /** The business number as Meta shows it in `metadata.display_phone_number` (digits). */
  readonly displayPhoneNumber: string;
}

/** Where the WhatsApp webhooks go and the app secret that signs them. */
export interface WhatsAppWebhookTarget {
  readonly url: string;
  readonly appSecret: string;
}

/**
 * A JSON POST signed as Meta signs it: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the app
 * secret over the exact body bytes>` (and the older `X-Hub-Signature`, SHA-1).
 *
 * @example signedMetaRequest({ url, appSecret }, { object: 'whatsapp_business_account', entry: [] })
 */
export function signedMetaRequest(target: WhatsAppWebhookTarget, payload: unknown): WebhookRequest {
  const body = JSON.stringify(payload);
  return {
    url: target.url,
    headers: {
      'content-type': 'application/json',
      'x-hub-signature-256': metaSignature(target.appSecret, body),
      'x-hub-signature': `sha1=${createHmac('sha1', target.appSecret).update(body).digest('hex')}`,
      'user-agent': 'facebookexternalua',
      accept: '*/*',
    },
    body,
  };
}

/**
 * A `messages` field webhook: `{ object: 'whatsapp_business_account', entry: [{ id, changes:
 * [{ field: 'messages', value: { messaging_product, metadata, …value } }] }] }`.
 *
 * @example whatsAppWebhookPayload(business, { statuses: [status] })
 */
export function whatsAppWebhookPayload(business: WhatsAppBusiness, value: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return {
    object: 'whatsapp_business_account',
    entry: [
      {
        id: business.businessAccountId,
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: business.displayPhoneNumber, phone_number_id: business.phoneNumberId },
              ...value,
            },
          },
        ],
      },
    ],
  };
}

/**
 * Unix seconds, as Meta's `timestamp` strings.
 *
 * @example unixSeconds(1_700_000_000_999) // '1700000000'
 */
export const unixSeconds = (ms: number): string => String(Math.floor(ms / 1000));

/**
 * One `statuses[]` item: `{ id, status, timestamp, recipient_id, biz_opaque_callback_data?,
 * errors? }`, with Meta's `{ code, title, message, error_data: { details }, href }` for a failure.
 *
 * @example whatsAppStatusItem(message, 'failed', 131026, Date.now()).errors[0].title // 'Message Undeliverable'
 */
export function whatsAppStatusItem(message: SandboxWhatsAppMessage, status: string, errorCode: number | string | null, at: number): Record<string, unknown> {
  const code = errorCode === null ? null : Number(errorCode);
  const info = code === null ? null : whatsAppErrorInfo(code);
  return {
    id: message.id,
    status,
    timestamp: unixSeconds(at),
    recipient_id: message.waId,
    ...(message.callbackData !== null && { biz_opaque_callback_data: message.callbackData }),
    ...(status === 'failed' &&
      code !== null &&
      info !== null && {
        errors: [{ code, title: info.title, message: info.title, error_data: { details: info.details }, href: 'https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/' }],
      }),
  };
}

/**
 * The status webhooks of an accepted WhatsApp message under `outcome`: `sent → delivered →
 * read` (or `→ delivered` only, or `failed` with its error), shuffled when `outOfOrder` says
 * so; one status per webhook, each signed over its exact body.
 *
 * @example planWhatsAppCallbacks({ message, outcome, business, target }).map((s) => s.status) // ['sent', 'delivered', 'read']
 */
export function planWhatsAppCallbacks(props: {
  readonly message: SandboxWhatsAppMessage;
  readonly outcome: DeliveryOutcome;
  readonly business: WhatsAppBusiness;
  readonly target: WhatsAppWebhookTarget;
  readonly random?: () => number;
  readonly clock?: () => number;
}): CallbackStep[] {
  const { message, outcome, business, target } = props;
  const random = props.random ?? Math.random;
  const clock = props.clock ?? Date.now;
  const natural = statusSequence('whatsapp', outcome.final);
  const statuses = shouldShuffle(outcome.outOfOrder, random) ? shuffled(natural, random) : natural;
  return statuses.map((status) => ({
    status,
    request: () => signedMetaRequest(target, whatsAppWebhookPayload(business, { statuses: [whatsAppStatusItem(message, status, outcome.errorCode, clock())] })),
  }));
}

/** What a client's WhatsApp message is: a text, or the reply button / list row they tapped. */
export type WhatsAppInboundContent =
  | { readonly type: 'text'; readonly text: string }
  | { readonly type: 'button_reply'; readonly id: string; readonly title: string }
  | { readonly type: 'list_reply'; readonly id: string; readonly title: string; readonly description?: string };

/**
 * A client's message as a `messages` webhook carries it: `contacts: [{ profile: { name }, wa_id }]`
 * and `messages: [{ from, id, timestamp, type, text | interactive, context? }]`, where
 * `context: { from: <business number>, id: <wamid replied to> }`.
 *
 * @example whatsAppInboundPayload(business, { waId: '14155550123', name: 'Ada', messageId, at: Date.now(), content: { type: 'text', text: '2' } })
 */
export function whatsAppInboundPayload(
  business: WhatsAppBusiness,
  props: { readonly waId: string; readonly name: string; readonly messageId: string; readonly at: number; readonly content: WhatsAppInboundContent; readonly contextMessageId?: string | null },
): Record<string, unknown> {
  const { content } = props;
  const body =
    content.type === 'text'
      ? { type: 'text', text: { body: content.text } }
      : content.type === 'button_reply'
        ? { type: 'interactive', interactive: { type: 'button_reply', button_reply: { id: content.id, title: content.title } } }
        : {
            type: 'interactive',
            interactive: { type: 'list_reply', list_reply: { id: content.id, title: content.title, ...(content.description !== undefined && { description: content.description }) } },
          };
  return whatsAppWebhookPayload(business, {
    contacts: [{ profile: { name: props.name }, wa_id: props.waId }],
    messages: [
      {
        ...(props.contextMessageId && { context: { from: business.displayPhoneNumber, id: props.contextMessageId } }),
        from: props.waId,
        id: props.messageId,
        timestamp: unixSeconds(props.at),
        ...body,
      },
    ],
  });
}
