import { randomUUID } from 'node:crypto';
import { twilioSignature } from '@crm/providers';
import { shouldShuffle, shuffled, statusSequence, type DeliveryOutcome } from './delivery-outcomes';
import type { CallbackStep } from './status-callbacks';
import type { SandboxSms } from './twilio';
import type { WebhookRequest } from './webhook-poster';

/** Twilio's REST API version, sent in every webhook. */
export const TWILIO_API_VERSION = '2010-04-01';

/**
 * A form POST signed as Twilio signs it: `X-Twilio-Signature` = base64 HMAC-SHA1 of the auth
 * token over `url` followed by the sorted parameters, with Twilio's other headers.
 *
 * @example signedTwilioRequest(authToken, 'http://127.0.0.1:3000/webhooks/twilio/status?cid=…', { MessageSid: 'SM…', MessageStatus: 'sent' })
 */
export function signedTwilioRequest(authToken: string, url: string, params: Readonly<Record<string, string>>): WebhookRequest {
  return {
    url,
    headers: {
      'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
      'x-twilio-signature': twilioSignature(authToken, url, params),
      'i-twilio-idempotency-token': randomUUID(),
      'user-agent': 'TwilioProxy/1.1',
      accept: '*/*',
    },
    body: new URLSearchParams(params).toString(),
  };
}

/**
 * The parameters of one status callback of `message`, as Twilio posts them: `MessageSid`,
 * `SmsSid`, `AccountSid`, `From`, `To`, `MessageStatus`, `SmsStatus`, `ApiVersion`, and
 * `ErrorCode` for `undelivered` / `failed`.
 *
 * @example twilioStatusParams(sms, 'undelivered', 30003).ErrorCode // '30003'
 */
export function twilioStatusParams(message: SandboxSms, status: string, errorCode: number | string | null): Record<string, string> {
  return {
    MessageSid: message.id,
    SmsSid: message.id,
    AccountSid: message.accountSid,
    From: message.from,
    To: message.to,
    MessageStatus: status,
    SmsStatus: status,
    ApiVersion: TWILIO_API_VERSION,
    ...((status === 'undelivered' || status === 'failed') && errorCode !== null && { ErrorCode: String(errorCode) }),
  };
}

/**
 * The status callbacks of an accepted SMS under `outcome`: none without a `StatusCallback`;
 * else `queued → sent → delivered` (or `→ undelivered`, or `queued → failed`, with the
 * `ErrorCode`), shuffled when `outOfOrder` says so, each signed over the StatusCallback URL
 * exactly as the message gave it.
 *
 * @example planSmsCallbacks({ message, outcome: { final: 'delivered', errorCode: null, outOfOrder: false }, authToken }).map((s) => s.status)
 * // ['queued', 'sent', 'delivered']
 */
export function planSmsCallbacks(props: { readonly message: SandboxSms; readonly outcome: DeliveryOutcome; readonly authToken: string; readonly random?: () => number }): CallbackStep[] {
  const { message, outcome, authToken } = props;
  const url = message.statusCallback;
  if (url === null) return [];
  const random = props.random ?? Math.random;
  const natural = statusSequence('sms', outcome.final);
  const statuses = shouldShuffle(outcome.outOfOrder, random) ? shuffled(natural, random) : natural;
  return statuses.map((status) => ({ status, request: () => signedTwilioRequest(authToken, url, twilioStatusParams(message, status, outcome.errorCode)) }));
}

/**
 * The parameters of an inbound SMS as Twilio posts them to the number's webhook:
 * `MessageSid` (= `SmsSid` = `SmsMessageSid`), `AccountSid`, `From`, `To`, `Body`,
 * `NumMedia: '0'`, `NumSegments`, `SmsStatus: 'received'`, `ApiVersion`.
 *
 * @example twilioInboundParams({ sid, accountSid, from: '+14155550123', to: '+15005550006', body: 'STOP', segments: 1 }).SmsStatus // 'received'
 */
export function twilioInboundParams(props: {
  readonly sid: string;
  readonly accountSid: string;
  readonly from: string;
  readonly to: string;
  readonly body: string;
  readonly segments: number;
}): Record<string, string> {
  return {
    MessageSid: props.sid,
    SmsSid: props.sid,
    SmsMessageSid: props.sid,
    AccountSid: props.accountSid,
    From: props.from,
    To: props.to,
    Body: props.body,
    NumMedia: '0',
    NumSegments: String(props.segments),
    SmsStatus: 'received',
    ApiVersion: TWILIO_API_VERSION,
  };
}

const entities: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** XML character data with its entities and character references decoded. */
function xmlDecode(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-zA-Z]+);/g, (whole, name: string) => {
    if (name.startsWith('#x')) return String.fromCodePoint(Number.parseInt(name.slice(2), 16));
    if (name.startsWith('#')) return String.fromCodePoint(Number.parseInt(name.slice(1), 10));
    return entities[name] ?? whole;
  });
}

/**
 * The texts of the `<Message>` verbs of a TwiML answer, in order: `<Message>text</Message>` or
 * `<Message><Body>text</Body>…</Message>`, entities decoded, CDATA kept. Anything that is
 * not TwiML (or an empty `<Response/>`) has none.
 *
 * @example parseTwimlMessages('<?xml version="1.0"?><Response><Message>Reply STOP &amp; go</Message></Response>') // ['Reply STOP & go']
 */
export function parseTwimlMessages(xml: string): string[] {
  if (!/<Response[\s>/]/.test(xml)) return [];
  const texts: string[] = [];
  for (const match of xml.matchAll(/<Message(?:\s[^>]*)?>([\s\S]*?)<\/Message>/g)) {
    const inner = match[1] ?? '';
    const body = /<Body(?:\s[^>]*)?>([\s\S]*?)<\/Body>/.exec(inner)?.[1] ?? inner.replace(/<(Media|Redirect)[^>]*>[\s\S]*?<\/\1>|<[^>]+\/>/g, '');
    const cdata = /^\s*<!\[CDATA\[([\s\S]*?)\]\]>\s*$/.exec(body);
    const text = cdata ? (cdata[1] ?? '') : xmlDecode(body).trim();
    if (text !== '') texts.push(text);
  }
  return texts;
}
