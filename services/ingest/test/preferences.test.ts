import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { defaultStrategySettings, signTrackingToken, type StrategySettings } from '@crm/core';
import { suppressEmail } from '@crm/db';
import { PreferencesCache } from '@crm/delivery';
import { buildApp } from '@crm/ingest';
import { createLogger } from '@crm/observability';
import { twilioSignature } from '@crm/providers';
import { startTestIngest, testKeys, testWebhooks, type TestIngest } from './support/test-ingest';

// The preferences API on real PostgreSQL and Redis, with the routing preferences cache in front.

const trackingSecret = 'ingest-preferences-test-tracking-secret';
/** Configured defaults unlike the built-in ones, so that the answers show where they come from. */
const settings: StrategySettings = {
  ...defaultStrategySettings,
  defaults: { channels: ['sms', 'email'], timezone: 'Europe/Paris' },
  timing: { ...defaultStrategySettings.timing, defaultQuietHours: { start: '22:00', end: '07:00' } },
};

let ingest: TestIngest;
let app: FastifyInstance;
let cache: PreferencesCache;
const logLines: string[] = [];
/** Every email address and phone number this file sends: none may appear in a log line. */
const personal = new Set<string>();

beforeAll(async () => {
  ingest = await startTestIngest('ingest-preferences-test');
  cache = new PreferencesCache({ db: ingest.t.db, redis: ingest.connection, prefix: ingest.r.prefix, ttlSeconds: 600 });
  app = await buildApp({
    db: ingest.t.db, producer: ingest.producer, keys: testKeys, redisPing: () => ingest.connection.ping(), bodyLimitBytes: 65_536,
    logger: createLogger({ service: 'ingest-preferences-test', level: 'debug', destination: { write: (line: string) => void logLines.push(line) } }),
    redis: ingest.connection, preferencesCache: cache, strategy: settings, webhooks: testWebhooks,
    email: { trackingSecret, machineOpenWindowMs: 0, attachmentMaxTotalBytes: 1e7 },
  });
});
afterAll(async () => {
  await app.close();
  await ingest.close();
});

let clients = 0;
const newClient = () => `pref-client-${++clients}`;
const remember = (...values: string[]) => values.forEach((value) => personal.add(value));

const post = (payload: unknown, headers: Record<string, string> = ingest.auth) =>
  app.inject({ method: 'POST', url: '/api/crm/preferences', headers, payload: payload as object });
const get = (clientId: string, headers: Record<string, string> = ingest.auth) =>
  app.inject({ method: 'GET', url: `/api/crm/preferences/${encodeURIComponent(clientId)}`, headers });

/** The client's row, raw (or undefined). */
const rowOf = (clientId: string) => ingest.t.db.selectFrom('crm_client_preferences').selectAll().where('client_id', '=', clientId).executeTakeFirst();

describe('POST /api/crm/preferences and GET /api/crm/preferences/:clientId', () => {
  it('stores every preference (email lower-cased, phone in E.164) and reads them back in the same shape', async () => {
    const clientId = newClient();
    remember('Ada.Lovelace@Example.com', 'ada.lovelace@example.com', '+442079460958', '+44 20 7946 0958');
    const response = await post({
      clientId, channels: ['whatsapp', 'email'], timezone: 'America/Sao_Paulo', quietHours: { start: '21:30', end: '07:15' },
      optOuts: ['sms'], language: 'pt-br', batching: false, email: 'Ada.Lovelace@Example.com', phone: '+44 20 7946 0958',
    });
    expect(response.statusCode).toBe(200);
    const expected = {
      clientId, known: true, channels: ['whatsapp', 'email'], timezone: 'America/Sao_Paulo', quietHours: { start: '21:30', end: '07:15' },
      optOuts: ['sms'], language: 'pt-BR', batching: false, email: 'ada.lovelace@example.com', phone: '+442079460958', emailSuppressed: false, defaults: [],
    };
    expect(response.json()).toEqual(expected);
    const read = await get(clientId);
    expect(read.statusCode).toBe(200);
    expect(read.json()).toEqual(expected);
  });

  it('keeps what a later update leaves out; null goes back to the configured defaults, or removes email and phone', async () => {
    const clientId = newClient();
    remember('grace@example.com', '+14155550123');
    await post({ clientId, channels: ['email'], timezone: 'Asia/Tokyo', quietHours: { start: '23:00', end: '06:00' }, email: 'grace@example.com', phone: '+14155550123' });
    const partial = await post({ clientId, batching: false });
    expect(partial.json()).toMatchObject({ channels: ['email'], timezone: 'Asia/Tokyo', quietHours: { start: '23:00', end: '06:00' }, batching: false, email: 'grace@example.com', phone: '+14155550123', defaults: [] });

    const reset = await post({ clientId, channels: null, timezone: null, quietHours: null, phone: null });
    expect(reset.statusCode).toBe(200);
    expect(reset.json()).toMatchObject({
      known: true, channels: ['sms', 'email'], timezone: 'Europe/Paris', quietHours: { start: '22:00', end: '07:00' },
      batching: false, email: 'grace@example.com', phone: null, defaults: ['channels', 'timezone', 'quietHours'],
    });
    const row = (await rowOf(clientId))!;
    expect(row).toMatchObject({ channels: null, timezone: null, quiet_hours_start: null, quiet_hours_end: null, phone_encrypted: null, phone_hash: null, phone_key_id: null });

    expect((await post({ clientId, email: null })).json()).toMatchObject({ email: null, phone: null, emailSuppressed: false });
    expect((await rowOf(clientId))!).toMatchObject({ email_encrypted: null, email_hash: null, email_key_id: null });
  });

  it('answers a client never seen with the configured defaults and known: false, writing nothing', async () => {
    const clientId = newClient();
    const response = await get(clientId);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      clientId, known: false, channels: ['sms', 'email'], timezone: 'Europe/Paris', quietHours: { start: '22:00', end: '07:00' },
      optOuts: [], language: 'en', batching: true, email: null, phone: null, emailSuppressed: false, defaults: ['channels', 'timezone', 'quietHours'],
    });
    expect(await rowOf(clientId)).toBeUndefined();
  });

  it('a client first stored by a request with a recipient gets the defaults for what it never stated', async () => {
    const clientId = newClient();
    remember('intake@example.com');
    const accepted = await app.inject({
      method: 'POST', url: '/api/crm/communications', headers: ingest.auth,
      payload: { clientId, planId: 'plan-1', messageType: 'reminder', recipient: { email: 'intake@example.com' } },
    });
    expect(accepted.statusCode).toBe(202);
    expect((await get(clientId)).json()).toMatchObject({
      known: true, channels: ['sms', 'email'], timezone: 'Europe/Paris', email: 'intake@example.com', phone: null, defaults: ['channels', 'timezone', 'quietHours'],
    });
  });

  it('keeps a bounced address suppressed when the same one is sent again, and clears it for a new one', async () => {
    const clientId = newClient();
    remember('bounced@example.com', 'BOUNCED@example.com', 'fresh@example.com');
    await post({ clientId, email: 'bounced@example.com' });
    await suppressEmail(ingest.t.db, { clientId, reason: 'smtp 550' });
    expect((await get(clientId)).json()).toMatchObject({ emailSuppressed: true });
    expect((await post({ clientId, email: 'BOUNCED@example.com' })).json()).toMatchObject({ email: 'bounced@example.com', emailSuppressed: true });
    expect((await post({ clientId, email: 'fresh@example.com' })).json()).toMatchObject({ email: 'fresh@example.com', emailSuppressed: false });
    expect((await rowOf(clientId))!).toMatchObject({ email_suppressed_at: null, email_suppression_reason: null });
  });

  it('stores email and phone encrypted (with the key id) and blind-indexed, never in plaintext', async () => {
    const clientId = newClient();
    remember('secret.person@example.com', '+491701234567');
    await post({ clientId, email: 'secret.person@example.com', phone: '+491701234567' });
    const row = (await rowOf(clientId))!;
    for (const column of [row.email_encrypted, row.email_hash, row.phone_encrypted, row.phone_hash]) {
      expect(Buffer.isBuffer(column)).toBe(true);
      expect(column!.toString('latin1')).not.toContain('secret.person');
      expect(column!.toString('latin1')).not.toContain('491701234567');
    }
    expect(row.email_key_id).toMatch(/^[0-9a-f]{16}$/);
    expect(row.phone_key_id).toBe(row.email_key_id);
    const text = await sql<{ row: string }>`SELECT p::text AS row FROM crm_client_preferences p WHERE client_id = ${clientId}`.execute(ingest.t.db);
    expect(text.rows[0]!.row).not.toContain('secret.person');
    expect(text.rows[0]!.row).not.toContain('491701234567');
  });
});

describe('refused requests', () => {
  const bad: [string, Record<string, unknown>, string[]][] = [
    ['an unknown channel', { channels: ['email', 'pigeon'] }, ['channels.1']],
    ['an empty channel list', { channels: [] }, ['channels']],
    ['a repeated channel', { channels: ['sms', 'sms'] }, ['channels']],
    ['a time zone that does not exist', { timezone: 'Mars/Olympus' }, ['timezone']],
    ['quiet hours at 25:00', { quietHours: { start: '25:00', end: '07:00' } }, ['quietHours.start']],
    ['quiet hours without a leading zero', { quietHours: { start: '22:00', end: '7:00' } }, ['quietHours.end']],
    ['quiet hours that start where they end', { quietHours: { start: '08:00', end: '08:00' } }, ['quietHours.end']],
    ['a phone number too short', { phone: '+1555' }, ['phone']],
    ['a phone number with 00 instead of +', { phone: '00442079460958' }, ['phone']],
    ['a phone number in national form', { phone: '020 7946 0958' }, ['phone']],
    ['an email address without a domain', { email: 'ada@' }, ['email']],
    ['an unknown opt-out channel', { optOuts: ['fax'] }, ['optOuts.0']],
    ['a language that is not a tag', { language: 'en_US' }, ['language']],
    ['batching as a string', { batching: 'yes' }, ['batching']],
    ['an unknown field', { channels: ['email'], colour: 'blue' }, ['colour']],
    ['several bad fields at once', { channels: ['email', 'email'], timezone: 'Mars/Olympus', email: 'nope' }, ['channels', 'timezone', 'email']],
  ];

  it.each(bad)('%s: 400 problem+json naming the field; nothing written', async (_name, fields, named) => {
    const clientId = newClient();
    const response = await post({ clientId, ...fields });
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    const problem = response.json<{ code: string; errors: { field: string; in: string }[] }>();
    expect(problem.code).toBe('validation_failed');
    expect(problem.errors.map((error) => error.field).sort()).toEqual([...named].sort());
    expect(problem.errors.every((error) => error.in === 'body')).toBe(true);
    expect(await rowOf(clientId)).toBeUndefined();
  });

  it('a missing clientId and a body with no preference are refused, naming clientId and the body', async () => {
    const missing = await post({ channels: ['email'] });
    expect(missing.statusCode).toBe(400);
    expect(missing.json<{ errors: { field: string }[] }>().errors.map((error) => error.field)).toEqual(['clientId']);

    const clientId = newClient();
    const empty = await post({ clientId });
    expect(empty.statusCode).toBe(400);
    expect(empty.json<{ errors: { field: string; message: string }[] }>().errors).toEqual([
      expect.objectContaining({ field: '(root)', message: expect.stringMatching(/at least one preference/) }),
    ]);
    expect(await rowOf(clientId)).toBeUndefined();
  });

  it('a bad field next to good ones changes nothing of a stored client', async () => {
    const clientId = newClient();
    await post({ clientId, channels: ['email'], batching: true });
    const before = await rowOf(clientId);
    const response = await post({ clientId, channels: ['sms'], batching: false, phone: '+1555' });
    expect(response.statusCode).toBe(400);
    expect(await rowOf(clientId)).toEqual(before);
  });

  it('a body that is not an object, or not JSON, is a 400 problem', async () => {
    const list = await post([{ clientId: 'x', batching: true }]);
    expect(list.statusCode).toBe(400);
    expect(list.headers['content-type']).toMatch(/^application\/problem\+json/);
    const broken = await app.inject({ method: 'POST', url: '/api/crm/preferences', headers: { ...ingest.auth, 'content-type': 'application/json' }, payload: '{"clientId":' });
    expect(broken.statusCode).toBe(400);
    expect(broken.json()).toMatchObject({ code: 'invalid_json' });
  });

  it('GET with a client id that is not one is a 400 naming clientId', async () => {
    const response = await get('ada@example.com');
    expect(response.statusCode).toBe(400);
    expect(response.json<{ errors: { field: string; in: string }[] }>().errors).toEqual([expect.objectContaining({ field: 'clientId', in: 'params' })]);
  });

  it('without an API key both routes answer 401 and nothing is written', async () => {
    const clientId = newClient();
    const posted = await post({ clientId, batching: false }, {});
    expect(posted.statusCode).toBe(401);
    expect(posted.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(await rowOf(clientId)).toBeUndefined();
    expect((await get(clientId, {})).statusCode).toBe(401);
    expect((await post({ clientId, batching: false }, { authorization: 'Bearer crm_live_notakeynotakeynotakeynotakeynot' })).statusCode).toBe(401);
    expect(await rowOf(clientId)).toBeUndefined();
  });
});

describe('the routing preferences cache', () => {
  it('is invalidated by POST /api/crm/preferences: a read through the cache sees the new value at once', async () => {
    const clientId = newClient();
    await post({ clientId, channels: ['email'], optOuts: [] });
    expect((await cache.getMany([clientId])).get(clientId)).toMatchObject({ channels: ['email'], optOuts: [] });
    expect(await ingest.r.redis.exists(cache.entryKey(clientId))).toBe(1);

    expect((await post({ clientId, channels: ['whatsapp', 'sms'], optOuts: ['email'] })).statusCode).toBe(200);
    expect(await ingest.r.redis.exists(cache.entryKey(clientId))).toBe(0);
    expect((await cache.getMany([clientId])).get(clientId)).toMatchObject({ channels: ['whatsapp', 'sms'], optOuts: ['email'] });
  });

  it('is invalidated by a request whose recipient brings contact details (single and batch)', async () => {
    const [single, batched] = [newClient(), newClient()];
    remember('single@example.com', '+14155550177', '+14155550178');
    await post({ clientId: single, email: 'single@example.com' });
    await post({ clientId: batched, email: 'single@example.com' });
    expect((await cache.getMany([single, batched])).get(single)).toMatchObject({ hasEmail: true, hasPhone: false });

    const one = await app.inject({
      method: 'POST', url: '/api/crm/communications', headers: ingest.auth,
      payload: { clientId: single, planId: 'plan-1', messageType: 'reminder', recipient: { phone: '+14155550177' } },
    });
    expect(one.statusCode).toBe(202);
    const many = await app.inject({
      method: 'POST', url: '/api/crm/communications/batch', headers: ingest.auth,
      payload: { items: [{ clientId: batched, planId: 'plan-1', messageType: 'reminder', recipient: { phone: '+14155550178', timezone: 'Asia/Tokyo' } }] },
    });
    expect(many.statusCode).toBe(202);
    const after = await cache.getMany([single, batched]);
    expect(after.get(single)).toMatchObject({ hasEmail: true, hasPhone: true });
    expect(after.get(batched)).toMatchObject({ hasPhone: true, timezone: 'Asia/Tokyo' });
  });

  it('is invalidated by an SMS STOP (Twilio inbound webhook)', async () => {
    const clientId = newClient();
    const phone = '+14155550188';
    remember(phone);
    await post({ clientId, phone });
    expect((await cache.getMany([clientId])).get(clientId)?.optOuts).toEqual([]);
    const path = '/webhooks/twilio/inbound';
    const sid = `SM${'c'.repeat(32)}`;
    const params = { MessageSid: sid, SmsSid: sid, AccountSid: `AC${'1'.repeat(32)}`, From: phone, To: '+15005550006', Body: 'STOP', NumMedia: '0' };
    const stop = await app.inject({
      method: 'POST', url: path, payload: new URLSearchParams(params).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilioSignature(testWebhooks.twilioAuthToken, `${testWebhooks.publicBaseUrl}${path}`, params) },
    });
    expect(stop.statusCode).toBe(200);
    expect((await cache.getMany([clientId])).get(clientId)?.optOuts).toEqual(['sms']);
  });

  it('is invalidated by an email unsubscribe link', async () => {
    const clientId = newClient();
    remember('leaving@example.com');
    const accepted = await app.inject({
      method: 'POST', url: '/api/crm/communications', headers: ingest.auth,
      payload: { clientId, planId: 'plan-1', messageType: 'reminder', recipient: { email: 'leaving@example.com' } },
    });
    const { id } = accepted.json<{ id: string }>();
    expect((await cache.getMany([clientId])).get(clientId)?.optOuts).toEqual([]);
    const response = await app.inject({ method: 'GET', url: `/u/${signTrackingToken(trackingSecret, { k: 'u', c: id })}` });
    expect(response.statusCode).toBe(200);
    expect((await cache.getMany([clientId])).get(clientId)?.optOuts).toEqual(['email']);
  });
});

it('never wrote an email address or a phone number to the log', () => {
  expect(logLines.length).toBeGreaterThan(0);
  expect(logLines.some((line) => line.includes('preferences stored'))).toBe(true);
  const text = logLines.join('\n').toLowerCase();
  for (const value of personal) expect(text).not.toContain(value.toLowerCase());
  expect(text).not.toContain('4155550');
});
