import { randomUUID } from 'node:crypto';
import { CompiledQuery, sql } from 'kysely';
import type { CommunicationStatus } from '@crm/core';
import { uuidArrayLiteral } from './attachment-repository';
import { normaliseEmail, normalisePhone } from './client-contact-repository';
import { currentKeyId, PGP_OPTIONS, type PiiKeys } from './pii-crypto';
import type { Executor, NewCommunication } from './communication-repository';
import { poolOf } from './create-database';

/**
 * How a recipient given with a request merges into the client's stored details (`p` the stored
 * row, `excluded` the given one) in both intake statements: a given email or phone replaces a
 * different stored one and keeps an equal one (no re-encryption); a different email address
 * clears a bounce suppression, the same one keeps it.
 */
const MERGE_CONTACT = `
    email_encrypted = CASE WHEN excluded.email_hash IS NULL OR excluded.email_hash = p.email_hash THEN p.email_encrypted ELSE excluded.email_encrypted END,
    email_hash = coalesce(excluded.email_hash, p.email_hash),
    email_key_id = CASE WHEN excluded.email_hash IS NULL OR excluded.email_hash = p.email_hash THEN p.email_key_id ELSE excluded.email_key_id END,
    email_suppressed_at = CASE WHEN excluded.email_hash IS NULL OR excluded.email_hash = p.email_hash THEN p.email_suppressed_at END,
    email_suppression_reason = CASE WHEN excluded.email_hash IS NULL OR excluded.email_hash = p.email_hash THEN p.email_suppression_reason END,
    phone_encrypted = CASE WHEN excluded.phone_hash IS NULL OR excluded.phone_hash = p.phone_hash THEN p.phone_encrypted ELSE excluded.phone_encrypted END,
    phone_hash = coalesce(excluded.phone_hash, p.phone_hash),
    phone_key_id = CASE WHEN excluded.phone_hash IS NULL OR excluded.phone_hash = p.phone_hash THEN p.phone_key_id ELSE excluded.phone_key_id END,`;
/** Whether a given email or phone differs from the stored one (the upsert writes only then). */
const CONTACT_CHANGED = `(excluded.email_hash IS NOT NULL AND excluded.email_hash IS DISTINCT FROM p.email_hash)
     OR (excluded.phone_hash IS NOT NULL AND excluded.phone_hash IS DISTINCT FROM p.phone_hash)`;

/**
 * The statement of {@link acceptCommunication}. Parameters: $1 client id, $2 plan id,
 * $3 message type, $4 urgency, $5 requested channel, $6 send at, $7 variables (JSON), $8 metadata
 * (JSON), $9 idempotency key, $10 request hash, $11 the request gives an email or a phone,
 * $12 it gives any contact detail, $13 email, $14 phone, $15 time zone, $16 encryption key,
 * $17 blind-index key, $18 attachment ids, $19 the encryption key's id.
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
    (client_id, plan_id, message_type, urgency, requested_channel, send_at, variables, metadata, idempotency_key, request_hash, attachment_ids)
  SELECT $1::text, $2::text, $3::crm_message_type, $4::crm_urgency, $5::crm_channel, $6::timestamptz, $7::jsonb, $8::jsonb, $9::text, $10::text, $18::uuid[]
  FROM reach WHERE reach.ok
  ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
  RETURNING id, status
),
log AS (
  INSERT INTO crm_delivery_logs (communication_id, event, to_status) SELECT id, 'created', status FROM ins
),
contact AS (
  INSERT INTO crm_client_preferences AS p (client_id, email_encrypted, email_hash, email_key_id, phone_encrypted, phone_hash, phone_key_id, timezone)
  SELECT $1::text,
         pgp_sym_encrypt($13::text, $16::text, '${PGP_OPTIONS}'), hmac($13::text, $17::text, 'sha256'), CASE WHEN $13::text IS NULL THEN NULL ELSE $19::text END,
         pgp_sym_encrypt($14::text, $16::text, '${PGP_OPTIONS}'), hmac($14::text, $17::text, 'sha256'), CASE WHEN $14::text IS NULL THEN NULL ELSE $19::text END,
         $15::text
  FROM ins WHERE $12::boolean
  ON CONFLICT (client_id) DO UPDATE SET
${MERGE_CONTACT}
    timezone = coalesce($15::text, p.timezone),
    updated_at = now()
  WHERE ${CONTACT_CHANGED}
     OR ($15::text IS NOT NULL AND $15::text IS DISTINCT FROM p.timezone)
)
SELECT ins.id, ins.status, reach.ok AS reachable FROM reach LEFT JOIN ins ON true`;
/** Name of the prepared statement; a new text needs a new name (pg caches by name per connection). */
const ACCEPT_STATEMENT_NAME = 'crm_accept_communication_v3';

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
    givesContact, storesContact, email, phone, timezone, keys.encryptionKey, keys.blindIndexKey, [...(input.attachmentIds ?? [])], currentKeyId(keys),
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

/** One request for {@link acceptCommunications}. */
export interface IntakeItem {
  readonly input: NewCommunication;
  readonly recipient: IntakeRecipient | null;
}

/**
 * {@link acceptCommunication}'s statement for many independent requests at once (the same
 * steps over `unnest` arrays). The conflict branch reads the time zone back from `input`:
 * `excluded.timezone` cannot tell a given `UTC` from the default.
 */
const ACCEPT_MANY_SQL = `
WITH input AS (
  SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::crm_message_type[], $5::crm_urgency[], $6::crm_channel[],
                       $7::timestamptz[], $8::jsonb[], $9::jsonb[], $10::text[], $11::text[], $12::boolean[], $13::boolean[],
                       $14::text[], $15::text[], $16::text[], $17::text[])
    AS u(id, client_id, plan_id, message_type, urgency, requested_channel, send_at, variables, metadata,
         idempotency_key, request_hash, gives, stores, email, phone, timezone, attachment_ids)
),
reach AS (
  SELECT i.id, i.gives OR EXISTS (
    SELECT 1 FROM crm_client_preferences p
    WHERE p.client_id = i.client_id AND (p.email_hash IS NOT NULL OR p.phone_hash IS NOT NULL)
  ) AS ok
  FROM input i
),
ins AS (
  INSERT INTO crm_communications
    (id, client_id, plan_id, message_type, urgency, requested_channel, send_at, variables, metadata, idempotency_key, request_hash, attachment_ids)
  SELECT i.id, i.client_id, i.plan_id, i.message_type, i.urgency, i.requested_channel, i.send_at, i.variables, i.metadata,
         i.idempotency_key, i.request_hash, i.attachment_ids::uuid[]
  FROM input i JOIN reach r ON r.id = i.id WHERE r.ok
  ORDER BY i.idempotency_key NULLS LAST
  ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
  RETURNING id, status
),
log AS (
  INSERT INTO crm_delivery_logs (communication_id, event, to_status) SELECT id, 'created', status FROM ins
),
contact AS (
  INSERT INTO crm_client_preferences AS p (client_id, email_encrypted, email_hash, email_key_id, phone_encrypted, phone_hash, phone_key_id, timezone)
  SELECT i.client_id,
         pgp_sym_encrypt(i.email, $18::text, '${PGP_OPTIONS}'), hmac(i.email, $19::text, 'sha256'), CASE WHEN i.email IS NULL THEN NULL ELSE $20::text END,
         pgp_sym_encrypt(i.phone, $18::text, '${PGP_OPTIONS}'), hmac(i.phone, $19::text, 'sha256'), CASE WHEN i.phone IS NULL THEN NULL ELSE $20::text END,
         i.timezone
  FROM input i JOIN ins ON ins.id = i.id WHERE i.stores
  ORDER BY i.client_id
  ON CONFLICT (client_id) DO UPDATE SET
${MERGE_CONTACT}
    timezone = coalesce((SELECT s.timezone FROM input s JOIN ins ON ins.id = s.id WHERE s.client_id = excluded.client_id AND s.stores), p.timezone),
    updated_at = now()
  WHERE ${CONTACT_CHANGED}
     OR coalesce((SELECT s.timezone FROM input s JOIN ins ON ins.id = s.id WHERE s.client_id = excluded.client_id AND s.stores), p.timezone) IS DISTINCT FROM p.timezone
)
SELECT i.id AS input_id, ins.id, ins.status, r.ok AS reachable
FROM input i JOIN reach r ON r.id = i.id LEFT JOIN ins ON ins.id = i.id`;
const ACCEPT_MANY_STATEMENT_NAME = 'crm_accept_communications_v3';

/**
 * {@link acceptCommunication} for many independent requests in one auto-committed statement
 * (ingest groups the requests that arrive together): each item gets its own outcome, exactly
 * as if it had been accepted alone; one item's conflict or unreachable client does not affect
 * the others. Repeated keys within the call are duplicates (or conflicts) of the item stored.
 * Items of one client that carry contact details must share one idempotency key (a row cannot
 * be upserted twice in one statement): callers split other such items into separate calls.
 *
 * @example
 * const results = await acceptCommunications(db, keys, [{ input, recipient: null }, …]);
 */
export async function acceptCommunications(db: Executor, keys: PiiKeys, items: readonly IntakeItem[]): Promise<IntakeResult[]> {
  if (items.length === 0) return [];
  if (items.length === 1) return [await acceptCommunication(db, keys, items[0]!.input, items[0]!.recipient)];
  // Client → the idempotency key of its item storing contact details (items sharing a key are
  // stored at most once, so they may repeat the details).
  const storing = new Map<string, string | null>();
  const rows = items.map(({ input, recipient }) => {
    if ((input.idempotencyKey === null) !== (input.requestHash === null)) {
      throw new TypeError('acceptCommunications: idempotencyKey and requestHash go together');
    }
    const email = recipient?.email === undefined ? null : normaliseEmail(recipient.email);
    const phone = recipient?.phone === undefined ? null : normalisePhone(recipient.phone);
    const timezone = recipient?.timezone ?? null;
    const stores = email !== null || phone !== null || timezone !== null;
    if (stores) {
      if (storing.has(input.clientId) && (input.idempotencyKey === null || storing.get(input.clientId) !== input.idempotencyKey)) {
        throw new TypeError('acceptCommunications: two items store contact details of one client');
      }
      storing.set(input.clientId, input.idempotencyKey);
    }
    return { id: randomUUID(), input, email, phone, timezone, stores, gives: email !== null || phone !== null };
  });
  const column = <T>(pick: (row: (typeof rows)[number]) => T) => rows.map(pick);
  const values = [
    column((r) => r.id), column((r) => r.input.clientId), column((r) => r.input.planId), column((r) => r.input.messageType),
    column((r) => r.input.urgency), column((r) => r.input.requestedChannel), column((r) => r.input.sendAt),
    column((r) => JSON.stringify(r.input.variables)), column((r) => JSON.stringify(r.input.metadata)),
    column((r) => r.input.idempotencyKey), column((r) => r.input.requestHash), column((r) => r.gives), column((r) => r.stores),
    column((r) => r.email), column((r) => r.phone), column((r) => r.timezone), column((r) => uuidArrayLiteral(r.input.attachmentIds)),
    keys.encryptionKey, keys.blindIndexKey, currentKeyId(keys),
  ];
  const pool = poolOf(db);
  const { rows: answers } = pool
    ? await pool.query<ManyRow>({ name: ACCEPT_MANY_STATEMENT_NAME, text: ACCEPT_MANY_SQL, values })
    : await db.executeQuery<ManyRow>(CompiledQuery.raw(ACCEPT_MANY_SQL, values));
  const byId = new Map(answers.map((answer) => [answer.input_id, answer]));

  const results: (IntakeResult | undefined)[] = rows.map((row) => {
    const answer = byId.get(row.id);
    if (answer?.id && answer.status) return { outcome: 'created', id: answer.id, status: answer.status };
    return undefined;
  });
  // Not stored: a repeated key (find its holder), or an unreachable client.
  const keysToFind = rows.filter((row, n) => results[n] === undefined && row.input.idempotencyKey !== null).map((row) => row.input.idempotencyKey!);
  const holders = keysToFind.length === 0 ? new Map<string, { id: string; status: CommunicationStatus; request_hash: string | null }>() : new Map(
    (await db
      .selectFrom('crm_communications')
      .select(['id', 'status', 'request_hash', 'idempotency_key'])
      .where('idempotency_key', '=', sql<string>`ANY(${[...new Set(keysToFind)]}::text[])`)
      .execute()).map((holder) => [holder.idempotency_key!, holder]),
  );
  return Promise.all(
    rows.map(async (row, n): Promise<IntakeResult> => {
      const done = results[n];
      if (done) return done;
      const holder = row.input.idempotencyKey === null ? undefined : holders.get(row.input.idempotencyKey);
      if (holder) return { outcome: holder.request_hash === row.input.requestHash ? 'duplicate' : 'conflict', id: holder.id, status: holder.status };
      if (!byId.get(row.id)?.reachable) return { outcome: 'unreachable' };
      // The key's holder was erased in between: this one alone, again.
      return acceptCommunication(db, keys, row.input, items[n]!.recipient);
    }),
  );
}

interface ManyRow extends Row {
  readonly input_id: string;
}

