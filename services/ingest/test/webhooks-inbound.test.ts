import { randomBytes } from 'node:crypto';
import { claimAttempts, CommunicationRepository, getRoutingPreferences, queueOnFirstChannelMany, recordSentMany, upsertClientContact } from '@crm/db';
import type { JsonObject, MessageChannel, MessageType } from '@crm/core';
import { metaSignature, twilioSignature } from '@crm/providers';
import { keywordAnswers, type WebhookSettings } from '@crm/ingest';
import { startTestIngest, testKeys, testWebhooks, type TestIngest } from './support/test-ingest';

// Inbound replies and late failures through ingest's signed webhooks, on real PostgreSQL and Redis.
const webhooks: WebhookSettings = testWebhooks;

let ingest: TestIngest;
beforeAll(async () => {
  ingest = await startTestIngest('ingest-webhooks-inbound-test', { webhooks });
});
afterAll(() => ingest.close());

let numbers = 0;
async function client(): Promise<{ clientId: string; phone: string }> {
  const phone = `+1415556${String(1000 + ++numbers)}`;
  const clientId = `inbound-client-${numbers}`;
  await upsertClientContact(ingest.t.db, testKeys, { clientId, phone });
  return { clientId, phone };
}

async function sent(clientId: string, messageType: MessageType, variables: JsonObject, channel: 'sms' | 'whatsapp', plan: MessageChannel[] = [channel]) {
  const { db } = ingest.t;
  const { communication } = await CommunicationRepository.save(db, {
    clientId, planId: 'plan-1', messageType, urgency: 'normal', requestedChannel: null, sendAt: null, variables, metadata: {}, idempotencyKey: null, requestHash: null,
  });
  const { id } = communication;
  const provider = channel === 'sms' ? 'twilio' : 'whatsapp';
  const messageId = channel === 'sms' ? `SM${randomBytes(16).toString('hex')}` : `wamid.${randomBytes(30).toString('base64')}`;
  await queueOnFirstChannelMany(db, [{ id, channel, plan, reason: 'test' }]);
  await claimAttempts(db, testKeys, [{ id, attempt: 1, channel, provider }]);
  await recordSentMany(db, [{ id, attempt: 1, channel, provider, providerMessageId: messageId, latencyMs: 5, detail: {} }]);
  return { id, messageId };
}

const row = async (id: string) => (await CommunicationRepository.findById(ingest.t.db, id))!;
const jobs = async (queue: 'crm.events' | 'crm.fallback') =>
  (await ingest.producer.queue(queue).getJobs(['waiting', 'delayed', 'prioritized', 'active', 'completed'])).map((job) => job.data as Record<string, unknown>);
const inboundCount = async () => Number((await ingest.t.db.selectFrom('crm_inbound_messages').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

const inboundPath = '/webhooks/twilio/inbound';
let sids = 0;
const smsIn = (from: string, body: string, sid = `SM${String(++sids).padStart(32, 'a')}`) => ({
  MessageSid: sid, SmsSid: sid, SmsMessageSid: sid, AccountSid: `AC${'1'.repeat(32)}`, From: from, To: '+15005550006', Body: body,
  NumMedia: '0', NumSegments: '1', SmsStatus: 'received', ApiVersion: '2010-04-01',
});
function twilioInbound(params: Record<string, string>, signature: string | null = twilioSignature(webhooks.twilioAuthToken, `${webhooks.publicBaseUrl}${inboundPath}`, params), path = inboundPath) {
  return ingest.app.inject({
    method: 'POST', url: path, payload: new URLSearchParams(params).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(signature !== null && { 'x-twilio-signature': signature }) },
  });
}
const twimlMessages = (xml: string): string[] => [...xml.matchAll(/<Message>([^<]*)<\/Message>/g)].map((m) => m[1]!);

describe('POST /webhooks/twilio/inbound', () => {
  it('STOP opts the client out of SMS and answers the confirmation in TwiML; a replay does nothing again; START opts back in', async () => {
    const { clientId, phone } = await client();
    const stop = smsIn(phone, 'STOP');
    const response = await twilioInbound(stop);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/xml');
    expect(twimlMessages(response.body)).toEqual([keywordAnswers.opt_out]);
    expect((await getRoutingPreferences(ingest.t.db, clientId))?.optOuts).toEqual(['sms']);
    // Twilio retries the same message: no second row, no second confirmation.
    const before = await inboundCount();
    const replay = await twilioInbound(stop);
    expect(twimlMessages(replay.body)).toEqual([]);
    expect(await inboundCount()).toBe(before);

    const start = await twilioInbound(smsIn(phone, 'start'));
    expect(twimlMessages(start.body)).toEqual([keywordAnswers.opt_in]);
    expect((await getRoutingPreferences(ingest.t.db, clientId))?.optOuts).toEqual([]);
    expect(twimlMessages((await twilioInbound(smsIn(phone, 'HELP'))).body)).toEqual([keywordAnswers.help]);
  });

  it('answers 403 and records nothing for a tampered body, a wrong URL, or a missing signature', async () => {
    const { clientId, phone } = await client();
    const params = smsIn(phone, 'STOP');
    const signature = twilioSignature(webhooks.twilioAuthToken, `${webhooks.publicBaseUrl}${inboundPath}`, params);
    const before = await inboundCount();
    const refused = [
      await ingest.app.inject({ method: 'POST', url: inboundPath, payload: new URLSearchParams({ ...params, Body: 'START' }).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature } }),
      await twilioInbound(params, signature, '/webhooks/twilio/inbound?x=1'),
      await twilioInbound(params, twilioSignature(webhooks.twilioAuthToken, `${webhooks.publicBaseUrl}/webhooks/twilio/status`, params)),
      await twilioInbound(params, null),
    ];
    for (const response of refused) {
      expect(response.statusCode).toBe(403);
      expect(response.json()).toMatchObject({ code: 'invalid_signature' });
    }
    expect(await inboundCount()).toBe(before);
    expect((await getRoutingPreferences(ingest.t.db, clientId))?.optOuts).toEqual([]);
  });

  it('a selection reply moves the vendor options to responded and announces responded and client.replied', async () => {
    const { clientId, phone } = await client();
    const question = await sent(clientId, 'vendor_options', { vendors: [{ name: 'A' }, { name: 'B' }, { name: 'C' }] }, 'sms');
    const response = await twilioInbound(smsIn(phone, 'option 2'));
    expect(twimlMessages(response.body)).toEqual([]);
    expect(await row(question.id)).toMatchObject({ status: 'responded' });
    const inbound = await ingest.t.db.selectFrom('crm_inbound_messages').selectAll().where('communication_id', '=', question.id).executeTakeFirstOrThrow();
    expect(inbound).toMatchObject({ kind: 'reply', selection: 2, client_id: clientId, channel: 'sms', provider: 'twilio' });
    const events = (await jobs('crm.events')).filter((e) => e.communicationId === question.id);
    expect(events.map((e) => e.event).sort()).toEqual(['client.replied', 'responded']);
    expect(events.find((e) => e.event === 'client.replied')).toEqual({ event: 'client.replied', inboundId: inbound.id, communicationId: question.id, at: expect.any(String) });
    // No personal data in the job: ids and the event only.
    expect(JSON.stringify(events)).not.toContain(phone.slice(2));
  });
});

// --- WhatsApp -------------------------------------------------------------------------------

const metaMessages = (messages: unknown[], statuses: unknown[] = []) =>
  JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [{ id: '102290129340398', changes: [{ field: 'messages', value: {
      messaging_product: 'whatsapp', metadata: { display_phone_number: '15550783881', phone_number_id: '106540352242922' },
      contacts: [{ profile: { name: 'Ada' }, wa_id: '14155550123' }], ...(messages.length > 0 && { messages }), ...(statuses.length > 0 && { statuses }),
    } }] }],
  });
function whatsapp(body: string, signature: string | null = metaSignature(webhooks.whatsappAppSecret, body)) {
  return ingest.app.inject({ method: 'POST', url: '/webhooks/whatsapp', payload: body, headers: { 'content-type': 'application/json', ...(signature !== null && { 'x-hub-signature-256': signature }) } });
}
let wamids = 0;
const waText = (from: string, text: string) => ({ from: from.slice(1), id: `wamid.in-${++wamids}`, timestamp: '1764000000', type: 'text', text: { body: text } });

describe('POST /webhooks/whatsapp (messages)', () => {
  it('a tapped reply button answers the message it belongs to', async () => {
    const { clientId, phone } = await client();
    const question = await sent(clientId, 'vendor_options', { vendors: [{ name: 'A' }, { name: 'B' }] }, 'whatsapp');
    const tap = { from: phone.slice(1), id: `wamid.in-${++wamids}`, timestamp: '1764000000', type: 'interactive', context: { from: '15550783881', id: question.messageId }, interactive: { type: 'button_reply', button_reply: { id: 'option:2', title: 'B' } } };
    const response = await whatsapp(metaMessages([tap]));
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ outcomes: [], messages: ['reply'] });
    expect((await row(question.id)).status).toBe('responded');
    const inbound = await ingest.t.db.selectFrom('crm_inbound_messages').selectAll().where('communication_id', '=', question.id).executeTakeFirstOrThrow();
    expect(inbound).toMatchObject({ selection: 2, reply_id: 'option:2', channel: 'whatsapp' });
    expect((await whatsapp(metaMessages([tap]))).json()).toEqual({ outcomes: [], messages: ['duplicate'] });
  });

  it('STOP on WhatsApp opts out of WhatsApp only; a tampered body changes nothing', async () => {
    const { clientId, phone } = await client();
    const body = metaMessages([waText(phone, 'STOP')]);
    expect((await whatsapp(body.replace('STOP', 'HELP'), metaSignature(webhooks.whatsappAppSecret, body))).statusCode).toBe(403);
    expect((await getRoutingPreferences(ingest.t.db, clientId))?.optOuts).toEqual([]);
    expect((await whatsapp(body)).json()).toEqual({ outcomes: [], messages: ['opt_out'] });
    expect((await getRoutingPreferences(ingest.t.db, clientId))?.optOuts).toEqual(['whatsapp']);
  });
});

describe('a late provider failure', () => {
  it('sends the message back to the queue for the next channel and enqueues its fallback', async () => {
    const { clientId } = await client();
    const message = await sent(clientId, 'budget_summary', { total: 1 }, 'sms', ['sms', 'email']);
    const statusPath = `/webhooks/twilio/status?cid=${message.id}`;
    const params = { MessageSid: message.messageId, SmsSid: message.messageId, MessageStatus: 'undelivered', SmsStatus: 'undelivered', ErrorCode: '30005', AccountSid: `AC${'1'.repeat(32)}`, From: '+15005550006', To: '+14155550123', ApiVersion: '2010-04-01' };
    const response = await ingest.app.inject({
      method: 'POST', url: statusPath, payload: new URLSearchParams(params).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilioSignature(webhooks.twilioAuthToken, `${webhooks.publicBaseUrl}${statusPath}`, params) },
    });
    expect(response.json()).toEqual({ outcomes: ['fallback'] });
    expect(await row(message.id)).toMatchObject({ status: 'queued', awaiting_fallback: true, last_error_code: '30005', last_error_category: 'permanent' });
    expect((await jobs('crm.fallback')).filter((j) => j.communicationId === message.id)).toEqual([{ communicationId: message.id, failedChannel: 'sms', category: 'permanent' }]);
  });
});

describe('POST /webhooks/whatsapp with strings PostgreSQL cannot store (found by npm run fuzz)', () => {
  it('records a message whose text, id or button holds a NUL or a lone surrogate (as U+FFFD), answers 200, and dedupes its replay (was a 500)', async () => {
    const { phone } = await client();
    const messages = [
      { ...waText(phone, 'a\u0000b'), id: `wamid.nul\u0000-${++wamids}` },
      waText(phone, 'lone \uD800 surrogate'),
      { from: phone.slice(1), id: `wamid.in-${++wamids}`, timestamp: '1764000000', type: 'interactive', interactive: { type: 'button_reply', button_reply: { id: 'option:\u0000', title: '\u0000' } } },
    ];
    const before = await inboundCount();
    const body = metaMessages(messages, [{ id: 'wamid.status\u0000', status: 'delivered', timestamp: '1764000000', recipient_id: phone.slice(1) }]);
    const response = await whatsapp(body);
    expect(response.statusCode).toBe(200);
    expect(response.json<{ messages: string[] }>().messages).toHaveLength(3);
    expect(await inboundCount()).toBe(before + 3);
    const replay = await whatsapp(body);
    expect(replay.statusCode).toBe(200);
    expect(replay.json()).toMatchObject({ messages: ['duplicate', 'duplicate', 'duplicate'] });
    expect(await inboundCount()).toBe(before + 3);
  });
});
