import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { recordInbound, recordProviderStatus, type InboundChannel, type InboundResult, type ProviderStatusResult, type StatusProvider } from '@crm/db';
import {
  categorizeTwilioDeliveryError,
  categorizeWhatsAppDeliveryError,
  parseTwilioInbound,
  parseTwilioStatus,
  parseWhatsAppMessages,
  parseWhatsAppStatuses,
  type ProviderInboundMessage,
  verifyMetaSignature,
  verifyTwilioSignature,
  type ProviderStatusEvent,
  type TwilioParams,
} from '@crm/providers';
import { LONE_SURROGATE } from '@crm/core';
import { countStatusOf } from '@crm/delivery';
import { optionNumberOfReplyId } from '@crm/templates';
import type { JobData } from '@crm/queue';
import type { IngestDeps, WebhookSettings } from '../app';
import { ProblemError } from '../problem';

/** Largest callback body read, in bytes: Meta batches statuses, and both are read before they are verified. */
const WEBHOOK_BODY_LIMIT = 1024 * 1024;

/** The outcome of one status in an answer: what the database did, or `ignored` (not a delivery status). */
type StatusOutcome = ProviderStatusResult['outcome'] | 'ignored';
/** The outcome of one inbound message: what it was, or `duplicate` (recorded before), `ignored` (not a message). */
type InboundOutcome = 'opt_out' | 'opt_in' | 'help' | 'reply' | 'duplicate' | 'ignored';

const DEFAULT_REPLY_WINDOW_MS = 7 * 86_400_000;

/** What the engine answers to the keywords, on SMS (TwiML) and WhatsApp. */
export const keywordAnswers = Object.freeze({
  opt_out: 'You are unsubscribed from event planning messages on this channel and will receive no more. Reply START to subscribe again.',
  opt_in: 'You are subscribed to event planning messages again. Reply STOP to unsubscribe, HELP for help.',
  help: 'Event planning updates from your planner. Reply with an option number to choose, STOP to unsubscribe, START to subscribe again.',
});

/** `text` escaped for XML character data. */
const xmlText = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A TwiML answer: one `<Message>` per text, or an empty `<Response/>` (no answer). */
export function twiml(messages: readonly string[]): string {
  const body = messages.map((text) => `<Message>${xmlText(text)}</Message>`).join('');
  return `<?xml version="1.0" encoding="UTF-8"?><Response>${body}</Response>`;
}

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
 * - `POST /webhooks/twilio/inbound`: a client's SMS (the number's "a message comes in" webhook),
 *   signed the same way; answered in TwiML: a keyword's confirmation, else an empty `<Response/>`.
 * - `GET /webhooks/whatsapp`: Meta's subscription handshake: `hub.mode=subscribe` and the
 *   configured `hub.verify_token` answer `hub.challenge` as text/plain; anything else 403.
 * - `POST /webhooks/whatsapp`: a Cloud API webhook, signed with `X-Hub-Signature-256` over the
 *   raw body; every `statuses[]` item of the batch is recorded in order, then every `messages[]`
 *   item (a client writing or tapping a button), answered on WhatsApp for a keyword.
 *
 * An inbound message goes through `recordInbound` (deduplicated by its id): STOP and its kin opt
 * the number out of that channel, START and UNSTOP back in, HELP gets the help text, and anything
 * else is an answer matched to the message that asked (`responded`, `client.replied` on
 * `crm.events`). A late `failed` status of a message whose plan has another channel sends it
 * back to the queue and enqueues its `crm.fallback` job.
 *
 * Each delivery status goes through `recordProviderStatus` (deduplicated by the provider's event
 * id, forward only); a status that moved the communication is announced on `crm.events`.
 * A verified callback always answers 200 `{ outcomes }`, also when it names no known message or
 * holds no delivery status, so that the provider does not retry it. Without `deps.webhooks` every
 * route answers 503 `webhooks_not_configured`.
 */
/**
 * A parsed webhook body whose strings PostgreSQL can store: a NUL (U+0000) or a lone UTF-16
 * surrogate in a message's text, id or button (which text and jsonb refuse: that was a 500, and
 * Meta retries a failed callback for days) becomes U+FFFD. The signature was checked on the raw
 * bytes before this; a verified callback is still answered 200.
 */
export function storable(value: unknown): unknown {
  if (typeof value === 'string') return value.replace(UNSTORABLE, '\uFFFD');
  if (Array.isArray(value)) return value.map(storable);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key.replace(UNSTORABLE, '\uFFFD'), storable(item)]));
  }
  return value;
}
const UNSTORABLE = new RegExp(`\\u0000|${LONE_SURROGATE.source}`, 'g');

export const webhookRoutes: FastifyPluginAsync<IngestDeps> = async (app, deps) => {
  const settings = (): WebhookSettings => {
    if (!deps.webhooks) throw notConfigured();
    return deps.webhooks;
  };

  // In this plugin only: Twilio's form bodies, and JSON kept as raw bytes (Meta signs the bytes).
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: WEBHOOK_BODY_LIMIT }, (_request, body, done) => done(null, body));
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: WEBHOOK_BODY_LIMIT }, (_request, body, done) => done(null, body));

  /** The form parameters of a Twilio callback whose `X-Twilio-Signature` verifies; else 403. */
  function verifiedTwilioParams(request: FastifyRequest): TwilioParams {
    const { twilioAuthToken, publicBaseUrl } = settings();
    // Only the form parser above yields a string; any other body cannot carry Twilio's parameters.
    const params: TwilioParams = typeof request.body === 'string' ? parseForm(request.body) : {};
    const url = `${publicBaseUrl.replace(/\/+$/, '')}${request.url}`;
    if (typeof request.body !== 'string' || !verifyTwilioSignature(twilioAuthToken, request.headers['x-twilio-signature'], url, params)) {
      request.log.warn({ provider: 'twilio' }, 'webhook signature refused');
      throw badSignature('x-twilio-signature');
    }
    return params;
  }

  /**
   * Enqueues a job after its row is committed; a failure is logged (ids only) and not thrown: the
   * callback is still answered 200, and PostgreSQL keeps what happened (the reconciler restores a
   * lost fallback job).
   */
  async function enqueueAfterCommit<Q extends 'crm.events' | 'crm.fallback'>(request: FastifyRequest, queue: Q, data: JobData<Q>, what: string): Promise<void> {
    await deps.producer.enqueue(queue, data).catch((error: unknown) =>
      request.log.warn({ queue, communicationId: data.communicationId, ...('inboundId' in data && { inboundId: data.inboundId }), err: { message: (error as Error).message } }, `${what} not enqueued`),
    );
  }

  async function apply(request: FastifyRequest, provider: StatusProvider, event: ProviderStatusEvent): Promise<StatusOutcome> {
    // What a late failure means decides whether another channel is tried (the providers' delivery-error tables).
    const errorCategory = event.errorCode === undefined ? undefined : provider === 'twilio' ? categorizeTwilioDeliveryError(event.errorCode) : categorizeWhatsAppDeliveryError(event.errorCode);
    const result = await recordProviderStatus(deps.db, { provider, ...event, ...(errorCategory && { errorCategory }) });
    request.log.debug({ provider, providerMessageId: event.providerMessageId, status: event.status, outcome: result.outcome }, 'provider status');
    if (result.outcome === 'applied') {
      await countStatusOf(deps.db, result.communicationId, result.to, result.at);
      await enqueueAfterCommit(request, 'crm.events', { communicationId: result.communicationId, event: eventOf[result.to], at: result.at.toISOString() }, 'delivery event');
    }
    if (result.outcome === 'fallback') {
      await countStatusOf(deps.db, result.communicationId, 'queued', result.at);
      await enqueueAfterCommit(request, 'crm.fallback', { communicationId: result.communicationId, failedChannel: result.failedChannel, category: result.category }, 'fallback job');
      request.log.info({ communicationId: result.communicationId, failedChannel: result.failedChannel, category: result.category }, 'provider reported the message undelivered: falling back');
    }
    return result.outcome;
  }

  /**
   * Records one inbound message (deduplicated by its id) and announces what it did on
   * `crm.events`: `responded` for the message it answered (first answer), and `client.replied`
   * for every answer, with the inbound row's id (the parsed reply lives there, not in Redis).
   */
  async function receive(request: FastifyRequest, provider: StatusProvider, channel: InboundChannel, message: ProviderInboundMessage): Promise<InboundResult> {
    const selection = message.reply ? optionNumberOfReplyId(message.reply.id) : null;
    const result = await recordInbound(deps.db, deps.keys, {
      provider,
      channel,
      providerMessageId: message.providerMessageId,
      from: message.from,
      text: message.text,
      reply: message.reply ? { id: message.reply.id, selection } : null,
      contextMessageId: message.contextMessageId,
      receivedAt: message.at,
      replyWindowMs: settings().replyWindowMs ?? DEFAULT_REPLY_WINDOW_MS,
    });
    if (result.outcome === 'duplicate') {
      request.log.debug({ provider }, 'inbound message already recorded');
      return result;
    }
    // STOP or START changed opt-outs (committed): the cached routing preferences of those clients are stale.
    if (result.preferenceChanged) await deps.preferencesCache?.invalidate(result.clientIds);
    // Never the number or the text: ids and the kind only.
    request.log.info(
      { provider, inboundId: result.inboundId, kind: result.reply.kind, communicationId: result.communicationId, clients: result.clientIds.length, preferenceChanged: result.preferenceChanged },
      'inbound message',
    );
    const at = message.at.toISOString();
    if (result.responded && result.communicationId) await countStatusOf(deps.db, result.communicationId, 'responded');
    if (result.responded && result.communicationId) await enqueueAfterCommit(request, 'crm.events', { communicationId: result.communicationId, event: 'responded', at }, 'reply event');
    if (result.reply.kind === 'reply') {
      await enqueueAfterCommit(request, 'crm.events', { event: 'client.replied', inboundId: result.inboundId, ...(result.communicationId && { communicationId: result.communicationId }), at }, 'reply event');
    }
    return result;
  }

  /** The keyword's answer, if the message was one. */
  const answerOf = (result: InboundResult): string | null =>
    result.outcome === 'recorded' && result.reply.kind !== 'reply' ? keywordAnswers[result.reply.kind] : null;

  const twilioInbound = {
    summary: "Twilio: a client's SMS",
    description:
      'The number\'s "a message comes in" webhook (form-encoded), signed with `X-Twilio-Signature`. STOP, START and HELP change and ' +
      'confirm opt-outs; anything else is an answer matched to the message that asked (`responded`, `client.replied`). Deduplicated by message id.',
    response: { 200: { description: 'TwiML: the keyword\'s confirmation, or an empty `<Response/>`', content: { 'text/xml': { schema: z.unknown() } } } },
  };
  app.post('/webhooks/twilio/inbound', { schema: twilioInbound, bodyLimit: WEBHOOK_BODY_LIMIT }, async (request, reply) => {
    const params = verifiedTwilioParams(request);
    const message = parseTwilioInbound(params, new Date());
    const answers: string[] = [];
    if (message) {
      const answer = answerOf(await receive(request, 'twilio', 'sms', message));
      if (answer) answers.push(answer);
    }
    // Twilio reads the answer as TwiML: a keyword's confirmation, or nothing.
    return reply.code(200).type('text/xml; charset=utf-8').send(twiml(answers));
  });

  const twilioStatus = {
    summary: 'Twilio: a delivery status callback',
    description:
      'Form-encoded, signed with `X-Twilio-Signature` over PUBLIC_BASE_URL + path and query and the sorted POST parameters. Moves the ' +
      'message forward only; a late failure sends it to its next channel. Always 200 `{ outcomes }` once verified, so Twilio does not retry.',
  };
  app.post('/webhooks/twilio/status', { schema: twilioStatus, bodyLimit: WEBHOOK_BODY_LIMIT }, async (request, reply) => {
    const params = verifiedTwilioParams(request);
    const event = parseTwilioStatus(params, new Date());
    const outcomes: StatusOutcome[] = [event ? await apply(request, 'twilio', event) : 'ignored'];
    return reply.code(200).send({ outcomes });
  });

  const whatsappHandshake = {
    summary: "WhatsApp: Meta's subscription handshake",
    description: '`hub.mode=subscribe` and the configured `hub.verify_token` (WHATSAPP_VERIFY_TOKEN) answer `hub.challenge` as text/plain; anything else is 403 `verify_token_mismatch`.',
    response: { 200: { description: 'The `hub.challenge`, echoed', content: { 'text/plain': { schema: z.unknown() } } } },
  };
  app.get('/webhooks/whatsapp', { schema: whatsappHandshake }, async (request, reply) => {
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

  const whatsappEvents = {
    summary: 'WhatsApp: delivery statuses and inbound messages (Cloud API)',
    description:
      'JSON signed with `X-Hub-Signature-256` over the raw body (the app secret). Every `statuses[]` item is recorded in order, then ' +
      'every `messages[]` item (a client writing or tapping a button), deduplicated by id. Always 200 `{ outcomes, messages }` once verified.',
  };
  app.post('/webhooks/whatsapp', { schema: whatsappEvents, bodyLimit: WEBHOOK_BODY_LIMIT }, async (request, reply) => {
    const { whatsappAppSecret } = settings();
    const raw = Buffer.isBuffer(request.body) ? request.body : null;
    if (raw === null || !verifyMetaSignature(whatsappAppSecret, request.headers['x-hub-signature-256'], raw)) {
      request.log.warn({ provider: 'whatsapp' }, 'webhook signature refused');
      throw badSignature('x-hub-signature-256');
    }
    let body: unknown;
    try {
      body = storable(JSON.parse(raw.toString('utf8')));
    } catch {
      throw new ProblemError('invalid_json', 'body: is not valid JSON', [{ field: 'body', in: 'body', message: 'is not valid JSON' }]);
    }
    const outcomes: StatusOutcome[] = [];
    // In order: a batch may hold several statuses of one message.
    for (const event of parseWhatsAppStatuses(body)) outcomes.push(await apply(request, 'whatsapp', event));
    const messages: InboundOutcome[] = [];
    for (const message of parseWhatsAppMessages(body)) {
      const result = await receive(request, 'whatsapp', 'whatsapp', message);
      messages.push(result.outcome === 'duplicate' ? 'duplicate' : result.reply.kind);
      const answer = answerOf(result);
      const client = settings().whatsappReplies;
      if (answer && client) {
        // Best effort, after recording: the opt-out holds whether or not the confirmation goes out.
        await client.send({ to: message.from, text: answer }).catch((error: unknown) =>
          request.log.warn({ provider: 'whatsapp', err: { name: (error as Error).name, code: (error as { code?: unknown }).code } }, 'keyword answer not sent'),
        );
      }
    }
    return reply.code(200).send({ outcomes, messages });
  });
};
