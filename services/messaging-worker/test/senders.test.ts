import { randomBytes } from 'node:crypto';
import { CommunicationRepository, getRoutingPreferences, recordInbound, upsertClientContact, type CommunicationRow } from '@crm/db';
import type { JsonObject, MessageType } from '@crm/core';
import { loadConfig } from '@crm/config';
import { smsSender, twilioStatusCallbackUrl, whatsAppSender, CUSTOMER_SERVICE_WINDOW_MS } from '@crm/messaging-worker';
import { createLogger } from '@crm/observability';
import { createTwilioClient, createWhatsAppClient, ProviderError } from '@crm/providers';
import { startSandbox, type Sandbox } from '@crm/sandbox';
import { composeSms, whatsAppApprovedTemplates } from '@crm/templates';
import { testDatabasePerFile, testEnvironment, testPiiKeys } from '@crm/testing';

// The SMS and WhatsApp senders against the sandbox's Twilio and Cloud API stand-ins, on real PostgreSQL.
const t = testDatabasePerFile();
const keys = testPiiKeys;
const config = loadConfig(testEnvironment());
const logger = createLogger({ service: 'senders-test', level: 'silent' });
let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await startSandbox({ logger, smtpPort: 0, httpPort: 0 });
});
afterAll(() => sandbox?.stop());

const twilio = () => createTwilioClient({ ...config.twilio, baseUrl: `${sandbox.httpUrl}/twilio` });
const whatsapp = () => createWhatsAppClient({ ...config.whatsapp, baseUrl: `${sandbox.httpUrl}/whatsapp` });

let numbers = 0;
async function communication(messageType: MessageType, variables: JsonObject, phone = `+1415557${String(1000 + ++numbers)}`): Promise<{ row: CommunicationRow; phone: string }> {
  const clientId = `sender-client-${numbers}-${randomBytes(3).toString('hex')}`;
  await upsertClientContact(t.db, keys, { clientId, phone });
  const { communication: row } = await CommunicationRepository.save(t.db, {
    clientId, planId: 'plan-1', messageType, urgency: 'normal', requestedChannel: null, sendAt: null, variables, metadata: {}, idempotencyKey: null, requestHash: null,
  });
  return { row, phone };
}
const vendors = { clientName: 'Amelia Hart', eventName: 'Hart & Osei Wedding', vendors: [{ name: 'Harbourview Hall', price: '$7,200' }, { name: 'Saffron Table', price: '$54 per guest' }] };
const wroteAt = (phone: string, receivedAt: Date) =>
  recordInbound(t.db, keys, { provider: 'whatsapp', channel: 'whatsapp', providerMessageId: `wamid.in-${randomBytes(6).toString('hex')}`, from: phone.slice(1), text: 'hi', receivedAt, replyWindowMs: 1 });
const outbox = (id: string) => sandbox.whatsapp.list({ communicationId: id, limit: 10 });

describe('twilioStatusCallbackUrl', () => {
  it("is ingest's Twilio status webhook with the communication id as cid", () => {
    const id = '6f1c2a4e-8a3b-4c1d-9e2f-0a1b2c3d4e5f';
    expect(twilioStatusCallbackUrl('https://crm.example.com', id)).toBe(`https://crm.example.com/webhooks/twilio/status?cid=${id}`);
    expect(twilioStatusCallbackUrl('https://example.com/crm/', id)).toBe(`https://example.com/crm/webhooks/twilio/status?cid=${id}`);
  });
});

describe('smsSender', () => {
  it('sends the composed one-segment text and logs its template, encoding and segments', async () => {
    const { row, phone } = await communication('vendor_options', vendors);
    const receipt = await smsSender(twilio(), { publicBaseUrl: 'https://crm.example.com', db: t.db }).send({ communication: row, contact: { email: null, phone } });
    const [sms] = sandbox.sms.list({ communicationId: row.id, limit: 1 });
    const expected = composeSms('vendor_options', vendors);
    expect(sms?.body).toBe(expected.body);
    expect(sms?.body).toContain('Reply 1 or 2');
    expect(sms?.numSegments).toBe(1);
    expect(receipt.detail).toMatchObject({ textTemplate: 'selection_needed_sms', encoding: 'GSM-7', segments: 1 });
  });

  it("records the client's SMS opt-out when Twilio answers 21610, and still fails the send as permanent", async () => {
    // Twilio's magic test number of a recipient who replied STOP.
    const { row, phone } = await communication('reminder', { clientName: 'Ada' }, '+15005550004');
    const error = await smsSender(twilio(), { db: t.db }).send({ communication: row, contact: { email: null, phone } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ category: 'permanent', code: '21610' });
    expect((await getRoutingPreferences(t.db, row.client_id))?.optOuts).toEqual(['sms']);
  });
});

describe('whatsAppSender and the 24-hour window', () => {
  it('sends the approved template when the client has not written in 24 hours', async () => {
    const { row, phone } = await communication('vendor_options', vendors);
    const receipt = await whatsAppSender(whatsapp(), { db: t.db, keys }).send({ communication: row, contact: { email: null, phone } });
    const [message] = outbox(row.id);
    expect(message?.type).toBe('template');
    if (message?.type !== 'template') throw new Error('not a template');
    expect(message.template.name).toBe('crm_vendor_options');
    expect(whatsAppApprovedTemplates[message.template.name]).toBeDefined();
    expect(message.template.bodyParameters).toContain('Amelia Hart');
    expect(receipt.detail).toMatchObject({ kind: 'template', approvedTemplate: 'crm_vendor_options', why: 'outside_24h_window' });

    // 25 hours is outside the window too.
    const late = await communication('reminder', { clientName: 'Ada' });
    await wroteAt(late.phone, new Date(Date.now() - CUSTOMER_SERVICE_WINDOW_MS - 3_600_000));
    await whatsAppSender(whatsapp(), { db: t.db, keys }).send({ communication: late.row, contact: { email: null, phone: late.phone } });
    expect(outbox(late.row.id)[0]?.type).toBe('template');
  });

  it('sends the formatted message with reply buttons inside the window', async () => {
    const { row, phone } = await communication('vendor_options', vendors);
    await wroteAt(phone, new Date(Date.now() - 3_600_000));
    const receipt = await whatsAppSender(whatsapp(), { db: t.db, keys }).send({ communication: row, contact: { email: null, phone } });
    const [message] = outbox(row.id);
    expect(message?.type).toBe('interactive');
    if (message?.type !== 'interactive') throw new Error('not interactive');
    expect(JSON.stringify(message.interactive)).toContain('option:2');
    expect(message.callbackData).toBe(row.id);
    expect(receipt.detail).toMatchObject({ kind: 'buttons', textTemplate: 'vendors_ready_whatsapp' });
  });

  it('re-sends as the template in the same attempt when WhatsApp answers 131047', async () => {
    const { row, phone } = await communication('budget_summary', { clientName: 'Ada', eventName: 'Gala', total: 18500, currency: 'USD' });
    // We saw the client write, but WhatsApp's window (the sandbox's) has no record of it: 131047.
    await wroteAt(phone, new Date(Date.now() - 60_000));
    sandbox.whatsappWindow.setEnforce(true);
    try {
      const receipt = await whatsAppSender(whatsapp(), { db: t.db, keys }).send({ communication: row, contact: { email: null, phone } });
      expect(receipt.detail).toMatchObject({ kind: 'template', approvedTemplate: 'crm_budget_summary', why: 'error_131047' });
      expect(outbox(row.id).map((m) => m.type)).toEqual(['template']);
    } finally {
      sandbox.whatsappWindow.setEnforce(false);
    }
  });
});
