import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { recordProviderStatus, type ProviderStatusResult, type StatusProvider } from '@crm/db';
import {
  parseTwilioStatus,
  parseWhatsAppStatuses,
  verifyMetaSignature,
  verifyTwilioSignature,
  type ProviderStatusEvent,
  type TwilioParams,
} from '@crm/providers';
import type { IngestDeps, WebhookSettings } from '../app';
import { ProblemError } from '../problem';

/** Largest callback body read, in bytes: Meta batches statuses, and both are read before they are verified. */
const WEBHOOK_BODY_LIMIT = 1024 * 1024;

/** The outcome of one status in an answer: what the database did, or `ignored` (not a delivery status). */
type StatusOutcome = ProviderStatusResult['outcome'] | 'ignored';

/** The `crm.events` event of each status a callback can move a communication to. */
const eventOf = { delivered: 'delivered', opened: 'opened', failed: 'failed' } as const;

/** `hub.*` query of Meta's subscription handshake; `hub.challenge` is echoed, so only a plain token is accepted. */
const HandshakeQuerySchema = z.object({
  'hub.mode': z.literal('subscribe'),
  'hub.verify_token': z.string().min(1).max(512),
  'hub.challenge': z.string().regex(/^[A-Za-z0-9._-]{1,256}$/),
});

const notConfigured = () => new ProblemError('webhooks_not_configured', 'provider webhooks are not configured on this server');
const badSignature = (header: string) =>
  new ProblemError('invalid_signature', `${header}: is missing or does not verify`, [{ field: header, in: 'header', message: 'is missing or does not verify' }]);

/** A form body as Twilio sends it; a repeated name keeps every value. */
function parseForm(body: string): Record<string, string | string[]> {
  const params: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  for (const [name, value] of new URLSearchParams(body)) {
    const seen = params[name];
    params[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return params;
}

/** Constant-time equality of two secrets of any length (compared as SHA-256 digests). */
function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/**
 * Provider webhooks (issue 7). Public routes (the API key covers `/api/*` only): each is
 * authenticated by the provider's signature instead, and a missing or wrong one answers 403
 * `invalid_signature` with nothing recorded.
 *
 * - `POST /webhooks/twilio/status`: a Twilio status callback (form-encoded), signed with
 *   `X-Twilio-Signature` over `${publicBaseUrl}${request.url}` (query string included) and the
 *   sorted POST parameters.
 * - `GET /webhooks/whatsapp`: Meta's subscription handshake: `hub.mode=subscribe` and the
 *   configured `hub.verify_token` answer `hub.challenge` as text/plain; anything else 403.
 * - `POST /webhooks/whatsapp`: a Cloud API webhook, signed with `X-Hub-Signature-256` over the
 *   raw body; every `statuses[]` item of the batch is recorded in order.
 *
 * Each delivery status goes through `recordProviderStatus` (deduplicated by the provider's event
 * id, forward only); a status that moved the communication is announced on `crm.events`.
 * A verified callback always answers 200 `{ outcomes }`, also when it names no known message or
 * holds no delivery status, so that the provider does not retry it. Without `deps.webhooks` every
 * route answers 503 `webhooks_not_configured`.
 */
export const webhookRoutes: FastifyPluginAsync<IngestDeps> = async (app, deps) => {
  const settings = (): WebhookSettings => {
    if (!deps.webhooks) throw notConfigured();
    return deps.webhooks;
  };

  // In this plugin only: Twilio's form bodies, and JSON kept as raw bytes (Meta signs the bytes).
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: WEBHOOK_BODY_LIMIT }, (_request, body, done) => done(null, body));
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: WEBHOOK_BODY_LIMIT }, (_request, body, done) => done(null, body));

  async function apply(request: FastifyRequest, provider: StatusProvider, event: ProviderStatusEvent): Promise<StatusOutcome> {
    const result = await recordProviderStatus(deps.db, { provider, ...event });
    request.log.debug({ provider, providerMessageId: event.providerMessageId, status: event.status, outcome: result.outcome }, 'provider status');
    if (result.outcome === 'applied') {
      const data = { communicationId: result.communicationId, event: eventOf[result.to], at: result.at.toISOString() };
      await deps.producer.enqueue('crm.events', data).catch((error: unknown) =>
        request.log.warn({ communicationId: result.communicationId, event: data.event, err: { message: (error as Error).message } }, 'delivery event not enqueued'),
      );
    }
    return result.outcome;
  }

  app.post('/webhooks/twilio/status', { bodyLimit: WEBHOOK_BODY_LIMIT }, async (request, reply) => {
    const { twilioAuthToken, publicBaseUrl } = settings();
    // Only the form parser above yields a string; any other body cannot carry Twilio's parameters.
    const params: TwilioParams = typeof request.body === 'string' ? parseForm(request.body) : {};
    const url = `${publicBaseUrl.replace(/\/+$/, '')}${request.url}`;
    if (typeof request.body !== 'string' || !verifyTwilioSignature(twilioAuthToken, request.headers['x-twilio-signature'], url, params)) {
      request.log.warn({ provider: 'twilio' }, 'webhook signature refused');
      throw badSignature('x-twilio-signature');
    }
    const event = parseTwilioStatus(params, new Date());
    const outcomes: StatusOutcome[] = [event ? await apply(request, 'twilio', event) : 'ignored'];
    return reply.code(200).send({ outcomes });
  });

  app.get('/webhooks/whatsapp', async (request, reply) => {
    const { whatsappVerifyToken } = settings();
    const query = HandshakeQuerySchema.safeParse(request.query);
    if (!query.success || !sameSecret(query.data['hub.verify_token'], whatsappVerifyToken)) {
      request.log.warn({ provider: 'whatsapp' }, 'webhook handshake refused');
      throw new ProblemError('verify_token_mismatch', 'hub.mode must be subscribe and hub.verify_token the configured token', [
        { field: 'hub.verify_token', in: 'query', message: 'is missing or not the configured token' },
      ]);
    }
    return reply.code(200).header('x-content-type-options', 'nosniff').type('text/plain; charset=utf-8').send(query.data['hub.challenge']);
  });

  app.post('/webhooks/whatsapp', { bodyLimit: WEBHOOK_BODY_LIMIT }, async (request, reply) => {
    const { whatsappAppSecret } = settings();
    const raw = Buffer.isBuffer(request.body) ? request.body : null;
    if (raw === null || !verifyMetaSignature(whatsappAppSecret, request.headers['x-hub-signature-256'], raw)) {
      request.log.warn({ provider: 'whatsapp' }, 'webhook signature refused');
      throw badSignature('x-hub-signature-256');
    }
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new ProblemError('invalid_json', 'body: is not valid JSON', [{ field: 'body', in: 'body', message: 'is not valid JSON' }]);
    }
    const outcomes: StatusOutcome[] = [];
    // In order: a batch may hold several statuses of one message.
    for (const event of parseWhatsAppStatuses(body)) outcomes.push(await apply(request, 'whatsapp', event));
    return reply.code(200).send({ outcomes });
  });
};
