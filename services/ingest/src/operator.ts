import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { QueueProducer } from '@crm/queue';
import { problemBody } from './problem';

/** Who may open the operator pages, and how their browser sessions are signed (`config.operator`). */
export interface OperatorAccess {
  readonly username: string;
  /** `null`: the operator pages answer 503 (`OPERATOR_PASSWORD` unset). */
  readonly password: string | null;
  /**
   * Key of the session cookies' HMAC (`config.operator.sessionSecret`, the same in every replica).
   * @defaultValue a random key of this process: sessions end when it does and open no other replica
   */
  readonly sessionSecret?: string;
  /** Session cookies carry `Secure` (PUBLIC_BASE_URL is https). @defaultValue false */
  readonly secureCookie?: boolean;
}

/** Where Bull Board is served. */
export const BULL_BOARD_PATH = '/admin/queues';
/** Where a login goes when it was not sent from another operator page: the dashboard. */
export const OPERATOR_HOME_PATH = '/dashboard';
/** The operator login form. */
export const LOGIN_PATH = '/login';
/** Ends the browser session. */
export const LOGOUT_PATH = '/logout';
/** How long a login lasts, in ms. */
export const OPERATOR_SESSION_TTL_MS = 12 * 3_600_000;
/** Failed logins from one address allowed per {@link LOGIN_FAILURE_WINDOW_MS}; more lock it out until the oldest ages out. */
export const LOGIN_MAX_FAILURES = 10;
/** The window of {@link LOGIN_MAX_FAILURES}, in ms. */
export const LOGIN_FAILURE_WINDOW_MS = 15 * 60_000;

const REALM = 'Basic realm="crm-engine operators", charset="UTF-8"';
/** Used when {@link OperatorAccess.sessionSecret} is not given. */
const PROCESS_SESSION_SECRET = randomBytes(32).toString('base64url');

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();
/** Equal strings, compared in constant time (over their SHA-256, so lengths do not leak either). */
const sameText = (a: string, b: string): boolean => timingSafeEqual(digest(a), digest(b));

/** Whether an `Authorization: Basic …` header carries these credentials. Both parts are always compared. */
export function basicCredentialsMatch(header: string | undefined, username: string, password: string): boolean {
  const match = header ? /^Basic +([A-Za-z0-9+/]+=*) *$/i.exec(header) : null;
  const decoded = match?.[1] ? Buffer.from(match[1], 'base64').toString('utf8') : '';
  const colon = decoded.indexOf(':');
  const user = colon >= 0 ? decoded.slice(0, colon) : '';
  const pass = colon >= 0 ? decoded.slice(colon + 1) : '';
  const userOk = sameText(user, username);
  const passOk = sameText(pass, password);
  return colon >= 0 && userOk && passOk;
}

/** The session cookie's name: `__Host-` bound (Secure, Path=/, no Domain) when cookies are Secure. */
export const operatorSessionCookieName = (access: Pick<OperatorAccess, 'secureCookie'>): string =>
  access.secureCookie ? '__Host-crm_operator' : 'crm_operator';

/**
 * The HMAC key of `access`'s sessions: derived from the session secret, the user name and the
 * password, so changing either credential ends every session.
 */
function sessionKey(access: OperatorAccess & { password: string }): Buffer {
  return createHmac('sha256', access.sessionSecret ?? PROCESS_SESSION_SECRET)
    .update(`crm-engine operator session\0${access.username}\0${access.password}`, 'utf8')
    .digest();
}

const sessionMac = (access: OperatorAccess & { password: string }, expiresAt: number): Buffer =>
  createHmac('sha256', sessionKey(access)).update(`${access.username}|${expiresAt}`, 'utf8').digest();

/**
 * A signed session value, `v1.<expiry ms>.<HMAC-SHA256 over "username|expiry">`, valid until
 * `now + OPERATOR_SESSION_TTL_MS`. Stateless: nothing is stored, so a session cannot be revoked
 * before it expires except by changing the password.
 */
export function createOperatorSession(access: OperatorAccess & { password: string }, now = Date.now()): { value: string; expiresAt: number } {
  const expiresAt = now + OPERATOR_SESSION_TTL_MS;
  return { value: `v1.${expiresAt}.${sessionMac(access, expiresAt).toString('base64url')}`, expiresAt };
}

/** Whether `value` is a session of `access` that has not expired (signature compared in constant time). */
export function verifyOperatorSession(access: OperatorAccess, value: string | undefined, now = Date.now()): boolean {
  if (access.password === null || value === undefined) return false;
  const match = /^v1\.(\d{13})\.([A-Za-z0-9_-]{43})$/.exec(value);
  if (!match) return false;
  const expiresAt = Number(match[1]);
  const given = Buffer.from(match[2]!, 'base64url');
  const expected = sessionMac({ ...access, password: access.password }, expiresAt);
  const valid = given.length === expected.length && timingSafeEqual(given, expected);
  return valid && expiresAt > now && expiresAt <= now + OPERATOR_SESSION_TTL_MS;
}

/** The value of cookie `name` in a `Cookie` header (our values need no decoding). */
function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * `next` if it is a path on this site (starts with one `/`; no backslash, control character,
 * space, quote or angle bracket; does not lead back to the login), else the dashboard: the login
 * never redirects elsewhere (`//evil.com`, `/\evil.com`, `https://evil.com` all go to the dashboard).
 */
export function safeNextPath(next: string | undefined): string {
  if (next === undefined || next.length > 2_000 || !next.startsWith('/') || next.startsWith('//')) return OPERATOR_HOME_PATH;
  // eslint-disable-next-line no-control-regex
  if (/[\\\u0000-\u0020\u007f"'<>`]/.test(next)) return OPERATOR_HOME_PATH;
  let resolved: URL;
  try {
    resolved = new URL(next, 'http://operator.invalid');
  } catch {
    return OPERATOR_HOME_PATH;
  }
  if (resolved.origin !== 'http://operator.invalid' || resolved.pathname === LOGIN_PATH || resolved.pathname === LOGOUT_PATH) return OPERATOR_HOME_PATH;
  return next;
}

function refuse(reply: FastifyReply, code: 'operator_unauthorized' | 'operator_access_disabled', detail: string): FastifyReply {
  const body = problemBody(code, detail, code === 'operator_unauthorized' ? [{ field: 'authorization', in: 'header', message: detail }] : []);
  if (code === 'operator_unauthorized') reply.header('www-authenticate', REALM);
  return reply.code(body.status).type('application/problem+json').send(body);
}

const DISABLED_DETAIL = 'set OPERATOR_PASSWORD (12+ characters) to open the operator pages';

/** A browser asking for a page (not a script, not an XHR of the page). */
const wantsPage = (request: FastifyRequest): boolean =>
  (request.method === 'GET' || request.method === 'HEAD') && (request.headers.accept ?? '').includes('text/html');

/**
 * An `onRequest` hook that lets only the operator through: a valid session cookie (from
 * `POST /login`) or HTTP Basic credentials (for scripts), both checked in constant time. A
 * browser asking for a page without either is redirected (303) to `/login?next=<this URL>`;
 * anything else gets 401 `operator_unauthorized` with a Basic challenge. Without a password
 * configured: 503 `operator_access_disabled`. Needs no other plugin (it reads the Cookie header
 * itself), so any operator page can use it.
 *
 * @example
 * app.register(async (dashboard) => {
 *   dashboard.addHook('onRequest', requireOperator(deps.operator));
 *   dashboard.get('/dashboard', …);
 * });
 */
export function requireOperator(access: OperatorAccess): onRequestAsyncHookHandler {
  const cookieName = operatorSessionCookieName(access);
  return async (request, reply) => {
    if (access.password === null) return refuse(reply, 'operator_access_disabled', DISABLED_DETAIL);
    if (verifyOperatorSession(access, cookieValue(request.headers.cookie, cookieName))) return;
    if (basicCredentialsMatch(request.headers.authorization, access.username, access.password)) return;
    if (wantsPage(request)) {
      return reply.header('cache-control', 'no-store').redirect(`${LOGIN_PATH}?next=${encodeURIComponent(request.url)}`, 303);
    }
    return refuse(reply, 'operator_unauthorized', 'authorization: operator user name and password required (log in at /login, or HTTP Basic)');
  };
}

/**
 * Failed logins per client address, in this process's memory (so per replica, and forgotten on
 * restart): at most {@link LOGIN_MAX_FAILURES} in a sliding {@link LOGIN_FAILURE_WINDOW_MS};
 * past that the address is refused without any check until its oldest failure ages out. No
 * delays: a locked-out attempt is answered at once.
 */
export class LoginThrottle {
  readonly #failures = new Map<string, number[]>();
  readonly #max: number;
  readonly #windowMs: number;
  readonly #maxAddresses: number;

  constructor(options: { max?: number; windowMs?: number; maxAddresses?: number } = {}) {
    this.#max = options.max ?? LOGIN_MAX_FAILURES;
    this.#windowMs = options.windowMs ?? LOGIN_FAILURE_WINDOW_MS;
    this.#maxAddresses = options.maxAddresses ?? 10_000;
  }

  /** `0` if `address` may try, else the ms until it may. */
  lockedFor(address: string, now = Date.now()): number {
    const recent = this.#recent(address, now);
    return recent.length < this.#max ? 0 : recent[recent.length - this.#max]! + this.#windowMs - now;
  }

  /** Counts a failed login. */
  fail(address: string, now = Date.now()): void {
    const recent = this.#recent(address, now);
    recent.push(now);
    this.#failures.delete(address);
    if (this.#failures.size >= this.#maxAddresses) {
      const oldest = this.#failures.keys().next();
      if (!oldest.done) this.#failures.delete(oldest.value);
    }
    this.#failures.set(address, recent.slice(-this.#max));
  }

  /** Forgets the failures of `address` (after it logged in). */
  succeed(address: string): void {
    this.#failures.delete(address);
  }

  #recent(address: string, now: number): number[] {
    const all = this.#failures.get(address);
    if (!all) return [];
    const recent = all.filter((at) => at > now - this.#windowMs);
    if (recent.length === 0) this.#failures.delete(address);
    return recent;
  }
}

const LoginQuerySchema = z.object({ next: z.string().max(2_000).optional() });
const LoginBodySchema = z.object({
  username: z.string().max(256),
  password: z.string().max(1_024),
  next: z.string().max(2_000).optional(),
});

const PAGE_STYLE =
  'body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1b1f24}' +
  'main{max-width:22rem;margin:12vh auto;padding:2rem;background:#fff;border-radius:8px;box-shadow:0 1px 4px #0002}' +
  'h1{font-size:1.3rem;margin:0 0 1rem}label{display:block;margin-top:1rem;font-weight:600}' +
  'input{box-sizing:border-box;width:100%;padding:.5rem;margin-top:.25rem;font:inherit;border:1px solid #8a939e;border-radius:4px}' +
  'input:focus,button:focus{outline:3px solid #2f6fdd;outline-offset:1px}' +
  'button{margin-top:1.5rem;width:100%;padding:.6rem;font:inherit;font-weight:600;color:#fff;background:#1f5fcc;border:0;border-radius:4px;cursor:pointer}' +
  '.error{margin:0 0 1rem;padding:.6rem .8rem;background:#fdecea;color:#8a1c12;border-radius:4px}';
const PAGE_CSP = [
  "default-src 'none'",
  `style-src 'sha256-${createHash('sha256').update(PAGE_STYLE).digest('base64')}'`,
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** The login page: a labelled form, no script and no external asset. */
function loginPage(next: string, error?: string): string {
  const message = error ? `<p class="error" role="alert" id="login-error">${escapeHtml(error)}</p>` : '';
  const describedBy = error ? ' aria-describedby="login-error"' : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Operator login · crm-engine</title>
<style>${PAGE_STYLE}</style>
</head>
<body>
<main>
<h1>crm-engine operator login</h1>
${message}<form method="post" action="${LOGIN_PATH}"${describedBy}>
<input type="hidden" name="next" value="${escapeHtml(next)}">
<label for="username">User name</label>
<input id="username" name="username" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" required>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Log in</button>
</form>
</main>
</body>
</html>
`;
}

/**
 * A `Set-Cookie` value for the session: HttpOnly, SameSite=Strict, Path=/, Secure when asked.
 * (Written here rather than with @fastify/cookie, whose lazy ESM import of `cookie` jest cannot
 * load; our values are plain tokens that need no encoding.)
 */
function sessionCookie(name: string, value: string, options: { expiresAt: number; secure: boolean }, now = Date.now()): string {
  const maxAge = Math.max(0, Math.floor((options.expiresAt - now) / 1_000));
  const expires = new Date(options.expiresAt).toUTCString();
  return `${name}=${value}; Path=/; Max-Age=${maxAge}; Expires=${expires}; HttpOnly; SameSite=Strict${options.secure ? '; Secure' : ''}`;
}

function sendPage(reply: FastifyReply, status: number, html: string): FastifyReply {
  return reply
    .code(status)
    .type('text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('content-security-policy', PAGE_CSP)
    .header('x-frame-options', 'DENY')
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'same-origin')
    .send(html);
}

/** Whether a parsed body or query holds a NUL character (U+0000) in any string or key. */
export function containsNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (Array.isArray(value)) return value.some(containsNul);
  if (value !== null && typeof value === 'object') return Object.entries(value).some(([key, item]) => key.includes('\u0000') || containsNul(item));
  return false;
}

/**
 * The operator pages: `GET /login` (the form), `POST /login` (form-encoded `username`,
 * `password`, optional `next`: sets a signed, HttpOnly, SameSite=Strict session cookie valid
 * 12 h, Secure when PUBLIC_BASE_URL is https, then 303 to `next` if it is a local path, else
 * the dashboard), `POST /logout` (clears it), and Bull Board at `/admin/queues` behind
 * {@link requireOperator}. A wrong login answers the form again with 401; an address with
 * {@link LOGIN_MAX_FAILURES} failures in {@link LOGIN_FAILURE_WINDOW_MS} gets 429 until they
 * age out (counted in memory, per process).
 */
export const operatorRoutes: FastifyPluginAsync<{ producer: QueueProducer; operator: OperatorAccess }> = async (app, { producer, operator }) => {
  const throttle = new LoginThrottle();
  const cookieName = operatorSessionCookieName(operator);
  const secure = operator.secureCookie ?? false;
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 8_192 }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  const routes = app.withTypeProvider<ZodTypeProvider>();
  routes.get(LOGIN_PATH, { schema: { querystring: LoginQuerySchema } }, async (request, reply) => {
    if (operator.password === null) return refuse(reply, 'operator_access_disabled', DISABLED_DETAIL);
    return sendPage(reply, 200, loginPage(safeNextPath(request.query.next)));
  });

  routes.post(LOGIN_PATH, { schema: { body: LoginBodySchema } }, async (request, reply) => {
    if (operator.password === null) return refuse(reply, 'operator_access_disabled', DISABLED_DETAIL);
    const next = safeNextPath(request.body.next);
    const address = request.ip;
    const lockedMs = throttle.lockedFor(address);
    if (lockedMs > 0) {
      const minutes = Math.ceil(lockedMs / 60_000);
      request.log.warn({ lockedForMs: lockedMs }, 'operator login refused: too many failed attempts from this address');
      reply.header('retry-after', String(Math.ceil(lockedMs / 1_000)));
      return sendPage(reply, 429, loginPage(next, `Too many failed logins from this address. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`));
    }
    const userOk = sameText(request.body.username, operator.username);
    const passwordOk = sameText(request.body.password, operator.password);
    if (!(userOk && passwordOk)) {
      throttle.fail(address);
      request.log.warn('operator login failed');
      return sendPage(reply, 401, loginPage(next, 'The user name or password is not right.'));
    }
    throttle.succeed(address);
    const now = Date.now();
    const session = createOperatorSession({ ...operator, password: operator.password }, now);
    request.log.info('operator logged in');
    return reply
      .header('set-cookie', sessionCookie(cookieName, session.value, { expiresAt: session.expiresAt, secure }, now))
      .header('cache-control', 'no-store')
      .redirect(next, 303);
  });

  routes.post(LOGOUT_PATH, async (_request, reply) =>
    reply.header('set-cookie', sessionCookie(cookieName, '', { expiresAt: 0, secure })).header('cache-control', 'no-store').redirect(LOGIN_PATH, 303),
  );

  await app.register(async (gated) => {
    gated.addHook('onRequest', requireOperator(operator));
    // Bull Board's validation splits its messages on NUL and JSON-parses what follows: a NUL in
    // a value it quotes back (`"\u0000"` as a body) made it throw, a 500 (found by `npm run fuzz`).
    gated.addHook('preHandler', async (request, reply) => {
      if (!containsNul(request.body) && !containsNul(request.query)) return;
      const body = problemBody('validation_failed', 'body or query: must not contain the NUL character (U+0000)', [
        { field: 'body', in: 'body', message: 'must not contain the NUL character (U+0000)' },
      ]);
      return reply.code(body.status).type('application/problem+json').send(body);
    });
    const serverAdapter = new FastifyAdapter();
    serverAdapter.setBasePath(BULL_BOARD_PATH);
    createBullBoard({
      queues: producer.allQueues().map((queue) => new BullMQAdapter(queue)),
      serverAdapter,
      options: { uiConfig: { boardTitle: 'crm-engine queues' } },
    });
    // Bull Board's own error handler answers the error's message, and its stack trace (internal
    // paths) when NODE_ENV=development: ours answers problem details without either.
    serverAdapter.setErrorHandler((error) => {
      const status = (error as { statusCode?: unknown }).statusCode;
      const client = typeof status === 'number' && status >= 400 && status < 500;
      const body = client ? problemBody('validation_failed', 'the request could not be processed') : problemBody('internal', 'the request failed');
      const code = client ? status : 500;
      // Bull Board types the status as the few it answers itself; a 4xx of Fastify's (413, 415) keeps its own.
      return { status: code as 400 | 500, body: { ...body, status: code } };
    });
    await gated.register(serverAdapter.registerPlugin(), { prefix: BULL_BOARD_PATH });
  });
};
