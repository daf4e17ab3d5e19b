import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { defaultStrategySettings } from '@crm/core';
import { upsertClientContact } from '@crm/db';
import type { TestDatabase, TestRedis } from '@crm/testing';
import { startTestIngest, testKeys, type TestIngest } from './support/test-ingest';

// The dry run: what a request would do (channel order, send time per channel), writing nothing.
let t: TestDatabase;
let r: TestRedis;
let app: FastifyInstance;
let auth: { authorization: string };
const keys = testKeys;

let ingest: TestIngest;
beforeAll(async () => {
  ingest = await startTestIngest('ingest-preview-test');
  ({ t, r, app, auth } = ingest);
});
afterAll(() => ingest.close());

const counts = async () => {
  const { rows } = await sql<{ c: number; p: number; l: number }>`
    SELECT (SELECT count(*)::int FROM crm_communications) AS c, (SELECT count(*)::int FROM crm_client_preferences) AS p,
           (SELECT count(*)::int FROM crm_delivery_logs) AS l`.execute(t.db);
  return { ...rows[0], keys: (await r.keys()).length };
};
const preview = (payload: Record<string, unknown>) => app.inject({ method: 'POST', url: '/api/crm/communications/preview', headers: auth, payload });

describe('POST /api/crm/communications/preview', () => {
  it('answers the channel order and each channel\'s send time for a known client, and writes nothing', async () => {
    await upsertClientContact(t.db, keys, { clientId: 'preview-ada', email: 'ada@example.com', phone: '+14155550123', timezone: 'Asia/Kolkata' });
    const before = await counts();
    const response = await preview({ clientId: 'preview-ada', planId: 'p', messageType: 'budget_summary', urgency: 'normal' });
    expect(response.statusCode).toBe(200);
    const body = response.json<{ reason: string; timezone: string; channels: { channel: string; sendAt: string; postponed: boolean; reason: string }[] }>();
    expect(body).toMatchObject({ timezone: 'Asia/Kolkata', reason: 'client preference order: email → whatsapp → sms' });
    expect(body.channels.map((c) => c.channel)).toEqual(['email', 'whatsapp', 'sms']);
    for (const channel of body.channels) {
      expect(Date.parse(channel.sendAt)).toBeGreaterThanOrEqual(Date.now() - 60_000);
      // The local hour in Kolkata is outside the default quiet hours (21:00–08:00).
      const hour = Number(new Intl.DateTimeFormat('en-GB', { timeZone: 'Asia/Kolkata', hour: '2-digit', hourCycle: 'h23' }).format(new Date(channel.sendAt)));
      expect(hour >= 8 && hour < 21).toBe(true);
    }
    expect(await counts()).toEqual(before);
  });

  it('uses an inline recipient without storing it, and puts critical on the fastest channel now', async () => {
    const before = await counts();
    const response = await preview({ clientId: 'preview-new', planId: 'p', messageType: 'error_notification', urgency: 'critical', recipient: { phone: '+14155550199', timezone: 'Europe/London' } });
    expect(response.statusCode).toBe(200);
    const body = response.json<{ channels: { channel: string; postponed: boolean; reason: string }[] }>();
    expect(body.channels.map((c) => c.channel)).toEqual(['sms', 'whatsapp']);
    expect(body.channels[0]).toMatchObject({ postponed: false, reason: 'critical: sent now, quiet hours do not apply' });
    expect(await counts()).toEqual(before);
  });

  it('answers no channels, with the reason, for a client that cannot be reached', async () => {
    const response = await preview({ clientId: 'preview-nobody', planId: 'p', messageType: 'welcome' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ channels: [], reason: expect.stringContaining('no usable channel') });
  });

  it('validates the body like a request, and needs an API key', async () => {
    const bad = await preview({ clientId: 'x', planId: 'p', messageType: 'nope' });
    expect(bad.statusCode).toBe(400);
    expect(bad.headers['content-type']).toContain('application/problem+json');
    expect(bad.json()).toMatchObject({ errors: [expect.objectContaining({ field: 'messageType' })] });
    const anonymous = await app.inject({ method: 'POST', url: '/api/crm/communications/preview', payload: { clientId: 'x', planId: 'p', messageType: 'welcome' } });
    expect(anonymous.statusCode).toBe(401);
  });

  // Table-driven: each urgency with the same client (email and phone), what the dry run says
  // about channels, the email copy and the digest, and that it writes nothing.
  it.each([
    ['low', 'reminder', ['email', 'whatsapp', 'sms'], false, true, 'low urgency: waits up to 15 min for a digest of up to 10'],
    ['normal', 'reminder', ['email', 'whatsapp', 'sms'], false, false, 'normal urgency is never batched'],
    ['high', 'vendor_options', ['email', 'whatsapp', 'sms'], false, false, 'high urgency is never batched'],
    ['critical', 'error_notification', ['sms', 'whatsapp'], true, false, 'critical urgency is never batched'],
    ['low', 'blueprint_delivery', ['email', 'whatsapp', 'sms'], false, false, 'it carries a document'],
  ] as const)('%s %s: channels %j, copy by email %s, digest %s', async (urgency, messageType, channels, alsoEmail, batch, digestReason) => {
    await upsertClientContact(t.db, keys, { clientId: 'preview-table', email: 'table@example.com', phone: '+14155550124', timezone: 'UTC' });
    const before = await counts();
    const response = await preview({ clientId: 'preview-table', planId: 'p', messageType, urgency });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ alsoEmail, digest: { batch, reason: digestReason }, channels: channels.map((channel) => ({ channel })) });
    expect(await counts()).toEqual(before);
  });

  it('puts email first for a blueprint (its PDF), whatever the client\'s order', async () => {
    await upsertClientContact(t.db, keys, { clientId: 'preview-sms-first', email: 'b@example.com', phone: '+14155550125' });
    await t.db.updateTable('crm_client_preferences').set({ channels: ['sms', 'email'] }).where('client_id', '=', 'preview-sms-first').execute();
    const response = await preview({ clientId: 'preview-sms-first', planId: 'p', messageType: 'blueprint_delivery' });
    expect(response.json()).toMatchObject({ reason: expect.stringContaining('content: the document goes by email first: email → sms'), channels: [{ channel: 'email' }, { channel: 'sms' }] });
    const reminder = await preview({ clientId: 'preview-sms-first', planId: 'p', messageType: 'reminder' });
    expect(reminder.json()).toMatchObject({ channels: [{ channel: 'sms' }, { channel: 'email' }] });
  });
});

describe('preview with configured defaults', () => {
  let other: TestIngest;
  beforeAll(async () => {
    other = await startTestIngest('ingest-preview-defaults-test', {
      strategy: { ...defaultStrategySettings, defaults: { channels: ['sms', 'email'], timezone: 'Asia/Tokyo' } },
    });
  });
  afterAll(() => other.close());

  it('gives a client who stated no preferences the configured channel order and time zone', async () => {
    const response = await other.app.inject({
      method: 'POST', url: '/api/crm/communications/preview', headers: other.auth,
      payload: { clientId: 'never-seen', planId: 'p', messageType: 'reminder', recipient: { email: 'n@example.com', phone: '+14155550126' } },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ timezone: 'Asia/Tokyo', reason: 'client preference order: sms → email', channels: [{ channel: 'sms' }, { channel: 'email' }] });
  });

  it('applies the defaults to what a stored client never stated, and keeps what they did', async () => {
    await upsertClientContact(other.t.db, keys, { clientId: 'half-stated', email: 'h@example.com', phone: '+14155550127', timezone: 'Europe/Paris' });
    const response = await other.app.inject({
      method: 'POST', url: '/api/crm/communications/preview', headers: other.auth,
      payload: { clientId: 'half-stated', planId: 'p', messageType: 'reminder' },
    });
    expect(response.json()).toMatchObject({ timezone: 'Europe/Paris', channels: [{ channel: 'sms' }, { channel: 'email' }] });
  });
});
