import { sql } from 'kysely';
import { migrateDown, migrateToLatest, migrateToNone, pendingMigrations } from '@crm/db';
import { migrations } from '@crm/migrations';
import { createTestDatabase, type TestDatabase } from '@crm/testing';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase({ migrate: false });
});
afterAll(() => t.destroy());

const tables = async () =>
  (
    await sql<{ table_name: string }>`
      SELECT table_name FROM information_schema.tables
      WHERE table_schema = 'public' AND table_name LIKE 'crm\\_%' ORDER BY table_name`.execute(t.db)
  ).rows.map((row) => row.table_name);
const types = async () =>
  (await sql<{ typname: string }>`SELECT typname FROM pg_type WHERE typname LIKE 'crm\\_%' AND typtype = 'e' ORDER BY typname`.execute(t.db)).rows.map(
    (row) => row.typname,
  );
const indexes = async () =>
  (await sql<{ indexname: string }>`SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND indexname LIKE 'crm\\_%' ORDER BY indexname`.execute(t.db)).rows.map(
    (row) => row.indexname,
  );

/** The tables of 0001 alone, and of every migration. */
const initialTables = ['crm_client_preferences', 'crm_communication_templates', 'crm_communications', 'crm_delivery_logs'];
const allTables = ['crm_analytics_daily', 'crm_analytics_dirty', 'crm_api_keys', 'crm_attachments', 'crm_audit_log', 'crm_callback_cursors', 'crm_callback_deliveries', 'crm_callback_subscriptions', 'crm_client_preferences', 'crm_communication_templates', 'crm_communications', 'crm_delivery_logs', 'crm_digests', 'crm_inbound_messages'];
const migrationNames = Object.keys(migrations);
/** Reverts migrations until only the first one is applied. */
const downToFirst = async () => {
  while ((await pendingMigrations(t.db)).length < migrationNames.length - 1) expect((await migrateDown(t.db)).error).toBeUndefined();
};
const allTypes = ['crm_channel', 'crm_error_category', 'crm_message_type', 'crm_status', 'crm_urgency'];

describe('migrations', () => {
  it('go up, are harmless the second time, go down, and up again', async () => {
    expect(await pendingMigrations(t.db)).toEqual(Object.keys(migrations));

    const first = await migrateToLatest(t.db);
    expect(first.error).toBeUndefined();
    expect(first.results.map((r) => [r.migrationName, r.status])).toEqual(Object.keys(migrations).map((name) => [name, 'Success']));
    expect(await tables()).toEqual(allTables);
    expect(await types()).toEqual(allTypes);
    const indexesAfterUp = await indexes();
    expect(indexesAfterUp).toEqual(expect.arrayContaining([
      'crm_communications_idempotency_key_uq', 'crm_communications_created_idx', 'crm_communications_plan_idx',
      'crm_communications_client_idx', 'crm_communications_status_idx', 'crm_communications_channel_idx',
      'crm_client_preferences_email_hash_idx', 'crm_client_preferences_phone_hash_idx', 'crm_delivery_logs_communication_idx',
      'crm_communications_provider_message_idx', 'crm_inbound_messages_from_idx', 'crm_inbound_messages_provider_message_uq',
    ]));
    const { rows } = await sql<{ extname: string }>`SELECT extname FROM pg_extension WHERE extname = 'pgcrypto'`.execute(t.db);
    expect(rows).toHaveLength(1);

    const second = await migrateToLatest(t.db);
    expect(second).toEqual({ results: [] });
    expect(await pendingMigrations(t.db)).toEqual([]);

    const down = await migrateDown(t.db);
    expect(down.error).toBeUndefined();
    expect(down.results.map((r) => [r.direction, r.status])).toEqual([['Down', 'Success']]);
    expect(await pendingMigrations(t.db)).toEqual(migrationNames.slice(-1));
    await downToFirst();
    expect(await tables()).toEqual(initialTables);
    expect((await migrateDown(t.db)).error).toBeUndefined();
    expect(await tables()).toEqual([]);
    expect(await types()).toEqual([]);

    const again = await migrateToLatest(t.db);
    expect(again.error).toBeUndefined();
    expect(await tables()).toEqual(allTables);
    expect(await indexes()).toEqual(indexesAfterUp);

    expect((await migrateToNone(t.db)).error).toBeUndefined();
    expect(await tables()).toEqual([]);
    expect((await migrateToLatest(t.db)).error).toBeUndefined();
  });

  it('run concurrently from several processes without a race', async () => {
    // Two fresh databases migrated at the same time: CREATE EXTENSION is database-wide and
    // serialised by an advisory lock, and Kysely's own lock guards each database's table.
    const others = await Promise.all([createTestDatabase(), createTestDatabase(), createTestDatabase()]);
    try {
      const outcomes = await Promise.all(others.map((other) => migrateToLatest(other.db)));
      expect(outcomes.map((o) => o.error)).toEqual([undefined, undefined, undefined]);
      // And migrating the same database from two pools at once applies each migration once.
      const [a, b] = await Promise.all([migrateToLatest(t.db), migrateToLatest(t.db)]);
      expect([a.error, b.error]).toEqual([undefined, undefined]);
    } finally {
      await Promise.all(others.map((other) => other.destroy()));
    }
  });

  it('report a failing migration instead of throwing', async () => {
    await downToFirst();
    await sql`DROP TABLE crm_delivery_logs`.execute(t.db);
    const outcome = await migrateDown(t.db);
    expect(outcome.error).toBeDefined();
    expect(outcome.results.map((r) => r.status)).toEqual(['Error']);
    // The failed down ran in one transaction: nothing else was dropped.
    expect(await tables()).toEqual(initialTables.filter((name) => name !== 'crm_delivery_logs'));
  });
});
