import { sql } from 'kysely';
import {
  claimAttempt,
  claimAttempts,
  CommunicationRepository,
  findForRoutingMany,
  findUnchanged,
  moveCommunication,
  queueOnFirstChannelMany,
  recordSentMany,
  upsertClientContact,
} from '@crm/db';
import { testDatabasePerFile, testPiiKeys } from '@crm/testing';

// The pipeline's guarded writes, single-row and multi-row: each applies only where the row is
// what its job believes, and writes its log row with it.
const t = testDatabasePerFile();
const keys = testPiiKeys;

let clients = 0;
async function pending(): Promise<string> {
  const clientId = `client-${++clients}`;
  await upsertClientContact(t.db, keys, { clientId, email: `${clientId}@example.com`, phone: '+14155550123' });
  const { communication } = await CommunicationRepository.save(t.db, {
    clientId, planId: 'plan-1', messageType: 'welcome', urgency: 'normal', requestedChannel: null, sendAt: null,
    variables: {}, metadata: {}, idempotencyKey: null, requestHash: null,
  });
  return communication.id;
}
const events = async (id: string) => (await CommunicationRepository.listLogs(t.db, id)).map((l) => `${l.event}:${l.from_status ?? ''}>${l.to_status ?? ''}:${l.attempt ?? ''}`);

describe('multi-row writes', () => {
  it('queues pending rows on their first channel, once, with the plan and a log row each', async () => {
    const [a, b] = [await pending(), await pending()];
    const first = await queueOnFirstChannelMany(t.db, [
      { id: a, channel: 'email', plan: ['email', 'sms'], reason: 'client preference order' },
      { id: b, channel: 'sms', plan: ['sms'], reason: 'channel sms requested' },
    ]);
    expect([...first].sort()).toEqual([a, b].sort());
    // Again: nothing moves (they are no longer pending).
    expect((await queueOnFirstChannelMany(t.db, [{ id: a, channel: 'email', plan: ['email'], reason: 'x' }])).size).toBe(0);
    const [rowA] = await findForRoutingMany(t.db, [a]);
    expect(rowA).toMatchObject({ status: 'queued', channel: 'email', channel_plan: ['email', 'sms'], channels_tried: ['email'], attempt_count: 1, channel_attempts: 1 });
    expect(await events(a)).toEqual(['created:>pending:', 'status_changed:pending>queued:1']);
  });

  it('claims each attempt once, refuses stale attempts and other channels, and returns the decrypted contact', async () => {
    const ids = [await pending(), await pending(), await pending()];
    await queueOnFirstChannelMany(t.db, ids.map((id) => ({ id, channel: 'email' as const, plan: ['email' as const], reason: 'r' })));
    const results = await claimAttempts(t.db, keys, [
      { id: ids[0]!, attempt: 1, channel: 'email', provider: 'smtp' },
      { id: ids[0]!, attempt: 1, channel: 'email', provider: 'smtp' }, // the same job twice in one batch
      { id: ids[1]!, attempt: 2, channel: 'email', provider: 'smtp' }, // a stale or future attempt
      { id: ids[2]!, attempt: 1, channel: 'sms', provider: 'twilio' }, // not its channel
    ]);
    expect(results.map((r) => r.claimed)).toEqual([true, false, false, false]);
    expect(results[0]).toMatchObject({ claimed: true, resumed: false, contact: { email: `client-${clients - 2}@example.com`, phone: '+14155550123' }, optOuts: [], communication: { status: 'sending' } });

    // A second run of the same attempt (its first run died) resumes it.
    // The client's opt-outs as they are at the claim (an unsubscribe while the job waited).
    await sql`UPDATE crm_client_preferences SET opt_outs = ARRAY['email'] WHERE client_id = (SELECT client_id FROM crm_communications WHERE id = ${ids[0]!}::uuid)`.execute(t.db);
    const again = await claimAttempt(t.db, keys, { id: ids[0]!, attempt: 1, channel: 'email', provider: 'smtp' });
    expect(again).toMatchObject({ optOuts: ['email'] });
    expect(again).toMatchObject({ claimed: true, resumed: true });
    expect(await events(ids[0]!)).toEqual(['created:>pending:', 'status_changed:pending>queued:1', 'attempt_started:queued>sending:1', 'attempt_started:sending>sending:1']);
  });

  it('records sent once, only for the attempt that is sending', async () => {
    const ids = [await pending(), await pending()];
    await queueOnFirstChannelMany(t.db, ids.map((id) => ({ id, channel: 'email' as const, plan: ['email' as const], reason: 'r' })));
    await claimAttempts(t.db, keys, ids.map((id) => ({ id, attempt: 1, channel: 'email' as const, provider: 'smtp' })));
    const record = (id: string, attempt = 1) => ({ id, attempt, channel: 'email' as const, provider: 'smtp', providerMessageId: `<${id}@x>`, latencyMs: 12.4, detail: { response: '250 OK' } });
    expect(await recordSentMany(t.db, [record(ids[0]!), record(ids[1]!, 7), record(ids[0]!)])).toEqual([true, false, false]);
    expect(await recordSentMany(t.db, [record(ids[0]!)])).toEqual([false]);
    const row = await CommunicationRepository.findById(t.db, ids[0]!);
    expect(row).toMatchObject({ status: 'sent', provider_message_id: `<${ids[0]}@x>` });
    const last = (await CommunicationRepository.listLogs(t.db, ids[0]!)).at(-1);
    expect(last).toMatchObject({ event: 'attempt_succeeded', from_status: 'sending', to_status: 'sent', latency_ms: 12, provider: 'smtp', detail: { response: '250 OK' } });
  });
});

describe('findUnchanged', () => {
  it('keeps only the rows nobody changed since they were read (the reconciler acts on those alone)', async () => {
    const [a, b] = [await pending(), await pending()];
    const read = await Promise.all([a, b].map((id) => CommunicationRepository.findById(t.db, id)));
    await queueOnFirstChannelMany(t.db, [{ id: b, channel: 'email', plan: ['email'], reason: 'r' }]);
    expect(await findUnchanged(t.db, read.map((row) => ({ id: row!.id, updatedAt: row!.updated_at })))).toEqual([a]);
  });
});

describe('moveCommunication', () => {
  it('refuses a move the status machine does not have, before writing anything', async () => {
    const id = await pending();
    await expect(moveCommunication(t.db, { id, guard: { statuses: ['pending'] }, to: 'sent', event: 'status_changed' })).rejects.toThrow(TypeError);
    expect(await events(id)).toEqual(['created:>pending:']);
  });

  it('applies only under its guard, and says where the row is when refused', async () => {
    const id = await pending();
    const refused = await moveCommunication(t.db, { id, guard: { statuses: ['pending'], attempt: 3 }, to: 'queued', event: 'status_changed' });
    expect(refused).toEqual({ applied: false, current: { status: 'pending', attempt_count: 0, channel: null, awaiting_fallback: false } });
    const applied = await moveCommunication(t.db, { id, guard: { statuses: ['pending'], attempt: 0 }, to: 'queued', event: 'status_changed', channel: 'sms', attempt: 1, budget: 'reset' });
    expect(applied).toMatchObject({ applied: true, from: 'pending', communication: { status: 'queued', channel: 'sms', attempt_count: 1 } });
  });
});
