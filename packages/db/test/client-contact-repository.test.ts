import { sql } from 'kysely';
import { getClientContact, getContactAvailability, upsertClientContact, type PiiKeys } from '@crm/db';
import { createTestDatabase, type TestDatabase } from '@crm/testing';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(() => t.destroy());

const keys: PiiKeys = { encryptionKey: 'k'.repeat(32), blindIndexKey: 'b'.repeat(32) };

describe('client contact', () => {
  it('stores email and phone encrypted, with a blind index, and reads them back', async () => {
    await upsertClientContact(t.db, keys, { clientId: 'c-1', email: ' Ada@Example.com ', phone: '+4915112345678', timezone: 'Europe/Berlin' });
    expect(await getClientContact(t.db, keys, 'c-1')).toEqual({ email: 'ada@example.com', phone: '+4915112345678' });
    expect(await getContactAvailability(t.db, 'c-1')).toEqual({ email: true, phone: true });

    const raw = await sql<Record<string, unknown>>`SELECT * FROM crm_client_preferences WHERE client_id = 'c-1'`.execute(t.db);
    const text = JSON.stringify(raw.rows, (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString('latin1') : v));
    expect(text).not.toMatch(/ada@example\.com/i);
    expect(text).not.toContain('4915112345678');
    expect(raw.rows[0]).toMatchObject({ timezone: 'Europe/Berlin', channels: null, opt_outs: [] });

    const { rows } = await sql<{ client_id: string }>`
      SELECT client_id FROM crm_client_preferences WHERE phone_hash = hmac('+4915112345678', ${keys.blindIndexKey}::text, 'sha256')`.execute(t.db);
    expect(rows).toEqual([{ client_id: 'c-1' }]);
  });

  it('keeps details that an update leaves out, and cannot be read with another key', async () => {
    await upsertClientContact(t.db, keys, { clientId: 'c-2', email: 'bo@example.com' });
    await upsertClientContact(t.db, keys, { clientId: 'c-2', phone: '+14155550123' });
    expect(await getClientContact(t.db, keys, 'c-2')).toEqual({ email: 'bo@example.com', phone: '+14155550123' });
    await expect(getClientContact(t.db, { ...keys, encryptionKey: 'x'.repeat(32) }, 'c-2')).rejects.toThrow(/no key decrypts/);
  });

  it('answers undefined for an unknown client', async () => {
    expect(await getClientContact(t.db, keys, 'nobody')).toBeUndefined();
    expect(await getContactAvailability(t.db, 'nobody')).toBeUndefined();
  });
});
