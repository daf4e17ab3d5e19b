import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import { loadConfig } from '@crm/config';
import {
  buildApp, createOperatorSession, LOGIN_FAILURE_WINDOW_MS, LoginThrottle, OPERATOR_SESSION_TTL_MS, requireOperator, safeNextPath,
  verifyOperatorSession, type OperatorAccess,
} from '@crm/ingest';
import { createLogger } from '@crm/observability';
import { startTestIngest, testKeys, type TestIngest } from './support/test-ingest';

// The operator's browser login (a signed session cookie) in front of Bull Board, beside HTTP Basic.
const operator = { username: 'operator', password: 'correct horse battery staple', sessionSecret: 'operator-session-secret-for-tests-0123456789' };
const html = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };
const form = { 'content-type': 'application/x-www-form-urlencoded' };
const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
let ingest: TestIngest;
let secureApp: FastifyInstance;
let disabledApp: FastifyInstance;
/** Each test logs in from an address of its own, so the lockout of one does not reach another. */
let addressCount = 0;
const nextAddress = () => `198.51.100.${(addressCount += 1)}`;

/** An app of the same database and queues with other operator settings. */
const appWith = (access: OperatorAccess): Promise<FastifyInstance> =>
  buildApp({
    db: ingest.t.db, producer: ingest.producer, keys: testKeys, logger: createLogger({ service: 'ingest-operator-test', level: 'silent' }),
    redisPing: () => ingest.connection.ping(), bodyLimitBytes: 65_536, operator: access,
  });

beforeAll(async () => {
  ingest = await startTestIngest('ingest-operator-test', { operator });
  secureApp = await appWith({ ...operator, secureCookie: true });
  disabledApp = await appWith({ username: 'operator', password: null });
});
afterAll(async () => {
  await Promise.all([secureApp.close(), disabledApp.close()]);
  await ingest.close();
});

function login(fields: Record<string, string>, options: { app?: FastifyInstance; remoteAddress?: string } = {}): Promise<LightMyRequestResponse> {
  return (options.app ?? ingest.app).inject({
    method: 'POST', url: '/login', headers: { ...form, ...html }, payload: new URLSearchParams(fields).toString(),
    remoteAddress: options.remoteAddress ?? nextAddress(),
  });
}

/** `name=value` of a response's Set-Cookie header. */
function cookieOf(response: LightMyRequestResponse): string {
  const header = response.headers['set-cookie'];
  const first = Array.isArray(header) ? header[0] : header;
  expect(first).toBeDefined();
  return first!.split(';')[0]!;
}

const board = (headers: Record<string, string>, app: FastifyInstance = ingest.app) => app.inject({ method: 'GET', url: '/admin/queues', headers });

describe('GET /login', () => {
  it('serves an accessible form with no external asset or script', async () => {
    const response = await ingest.app.inject({ method: 'GET', url: '/login?next=%2Fadmin%2Fqueues%2Fqueue%2Fcrm.requests', headers: html });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.headers['content-security-policy']).toMatch(/default-src 'none'; style-src 'sha256-[A-Za-z0-9+/=]+'; form-action 'self'; frame-ancestors 'none'/);
    expect(response.headers['x-frame-options']).toBe('DENY');
    const page = response.body;
    expect(page).toContain('<html lang="en">');
    expect(page).toContain('<label for="username">User name</label>');
    expect(page).toMatch(/<input id="username" name="username" type="text" autocomplete="username"[^>]*required>/);
    expect(page).toContain('<label for="password">Password</label>');
    expect(page).toMatch(/<input id="password" name="password" type="password" autocomplete="current-password" required>/);
    expect(page).toContain('<form method="post" action="/login">');
    expect(page).toContain('<input type="hidden" name="next" value="/admin/queues/queue/crm.requests">');
    expect(page).not.toMatch(/<script|src=|href=|https?:\/\/|@import/i);
  });

  it('never echoes a foreign or odd next into the page', async () => {
    const response = await ingest.app.inject({ method: 'GET', url: `/login?next=${encodeURIComponent('/"><script>alert(1)</script>')}`, headers: html });
    expect(response.statusCode).toBe(200);
    expect(response.body).not.toContain('<script>');
    expect(response.body).toContain('value="/dashboard"');
    const escaped = await ingest.app.inject({ method: 'GET', url: `/login?next=${encodeURIComponent('/admin/queues?x=1&y=2')}`, headers: html });
    expect(escaped.body).toContain('value="/admin/queues?x=1&amp;y=2"');
  });

  it('answers 503 when no operator password is configured', async () => {
    const response = await disabledApp.inject({ method: 'GET', url: '/login', headers: html });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({ code: 'operator_access_disabled' });
    expect((await login({ username: 'operator', password: '' }, { app: disabledApp })).statusCode).toBe(503);
  });
});

describe('POST /login', () => {
  it('sets a signed HttpOnly SameSite=Strict session cookie for 12 h and redirects to the dashboard', async () => {
    const response = await login({ username: operator.username, password: operator.password });
    expect(response.statusCode).toBe(303);
    expect(response.headers.location).toBe('/dashboard');
    const header = String(response.headers['set-cookie']);
    expect(header).toMatch(/^crm_operator=v1\.\d{13}\.[A-Za-z0-9_-]{43}; Path=\/; Max-Age=43200; Expires=[^;]+ GMT; HttpOnly; SameSite=Strict$/);
    expect(header).not.toContain('Secure');
    expect(header).not.toContain(operator.password);

    const page = await board({ cookie: cookieOf(response) });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('crm-engine queues');
    // And the board's JSON API, with the same cookie.
    const api = await ingest.app.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: { cookie: `other=1; ${cookieOf(response)}` } });
    expect(api.statusCode).toBe(200);
  });

  it('marks the cookie Secure (and __Host-) when PUBLIC_BASE_URL is https', async () => {
    const response = await login({ username: operator.username, password: operator.password }, { app: secureApp });
    expect(response.statusCode).toBe(303);
    expect(String(response.headers['set-cookie'])).toMatch(/^__Host-crm_operator=v1\.[^;]+; Path=\/; Max-Age=43200; Expires=[^;]+; HttpOnly; SameSite=Strict; Secure$/);
    expect((await board({ cookie: cookieOf(response) }, secureApp)).statusCode).toBe(200);
    // The config says when: PUBLIC_BASE_URL https.
    const keys = { DB_ENCRYPTION_KEY: 'k'.repeat(32), BLIND_INDEX_KEY: 'b'.repeat(32) };
    expect(loadConfig({ ...keys, PUBLIC_BASE_URL: 'https://crm.example.com' }).operator.secureCookie).toBe(true);
    expect(loadConfig(keys).operator).toMatchObject({ secureCookie: false, sessionSecret: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
  });

  it('redirects to a local next', async () => {
    for (const next of ['/admin/queues/queue/crm.requests', '/dashboard?range=7d', '/admin/queues#failed']) {
      const response = await login({ username: operator.username, password: operator.password, next });
      expect([next, response.statusCode, response.headers.location]).toEqual([next, 303, next]);
    }
  });

  it.each([
    '//evil.com', '//evil.com/admin/queues', 'https://evil.com', 'http://evil.com/admin', '/\\evil.com', '/\t/evil.com', ' /admin',
    'javascript:alert(1)', 'evil.com', '/"><script>alert(1)</script>', '', '/login', '/logout', `/${'a'.repeat(2_100)}`,
  ])('never redirects off the site: next=%j goes to the dashboard', async (next) => {
    const response = await login({ username: operator.username, password: operator.password, next });
    expect(response.statusCode).toBe(next.length > 2_000 ? 400 : 303);
    if (response.statusCode === 303) expect(response.headers.location).toBe('/dashboard');
    expect(safeNextPath(next)).toBe('/dashboard');
  });

  it('answers a wrong user name or password with the form again, an error and 401, and no cookie', async () => {
    for (const fields of [{ username: operator.username, password: 'wrong password!!' }, { username: 'admin', password: operator.password }, { username: '', password: '' }]) {
      const response = await login({ ...fields, next: '/admin/queues/queue/crm.email' });
      expect(response.statusCode).toBe(401);
      expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(response.headers['set-cookie']).toBeUndefined();
      expect(response.body).toContain('<p class="error" role="alert" id="login-error">The user name or password is not right.</p>');
      expect(response.body).toContain('aria-describedby="login-error"');
      expect(response.body).toContain('value="/admin/queues/queue/crm.email"');
      expect(response.body).not.toContain(fields.password || '\u0000');
    }
  });

  it('validates the form: a missing field is a 400 naming it', async () => {
    const response = await ingest.app.inject({ method: 'POST', url: '/login', headers: form, payload: 'username=operator' });
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.json()).toMatchObject({ code: 'validation_failed', errors: [expect.objectContaining({ field: 'password', in: 'body' })] });
  });

  it('locks an address out after 10 failed logins in 15 min, even with the right password; others may still log in', async () => {
    const attacker = nextAddress();
    for (let i = 0; i < 10; i += 1) {
      expect((await login({ username: operator.username, password: `guess-${i}` }, { remoteAddress: attacker })).statusCode).toBe(401);
    }
    const locked = await login({ username: operator.username, password: operator.password }, { remoteAddress: attacker });
    expect(locked.statusCode).toBe(429);
    expect(locked.headers['set-cookie']).toBeUndefined();
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(14 * 60);
    expect(Number(locked.headers['retry-after'])).toBeLessThanOrEqual(15 * 60);
    expect(locked.body).toContain('Too many failed logins from this address. Try again in 15 minutes.');
    expect((await login({ username: operator.username, password: operator.password }, { remoteAddress: nextAddress() })).statusCode).toBe(303);
  });

  it('forgets an address\'s failures once it logs in', async () => {
    const address = nextAddress();
    for (let i = 0; i < 9; i += 1) await login({ username: operator.username, password: 'nope nope nope' }, { remoteAddress: address });
    expect((await login({ username: operator.username, password: operator.password }, { remoteAddress: address })).statusCode).toBe(303);
    for (let i = 0; i < 9; i += 1) {
      expect((await login({ username: operator.username, password: 'nope nope nope' }, { remoteAddress: address })).statusCode).toBe(401);
    }
  });
});

describe('the operator gate', () => {
  it('redirects a browser without a session to the login, with where it was going', async () => {
    const response = await ingest.app.inject({ method: 'GET', url: '/admin/queues/queue/crm.requests?status=failed', headers: html });
    expect(response.statusCode).toBe(303);
    expect(response.headers.location).toBe(`/login?next=${encodeURIComponent('/admin/queues/queue/crm.requests?status=failed')}`);
    // Which the login then honours.
    const next = new URL(response.headers.location!, 'http://x').searchParams.get('next')!;
    const loggedIn = await login({ username: operator.username, password: operator.password, next });
    expect(loggedIn.headers.location).toBe('/admin/queues/queue/crm.requests?status=failed');
  });

  it('answers a script without credentials 401 problem+json, as before', async () => {
    const scripts: Record<string, string>[] = [{}, { accept: 'application/json' }];
    for (const headers of scripts) {
      const response = await board(headers);
      expect(response.statusCode).toBe(401);
      expect(response.json()).toMatchObject({ code: 'operator_unauthorized' });
      expect(response.headers['www-authenticate']).toMatch(/^Basic realm="crm-engine operators"/);
    }
    expect((await ingest.app.inject({ method: 'PUT', url: '/admin/queues/api/queues/pause', headers: html })).statusCode).toBe(401);
  });

  it('still takes HTTP Basic', async () => {
    expect((await board(basic(operator.username, operator.password))).statusCode).toBe(200);
  });

  it('refuses a tampered, expired, foreign or malformed session cookie', async () => {
    const good = cookieOf(await login({ username: operator.username, password: operator.password })).split('=')[1]!;
    const [version, expiry, mac] = good.split('.') as [string, string, string];
    const flipped = `${mac.slice(0, 10)}${mac[10] === 'A' ? 'B' : 'A'}${mac.slice(11)}`;
    const expired = createOperatorSession(operator, Date.now() - OPERATOR_SESSION_TTL_MS - 1_000).value;
    const otherPassword = createOperatorSession({ ...operator, password: 'another password entirely' }).value;
    const otherSecret = createOperatorSession({ ...operator, sessionSecret: 'some other replica set secret' }).value;
    const otherUser = createOperatorSession({ ...operator, username: 'admin' }).value;
    const bad = [
      `${version}.${expiry}.${flipped}`, // signature changed
      `${version}.${Number(expiry) + 3_600_000}.${mac}`, // expiry pushed out
      `${version}.${Date.now() + 365 * 86_400_000}.${mac}`, // far future
      expired, otherPassword, otherSecret, otherUser, '', 'v1', `v2.${expiry}.${mac}`, `${good}x`, operator.password,
    ];
    for (const value of bad) {
      expect([value, verifyOperatorSession(operator, value)]).toEqual([value, false]);
      const browser = await board({ ...html, cookie: `crm_operator=${value}` });
      expect([value, browser.statusCode, browser.headers.location]).toEqual([value, 303, '/login?next=%2Fadmin%2Fqueues']);
      expect([value, (await board({ cookie: `crm_operator=${value}` })).statusCode]).toEqual([value, 401]);
    }
    // The right cookie under the wrong name does nothing either.
    expect((await board({ cookie: `__Host-crm_operator=${good}` })).statusCode).toBe(401);
  });

  it('keeps a session valid in every replica that shares the secret, until it expires', async () => {
    const replica = await appWith(operator);
    try {
      const { value, expiresAt } = createOperatorSession(operator);
      expect((await board({ cookie: `crm_operator=${value}` }, replica)).statusCode).toBe(200);
      expect(verifyOperatorSession(operator, value, expiresAt - 1)).toBe(true);
      expect(verifyOperatorSession(operator, value, expiresAt)).toBe(false);
    } finally {
      await replica.close();
    }
  });

  it('is a hook other operator pages can use', async () => {
    const app = Fastify();
    await app.register(async (dashboard) => {
      dashboard.addHook('onRequest', requireOperator(operator));
      dashboard.get('/dashboard', async () => ({ ok: true }));
    });
    try {
      const { value } = createOperatorSession(operator);
      expect((await app.inject({ method: 'GET', url: '/dashboard', headers: { cookie: `crm_operator=${value}` } })).json()).toEqual({ ok: true });
      expect((await app.inject({ method: 'GET', url: '/dashboard', headers: basic(operator.username, operator.password) })).statusCode).toBe(200);
      expect((await app.inject({ method: 'GET', url: '/dashboard', headers: html })).headers.location).toBe('/login?next=%2Fdashboard');
      expect((await app.inject({ method: 'GET', url: '/dashboard' })).statusCode).toBe(401);
    } finally {
      await app.close();
    }
  });
});

describe('POST /logout', () => {
  it('clears the session cookie and goes back to the login', async () => {
    const cookie = cookieOf(await login({ username: operator.username, password: operator.password }));
    const response = await ingest.app.inject({ method: 'POST', url: '/logout', headers: { ...form, cookie }, payload: '' });
    expect(response.statusCode).toBe(303);
    expect(response.headers.location).toBe('/login');
    expect(String(response.headers['set-cookie'])).toBe('crm_operator=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Strict');
    // The browser now sends no session, and is sent to the login.
    expect((await board({ ...html, cookie: cookieOf(response) })).statusCode).toBe(303);
  });
});

describe('LoginThrottle', () => {
  it('lets an address try again once its oldest failure in the window ages out', () => {
    const throttle = new LoginThrottle();
    const start = 1_700_000_000_000;
    for (let i = 0; i < 10; i += 1) throttle.fail('a', start + i * 60_000);
    const last = start + 9 * 60_000;
    expect(throttle.lockedFor('a', last)).toBe(LOGIN_FAILURE_WINDOW_MS - 9 * 60_000);
    expect(throttle.lockedFor('b', last)).toBe(0);
    expect(throttle.lockedFor('a', start + LOGIN_FAILURE_WINDOW_MS - 1)).toBe(1);
    expect(throttle.lockedFor('a', start + LOGIN_FAILURE_WINDOW_MS)).toBe(0);
    // One more failure then locks it again until the next oldest ages out.
    throttle.fail('a', start + LOGIN_FAILURE_WINDOW_MS);
    expect(throttle.lockedFor('a', start + LOGIN_FAILURE_WINDOW_MS)).toBe(60_000);
  });

  it('remembers a bounded number of addresses', () => {
    const throttle = new LoginThrottle({ max: 1, maxAddresses: 2 });
    throttle.fail('a', 0);
    throttle.fail('b', 0);
    throttle.fail('c', 0);
    expect([throttle.lockedFor('a', 1), throttle.lockedFor('b', 1) > 0, throttle.lockedFor('c', 1) > 0]).toEqual([0, true, true]);
  });
});
