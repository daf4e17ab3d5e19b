import { sql } from 'kysely';
import * as core from '@crm/core';
import { communicationStatuses, canTransition, requestHash, CommunicationRequestSchema } from '@crm/core';
import {
  CommunicationRepository,
  type NewCommunication,
} from '@crm/db';
import { createTestDatabase, type TestDatabase } from '@crm/testing';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(() => t.destroy());

const newCommunication = (overrides: Partial<NewCommunication> = {}): NewCommunication => ({
  clientId: 'client-1',
  planId: 'plan-1',
  messageType: 'welcome',
  urgency: 'normal',
  requestedChannel: null,
  sendAt: null,
  variables: { clientName: 'Ada' },
  metadata: {},
  idempotencyKey: null,
  requestHash: null,
  ...overrides,
});

describe('save', () => {
  it('stores a pending communication with a created log row', async () => {
    const result = await CommunicationRepository.save(t.db, newCommunication({ variables: { clientName: 'Ada', total: 18500 } }));
    expect(result.outcome).toBe('created');
    const { communication } = result;
    expect(communication).toMatchObject({
      status: 'pending',
      client_id: 'client-1',
      plan_id: 'plan-1',
      message_type: 'welcome',
      urgency: 'normal',
      channels_tried: [],
      attempt_count: 0,
      variables: { clientName: 'Ada', total: 18500 },
    });
    expect(communication.created_at).toBeInstanceOf(Date);
    const logs = await CommunicationRepository.listLogs(t.db, communication.id);
    expect(logs).toEqual([expect.objectContaining({ event: 'created', from_status: null, to_status: 'pending' })]);
    expect(await CommunicationRepository.findById(t.db, communication.id)).toEqual(communication);
  });

  it('returns the first communication for a repeated idempotency key and flags a different body', async () => {
    const request = CommunicationRequestSchema.parse({ clientId: 'c', planId: 'p', messageType: 'reminder', idempotencyKey: 'k-1' });
    const input = newCommunication({ idempotencyKey: 'k-1', requestHash: requestHash(request) });
    const first = await CommunicationRepository.save(t.db, input);
    const again = await CommunicationRepository.save(t.db, input);
    const different = await CommunicationRepository.save(t.db, { ...input, requestHash: 'other' });
    expect(first.outcome).toBe('created');
    expect(again).toEqual({ outcome: 'duplicate', communication: first.communication });
    expect(different).toEqual({ outcome: 'conflict', communication: first.communication });
    const { count } = await t.db
      .selectFrom('crm_communications')
      .select((eb) => eb.fn.countAll<string>().as('count'))
      .where('idempotency_key', '=', 'k-1')
      .executeTakeFirstOrThrow();
    expect(Number(count)).toBe(1);
  });

  it('makes one row from 20 concurrent saves with the same key', async () => {
    const input = newCommunication({ idempotencyKey: 'k-concurrent', requestHash: 'h' });
    const results = await Promise.all(Array.from({ length: 20 }, () => CommunicationRepository.save(t.db, input)));
    expect(results.filter((r) => r.outcome === 'created')).toHaveLength(1);
    expect(new Set(results.map((r) => r.communication.id)).size).toBe(1);
  });

  it('rejects a key without a request hash', async () => {
    await expect(CommunicationRepository.save(t.db, newCommunication({ idempotencyKey: 'x' }))).rejects.toThrow(TypeError);
  });
});

describe('updateStatus', () => {
  const create = async () => (await CommunicationRepository.save(t.db, newCommunication())).communication;

  it('moves forward, stamps the matching column and logs the change in the same statement', async () => {
    const { id } = await create();
    const queued = await CommunicationRepository.updateStatus(t.db, { id, to: 'queued', channel: 'email', strategyReason: 'first allowed channel' });
    expect(queued).toMatchObject({ applied: true, from: 'pending' });
    const sending = await CommunicationRepository.updateStatus(t.db, { id, to: 'sending', channel: 'email', attempt: 1, event: 'attempt_started' });
    const sent = await CommunicationRepository.updateStatus(t.db, {
      id, to: 'sent', channel: 'email', attempt: 1, provider: 'smtp', providerMessageId: '<m1@crm>', latencyMs: 12.4, detail: { response: '250 OK' },
    });
    expect(sent.applied).toBe(true);
    if (!sent.applied || !sending.applied) throw new Error('unreachable');
    expect(sent.communication).toMatchObject({
      status: 'sent', channel: 'email', channels_tried: ['email'], attempt_count: 1, provider_message_id: '<m1@crm>', strategy_reason: 'first allowed channel',
    });
    expect(sent.communication.queued_at).toBeInstanceOf(Date);
    expect(sent.communication.sending_at).toBeInstanceOf(Date);
    expect(sent.communication.sent_at).toBeInstanceOf(Date);
    expect(sent.communication.delivered_at).toBeNull();
    const logs = await CommunicationRepository.listLogs(t.db, id);
    expect(logs.map((log) => [log.event, log.from_status, log.to_status])).toEqual([
      ['created', null, 'pending'],
      ['status_changed', 'pending', 'queued'],
      ['attempt_started', 'queued', 'sending'],
      ['status_changed', 'sending', 'sent'],
    ]);
    expect(logs[3]).toMatchObject({ channel: 'email', attempt: 1, provider: 'smtp', provider_message_id: '<m1@crm>', latency_ms: 12, detail: { response: '250 OK' } });
  });

  it('refuses a backward move, changes nothing and reports the current status', async () => {
    const { id } = await create();
    for (const to of ['queued', 'sending', 'sent', 'delivered'] as const) {
      expect((await CommunicationRepository.updateStatus(t.db, { id, to })).applied).toBe(true);
    }
    const before = await CommunicationRepository.findById(t.db, id);
    const late = await CommunicationRepository.updateStatus(t.db, { id, to: 'sent', providerMessageId: 'late' });
    expect(late).toEqual({ applied: false, reason: 'not_allowed', current: 'delivered' });
    expect(await CommunicationRepository.findById(t.db, id)).toEqual(before);
    expect(await CommunicationRepository.listLogs(t.db, id)).toHaveLength(5);
  });

  it('refuses moving to pending and staying in place', async () => {
    const { id } = await create();
    expect(await CommunicationRepository.updateStatus(t.db, { id, to: 'pending' })).toEqual({ applied: false, reason: 'not_allowed', current: 'pending' });
    await CommunicationRepository.updateStatus(t.db, { id, to: 'queued' });
    expect(await CommunicationRepository.updateStatus(t.db, { id, to: 'queued' })).toEqual({ applied: false, reason: 'not_allowed', current: 'queued' });
  });

  it('reports an unknown id', async () => {
    const id = '00000000-0000-4000-8000-000000000000';
    expect(await CommunicationRepository.updateStatus(t.db, { id, to: 'queued' })).toEqual({ applied: false, reason: 'not_found' });
    expect(await CommunicationRepository.updateStatus(t.db, { id, to: 'pending' })).toEqual({ applied: false, reason: 'not_found' });
  });

  it('lets exactly one of two concurrent identical moves apply', async () => {
    for (let round = 0; round < 10; round++) {
      const { id } = await create();
      await CommunicationRepository.updateStatus(t.db, { id, to: 'queued' });
      const results = await Promise.all([
        CommunicationRepository.updateStatus(t.db, { id, to: 'sending', attempt: 1 }),
        CommunicationRepository.updateStatus(t.db, { id, to: 'sending', attempt: 1 }),
      ]);
      expect(results.filter((r) => r.applied)).toHaveLength(1);
      expect(results.find((r) => !r.applied)).toEqual({ applied: false, reason: 'not_allowed', current: 'sending' });
      const logs = await CommunicationRepository.listLogs(t.db, id);
      expect(logs.filter((log) => log.to_status === 'sending')).toHaveLength(1);
    }
  });

  it('never lets a late status overwrite a later one when they race', async () => {
    for (let round = 0; round < 10; round++) {
      const { id } = await create();
      for (const to of ['queued', 'sending', 'sent'] as const) await CommunicationRepository.updateStatus(t.db, { id, to });
      // delivered and a duplicate "sent" race; whatever the order, the row ends delivered.
      await Promise.all([
        CommunicationRepository.updateStatus(t.db, { id, to: 'delivered' }),
        CommunicationRepository.updateStatus(t.db, { id, to: 'sent' }),
        CommunicationRepository.updateStatus(t.db, { id, to: 'opened' }),
      ]);
      const row = await CommunicationRepository.findById(t.db, id);
      expect(['delivered', 'opened']).toContain(row?.status);
      expect(row?.delivered_at === null && row?.status === 'delivered').toBe(false);
    }
  });

  it('applies exactly the moves the state machine allows, from every status', async () => {
    // Put one communication in each status by forcing the column, then try every target.
    for (const from of communicationStatuses) {
      for (const to of communicationStatuses) {
        const { id } = await create();
        await t.db.updateTable('crm_communications').set({ status: from }).where('id', '=', id).execute();
        const result = await CommunicationRepository.updateStatus(t.db, { id, to });
        expect([from, to, result.applied]).toEqual([from, to, canTransition(from, to)]);
      }
    }
  });

  it('records error details and the failure reason', async () => {
    const { id } = await create();
    await CommunicationRepository.updateStatus(t.db, { id, to: 'queued' });
    await CommunicationRepository.updateStatus(t.db, { id, to: 'sending' });
    const failed = await CommunicationRepository.updateStatus(t.db, {
      id, to: 'failed', failureReason: 'all_channels_failed', error: { message: '550 no such user', code: '550', category: 'permanent' },
    });
    expect(failed.applied && failed.communication).toMatchObject({
      status: 'failed', failure_reason: 'all_channels_failed', last_error: '550 no such user', last_error_code: '550', last_error_category: 'permanent',
    });
    const logs = await CommunicationRepository.listLogs(t.db, id);
    expect(logs.at(-1)).toMatchObject({ error_code: '550', error_category: 'permanent', error_message: '550 no such user' });
  });
});

describe('schema', () => {
  it('has the enum values of @crm/core', async () => {
    const { rows } = await sql<{ typname: string; labels: string[] }>`
      SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder)::text[] AS labels
      FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY t.typname`.execute(t.db);
    const byName = Object.fromEntries(rows.map((row) => [row.typname, row.labels]));
    expect(byName).toEqual({
      crm_message_type: [...core.messageTypes, core.digestMessageType],
      crm_channel: [...core.messageChannels],
      crm_urgency: [...core.urgencyLevels],
      crm_status: [...core.communicationStatuses],
      crm_error_category: [...core.errorCategories],
    });
  });
});
