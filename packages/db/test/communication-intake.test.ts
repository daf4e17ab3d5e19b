import { sql } from 'kysely';
import { acceptCommunication, acceptCommunications, CommunicationRepository, getClientContact, upsertClientContact, type NewCommunication } from '@crm/db';
import { testDatabasePerFile, testPiiKeys } from '@crm/testing';

const t = testDatabasePerFile();
const keys = testPiiKeys;

const input = (overrides: Partial<NewCommunication> = {}): NewCommunication => ({
  clientId: 'intake-1', planId: 'plan-1', messageType: 'welcome', urgency: 'high', requestedChannel: 'email',
  sendAt: new Date('2031-02-03T04:05:06.789Z'), variables: { clientName: 'Ada' }, metadata: { run: 1 },
  idempotencyKey: null, requestHash: null, ...overrides,
});
const count = async (table: 'crm_communications' | 'crm_client_preferences' | 'crm_delivery_logs') =>
  Number((await sql<{ n: string }>`SELECT count(*) AS n FROM ${sql.table(table)}`.execute(t.db)).rows[0]?.n);

describe('acceptCommunication', () => {
  it('stores the communication, its log row and the recipient in one statement', async () => {
    const result = await acceptCommunication(t.db, keys, input(), { email: ' Ada@Example.com', timezone: 'Europe/Paris' });
    expect(result).toEqual({ outcome: 'created', id: expect.any(String), status: 'pending' });
    if (result.outcome !== 'created') throw new Error('not created');
    expect(await CommunicationRepository.findById(t.db, result.id)).toMatchObject({
      client_id: 'intake-1', urgency: 'high', requested_channel: 'email', send_at: new Date('2031-02-03T04:05:06.789Z'), variables: { clientName: 'Ada' }, metadata: { run: 1 },
    });
    expect(await CommunicationRepository.listLogs(t.db, result.id)).toEqual([expect.objectContaining({ event: 'created', to_status: 'pending' })]);
    expect(await getClientContact(t.db, keys, 'intake-1')).toEqual({ email: 'ada@example.com', phone: null });
  });

  it('updates given details, keeps the others, and leaves an unchanged one alone', async () => {
    await upsertClientContact(t.db, keys, { clientId: 'intake-2', email: 'old@example.com', phone: '+14155550100', timezone: 'Asia/Tokyo' });
    await acceptCommunication(t.db, keys, input({ clientId: 'intake-2' }), { email: 'new@example.com' });
    expect(await getClientContact(t.db, keys, 'intake-2')).toEqual({ email: 'new@example.com', phone: '+14155550100' });
    const before = await t.db.selectFrom('crm_client_preferences').selectAll().where('client_id', '=', 'intake-2').executeTakeFirstOrThrow();
    expect(before.timezone).toBe('Asia/Tokyo');
    await acceptCommunication(t.db, keys, input({ clientId: 'intake-2' }), { email: 'NEW@example.com' });
    const after = await t.db.selectFrom('crm_client_preferences').selectAll().where('client_id', '=', 'intake-2').executeTakeFirstOrThrow();
    expect(after).toEqual(before);
  });

  it('refuses an unreachable client, writing nothing', async () => {
    const before = [await count('crm_communications'), await count('crm_client_preferences'), await count('crm_delivery_logs')];
    expect(await acceptCommunication(t.db, keys, input({ clientId: 'nobody' }), null)).toEqual({ outcome: 'unreachable' });
    expect(await acceptCommunication(t.db, keys, input({ clientId: 'nobody' }), { timezone: 'Europe/Paris' })).toEqual({ outcome: 'unreachable' });
    expect([await count('crm_communications'), await count('crm_client_preferences'), await count('crm_delivery_logs')]).toEqual(before);
  });

  it('accepts a client with stored details and no recipient', async () => {
    expect(await acceptCommunication(t.db, keys, input({ clientId: 'intake-1' }), null)).toMatchObject({ outcome: 'created' });
  });

  it('answers duplicates and conflicts without storing the recipient of either', async () => {
    const keyed = input({ clientId: 'intake-3', idempotencyKey: 'intake-key', requestHash: 'h1' });
    const first = await acceptCommunication(t.db, keys, keyed, { email: 'three@example.com' });
    const again = await acceptCommunication(t.db, keys, keyed, { email: 'three@example.com' });
    const conflict = await acceptCommunication(t.db, keys, { ...keyed, requestHash: 'h2' }, { email: 'other@example.com' });
    expect(first.outcome).toBe('created');
    expect(again).toEqual({ ...first, outcome: 'duplicate' });
    expect(conflict).toEqual({ ...first, outcome: 'conflict' });
    expect(await getClientContact(t.db, keys, 'intake-3')).toEqual({ email: 'three@example.com', phone: null });
  });

  it('answers a duplicate even when the client can no longer be reached', async () => {
    const keyed = input({ clientId: 'intake-4', idempotencyKey: 'intake-key-4', requestHash: 'h' });
    const first = await acceptCommunication(t.db, keys, keyed, { phone: '+14155550111' });
    await t.db.updateTable('crm_client_preferences').set({ phone_encrypted: null, phone_hash: null }).where('client_id', '=', 'intake-4').execute();
    expect(await acceptCommunication(t.db, keys, keyed, null)).toEqual({ ...first, outcome: 'duplicate' });
  });

  it('works the same inside a transaction (without the prepared statement), and rolls back with it', async () => {
    const before = await count('crm_communications');
    const inside = await t.db.transaction().execute(async (trx) => acceptCommunication(trx, keys, input({ clientId: 'intake-tx' }), { email: 'tx@example.com' }));
    expect(inside).toMatchObject({ outcome: 'created' });
    await expect(
      t.db.transaction().execute(async (trx) => {
        await acceptCommunication(trx, keys, input({ clientId: 'intake-tx-rolled-back' }), { email: 'rb@example.com' });
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await count('crm_communications')).toBe(before + 1);
    expect(await getClientContact(t.db, keys, 'intake-tx-rolled-back')).toBeUndefined();
  });

  it('makes one row of concurrent identical requests', async () => {
    const keyed = input({ clientId: 'intake-5', idempotencyKey: 'intake-race', requestHash: 'h' });
    const results = await Promise.all(Array.from({ length: 20 }, () => acceptCommunication(t.db, keys, keyed, { email: 'race@example.com' })));
    expect(results.filter((r) => r.outcome === 'created')).toHaveLength(1);
    expect(results.filter((r) => r.outcome === 'duplicate')).toHaveLength(19);
    const { rows } = await sql<{ n: string }>`SELECT count(*) AS n FROM crm_communications WHERE idempotency_key = 'intake-race'`.execute(t.db);
    expect(Number(rows[0]?.n)).toBe(1);
  });
});

describe('acceptCommunications', () => {
  it('gives every item its own outcome in one statement', async () => {
    await acceptCommunication(t.db, keys, input({ clientId: 'many-held', idempotencyKey: 'many-held', requestHash: 'h' }), { email: 'held@example.com' });
    await upsertClientContact(t.db, keys, { clientId: 'many-zone', email: 'zone@example.com', timezone: 'Asia/Tokyo' });
    const before = await count('crm_communications');
    const results = await acceptCommunications(t.db, keys, [
      { input: input({ clientId: 'many-new', variables: { n: 0 } }), recipient: { email: 'new@example.com', timezone: 'Europe/Paris' } },
      { input: input({ clientId: 'many-held', idempotencyKey: 'many-held', requestHash: 'h' }), recipient: null }, // duplicate of a stored row
      { input: input({ clientId: 'many-held', idempotencyKey: 'many-held', requestHash: 'other' }), recipient: { email: 'x@example.com' } }, // conflict
      { input: input({ clientId: 'many-nobody' }), recipient: null }, // unreachable
      { input: input({ clientId: 'many-new', idempotencyKey: 'many-k', requestHash: 'k' }), recipient: null }, // reachable only through item 0: not yet
      { input: input({ clientId: 'many-2', idempotencyKey: 'many-twice', requestHash: 't' }), recipient: { phone: '+14155550142' } },
      { input: input({ clientId: 'many-2', idempotencyKey: 'many-twice', requestHash: 't' }), recipient: { phone: '+14155550142' } }, // same key in the call
      { input: input({ clientId: 'many-zone' }), recipient: { timezone: 'America/Denver' } }, // only the zone changes
    ]);
    expect(results.map((r) => r.outcome)).toEqual(['created', 'duplicate', 'conflict', 'unreachable', 'unreachable', 'created', 'duplicate', 'created']);
    expect(await count('crm_communications')).toBe(before + 3);
    expect(results[6]).toEqual({ ...results[5], outcome: 'duplicate' });
    expect(await getClientContact(t.db, keys, 'many-new')).toEqual({ email: 'new@example.com', phone: null });
    expect(await getClientContact(t.db, keys, 'many-held')).toEqual({ email: 'held@example.com', phone: null }); // the conflict stored nothing
    expect(await getClientContact(t.db, keys, 'many-2')).toEqual({ email: null, phone: '+14155550142' });
    expect(await getClientContact(t.db, keys, 'many-nobody')).toBeUndefined();
    const zones = await t.db.selectFrom('crm_client_preferences').select(['client_id', 'timezone']).where('client_id', 'in', ['many-new', 'many-zone']).orderBy('client_id').execute();
    expect(zones).toEqual([{ client_id: 'many-new', timezone: 'Europe/Paris' }, { client_id: 'many-zone', timezone: 'America/Denver' }]);
    expect(await getClientContact(t.db, keys, 'many-zone')).toEqual({ email: 'zone@example.com', phone: null });
    const created = results[0]!;
    if (created.outcome !== 'created') throw new Error('not created');
    expect(await CommunicationRepository.listLogs(t.db, created.id)).toEqual([expect.objectContaining({ event: 'created', to_status: 'pending' })]);
  });

  it('refuses two items that would both store contact details of one client', async () => {
    await expect(
      acceptCommunications(t.db, keys, [
        { input: input({ clientId: 'many-clash' }), recipient: { email: 'a@example.com' } },
        { input: input({ clientId: 'many-clash' }), recipient: { email: 'b@example.com' } },
      ]),
    ).rejects.toThrow(TypeError);
  });

  it('works inside a transaction (without the prepared statement)', async () => {
    const results = await t.db.transaction().execute((trx) =>
      acceptCommunications(trx, keys, [{ input: input({ clientId: 'many-tx-1' }), recipient: { email: 'tx1@example.com' } }, { input: input({ clientId: 'many-tx-2' }), recipient: null }]),
    );
    expect(results.map((r) => r.outcome)).toEqual(['created', 'unreachable']);
  });
});

describe('what a new client never stated', () => {
  it('is left NULL by both intake statements (the configured defaults apply), and a bounce is cleared by a new address only', async () => {
    await acceptCommunication(t.db, keys, input({ clientId: 'unstated-one' }), { email: 'one@example.com' });
    await acceptCommunications(t.db, keys, [{ input: input({ clientId: 'unstated-many' }), recipient: { email: 'many@example.com' } }]);
    const rows = await t.db.selectFrom('crm_client_preferences').select(['client_id', 'channels', 'timezone']).where('client_id', 'like', 'unstated-%').orderBy('client_id').execute();
    expect(rows).toEqual([
      { client_id: 'unstated-many', channels: null, timezone: null },
      { client_id: 'unstated-one', channels: null, timezone: null },
    ]);

    const suppressed = () => t.db.selectFrom('crm_client_preferences').select('email_suppressed_at').where('client_id', '=', 'unstated-one').executeTakeFirstOrThrow();
    await sql`UPDATE crm_client_preferences SET email_suppressed_at = now(), email_suppression_reason = 'smtp 550' WHERE client_id = 'unstated-one'`.execute(t.db);
    await acceptCommunication(t.db, keys, input({ clientId: 'unstated-one' }), { email: 'ONE@example.com' });
    expect((await suppressed()).email_suppressed_at).not.toBeNull();
    await acceptCommunications(t.db, keys, [{ input: input({ clientId: 'unstated-one' }), recipient: { email: 'one@example.com' } }]);
    expect((await suppressed()).email_suppressed_at).not.toBeNull();
    await acceptCommunications(t.db, keys, [{ input: input({ clientId: 'unstated-one' }), recipient: { email: 'another@example.com' } }]);
    expect((await suppressed()).email_suppressed_at).toBeNull();
  });
});
