import { CommunicationRepository, getRoutingPreferences } from '@crm/db';
import { keywordAnswers } from '@crm/ingest';
import type { MessageCallbacksReport } from '@crm/sandbox';
import { waitFor } from '@crm/testing';
import { startTestEngine, type TestEngine } from './support/engine';

// Issue 7 end to end: the messaging worker sends through the sandbox's Twilio and Cloud API
// stand-ins, which post signed status callbacks and the client's replies to ingest's webhooks.
let engine: TestEngine;
beforeAll(async () => {
  engine = await startTestEngine({ messaging: true, webhooks: { callbackDelayMs: 10 }, deliverableChannels: ['email', 'sms', 'whatsapp'] });
});
afterAll(() => engine?.close());

const status = async (id: string) => (await CommunicationRepository.findById(engine.t.db, id))!;
const reachStatus = (id: string, wanted: string) =>
  waitFor(async () => {
    const row = await status(id);
    return row.status === wanted ? row : undefined;
  }, { timeoutMs: 15_000, message: `communication ${id} to be ${wanted}` });
const eventsOf = async (id: string) =>
  (await engine.producer.queue('crm.events').getJobs(['waiting', 'delayed', 'prioritized', 'active', 'completed']))
    .map((job) => job.data as { communicationId?: string; event: string; inboundId?: string })
    .filter((data) => data.communicationId === id);
const settled = async (providerMessageId: string) => (await engine.sandbox.callbacks.settled(providerMessageId)) as MessageCallbacksReport;
const vendors = { clientName: 'Amelia Hart', eventName: 'Hart & Osei Wedding', vendors: [{ name: 'Harbourview Hall', price: '$7,200' }, { name: 'Saffron Table', price: '$54 per guest' }, { name: 'Lumen Studio', price: '$2,600' }] };

let phones = 0;
const newPhone = () => `+1415558${String(1000 + ++phones)}`;

describe('delivery receipts through signed callbacks', () => {
  it('an SMS goes queued → sent → delivered at Twilio and ends delivered here', async () => {
    const id = await engine.send({ phone: newPhone(), channel: 'sms', messageType: 'budget_summary', variables: { clientName: 'Ada', total: 18500, currency: 'EUR' } });
    const row = await reachStatus(id, 'delivered');
    const report = await settled(row.provider_message_id!);
    expect(report.deliveries.map((d) => [d.status, d.httpStatus])).toEqual([['queued', 200], ['sent', 200], ['delivered', 200]]);
    expect((await eventsOf(id)).map((e) => e.event)).toContain('delivered');
  });

  it('WhatsApp callbacks out of order (read before sent) still end opened, each applied or refused once', async () => {
    const phone = newPhone();
    engine.sandbox.outcomes.set('whatsapp', { final: 'read', errorCode: null, outOfOrder: true }, phone);
    const id = await engine.send({ phone, channel: 'whatsapp', messageType: 'reminder', variables: { clientName: 'Ada', reminderText: 'Confirm the guest list.' } });
    const row = await reachStatus(id, 'opened');
    const report = await settled(row.provider_message_id!);
    expect(report.deliveries.map((d) => d.status).sort()).toEqual(['delivered', 'read', 'sent']);
    expect(report.deliveries.every((d) => d.ok)).toBe(true);
    expect((await status(id)).status).toBe('opened');
    const webhookLogs = (await CommunicationRepository.listLogs(engine.t.db, id)).filter((l) => l.event === 'webhook');
    expect(webhookLogs).toHaveLength(3);
  });

  it('a critical SMS that Twilio later reports undelivered (30005) falls back to the next channel and is sent there', async () => {
    const phone = newPhone();
    engine.sandbox.outcomes.set('sms', { final: 'undelivered', errorCode: 30005, outOfOrder: false }, phone);
    const id = await engine.send({ phone, email: 'ada@example.com', urgency: 'critical', messageType: 'error_notification', variables: { clientName: 'Ada', errorSummary: 'The venue cancelled.', supportEmail: 'help@example.com' } });
    const row = await waitFor(async () => {
      const current = await status(id);
      return current.channel !== 'sms' && current.status === 'sent' ? current : undefined;
    }, { timeoutMs: 15_000, message: 'fallback after the late failure' });
    expect(row.channels_tried.slice(0, 2)).toEqual(['sms', 'whatsapp']);
    const logs = await CommunicationRepository.listLogs(engine.t.db, id);
    expect(logs.find((l) => l.event === 'webhook' && l.to_status === 'queued')).toMatchObject({ error_code: '30005', error_category: 'permanent', channel: 'sms' });
    expect(logs.filter((l) => l.event === 'fallback').map((l) => (l.detail as { from?: string }).from)).toContain('sms');
  });
});

describe('inbound replies', () => {
  it('STOP opts out (confirmed by SMS), a send on SMS is then refused as opted out; START restores it', async () => {
    const phone = newPhone();
    const first = await engine.send({ clientId: 'stop-client', phone, channel: 'sms' });
    await reachStatus(first, 'delivered');

    const stop = await engine.sandbox.inbound.sms({ from: phone, body: 'STOP' });
    expect(stop.status).toBe(200);
    expect(stop.replies.map((r) => r.body)).toEqual([keywordAnswers.opt_out]);
    expect((await getRoutingPreferences(engine.t.db, 'stop-client'))?.optOuts).toEqual(['sms']);

    const refused = await engine.send({ clientId: 'stop-client', phone, channel: 'sms' });
    const failed = await reachStatus(refused, 'failed');
    expect(failed.failure_reason).toBe('no_usable_channel');
    expect(failed.strategy_reason).toMatch(/opted out/);
    expect(engine.sandbox.sms.list({ communicationId: refused })).toEqual([]);

    const start = await engine.sandbox.inbound.sms({ from: phone, body: 'START' });
    expect(start.replies.map((r) => r.body)).toEqual([keywordAnswers.opt_in]);
    const again = await engine.send({ clientId: 'stop-client', phone, channel: 'sms' });
    await reachStatus(again, 'delivered');
  });

  it('an SMS selection ("2") answers the vendor options: responded, and client.replied for the workflow', async () => {
    const phone = newPhone();
    const id = await engine.send({ phone, channel: 'sms', messageType: 'vendor_options', variables: vendors });
    await reachStatus(id, 'delivered');
    const [sms] = engine.sandbox.sms.list({ communicationId: id });
    expect(sms?.body).toMatch(/Reply 1, 2 or 3/);
    expect(sms?.numSegments).toBe(1);

    await engine.sandbox.inbound.sms({ from: phone, body: '2' });
    const row = await reachStatus(id, 'responded');
    expect(row.responded_at).not.toBeNull();
    const inbound = await engine.t.db.selectFrom('crm_inbound_messages').selectAll().where('communication_id', '=', id).executeTakeFirstOrThrow();
    expect(inbound).toMatchObject({ kind: 'reply', selection: 2 });
    const events = await eventsOf(id);
    expect(events.map((e) => e.event).sort()).toEqual(expect.arrayContaining(['client.replied', 'delivered', 'responded']));
    expect(events.find((e) => e.event === 'client.replied')?.inboundId).toBe(inbound.id);
  });

  it('on WhatsApp, a client who wrote gets reply buttons; tapping one answers that message; HELP is answered on WhatsApp', async () => {
    const phone = newPhone();
    // The client writes first: the 24-hour window opens, so free-form (interactive) messages may go.
    await engine.sandbox.inbound.whatsapp({ from: phone, text: 'Hi, any vendor ideas?' });
    const id = await engine.send({ phone, channel: 'whatsapp', messageType: 'vendor_options', variables: vendors });
    const sent = await waitFor(async () => engine.sandbox.whatsapp.list({ communicationId: id })[0], { timeoutMs: 10_000, message: 'the WhatsApp message' });
    expect(sent.type).toBe('interactive');

    const tap = await engine.sandbox.inbound.whatsapp({ from: phone, buttonReply: { id: 'option:3' } });
    expect(tap.contextMessageId).toBe(sent.id);
    await reachStatus(id, 'responded');
    const inbound = await engine.t.db.selectFrom('crm_inbound_messages').selectAll().where('communication_id', '=', id).executeTakeFirstOrThrow();
    expect(inbound).toMatchObject({ kind: 'reply', selection: 3, reply_id: 'option:3' });

    await engine.sandbox.inbound.whatsapp({ from: phone, text: 'HELP' });
    const answer = await waitFor(async () => engine.sandbox.whatsapp.list({ limit: 50 }).find((m) => m.waId === phone.slice(1) && m.type === 'text' && m.text.body === keywordAnswers.help), { timeoutMs: 5_000, message: 'the HELP answer' });
    expect(answer).toBeDefined();
  });
});
