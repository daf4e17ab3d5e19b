import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { CustomerServiceWindow } from './customer-service-window';
import type { SandboxHttp } from './http-api';
import { type SentMessages, type StoredMessageBase } from './sent-messages';
import { applyFault, dropConnection, type FaultSource } from './simulator-faults';
import { registerOutboxRoutes } from './twilio';
import { checkInteractive, checkTemplate, type ContentResult, type SandboxInteractive, type SandboxTemplate } from './whatsapp-content';

/** What every WhatsApp message the Cloud API simulator accepted has. */
interface SandboxWhatsAppMessageBase extends StoredMessageBase {
  /** `wamid.…`, as Meta's. */
  readonly id: string;
  readonly phoneNumberId: string;
  /** The recipient's WhatsApp id: the number's digits. */
  readonly waId: string;
  /**
   * What the message says, for every type: a text message's text (`previewUrl` as sent); an
   * interactive message's body text; a template's body parameters, one per line (the sandbox
   * does not know the template's wording).
   */
  readonly text: { readonly body: string; readonly previewUrl: boolean };
  /** `biz_opaque_callback_data`, as sent. */
  readonly callbackData: string | null;
}

/** A WhatsApp message the Cloud API simulator accepted: a text, an interactive or a template message. */
export type SandboxWhatsAppMessage =
  | (SandboxWhatsAppMessageBase & { readonly type: 'text' })
  | (SandboxWhatsAppMessageBase & { readonly type: 'interactive'; readonly interactive: SandboxInteractive })
  | (SandboxWhatsAppMessageBase & { readonly type: 'template'; readonly template: SandboxTemplate });

export interface WhatsAppSimulatorOptions {
  readonly store: SentMessages<SandboxWhatsAppMessage>;
  /** The business phone number id it serves; other ids get Graph error 100. */
  readonly phoneNumberId: string;
  /** The access token it accepts (`Authorization: Bearer …`). */
  readonly accessToken: string;
  /** The fault knobs of its channel (the sandbox's `FaultStore`). */
  readonly faults?: FaultSource;
  /** Decides which requests an `errorRate` below 1 fails. @defaultValue Math.random */
  readonly random?: () => number;
  /**
   * The 24-hour customer-service window: when it is enforced, a text or interactive message to
   * a number that has not written in 24 h is refused with 131047. @defaultValue none (never refused)
   */
  readonly window?: CustomerServiceWindow;
  /** Called with each message once stored (the sandbox schedules its status callbacks here). */
  readonly onStored?: (message: SandboxWhatsAppMessage) => void;
}

/** A Graph API error body. */
export interface GraphErrorBody {
  readonly error: {
    readonly message: string;
    readonly type: string;
    readonly code: number;
    readonly error_subcode?: number;
    readonly error_data?: { readonly messaging_product: 'whatsapp'; readonly details: string };
    readonly is_transient?: boolean;
    readonly fbtrace_id: string;
  };
}

/** HTTP status, title and details of each Graph / Cloud API code the simulator answers with. */
const graphErrors: Readonly<Record<number, { status: number; title: string; details?: string }>> = {
  0: { status: 401, title: 'AuthException', details: 'We were unable to authenticate the app user.' },
  1: { status: 400, title: 'API Unknown', details: 'Invalid request or possible server error.' },
  2: { status: 503, title: 'API Service', details: 'Temporary due to downtime or due to being overloaded.' },
  4: { status: 400, title: 'API Too Many Calls', details: 'The app has reached its API call rate limit.' },
  10: { status: 403, title: 'API Permission Denied', details: 'Permission is either not granted or has been removed.' },
  100: { status: 400, title: 'Invalid parameter', details: 'The request included one or more unsupported or misspelled parameters.' },
  190: { status: 401, title: 'Access token has expired', details: 'Your access token has expired.' },
  80007: { status: 400, title: 'Rate limit issues', details: 'The WhatsApp Business Account has reached its rate limit.' },
  130429: { status: 429, title: 'Rate limit hit', details: 'Cloud API message throughput has been reached.' },
  131000: { status: 500, title: 'Something went wrong', details: 'Message failed to send due to an unknown error.' },
  131008: { status: 400, title: 'Required parameter is missing', details: 'The request is missing a required parameter.' },
  131009: { status: 400, title: 'Parameter value is not valid', details: 'One or more parameter values are invalid.' },
  131016: { status: 503, title: 'Service unavailable', details: 'A service is temporarily unavailable.' },
  131026: { status: 400, title: 'Message Undeliverable', details: 'Unable to deliver message.' },
  131047: { status: 400, title: 'Re-engagement message', details: 'More than 24 hours have passed since the recipient last replied to the sender number.' },
  131049: { status: 400, title: 'Meta chose not to deliver.', details: 'This message was not delivered to maintain healthy ecosystem engagement.' },
  131050: { status: 400, title: 'Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.', details: 'Unable to deliver the message.' },
  130472: { status: 400, title: "User's number is part of an experiment", details: "Failed to send message because this user's phone number is part of an experiment." },
  131051: { status: 400, title: 'Unsupported message type', details: 'Unsupported message type.' },
  131056: {
    status: 400,
    title: '(Business Account, Consumer Account) pair rate limit hit',
    details: 'Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.',
  },
};

const fbtraceId = (): string => randomBytes(12).toString('base64url');

/**
 * Meta's title and details of a Cloud API error code, as a status webhook's `errors[]` item
 * carries them (`{ code, title, message, error_data: { details }, href }`).
 *
 * @example whatsAppErrorInfo(131026) // { title: 'Message Undeliverable', details: 'Unable to deliver message.' }
 */
export function whatsAppErrorInfo(code: number): { readonly title: string; readonly details: string } {
  const known = graphErrors[code];
  return { title: known?.title ?? 'Sandbox error', details: known?.details ?? 'Sandbox error.' };
}

/**
 * The Graph error body (and HTTP status) for a Cloud API `code`, as Meta sends it: message
 * `(#code) title`, type `OAuthException`, `error_data.details`. 190 reads like Meta's token
 * error. An unknown code answers 400.
 *
 * @example graphError(131026).status // 400
 */
export function graphError(code: number, details?: string): { status: number; body: GraphErrorBody } {
  const known = graphErrors[code];
  const status = known?.status ?? 400;
  const message = code === 190 ? 'Invalid OAuth access token - Cannot parse access token' : `(#${code}) ${known?.title ?? 'Sandbox error'}`;
  return {
    status,
    body: {
      error: {
        message,
        type: 'OAuthException',
        code,
        ...(code !== 190 && { error_data: { messaging_product: 'whatsapp' as const, details: details ?? known?.details ?? 'Sandbox error.' } }),
        ...(status >= 500 && { is_transient: true }),
        fbtrace_id: fbtraceId(),
      },
    },
  };
}

const sendGraphError = (reply: FastifyReply, code: number, details?: string): FastifyReply => {
  const { status, body } = graphError(code, details);
  return reply.code(status).type('application/json').send(body);
};

const safeEqual = (a: string, b: string): boolean => {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
};

/** The bearer token (header, or Graph's `access_token` query parameter). */
function tokenOf(request: FastifyRequest): string | null {
  const header = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '');
  if (header?.[1]) return header[1];
  const query = (request.query as Record<string, unknown> | undefined)?.access_token;
  return typeof query === 'string' && query !== '' ? query : null;
}

const pathParams = z.object({ version: z.string(), phoneNumberId: z.string() });

/** A phone number the Cloud API takes: digits with an optional `+` and common separators. */
const phoneLike = /^\+?[\d\s().-]{7,24}$/;

/** The fields every send request has; the message itself is checked by its `type`. */
const sendMessageEnvelope = z.object({
  messaging_product: z.literal('whatsapp', { error: 'The parameter messaging_product is required and must be whatsapp.' }),
  recipient_type: z.literal('individual', { error: 'Param recipient_type must be individual.' }).optional(),
  to: z.string({ error: 'The parameter to is required.' }).regex(phoneLike, { error: 'Param to must be a phone number.' }),
  type: z.enum(['text', 'interactive', 'template'], { error: 'Param type must be one of {text, interactive, template} in the sandbox.' }).default('text'),
  biz_opaque_callback_data: z.string().max(512, { error: 'Param biz_opaque_callback_data must be at most 512 characters long.' }).optional(),
});

const textContent = z.object(
  {
    body: z.string({ error: "The parameter text['body'] is required." }).min(1, { error: "The parameter text['body'] is required." }).max(4096, {
      error: "Param text['body'] must be at most 4096 characters long.",
    }),
    preview_url: z.boolean().optional(),
  },
  { error: "The parameter text['body'] is required." },
);

/** The type-specific part of a stored message. */
type MessageContent =
  | { readonly type: 'text'; readonly text: { readonly body: string; readonly previewUrl: boolean } }
  | { readonly type: 'interactive'; readonly interactive: SandboxInteractive; readonly text: { readonly body: string; readonly previewUrl: boolean } }
  | { readonly type: 'template'; readonly template: SandboxTemplate; readonly text: { readonly body: string; readonly previewUrl: boolean } };

/** Checks the message of `type` in `body` (a text, an `interactive` or a `template` object). */
function contentOf(type: 'text' | 'interactive' | 'template', body: Record<string, unknown>): ContentResult<MessageContent> {
  if (type === 'interactive') {
    const checked = checkInteractive(body.interactive);
    return checked.ok ? { ok: true, value: { type, interactive: checked.value, text: { body: checked.value.body, previewUrl: false } } } : checked;
  }
  if (type === 'template') {
    const checked = checkTemplate(body.template);
    return checked.ok ? { ok: true, value: { type, template: checked.value, text: { body: checked.value.bodyParameters.join('\n'), previewUrl: false } } } : checked;
  }
  const text = textContent.safeParse(body.text);
  if (text.success) return { ok: true, value: { type, text: { body: text.data.body, previewUrl: text.data.preview_url ?? false } } };
  const issue = text.error.issues[0];
  return { ok: false, code: issue?.code === 'too_big' ? 100 : 131008, details: issue?.message ?? "The parameter text['body'] is required." };
}

/**
 * The WhatsApp Cloud API stand-in, under `/whatsapp` (so
 * `WHATSAPP_BASE_URL=http://127.0.0.1:4010/whatsapp`):
 *
 * - `POST /whatsapp/:version/:phoneNumberId/messages` (JSON, `Authorization: Bearer <token>`) →
 *   200 `{ messaging_product: 'whatsapp', contacts: [{ input, wa_id }], messages: [{ id: 'wamid.…' }] }`
 *   for a `text`, `interactive` (`button`, `list`) or `template` message, or a Graph error
 *   `{ error: { message, type, code, error_data, fbtrace_id } }`: 401/190 for a bad token,
 *   400/100 for an unknown phone number id or a bad parameter, 400/131008 for a missing one
 *   (e.g. the text body), 400/131009 for a value beyond Meta's limits (see whatsapp-content.ts),
 *   and 400/131047 for a text or interactive message outside the 24-hour customer-service
 *   window when `window` enforces it (templates always pass).
 *
 * and the outbox, for tests: `GET /whatsapp/messages?communicationId=&to=&limit=` and
 * `DELETE /whatsapp/messages`. A message's communication id is its `biz_opaque_callback_data`
 * when that is a UUID (the messaging worker sets it). The `whatsapp` fault knobs apply to sends:
 * latency first (a client that hung up meanwhile gets nothing stored), then outage (503/code 2)
 * or `errorCode` at `errorRate`.
 */
export function registerWhatsAppSimulator(app: SandboxHttp, options: WhatsAppSimulatorOptions): void {
  const { store } = options;

  void app.register(
    async (graph) => {
      graph.setErrorHandler((error: { statusCode?: number }, request, reply) => {
        const status = error.statusCode ?? 500;
        if (status >= 500) {
          request.log.error({ err: error }, 'whatsapp simulator failed');
          return sendGraphError(reply, 1);
        }
        // A body that is not JSON, or too large.
        return sendGraphError(reply, 100, 'The request body could not be read.');
      });

      graph.post('/:version/:phoneNumberId/messages', async (request, reply) => {
        const token = tokenOf(request);
        if (token === null || !safeEqual(token, options.accessToken)) return sendGraphError(reply, 190);
        const params = pathParams.parse(request.params);
        if (!/^v\d+\.\d+$/.test(params.version)) return sendGraphError(reply, 100, `Unknown path components: /${params.version}`);
        if (params.phoneNumberId !== options.phoneNumberId) {
          const { body } = graphError(100);
          return reply.code(400).type('application/json').send({
            error: {
              ...body.error,
              message: `Unsupported post request. Object with ID '${params.phoneNumberId}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`,
              type: 'GraphMethodException',
              error_subcode: 33,
            },
          });
        }

        const { outcome, connected } = await applyFault(options.faults?.get('whatsapp'), request, options.random);
        if (!connected) {
          // Nobody reads an answer now: drop the connection, store nothing.
          request.log.info('whatsapp client hung up during the simulated latency; nothing stored');
          return dropConnection(request, reply);
        }
        if (outcome.kind === 'outage') return sendGraphError(reply, 2);
        if (outcome.kind === 'error') {
          const code = Number(outcome.code);
          return sendGraphError(reply, Number.isInteger(code) ? code : 131000);
        }

        const envelope = sendMessageEnvelope.safeParse(request.body ?? {});
        if (!envelope.success) return sendGraphError(reply, 100, envelope.error.issues[0]?.message ?? 'Invalid parameter');
        const message = envelope.data;
        const content = contentOf(message.type, (request.body ?? {}) as Record<string, unknown>);
        if (!content.ok) return sendGraphError(reply, content.code, content.details);
        if (options.window && !options.window.allows(message.to, message.type)) {
          request.log.info({ type: message.type }, 'whatsapp message outside the 24-hour window refused (131047)');
          return sendGraphError(reply, 131047, 'Message failed to send because more than 24 hours have passed since the customer last replied to this number.');
        }
        const callbackData = message.biz_opaque_callback_data ?? null;
        const stored = store.add({
          id: `wamid.${randomBytes(30).toString('base64')}`,
          communicationId: callbackData !== null && z.uuid().safeParse(callbackData).success ? callbackData.toLowerCase() : null,
          to: message.to,
          receivedAt: new Date().toISOString(),
          phoneNumberId: params.phoneNumberId,
          waId: message.to.replace(/\D/g, ''),
          callbackData,
          ...content.value,
        });
        request.log.info({ messageId: stored.id, communicationId: stored.communicationId, type: stored.type }, 'whatsapp message stored');
        try {
          options.onStored?.(stored);
        } catch (error) {
          request.log.error({ err: error, messageId: stored.id }, 'whatsapp onStored hook failed');
        }
        return {
          messaging_product: 'whatsapp',
          contacts: [{ input: stored.to, wa_id: stored.waId }],
          messages: [{ id: stored.id }],
        };
      });
    },
    { prefix: '/whatsapp' },
  );

  registerOutboxRoutes(app, '/whatsapp/messages', store);
}
