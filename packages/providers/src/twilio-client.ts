import axios from 'axios';
import type { ErrorCategory } from '@crm/core';
import { DEFAULT_PROVIDER_TIMEOUT_MS, httpFailureOf, type HttpFailure } from './http-failure';
import type { AcceptedMessage, OutgoingSms, SmsClient } from './messaging-transport';
import { ProviderError } from './provider-error';

export interface TwilioClientOptions {
  /** `AC` followed by 32 hex digits. */
  readonly accountSid: string;
  readonly authToken: string;
  /** The sender, E.164. */
  readonly fromNumber: string;
  /** `https://api.twilio.com`, or the sandbox's `http://127.0.0.1:4010/twilio`. */
  readonly baseUrl: string;
  /** Timeout of one call, in ms. @defaultValue 10000 */
  readonly timeoutMs?: number;
}

/** Twilio error codes that mean "this recipient cannot get this SMS": no retry helps. */
export const twilioPermanentCodes: ReadonlySet<number> = new Set([
  21211, // invalid 'To' phone number
  21408, // permission to send to this region is not enabled
  21610, // the recipient replied STOP (opted out)
  21612, // the 'To' number is not reachable (unroutable)
  21614, // the 'To' number is not a mobile number / cannot receive SMS
]);

/** What {@link categorizeTwilioError} reads from a failure. */
export interface TwilioFailure {
  /** HTTP status; absent when no answer arrived. */
  readonly status?: number;
  /** Twilio's `code` from the error body, e.g. 21211. */
  readonly code?: number | null;
  /** Network error code when no answer arrived, e.g. `ETIMEDOUT`. */
  readonly network?: string;
}

/**
 * The category of a failed Twilio call (ARCHITECTURE.md, "Queues"):
 *
 * | category | when |
 * |---|---|
 * | `rate_limit` | HTTP 429, Twilio 20429 |
 * | `auth_failure` | HTTP 401/403, Twilio 20003 |
 * | `permanent` | invalid, unroutable or opted-out number (21211, 21408, 21610, 21612, 21614), any other 4xx |
 * | `transient` | no answer (timeout, network error), HTTP 5xx, anything else |
 *
 * @example categorizeTwilioError({ status: 400, code: 21610 }) // 'permanent'
 */
export function categorizeTwilioError(failure: TwilioFailure): ErrorCategory {
  const { status, code } = failure;
  if (status === undefined) return 'transient';
  if (status === 429 || code === 20429) return 'rate_limit';
  if (status === 401 || status === 403 || code === 20003) return 'auth_failure';
  if (code !== undefined && code !== null && twilioPermanentCodes.has(code)) return 'permanent';
  if (status >= 500) return 'transient';
  if (status >= 400) return 'permanent';
  return 'transient';
}

/**
 * Whether `error` is Twilio's 21610 on a send: the recipient replied STOP to this sender, and
 * Twilio refuses every message to them until they reply START. The caller records the opt-out.
 *
 * @example
 * try { await twilio.send(sms) } catch (error) { if (isTwilioOptOut(error)) await recordOptOut(db, clientId, 'sms') }
 */
export function isTwilioOptOut(error: unknown): boolean {
  return error instanceof ProviderError && error.provider === 'twilio' && error.code === '21610';
}

/**
 * The category of each error code a Twilio *status callback* can carry (`ErrorCode` of an
 * `undelivered` or `failed` message), from Twilio's error dictionary
 * (https://www.twilio.com/docs/api/errors/<code>). A code not listed is `transient`
 * ({@link categorizeTwilioDeliveryError}).
 */
export const twilioDeliveryErrorCategories: ReadonlyMap<number, ErrorCategory> = new Map<number, ErrorCategory>([
  [30001, 'transient'], // queue overflow: too many messages queued for the sender
  [30003, 'transient'], // unreachable destination handset (off, out of coverage): may pass later
  [30008, 'transient'], // unknown error from the carrier
  [30009, 'transient'], // missing segment of a concatenated message
  [30410, 'transient'], // provider timeout
  [30022, 'rate_limit'], // US A2P 10DLC: rate limit exceeded
  [30023, 'rate_limit'], // US A2P 10DLC: daily message cap reached
  [30002, 'auth_failure'], // account suspended
  [30004, 'permanent'], // message blocked (the recipient blocked the sender, or the carrier did)
  [30005, 'permanent'], // unknown destination handset: the number is unknown or no longer active
  [30006, 'permanent'], // landline or unreachable carrier
  [30007, 'permanent'], // carrier violation: filtered as spam
  [30034, 'permanent'], // US A2P 10DLC: message from an unregistered number
  [21211, 'permanent'], // invalid 'To' number
  [21610, 'permanent'], // the recipient opted out (replied STOP)
  [21614, 'permanent'], // 'To' is not a mobile number
]);

/**
 * The category of a failed delivery reported by a Twilio status callback (its `ErrorCode`):
 * the table {@link twilioDeliveryErrorCategories}; an unknown or unreadable code is `transient`.
 *
 * @example categorizeTwilioDeliveryError('30005') // 'permanent'
 */
export function categorizeTwilioDeliveryError(code: string | number): ErrorCategory {
  const numeric = typeof code === 'number' ? code : /^\d{1,10}$/.test(code.trim()) ? Number(code.trim()) : Number.NaN;
  return twilioDeliveryErrorCategories.get(numeric) ?? 'transient';
}

/** Twilio's error body: `{ code, message, more_info, status }`. */
function twilioCodeOf(body: unknown): number | null {
  const code = (body as { code?: unknown } | null | undefined)?.code;
  if (typeof code === 'number' && Number.isInteger(code)) return code;
  if (typeof code === 'string' && /^\d+$/.test(code)) return Number(code);
  return null;
}

/**
 * The `ProviderError` for a failed Twilio call. Its message names the HTTP status and Twilio's
 * code only: Twilio's own message text can repeat the phone number.
 */
export function twilioProviderError(failure: HttpFailure): ProviderError {
  const code = failure.status === undefined ? null : twilioCodeOf(failure.body);
  const category = categorizeTwilioError({ status: failure.status, code, network: failure.network });
  return new ProviderError({
    provider: 'twilio',
    category,
    code: code !== null ? String(code) : failure.status !== undefined ? `HTTP_${failure.status}` : (failure.network ?? null),
    message:
      failure.status === undefined
        ? `Twilio did not answer (${failure.network ?? 'network error'})`
        : `Twilio answered HTTP ${failure.status}${code !== null ? `, error ${code}` : ''}`,
    retryAfterMs: category === 'rate_limit' ? failure.retryAfterMs : null,
  });
}

/**
 * A Twilio Programmable Messaging client (REST API 2010-04-01) behind {@link SmsClient}:
 * `POST {baseUrl}/2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded, HTTP basic
 * auth with the Account SID and auth token. Resolves with the message SID and Twilio's status
 * (`queued`, `accepted`, …); throws `ProviderError` with the category of
 * {@link categorizeTwilioError}.
 *
 * @example
 * const twilio = createTwilioClient(config.twilio);
 * const { providerMessageId } = await twilio.send({ to: '+14155550123', body: 'Your plan is ready.' });
 */
export function createTwilioClient(options: TwilioClientOptions): SmsClient {
  const http = axios.create({
    baseURL: options.baseUrl,
    timeout: options.timeoutMs ?? DEFAULT_PROVIDER_TIMEOUT_MS,
    auth: { username: options.accountSid, password: options.authToken },
    maxRedirects: 0,
    // A timeout is ETIMEDOUT (not ECONNABORTED, which an abort also gives).
    transitional: { clarifyTimeoutError: true },
    headers: { Accept: 'application/json' },
  });
  const path = `/2010-04-01/Accounts/${encodeURIComponent(options.accountSid)}/Messages.json`;

  return {
    async send(message: OutgoingSms): Promise<AcceptedMessage> {
      const form = new URLSearchParams({ To: message.to, From: options.fromNumber, Body: message.body });
      if (message.statusCallback !== undefined) form.set('StatusCallback', message.statusCallback);
      let data: unknown;
      try {
        ({ data } = await http.post<unknown>(path, form));
      } catch (error) {
        throw twilioProviderError(httpFailureOf(error));
      }
      const { sid, status } = (data ?? {}) as { sid?: unknown; status?: unknown };
      if (typeof sid !== 'string' || sid === '') {
        throw new ProviderError({ provider: 'twilio', category: 'transient', code: 'BAD_RESPONSE', message: 'Twilio answered 2xx without a message SID' });
      }
      return { providerMessageId: sid, detail: { status: typeof status === 'string' ? status : null } };
    },
  };
}
