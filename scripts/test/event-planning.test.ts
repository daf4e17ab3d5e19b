/**
 * The event-planning workflow (examples/event-planning: a LangGraph.js StateGraph checkpointed in
 * PostgreSQL) driven end to end through every real part: the SDK over HTTP to ingest, the
 * strategy, email, messaging and callback workers on real PostgreSQL and Redis, the sandbox's
 * SMTP, Twilio and WhatsApp stand-ins (which post signed delivery callbacks and the client's
 * replies back to ingest), and the signed events the callback worker POSTs to the workflow's
 * receiver, which resume the graph. The other half of the journeys is in
 * event-planning-recovery.test.ts (the two files run in parallel).
 */
import { sql } from 'kysely';
import { waitFor } from '@crm/testing';
import { startTestEngine, type TestEngine } from './support/engine';
import { entry, Workflow } from './support/workflow';

jest.setTimeout(90_000);

const journeyTypes = ['welcome', 'budget_summary', 'vendor_options', 'selection_confirmation', 'blueprint_delivery'];

describe('event-planning workflow, end to end', () => {
  let engine: TestEngine;
  let workflow: Workflow;

  beforeAll(async () => {
    engine = await startTestEngine({ messaging: true, webhooks: true, templates: true, callbacks: true });
    workflow = await Workflow.start(engine);
  });
  afterAll(async () => {
    await workflow?.close();
    await engine?.close();
  });

  it('goes from plan to blueprint: the client answers "2" by SMS and the workflow resumes with vendor 2', async () => {
    const phone = '+14155550161';
    const input = await workflow.client({ channels: ['sms', 'email'], timezone: 'Europe/London' }, { recipient: { email: 'ada.161@example.com', phone } });
    const waiting = await workflow.runner.startPlan(input);
    expect(waiting.waitingForClient).toBe(true);
    expect(waiting.values.communications.map((c) => c.type)).toEqual(['welcome', 'budget_summary', 'vendor_options']);
    const options = entry(waiting, 'vendor_options')!;

    // The options reach the client's phone as a numbered SMS.
    const sms = await waitFor(() => engine.sandbox.sms.list({ communicationId: options.id })[0], { message: 'the vendor options SMS' });
    expect(sms.to).toBe(phone);
    for (const vendor of waiting.values.vendorOptions) expect(sms.body).toContain(vendor.name.split(' ')[0]);

    await engine.sandbox.inbound.sms({ from: phone, body: '2' });
    const done = await workflow.waitForPlan(input.planId, (plan) => plan.values.stage === 'completed', 'completed');
    expect(done.done).toBe(true);
    expect(done.values.selectedVendor).toEqual(waiting.values.vendorOptions[1]);
    expect(done.values.choice).toMatchObject({ selection: 2, channel: 'sms', eventId: expect.any(String) });
    expect(done.values.communications.map((c) => c.type)).toEqual(journeyTypes);

    // The confirmation names vendor 2; the blueprint goes by email (it carries a document) with the PDF.
    const confirmation = await engine.finished(entry(done, 'selection_confirmation')!.id);
    expect(confirmation.variables).toMatchObject({ vendorName: waiting.values.vendorOptions[1]!.name });
    const blueprintId = entry(done, 'blueprint_delivery')!.id;
    const mail = await engine.sandbox.mailbox.waitFor((m) => m.headers['x-crm-communication-id'] === blueprintId, 15_000);
    expect(mail.subject).toBe('Your event blueprint for Summer gala');
    expect(mail.to).toEqual(['ada.161@example.com']);
    expect(mail.attachments).toHaveLength(1);
    const [pdf] = mail.attachments;
    expect(pdf).toMatchObject({ filename: `blueprint-${input.planId}.pdf`, contentType: 'application/pdf', size: done.values.blueprint!.size });
    const bytes = Buffer.from(pdf!.content, 'base64');
    expect(bytes.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    expect(bytes.toString('latin1')).toContain(`(Confirmed vendor) Tj`);
    expect(bytes.toString('latin1')).toContain(waiting.values.vendorOptions[1]!.name);

    // The engine's events keep each message's status in the state: the options were answered.
    const settled = await workflow.waitForPlan(input.planId, (plan) =>
      entry(plan, 'vendor_options')?.status === 'responded' && entry(plan, 'blueprint_delivery')?.status === 'sent', 'statuses from events');
    expect(settled.values.communications.map((c) => [c.type, c.channel])).toEqual([
      ['welcome', 'sms'], ['budget_summary', 'sms'], ['vendor_options', 'sms'], ['selection_confirmation', 'sms'], ['blueprint_delivery', 'email'],
    ]);
    expect(Date.parse(settled.values.last_communication_at!)).toBeGreaterThanOrEqual(Date.parse(waiting.values.last_communication_at!));
    // Every message carries the plan and the node that sent it, as the events do.
    const history = await workflow.crm.history({ planId: input.planId });
    expect(history.items).toHaveLength(5);
    for (const item of history.items) expect(item.metadata).toMatchObject({ planId: input.planId, node: expect.any(String) });
    // Events were recorded once each, by id.
    const { rows } = await sql<{ plan_id: string; outcome: string; n: string }>`
      SELECT plan_id, outcome, count(*) AS n FROM langgraph.processed_events WHERE plan_id = ${input.planId} GROUP BY 1, 2`.execute(engine.t.db);
    expect(rows.find((row) => row.outcome === 'resumed')?.n).toBe('1');
    expect(Number(rows.find((row) => row.outcome === 'applied')?.n)).toBeGreaterThanOrEqual(5);
  });

  it('with WhatsApp down, the options fall back to SMS, visible in the state and in the history', async () => {
    const phone = '+14155550162';
    const input = await workflow.client({ channels: ['whatsapp', 'sms', 'email'], timezone: 'Europe/London' }, { recipient: { email: 'grace.162@example.com', phone } });
    await engine.fault('whatsapp', { outage: true });
    try {
      const waiting = await workflow.runner.startPlan(input);
      const options = entry(waiting, 'vendor_options')!;
      const fellBack = await workflow.waitForPlan(input.planId, (plan) => entry(plan, 'vendor_options')?.channel === 'sms' && ['sent', 'delivered'].includes(entry(plan, 'vendor_options')!.status), 'vendor options sent by SMS');
      expect(entry(fellBack, 'vendor_options')).toMatchObject({ id: options.id, channel: 'sms', channelsTried: ['whatsapp', 'sms'], node: 'present_options' });

      const detail = await workflow.crm.get(options.id);
      expect(detail).toMatchObject({ channel: 'sms', channelsTried: ['whatsapp', 'sms'] });
      const trail = detail.deliveryLog.map((log) => [log.event, log.channel]);
      expect(trail).toContainEqual(['attempt_failed', 'whatsapp']);
      expect(trail).toContainEqual(['fallback', 'sms']);
      expect(trail).toContainEqual(['attempt_succeeded', 'sms']);
      expect(engine.sandbox.whatsapp.list({ communicationId: options.id })).toEqual([]);

      await engine.sandbox.inbound.sms({ from: phone, body: '1' });
      const done = await workflow.waitForPlan(input.planId, (plan) => plan.values.stage === 'completed', 'completed');
      expect(done.values.selectedVendor).toEqual(waiting.values.vendorOptions[0]);
      expect(done.values.choice).toMatchObject({ selection: 1, channel: 'sms' });
    } finally {
      await fetch(`${engine.sandbox.httpUrl}/admin/faults/whatsapp`, { method: 'DELETE' });
    }
  });

  it('a client opted out of SMS gets nothing by SMS, and chooses with a WhatsApp reply button', async () => {
    const phone = '+14155550163';
    const input = await workflow.client({ channels: ['sms', 'whatsapp', 'email'], optOuts: ['sms'], phone, email: 'kate.163@example.com', timezone: 'Europe/London' });
    // The client wrote on WhatsApp (it opens the 24-hour window: the options come with reply buttons).
    await engine.sandbox.inbound.whatsapp({ from: phone, text: 'Hello! Looking forward to it.' });
    const waiting = await workflow.runner.startPlan(input);
    const options = entry(waiting, 'vendor_options')!;
    const message = await waitFor(() => engine.sandbox.whatsapp.list({ communicationId: options.id })[0], { message: 'the vendor options on WhatsApp' });
    expect(message.type).toBe('interactive');

    await engine.sandbox.inbound.whatsapp({ from: phone, buttonReply: { id: 'option:2' } });
    const done = await workflow.waitForPlan(input.planId, (plan) => plan.values.stage === 'completed', 'completed');
    expect(done.values.selectedVendor).toEqual(waiting.values.vendorOptions[1]);
    expect(done.values.choice).toMatchObject({ selection: 2, channel: 'whatsapp' });

    const settled = await workflow.waitForPlan(input.planId, (plan) => plan.values.communications.length === 5 && plan.values.communications.every((c) => c.channel !== null), 'every channel known');
    expect(settled.values.communications.map((c) => c.channel)).not.toContain('sms');
    expect(engine.sandbox.sms.list({ to: phone })).toEqual([]);
    const history = await workflow.crm.history({ planId: input.planId });
    expect(history.items.map((item) => item.channel)).not.toContain('sms');
    expect(history.items.every((item) => !item.channelsTried.includes('sms'))).toBe(true);
  });
});
