import { sql, type ExpressionBuilder, type OnConflictDatabase, type OnConflictTables } from 'kysely';
import type { Database } from './schema';
import type { Executor } from './communication-repository';
import { currentKeyId, decryptPiiSql, encryptPiiSql, type PiiKeys } from './pii-crypto';

export type { PiiKeys } from './pii-crypto';

export interface ContactUpdate {
  readonly clientId: string;
  /** Leave out to keep the stored value. */
  readonly email?: string;
  readonly phone?: string;
  readonly timezone?: string;
}

export interface ClientContact {
  readonly email: string | null;
  readonly phone: string | null;
}

/** Email as it is indexed: trimmed and lower-cased. */
export const normaliseEmail = (email: string): string => email.trim().toLowerCase();
/** Phone as it is indexed: E.164 without spaces. */
export const normalisePhone = (phone: string): string => phone.replace(/[\s().-]/g, '');

const encrypt = (value: string | undefined, keys: PiiKeys) => (value === undefined ? null : encryptPiiSql(value, keys));
const blindIndex = (value: string | undefined, keys: PiiKeys) =>
  value === undefined ? null : sql<Buffer>`hmac(${value}::text, ${keys.blindIndexKey}::text, 'sha256')`;

/**
 * The SET part of an upsert of `crm_client_preferences` that takes the inserted (`excluded`)
 * email: its ciphertext, blind index and key id, and a suppression cleared for a new address
 * (or none) while the same address stays suppressed.
 */
export const emailFromExcluded = (eb: ExpressionBuilder<OnConflictDatabase<Database, 'crm_client_preferences'>, OnConflictTables<'crm_client_preferences'>>) => ({
  email_encrypted: eb.ref('excluded.email_encrypted'),
  email_hash: eb.ref('excluded.email_hash'),
  email_key_id: eb.ref('excluded.email_key_id'),
  email_suppressed_at: sql<Date | null>`CASE WHEN crm_client_preferences.email_hash IS DISTINCT FROM excluded.email_hash THEN NULL ELSE crm_client_preferences.email_suppressed_at END`,
  email_suppression_reason: sql<string | null>`CASE WHEN crm_client_preferences.email_hash IS DISTINCT FROM excluded.email_hash THEN NULL ELSE crm_client_preferences.email_suppression_reason END`,
});

/**
 * Creates the client's preferences row if needed and stores the given contact details,
 * encrypted with pgcrypto and blind-indexed; details left out keep their stored value.
 *
 * @example
 * await upsertClientContact(db, keys, { clientId: 'client-42', email: 'ada@example.com' });
 */
export async function upsertClientContact(db: Executor, keys: PiiKeys, update: ContactUpdate): Promise<void> {
  const email = update.email === undefined ? undefined : normaliseEmail(update.email);
  const phone = update.phone === undefined ? undefined : normalisePhone(update.phone);
  await db
    .insertInto('crm_client_preferences')
    .values({
      client_id: update.clientId,
      email_encrypted: encrypt(email, keys),
      email_hash: blindIndex(email, keys),
      phone_encrypted: encrypt(phone, keys),
      phone_hash: blindIndex(phone, keys),
      email_key_id: email === undefined ? null : currentKeyId(keys),
      phone_key_id: phone === undefined ? null : currentKeyId(keys),
      ...(update.timezone !== undefined && { timezone: update.timezone }),
    })
    .onConflict((oc) =>
      oc.column('client_id').doUpdateSet((eb) => ({
        ...(email !== undefined && emailFromExcluded(eb)),
        ...(phone !== undefined && { phone_encrypted: eb.ref('excluded.phone_encrypted'), phone_hash: eb.ref('excluded.phone_hash'), phone_key_id: eb.ref('excluded.phone_key_id') }),
        ...(update.timezone !== undefined && { timezone: eb.ref('excluded.timezone') }),
        updated_at: sql`now()`,
      })),
    )
    .execute();
}

/** The client's decrypted email and phone, or `undefined` for an unknown client. */
export async function getClientContact(db: Executor, keys: PiiKeys, clientId: string): Promise<ClientContact | undefined> {
  return db
    .selectFrom('crm_client_preferences')
    .select([
      decryptPiiSql('email_encrypted', 'email_key_id', keys).as('email'),
      decryptPiiSql('phone_encrypted', 'phone_key_id', keys).as('phone'),
    ])
    .where('client_id', '=', clientId)
    .executeTakeFirst();
}

/** Which contact details a client has, without decrypting them. */
export async function getContactAvailability(
  db: Executor,
  clientId: string,
): Promise<{ readonly email: boolean; readonly phone: boolean } | undefined> {
  return db
    .selectFrom('crm_client_preferences')
    .select([
      sql<boolean>`email_hash IS NOT NULL`.as('email'),
      sql<boolean>`phone_hash IS NOT NULL`.as('phone'),
    ])
    .where('client_id', '=', clientId)
    .executeTakeFirst();
}
