import { sql } from 'kysely';
import {
  CommunicationRepository,
  getClientContact,
  getContactAvailabilities,
  upsertClientContact,
  upsertClientContacts,
  type NewCommunication,
} from '@crm/db';
import { testDatabasePerFile, testPiiKeys } from '@crm/testing';

const t = testDatabasePerFile();
const keys = testPiiKeys;

const item = (overrides: Partial<NewCommunication> = {}): NewCommunication => ({
  clientId: 'client-1',
  planId: 'plan-batch',
  messageType: 'reminder',
  urgency: 'normal',
  requestedChannel: null,
  sendAt: null,
  variables: { n: 1 },
  metadata: {},
  idempotencyKey: null,
  requestHash: null,
  ...overrides,
});
const count = async (table: 'crm_communications' | 'crm_delivery_logs' | 'crm_client_preferences') =>
  Number((await sql<{ n: string }>`SELECT count(*) AS n FROM ${sql.table(table)}`.execute(t.db)).rows[0]?.n);

describe('CommunicationRepository.saveMany', () => {
  it('stores every row with its created log row, answering in input order', async () => {
    const inputs = Array.from({ length: 50 }, (_, n) =>
      item({ clientId: `client-${n}`, variables: { n, quote: 'it\'s "quoted" \\ {braces}' }, metadata: { run: n }, sendAt: n === 3 ? new Date('2030-01-01T10:00:00Z') : null, requestedChannel: n === 4 ? 'sms' : null }),
    );
    const before = [await count('crm_communications'), await count('crm_delivery_logs')];
    const saved = await CommunicationRepository.saveMany(t.db, inputs);
    expect(saved).toHaveLength(50);
    expect(saved.every((s) => s.outcome === 'created' && s.status === 'pending')).toBe(true);
    expect(new Set(saved.map((s) => s.id)).size).toBe(50);
    expect([await count('crm_communications'), await count('crm_delivery_logs')]).toEqual([before[0]! + 50, before[1]! + 50]);

    for (const n of [0, 3, 4, 49]) {
      const row = await CommunicationRepository.findById(t.db, saved[n]!.id);
      expect(row).toMatchObject({ client_id: `client-${n}`, status: 'pending', variables: { n, quote: 'it\'s "quoted" \\ {braces}' }, metadata: { run: n } });
      if (n === 3) expect(row?.send_at).toEqual(new Date('2030-01-01T10:00:00Z'));
      if (n === 4) expect(row?.requested_channel).toBe('sms');
      expect(await CommunicationRepository.listLogs(t.db, saved[n]!.id)).toEqual([expect.objectContaining({ event: 'created', to_status: 'pending' })]);
    }
  });

  it('answers duplicates and conflicts for keys used before or earlier in the batch, storing one row per key', async () => {
    const [first] = await CommunicationRepository.saveMany(t.db, [item({ idempotencyKey: 'k-old', requestHash: 'h-old' })]);
    const saved = await CommunicationRepository.saveMany(t.db, [
      item({ idempotencyKey: 'k-old', requestHash: 'h-old' }), // duplicate of a stored row
      item({ idempotencyKey: 'k-new', requestHash: 'h-new' }), // created
      item({ idempotencyKey: 'k-new', requestHash: 'h-new' }), // duplicate of item 1
      item({ idempotencyKey: 'k-new', requestHash: 'h-other' }), // conflict with item 1
      item({ idempotencyKey: 'k-old', requestHash: 'h-x' }), // conflict with the stored row
      item(), // no key: always created
    ]);
    expect(saved.map((s) => s.outcome)).toEqual(['duplicate', 'created', 'duplicate', 'conflict', 'conflict', 'created']);
    expect(saved[0]!.id).toBe(first!.id);
    expect(saved[4]!.id).toBe(first!.id);
    expect(saved[2]!.id).toBe(saved[1]!.id);
    expect(saved[3]!.id).toBe(saved[1]!.id);
    const { rows } = await sql<{ n: string }>`SELECT count(*) AS n FROM crm_communications WHERE idempotency_key IN ('k-old', 'k-new')`.execute(t.db);
    expect(Number(rows[0]?.n)).toBe(2);
  });

  it('resolves a conflicting first item against the stored row for later items of the same key', async () => {
    await CommunicationRepository.saveMany(t.db, [item({ idempotencyKey: 'k-held', requestHash: 'h-held' })]);
    const saved = await CommunicationRepository.saveMany(t.db, [
      item({ idempotencyKey: 'k-held', requestHash: 'h-other' }),
      item({ idempotencyKey: 'k-held', requestHash: 'h-held' }),
    ]);
    expect(saved.map((s) => s.outcome)).toEqual(['conflict', 'duplicate']);
  });

  it('gives one row per key to concurrent batches that share keys', async () => {
    const batch = (offset: number) =>
      Array.from({ length: 200 }, (_, n) => item({ idempotencyKey: `race-${(n + offset) % 200}`, requestHash: `h-${(n + offset) % 200}` }));
    const results = await Promise.all([0, 50, 100, 150].map((offset) => t.db.transaction().execute((trx) => CommunicationRepository.saveMany(trx, batch(offset)))));
    const created = results.flat().filter((s) => s.outcome === 'created');
    expect(created).toHaveLength(200);
    expect(results.flat().filter((s) => s.outcome === 'conflict')).toHaveLength(0);
    const { rows } = await sql<{ n: string }>`SELECT count(*) AS n FROM crm_communications WHERE idempotency_key LIKE 'race-%'`.execute(t.db);
    expect(Number(rows[0]?.n)).toBe(200);
  });

  it('refuses a key without a hash', async () => {
    await expect(CommunicationRepository.saveMany(t.db, [item({ idempotencyKey: 'k' })])).rejects.toThrow(TypeError);
  });

  it('accepts an empty list', async () => {
    expect(await CommunicationRepository.saveMany(t.db, [])).toEqual([]);
  });
});

describe('upsertClientContacts', () => {
  it('creates and updates many clients in one call, keeping what is left out', async () => {
    await upsertClientContact(t.db, keys, { clientId: 'bulk-old', email: 'old@example.com', phone: '+14155550100', timezone: 'Europe/Paris' });
    await upsertClientContacts(t.db, keys, [
      { clientId: 'bulk-old', email: 'NEW@example.com ' },
      { clientId: 'bulk-a', email: 'a@example.com' },
      { clientId: 'bulk-b', phone: '+1 415 555 0101', timezone: 'America/New_York' },
      { clientId: 'bulk-a', phone: '+14155550102' }, // merged with the first bulk-a
      { clientId: 'bulk-tz', timezone: 'Asia/Tokyo' },
    ]);
    expect(await getClientContact(t.db, keys, 'bulk-old')).toEqual({ email: 'new@example.com', phone: '+14155550100' });
    expect(await getClientContact(t.db, keys, 'bulk-a')).toEqual({ email: 'a@example.com', phone: '+14155550102' });
    expect(await getClientContact(t.db, keys, 'bulk-b')).toEqual({ email: null, phone: '+14155550101' });
    const zones = await t.db.selectFrom('crm_client_preferences').select(['client_id', 'timezone']).where('client_id', 'like', 'bulk-%').orderBy('client_id').execute();
    expect(zones).toEqual([
      // Never stated: the configured DEFAULT_TIMEZONE applies.
      { client_id: 'bulk-a', timezone: null },
      { client_id: 'bulk-b', timezone: 'America/New_York' },
      { client_id: 'bulk-old', timezone: 'Europe/Paris' },
      { client_id: 'bulk-tz', timezone: 'Asia/Tokyo' },
    ]);
    // The blind index finds the new address like the single upsert's.
    const probe = 'probe-client';
    await upsertClientContact(t.db, keys, { clientId: probe, email: 'new@example.com' });
    const { rows } = await sql<{ same: boolean }>`
      SELECT a.email_hash = b.email_hash AS same FROM crm_client_preferences a, crm_client_preferences b
      WHERE a.client_id = 'bulk-old' AND b.client_id = ${probe}`.execute(t.db);
    expect(rows[0]?.same).toBe(true);
  });

  it('does not rewrite a detail that did not change', async () => {
    await upsertClientContacts(t.db, keys, [{ clientId: 'same-client', email: 'same@example.com' }]);
    const before = await t.db.selectFrom('crm_client_preferences').select(['email_encrypted', 'updated_at']).where('client_id', '=', 'same-client').executeTakeFirstOrThrow();
    await upsertClientContacts(t.db, keys, [{ clientId: 'same-client', email: 'Same@Example.com' }]);
    const after = await t.db.selectFrom('crm_client_preferences').select(['email_encrypted', 'updated_at']).where('client_id', '=', 'same-client').executeTakeFirstOrThrow();
    expect(after).toEqual(before);
  });

  it('tells which clients can be reached', async () => {
    await upsertClientContacts(t.db, keys, [{ clientId: 'reach-mail', email: 'r@example.com' }, { clientId: 'reach-none', timezone: 'UTC' }]);
    const found = await getContactAvailabilities(t.db, ['reach-mail', 'reach-none', 'reach-unknown', 'reach-mail']);
    expect(Object.fromEntries(found)).toEqual({ 'reach-mail': { email: true, phone: false }, 'reach-none': { email: false, phone: false } });
  });
});
