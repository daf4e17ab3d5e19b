import { sql, type Kysely } from 'kysely';

/**
 * Privacy (issue 8).
 *
 * - `email_key_id`, `phone_key_id` and `body_key_id` name the key that encrypted each value of
 *   personal data (one per encrypted column, since a client's email and phone change apart), so
 *   that `npm run keys:rotate` can re-encrypt the values of an old key in batches while the
 *   engine runs, and readers pick the right key. NULL: written before this migration, with the
 *   one key there was (`crm_pii_decrypt` tries each key it is given).
 * - `crm_pii_decrypt(data, key_id, key_ids, keys)` decrypts with the key whose id the row
 *   names; the keys travel as query parameters, never stored.
 * - `crm_audit_log` records who did what to whose personal data (erase, export), without that
 *   data.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are untyped by design (Kysely docs)
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE crm_client_preferences ADD COLUMN email_key_id text, ADD COLUMN phone_key_id text`.execute(db);
  await sql`ALTER TABLE crm_inbound_messages ADD COLUMN body_key_id text`.execute(db);
  await sql`
    CREATE FUNCTION crm_pii_decrypt(data bytea, key_id text, key_ids text[], keys text[]) RETURNS text
    LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
    DECLARE
      pos integer;
    BEGIN
      IF data IS NULL THEN RETURN NULL; END IF;
      pos := array_position(key_ids, key_id);
      IF pos IS NOT NULL THEN RETURN pgp_sym_decrypt(data, keys[pos]); END IF;
      FOR i IN 1 .. coalesce(array_length(keys, 1), 0) LOOP
        BEGIN
          RETURN pgp_sym_decrypt(data, keys[i]);
        EXCEPTION WHEN external_routine_invocation_exception OR data_exception THEN
          -- the wrong key: try the next
        END;
      END LOOP;
      RAISE EXCEPTION 'no key decrypts this value (key id %): is its key in DB_ENCRYPTION_PREVIOUS_KEYS?', coalesce(key_id, 'none')
        USING ERRCODE = 'external_routine_invocation_exception';
    END
    $$`.execute(db);
  await sql`
    CREATE TABLE crm_audit_log (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      action text NOT NULL,
      client_id text,
      actor text,
      detail jsonb NOT NULL DEFAULT '{}'::jsonb,
      created_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
  await sql`CREATE INDEX crm_audit_log_client_idx ON crm_audit_log (client_id, created_at DESC)`.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE crm_audit_log`.execute(db);
  await sql`DROP FUNCTION crm_pii_decrypt(bytea, text, text[], text[])`.execute(db);
  await sql`ALTER TABLE crm_inbound_messages DROP COLUMN body_key_id`.execute(db);
  await sql`ALTER TABLE crm_client_preferences DROP COLUMN email_key_id, DROP COLUMN phone_key_id`.execute(db);
}
