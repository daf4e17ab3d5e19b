import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { CommunicationStatus } from '@crm/core';
import { uuidArrayLiteral } from './attachment-repository';
import type { Executor, NewCommunication } from './communication-repository';

/** What {@link saveCommunications} did with one input, in input order. */
export interface SavedItem {
  /** `created`: stored now. `duplicate`: the key was used before (or earlier in the batch) with the same body. `conflict`: with a different one. */
  readonly outcome: 'created' | 'duplicate' | 'conflict';
  /** The communication stored now, or the one that holds the key. */
  readonly id: string;
  readonly status: CommunicationStatus;
}

interface Holder {
  readonly id: string;
  readonly status: CommunicationStatus;
  readonly requestHash: string | null;
}

/**
 * Stores many communications as `pending`, each with its `created` log row, in one statement
 * (an `INSERT … SELECT FROM unnest(…) ON CONFLICT (idempotency_key) DO NOTHING` and the log rows
 * in a CTE), then finds the holders of keys already in use with one more query. Results come
 * back in input order; nothing is stored for a `duplicate` or a `conflict` (the caller decides
 * whether a conflict aborts its transaction).
 *
 * Ids are generated here (UUID v4, as `gen_random_uuid()` would) so that each returned row is
 * matched to its input without relying on the order of `RETURNING`. Rows are inserted in the
 * order of their idempotency keys, so two concurrent batches sharing keys wait for each other
 * instead of deadlocking. Within one batch, a key's first item is the one stored; a later item
 * with the same key is its duplicate (same body) or a conflict.
 *
 * @example
 * const saved = await saveCommunications(trx, inputs);
 * const created = saved.filter((item) => item.outcome === 'created');
 */
export async function saveCommunications(db: Executor, inputs: readonly NewCommunication[]): Promise<SavedItem[]> {
  for (const input of inputs) {
    if ((input.idempotencyKey === null) !== (input.requestHash === null)) {
      throw new TypeError('saveCommunications: idempotencyKey and requestHash go together');
    }
  }
  const results: (SavedItem | undefined)[] = new Array<SavedItem | undefined>(inputs.length).fill(undefined);
  // The first index of each key; later ones are resolved against it.
  const firstOfKey = new Map<string, number>();
  const toInsert: number[] = [];
  // The request hash of the row that holds each key, once known.
  const holderHash = new Map<string, string | null>();
  inputs.forEach((input, index) => {
    if (input.idempotencyKey === null) toInsert.push(index);
    else if (!firstOfKey.has(input.idempotencyKey)) {
      firstOfKey.set(input.idempotencyKey, index);
      toInsert.push(index);
    }
  });

  let pending = toInsert;
  for (let tries = 0; pending.length > 0; tries++) {
    if (tries === 3) throw new Error('saveCommunications: idempotency keys kept appearing and disappearing');
    const ids = pending.map(() => randomUUID());
    const created = await insertMany(db, pending.map((index) => inputs[index]!), ids);
    const createdIds = new Set(created.map((row) => row.id));
    const taken: number[] = [];
    pending.forEach((index, n) => {
      const id = ids[n]!;
      if (createdIds.has(id)) {
        results[index] = { outcome: 'created', id, status: 'pending' };
        const key = inputs[index]!.idempotencyKey;
        if (key !== null) holderHash.set(key, inputs[index]!.requestHash);
      } else taken.push(index);
    });
    if (taken.length === 0) break;
    // Keys held by rows committed before: one lookup for all of them.
    const holders = await findHolders(db, taken.map((index) => inputs[index]!.idempotencyKey!));
    const again: number[] = [];
    for (const index of taken) {
      const input = inputs[index]!;
      const holder = holders.get(input.idempotencyKey!);
      // Gone between the two statements (erased): insert it again.
      if (!holder) again.push(index);
      else {
        results[index] = { outcome: holder.requestHash === input.requestHash ? 'duplicate' : 'conflict', id: holder.id, status: holder.status };
        holderHash.set(input.idempotencyKey!, holder.requestHash);
      }
    }
    pending = again;
  }

  // Later items that repeat a key of this batch: compared with the body of the row holding it.
  return inputs.map((input, index) => {
    const own = results[index];
    if (own) return own;
    const holder = results[firstOfKey.get(input.idempotencyKey!)!]!;
    return { outcome: holderHash.get(input.idempotencyKey!) === input.requestHash ? 'duplicate' : 'conflict', id: holder.id, status: holder.status };
  });
}

async function insertMany(db: Executor, inputs: readonly NewCommunication[], ids: readonly string[]): Promise<{ id: string }[]> {
  const column = <T>(pick: (input: NewCommunication) => T) => inputs.map(pick);
  const { rows } = await sql<{ id: string }>`
    WITH input AS (
      SELECT * FROM unnest(
        ${ids}::uuid[], ${column((i) => i.clientId)}::text[], ${column((i) => i.planId)}::text[],
        ${column((i) => i.messageType)}::crm_message_type[], ${column((i) => i.urgency)}::crm_urgency[],
        ${column((i) => i.requestedChannel)}::crm_channel[], ${column((i) => i.sendAt)}::timestamptz[],
        ${column((i) => JSON.stringify(i.variables))}::jsonb[], ${column((i) => JSON.stringify(i.metadata))}::jsonb[],
        ${column((i) => i.idempotencyKey)}::text[], ${column((i) => i.requestHash)}::text[],
        ${column((i) => uuidArrayLiteral(i.attachmentIds))}::text[]
      ) AS u(id, client_id, plan_id, message_type, urgency, requested_channel, send_at, variables, metadata, idempotency_key, request_hash, attachment_ids)
    ),
    ins AS (
      INSERT INTO crm_communications
        (id, client_id, plan_id, message_type, urgency, requested_channel, send_at, variables, metadata, idempotency_key, request_hash, attachment_ids)
      SELECT id, client_id, plan_id, message_type, urgency, requested_channel, send_at, variables, metadata, idempotency_key, request_hash,
             attachment_ids::uuid[]
      FROM input ORDER BY idempotency_key NULLS LAST
      ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
      RETURNING id, status
    ),
    log AS (
      INSERT INTO crm_delivery_logs (communication_id, event, to_status)
      SELECT id, 'created', status FROM ins
    )
    SELECT id FROM ins
  `.execute(db);
  return rows;
}

async function findHolders(db: Executor, keys: readonly string[]): Promise<Map<string, Holder>> {
  const rows = await db
    .selectFrom('crm_communications')
    .select(['id', 'status', 'idempotency_key', 'request_hash'])
    .where('idempotency_key', '=', sql<string>`ANY(${[...new Set(keys)]}::text[])`)
    .execute();
  return new Map(rows.map((row) => [row.idempotency_key!, { id: row.id, status: row.status, requestHash: row.request_hash }]));
}
