import type { IncomingMessage, ServerResponse } from 'node:http';
import fastify, { LogController, type FastifyError, type FastifyInstance, type RawServerDefault } from 'fastify';
import type { Logger } from '@crm/observability';
import type { Mailbox } from './mailbox';
import { problem, sendProblem } from './problem-details';

export interface SandboxHttpDependencies {
  readonly mailbox: Mailbox;
  readonly logger: Logger;
}

/** Largest `limit` accepted by `GET /smtp/messages`. */
export const MAX_LIST_LIMIT = 1000;
/** `limit` of `GET /smtp/messages` when not given. */
export const DEFAULT_LIST_LIMIT = 50;

/** The Fastify instance {@link buildSandboxHttp} returns (its logger is our pino logger). */
export type SandboxHttp = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, Logger>;

interface ListQuery {
  readonly to?: string;
  readonly limit: number;
}
interface MessageParams {
  readonly id: string;
}

const listQuerySchema = {
  type: 'object',
  properties: {
    to: { type: 'string', minLength: 1, maxLength: 320 },
    limit: { type: 'integer', minimum: 1, maximum: MAX_LIST_LIMIT, default: DEFAULT_LIST_LIMIT },
  },
  additionalProperties: false,
} as const;

const messageParamsSchema = {
  type: 'object',
  properties: { id: { type: 'string', minLength: 1, maxLength: 200 } },
  required: ['id'],
} as const;

/**
 * The sandbox HTTP API over `mailbox`, not yet listening (`await app.listen(…)`, or test it
 * with `app.inject()`):
 *
 * - `GET /health` → `{ status: 'ok' }`
 * - `GET /smtp/messages?to=&limit=` → `{ messages }`, newest first (limit 1–1000, default 50)
 * - `GET /smtp/messages/:id` → one message, or 404
 * - `DELETE /smtp/messages` → 204, mailbox emptied
 *
 * Errors are `application/problem+json`. Requests are logged by route and status only (never
 * the query string, which may hold an address).
 *
 * @example
 * const app = buildSandboxHttp({ mailbox, logger });
 * await app.listen({ host: '127.0.0.1', port: 4010 });
 */
export function buildSandboxHttp({ mailbox, logger }: SandboxHttpDependencies): SandboxHttp {
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

  app.get<{ Querystring: ListQuery }>('/smtp/messages', { schema: { querystring: listQuerySchema } }, (request) => {
    const { to, limit } = request.query;
    return { messages: mailbox.list(to === undefined ? { limit } : { to, limit }) };
  });

  app.get<{ Params: MessageParams }>('/smtp/messages/:id', { schema: { params: messageParamsSchema } }, (request, reply) => {
    const message = mailbox.get(request.params.id);
    if (!message) return sendProblem(reply, problem(404, `No message with id ${request.params.id}`));
    return message;
  });

  app.delete('/smtp/messages', (_request, reply) => {
    const removed = mailbox.size;
    mailbox.clear();
    logger.info({ removed }, 'mailbox cleared');
    return reply.code(204).send();
  });

  return app;
}
