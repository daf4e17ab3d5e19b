import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { smsSegments } from '@crm/core';
import type { SandboxHttp } from './http-api';
import { problem, sendProblem } from './problem-details';
import { type SentMessages, type StoredMessageBase } from './sent-messages';
import { applyFault, dropConnection, type FaultSource } from './simulator-faults';

/** An SMS the Twilio simulator accepted. */
export interface SandboxSms extends StoredMessageBase {
  /** `SM` followed by 32 hex digits, as Twilio's. */
  readonly id: string;
  readonly accountSid: string;
  readonly from: string;
  readonly body: string;
  /** The `StatusCallback` URL exactly as sent (its status callbacks go there, signed over it). */
  readonly statusCallback: string | null;
  readonly numSegments: number;
  readonly status: 'queued';
  /** `outbound-api` for a message sent through the API, `outbound-reply` for a TwiML answer to an inbound SMS. */
  readonly direction: 'outbound-api' | 'outbound-reply';
}

export interface TwilioSimulatorOptions {
  readonly store: SentMessages<SandboxSms>;
  /** The credentials it accepts (HTTP basic auth: Account SID and auth token). */
  readonly accountSid: string;
  readonly authToken: string;
  /** The fault knobs of its channel (the sandbox's `FaultStore`). */
  readonly faults?: FaultSource;
  /** Decides which requests an `errorRate` below 1 fails. @defaultValue Math.random */
  readonly random?: () => number;
  /** Called with each message once stored (the sandbox schedules its status callbacks here). */
  readonly onStored?: (message: SandboxSms) => void;
}

/** A Twilio REST error: `{ code, message, more_info, status }`. */
export interface TwilioErrorBody {
  readonly code: number;
  readonly message: string;
  readonly more_info: string;
  readonly status: number;
}

/** HTTP status and message of each Twilio error code the simulator answers with. */
const twilioErrors: Readonly<Record<number, { status: number; message: string }>> = {
  20003: { status: 401, message: 'Authenticate' },
  20404: { status: 404, message: 'The requested resource was not found' },
  20429: { status: 429, message: 'Too Many Requests' },
  20500: { status: 500, message: 'Internal Server Error' },
  20503: { status: 503, message: 'Service Unavailable' },
  21211: { status: 400, message: "Invalid 'To' Phone Number" },
  21212: { status: 400, message: "Invalid 'From' Phone Number" },
  21408: { status: 400, message: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number" },
  21602: { status: 400, message: 'Message body is required.' },
  21603: { status: 400, message: "A 'From' phone number is required." },
  21604: { status: 400, message: "A 'To' phone number is required." },
  21609: { status: 400, message: 'Invalid StatusCallback url' },
  21610: { status: 400, message: 'Attempt to send to unsubscribed recipient' },
  21612: { status: 400, message: "The 'To' phone number is not currently reachable via SMS" },
  21614: { status: 400, message: "'To' number is not a valid mobile number" },
  21617: { status: 400, message: 'The concatenated message body exceeds the 1600 character limit.' },
};

/**
 * Twilio's error body for `code`; an unknown code answers 400 (5xx for 20500–20599).
 *
 * @example twilioError(21211) // { code: 21211, message: "Invalid 'To' Phone Number", more_info: '…/21211', status: 400 }
 */
export function twilioError(code: number): TwilioErrorBody {
  const known = twilioErrors[code];
  const status = known?.status ?? (code >= 20500 && code < 20600 ? 500 : 400);
  return { code, message: known?.message ?? `Error ${code} (sandbox)`, more_info: `https://www.twilio.com/docs/errors/${code}`, status };
}

/**
 * The magic `To` numbers of Twilio's test credentials, which fail the same way here: so tests
 * and demos can drive the engine's permanent-failure paths without fault knobs.
 */
export const twilioMagicNumbers: Readonly<Record<string, number>> = {
  '+15005550001': 21211, // invalid number
  '+15005550002': 21612, // cannot route
  '+15005550003': 21408, // no international permission
  '+15005550004': 21610, // blocked (opted out)
  '+15005550009': 21614, // not SMS-capable
};

const e164 = /^\+[1-9]\d{7,14}$/;

/** The form fields the simulator reads; Twilio ignores the ones it does not know. */
const createMessageForm = z.object({
  To: z.string().optional(),
  From: z.string().optional(),
  Body: z.string().optional(),
  StatusCallback: z.string().optional(),
});

const sidParams = z.object({ accountSid: z.string().min(1).max(64) });
const fetchParams = sidParams.extend({ sid: z.string().regex(/^SM[0-9a-f]{32}$/) });

const sendTwilioError = (reply: FastifyReply, code: number, headers: Record<string, string> = {}): FastifyReply => {
  const body = twilioError(code);
  return reply.code(body.status).headers(headers).type('application/json').send(body);
};

const safeEqual = (a: string, b: string): boolean => {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
};

/** The Account SID of valid basic credentials, else `null`. */
function authenticate(request: FastifyRequest, options: TwilioSimulatorOptions): string | null {
  const header = request.headers.authorization ?? '';
  const match = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header);
  if (!match?.[1]) return null;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  const user = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  return safeEqual(user, options.accountSid) && safeEqual(password, options.authToken) ? user : null;
}

/** The communication id carried as `?cid=` in the StatusCallback URL, if any. */
function communicationIdOf(statusCallback: URL | null): string | null {
  const cid = statusCallback?.searchParams.get('cid') ?? null;
  return cid !== null && z.uuid().safeParse(cid).success ? cid.toLowerCase() : null;
}

const rfc2822 = (date: Date): string => date.toUTCString().replace('GMT', '+0000');

/** Twilio's Message resource as the API answers it (JSON). */
function messageResource(message: SandboxSms) {
  const date = rfc2822(new Date(message.receivedAt));
  const uri = `/2010-04-01/Accounts/${message.accountSid}/Messages/${message.id}`;
  return {
    account_sid: message.accountSid,
    api_version: '2010-04-01',
    body: message.body,
    date_created: date,
    date_sent: null,
    date_updated: date,
    direction: message.direction,
    error_code: null,
    error_message: null,
    from: message.from,
    messaging_service_sid: null,
    num_media: '0',
    num_segments: String(message.numSegments),
    price: null,
    price_unit: 'USD',
    sid: message.id,
    status: message.status,
    subresource_uris: { media: `${uri}/Media.json` },
    to: message.to,
    uri: `${uri}.json`,
  };
}

/**
 * The Twilio stand-in, under `/twilio` (so `TWILIO_BASE_URL=http://127.0.0.1:4010/twilio`):
 *
 * - `POST /twilio/2010-04-01/Accounts/:AccountSid/Messages.json` (form-encoded `To`, `From`,
 *   `Body`, optional `StatusCallback`; HTTP basic auth) → 201 with the Message resource, or
 *   Twilio's error body `{ code, message, more_info, status }`: 401/20003 for bad credentials,
 *   400/21604, 21603, 21602, 21617, 21211, 21212, 21609 for a bad request, and the errors of
 *   Twilio's magic test numbers ({@link twilioMagicNumbers}).
 * - `GET /twilio/2010-04-01/Accounts/:AccountSid/Messages/:Sid.json` → the Message resource.
 *
 * and the outbox, for tests: `GET /sms/messages?communicationId=&to=&limit=` (newest first) and
 * `DELETE /sms/messages`. A message's communication id is the `cid` query parameter of its
 * `StatusCallback` URL (the messaging worker sets it). The `sms` fault knobs apply to sends:
 * latency first (a client that hung up meanwhile gets nothing stored), then outage (503/20503)
 * or `errorCode` at `errorRate`.
 */
export function registerTwilioSimulator(app: SandboxHttp, options: TwilioSimulatorOptions): void {
  const { store } = options;

  void app.register(
    async (twilio) => {
      twilio.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
        done(null, Object.fromEntries(new URLSearchParams(body as string)));
      });
      // Errors here speak Twilio, not problem+json.
      twilio.setErrorHandler((error: { statusCode?: number }, request, reply) => {
        const status = error.statusCode ?? 500;
        if (status >= 500) request.log.error({ err: error }, 'twilio simulator failed');
        return reply.code(status).type('application/json').send({ code: status >= 500 ? 20500 : 20001, message: status >= 500 ? 'Internal Server Error' : 'Bad request', more_info: 'https://www.twilio.com/docs/errors/20001', status });
      });
      twilio.setNotFoundHandler((_request, reply) => sendTwilioError(reply, 20404));

      twilio.post('/2010-04-01/Accounts/:accountSid/Messages.json', async (request, reply) => {
        const authenticated = authenticate(request, options);
        const params = sidParams.safeParse(request.params);
        if (authenticated === null || !params.success || params.data.accountSid !== authenticated) {
          return sendTwilioError(reply, 20003, { 'www-authenticate': 'Basic realm="Twilio API"' });
        }

        const { outcome, connected } = await applyFault(options.faults?.get('sms'), request, options.random);
        if (!connected) {
          // Nobody reads an answer now: drop the connection, store nothing.
          request.log.info('sms client hung up during the simulated latency; nothing stored');
          return dropConnection(request, reply);
        }
        if (outcome.kind === 'outage') return sendTwilioError(reply, 20503);
        if (outcome.kind === 'error') {
          const code = Number(outcome.code);
          const body = twilioError(Number.isInteger(code) ? code : 20500);
          return reply.code(body.status).headers(body.status === 429 ? { 'retry-after': '1' } : {}).type('application/json').send(body);
        }

        const form = createMessageForm.safeParse(request.body ?? {});
        const fields = form.success ? form.data : {};
        if (!fields.To) return sendTwilioError(reply, 21604);
        if (!fields.From) return sendTwilioError(reply, 21603);
        if (!fields.Body) return sendTwilioError(reply, 21602);
        if (fields.Body.length > 1600) return sendTwilioError(reply, 21617);
        if (!e164.test(fields.To)) return sendTwilioError(reply, 21211);
        if (!e164.test(fields.From)) return sendTwilioError(reply, 21212);
        let statusCallback: URL | null = null;
        if (fields.StatusCallback) {
          statusCallback = URL.canParse(fields.StatusCallback) ? new URL(fields.StatusCallback) : null;
          if (statusCallback === null || !['http:', 'https:'].includes(statusCallback.protocol)) return sendTwilioError(reply, 21609);
        }
        const magic = twilioMagicNumbers[fields.To];
        if (magic !== undefined) return sendTwilioError(reply, magic);

        const stored = store.add({
          id: `SM${randomBytes(16).toString('hex')}`,
          communicationId: communicationIdOf(statusCallback),
          to: fields.To,
          receivedAt: new Date().toISOString(),
          accountSid: authenticated,
          from: fields.From,
          body: fields.Body,
          statusCallback: statusCallback === null ? null : (fields.StatusCallback ?? null),
          numSegments: smsSegments(fields.Body).segments,
          status: 'queued',
          direction: 'outbound-api',
        });
        request.log.info({ sid: stored.id, communicationId: stored.communicationId, segments: stored.numSegments }, 'sms stored');
        try {
          options.onStored?.(stored);
        } catch (error) {
          request.log.error({ err: error, sid: stored.id }, 'sms onStored hook failed');
        }
        return reply.code(201).send(messageResource(stored));
      });

      twilio.get('/2010-04-01/Accounts/:accountSid/Messages/:sid.json', async (request, reply) => {
        const authenticated = authenticate(request, options);
        const params = fetchParams.safeParse(request.params);
        if (authenticated === null) return sendTwilioError(reply, 20003, { 'www-authenticate': 'Basic realm="Twilio API"' });
        const message = params.success && params.data.accountSid === authenticated ? store.get(params.data.sid) : undefined;
        if (!message) return sendTwilioError(reply, 20404);
        return messageResource(message);
      });
    },
    { prefix: '/twilio' },
  );

  registerOutboxRoutes(app, '/sms/messages', store);
}

const listQuery = z.strictObject({
  communicationId: z.uuid().optional(),
  to: z.string().min(1).max(32).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
});

/**
 * `GET <path>?communicationId=&to=&limit=` (newest first, limit 1–1000, default 50) and
 * `DELETE <path>` over a simulator's store; errors as problem+json naming the field.
 */
export function registerOutboxRoutes<T extends StoredMessageBase>(app: SandboxHttp, path: string, store: SentMessages<T>): void {
  app.get(path, async (request, reply) => {
    const query = listQuery.safeParse(request.query ?? {});
    if (!query.success) {
      const issue = query.error.issues[0];
      return sendProblem(reply, problem(400, `querystring/${issue?.path.join('.') || 'query'}: ${issue?.message ?? 'invalid'}`));
    }
    const { communicationId, to, limit } = query.data;
    return { messages: store.list({ limit, ...(communicationId !== undefined && { communicationId }), ...(to !== undefined && { to }) }) };
  });
  app.delete(path, async (request, reply) => {
    const removed = store.size;
    store.clear();
    request.log.info({ removed, path }, 'outbox cleared');
    return reply.code(204).send();
  });
}
