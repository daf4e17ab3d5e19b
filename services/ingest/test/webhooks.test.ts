import { randomBytes } from 'node:crypto';
import { claimAttempts, CommunicationRepository, queueOnFirstChannelMany, recordSentMany, upsertClientContact } from '@crm/db';
import { metaSignature, twilioSignature } from '@crm/providers';
import type { WebhookSettings } from '@crm/ingest';
import { startTestIngest, testKeys, testWebhooks, type TestIngest } from './support/test-ingest';

const webhooks: WebhookSettings = testWebhooks;

let ingest: TestIngest;
beforeAll(async () => {
  ingest = await startTestIngest('ingest-webhooks-test', { webhooks });
});
afterAll(() => ingest.close());

let clients = 0;
/** A communication the messaging worker sent on `channel`, with the provider's message id. */
async function sent(channel: 'sms' | 'whatsapp'): Promise<{ id: string; messageId: string }> {
  const { db } = ingest.t;
  const clientId = `webhook-client-${++clients}`;
  await upsertClientContact(db, testKeys, { clientId, phone: '+14155550123' });
  const { communication } = await CommunicationRepository.save(db, {
    clientId, planId: 'plan-1', messageType: 'welcome', urgency: 'normal', requestedChannel: null, sendAt: null,
    variables: {}, metadata: {}, idempotencyKey: null, requestHash: null,
  });
  const { id } = communication;
  const provider = channel === 'sms' ? 'twilio' : 'whatsapp';
  const messageId = channel === 'sms' ? `SM${randomBytes(16).toString('hex')}` : `wamid.${randomBytes(30).toString('base64')}`;
  await queueOnFirstChannelMany(db, [{ id, channel, plan: [channel], reason: 'test' }]);
  await claimAttempts(db, testKeys, [{ id, attempt: 1, channel, provider }]);
  expect(await recordSentMany(db, [{ id, attempt: 1, channel, provider, providerMessageId: messageId, latencyMs: 5, detail: {} }])).toEqual([true]);
  return { id, messageId };
}

const row = async (id: string) => (await CommunicationRepository.findById(ingest.t.db, id))!;
const webhookLogs = async (id: string) => (await CommunicationRepository.listLogs(ingest.t.db, id)).filter((l) => l.event === 'webhook');
const events = async (id: string) =>
  (await ingest.producer.queue('crm.events').getJobs(['waiting', 'delayed', 'prioritized', 'active', 'completed']))
    .filter((job) => job.data.communicationId === id)
    .map((job) => (job.data as { event: string }).event)
    .sort();

// --- Twilio ---------------------------------------------------------------------------------

const twilioPath = '/webhooks/twilio/status?tenant=a%20b';
/** Twilio's status-callback parameters. */
const twilioParams = (sid: string, status: string, more: Record<string, string> = {}) => ({
  MessageSid: sid, SmsSid: sid, MessageStatus: status, SmsStatus: status, AccountSid: `AC${'1'.repeat(32)}`,
  From: '+15005550006', To: '+14155550123', ApiVersion: '2010-04-01', ...more,
});
const form = (params: Record<string, string>) => new URLSearchParams(params).toString();
function twilio(params: Record<string, string>, options: { signature?: string | null; body?: string; path?: string } = {}) {
  const path = options.path ?? twilioPath;
  const signature = options.signature === undefined ? twilioSignature(webhooks.twilioAuthToken, `${webhooks.publicBaseUrl}${path}`, params) : options.signature;
  return ingest.app.inject({
    method: 'POST', url: path, payload: options.body ?? form(params),
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', ...(signature !== null && { 'x-twilio-signature': signature }) },
  });
}

describe('POST /webhooks/twilio/status', () => {
  it('applies a validly signed delivered status without an API key, and announces it on crm.events', async () => {
    const { id, messageId } = await sent('sms');
    const response = await twilio(twilioParams(messageId, 'delivered'));
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ outcomes: ['applied'] });
    expect((await row(id)).status).toBe('delivered');
    expect(await webhookLogs(id)).toEqual([expect.objectContaining({ provider: 'twilio', provider_event_id: `${messageId}:delivered`, from_status: 'sent', to_status: 'delivered' })]);
    expect(await events(id)).toEqual(['delivered']);
  });

  it('answers 403 and changes nothing for a tampered body, a wrong URL, a missing or wrong header', async () => {
    const { id, messageId } = await sent('sms');
    const params = twilioParams(messageId, 'delivered');
    const signature = twilioSignature(webhooks.twilioAuthToken, `${webhooks.publicBaseUrl}${twilioPath}`, params);
    const refused = [
      await twilio(params, { signature, body: form({ ...params, MessageStatus: 'undelivered' }) }),
      await twilio(params, { signature, body: form({ ...params, ErrorCode: '30003' }) }),
      await twilio(params, { signature, path: '/webhooks/twilio/status?tenant=b' }),
      await twilio(params, { signature, path: '/webhooks/twilio/status' }),
      await twilio(params, { signature: twilioSignature(webhooks.twilioAuthToken, `http://crm.example.com${twilioPath}`, params) }),
      await twilio(params, { signature: twilioSignature('another-token', `${webhooks.publicBaseUrl}${twilioPath}`, params) }),
      await twilio(params, { signature: null }),
      await twilio(params, { signature: '' }),
    ];
    for (const response of refused) {
      expect(response.statusCode).toBe(403);
      expect(response.headers['content-type']).toContain('application/problem+json');
      expect(response.json()).toMatchObject({ code: 'invalid_signature', errors: [{ field: 'x-twilio-signature', in: 'header' }] });
    }
    // A JSON body is not a Twilio callback either.
    const json = await ingest.app.inject({ method: 'POST', url: twilioPath, payload: params, headers: { 'x-twilio-signature': signature } });
    expect(json.statusCode).toBe(403);
    expect((await row(id)).status).toBe('sent');
    expect(await webhookLogs(id)).toEqual([]);
    expect(await events(id)).toEqual([]);
  });

  it('applies the same event once when Twilio retries it', async () => {
    const { id, messageId } = await sent('sms');
    const first = await twilio(twilioParams(messageId, 'delivered'));
    const again = await twilio(twilioParams(messageId, 'delivered'));
    expect([first.json(), again.json()]).toEqual([{ outcomes: ['applied'] }, { outcomes: ['duplicate'] }]);
    expect(await webhookLogs(id)).toHaveLength(1);
    expect(await events(id)).toEqual(['delivered']);
  });

  it('keeps delivered when a late sent arrives after it (out of order)', async () => {
    const { id, messageId } = await sent('sms');
    expect((await twilio(twilioParams(messageId, 'delivered'))).json()).toEqual({ outcomes: ['applied'] });
    expect((await twilio(twilioParams(messageId, 'sent'))).json()).toEqual({ outcomes: ['stale'] });
    expect((await twilio(twilioParams(messageId, 'queued'))).json()).toEqual({ outcomes: ['stale'] });
    expect((await row(id)).status).toBe('delivered');
    expect((await webhookLogs(id)).map((l) => [l.provider_event_id, l.to_status])).toEqual([
      [`${messageId}:delivered`, 'delivered'], [`${messageId}:sent`, null], [`${messageId}:queued`, null],
    ]);
  });

  it('moves undelivered to failed with its error code', async () => {
    const { id, messageId } = await sent('sms');
    const response = await twilio(twilioParams(messageId, 'undelivered', { ErrorCode: '30003' }));
    expect(response.json()).toEqual({ outcomes: ['applied'] });
    expect(await row(id)).toMatchObject({ status: 'failed', last_error_code: '30003' });
    expect(await events(id)).toEqual(['failed']);
  });

  it('answers 200 and records nothing for an unknown SID or a status that is not a delivery status', async () => {
    expect((await twilio(twilioParams(`SM${'e'.repeat(32)}`, 'delivered'))).json()).toEqual({ outcomes: ['unknown_message'] });
    const { id, messageId } = await sent('sms');
    const inbound = await twilio(twilioParams(messageId, 'received'));
    expect(inbound.statusCode).toBe(200);
    expect(inbound.json()).toEqual({ outcomes: ['ignored'] });
    expect(await webhookLogs(id)).toEqual([]);
  });
});

// --- WhatsApp -------------------------------------------------------------------------------

const statusItem = (id: string, status: string, timestamp: number, more: object = {}) => ({ id, status, timestamp: String(timestamp), recipient_id: '14155550123', ...more });
const metaBody = (statuses: unknown[]) =>
  JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [{ id: '102290129340398', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: { display_phone_number: '15550783881', phone_number_id: '106540352242922' }, statuses } }] }],
  });
function whatsapp(body: string, signature: string | null = metaSignature(webhooks.whatsappAppSecret, body)) {
  return ingest.app.inject({
    method: 'POST', url: '/webhooks/whatsapp', payload: body,
    headers: { 'content-type': 'application/json', ...(signature !== null && { 'x-hub-signature-256': signature }) },
  });
}

describe('POST /webhooks/whatsapp', () => {
  it('applies every status of a signed batch in order: delivered then read → opened', async () => {
    const { id, messageId } = await sent('whatsapp');
    const response = await whatsapp(metaBody([statusItem(messageId, 'delivered', 1_700_000_000), statusItem(messageId, 'read', 1_700_000_030)]));
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ outcomes: ['applied', 'applied'], messages: [] });
    expect(await row(id)).toMatchObject({ status: 'opened', delivered_at: new Date(1_700_000_000_000), opened_at: new Date(1_700_000_030_000) });
    expect(await events(id)).toEqual(['delivered', 'opened']);
  });

  it('answers 403 and changes nothing for a tampered body, a re-serialised body, a missing or wrong header', async () => {
    const { id, messageId } = await sent('whatsapp');
    const body = metaBody([statusItem(messageId, 'read', 1_700_000_000)]);
    const signature = metaSignature(webhooks.whatsappAppSecret, body);
    const spaced = JSON.stringify(JSON.parse(body), null, 1);
    const refused = [
      await whatsapp(body.replace('"read"', '"sent"'), signature),
      await whatsapp(spaced, signature),
      await whatsapp(body, null),
      await whatsapp(body, metaSignature('another-secret', body)),
      await whatsapp(body, signature.slice('sha256='.length)),
    ];
    for (const response of refused) {
      expect(response.statusCode).toBe(403);
      expect(response.json()).toMatchObject({ code: 'invalid_signature', errors: [{ field: 'x-hub-signature-256', in: 'header' }] });
    }
    expect((await row(id)).status).toBe('sent');
    expect(await webhookLogs(id)).toEqual([]);
  });

  it('applies a replayed event once, keeps opened when a late delivered arrives, and records a failure with its code', async () => {
    const a = await sent('whatsapp');
    const read = metaBody([statusItem(a.messageId, 'read', 1_700_000_100)]);
    expect((await whatsapp(read)).json()).toEqual({ outcomes: ['applied'], messages: [] });
    expect((await whatsapp(read)).json()).toEqual({ outcomes: ['duplicate'], messages: [] });
    expect((await whatsapp(metaBody([statusItem(a.messageId, 'delivered', 1_700_000_050)]))).json()).toEqual({ outcomes: ['stale'], messages: [] });
    expect((await row(a.id)).status).toBe('opened');
    expect(await events(a.id)).toEqual(['opened']);

    const b = await sent('whatsapp');
    const failed = statusItem(b.messageId, 'failed', 1_700_000_000, { errors: [{ code: 131026, title: 'Message undeliverable' }] });
    expect((await whatsapp(metaBody([failed]))).json()).toEqual({ outcomes: ['applied'], messages: [] });
    expect(await row(b.id)).toMatchObject({ status: 'failed', last_error_code: '131026' });
    expect(await events(b.id)).toEqual(['failed']);
  });

  it('answers 200 for an unknown wamid, a body without statuses, and malformed items; 400 for a signed body that is not JSON', async () => {
    expect((await whatsapp(metaBody([statusItem('wamid.unknown', 'delivered', 1)]))).json()).toEqual({ outcomes: ['unknown_message'], messages: [] });
    const inbound = JSON.stringify({ object: 'whatsapp_business_account', entry: [{ changes: [{ field: 'messages', value: { messages: [{ id: 'wamid.IN', type: 'text' }] } }] }] });
    expect((await whatsapp(inbound)).json()).toEqual({ outcomes: [], messages: [] });
    expect((await whatsapp(metaBody([null, { id: 1 }, statusItem('wamid.x', 'bogus', 1)]))).json()).toEqual({ outcomes: [], messages: [] });
    for (const body of ['[]', '"text"', '{"entry":{"changes":1}}']) expect((await whatsapp(body)).statusCode).toBe(200);
    const notJson = await whatsapp('{not json');
    expect(notJson.statusCode).toBe(400);
    expect(notJson.json()).toMatchObject({ code: 'invalid_json' });
  });
});

describe('GET /webhooks/whatsapp (subscription handshake)', () => {
  const handshake = (query: Record<string, string>) => ingest.app.inject({ method: 'GET', url: `/webhooks/whatsapp?${new URLSearchParams(query).toString()}` });

  it('echoes hub.challenge as text/plain for the configured verify token', async () => {
    const response = await handshake({ 'hub.mode': 'subscribe', 'hub.verify_token': webhooks.whatsappVerifyToken, 'hub.challenge': '1158201444' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(response.body).toBe('1158201444');
  });

  it('answers 403 for another token, another mode, or missing parameters', async () => {
    const queries: Record<string, string>[] = [
      { 'hub.mode': 'subscribe', 'hub.verify_token': 'wrong', 'hub.challenge': '1' },
      { 'hub.mode': 'subscribe', 'hub.verify_token': `${webhooks.whatsappVerifyToken}x`, 'hub.challenge': '1' },
      { 'hub.mode': 'unsubscribe', 'hub.verify_token': webhooks.whatsappVerifyToken, 'hub.challenge': '1' },
      { 'hub.mode': 'subscribe', 'hub.verify_token': webhooks.whatsappVerifyToken, 'hub.challenge': '<script>' },
      { 'hub.mode': 'subscribe', 'hub.challenge': '1' },
      {},
    ];
    for (const query of queries) {
      const response = await handshake(query);
      expect(response.statusCode).toBe(403);
      expect(response.json()).toMatchObject({ code: 'verify_token_mismatch' });
      expect(response.body).not.toContain('<script>');
    }
  });
});

describe('without webhook settings', () => {
  let bare: TestIngest;
  beforeAll(async () => {
    bare = await startTestIngest('ingest-webhooks-bare-test');
  });
  afterAll(() => bare.close());

  it('answers 503 on every webhook route', async () => {
    for (const request of [
      { method: 'POST' as const, url: '/webhooks/twilio/status', payload: 'MessageSid=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
      { method: 'POST' as const, url: '/webhooks/whatsapp', payload: '{}', headers: { 'content-type': 'application/json' } },
      { method: 'GET' as const, url: '/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1' },
    ]) {
      const response = await bare.app.inject(request);
      expect(response.statusCode).toBe(503);
      expect(response.json()).toMatchObject({ code: 'webhooks_not_configured' });
    }
  });
});
