import { sql } from 'kysely';
import { ApiKeyRepository, hashApiKey, isApiKeyShaped } from '@crm/db';
import { createTestDatabase, type TestDatabase } from '@crm/testing';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(() => t.destroy());

describe('ApiKeyRepository', () => {
  it('creates a key that is returned once and stored only as its SHA-256', async () => {
    const created = await ApiKeyRepository.create(t.db, { name: 'workflow' });
    expect(created).toEqual({ id: expect.any(String), name: 'workflow', key: expect.stringMatching(/^crm_live_[A-Za-z0-9_-]{32}$/), keyPrefix: created.key.slice(0, 17) });
    expect(isApiKeyShaped(created.key)).toBe(true);

    const { rows } = await sql<Record<string, unknown>>`SELECT * FROM crm_api_keys WHERE id = ${created.id}`.execute(t.db);
    expect(rows).toHaveLength(1);
    const row = rows[0]!;
    expect(row.key_hash).toEqual(hashApiKey(created.key));
    // The key is nowhere in the row.
    expect(JSON.stringify(row)).not.toContain(created.key.slice(17));
    expect(row).toMatchObject({ name: 'workflow', key_prefix: created.key.slice(0, 17), last_used_at: null, revoked_at: null });
  });

  it('makes a different key every time', async () => {
    const keys = await Promise.all(Array.from({ length: 20 }, (_, n) => ApiKeyRepository.create(t.db, { name: `k${n}` })));
    expect(new Set(keys.map((k) => k.key)).size).toBe(20);
  });

  it('verifies a key, refuses unknown, malformed and revoked ones', async () => {
    const { id, key } = await ApiKeyRepository.create(t.db, { name: 'to-revoke' });
    expect(await ApiKeyRepository.verify(t.db, key)).toEqual({ id, name: 'to-revoke' });
    expect(await ApiKeyRepository.verify(t.db, `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`)).toBeNull();
    for (const bad of ['', 'crm_live_short', 'Bearer x', `crm_test_${key.slice(9)}`, `${key} `]) {
      expect(await ApiKeyRepository.verify(t.db, bad)).toBeNull();
    }
    expect(await ApiKeyRepository.revoke(t.db, id)).toBe(true);
    expect(await ApiKeyRepository.revoke(t.db, id)).toBe(false);
    expect(await ApiKeyRepository.revoke(t.db, 'not-a-uuid')).toBe(false);
    expect(await ApiKeyRepository.verify(t.db, key)).toBeNull();
  });

  it('lists keys newest first without the key, and stamps last use', async () => {
    const { id, key } = await ApiKeyRepository.create(t.db, { name: 'listed' });
    await ApiKeyRepository.touch(t.db, id);
    const list = await ApiKeyRepository.list(t.db);
    expect(list[0]).toEqual({ id, name: 'listed', keyPrefix: key.slice(0, 17), createdAt: expect.any(Date), lastUsedAt: expect.any(Date), revokedAt: null });
    expect(JSON.stringify(list)).not.toContain(key);
    expect(list.some((k) => k.name === 'to-revoke' && k.revokedAt instanceof Date)).toBe(true);
  });

  it('refuses an empty or overlong name', async () => {
    await expect(ApiKeyRepository.create(t.db, { name: '  ' })).rejects.toThrow(RangeError);
    await expect(ApiKeyRepository.create(t.db, { name: 'x'.repeat(101) })).rejects.toThrow(RangeError);
  });
});
