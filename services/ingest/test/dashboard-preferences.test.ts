import type { FastifyInstance } from 'fastify';
import { defaultStrategySettings, type StrategySettings } from '@crm/core';
import { buildApp, createOperatorSession } from '@crm/ingest';
import { createLogger } from '@crm/observability';
import { startTestIngest, testKeys, type TestIngest } from './support/test-ingest';
import { browserAccept, operatorBasic, testOperator } from './support/operator';

// The dashboard's preferences screen on a real database: the page reads what the API reads,
// shows contact details only masked, and saves through the API's own route for the operator.

const operator = { ...testOperator, sessionSecret: 'dashboard-preferences-session-secret-0123456789' };
const basic = operatorBasic;
const browser = browserAccept;
/** Configured defaults unlike the built-in ones, so that the page shows where they come from. */
const settings: StrategySettings = {
  ...defaultStrategySettings,
  defaults: { channels: ['sms', 'email'], timezone: 'Europe/Paris' },
  timing: { ...defaultStrategySettings.timing, defaultQuietHours: { start: '22:00', end: '07:00' } },
};

let ingest: TestIngest;
let app: FastifyInstance;
let clients = 0;
const newClient = () => `dash-pref-${++clients}`;

beforeAll(async () => {
  ingest = await startTestIngest('ingest-dashboard-preferences-test');
  app = await buildApp({
    db: ingest.t.db, producer: ingest.producer, keys: testKeys, logger: createLogger({ service: 'ingest-dashboard-preferences-test', level: 'silent' }),
    redisPing: () => ingest.connection.ping(), bodyLimitBytes: 65_536, redis: ingest.connection, strategy: settings, operator,
  });
});
afterAll(async () => {
  await app.close();
  await ingest.close();
});

const getPage = (url: string, headers: Record<string, string> = basic) => app.inject({ method: 'GET', url, headers: { ...browser, ...headers } });
const apiPost = (payload: object) => app.inject({ method: 'POST', url: '/api/crm/preferences', headers: ingest.auth, payload });
const dashboardPost = (payload: object, headers: Record<string, string> = basic) =>
  app.inject({ method: 'POST', url: '/dashboard/api/crm/preferences', headers: { 'content-type': 'application/json', ...headers }, payload: JSON.stringify(payload) });
const apiGet = async (clientId: string) =>
  (await app.inject({ method: 'GET', url: `/api/crm/preferences/${encodeURIComponent(clientId)}`, headers: ingest.auth })).json<Record<string, unknown>>();

/** The markup of the `[data-field="name"]` container (up to the next field). */
function fieldOf(page: string, name: string): string {
  const start = page.indexOf(`data-field="${name}"`);
  expect(start).toBeGreaterThan(-1);
  const next = page.indexOf('data-field="', start + 12);
  return page.slice(start, next === -1 ? undefined : next);
}

describe('GET /dashboard/preferences', () => {
  it('needs the operator: a browser without a login goes to the login form', async () => {
    const response = await app.inject({ method: 'GET', url: '/dashboard/preferences', headers: browser });
    expect(response.statusCode).toBe(303);
    expect(response.headers.location).toBe('/login?next=%2Fdashboard%2Fpreferences');
  });

  it('shows the lookup form, and sends a valid client id on to its page', async () => {
    const empty = await getPage('/dashboard/preferences');
    expect(empty.statusCode).toBe(200);
    expect(empty.headers['content-security-policy']).toContain("script-src 'self'");
    expect(empty.body).toContain('<label for="clientId">Client id</label>');
    expect(empty.body).toContain('<form class="filters lookup" method="get" action="/dashboard/preferences"');
    expect(empty.body).toContain('<script src="/dashboard/assets/preferences.js" defer></script>');
    expect(empty.body).toContain('aria-current="page">Preferences</a>');
    expect(empty.body).not.toMatch(/<script>|style="/);

    const found = await getPage('/dashboard/preferences?clientId=client-7%3Aa.b');
    expect(found.statusCode).toBe(303);
    expect(found.headers.location).toBe('/dashboard/preferences/client-7%3Aa.b');
  });

  it.each([
    ['', 'enter a client id'],
    ['ada@example.com', 'must be 1-128 characters'],
    ['x'.repeat(129), 'Too big'],
  ])('answers a bad client id %j with 400 and the error by the field', async (clientId, message) => {
    const response = await getPage(`/dashboard/preferences?clientId=${encodeURIComponent(clientId)}`);
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(response.body).toMatch(/<input id="clientId" name="clientId" type="text" value="[^"]*"[^>]* aria-invalid="true" aria-describedby="clientId-error">/);
    expect(response.body).toMatch(new RegExp(`<p class="field-error" id="clientId-error">[^<]*${message}`));
  });

  it('escapes a hostile client id, in the query and in the path', async () => {
    const hostile = '"><script>alert(1)</script>';
    for (const url of [`/dashboard/preferences?clientId=${encodeURIComponent(hostile)}`, `/dashboard/preferences/${encodeURIComponent(hostile)}`]) {
      const response = await getPage(url);
      expect(response.statusCode).toBe(400);
      expect(response.body).not.toContain('<script>alert(1)');
      expect(response.body).toContain('value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"');
      expect(response.body).toContain('id="clientId-error"');
    }
  });
});

describe('GET /dashboard/preferences/:clientId', () => {
  it('shows the stored preferences, with contact details masked and never in full', async () => {
    const clientId = newClient();
    const stored = await apiPost({
      clientId, channels: ['whatsapp', 'email'], timezone: 'Asia/Tokyo', quietHours: { start: '21:30', end: '07:15' },
      optOuts: ['sms'], language: 'pt-BR', batching: false, email: 'ada.lovelace@example.com', phone: '+14155550123',
    });
    expect(stored.statusCode).toBe(200);

    const response = await getPage(`/dashboard/preferences/${clientId}`);
    expect(response.statusCode).toBe(200);
    expect(response.headers['cache-control']).toBe('no-store');
    const page = response.body;
    expect(page).not.toContain('ada.lovelace');
    expect(page).not.toContain('4155550123');
    expect(page).toContain('a•••@example.com');
    expect(page).toContain('+1•••••0123');
    expect(page).toContain('Contact details come from the workflow');
    expect(page).toContain(`data-client-id="${clientId}"`);
    expect(page).toContain(`<input type="hidden" name="clientId" value="${clientId}">`);

    // Channels in the client's order, included; the one left out last and unticked.
    const channels = fieldOf(page, 'channels');
    const order = [...channels.matchAll(/<li data-channel="(\w+)">/g)].map((m) => m[1]);
    expect(order).toEqual(['whatsapp', 'email', 'sms']);
    expect(channels).toContain('id="channel-whatsapp" name="channels" value="whatsapp" checked');
    expect(channels).toMatch(/id="channel-sms" name="channels" value="sms">/);
    expect(channels).toContain('<button type="button" class="secondary move" data-move="up">Move<span class="visually-hidden"> WhatsApp</span> up</button>');
    expect(fieldOf(page, 'timezone')).toContain('<input id="timezone" name="timezone" type="text" list="timezones" value="Asia/Tokyo"');
    expect(page).toMatch(/<datalist id="timezones">.*<option value="UTC"><\/option>.*<option value="Europe\/Berlin"><\/option>/s);
    expect(fieldOf(page, 'quietHours')).toContain('name="quietHours.start" type="time" value="21:30"');
    expect(fieldOf(page, 'quietHours')).toContain('name="quietHours.end" type="time" value="07:15"');
    expect(fieldOf(page, 'optOuts')).toContain('name="optOuts" value="sms" checked');
    expect(fieldOf(page, 'optOuts')).toMatch(/name="optOuts" value="email">/);
    expect(fieldOf(page, 'language')).toContain('value="pt-BR"');
    expect(fieldOf(page, 'batching')).toMatch(/<input type="checkbox" id="batching" name="batching">/);
    // Nothing is a default here.
    expect(page).not.toMatch(/data-default-mark="\w+">/);
    expect(page).not.toMatch(/data-use-default="\w+" checked/);
  });

  it('marks the fields that show the configured defaults', async () => {
    const clientId = newClient();
    await apiPost({ clientId, email: 'grace@example.com', optOuts: ['whatsapp'] });
    const page = (await getPage(`/dashboard/preferences/${clientId}`)).body;
    expect(page).not.toContain('grace@');
    expect(page).toContain('g•••@example.com');
    for (const field of ['channels', 'timezone', 'quietHours']) {
      expect(fieldOf(page, field)).toContain(`<span class="default-mark" data-default-mark="${field}">(default)</span>`);
      expect(fieldOf(page, field)).toContain(`data-use-default="${field}" checked`);
    }
    const order = [...fieldOf(page, 'channels').matchAll(/<li data-channel="(\w+)">/g)].map((m) => m[1]);
    expect(order).toEqual(['sms', 'email', 'whatsapp']);
    expect(fieldOf(page, 'timezone')).toContain('value="Europe/Paris"');
    expect(fieldOf(page, 'quietHours')).toContain('value="22:00"');
    expect(fieldOf(page, 'optOuts')).toContain('value="whatsapp" checked');
  });

  it('shows a client the engine has never seen with the defaults a new client gets', async () => {
    const response = await getPage('/dashboard/preferences/never-seen-client');
    expect(response.statusCode).toBe(200);
    expect(response.body).toContain('The engine has stored nothing for this client yet');
    expect(response.body).toContain('<span class="muted">none</span>');
  });
});

describe('POST /dashboard/api/crm/preferences', () => {
  it('stores through the API with HTTP Basic and answers like the API', async () => {
    const clientId = newClient();
    const response = await dashboardPost({ clientId, channels: ['email', 'sms'], timezone: 'America/Chicago', quietHours: null, optOuts: [], language: 'en', batching: true });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ clientId, known: true, channels: ['email', 'sms'], timezone: 'America/Chicago', quietHours: { start: '22:00', end: '07:00' }, defaults: ['quietHours'] });
    expect(await apiGet(clientId)).toEqual(response.json());
  });

  it('validates like the API: problems per field, nothing written', async () => {
    const clientId = newClient();
    const bad = { clientId, channels: [], timezone: 'Mars/Olympus_Mons', quietHours: { start: '25:00', end: '07:00' }, language: 'english!' };
    const response = await dashboardPost(bad);
    const api = await app.inject({ method: 'POST', url: '/api/crm/preferences', headers: ingest.auth, payload: bad });
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toContain('application/problem+json');
    expect(response.json()).toEqual(api.json());
    const fields = (response.json() as { errors: { field: string }[] }).errors.map((e) => e.field);
    expect(fields).toEqual(expect.arrayContaining(['channels', 'timezone', 'quietHours.start', 'language']));
    expect(await apiGet(clientId)).toMatchObject({ known: false });
  });

  it('refuses a write with the session cookie from a foreign origin (403 cross_origin_write) and writes nothing', async () => {
    const clientId = newClient();
    const cookie = `crm_operator=${createOperatorSession(operator).value}`;
    const foreign = await dashboardPost({ clientId, timezone: 'Asia/Tokyo' }, { cookie, origin: 'https://evil.example' });
    expect(foreign.statusCode).toBe(403);
    expect(foreign.json()).toMatchObject({ code: 'cross_origin_write' });
    // Without Origin either: a cookie alone is not enough.
    expect((await dashboardPost({ clientId, timezone: 'Asia/Tokyo' }, { cookie })).statusCode).toBe(403);
    expect(await apiGet(clientId)).toMatchObject({ known: false, timezone: 'Europe/Paris' });

    // The dashboard's own origin is let through with the same cookie.
    const own = await dashboardPost({ clientId, timezone: 'Asia/Tokyo' }, { cookie, origin: 'http://localhost:80' });
    expect(own.statusCode).toBe(200);
    expect(await apiGet(clientId)).toMatchObject({ known: true, timezone: 'Asia/Tokyo' });
  });
});
