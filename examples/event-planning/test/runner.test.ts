import { randomUUID } from 'node:crypto';
import { CompiledQuery } from 'kysely';
import { signCrmEvent } from '@crm/client';
import { loadEmailTemplateSources } from '@crm/templates';
import { createTestDatabase, type TestDatabase } from '@crm/testing';
import { startEventReceiver, WorkflowRunner, type PlanInput, type WorkflowEvent } from '../src';
import { FakeCrm } from './fake-crm';

const plan = (over: Partial<PlanInput> = {}): PlanInput => ({
  planId: `plan-${randomUUID()}`, clientId: 'client-42', clientName: 'Ada Lovelace', eventName: 'Summer gala', eventDate: '2026-09-12',
  guestCount: 120, budgetTotal: 18_500, currency: 'USD', recipient: { email: 'ada@example.com', phone: '+14155550123' }, ...over,
});

const replied = (planId: string, data: Partial<Extract<WorkflowEvent, { type: 'client.replied' }>['data']> = {}): WorkflowEvent => ({
  id: `evt_${randomUUID().replace(/-/g, '')}`, type: 'client.replied', createdAt: new Date().toISOString(),
  data: { inboundId: randomUUID(), clientId: 'client-42', planId, communicationId: null, channel: 'sms', text: '2', selection: 2, at: new Date().toISOString(), ...data },
});

const statusEvent = (planId: string, communicationId: string, type: 'communication.sent' | 'communication.delivered' | 'communication.failed', over: Record<string, unknown> = {}): WorkflowEvent => ({
  id: `evt_${randomUUID().replace(/-/g, '')}`, type, createdAt: new Date().toISOString(),
  data: {
    communicationId, clientId: 'client-42', planId, messageType: 'vendor_options', status: type.split('.')[1]!, channel: 'sms', channelsTried: ['sms'],
    failureReason: null, metadata: { planId, node: 'present_options' }, at: new Date().toISOString(), ...over,
  },
} as WorkflowEvent);

describe('WorkflowRunner (PostgreSQL checkpointer)', () => {
  let t: TestDatabase;
  let crm: FakeCrm;
  let runner: WorkflowRunner;

  beforeAll(async () => {
    t = await createTestDatabase({ migrate: false });
  });
  beforeEach(async () => {
    crm = new FakeCrm();
    runner = await WorkflowRunner.create({ databaseUrl: t.url, crm });
  });
  afterEach(() => runner.close());
  afterAll(() => t.destroy());

  it('runs a plan to the client selection, sending each message with what its template needs', async () => {
    const input = plan();
    const snapshot = await runner.startPlan(input);
    expect(snapshot.waitingForClient).toBe(true);
    expect(snapshot.next).toEqual(['client_selection']);
    expect(crm.types(input.planId)).toEqual(['welcome', 'budget_summary', 'vendor_options']);
    expect(snapshot.values.vendorOptions).toHaveLength(3);
    expect(snapshot.values.communications.map((c) => [c.type, c.node, c.status])).toEqual([
      ['welcome', 'initialize_planning', 'pending'], ['budget_summary', 'budget_allocation', 'pending'], ['vendor_options', 'present_options', 'pending'],
    ]);
    expect(snapshot.values.last_communication_at).toEqual(expect.any(String));
    const required = new Map(loadEmailTemplateSources().map((source) => [source.messageType as string, source.requiredVariables]));
    for (const request of crm.sent) {
      expect(Object.keys(request.variables)).toEqual(expect.arrayContaining(required.get(request.messageType)!));
      expect(request.metadata).toMatchObject({ planId: input.planId });
      expect(request.idempotencyKey).toBe(`${input.planId}:${request.messageType}`);
    }
    // Contact details go to the engine's preferences, once, and never into the state.
    expect(crm.contacts).toEqual([{ clientId: 'client-42', ...input.recipient }]);
    expect(JSON.stringify(snapshot.values)).not.toContain('ada@example.com');
    // Starting it again changes nothing.
    await runner.startPlan(input);
    expect(crm.sent).toHaveLength(3);
    expect(crm.contacts).toHaveLength(1);
    // Checked in the checkpoint tables themselves (the event name shows the check can find a value).
    const mentions = async (text: string) => {
      const { rows } = await t.db.executeQuery<{ n: string }>(CompiledQuery.raw(`SELECT
        (SELECT count(*) FROM langgraph.checkpoint_writes WHERE thread_id = $1 AND position(convert_to($2, 'UTF8') IN blob) > 0) +
        (SELECT count(*) FROM langgraph.checkpoint_blobs WHERE thread_id = $1 AND position(convert_to($2, 'UTF8') IN blob) > 0) +
        (SELECT count(*) FROM langgraph.checkpoints WHERE thread_id = $1 AND position($2 IN checkpoint::text) > 0) AS n`, [input.planId, text]));
      return Number(rows[0]!.n);
    };
    expect(await mentions(input.eventName)).toBeGreaterThan(0);
    expect(await mentions('ada@example.com')).toBe(0);
    expect(await mentions('+14155550123')).toBe(0);
  });

  it('resumes with the chosen vendor, confirms it and delivers the blueprint PDF', async () => {
    const input = plan();
    const waiting = await runner.startPlan(input);
    const event = replied(input.planId, { selection: null, text: '2' });
    expect(await runner.handleEvent(event)).toEqual({ outcome: 'resumed', planId: input.planId });
    const done = (await runner.getPlan(input.planId))!;
    expect(done.done).toBe(true);
    expect(done.values.stage).toBe('completed');
    expect(done.values.selectedVendor).toEqual(waiting.values.vendorOptions[1]);
    expect(done.values.choice).toMatchObject({ selection: 2, channel: 'sms', eventId: event.id });
    expect(crm.types(input.planId)).toEqual(['welcome', 'budget_summary', 'vendor_options', 'selection_confirmation', 'blueprint_delivery']);
    const confirmation = crm.sent.find((request) => request.messageType === 'selection_confirmation')!;
    expect(confirmation.variables).toMatchObject({ vendorName: waiting.values.vendorOptions[1]!.name });
    const blueprint = crm.sent.find((request) => request.messageType === 'blueprint_delivery')!;
    expect(blueprint.attachments).toEqual([crm.uploads[0]!.id]);
    expect(Buffer.from(crm.uploads[0]!.data).subarray(0, 5).toString()).toBe('%PDF-');
    expect(done.values.blueprint).toMatchObject({ attachmentId: crm.uploads[0]!.id });
    // The same event again is a duplicate; another answer to a finished plan is ignored.
    expect(await runner.handleEvent(event)).toEqual({ outcome: 'duplicate', planId: input.planId });
    expect(await runner.handleEvent(replied(input.planId, { selection: 1 }))).toMatchObject({ outcome: 'ignored' });
    expect(crm.sent).toHaveLength(5);
  });

  it('ignores replies that name no offered option, and events of no known plan', async () => {
    const input = plan();
    await runner.startPlan(input);
    expect(await runner.handleEvent(replied(input.planId, { selection: null, text: 'which one is cheaper?' }))).toMatchObject({ outcome: 'ignored', reason: 'the reply names no option' });
    expect(await runner.handleEvent(replied(input.planId, { selection: 4 }))).toMatchObject({ outcome: 'ignored', reason: 'no option 4 among 3' });
    expect(await runner.handleEvent(replied('plan-unknown'))).toMatchObject({ outcome: 'ignored', reason: 'no such plan' });
    expect(await runner.handleEvent(replied(null as unknown as string, { planId: null }))).toMatchObject({ outcome: 'ignored', planId: null });
    expect((await runner.getPlan(input.planId))!.waitingForClient).toBe(true);
  });

  it('merges communication events into the state, forward only, while the plan waits', async () => {
    const input = plan();
    const waiting = await runner.startPlan(input);
    const options = waiting.values.communications.find((c) => c.type === 'vendor_options')!;
    await runner.handleEvent(statusEvent(input.planId, options.id, 'communication.failed', { status: 'failed', channel: 'whatsapp', channelsTried: ['whatsapp'], failureReason: 'provider_undelivered' }));
    await new Promise((resolve) => setTimeout(resolve, 5));
    await runner.handleEvent(statusEvent(input.planId, options.id, 'communication.delivered', { status: 'delivered', channel: 'sms', channelsTried: ['whatsapp', 'sms'] }));
    await new Promise((resolve) => setTimeout(resolve, 5));
    await runner.handleEvent(statusEvent(input.planId, options.id, 'communication.sent', { status: 'sent', channel: 'sms', channelsTried: ['whatsapp', 'sms'] }));
    const after = (await runner.getPlan(input.planId))!;
    expect(after.values.communications.find((c) => c.id === options.id)).toMatchObject({ status: 'delivered', channel: 'sms', channelsTried: ['whatsapp', 'sms'], type: 'vendor_options', node: 'present_options' });
    expect(after.waitingForClient).toBe(true);
    // Still resumable after the updates.
    expect(await runner.handleEvent(replied(input.planId, { selection: 3 }))).toMatchObject({ outcome: 'resumed' });
    expect((await runner.getPlan(input.planId))!.values.selectedVendor).toEqual(waiting.values.vendorOptions[2]);
  });

  it('routes a failing node to error_handler, which sends error_notification', async () => {
    const input = plan({ flags: { failVendorSearch: true } });
    const snapshot = await runner.startPlan(input);
    expect(snapshot.done).toBe(true);
    expect(snapshot.values.stage).toBe('failed');
    expect(snapshot.values.errors).toEqual([{ node: 'beam_search', message: 'vendor catalogue unavailable (failVendorSearch)', at: expect.any(String) }]);
    expect(crm.types(input.planId)).toEqual(['welcome', 'budget_summary', 'error_notification']);
    const notification = crm.sent.find((request) => request.messageType === 'error_notification')!;
    expect(notification).toMatchObject({ urgency: 'high', variables: { clientName: 'Ada Lovelace', errorSummary: 'We could not search our vendor catalogue for your event.', supportEmail: expect.any(String) } });
    expect(notification.metadata).toEqual({ planId: input.planId, node: 'error_handler', failedNode: 'beam_search' });
  });

  it('routes a failed send to error_handler too', async () => {
    const input = plan();
    crm.failing.add('budget_summary');
    const snapshot = await runner.startPlan(input);
    expect(snapshot.values.errors.map((error) => error.node)).toEqual(['budget_allocation']);
    expect(crm.types(input.planId)).toEqual(['welcome', 'error_notification']);
  });

  it('a new runner (new saver, new graph) resumes a plan the old one left waiting', async () => {
    const input = plan();
    await runner.startPlan(input);
    await runner.close();
    runner = await WorkflowRunner.create({ databaseUrl: t.url, crm });
    expect((await runner.getPlan(input.planId))!.waitingForClient).toBe(true);
    expect(await runner.handleEvent(replied(input.planId, { selection: 1 }))).toMatchObject({ outcome: 'resumed' });
    expect(crm.types(input.planId)).toEqual(['welcome', 'budget_summary', 'vendor_options', 'selection_confirmation', 'blueprint_delivery']);
  });

  it('one operation per plan at a time: concurrent events all take effect', async () => {
    const input = plan();
    const waiting = await runner.startPlan(input);
    const [welcome, budget] = waiting.values.communications;
    const events = [
      statusEvent(input.planId, welcome!.id, 'communication.sent', { messageType: 'welcome', channel: 'email' }),
      statusEvent(input.planId, budget!.id, 'communication.sent', { messageType: 'budget_summary', channel: 'email' }),
      replied(input.planId, { selection: 2 }),
    ];
    const results = await Promise.all(events.map((event) => runner.handleEvent(event)));
    expect(results.map((result) => result.outcome).sort()).toEqual(['applied', 'applied', 'resumed']);
    const done = (await runner.getPlan(input.planId))!;
    expect(done.values.stage).toBe('completed');
    expect(done.values.communications.slice(0, 2).map((c) => [c.status, c.channel])).toEqual([['sent', 'email'], ['sent', 'email']]);
  });

  describe('the HTTP receiver', () => {
    const secret = 'whsec_unit-test-secret';
    const post = async (url: string, body: string, signature?: string) => {
      const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...(signature && { 'crm-signature': signature }) }, body });
      return { status: response.status, type: response.headers.get('content-type'), body: (await response.json()) as Record<string, unknown> };
    };

    it('verifies the signature over the raw body, validates, applies once and answers', async () => {
      const receiver = await startEventReceiver({ runner, secret });
      try {
        const input = plan();
        await runner.startPlan(input);
        const body = JSON.stringify(replied(input.planId, { selection: 2 }));
        expect(await post(receiver.url, body)).toMatchObject({ status: 401, type: 'application/problem+json', body: { code: 'invalid_signature', errors: [{ field: 'crm-signature' }] } });
        expect(await post(receiver.url, body, signCrmEvent({ secret: 'whsec_other', body }))).toMatchObject({ status: 401 });
        expect(await post(receiver.url, body, signCrmEvent({ secret, body, timestamp: Math.floor(Date.now() / 1000) - 600 }))).toMatchObject({ status: 401 });
        // Re-serialised JSON (spaces) does not verify: the signature covers the exact bytes.
        expect(await post(receiver.url, JSON.stringify(JSON.parse(body), null, 1), signCrmEvent({ secret, body }))).toMatchObject({ status: 401 });
        const bad = JSON.stringify({ id: 'evt_1', type: 'client.replied', createdAt: new Date().toISOString(), data: { planId: input.planId } });
        expect(await post(receiver.url, bad, signCrmEvent({ secret, body: bad }))).toMatchObject({ status: 400, body: { code: 'invalid_event', errors: [{ field: 'data.inboundId' }] } });
        expect(await post(receiver.url, body, signCrmEvent({ secret, body }))).toEqual({ status: 200, type: 'application/json', body: { outcome: 'resumed', planId: input.planId } });
        expect(await post(receiver.url, body, signCrmEvent({ secret, body }))).toMatchObject({ status: 200, body: { outcome: 'duplicate' } });
        expect((await fetch(receiver.url)).status).toBe(405);
        expect((await fetch(receiver.url.replace('/crm/events', '/other'), { method: 'POST' })).status).toBe(404);
      } finally {
        await receiver.close();
      }
    });

    it('remembers processed event ids across runners (a redelivery after a restart)', async () => {
      const input = plan();
      await runner.startPlan(input);
      const event = replied(input.planId, { selection: 1 });
      expect(await runner.handleEvent(event)).toMatchObject({ outcome: 'resumed' });
      await runner.close();
      runner = await WorkflowRunner.create({ databaseUrl: t.url, crm });
      expect(await runner.handleEvent(event)).toMatchObject({ outcome: 'duplicate' });
    });
  });
});
