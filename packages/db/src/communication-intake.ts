import { CompiledQuery } from 'kysely';
import type { CommunicationStatus } from '@crm/core';
import { PGP_OPTIONS, normaliseEmail, normalisePhone, type PiiKeys } from './client-contact-repository';
import type { Executor, NewCommunication } from './communication-repository';
import { poolOf } from './create-database';

/**
 * The statement of {@link acceptCommunication}. Parameters: $1 client id, $2 plan id,
 * $3 message type, $4 urgency, $5 requested channel, $6 send at, $7 variables (JSON), $8 metadata
 * (JSON), $9 idempotency key, $10 request hash, $11 the request gives an email or a phone,
 * $12 it gives any contact detail, $13 email, $14 phone, $15 time zone, $16 encryption key,
 * $17 blind-index key.
 */
const ACCEPT_SQL = `
WITH reach AS (
  SELECT $11::boolean OR EXISTS (
    SELECT 1 FROM crm_client_preferences
    WHERE client_id = $1::text AND (email_hash IS NOT NULL OR phone_hash IS NOT NULL)
  ) AS ok
),
ins AS (
  INSERT INTO crm_communications
    (client_id, plan_id, message_type, urgency, requested_channel, send_at, variables, metadata, idempotency_key, request_hash)
  SELECT $1::text, $2::text, $3::crm_message_type, $4::crm_urgency, $5::crm_channel, $6::timestamptz, $7::jsonb, $8::jsonb, $9::text, $10::text
  FROM reach WHERE reach.ok
  ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
  RETURNING id, status
),
log AS (
  INSERT INTO crm_delivery_logs (communication_id, event, to_status) SELECT id, 'created', status FROM ins
),
contact AS (
  INSERT INTO crm_client_preferences AS p (client_id, email_encrypted, email_hash, phone_encrypted, phone_hash, timezone)
  SELECT $1::text,
         pgp_sym_encrypt($13::text, $16::text, '${PGP_OPTIONS}'), hmac($13::text, $17::text, 'sha256'),
         pgp_sym_encrypt($14::text, $16::text, '${PGP_OPTIONS}'), hmac($14::text, $17::text, 'sha256'),
         coalesce($15::text, 'UTC')
  FROM ins WHERE $12::boolean
  ON CONFLICT (client_id) DO UPDATE SET
    email_encrypted = CASE WHEN excluded.email_hash IS NULL OR excluded.email_hash = p.email_hash THEN p.email_encrypted ELSE excluded.email_encrypted END,
    email_hash = coalesce(excluded.email_hash, p.email_hash),
    phone_encrypted = CASE WHEN excluded.phone_hash IS NULL OR excluded.phone_hash = p.phone_hash THEN p.phone_encrypted ELSE excluded.phone_encrypted END,
    phone_hash = coalesce(excluded.phone_hash, p.phone_hash),
    timezone = coalesce($15::text, p.timezone),
    updated_at = now()
  WHERE (excluded.email_hash IS NOT NULL AND excluded.email_hash IS DISTINCT FROM p.email_hash)
     OR (excluded.phone_hash IS NOT NULL AND excluded.phone_hash IS DISTINCT FROM p.phone_hash)
     OR ($15::text IS NOT NULL AND $15::text IS DISTINCT FROM p.timezone)
)
SELECT ins.id, ins.status, reach.ok AS reachable FROM reach LEFT JOIN ins ON true`;
/** Name of the prepared statement; a new text needs a new name (pg caches by name per connection). */
const ACCEPT_STATEMENT_NAME = 'crm_accept_communication_v1';

/** Contact details that arrive with a request (all optional). */
export interface IntakeRecipient {
  readonly email?: string;
  readonly phone?: string;
  readonly timezone?: string;
}

/** What {@link acceptCommunication} did. Nothing at all was written unless `created`. */
export type IntakeResult =
  | { readonly outcome: 'created' | 'duplicate' | 'conflict'; readonly id: string; readonly status: CommunicationStatus }
  | { readonly outcome: 'unreachable' };

interface Row {
  readonly id: string | null;
  readonly status: CommunicationStatus | null;
  readonly reachable: boolean;
}

/**
 * The whole of `POST /api/crm/communications` in one auto-committed statement when the request
 * is new: checks that the client can be reached (a recipient with an email or a phone, or
 * stored contact details), inserts the communication and its `created` log row, and stores the
 * recipient's details (encrypted, blind-indexed; a detail equal to the stored one is left
 * alone; details left out keep their stored value). Each step depends on the one before inside
 * the statement, so a repeated key, a conflict or an unreachable client writes nothing, and
 * there is no BEGIN/COMMIT round trip. A repeated key costs one more query to find its holder.
 *
 * Semantics match `saveCommunication` plus `upsertClientContact` in one transaction: concurrent
 * identical requests make one row; a key reused with another body is a `conflict`.
 *
 * @example
 * const result = await acceptCommunication(db, keys, input, { email: 'ada@example.com' });
 * if (result.outcome === 'unreachable') // 422
 */
export async function acceptCommunication(db: Executor, keys: PiiKeys, input: NewCommunication, recipient: IntakeRecipient | null): Promise<IntakeResult> {
  if ((input.idempotencyKey === null) !== (input.requestHash === null)) {
    throw new TypeError('acceptCommunication: idempotencyKey and requestHash go together');
  }
  const email = recipient?.email === undefined ? null : normaliseEmail(recipient.email);
  const phone = recipient?.phone === undefined ? null : normalisePhone(recipient.phone);
  const timezone = recipient?.timezone ?? null;
  const storesContact = email !== null || phone !== null || timezone !== null;
  const givesContact = email !== null || phone !== null;

  const values = [
    input.clientId, input.planId, input.messageType, input.urgency, input.requestedChannel, input.sendAt,
    JSON.stringify(input.variables), JSON.stringify(input.metadata), input.idempotencyKey, input.requestHash,
    givesContact, storesContact, email, phone, timezone, keys.encryptionKey, keys.blindIndexKey,
  ];
  const pool = poolOf(db);
  for (let tries = 0; tries < 3; tries++) {
    // A named prepared statement where the pool is at hand: parsed and planned once per connection.
    const { rows } = pool
      ? await pool.query<Row>({ name: ACCEPT_STATEMENT_NAME, text: ACCEPT_SQL, values })
      : await db.executeQuery<Row>(CompiledQuery.raw(ACCEPT_SQL, values));
    const row = rows[0];
    if (row?.id && row.status) return { outcome: 'created', id: row.id, status: row.status };

    if (input.idempotencyKey !== null) {
      const holder = await db
        .selectFrom('crm_communications')
        .select(['id', 'status', 'request_hash'])
        .where('idempotency_key', '=', input.idempotencyKey)
        .executeTakeFirst();
      if (holder) return { outcome: holder.request_hash === input.requestHash ? 'duplicate' : 'conflict', id: holder.id, status: holder.status };
    }
    if (!row?.reachable) return { outcome: 'unreachable' };
    // The key's holder was erased between the two statements: try again.
  }
  throw new Error('acceptCommunication: the idempotency key kept appearing and disappearing');
}
