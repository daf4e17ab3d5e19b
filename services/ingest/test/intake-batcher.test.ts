import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { getClientContact, upsertClientContact, type NewCommunication } from '@crm/db';
import { IntakeBatcher } from '@crm/ingest';
import { testDatabasePerFile, testPiiKeys } from '@crm/testing';

const t = testDatabasePerFile();
const keys = testPiiKeys;

const input = (clientId: string, overrides: Partial<NewCommunication> = {}): NewCommunication => ({
  clientId, planId: 'plan-group', messageType: 'reminder', urgency: 'normal', requestedChannel: null, sendAt: null,
  variables: { n: randomUUID() }, metadata: {}, idempotencyKey: null, requestHash: null, ...overrides,
});
describe('IntakeBatcher', () => {
  it('stores requests that arrive together with one statement, each with its own outcome', async () => {
    await upsertClientContact(t.db, keys, { clientId: 'group-known', email: 'known@example.com' });
    const batcher = new IntakeBatcher(t.db, keys);
    const results = await Promise.all([
      ...Array.from({ length: 30 }, (_, n) => batcher.accept(input(`group-${n}`), { email: `g${n}@example.com` })),
      batcher.accept(input('group-known'), null),
      batcher.accept(input('group-nobody'), null),
    ]);
    expect(results.slice(0, 31).every((r) => r.outcome === 'created')).toBe(true);
    expect(results[31]).toEqual({ outcome: 'unreachable' });
    expect(await getClientContact(t.db, keys, 'group-17')).toEqual({ email: 'g17@example.com', phone: null });
    // One statement, so one transaction: every row has the same now().
    const { rows } = await sql<{ n: string }>`SELECT count(DISTINCT created_at) AS n FROM crm_communications WHERE plan_id = 'plan-group'`.execute(t.db);
    expect(Number(rows[0]?.n)).toBe(1);
  });

  it('runs requests that would store one client twice in separate statements', async () => {
    const batcher = new IntakeBatcher(t.db, keys);
    const results = await Promise.all([
      batcher.accept(input('group-twice'), { email: 'first@example.com' }),
      batcher.accept(input('group-twice'), { email: 'second@example.com', timezone: 'Europe/Rome' }),
      batcher.accept(input('group-twice', { idempotencyKey: 'group-k', requestHash: 'h' }), { phone: '+14155550160' }),
      batcher.accept(input('group-twice', { idempotencyKey: 'group-k', requestHash: 'h' }), { phone: '+14155550160' }),
    ]);
    expect(results.map((r) => r.outcome)).toEqual(['created', 'created', 'created', 'duplicate']);
    // Applied in arrival order.
    expect(await getClientContact(t.db, keys, 'group-twice')).toEqual({ email: 'second@example.com', phone: '+14155550160' });
  });

  it('fails every request of a statement that fails, and keeps working', async () => {
    const batcher = new IntakeBatcher(t.db, keys);
    const bad = Promise.all([batcher.accept(input('group-bad-1'), { email: 'b1@example.com' }), batcher.accept(input('group-bad-2', { idempotencyKey: 'k' }), null)]);
    await expect(bad).rejects.toThrow(TypeError); // a key without a hash
    expect(await batcher.accept(input('group-after'), { email: 'after@example.com' })).toMatchObject({ outcome: 'created' });
  });
});
