import { sql, type Kysely } from 'kysely';

/** Millisecond precision, as in 0001 (the precision of a JavaScript Date). */
const ts = sql`timestamptz(3)`;

/**
 * API keys for the HTTP API. The key itself is never stored: only its SHA-256 (`key_hash`,
 * unique, which is what a request's key is looked up by) and its first characters
 * (`key_prefix`, to tell keys apart in a list). A revoked key keeps its row, with `revoked_at`.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are untyped by design (Kysely docs)
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('crm_api_keys')
    .addColumn('id', 'uuid', (col) => col.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('name', 'text', (col) => col.notNull().check(sql`length(name) BETWEEN 1 AND 100`))
    .addColumn('key_prefix', 'text', (col) => col.notNull())
    .addColumn('key_hash', 'bytea', (col) => col.notNull().check(sql`length(key_hash) = 32`))
    .addColumn('created_at', ts, (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('last_used_at', ts)
    .addColumn('revoked_at', ts)
    .addUniqueConstraint('crm_api_keys_key_hash_uq', ['key_hash'])
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('crm_api_keys').execute();
}
