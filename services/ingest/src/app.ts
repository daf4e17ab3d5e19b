import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Kysely } from 'kysely';
import type { StrategySettings } from '@crm/core';
import type { PreferencesCache, TemplateStore } from '@crm/delivery';
import type { Redis } from 'ioredis';
import type { Database, PiiKeys } from '@crm/db';
import type { Logger } from '@crm/observability';
import type { QueueProducer } from '@crm/queue';
import type { WhatsAppClient } from '@crm/providers';
import { ApiKeyAuthenticator, registerApiKeyAuth } from './auth';
import { answerFrameworkError, registerErrorHandling } from './error-handler';
import { operatorRoutes, type OperatorAccess } from './operator';
import { batchRoutes } from './routes/batch';
import { previewRoutes } from './routes/preview';
import { attachmentRoutes } from './routes/attachments';
import { trackingRoutes } from './routes/tracking';
import { templateRoutes } from './routes/templates';
import { webhookRoutes } from './routes/webhooks';
import { cancelRoutes } from './routes/cancel';
import { communicationsRoutes } from './routes/communications';
import { healthRoutes } from './routes/health';
import { readRoutes } from './routes/read';
import { preferencesRoutes } from './routes/preferences';
import { clientRoutes } from './routes/clients';
import { analyticsRoutes } from './routes/analytics';
import { callbackRoutes } from './routes/callbacks';
import { registerApiRateLimit } from './api-rate-limit';
import { dashboardRoutes } from './dashboard';
import { registerOpenApi } from './openapi';

/** Everything the HTTP API needs, passed in (tests build the same app on real PG and Redis). */
export interface IngestDeps {
  readonly db: Kysely<Database>;
  readonly producer: QueueProducer;
  readonly keys: PiiKeys;
  readonly logger: Logger;
  /** Answers when Redis does (for /ready). */
  readonly redisPing: () => Promise<unknown>;
  /** Largest accepted body, in bytes; larger gets 413 (the batch route takes ten times this). */
  readonly bodyLimitBytes: number;
  /**
   * Who may open the operator pages (the dashboard at /dashboard, Bull Board at /admin/queues), from `config.operator`.
   * @defaultValue no password: those pages answer 503
   */
  readonly operator?: OperatorAccess;
  /**
   * How long a verified API key is trusted without asking PostgreSQL again, in ms; a revoked
   * key keeps working this long at most.
   * @defaultValue 60000
   */
  readonly apiKeyCacheTtlMs?: number;
  /** The strategy's settings, for the dry run. @defaultValue @crm/core's `defaultStrategySettings` */
  readonly strategy?: StrategySettings;
  /**
   * Email settings of the routes that serve recipients and attachments, from `config.email`.
   * @defaultValue a tracking secret made up for this process, 5 s machine-open window, 10 MB attachments
   */
  readonly email?: IngestEmailSettings;
  /** The email templates (shared cache). @defaultValue a store of this app's own, memory only */
  readonly templates?: TemplateStore;
  /** How provider webhooks are verified. @defaultValue webhooks answer 503 (not configured) */
  readonly webhooks?: WebhookSettings;
  /**
   * A Redis connection for the API rate limit's counters (not a blocking worker connection).
   * @defaultValue none: no API rate limit
   */
  readonly redis?: Redis;
  /** Requests per API key on /api routes, from `config.api.rateLimit`. @defaultValue `null`: no limit */
  readonly apiRateLimit?: { readonly max: number; readonly windowMs: number } | null;
  /**
   * The cache of routing preferences, invalidated whenever ingest changes a client's preferences,
   * opt-outs or contact details. @defaultValue none: nothing to invalidate
   */
  readonly preferencesCache?: PreferencesCache;
  /**
   * How callback subscriptions are checked, from `config.callbacks`: `requireHttps` (NODE_ENV=production)
   * refuses http URLs but for loopback hosts. @defaultValue `{ requireHttps: false }`
   */
  readonly callbacks?: { readonly requireHttps: boolean };
}

/** The secrets that sign provider callbacks, and the public URL Twilio signs (config.twilio, config.whatsapp, PUBLIC_BASE_URL). */
export interface WebhookSettings {
  /** Twilio signs `X-Twilio-Signature` with the account's auth token. */
  readonly twilioAuthToken: string;
  /** Meta signs `X-Hub-Signature-256` with the app secret. */
  readonly whatsappAppSecret: string;
  /** Echoed in the `hub.verify_token` of the subscription handshake. */
  readonly whatsappVerifyToken: string;
  /** The public base URL of ingest: Twilio's signature covers the full URL it called. */
  readonly publicBaseUrl: string;
  /**
   * A client's answer is matched to a message that asked for one if that was sent at most this
   * long ago, in ms (`REPLY_WINDOW_HOURS`). @defaultValue 7 days
   */
  readonly replyWindowMs?: number;
  /** Sends WhatsApp's answers to STOP, START and HELP (SMS answers in TwiML). @defaultValue none: those keywords act but get no answer on WhatsApp */
  readonly whatsappReplies?: WhatsAppClient;
}

export interface IngestEmailSettings {
  /** HMAC key of tracking and unsubscribe tokens (the email worker signs with the same). */
  readonly trackingSecret: string;
  /** An open this soon after sending is flagged as a likely machine open, in ms. */
  readonly machineOpenWindowMs: number;
  /** Largest total size of one communication's attachments, in bytes. */
  readonly attachmentMaxTotalBytes: number;
}

/**
 * The ingest API as a Fastify instance, not yet listening.
 *
 * @example
 * const app = await buildApp(deps);
 * const response = await app.inject({ method: 'POST', url: '/api/crm/communications', payload });
 */
export async function buildApp(deps: IngestDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
    bodyLimit: deps.bodyLimitBytes,
    // Path parameters up to 256 characters reach validation (a client id may have 128; Fastify's
    // default of 100 would answer a longer one 414 before zod could name it).
    routerOptions: { maxParamLength: 256 },
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    // A malformed percent-encoding or an over-long parameter: problem+json like every other error.
    frameworkErrors: answerFrameworkError,
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // JSON only: Fastify's default text/plain parser would let a text body reach validation.
  app.removeContentTypeParser('text/plain');
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
    request.log.debug({ method: request.method, url: request.routeOptions.url, statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
  });
  registerErrorHandling(app);
  registerApiKeyAuth(app, new ApiKeyAuthenticator({
    db: deps.db,
    logger: deps.logger,
    ...(deps.apiKeyCacheTtlMs !== undefined && { cacheTtlMs: deps.apiKeyCacheTtlMs }),
  }));
  await registerApiRateLimit(app, deps);
  // The OpenAPI document and Swagger UI at /docs: before the routes, which it collects as they register.
  await registerOpenApi(app);
  await app.register(healthRoutes, deps);
  await app.register(communicationsRoutes, deps);
  await app.register(batchRoutes, deps);
  await app.register(readRoutes, deps);
  await app.register(cancelRoutes, deps);
  await app.register(previewRoutes, deps);
  await app.register(attachmentRoutes, deps);
  await app.register(trackingRoutes, deps);
  await app.register(templateRoutes, deps);
  await app.register(webhookRoutes, deps);
  await app.register(preferencesRoutes, deps);
  await app.register(clientRoutes, deps);
  await app.register(analyticsRoutes, deps);
  await app.register(callbackRoutes, deps);
  const operator = deps.operator ?? { username: 'operator', password: null };
  await app.register(operatorRoutes, { producer: deps.producer, operator });
  await app.register(dashboardRoutes, { ...deps, operator });
  return app;
}
