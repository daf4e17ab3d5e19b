import { randomBytes } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { isLikelyMachineOpen, verifyTrackingToken } from '@crm/core';
import { CommunicationRepository, recordClick, recordOpen, recordUnsubscribe } from '@crm/db';
import { countStatusOf } from '@crm/delivery';
import { countStatusChange } from '@crm/observability';
import type { IngestDeps } from '../app';
import { ProblemError } from '../problem';

/** A 1×1 transparent GIF (42 bytes). */
export const TRANSPARENT_GIF = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

/** Without `deps.email`: a secret of this process only (links from another process do not verify), and 5 s. */
const DEFAULT_MACHINE_OPEN_WINDOW_MS = 5000;
/** Largest one-click POST body read (RFC 8058's is 26 bytes). */
const UNSUBSCRIBE_BODY_LIMIT = 16 * 1024;

/**
 * The routes take the token as a wildcard, not a `:token` parameter: the router refuses a
 * parameter longer than its `maxParamLength` (100 by default) with 414, and every token is
 * longer than that (a click token carries its URL). The token's own syntax bounds it.
 */
type TokenRequest = FastifyRequest<{ Params: { '*': string } }>;
const tokenOf = (request: TokenRequest): string => request.params['*'];

const noSuchLink = () => new ProblemError('not_found', 'no such link', [{ field: 'token', in: 'params', message: 'is not a valid link' }]);

const escapeHtml = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

/** The page a recipient sees after unsubscribing: static text, escaped all the same. */
function unsubscribedPage(): string {
  const title = escapeHtml('You are unsubscribed');
  const text = escapeHtml('You will not receive any more emails from us. You can close this page.');
  return (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex">' +
    `<title>${title}</title>` +
    '<style>body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222;line-height:1.5}</style>' +
    `</head><body><h1>${title}</h1><p>${text}</p></body></html>`
  );
}

/** Headers of every answer here: nothing cached by proxies or browsers, nothing leaked onwards. */
function privateAnswer(reply: FastifyReply): FastifyReply {
  return reply.header('cache-control', 'no-store, no-cache, must-revalidate, max-age=0').header('pragma', 'no-cache').header('referrer-policy', 'no-referrer');
}

/**
 * The Location of a click: the signed URL itself, or (when it has characters an HTTP header
 * cannot carry) its WHATWG serialisation, which percent-encodes them and means the same URL.
 */
const locationOf = (url: string): string => (/^[\x21-\x7e]+$/.test(url) ? url : new URL(url).href);

/**
 * Public routes of recipients (no API key: only `/api/*` needs one):
 * - `GET /t/o/:token`: the open pixel. A 1×1 GIF, never cached; records the open, flagged when
 *   it is likely a machine's (`isLikelyMachineOpen`: proxy or scanner user agents, none at all,
 *   or within `machineOpenWindowMs` of sending).
 * - `GET /t/c/:token`: a tracked link. 302 to exactly the URL signed into the token, never one
 *   from the request (no open redirect); records the click.
 * - `GET /u/:token` (the footer link) and `POST /u/:token` (RFC 8058 one-click, from the
 *   `List-Unsubscribe` header): opt the client out of email at once; a small page answers.
 *
 * A token that does not verify (tampered, of another kind, signed with another secret) answers
 * 404 and records nothing. A `HEAD` request (link checkers) answers like `GET` and records
 * nothing. The first open and the first click, the ones that move the status, go to
 * `crm.events`. Nothing personal is logged: ids, verdicts and user-agent families only.
 */
export const trackingRoutes: FastifyPluginAsync<IngestDeps> = async (app, deps) => {
  const secret = deps.email?.trackingSecret ?? randomBytes(32).toString('base64url');
  const windowMs = deps.email?.machineOpenWindowMs ?? DEFAULT_MACHINE_OPEN_WINDOW_MS;
  const recordsNothing = (request: FastifyRequest) => request.method === 'HEAD';

  // RFC 8058 one-click bodies, in this plugin only: form-encoded (what Gmail sends) or
  // multipart (RFC 8058's own example). The signed token is what authorises; the body is read
  // and set aside.
  for (const type of ['application/x-www-form-urlencoded', 'multipart/form-data']) {
    app.addContentTypeParser(type, { parseAs: 'string', bodyLimit: UNSUBSCRIBE_BODY_LIMIT }, (_request, body, done) => done(null, body));
  }

  async function emit(request: FastifyRequest, communicationId: string, event: 'opened' | 'clicked', at: Date): Promise<void> {
    await deps.producer.enqueue('crm.events', { communicationId, event, at: at.toISOString() }).catch((error: unknown) =>
      request.log.warn({ communicationId, event, err: { message: (error as Error).message } }, 'engagement event not enqueued'),
    );
  }

  const pixel = {
    summary: 'The open pixel of an email',
    description: 'Records the open (flagged when it is likely a machine\'s) and answers a 1×1 GIF, never cached. A token that does not verify is 404; HEAD records nothing.',
    response: { 200: { description: 'A 1×1 transparent GIF', content: { 'image/gif': { schema: z.unknown() } } } },
  };
  app.get('/t/o/*', { schema: pixel }, async (request: TokenRequest, reply) => {
    const payload = verifyTrackingToken(secret, tokenOf(request), 'o');
    if (!payload) throw noSuchLink();
    if (!recordsNothing(request)) {
      const row = await CommunicationRepository.findById(deps.db, payload.c);
      // Erased since it was sent: the pixel still answers, nothing is recorded.
      if (row) {
        const verdict = isLikelyMachineOpen({ userAgent: request.headers['user-agent'], sentAt: row.sent_at, openedAt: new Date(), windowMs });
        const result = await recordOpen(deps.db, { communicationId: row.id, machine: verdict.machine, reason: verdict.reason, userAgentFamily: verdict.family });
        if (result.moved) countStatusChange({ channel: row.channel, messageType: row.message_type, status: 'opened' });
        if (result.moved && result.at) await emit(request, row.id, 'opened', result.at);
      }
    }
    return privateAnswer(reply).code(200).type('image/gif').send(TRANSPARENT_GIF);
  });

  const click = {
    summary: 'A tracked link of an email',
    description: 'Records the click and redirects (302) to exactly the URL signed into the token, never one from the request. A token that does not verify is 404; HEAD records nothing.',
  };
  app.get('/t/c/*', { schema: click }, async (request: TokenRequest, reply) => {
    const payload = verifyTrackingToken(secret, tokenOf(request), 'c');
    if (!payload?.u) throw noSuchLink();
    if (!recordsNothing(request)) {
      const result = await recordClick(deps.db, { communicationId: payload.c, url: payload.u });
      if (result.moved) await countStatusOf(deps.db, payload.c, 'clicked');
      if (result.moved && result.at) await emit(request, payload.c, 'clicked', result.at);
    }
    return privateAnswer(reply).redirect(locationOf(payload.u), 302);
  });

  async function unsubscribe(request: TokenRequest, reply: FastifyReply, method: 'link' | 'one_click') {
    const payload = verifyTrackingToken(secret, tokenOf(request), 'u');
    if (!payload) throw noSuchLink();
    if (!recordsNothing(request)) {
      const { found, optedOut } = await recordUnsubscribe(deps.db, { communicationId: payload.c, method });
      // Erased (with its client's preferences): there is nobody left to opt out.
      if (!found) throw noSuchLink();
      if (optedOut) {
        request.log.info({ communicationId: payload.c, method }, 'client unsubscribed from email');
        // Committed: the client's cached routing preferences still allow email.
        if (deps.preferencesCache) {
          const row = await CommunicationRepository.findById(deps.db, payload.c);
          if (row) await deps.preferencesCache.invalidate([row.client_id]);
        }
      }
    }
    return privateAnswer(reply)
      .code(200)
      .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
      .header('x-content-type-options', 'nosniff')
      .type('text/html; charset=utf-8')
      .send(unsubscribedPage());
  }

  const unsubscribed = { 200: { description: 'A small page: you are unsubscribed', content: { 'text/html': { schema: z.unknown() } } } };
  const link = { summary: 'Unsubscribe from email (the footer link)', description: 'Opts the client out of email at once and answers a small page. A token that does not verify is 404.', response: unsubscribed };
  const oneClick = {
    summary: 'Unsubscribe from email (RFC 8058 one-click)',
    description: 'What mail clients POST from the `List-Unsubscribe` header (form-encoded or multipart; the body is read and set aside: the signed token authorises). Opts the client out of email at once.',
    response: unsubscribed,
  };
  app.get('/u/*', { schema: link }, (request: TokenRequest, reply) => unsubscribe(request, reply, 'link'));
  app.post('/u/*', { schema: oneClick, bodyLimit: UNSUBSCRIBE_BODY_LIMIT }, (request: TokenRequest, reply) => unsubscribe(request, reply, 'one_click'));
};
