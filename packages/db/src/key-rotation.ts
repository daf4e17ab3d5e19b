import { sql } from 'kysely';
import type { Executor } from './communication-repository';
import { currentKeyId, decryptionKeysOf, piiKeyId, PGP_OPTIONS, type PiiKeys } from './pii-crypto';

/** An encrypted column and the column naming its key. */
interface EncryptedColumn {
  readonly value: string;
  readonly keyId: string;
}

/** A table holding personal data encrypted with pgcrypto, walked in key order. */
interface EncryptedTable {
  readonly table: 'crm_client_preferences' | 'crm_inbound_messages' | 'crm_callback_subscriptions';
  /** Unique, ordered: the walk resumes after the last one it saw. */
  readonly key: 'client_id' | 'id';
  readonly keyType: 'text' | 'uuid';
  readonly columns: readonly EncryptedColumn[];
}

/** Every place personal data (and the callback subscriptions' signing secrets) is stored encrypted (a test checks this list against the schema). */
export const encryptedTables: readonly EncryptedTable[] = Object.freeze([
  {
    table: 'crm_client_preferences',
    key: 'client_id',
    keyType: 'text',
    columns: [
      { value: 'email_encrypted', keyId: 'email_key_id' },
      { value: 'phone_encrypted', keyId: 'phone_key_id' },
    ],
  },
  { table: 'crm_inbound_messages', key: 'id', keyType: 'uuid', columns: [{ value: 'body_encrypted', keyId: 'body_key_id' }] },
  { table: 'crm_callback_subscriptions', key: 'id', keyType: 'uuid', columns: [{ value: 'secret_encrypted', keyId: 'secret_key_id' }] },
]);

export interface RotationProgress {
  readonly table: string;
  /** Rows re-encrypted by this batch. */
  readonly rows: number;
}

export interface RotationResult {
  /** Rows re-encrypted, by table. */
  readonly rotated: Readonly<Record<string, number>>;
  /** Values still encrypted with another key afterwards (0 unless writers with an old key still run). */
  readonly remaining: number;
}

const stale = (column: EncryptedColumn, current: string) =>
  sql`(${sql.ref(column.value)} IS NOT NULL AND ${sql.ref(column.keyId)} IS DISTINCT FROM ${current}::text)`;

/** How many encrypted values are not under the current key, per table (what a rotation has left to do). */
export async function countStaleEncryptedValues(db: Executor, keys: PiiKeys): Promise<Record<string, number>> {
  const current = currentKeyId(keys);
  const counts: Record<string, number> = {};
  for (const { table, columns } of encryptedTables) {
    const terms = columns.map((column) => sql`count(*) FILTER (WHERE ${stale(column, current)})`);
    const { rows } = await sql<{ n: string }>`SELECT (${sql.join(terms, sql` + `)})::text AS n FROM ${sql.table(table)}`.execute(db);
    counts[table] = Number(rows[0]?.n ?? 0);
  }
  return counts;
}

/**
 * Re-encrypts every value of personal data that is not under the current key
 * (`keys.encryptionKey`), in batches of `batchSize` rows, each batch one short auto-committed
 * statement: the engine keeps running and writing meanwhile (a row a writer holds is waited
 * for, never skipped). Values are decrypted with the key their row names (or, for rows written
 * before key ids existed, with whichever given key fits), so `keys.previousEncryptionKeys` must
 * hold every key still in use. Running it again does nothing; `updated_at` is not touched (a
 * rotation is not a change of the client's data).
 *
 * @example
 * const result = await rotateEncryptionKeys(db, keys, { batchSize: 500, onBatch: (p) => log(p) });
 */
export async function rotateEncryptionKeys(
  db: Executor,
  keys: PiiKeys,
  options: { readonly batchSize?: number; readonly onBatch?: (progress: RotationProgress) => void } = {},
): Promise<RotationResult> {
  const batchSize = options.batchSize ?? 500;
  const current = currentKeyId(keys);
  const all = decryptionKeysOf(keys);
  const ids = all.map(piiKeyId);
  const rotated: Record<string, number> = {};
  for (const { table, key, keyType, columns } of encryptedTables) {
    rotated[table] = 0;
    let after: string | null = null;
    for (;;) {
      const anyStale = sql.join(columns.map((column) => stale(column, current)), sql` OR `);
      const sets = columns.flatMap((column) => [
        sql`${sql.ref(column.value)} = CASE WHEN ${stale(column, current)}
              THEN pgp_sym_encrypt(crm_pii_decrypt(${sql.ref(column.value)}, ${sql.ref(column.keyId)}, ${ids}::text[], ${all}::text[]), ${keys.encryptionKey}::text, ${PGP_OPTIONS})
              ELSE ${sql.ref(column.value)} END`,
        sql`${sql.ref(column.keyId)} = CASE WHEN ${sql.ref(column.value)} IS NULL THEN ${sql.ref(column.keyId)} ELSE ${current}::text END`,
      ]);
      const keyCast = sql.raw(keyType);
      const { rows } = await sql<{ last: string | null; n: string }>`
        WITH batch AS (
          SELECT ${sql.ref(key)} AS k FROM ${sql.table(table)}
          WHERE (${after}::${keyCast} IS NULL OR ${sql.ref(key)} > ${after}::${keyCast}) AND (${anyStale})
          ORDER BY ${sql.ref(key)} LIMIT ${batchSize}
          FOR UPDATE
        ),
        upd AS (
          UPDATE ${sql.table(table)} t SET ${sql.join(sets, sql`, `)}
          FROM batch WHERE t.${sql.ref(key)} = batch.k
          RETURNING t.${sql.ref(key)} AS k
        )
        SELECT (array_agg(k ORDER BY k DESC))[1]::text AS last, count(*)::text AS n FROM upd`.execute(db);
      const n = Number(rows[0]?.n ?? 0);
      if (n === 0) break;
      rotated[table] += n;
      after = rows[0]?.last ?? null;
      options.onBatch?.({ table, rows: n });
    }
  }
  const remaining = Object.values(await countStaleEncryptedValues(db, keys)).reduce((sum, n) => sum + n, 0);
  return { rotated, remaining };
}
