import { sql, type Kysely, type Transaction } from 'kysely';
import { digestVariables, type DigestItem, type JsonObject, type MessageChannel } from '@crm/core';
import type { Executor } from './communication-repository';
import { moveCommunication, type MoveResult } from './delivery-repository';
import type { Database } from './schema';

/**
 * The strategy's writes beyond the pipeline's: frequency-cap counting, digests, and the email
 * copy of a critical message. Each keeps the pipeline's rules: a guarded change with its log row,
 * and a row lock wherever two workers could race.
 */

/**
 * Runs `work` in a transaction holding a lock on (client, channel), so that two workers deciding
 * on the same client's messages on that channel (the frequency cap) take turns: the second sees
 * the first's message as queued. A transaction-scoped advisory lock: released at commit or
 * rollback, even if the process dies.
 */
export async function withClientChannelLock<T>(db: Kysely<Database>, clientId: string, channel: MessageChannel, work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  return db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(hashtext(${`crm-cap:${channel}:${clientId}`}))`.execute(trx);
    return work(trx);
  });
}

/**
 * When the client's messages on `channel` went, for the frequency cap: those sent since `since`,
 * and those on their way now (queued or sending on the channel, dated `now`), other than `exceptId`.
 */
export async function recentOnChannel(
  db: Executor,
  input: { readonly clientId: string; readonly channel: MessageChannel; readonly since: Date; readonly now: Date; readonly exceptId: string },
): Promise<Date[]> {
  const { rows } = await sql<{ at: Date }>`
    SELECT sent_at AS at FROM crm_communications
    WHERE client_id = ${input.clientId} AND channel = ${input.channel}::crm_channel AND sent_at IS NOT NULL AND sent_at > ${input.since} AND id <> ${input.exceptId}
    UNION ALL
    SELECT ${input.now}::timestamptz AS at FROM crm_communications
    WHERE client_id = ${input.clientId} AND channel = ${input.channel}::crm_channel AND status IN ('queued', 'sending') AND id <> ${input.exceptId}`.execute(db);
  return rows.map((row) => new Date(row.at));
}

export type JoinDigestResult =
  | {
    readonly joined: true;
    readonly digestId: string;
    readonly flushAt: Date;
    readonly itemCount: number;
    /** Digests this join closed because they were full (its own, when it made it full): enqueue their messages. */
    readonly flushed: readonly FlushedDigest[];
  }
  | { readonly joined: false; readonly move: MoveResult; readonly flushed: readonly FlushedDigest[] };

/** A digest closed with its message made (`communicationId` null when all its items were cancelled). */
export interface FlushedDigest {
  readonly digestId: string;
  readonly clientId: string;
  readonly communicationId: string | null;
  readonly itemIds: readonly string[];
}

/**
 * Puts a `pending` message into its client's open digest (opening one, to be flushed at
 * `flushAt`, if there is none): `pending → scheduled` with `digest_id` and `scheduled_for`, and
 * the digest's item count raised, in one transaction under the digest's row lock. A flush takes
 * the same lock, so the message lands either in the digest being flushed (before it) or in the
 * next one (after it). The item that makes the digest hold `maxItems` flushes it in the same
 * transaction, so no digest ever holds more.
 */
export async function joinDigest(
  db: Kysely<Database>,
  input: { readonly id: string; readonly clientId: string; readonly flushAt: Date; readonly maxItems: number; readonly reason: string },
): Promise<JoinDigestResult> {
  return db.transaction().execute(async (trx) => {
    const flushed: FlushedDigest[] = [];
    for (let round = 0; ; round++) {
      if (round === 5) throw new Error(`joinDigest: could not lock an open digest after ${round} rounds`);
      const open = await sql<{ id: string; flush_at: Date; item_count: number }>`
        SELECT id, flush_at, item_count FROM crm_digests WHERE client_id = ${input.clientId} AND status = 'open' FOR UPDATE`.execute(trx);
      let digest = open.rows[0];
      if (digest && digest.item_count >= input.maxItems) {
        // Full already (BATCH_MAX_ITEMS was lowered): close it and open the next.
        const closed = await flushLocked(trx, digest.id);
        if (closed) flushed.push(closed);
        continue;
      }
      if (!digest) {
        // Another worker may be opening one right now: the unique index makes us wait for it,
        // and then find nothing inserted, so we go round and lock theirs.
        const inserted = await sql<{ id: string; flush_at: Date; item_count: number }>`
          INSERT INTO crm_digests (client_id, flush_at) VALUES (${input.clientId}, ${input.flushAt})
          ON CONFLICT (client_id) WHERE status = 'open' DO NOTHING
          RETURNING id, flush_at, item_count`.execute(trx);
        digest = inserted.rows[0];
        if (!digest) continue;
      } else if (digest.item_count === 0) {
        // Opened by a message that then did not join (it had moved on): its window starts now.
        await sql`UPDATE crm_digests SET flush_at = ${input.flushAt} WHERE id = ${digest.id}`.execute(trx);
        digest = { ...digest, flush_at: input.flushAt };
      }
      const move = await moveCommunication(trx, {
        id: input.id,
        guard: { statuses: ['pending'], attempt: 0 },
        to: 'scheduled',
        event: 'status_changed',
        scheduledFor: digest.flush_at,
        digestId: digest.id,
        strategyReason: input.reason,
        detail: { digestId: digest.id, flushAt: new Date(digest.flush_at).toISOString() },
      });
      if (!move.applied) return { joined: false, move, flushed };
      const counted = await sql<{ item_count: number }>`
        UPDATE crm_digests SET item_count = item_count + 1 WHERE id = ${digest.id} RETURNING item_count`.execute(trx);
      const itemCount = counted.rows[0]?.item_count ?? 1;
      if (itemCount >= input.maxItems) {
        const closed = await flushLocked(trx, digest.id);
        if (closed) flushed.push(closed);
      }
      return { joined: true, digestId: digest.id, flushAt: new Date(digest.flush_at), itemCount, flushed };
    }
  });
}

export type FlushDigestResult = { readonly flushed: false } | ({ readonly flushed: true } & FlushedDigest);

/**
 * Closes an open digest and makes its message, in one transaction: the digest goes `open →
 * flushed` under its row lock (so a second flush, or one racing a joining item, waits and then
 * finds it closed), its waiting items (`scheduled`, not cancelled) become one `pending`
 * communication of type `digest` listing them in arrival order, and each item goes `scheduled →
 * batched` with a log row naming the digest message. A digest whose items were all cancelled
 * closes without a message. Answers `flushed: false` when it was already closed.
 */
export async function flushDigest(db: Kysely<Database>, digestId: string): Promise<FlushDigestResult> {
  return db.transaction().execute(async (trx) => {
    const closed = await flushLocked(trx, digestId);
    return closed ? { flushed: true, ...closed } : { flushed: false };
  });
}

/** {@link flushDigest} inside the caller's transaction; `null` when the digest was not open. */
async function flushLocked(trx: Transaction<Database>, digestId: string): Promise<FlushedDigest | null> {
  const closed = await sql<{ client_id: string }>`
    UPDATE crm_digests SET status = 'flushed', flushed_at = now() WHERE id = ${digestId} AND status = 'open' RETURNING client_id`.execute(trx);
  const digest = closed.rows[0];
  if (!digest) return null;
  const { rows: items } = await sql<{ id: string; plan_id: string; message_type: DigestItem['messageType']; variables: JsonObject }>`
    SELECT id, plan_id, message_type, variables FROM crm_communications
    WHERE digest_id = ${digestId} AND status = 'scheduled'
    ORDER BY created_at, id FOR UPDATE`.execute(trx);
  if (items.length === 0) return { digestId, clientId: digest.client_id, communicationId: null, itemIds: [] };

  const variables = digestVariables(items.map((item): DigestItem => ({ communicationId: item.id, messageType: item.message_type, variables: item.variables })));
  const planIds = [...new Set(items.map((item) => item.plan_id))];
  const created = await sql<{ id: string }>`
    WITH ins AS (
      INSERT INTO crm_communications (client_id, plan_id, message_type, urgency, variables, metadata)
      VALUES (${digest.client_id}, ${items[0]!.plan_id}, 'digest', 'low', ${JSON.stringify(variables)}::jsonb,
              ${JSON.stringify({ digestId, planIds, itemCount: items.length })}::jsonb)
      RETURNING id, status
    ), log AS (
      INSERT INTO crm_delivery_logs (communication_id, event, to_status, detail)
      SELECT id, 'created', status, ${JSON.stringify({ digestId, items: items.map((item) => item.id) })}::jsonb FROM ins
    )
    SELECT id FROM ins`.execute(trx);
  const communicationId = created.rows[0]!.id;
  const ids = items.map((item) => item.id);
  await sql`
    WITH upd AS (
      UPDATE crm_communications SET status = 'batched', updated_at = now()
      WHERE id = ANY(${ids}::uuid[]) AND status = 'scheduled'
      RETURNING id
    )
    INSERT INTO crm_delivery_logs (communication_id, event, from_status, to_status, detail)
    SELECT id, 'status_changed', 'scheduled', 'batched', ${JSON.stringify({ digestId, digestCommunicationId: communicationId })}::jsonb FROM upd`.execute(trx);
  await sql`UPDATE crm_digests SET communication_id = ${communicationId} WHERE id = ${digestId}`.execute(trx);
  return { digestId, clientId: digest.client_id, communicationId, itemIds: ids };
}

/** A client's digest, for the reconciler and the API. */
export async function findDigest(db: Executor, digestId: string) {
  return db.selectFrom('crm_digests').selectAll().where('id', '=', digestId).executeTakeFirst();
}

/**
 * The email copy of critical message `id`: a new `pending` communication forced to email, with
 * the same client, plan, type and variables, and `copy_of` pointing back. At most one per
 * message (a unique index): answers the copy's id the first time, `null` after.
 */
export async function createEmailCopy(db: Executor, id: string): Promise<string | null> {
  const { rows } = await sql<{ id: string }>`
    WITH ins AS (
      INSERT INTO crm_communications (client_id, plan_id, message_type, urgency, requested_channel, variables, metadata, copy_of)
      SELECT client_id, plan_id, message_type, urgency, 'email', variables, metadata || jsonb_build_object('copyOf', id::text), id
      FROM crm_communications WHERE id = ${id}
      ON CONFLICT (copy_of) WHERE copy_of IS NOT NULL DO NOTHING
      RETURNING id, status
    ), log AS (
      INSERT INTO crm_delivery_logs (communication_id, event, to_status, detail)
      SELECT id, 'created', status, ${JSON.stringify({ copyOf: id })}::jsonb FROM ins
    )
    SELECT id FROM ins`.execute(db);
  return rows[0]?.id ?? null;
}
