/**
 * The event-planning workflow end to end (see event-planning.test.ts), when things do not go
 * straight: a message postponed by the client's quiet hours, a node that fails, and the
 * workflow's process restarted while it waits for the client's answer.
 */
import { DateTime } from 'luxon';
import { waitFor } from '@crm/testing';
import { startTestEngine, type TestEngine } from './support/engine';
import { entry, Workflow } from './support/workflow';

jest.setTimeout(90_000);


describe('event-planning workflow, end to end: delays, failures and restarts', () => {
  let engine: TestEngine;
  let workflow: Workflow;
  // The strategy's clock: real time, or set to a moment of the test's choosing and running from there.
  let offsetMs = 0;
  const clock = () => new Date(Date.now() + offsetMs);

  beforeAll(async () => {
    engine = await startTestEngine({ messaging: true, webhooks: true, templates: true, callbacks: true, clock });
    workflow = await Workflow.start(engine);
  });
  afterAll(async () => {
    await workflow?.close();
    await engine?.close();
  });
  afterEach(() => {
    offsetMs = 0;
  });

  it('postpones the messages of a client in quiet hours to the end of them, then sends them', async () => {
    // Four seconds before the end of the client's quiet hours (21:00–08:00 in New York).
    const opening = DateTime.fromISO('2026-07-15T08:00:00', { zone: 'America/New_York' });
    offsetMs = opening.minus({ seconds: 4 }).toMillis() - Date.now();
    const openingRealMs = opening.toMillis() - offsetMs;
    const input = await workflow.client({ channels: ['email'], timezone: 'America/New_York', quietHours: { start: '21:00', end: '08:00' }, email: 'night.owl@example.com' });
    const waiting = await workflow.runner.startPlan(input);
    const welcome = entry(waiting, 'welcome')!;

    const scheduled = await waitFor(async () => {
      const detail = await workflow.crm.get(welcome.id);
      return detail.status === 'scheduled' ? detail : undefined;
    }, { message: 'the welcome message scheduled' });
    expect(scheduled.scheduledFor).toBe(opening.toUTC().toISO());
    expect(scheduled.strategyReason).toMatch(/postponed to 08:00 America\/New_York: now falls in quiet hours 21:00–08:00/);
    expect(engine.sandbox.mailbox.list({ communicationId: welcome.id })).toEqual([]);

    // Then sent at 08:00 their time; the workflow learns it from the communication.sent event.
    const sent = await workflow.waitForPlan(input.planId, (plan) => ['sent', 'delivered'].includes(entry(plan, 'welcome')!.status), 'welcome sent', 20_000);
    expect(entry(sent, 'welcome')).toMatchObject({ channel: 'email', channelsTried: ['email'] });
    const detail = await workflow.crm.get(welcome.id);
    expect(Date.parse(detail.sentAt!)).toBeGreaterThanOrEqual(openingRealMs - 1_000);
    expect(detail.deliveryLog.map((log) => log.toStatus)).toEqual(expect.arrayContaining(['scheduled', 'queued', 'sent']));
    expect(engine.sandbox.mailbox.list({ communicationId: welcome.id })).toHaveLength(1);
  });

  it('a node that fails (the vendor catalogue) sends error_notification and ends the plan', async () => {
    const input = await workflow.client({ channels: ['email'], timezone: 'Europe/London', email: 'grace.failing@example.com' }, { flags: { failVendorSearch: true } });
    const failed = await workflow.runner.startPlan(input);
    expect(failed.done).toBe(true);
    expect(failed.values.stage).toBe('failed');
    expect(failed.values.errors).toEqual([{ node: 'beam_search', message: 'vendor catalogue unavailable (failVendorSearch)', at: expect.any(String) }]);
    expect(failed.values.communications.map((c) => c.type)).toEqual(['welcome', 'budget_summary', 'error_notification']);

    const notification = entry(failed, 'error_notification')!;
    const mail = await engine.sandbox.mailbox.waitFor((m) => m.headers['x-crm-communication-id'] === notification.id, 15_000);
    expect(mail.subject).toBe('Something went wrong with your event plan');
    expect(mail.text).toContain('We could not search our vendor catalogue for your event.');
    const detail = await workflow.crm.get(notification.id);
    expect(detail).toMatchObject({ urgency: 'high', metadata: { planId: input.planId, node: 'error_handler', failedNode: 'beam_search' } });
    await workflow.waitForPlan(input.planId, (plan) => entry(plan, 'error_notification')?.status === 'sent', 'error_notification sent (event)');
  });

  it('survives a restart of the workflow process while it waits for the client: the reply resumes the thread', async () => {
    const phone = '+14155550171';
    const input = await workflow.client({ channels: ['sms', 'email'], timezone: 'Europe/London' }, { recipient: { phone, email: 'kate.171@example.com' } });
    const waiting = await workflow.runner.startPlan(input);
    const options = entry(waiting, 'vendor_options')!;
    await waitFor(() => engine.sandbox.sms.list({ communicationId: options.id })[0], { message: 'the vendor options SMS' });

    // The process goes away (graph, saver, receiver); the client answers meanwhile, so the event is refused and retried.
    const port = await workflow.stop();
    await engine.sandbox.inbound.sms({ from: phone, body: '3' });
    await waitFor(async () => {
      const rows = await engine.t.db.selectFrom('crm_callback_deliveries').select(['attempts', 'status']).where('event_type', '=', 'client.replied').execute();
      return rows.some((row) => row.status === 'pending' && row.attempts >= 1);
    }, { message: 'a refused client.replied delivery' });

    // A new process: new saver, new graph object, same thread.
    await workflow.restart(port);
    const done = await workflow.waitForPlan(input.planId, (plan) => plan.values.stage === 'completed', 'completed after the restart');
    expect(done.values.selectedVendor).toEqual(waiting.values.vendorOptions[2]);
    expect(done.values.choice).toMatchObject({ selection: 3, channel: 'sms' });
    expect(done.values.communications.map((c) => c.type)).toEqual(['welcome', 'budget_summary', 'vendor_options', 'selection_confirmation', 'blueprint_delivery']);
    // Once each: the restart made no second message of any kind.
    const history = await workflow.crm.history({ planId: input.planId });
    expect(history.items.map((item) => item.messageType).sort()).toEqual(['blueprint_delivery', 'budget_summary', 'selection_confirmation', 'vendor_options', 'welcome']);
    // A third process started now finds the plan finished, and starting it again sends nothing.
    const again = await workflow.runner.startPlan(input);
    expect(again.done).toBe(true);
    expect((await workflow.crm.history({ planId: input.planId })).items).toHaveLength(5);
  });
});
