import axios from 'axios';
import type { ErrorCategory } from '@crm/core';
import { DEFAULT_PROVIDER_TIMEOUT_MS, httpFailureOf, type HttpFailure } from './http-failure';
import type { AcceptedMessage, OutgoingWhatsApp, OutgoingWhatsAppText, WhatsAppClient } from './messaging-transport';
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

/**
 * Cloud API error 131047, "Re-engagement message": more than 24 hours have passed since the
 * recipient last wrote to the business, so only an approved template is delivered
 * (https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes). The send
 * is permanent as it is; the messaging worker resends the message as its template.
 */
export const WHATSAPP_REENGAGEMENT_CODE = 131047;

/** Cloud API codes that mean "this recipient cannot get this message": no retry helps. */
export const whatsAppPermanentCodes: ReadonlySet<number> = new Set([
  100, // invalid parameter (e.g. a `to` that is no phone number)
  131008, // required parameter is missing
  131009, // parameter value is not valid (e.g. a button title over 20 characters)
  131026, // message undeliverable (not a WhatsApp user, old client, terms not accepted)
  WHATSAPP_REENGAGEMENT_CODE, // outside the 24-hour customer-service window: send a template instead
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
 * | `permanent` | codes 100, 131008, 131009, 131026, 131047 (outside the 24-hour window: {@link isOutsideCustomerServiceWindow}), 131051; any other 4xx |
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
 * Whether `error` is WhatsApp's 131047: the recipient has not written in the last 24 hours,
 * so free-form messages (text, interactive) are refused and an approved template must be sent
 * instead. True for the `ProviderError` a send throws; branch on this, never on the message.
 *
 * @example
 * try { await whatsapp.send(text) } catch (error) { if (isOutsideCustomerServiceWindow(error)) await whatsapp.send(template) }
 */
export function isOutsideCustomerServiceWindow(error: unknown): boolean {
  return error instanceof ProviderError && error.provider === 'whatsapp' && error.code === String(WHATSAPP_REENGAGEMENT_CODE);
}

/**
 * The category of each error code a Cloud API *status webhook* can carry
 * (`statuses[].errors[].code` of a `failed` status), from Meta's error-code reference
 * (https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes). A code not
 * listed is `transient` ({@link categorizeWhatsAppDeliveryError}).
 */
export const whatsAppDeliveryErrorCategories: ReadonlyMap<number, ErrorCategory> = new Map<number, ErrorCategory>([
  [131000, 'transient'], // something went wrong (unknown error on Meta's side)
  [131016, 'transient'], // service temporarily unavailable
  [131049, 'transient'], // not delivered "to maintain healthy ecosystem engagement": a later attempt may pass
  [130429, 'rate_limit'], // Cloud API throughput reached
  [131056, 'rate_limit'], // too many messages to this (business, consumer) pair
  [131026, 'permanent'], // message undeliverable (not on WhatsApp, old client, terms not accepted)
  [WHATSAPP_REENGAGEMENT_CODE, 'permanent'], // outside the 24-hour customer-service window: resend as a template
  [131050, 'permanent'], // the recipient stopped marketing messages from this business
  [131051, 'permanent'], // unsupported message type
  [131053, 'permanent'], // media upload error (unsupported media)
  [130472, 'permanent'], // the recipient's number is part of Meta's marketing-message experiment
]);

/**
 * The category of a failed delivery reported by a WhatsApp status webhook (its
 * `errors[].code`): the table {@link whatsAppDeliveryErrorCategories}; an unknown or unreadable
 * code is `transient`.
 *
 * @example categorizeWhatsAppDeliveryError('131026') // 'permanent'
 */
export function categorizeWhatsAppDeliveryError(code: string | number): ErrorCategory {
  const numeric = typeof code === 'number' ? code : /^\d{1,10}$/.test(code.trim()) ? Number(code.trim()) : Number.NaN;
  return whatsAppDeliveryErrorCategories.get(numeric) ?? 'transient';
}

/** A message without `kind` is the original text shape. */
const withKind = (message: OutgoingWhatsApp | OutgoingWhatsAppText): OutgoingWhatsApp =>
  'kind' in message ? message : { kind: 'text', to: message.to, text: message.text, ...(message.callbackData !== undefined && { callbackData: message.callbackData }) };

/** The Cloud API's `type` and its object for each kind of message. */
function contentOf(message: OutgoingWhatsApp): Record<string, unknown> {
  switch (message.kind) {
    case 'text':
      return { type: 'text', text: { body: message.text } };
    case 'buttons':
      return {
        type: 'interactive',
        interactive: {
          type: 'button',
          body: { text: message.body },
          ...(message.footer !== undefined && { footer: { text: message.footer } }),
          action: { buttons: message.buttons.map(({ id, title }) => ({ type: 'reply', reply: { id, title } })) },
        },
      };
    case 'list':
      return {
        type: 'interactive',
        interactive: {
          type: 'list',
          body: { text: message.body },
          ...(message.footer !== undefined && { footer: { text: message.footer } }),
          action: {
            button: message.buttonLabel,
            sections: [
              {
                ...(message.sectionTitle !== undefined && { title: message.sectionTitle }),
                rows: message.rows.map(({ id, title, description }) => ({ id, title, ...(description !== undefined && { description }) })),
              },
            ],
          },
        },
      };
    case 'template':
      return {
        type: 'template',
        template: {
          name: message.name,
          language: { code: message.language },
          ...(message.bodyParameters.length > 0 && { components: [{ type: 'body', parameters: message.bodyParameters.map((text) => ({ type: 'text', text })) }] }),
        },
      };
  }
}

/**
 * The Cloud API request body (`POST /{version}/{phone-number-id}/messages`) for a message of
 * any kind, exactly as Meta documents it: `text`, `interactive` (`button` with reply buttons,
 * `list` with one section of rows) or `template` (name, `language.code`, body parameters).
 * Limits are checked by the API (which answers 131009 or 100), not here.
 *
 * @example
 * whatsAppMessageRequest({ kind: 'buttons', to: '+14155550123', body: 'Which one?', buttons: [{ id: 'v1', title: 'Venue 1' }] })
 * // { messaging_product: 'whatsapp', recipient_type: 'individual', to: '+14155550123', type: 'interactive',
 * //   interactive: { type: 'button', body: { text: 'Which one?' }, action: { buttons: [{ type: 'reply', reply: { id: 'v1', title: 'Venue 1' } }] } } }
 */
export function whatsAppMessageRequest(message: OutgoingWhatsApp | OutgoingWhatsAppText): Record<string, unknown> {
  const full = withKind(message);
  return {
    messaging_product: 'whatsapp',
    recipient_type: 'individual',
    to: full.to,
    ...contentOf(full),
    ...(full.callbackData !== undefined && { biz_opaque_callback_data: full.callbackData }),
  };
}

/**
 * A WhatsApp Cloud API client behind {@link WhatsAppClient}: text, interactive (reply buttons,
 * list) and template messages as `POST {baseUrl}/{apiVersion}/{phoneNumberId}/messages` with the
 * bearer token (bodies: {@link whatsAppMessageRequest}). Resolves with the message id
 * (`wamid.…`); throws `ProviderError` with the category of {@link categorizeWhatsAppError}
 * (131047, outside the 24-hour window: {@link isOutsideCustomerServiceWindow}).
 *
 * @example
 * const whatsapp = createWhatsAppClient(config.whatsapp);
 * const { providerMessageId } = await whatsapp.send({ to: '+14155550123', text: 'Hi', callbackData: communicationId });
 * await whatsapp.send({ kind: 'template', to: '+14155550123', name: 'vendors_ready', language: 'en', bodyParameters: ['Ada'] });
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
    async send(message: OutgoingWhatsApp | OutgoingWhatsAppText): Promise<AcceptedMessage> {
      const request = whatsAppMessageRequest(message);
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
