import type { IncomingMessage, ServerResponse } from 'node:http';
import fastify, { LogController, type FastifyError, type FastifyInstance, type RawServerDefault } from 'fastify';
import { z } from 'zod';
import type { Logger } from '@crm/observability';
import { registerCallbackAdmin, type CallbackAdminDependencies } from './admin-callbacks';
import { registerFaultAdmin } from './admin-faults';
import { FaultStore } from './faults';
import type { InboundSimulator } from './inbound';
import { registerInboundRoutes } from './inbound-routes';
import type { Mailbox } from './mailbox';
import { problem, sendProblem } from './problem-details';
import { SmtpStats } from './smtp-stats';
import { parseInput } from './validation';
import { registerTwilioSimulator, type TwilioSimulatorOptions } from './twilio';
import { registerWhatsAppSimulator, type WhatsAppSimulatorOptions } from './whatsapp';

export interface SandboxHttpDependencies {
  readonly mailbox: Mailbox;
  readonly logger: Logger;
  /** The fault knobs `/admin/faults` sets (give the SMTP server the same store). @defaultValue a new one */
  readonly faults?: FaultStore;
  /** The SMTP server's counters, for `GET /smtp/stats`. @defaultValue a new one */
  readonly stats?: SmtpStats;
  /** The Twilio stand-in under `/twilio` and its outbox at `/sms/messages` (see twilio.ts). */
  readonly twilio?: TwilioSimulatorOptions;
  /** The WhatsApp Cloud API stand-in under `/whatsapp` and its outbox at `/whatsapp/messages`. */
  readonly whatsapp?: WhatsAppSimulatorOptions;
  /** The status-callback, delivery-outcome and 24-hour-window knobs under `/admin/callbacks` and `/admin/whatsapp/window`. */
  readonly callbackAdmin?: CallbackAdminDependencies;
  /** The inbound test routes `POST /sms/inbound` and `POST /whatsapp/inbound`. */
  readonly inbound?: InboundSimulator;
}

/** Largest `limit` accepted by `GET /smtp/messages`. */
export const MAX_LIST_LIMIT = 1000;
/** `limit` of `GET /smtp/messages` when not given. */
export const DEFAULT_LIST_LIMIT = 50;

/** The Fastify instance {@link buildSandboxHttp} returns (its logger is our pino logger). */
export type SandboxHttp = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, Logger>;

const listQuery = z.strictObject({
  to: z.string().min(1).max(320).optional(),
  communicationId: z.guid().optional(),
  limit: z.coerce.number().int().min(1).max(MAX_LIST_LIMIT).default(DEFAULT_LIST_LIMIT),
});

const messageParams = z.strictObject({ id: z.string().min(1).max(200) });

/**
 * The sandbox HTTP API over `mailbox`, not yet listening (`await app.listen(…)`, or test it
 * with `app.inject()`):
 *
 * - `GET /health` → `{ status: 'ok' }`
 * - `GET /smtp/messages?to=&communicationId=&limit=` → `{ messages }`, newest first (limit
 *   1–1000, default 50; `communicationId` matches the `X-CRM-Communication-Id` header)
 * - `GET /smtp/messages/:id` → one message, or 404
 * - `GET /smtp/stats` → `{ received, refused, dropped }`
 * - `DELETE /smtp/messages` → 204, mailbox emptied and counters reset
 * - `GET|PUT|DELETE /admin/faults[/:channel]`: the fault knobs (see admin-faults.ts)
 * - with `twilio` / `whatsapp`: the provider stand-ins under `/twilio` and `/whatsapp`, and their
 *   outboxes `GET|DELETE /sms/messages` and `GET|DELETE /whatsapp/messages`
 * - with `callbackAdmin`: `GET|PUT /admin/callbacks`, `PUT|DELETE /admin/callbacks/outcomes[/:channel]`,
 *   `GET|PUT|DELETE /admin/whatsapp/window` (see admin-callbacks.ts)
 * - with `inbound`: `POST /sms/inbound` and `POST /whatsapp/inbound` (see inbound-routes.ts)
 *
 * Errors are `application/problem+json`. Requests are logged by route and status only (never
 * the query string, which may hold an address).
 *
 * @example
 * const app = buildSandboxHttp({ mailbox, logger });
 * await app.listen({ host: '127.0.0.1', port: 4010 });
 */
export function buildSandboxHttp({ mailbox, logger, twilio, whatsapp, callbackAdmin, inbound, ...dependencies }: SandboxHttpDependencies): SandboxHttp {
  const { faults = new FaultStore({ logger }), stats = new SmtpStats() } = dependencies;
  // Fastify's own request lines carry the URL, query string included; ours below do not.
  const app = fastify({ loggerInstance: logger, logController: new LogController({ disableRequestLogging: true }) });

  app.addHook('onResponse', (request, reply, done) => {
    request.log.debug(
      { method: request.method, route: request.routeOptions.url ?? null, statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime) },
      'request completed',
    );
    done();
  });

  app.setErrorHandler<FastifyError>((error, request, reply) => {
    // Fastify's validation message names the part and field: 'querystring/limit must be <= 1000'.
    if (error.validation) return sendProblem(reply, problem(400, error.message));
    const status = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) {
      request.log.error({ err: error }, 'request failed');
      return sendProblem(reply, problem(500, 'Unexpected error'));
    }
    return sendProblem(reply, problem(status, error.message));
  });

  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, problem(404, `No route ${request.method} ${request.url.split('?')[0] ?? ''}`)),
  );

  app.get('/health', () => ({ status: 'ok' }));

  app.get('/smtp/messages', async (request, reply) => {
    const query = parseInput(listQuery, request.query ?? {}, 'querystring');
    if (!query.success) return sendProblem(reply, query.problem);
    const { to, communicationId, limit } = query.data;
    return { messages: await mailbox.messages({ limit, ...(to !== undefined && { to }), ...(communicationId !== undefined && { communicationId }) }) };
  });

  app.get('/smtp/messages/:id', async (request, reply) => {
    const params = parseInput(messageParams, request.params, 'params');
    if (!params.success) return sendProblem(reply, params.problem);
    const message = await mailbox.get(params.data.id);
    if (!message) return sendProblem(reply, problem(404, `No message with id ${params.data.id}`));
    return message;
  });

  app.get('/smtp/stats', async () => stats.snapshot());

  app.delete('/smtp/messages', (_request, reply) => {
    const removed = mailbox.size;
    mailbox.clear();
    stats.reset();
    logger.info({ removed }, 'mailbox cleared, counters reset');
    return reply.code(204).send();
  });

  registerFaultAdmin(app, faults);

  if (twilio) registerTwilioSimulator(app, twilio);
  if (whatsapp) registerWhatsAppSimulator(app, whatsapp);
  if (callbackAdmin) registerCallbackAdmin(app, callbackAdmin);
  if (inbound) registerInboundRoutes(app, inbound);

  return app;
}
