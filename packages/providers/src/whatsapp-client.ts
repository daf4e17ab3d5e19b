import axios from 'axios';
import type { ErrorCategory } from '@crm/core';
import { DEFAULT_PROVIDER_TIMEOUT_MS, httpFailureOf, type HttpFailure } from './http-failure';
import type { AcceptedMessage, OutgoingWhatsAppText, WhatsAppClient } from './messaging-transport';
import { ProviderError } from './provider-error';

export interface WhatsAppClientOptions {
  /** The business phone number's id (not the number). */
  readonly phoneNumberId: string;
  /** A system user access token. */
  readonly accessToken: string;
  /** Graph API version, e.g. `v21.0`. */
  readonly apiVersion: string;
  /** `https://graph.facebook.com`, or the sandbox's `http://127.0.0.1:4010/whatsapp`. */
  readonly baseUrl: string;
  /** Timeout of one call, in ms. @defaultValue 10000 */
  readonly timeoutMs?: number;
}

/** Graph / Cloud API codes that mean "slow down". */
export const whatsAppRateLimitCodes: ReadonlySet<number> = new Set([
  4, // application request limit reached
  80007, // WhatsApp Business Account rate limit
  130429, // Cloud API throughput reached
  131056, // (business, consumer) pair rate limit
]);

/** Graph codes of an unusable token or a missing permission. */
const authCodes: ReadonlySet<number> = new Set([0, 10, 190]);
const isPermissionCode = (code: number): boolean => code >= 200 && code <= 299;

/** Cloud API codes that mean "this recipient cannot get this message": no retry helps. */
export const whatsAppPermanentCodes: ReadonlySet<number> = new Set([
  100, // invalid parameter (e.g. a `to` that is no phone number)
  131026, // message undeliverable (not a WhatsApp user, old client, terms not accepted)
  131051, // unsupported message type
]);

/** Graph codes of a failure on Meta's side that a retry may cure. */
const transientCodes: ReadonlySet<number> = new Set([1, 2, 131000, 131016]);

/** What {@link categorizeWhatsAppError} reads from a failure. */
export interface WhatsAppFailure {
  /** HTTP status; absent when no answer arrived. */
  readonly status?: number;
  /** `error.code` of the Graph error body, e.g. 131026. */
  readonly code?: number | null;
  /** `error.type` of the Graph error body, e.g. `OAuthException`. */
  readonly type?: string | null;
  /** Network error code when no answer arrived, e.g. `ETIMEDOUT`. */
  readonly network?: string;
}

/**
 * The category of a failed Cloud API call (ARCHITECTURE.md, "Queues"):
 *
 * | category | when |
 * |---|---|
 * | `rate_limit` | HTTP 429; codes 4, 80007, 130429, 131056 |
 * | `auth_failure` | HTTP 401/403; codes 190 (token), 0, 10 and 200–299 (permissions); type `OAuthException` with no code |
 * | `permanent` | codes 100, 131026, 131051; any other 4xx |
 * | `transient` | no answer (timeout, network error), HTTP 5xx, codes 1, 2, 131000, 131016 |
 *
 * Meta gives nearly every Cloud API error the type `OAuthException` (its own sample of 130429
 * has it), so the type alone decides only when the body has no code.
 *
 * @example categorizeWhatsAppError({ status: 400, code: 131056, type: 'OAuthException' }) // 'rate_limit'
 */
export function categorizeWhatsAppError(failure: WhatsAppFailure): ErrorCategory {
  const { status } = failure;
  const code = failure.code ?? null;
  if (status === undefined) return 'transient';
  if (status === 429 || (code !== null && whatsAppRateLimitCodes.has(code))) return 'rate_limit';
  if (status === 401 || status === 403) return 'auth_failure';
  if (code !== null && (authCodes.has(code) || isPermissionCode(code))) return 'auth_failure';
  if (code === null && failure.type === 'OAuthException') return 'auth_failure';
  if (code !== null && whatsAppPermanentCodes.has(code)) return 'permanent';
  if (code !== null && transientCodes.has(code)) return 'transient';
  if (status >= 500) return 'transient';
  if (status >= 400) return 'permanent';
  return 'transient';
}

/** The Graph error body: `{ error: { message, type, code, error_subcode, error_data, fbtrace_id } }`. */
function graphErrorOf(body: unknown): { code: number | null; type: string | null } {
  const error = (body as { error?: { code?: unknown; type?: unknown } } | null | undefined)?.error;
  const code = error?.code;
  return {
    code: typeof code === 'number' && Number.isInteger(code) ? code : typeof code === 'string' && /^\d+$/.test(code) ? Number(code) : null,
    type: typeof error?.type === 'string' ? error.type : null,
  };
}

/**
 * The `ProviderError` for a failed Cloud API call. Its message names the HTTP status and the
 * Graph code only: Meta's `details` can repeat the recipient.
 */
export function whatsAppProviderError(failure: HttpFailure): ProviderError {
  const { code, type } = failure.status === undefined ? { code: null, type: null } : graphErrorOf(failure.body);
  const category = categorizeWhatsAppError({ status: failure.status, code, type, network: failure.network });
  return new ProviderError({
    provider: 'whatsapp',
    category,
    code: code !== null ? String(code) : failure.status !== undefined ? `HTTP_${failure.status}` : (failure.network ?? null),
    message:
      failure.status === undefined
        ? `WhatsApp Cloud API did not answer (${failure.network ?? 'network error'})`
        : `WhatsApp Cloud API answered HTTP ${failure.status}${code !== null ? `, error ${code}` : ''}${type ? ` (${type})` : ''}`,
    retryAfterMs: category === 'rate_limit' ? failure.retryAfterMs : null,
  });
}

/**
 * A WhatsApp Cloud API client behind {@link WhatsAppClient}: a text message as
 * `POST {baseUrl}/{apiVersion}/{phoneNumberId}/messages` with the bearer token. Resolves with
 * the message id (`wamid.…`); throws `ProviderError` with the category of
 * {@link categorizeWhatsAppError}.
 *
 * @example
 * const whatsapp = createWhatsAppClient(config.whatsapp);
 * const { providerMessageId } = await whatsapp.send({ to: '+14155550123', text: 'Hi', callbackData: communicationId });
 */
export function createWhatsAppClient(options: WhatsAppClientOptions): WhatsAppClient {
  const http = axios.create({
    baseURL: options.baseUrl,
    timeout: options.timeoutMs ?? DEFAULT_PROVIDER_TIMEOUT_MS,
    maxRedirects: 0,
    transitional: { clarifyTimeoutError: true },
    headers: { Authorization: `Bearer ${options.accessToken}`, Accept: 'application/json' },
  });
  const path = `/${encodeURIComponent(options.apiVersion)}/${encodeURIComponent(options.phoneNumberId)}/messages`;

  return {
    async send(message: OutgoingWhatsAppText): Promise<AcceptedMessage> {
      const request = {
        messaging_product: 'whatsapp',
        recipient_type: 'individual',
        to: message.to,
        type: 'text',
        text: { body: message.text },
        ...(message.callbackData !== undefined && { biz_opaque_callback_data: message.callbackData }),
      };
      let data: unknown;
      try {
        ({ data } = await http.post<unknown>(path, request));
      } catch (error) {
        throw whatsAppProviderError(httpFailureOf(error));
      }
      const first = (data as { messages?: { id?: unknown; message_status?: unknown }[] } | null)?.messages?.[0];
      if (typeof first?.id !== 'string' || first.id === '') {
        throw new ProviderError({ provider: 'whatsapp', category: 'transient', code: 'BAD_RESPONSE', message: 'WhatsApp Cloud API answered 2xx without a message id' });
      }
      return {
        providerMessageId: first.id,
        ...(typeof first.message_status === 'string' && { detail: { messageStatus: first.message_status } }),
      };
    },
  };
}
