import type { FastifyInstance } from 'fastify';
import { signTrackingToken, type CommunicationStatus } from '@crm/core';
import { CommunicationRepository } from '@crm/db';
import { buildApp, type IngestDeps } from '@crm/ingest';
import { createLogger } from '@crm/observability';
import type { QueueProducer } from '@crm/queue';
import type { TestDatabase } from '@crm/testing';
import { TRANSPARENT_GIF } from '../src/routes/tracking';
import { startTestIngest, testKeys, type TestIngest } from './support/test-ingest';

const trackingSecret = 'ingest-tracking-test-secret-0123456789';
const chrome = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';

let t: TestDatabase;
let producer: QueueProducer;
let app: FastifyInstance;
let auth: { authorization: string };

let ingest: TestIngest;
beforeAll(async () => {
  ingest = await startTestIngest('ingest-tracking-test', { email: { trackingSecret, machineOpenWindowMs: 0, attachmentMaxTotalBytes: 1e7 } });
  ({ t, producer, app, auth } = ingest);
});
afterAll(() => ingest.close());

let clients = 0;
/** A new email communication, moved along the main line to `sent`. */
async function sent(path: CommunicationStatus[] = ['queued', 'sending', 'sent']): Promise<{ id: string; clientId: string }> {
  const clientId = `tracking-client-${++clients}`;
  const response = await app.inject({
    method: 'POST', url: '/api/crm/communications', headers: auth,
    payload: { clientId, planId: 'tracking-plan', messageType: 'reminder', recipient: { email: `${clientId}@example.com` } },
  });
  expect(response.statusCode).toBe(202);
  const { id } = response.json<{ id: string }>();
  for (const to of path) expect((await CommunicationRepository.updateStatus(t.db, { id, to, ...(to === 'queued' && { channel: 'email' as const }) })).applied).toBe(true);
  return { id, clientId };
}

const openToken = (c: string) => signTrackingToken(trackingSecret, { k: 'o', c });
const clickToken = (c: string, u: string) => signTrackingToken(trackingSecret, { k: 'c', c, u });
const unsubscribeToken = (c: string) => signTrackingToken(trackingSecret, { k: 'u', c });
const pixel = (token: string, userAgent: string | null = chrome) =>
  // `undefined` sends no User-Agent at all (light-my-request adds its own otherwise).
  app.inject({ method: 'GET', url: `/t/o/${token}`, headers: { 'user-agent': userAgent ?? undefined } });

const status = async (id: string) => (await CommunicationRepository.findById(t.db, id))?.status;
const logs = async (id: string, event: string) => (await CommunicationRepository.listLogs(t.db, id)).filter((log) => log.event === event);
const events = async (id: string) =>
  (await producer.queue('crm.events').getJobs(['waiting', 'delayed', 'prioritized', 'active', 'completed']))
    .filter((job) => job.data.communicationId === id)
    .map((job) => job.data as { communicationId: string; event: string; at: string });
const optOuts = async (clientId: string) =>
  (await t.db.selectFrom('crm_client_preferences').select('opt_outs').where('client_id', '=', clientId).executeTakeFirst())?.opt_outs;

describe('GET /t/o/:token', () => {
  it('answers an uncached 1×1 GIF, moves sent → opened and emits opened once', async () => {
    const { id } = await sent();
    const response = await pixel(openToken(id));
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('image/gif');
    expect(response.headers['cache-control']).toContain('no-store');
    expect(response.rawPayload.equals(TRANSPARENT_GIF)).toBe(true);

    const row = await CommunicationRepository.findById(t.db, id);
    expect(row?.status).toBe('opened');
    expect(await events(id)).toEqual([{ communicationId: id, event: 'opened', at: row!.opened_at!.toISOString() }]);
    expect((await logs(id, 'opened'))[0]).toMatchObject({ from_status: 'sent', to_status: 'opened', detail: { machine: false, reason: 'none', userAgentFamily: 'other' } });

    // Opened again: logged, no second event, the first open's time kept.
    expect((await pixel(openToken(id))).statusCode).toBe(200);
    expect(await logs(id, 'opened')).toHaveLength(2);
    expect(await events(id)).toHaveLength(1);
    expect((await CommunicationRepository.findById(t.db, id))?.opened_at).toEqual(row!.opened_at);
  });

  it('records a proxy or scanner open flagged as a machine open, with its family and never the user agent', async () => {
    const { id } = await sent();
    await pixel(openToken(id), 'Mozilla/5.0');
    await pixel(openToken(id), 'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)');
    await pixel(openToken(id), null);
    const opened = await logs(id, 'opened');
    expect(opened.map((log) => log.detail)).toEqual([
      { machine: true, reason: 'machine_user_agent', userAgentFamily: 'apple_mpp' },
      { machine: true, reason: 'machine_user_agent', userAgentFamily: 'gmail_image_proxy' },
      { machine: true, reason: 'missing_user_agent', userAgentFamily: 'none' },
    ]);
    expect(JSON.stringify(opened)).not.toContain('GoogleImageProxy');
  });

  it('flags an open within the machine-open window of sending; without email settings, links of another process do not verify', async () => {
    const base: IngestDeps = {
      db: t.db, producer, keys: testKeys, logger: createLogger({ service: 'ingest-tracking-window-test', level: 'silent' }),
      redisPing: async () => 'PONG', bodyLimitBytes: 65_536,
    };
    const windowed = await buildApp({ ...base, email: { trackingSecret, machineOpenWindowMs: 3_600_000, attachmentMaxTotalBytes: 1e7 } });
    const unconfigured = await buildApp(base);
    try {
      const { id } = await sent();
      expect((await windowed.inject({ method: 'GET', url: `/t/o/${openToken(id)}`, headers: { 'user-agent': chrome } })).statusCode).toBe(200);
      expect((await logs(id, 'opened'))[0]?.detail).toEqual({ machine: true, reason: 'within_window', userAgentFamily: 'other' });
      expect((await unconfigured.inject({ method: 'GET', url: `/t/o/${openToken(id)}` })).statusCode).toBe(404);
      expect(await logs(id, 'opened')).toHaveLength(1);
    } finally {
      await Promise.all([windowed.close(), unconfigured.close()]);
    }
  });

  it('records nothing for HEAD, and answers the pixel without recording for an erased communication', async () => {
    const { id } = await sent();
    expect((await app.inject({ method: 'HEAD', url: `/t/o/${openToken(id)}` })).statusCode).toBe(200);
    expect(await status(id)).toBe('sent');
    const gone = '6f1c7f55-2d5f-4d57-9d1f-3d1b8f7c9a11';
    expect((await pixel(openToken(gone))).statusCode).toBe(200);
    expect(await t.db.selectFrom('crm_delivery_logs').select('id').where('communication_id', '=', gone).execute()).toEqual([]);
  });
});

describe('GET /t/c/:token', () => {
  it('redirects to exactly the signed URL, moves to clicked and emits clicked once', async () => {
    const { id } = await sent();
    const url = 'https://example.com/plan/42?step=budget&ref=email#summary';
    const response = await app.inject({ method: 'GET', url: `/t/c/${clickToken(id, url)}?url=https://evil.example/&next=https://evil.example/`, headers: { 'user-agent': chrome } });
    expect(response.statusCode).toBe(302);
    expect(response.headers.location).toBe(url);
    expect(response.headers['cache-control']).toContain('no-store');

    const row = await CommunicationRepository.findById(t.db, id);
    expect(row?.status).toBe('clicked');
    expect(await events(id)).toEqual([{ communicationId: id, event: 'clicked', at: row!.clicked_at!.toISOString() }]);
    expect(await logs(id, 'clicked')).toEqual([expect.objectContaining({ from_status: 'sent', to_status: 'clicked', detail: { url } })]);

    const again = await app.inject({ method: 'GET', url: `/t/c/${clickToken(id, 'https://example.com/other')}` });
    expect(again.headers.location).toBe('https://example.com/other');
    expect(await logs(id, 'clicked')).toHaveLength(2);
    expect(await events(id)).toHaveLength(1);
  });

  it('moves opened → clicked after the pixel, and emits both', async () => {
    const { id } = await sent();
    await pixel(openToken(id));
    await app.inject({ method: 'GET', url: `/t/c/${clickToken(id, 'https://example.com/')}` });
    expect(await status(id)).toBe('clicked');
    expect((await events(id)).map((event) => event.event).sort()).toEqual(['clicked', 'opened']);
  });

  it('percent-encodes a signed URL with characters a header cannot carry', async () => {
    const { id } = await sent();
    const response = await app.inject({ method: 'GET', url: `/t/c/${clickToken(id, 'https://example.com/café?q=ü')}` });
    expect(response.statusCode).toBe(302);
    expect(response.headers.location).toBe('https://example.com/caf%C3%A9?q=%C3%BC');
  });

  it('redirects on HEAD without recording the click (link checkers)', async () => {
    const { id } = await sent();
    const response = await app.inject({ method: 'HEAD', url: `/t/c/${clickToken(id, 'https://example.com/')}` });
    expect(response.statusCode).toBe(302);
    expect(await status(id)).toBe('sent');
    expect(await logs(id, 'clicked')).toEqual([]);
  });
});

describe('tampered and foreign tokens', () => {
  const flip = (token: string, at: number) => token.slice(0, at) + (token[at] === 'A' ? 'B' : 'A') + token.slice(at + 1);

  it('answer 404 problem with no Location, and change nothing', async () => {
    const { id, clientId } = await sent();
    const click = clickToken(id, 'https://example.com/');
    const [body, signature] = click.split('.') as [string, string];
    const forged = `${Buffer.from(JSON.stringify({ k: 'c', c: id, u: 'https://evil.example/' })).toString('base64url')}.${signature}`;
    const otherSecret = signTrackingToken('another-secret-of-another-install-000', { k: 'c', c: id, u: 'https://example.com/' });
    const requests: [string, string][] = [
      ['GET', `/t/c/${flip(click, 5)}`],
      ['GET', `/t/c/${flip(click, click.length - 3)}`],
      ['GET', `/t/c/${forged}`],
      ['GET', `/t/c/${otherSecret}`],
      ['GET', `/t/c/${body}`],
      ['GET', `/t/c/${openToken(id)}`],
      ['GET', `/t/o/${clickToken(id, 'https://example.com/')}`],
      ['GET', `/t/o/${flip(openToken(id), 3)}`],
      ['GET', `/u/${openToken(id)}`],
      ['GET', `/u/${flip(unsubscribeToken(id), 10)}`],
      ['POST', `/u/${flip(unsubscribeToken(id), 10)}`],
      ['GET', '/t/c/not-a-token'],
    ];
    const before = await CommunicationRepository.listLogs(t.db, id);
    for (const [method, url] of requests) {
      const response = await app.inject({ method: method as 'GET' | 'POST', url, headers: { 'user-agent': chrome } });
      expect({ url, status: response.statusCode }).toEqual({ url, status: 404 });
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(response.json()).toMatchObject({ code: 'not_found', errors: [{ field: 'token', in: 'params' }] });
      expect(response.headers.location).toBeUndefined();
    }
    expect(await status(id)).toBe('sent');
    expect(await CommunicationRepository.listLogs(t.db, id)).toEqual(before);
    expect(await optOuts(clientId)).toEqual([]);
    expect(await events(id)).toEqual([]);
  });
});

describe('/u/:token', () => {
  it('GET opts the client out of email at once and answers an HTML page; again changes nothing', async () => {
    const { id, clientId } = await sent();
    const response = await app.inject({ method: 'GET', url: `/u/${unsubscribeToken(id)}` });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(response.headers['content-security-policy']).toContain("default-src 'none'");
    expect(response.body).toContain('<h1>You are unsubscribed</h1>');
    expect(response.body).not.toContain(clientId);
    expect(await optOuts(clientId)).toEqual(['email']);

    const again = await app.inject({ method: 'GET', url: `/u/${unsubscribeToken(id)}` });
    expect(again.statusCode).toBe(200);
    expect(await optOuts(clientId)).toEqual(['email']);
    expect(await logs(id, 'unsubscribed')).toEqual([expect.objectContaining({ detail: { channel: 'email', method: 'link' } })]);
    // The status is not an engagement: it stays.
    expect(await status(id)).toBe('sent');
  });

  it('POST one-click (RFC 8058), form-encoded as Gmail sends it, opts out; repeated, it stays done', async () => {
    const { id, clientId } = await sent();
    const post = () => app.inject({
      method: 'POST', url: `/u/${unsubscribeToken(id)}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'List-Unsubscribe=One-Click',
    });
    expect((await post()).statusCode).toBe(200);
    expect(await optOuts(clientId)).toEqual(['email']);
    expect((await post()).statusCode).toBe(200);
    expect(await optOuts(clientId)).toEqual(['email']);
    expect(await logs(id, 'unsubscribed')).toEqual([expect.objectContaining({ detail: { channel: 'email', method: 'one_click' } })]);
  });

  it('POST accepts RFC 8058\'s multipart example and an empty body too, without an API key', async () => {
    const { id, clientId } = await sent();
    const boundary = '---FormBoundaryjWmhtjORrn';
    const multipart = await app.inject({
      method: 'POST', url: `/u/${unsubscribeToken(id)}`,
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
      payload: `--${boundary}\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--${boundary}--\r\n`,
    });
    expect(multipart.statusCode).toBe(200);
    expect(await optOuts(clientId)).toEqual(['email']);

    const other = await sent();
    expect((await app.inject({ method: 'POST', url: `/u/${unsubscribeToken(other.id)}` })).statusCode).toBe(200);
    expect(await optOuts(other.clientId)).toEqual(['email']);
  });

  it('keeps the client\'s other opt-outs', async () => {
    const { id, clientId } = await sent();
    await t.db.updateTable('crm_client_preferences').set({ opt_outs: ['whatsapp'] }).where('client_id', '=', clientId).execute();
    await app.inject({ method: 'GET', url: `/u/${unsubscribeToken(id)}` });
    expect(await optOuts(clientId)).toEqual(['whatsapp', 'email']);
  });

  it('answers 404 for an erased communication, and HEAD records nothing', async () => {
    expect((await app.inject({ method: 'GET', url: `/u/${unsubscribeToken('6f1c7f55-2d5f-4d57-9d1f-3d1b8f7c9a11')}` })).statusCode).toBe(404);
    const { id, clientId } = await sent();
    expect((await app.inject({ method: 'HEAD', url: `/u/${unsubscribeToken(id)}` })).statusCode).toBe(200);
    expect(await optOuts(clientId)).toEqual([]);
  });
});

describe('a URL Fastify cannot decode', () => {
  // Found by `npm run fuzz`: a malformed percent-encoding (`/t/o/%`) was answered by Fastify
  // itself, as `application/json` with its own shape and the path echoed, not problem details.
  it('answers 400 problem+json with a code, on a token route and on an API route', async () => {
    for (const url of ['/t/o/%', '/t/c/%zz', '/u/%E0%A4%A', '/api/crm/communications/%']) {
      const response = await app.inject({ method: 'GET', url, headers: auth });
      expect(response.statusCode).toBe(400);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(response.json()).toMatchObject({ code: 'validation_failed', status: 400, errors: [{ field: 'url', in: 'params' }] });
      expect(response.body).not.toContain(url);
    }
  });

  it('answers a path parameter over the length limit 414 problem+json', async () => {
    const response = await app.inject({ method: 'GET', url: `/api/crm/preferences/${'x'.repeat(300)}`, headers: auth });
    expect(response.statusCode).toBe(414);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.json()).toMatchObject({ code: 'validation_failed', status: 414 });
  });
});
