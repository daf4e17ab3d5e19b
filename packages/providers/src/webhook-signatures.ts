import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Provider callbacks (issue 7): how Twilio and Meta sign them, and what a delivery-status
 * callback says, as pure functions. Verification compares in constant time and never throws
 * (a missing, short or malformed signature is simply not valid).
 */

/** Form parameters as a parser returns them: a repeated name carries several values. */
export type TwilioParams = Readonly<Record<string, string | readonly string[] | undefined>>;

/**
 * Twilio's `X-Twilio-Signature`: base64(HMAC-SHA1(auth token, full URL + every POST parameter
 * sorted by name, each name followed by its value)). A repeated name contributes each of its
 * values, sorted, as Twilio's own helper libraries do.
 *
 * @example twilioSignature('12345', 'https://mycompany.com/myapp.php?foo=1&bar=2', { CallSid: 'CA1234567890ABCDE', Caller: '+14158675310', Digits: '1234', From: '+14158675310', To: '+18005551212' }) // 'GvWf1cFY/Q7PnoempGyD5oXAezc='
 */
export function twilioSignature(authToken: string, url: string, params: TwilioParams): string {
  let data = url;
  for (const name of Object.keys(params).sort()) {
    const value = params[name];
    if (value === undefined) continue;
    const values = typeof value === 'string' ? [value] : [...value].sort();
    for (const one of values) data += name + one;
  }
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64');
}

/** Constant-time equality of two strings; unequal lengths are simply unequal. */
function safeEqual(expected: string, given: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(given, 'utf8');
  // timingSafeEqual throws on unequal lengths; compare a against itself so the time taken
  // does not depend on where a wrong signature differs.
  if (a.length !== b.length) {
    timingSafeEqual(a, a);
    return false;
  }
  return timingSafeEqual(a, b);
}

/**
 * Whether `signature` (the `X-Twilio-Signature` header) is Twilio's for this URL and these
 * parameters. `url` is the full URL Twilio called: scheme, host, path and query string.
 *
 * @example verifyTwilioSignature(token, request.headers['x-twilio-signature'], `${publicBaseUrl}${request.url}`, body)
 */
export function verifyTwilioSignature(authToken: string, signature: string | readonly string[] | undefined, url: string, params: TwilioParams): boolean {
  if (typeof signature !== 'string' || signature.length === 0 || authToken.length === 0) return false;
  return safeEqual(twilioSignature(authToken, url, params), signature);
}

/**
 * Meta's `X-Hub-Signature-256`: `sha256=` + hex(HMAC-SHA256(app secret, raw body)). The body
 * must be the bytes as received: re-serialised JSON does not verify.
 *
 * @example metaSignature("It's a Secret to Everybody", 'Hello, World!') // 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17'
 */
export function metaSignature(appSecret: string, rawBody: Buffer | string): string {
  return `sha256=${createHmac('sha256', appSecret).update(rawBody).digest('hex')}`;
}

/** Whether `signature` (the `X-Hub-Signature-256` header) is Meta's for `rawBody`. The hex digits may be of either case. */
export function verifyMetaSignature(appSecret: string, signature: string | readonly string[] | undefined, rawBody: Buffer | string): boolean {
  if (typeof signature !== 'string' || appSecret.length === 0) return false;
  const given = /^sha256=[0-9a-fA-F]{64}$/.test(signature) ? `sha256=${signature.slice(7).toLowerCase()}` : signature;
  return safeEqual(metaSignature(appSecret, rawBody), given);
}

/** What a delivery-status callback says, whichever provider sent it. */
export interface ProviderStatusEvent {
  /** Twilio's Message SID, or WhatsApp's `wamid.…`: `crm_communications.provider_message_id`. */
  readonly providerMessageId: string;
  /** Unique per event, for deduplication: the message id and the provider's own status word. */
  readonly providerEventId: string;
  readonly status: 'sent' | 'delivered' | 'failed' | 'read';
  /** The provider's error code of a failure (Twilio `ErrorCode`, WhatsApp `errors[].code`). */
  readonly errorCode?: string;
  /** When it happened: WhatsApp's `timestamp`; for Twilio (which sends none) the time it arrived. */
  readonly at: Date;
}

/**
 * Twilio's `MessageStatus` words, mapped. `queued`, `sending` and `sent` all mean "the provider
 * has it" (our `sent`); `undelivered` and `failed` are both failures; `read` comes from
 * WhatsApp-over-Twilio. Anything else (`accepted`, `scheduled`, `canceled`, `received`…) is not a
 * delivery status of a sent message and is ignored.
 */
const twilioStatuses: Readonly<Record<string, ProviderStatusEvent['status']>> = Object.freeze({
  queued: 'sent',
  sending: 'sent',
  sent: 'sent',
  delivered: 'delivered',
  undelivered: 'failed',
  failed: 'failed',
  read: 'read',
});

const single = (value: string | readonly string[] | undefined): string | undefined => (typeof value === 'string' ? value : undefined);

/** A Message SID: `SM` or `MM` and 32 hex digits (the sandbox's are of the same shape). */
const twilioSidPattern = /^[A-Za-z]{2}[0-9a-fA-F]{32}$/;

/**
 * The status of a Twilio status callback (`StatusCallback` of a sent message), or `null` when
 * it is not one (no `MessageSid`, an unknown or non-delivery `MessageStatus`). Twilio sends no
 * event id: the SID and the status word make one (`SM…:delivered`), so a retried callback is
 * the same event and a later status is another.
 *
 * @example parseTwilioStatus({ MessageSid: 'SM' + 'a'.repeat(32), MessageStatus: 'undelivered', ErrorCode: '30003' }, now)
 * // { providerMessageId: 'SMaaa…', providerEventId: 'SMaaa…:undelivered', status: 'failed', errorCode: '30003', at: now }
 */
export function parseTwilioStatus(params: TwilioParams, receivedAt: Date): ProviderStatusEvent | null {
  const sid = single(params.MessageSid) ?? single(params.SmsSid);
  const word = (single(params.MessageStatus) ?? single(params.SmsStatus))?.toLowerCase();
  if (sid === undefined || !twilioSidPattern.test(sid) || word === undefined) return null;
  const status = Object.hasOwn(twilioStatuses, word) ? twilioStatuses[word] : undefined;
  if (status === undefined) return null;
  const errorCode = single(params.ErrorCode);
  return {
    providerMessageId: sid,
    providerEventId: `${sid}:${word}`,
    status,
    ...(status === 'failed' && errorCode !== undefined && /^\d{1,10}$/.test(errorCode) && { errorCode }),
    at: receivedAt,
  };
}

const whatsAppStatuses: ReadonlySet<string> = new Set(['sent', 'delivered', 'read', 'failed']);

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const arrayOf = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

/** One `statuses[]` item, or `null` when it is not a usable delivery status. */
function whatsAppStatusOf(item: unknown): ProviderStatusEvent | null {
  if (!isObject(item)) return null;
  const { id, status, timestamp } = item;
  if (typeof id !== 'string' || id.length === 0 || id.length > 256 || typeof status !== 'string' || !whatsAppStatuses.has(status)) return null;
  const seconds = typeof timestamp === 'string' && /^\d{1,12}$/.test(timestamp) ? Number(timestamp) : typeof timestamp === 'number' && Number.isInteger(timestamp) && timestamp >= 0 ? timestamp : null;
  if (seconds === null) return null;
  const firstError = arrayOf(item.errors).find(isObject);
  const code = firstError?.code;
  const errorCode = typeof code === 'number' && Number.isInteger(code) ? String(code) : typeof code === 'string' && /^\d{1,10}$/.test(code) ? code : undefined;
  return {
    providerMessageId: id,
    providerEventId: `${id}:${status}`,
    status: status as ProviderStatusEvent['status'],
    ...(status === 'failed' && errorCode !== undefined && { errorCode }),
    at: new Date(seconds * 1000),
  };
}

/**
 * Every delivery status in a WhatsApp Cloud API webhook body, in order:
 * `entry[].changes[].value.statuses[]` (`{ id: 'wamid.…', status, timestamp, errors?: [{ code }] }`).
 * A batch may hold several; inbound `messages`, other fields and malformed items are skipped,
 * never thrown on. The event id is the wamid and the status (`wamid.…:read`).
 *
 * @example parseWhatsAppStatuses(JSON.parse(rawBody)).map((s) => s.status) // ['delivered', 'read']
 */
export function parseWhatsAppStatuses(body: unknown): ProviderStatusEvent[] {
  return itemsOf(body, 'statuses').map(whatsAppStatusOf).filter((event) => event !== null);
}

/** Every item of `entry[].changes[].value[list]` of a Cloud API webhook body, in order; malformed levels are skipped. */
function itemsOf(body: unknown, list: 'statuses' | 'messages'): unknown[] {
  if (!isObject(body)) return [];
  return arrayOf(body.entry)
    .filter(isObject)
    .flatMap((entry) => arrayOf(entry.changes))
    .flatMap((change) => (isObject(change) && isObject(change.value) ? arrayOf(change.value[list]) : []));
}

/** An inbound message (a client writing to us), whichever provider carried it. */
export interface ProviderInboundMessage {
  /** Twilio's `MessageSid` or WhatsApp's `wamid.…`: unique per message, for deduplication. */
  readonly providerMessageId: string;
  /** The sender: E.164 (Twilio) or the WhatsApp id (digits). Personal data: never log it. */
  readonly from: string;
  /** What they typed, or the title of the button or list row they tapped; `null` for media only. */
  readonly text: string | null;
  /** A tapped WhatsApp reply button or list row. */
  readonly reply: { readonly id: string; readonly title: string } | null;
  /** WhatsApp's `context.id`: our message this one replies to. */
  readonly contextMessageId: string | null;
  /** WhatsApp's `timestamp`; for Twilio (which sends none) the time it arrived. */
  readonly at: Date;
}

/**
 * The message of a Twilio inbound-message webhook (the number's "A message comes in" URL), or
 * `null` when it is not one (no `MessageSid`/`From`, or an outbound status callback).
 *
 * @example parseTwilioInbound({ MessageSid: 'SM…', From: '+14155550123', To: '+15005550006', Body: 'STOP', SmsStatus: 'received' }, now)
 * // { providerMessageId: 'SM…', from: '+14155550123', text: 'STOP', reply: null, contextMessageId: null, at: now }
 */
export function parseTwilioInbound(params: TwilioParams, receivedAt: Date): ProviderInboundMessage | null {
  const sid = single(params.MessageSid) ?? single(params.SmsMessageSid) ?? single(params.SmsSid);
  const from = single(params.From);
  if (sid === undefined || !twilioSidPattern.test(sid) || from === undefined || !/^\+?[1-9]\d{5,15}$/.test(from.trim())) return null;
  // A status callback of one of our messages carries MessageStatus instead of a received message.
  const state = single(params.SmsStatus) ?? single(params.MessageStatus);
  if (state !== undefined && state !== 'received') return null;
  const body = single(params.Body);
  return { providerMessageId: sid, from: from.trim(), text: body === undefined ? null : body, reply: null, contextMessageId: null, at: receivedAt };
}

/** One `messages[]` item of a Cloud API webhook, or `null` when unusable. */
function whatsAppMessageOf(item: unknown): ProviderInboundMessage | null {
  if (!isObject(item)) return null;
  const { id, from, timestamp, type } = item;
  if (typeof id !== 'string' || id.length === 0 || id.length > 256 || typeof from !== 'string' || !/^\d{6,16}$/.test(from)) return null;
  const seconds = typeof timestamp === 'string' && /^\d{1,12}$/.test(timestamp) ? Number(timestamp) : null;
  if (seconds === null) return null;
  const context = isObject(item.context) && typeof item.context.id === 'string' ? item.context.id : null;
  let text: string | null = null;
  let reply: ProviderInboundMessage['reply'] = null;
  if (type === 'text' && isObject(item.text) && typeof item.text.body === 'string') text = item.text.body;
  if (type === 'interactive' && isObject(item.interactive)) {
    const tapped = item.interactive.button_reply ?? item.interactive.list_reply;
    if (isObject(tapped) && typeof tapped.id === 'string' && typeof tapped.title === 'string') {
      reply = { id: tapped.id, title: tapped.title };
      text = tapped.title;
    }
  }
  // A tapped quick-reply button of a template message.
  if (type === 'button' && isObject(item.button) && typeof item.button.text === 'string') {
    text = item.button.text;
    if (typeof item.button.payload === 'string') reply = { id: item.button.payload, title: item.button.text };
  }
  return { providerMessageId: id, from, text, reply, contextMessageId: context, at: new Date(seconds * 1000) };
}

/**
 * Every inbound message in a WhatsApp Cloud API webhook body, in order:
 * `entry[].changes[].value.messages[]`: text (`text.body`), a tapped reply button or list row
 * (`interactive.button_reply` / `list_reply`: id and title), or a template's quick-reply button
 * (`button.payload` / `text`); with `context.id` when it replies to one of our messages.
 * Statuses, other fields and malformed items are skipped, never thrown on.
 *
 * @example parseWhatsAppMessages(JSON.parse(rawBody)).map((m) => m.text) // ['2']
 */
export function parseWhatsAppMessages(body: unknown): ProviderInboundMessage[] {
  return itemsOf(body, 'messages').map(whatsAppMessageOf).filter((message) => message !== null);
}
