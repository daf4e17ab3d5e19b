import { sql } from 'kysely';
import { normaliseEmail, normalisePhone, upsertClientContact, type ContactUpdate } from './client-contact-repository';
import { currentKeyId, PGP_OPTIONS, type PiiKeys } from './pii-crypto';
import type { Executor } from './communication-repository';


/** Merges updates per client (a later value of a field wins), sorted by client id. */
function mergeByClient(updates: readonly ContactUpdate[]): ContactUpdate[] {
  const merged = new Map<string, { clientId: string; email?: string; phone?: string; timezone?: string }>();
  for (const update of updates) {
    const current = merged.get(update.clientId) ?? { clientId: update.clientId };
    if (update.email !== undefined) current.email = normaliseEmail(update.email);
    if (update.phone !== undefined) current.phone = normalisePhone(update.phone);
    if (update.timezone !== undefined) current.timezone = update.timezone;
    merged.set(update.clientId, current);
  }
  return [...merged.values()]
    .filter((update) => update.email !== undefined || update.phone !== undefined || update.timezone !== undefined)
    .sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0));
}

/**
 * {@link upsertClientContact} for many clients in one statement: creates the preferences rows
 * that do not exist and updates the ones whose details change (values left out keep their
 * stored value). A detail equal to the stored one (same blind index) is not encrypted or
 * written again, so repeating a recipient costs one HMAC and no write.
 *
 * Several updates for one client merge (a later value of a field wins). A client created by a
 * concurrent transaction between this statement's snapshot and its insert is updated by
 * {@link upsertClientContact} afterwards, so no detail is lost to the race.
 *
 * @example
 * await upsertClientContacts(trx, keys, [{ clientId: 'client-42', email: 'ada@example.com' }]);
 */
export async function upsertClientContacts(db: Executor, keys: PiiKeys, updates: readonly ContactUpdate[]): Promise<void> {
  const rows = mergeByClient(updates);
  if (rows.length === 0) return;
  const changedEmail = sql`h.email IS NOT NULL AND p.email_hash IS DISTINCT FROM h.email_hash`;
  const changedPhone = sql`h.phone IS NOT NULL AND p.phone_hash IS DISTINCT FROM h.phone_hash`;
  const changedZone = sql`h.timezone IS NOT NULL AND p.timezone IS DISTINCT FROM h.timezone`;
  const encrypt = (column: 'email' | 'phone') => sql`pgp_sym_encrypt(h.${sql.ref(column)}, ${keys.encryptionKey}::text, ${PGP_OPTIONS})`;
  const keyId = (column: 'email' | 'phone') => sql`CASE WHEN h.${sql.ref(column)} IS NULL THEN NULL ELSE ${currentKeyId(keys)}::text END`;

  const { rows: [outcome] } = await sql<{ candidates: string[]; inserted: string[] }>`
    WITH input AS (
      SELECT * FROM unnest(${rows.map((r) => r.clientId)}::text[], ${rows.map((r) => r.email ?? null)}::text[],
                           ${rows.map((r) => r.phone ?? null)}::text[], ${rows.map((r) => r.timezone ?? null)}::text[])
        AS u(client_id, email, phone, timezone)
    ),
    h AS (
      SELECT client_id, email, phone, timezone,
             hmac(email, ${keys.blindIndexKey}::text, 'sha256') AS email_hash,
             hmac(phone, ${keys.blindIndexKey}::text, 'sha256') AS phone_hash
      FROM input
    ),
    upd AS (
      UPDATE crm_client_preferences p SET
        email_encrypted = CASE WHEN ${changedEmail} THEN ${encrypt('email')} ELSE p.email_encrypted END,
        email_hash = CASE WHEN ${changedEmail} THEN h.email_hash ELSE p.email_hash END,
        email_key_id = CASE WHEN ${changedEmail} THEN ${keyId('email')} ELSE p.email_key_id END,
        email_suppressed_at = CASE WHEN ${changedEmail} THEN NULL ELSE p.email_suppressed_at END,
        email_suppression_reason = CASE WHEN ${changedEmail} THEN NULL ELSE p.email_suppression_reason END,
        phone_encrypted = CASE WHEN ${changedPhone} THEN ${encrypt('phone')} ELSE p.phone_encrypted END,
        phone_hash = CASE WHEN ${changedPhone} THEN h.phone_hash ELSE p.phone_hash END,
        phone_key_id = CASE WHEN ${changedPhone} THEN ${keyId('phone')} ELSE p.phone_key_id END,
        timezone = CASE WHEN ${changedZone} THEN h.timezone ELSE p.timezone END,
        updated_at = now()
      FROM h
      WHERE p.client_id = h.client_id AND ((${changedEmail}) OR (${changedPhone}) OR (${changedZone}))
      RETURNING p.client_id
    ),
    candidates AS (
      SELECT h.* FROM h WHERE NOT EXISTS (SELECT 1 FROM crm_client_preferences p WHERE p.client_id = h.client_id)
    ),
    ins AS (
      INSERT INTO crm_client_preferences (client_id, email_encrypted, email_hash, email_key_id, phone_encrypted, phone_hash, phone_key_id, timezone)
      SELECT h.client_id, ${encrypt('email')}, h.email_hash, ${keyId('email')}, ${encrypt('phone')}, h.phone_hash, ${keyId('phone')}, h.timezone
      FROM candidates h ORDER BY h.client_id
      ON CONFLICT (client_id) DO NOTHING
      RETURNING client_id
    )
    SELECT array(SELECT client_id FROM candidates) AS candidates, array(SELECT client_id FROM ins) AS inserted,
           (SELECT count(*) FROM upd) AS updated
  `.execute(db);

  // Created by someone else after our snapshot: update those few one by one.
  const inserted = new Set(outcome?.inserted ?? []);
  const raced = (outcome?.candidates ?? []).filter((clientId) => !inserted.has(clientId));
  for (const clientId of raced) {
    const update = rows.find((row) => row.clientId === clientId);
    if (update) await upsertClientContact(db, keys, update);
  }
}

/** Which contact details each of `clientIds` has, without decrypting them; unknown clients are absent. */
export async function getContactAvailabilities(
  db: Executor,
  clientIds: readonly string[],
): Promise<Map<string, { readonly email: boolean; readonly phone: boolean }>> {
  const unique = [...new Set(clientIds)];
  if (unique.length === 0) return new Map();
  const rows = await db
    .selectFrom('crm_client_preferences')
    .select(['client_id', sql<boolean>`email_hash IS NOT NULL`.as('email'), sql<boolean>`phone_hash IS NOT NULL`.as('phone')])
    .where('client_id', '=', sql<string>`ANY(${unique}::text[])`)
    .execute();
  return new Map(rows.map((row) => [row.client_id, { email: row.email, phone: row.phone }]));
}
