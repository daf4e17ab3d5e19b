import { sql, type Transaction } from 'kysely';
import type { JsonObject, MessageChannel } from '@crm/core';
import type { Executor } from './communication-repository';
import { currentKeyId, decryptPiiSql, encryptPiiSql, type PiiKeys } from './pii-crypto';
import type { CallbackDeliveryStatus, CallbackEventType, Database } from './schema';

/**
 * Event callbacks (issue 11): subscriptions, and the deliveries of events to them.
 *
 * The events come from PostgreSQL, never from a job enqueued after a commit: the dispatcher
 * ({@link dispatchCallbackEvents}) scans the status changes of `crm_delivery_logs` and the
 * replies of `crm_inbound_messages` past its cursor and inserts one `crm_callback_deliveries`
 * row per matching subscription (`ON CONFLICT DO NOTHING` on `(subscription_id, event_id)`),
 * advancing the cursor in the same transaction. A delivery row holds ids only; the payload is
 * built from the source rows when it is sent ({@link loadCallbackEvent}).
 */

/** A subscription as the API shows it (never with its secret). */
export interface CallbackSubscription {
  readonly id: string;
  readonly url: string;
  readonly events: readonly CallbackEventType[];
  readonly createdAt: Date;
}

export interface NewCallbackSubscription {
  readonly url: string;
  readonly events: readonly CallbackEventType[];
  /** Stored encrypted with the current PII key. */
  readonly secret: string;
}

/**
 * Stores a subscription, its secret encrypted (pgcrypto, like client PII). Events recorded
 * from now on are delivered to it; earlier ones are not.
 *
 * @example
 * const sub = await createCallbackSubscription(db, keys, { url: 'https://planner.example.com/crm', events: ['client.replied'], secret });
 */
export async function createCallbackSubscription(db: Executor, keys: PiiKeys, input: NewCallbackSubscription): Promise<CallbackSubscription> {
  const row = await db
    .insertInto('crm_callback_subscriptions')
    .values({
      url: input.url,
      events: [...new Set(input.events)],
      secret_encrypted: encryptPiiSql(input.secret, keys),
      secret_key_id: currentKeyId(keys),
    })
    .returning(['id', 'url', 'events', 'created_at'])
    .executeTakeFirstOrThrow();
  return { id: row.id, url: row.url, events: row.events, createdAt: row.created_at };
}

/** The subscriptions not deleted, oldest first. */
export async function listCallbackSubscriptions(db: Executor): Promise<CallbackSubscription[]> {
  const rows = await db
    .selectFrom('crm_callback_subscriptions')
    .select(['id', 'url', 'events', 'created_at'])
    .where('deleted_at', 'is', null)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  return rows.map((row) => ({ id: row.id, url: row.url, events: row.events, createdAt: row.created_at }));
}

/** The `last_error` of deliveries stopped because their subscription was deleted. */
export const SUBSCRIPTION_DELETED = 'subscription deleted';

/**
 * Deletes a subscription: stamps `deleted_at`, drops its secret and stops its pending
 * deliveries (`failed`, `subscription deleted`), in one transaction. Answers `false` when there
 * is no such subscription (or it was deleted before).
 */
export async function deleteCallbackSubscription(db: Executor, id: string): Promise<boolean> {
  const run = async (trx: Executor): Promise<boolean> => {
    const deleted = await trx
      .updateTable('crm_callback_subscriptions')
      .set({ deleted_at: new Date(), secret_encrypted: null, secret_key_id: null })
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .returning('id')
      .executeTakeFirst();
    if (!deleted) return false;
    await trx
      .updateTable('crm_callback_deliveries')
      .set({ status: 'failed', failed_at: new Date(), last_error: SUBSCRIPTION_DELETED })
      .where('subscription_id', '=', id)
      .where('status', '=', 'pending')
      .execute();
    return true;
  };
  return db.isTransaction ? run(db) : db.transaction().execute(run);
}

export interface DispatchOptions {
  /** Deliveries inserted per source per pass at most. @defaultValue 500 */
  readonly batchSize?: number;
  /**
   * How long a transaction that writes a source row may stay open, in ms: rows of concurrent
   * transactions commit out of order, so the cursor stays this far behind the clock and that
   * window is scanned again (the unique key makes the repeat harmless). @defaultValue 60000
   */
  readonly overlapMs?: number;
}

export interface DispatchResult {
  /** Deliveries inserted by this pass. */
  readonly deliveryIds: readonly string[];
  /** Sources another replica was scanning (skipped by this pass). */
  readonly skipped: readonly CallbackSource[];
}

export type CallbackSource = 'delivery_logs' | 'inbound_messages';

/** Statuses of `crm_delivery_logs.to_status` that are events, and their event types. */
const eventTypeOfStatusSql = sql<CallbackEventType>`CASE l.to_status
  WHEN 'sent' THEN 'communication.sent'
  WHEN 'delivered' THEN 'communication.delivered'
  WHEN 'responded' THEN 'communication.responded'
  ELSE 'communication.failed' END`;

/**
 * The event id of a source row for a subscription: `evt_` + 32 hex digits of a SHA-256 of both,
 * so the same event to the same subscription always has the same id (receivers deduplicate on
 * it) and two subscriptions never share one.
 */
const eventIdSql = (source: CallbackSource, rowId: ReturnType<typeof sql.ref>) =>
  sql<string>`'evt_' || substr(encode(digest(s.id::text || ${`:${source}:`}::text || ${rowId}::text, 'sha256'), 'hex'), 1, 32)`;

interface ScanRow {
  candidates: number;
  last_at: Date | null;
  ids: string[];
}

async function scan(trx: Transaction<Database>, source: CallbackSource, from: Date, limit: number): Promise<ScanRow> {
  const query =
    source === 'delivery_logs'
      ? sql<ScanRow>`
        WITH cand AS (
          SELECT s.id AS subscription_id, ${eventIdSql(source, sql.ref('l.id'))} AS event_id, m.event_type,
                 l.communication_id, l.id AS delivery_log_id, NULL::uuid AS inbound_id, l.created_at
          FROM crm_delivery_logs l
          CROSS JOIN LATERAL (SELECT ${eventTypeOfStatusSql} AS event_type) m
          JOIN crm_callback_subscriptions s ON s.deleted_at IS NULL AND l.created_at >= s.created_at AND m.event_type = ANY (s.events)
          WHERE l.created_at >= ${from} AND l.to_status IN ('sent', 'delivered', 'failed', 'bounced', 'responded')
            AND NOT EXISTS (SELECT 1 FROM crm_callback_deliveries d WHERE d.subscription_id = s.id AND d.event_id = ${eventIdSql(source, sql.ref('l.id'))})
          ORDER BY l.created_at, l.id, s.id
          LIMIT ${limit}
        ), ins AS (
          INSERT INTO crm_callback_deliveries (subscription_id, event_id, event_type, communication_id, delivery_log_id, inbound_id, event_at)
          SELECT subscription_id, event_id, event_type, communication_id, delivery_log_id, inbound_id, created_at FROM cand
          ON CONFLICT (subscription_id, event_id) DO NOTHING
          RETURNING id
        )
        SELECT (SELECT count(*) FROM cand)::int AS candidates, (SELECT max(created_at) FROM cand) AS last_at,
               (SELECT coalesce(array_agg(id::text), '{}'::text[]) FROM ins) AS ids`
      : sql<ScanRow>`
        WITH cand AS (
          SELECT s.id AS subscription_id, ${eventIdSql(source, sql.ref('i.id'))} AS event_id, 'client.replied'::text AS event_type,
                 i.communication_id, NULL::bigint AS delivery_log_id, i.id AS inbound_id, i.created_at
          FROM crm_inbound_messages i
          JOIN crm_callback_subscriptions s ON s.deleted_at IS NULL AND i.created_at >= s.created_at AND 'client.replied' = ANY (s.events)
          WHERE i.created_at >= ${from} AND i.kind = 'reply'
            AND NOT EXISTS (SELECT 1 FROM crm_callback_deliveries d WHERE d.subscription_id = s.id AND d.event_id = ${eventIdSql(source, sql.ref('i.id'))})
          ORDER BY i.created_at, i.id, s.id
          LIMIT ${limit}
        ), ins AS (
          INSERT INTO crm_callback_deliveries (subscription_id, event_id, event_type, communication_id, delivery_log_id, inbound_id, event_at)
          SELECT subscription_id, event_id, event_type, communication_id, delivery_log_id, inbound_id, created_at FROM cand
          ON CONFLICT (subscription_id, event_id) DO NOTHING
          RETURNING id
        )
        SELECT (SELECT count(*) FROM cand)::int AS candidates, (SELECT max(created_at) FROM cand) AS last_at,
               (SELECT coalesce(array_agg(id::text), '{}'::text[]) FROM ins) AS ids`;
  const { rows } = await query.execute(trx);
  return rows[0] ?? { candidates: 0, last_at: null, ids: [] };
}

/**
 * One pass of one source, in one transaction: takes the source's cursor row (`FOR UPDATE SKIP
 * LOCKED`: a replica finding it taken skips it), inserts the deliveries of the events recorded
 * since the cursor, and moves the cursor on. The cursor means "every committed row created
 * before it has its deliveries"; it never passes `now − overlap`, because a transaction still
 * open may yet commit rows created up to then.
 */
async function dispatchSource(db: Executor, source: CallbackSource, batchSize: number, overlapMs: number): Promise<{ ids: string[]; skipped: boolean; full: boolean }> {
  return db.transaction().execute(async (trx) => {
    // The clock is read before the scan's snapshot: conservative.
    const cursor = await sql<{ scanned_to: Date; now: Date }>`
      SELECT scanned_to, clock_timestamp() AS now FROM crm_callback_cursors WHERE source = ${source} FOR UPDATE SKIP LOCKED`.execute(trx);
    const row = cursor.rows[0];
    if (!row) return { ids: [], skipped: true, full: false };
    const scanned = await scan(trx, source, row.scanned_to, batchSize);
    const full = scanned.candidates >= batchSize;
    const safe = new Date(row.now.getTime() - overlapMs);
    // A full batch stops at the last row it took (rows after it wait for the next pass).
    const limit = full && scanned.last_at && scanned.last_at < safe ? scanned.last_at : safe;
    if (limit > row.scanned_to) {
      await trx.updateTable('crm_callback_cursors').set({ scanned_to: limit }).where('source', '=', source).execute();
    }
    return { ids: scanned.ids, skipped: false, full };
  });
}

/**
 * Finds the events recorded since the last pass (status changes to sent, delivered, failed,
 * bounced or responded; client replies) and inserts a pending delivery for each subscription
 * that wants it and existed when the event was recorded. Safe to run concurrently from many
 * replicas (one scans a source at a time; the others skip it) and to run again (the unique key
 * makes a repeat insert nothing). Returns the new deliveries, which the caller enqueues.
 *
 * @example
 * const { deliveryIds } = await dispatchCallbackEvents(db);
 * await producer.enqueueMany('crm.callbacks', deliveryIds.map((deliveryId) => ({ deliveryId })));
 */
export async function dispatchCallbackEvents(db: Executor, options: DispatchOptions = {}): Promise<DispatchResult> {
  const { batchSize = 500, overlapMs = 60_000 } = options;
  const deliveryIds: string[] = [];
  const skipped: CallbackSource[] = [];
  for (const source of ['delivery_logs', 'inbound_messages'] as const) {
    for (;;) {
      const result = await dispatchSource(db, source, batchSize, overlapMs);
      deliveryIds.push(...result.ids);
      if (result.skipped) skipped.push(source);
      // A full batch that inserted nothing would only repeat itself.
      if (!result.full || result.ids.length === 0) break;
    }
  }
  return { deliveryIds, skipped };
}

/** A delivery with what sending it needs (the secret decrypted). */
export interface CallbackDeliveryToSend {
  readonly id: string;
  readonly subscriptionId: string;
  readonly eventId: string;
  readonly eventType: CallbackEventType;
  readonly status: CallbackDeliveryStatus;
  readonly attempts: number;
  readonly nextAttemptAt: Date;
  readonly eventAt: Date;
  readonly communicationId: string | null;
  readonly deliveryLogId: string | null;
  readonly inboundId: string | null;
  readonly url: string;
  /** `null`: the subscription is deleted. */
  readonly secret: string | null;
  readonly subscriptionDeleted: boolean;
}

/** A delivery and its subscription (secret decrypted), or `undefined`. */
export async function findCallbackDelivery(db: Executor, keys: PiiKeys, id: string): Promise<CallbackDeliveryToSend | undefined> {
  const row = await db
    .selectFrom('crm_callback_deliveries as d')
    .innerJoin('crm_callback_subscriptions as s', 's.id', 'd.subscription_id')
    .select([
      'd.id', 'd.subscription_id', 'd.event_id', 'd.event_type', 'd.status', 'd.attempts', 'd.next_attempt_at', 'd.event_at',
      'd.communication_id', 'd.delivery_log_id', 'd.inbound_id', 's.url', 's.deleted_at',
      decryptPiiSql('s.secret_encrypted', 's.secret_key_id', keys).as('secret'),
    ])
    .where('d.id', '=', id)
    .executeTakeFirst();
  if (!row) return undefined;
  return {
    id: row.id,
    subscriptionId: row.subscription_id,
    eventId: row.event_id,
    eventType: row.event_type,
    status: row.status,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    eventAt: row.event_at,
    communicationId: row.communication_id,
    deliveryLogId: row.delivery_log_id,
    inboundId: row.inbound_id,
    url: row.url,
    secret: row.secret,
    subscriptionDeleted: row.deleted_at !== null,
  };
}

/** `data` of a `communication.*` event. */
export interface CommunicationEventData {
  readonly communicationId: string;
  readonly clientId: string;
  readonly planId: string;
  readonly messageType: string;
  readonly status: string;
  readonly channel: MessageChannel | null;
  readonly channelsTried: readonly MessageChannel[];
  readonly failureReason: string | null;
  readonly metadata: JsonObject;
  readonly at: string;
}

/** `data` of a `client.replied` event. */
export interface ClientRepliedEventData {
  readonly inboundId: string;
  readonly clientId: string | null;
  readonly planId: string | null;
  readonly communicationId: string | null;
  readonly channel: 'sms' | 'whatsapp';
  readonly text: string | null;
  readonly selection: number | null;
  readonly at: string;
}

/** An event as it is POSTed to a subscriber. */
export interface CallbackEvent {
  readonly id: string;
  readonly type: CallbackEventType;
  readonly createdAt: string;
  readonly data: CommunicationEventData | ClientRepliedEventData;
}

const isoOrNull = (value: unknown): string | null => {
  if (typeof value !== 'string') return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
};

/**
 * The event of a delivery, built from PostgreSQL now (the reply's text decrypted with the PII
 * keys); `undefined` when its source row is gone (an erased client's reply).
 */
export async function loadCallbackEvent(db: Executor, keys: PiiKeys, delivery: Pick<CallbackDeliveryToSend, 'eventId' | 'eventType' | 'eventAt' | 'deliveryLogId' | 'inboundId'>): Promise<CallbackEvent | undefined> {
  const head = { id: delivery.eventId, type: delivery.eventType, createdAt: delivery.eventAt.toISOString() };
  if (delivery.eventType === 'client.replied') {
    if (delivery.inboundId === null) return undefined;
    const row = await db
      .selectFrom('crm_inbound_messages as i')
      .leftJoin('crm_communications as c', 'c.id', 'i.communication_id')
      .select(['i.id', 'i.client_id', 'c.client_id as communication_client_id', 'c.plan_id', 'i.communication_id', 'i.channel', 'i.selection', 'i.received_at'])
      .select(decryptPiiSql('i.body_encrypted', 'i.body_key_id', keys).as('text'))
      .where('i.id', '=', delivery.inboundId)
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      ...head,
      data: {
        inboundId: row.id,
        clientId: row.communication_client_id ?? row.client_id,
        planId: row.plan_id,
        communicationId: row.communication_id,
        channel: row.channel,
        text: row.text,
        selection: row.selection,
        at: row.received_at.toISOString(),
      },
    };
  }
  if (delivery.deliveryLogId === null) return undefined;
  const row = await db
    .selectFrom('crm_delivery_logs as l')
    .innerJoin('crm_communications as c', 'c.id', 'l.communication_id')
    .select([
      'c.id', 'c.client_id', 'c.plan_id', 'c.message_type', 'c.channel', 'c.channels_tried', 'c.failure_reason', 'c.metadata',
      'l.to_status', 'l.channel as log_channel', 'l.created_at', 'l.detail',
    ])
    .where('l.id', '=', delivery.deliveryLogId)
    .executeTakeFirst();
  if (!row || row.to_status === null) return undefined;
  return {
    ...head,
    data: {
      communicationId: row.id,
      clientId: row.client_id,
      planId: row.plan_id,
      messageType: row.message_type,
      status: row.to_status,
      channel: row.log_channel ?? row.channel,
      channelsTried: row.channels_tried,
      failureReason: row.to_status === 'failed' || row.to_status === 'bounced' ? row.failure_reason : null,
      metadata: row.metadata,
      // A provider's webhook says when it happened; otherwise the engine recorded it then.
      at: isoOrNull(row.detail.at) ?? row.created_at.toISOString(),
    },
  };
}

/**
 * Marks a pending delivery delivered after attempt number `attempt` (1-based) got a 2xx.
 * Forward-only and idempotent: only from `pending` with `attempt - 1` attempts recorded.
 * Answers whether it applied.
 */
export async function markCallbackDelivered(db: Executor, input: { readonly id: string; readonly attempt: number; readonly statusCode: number }): Promise<boolean> {
  const row = await db
    .updateTable('crm_callback_deliveries')
    .set({ status: 'delivered', attempts: input.attempt, last_status_code: input.statusCode, last_error: null, delivered_at: new Date() })
    .where('id', '=', input.id)
    .where('status', '=', 'pending')
    .where('attempts', '=', input.attempt - 1)
    .returning('id')
    .executeTakeFirst();
  return row !== undefined;
}

export interface CallbackAttemptFailure {
  readonly id: string;
  /** The attempt that failed (1-based). */
  readonly attempt: number;
  /** The receiver's HTTP status, `null` when it did not answer. */
  readonly statusCode: number | null;
  /** What went wrong, without the body, the URL or the secret. */
  readonly error: string;
  /** When to try again; `null`: never (the delivery ends `failed`). */
  readonly nextAttemptAt: Date | null;
}

/**
 * Records a failed attempt: the delivery stays `pending` until `nextAttemptAt`, or ends
 * `failed`. Forward-only and idempotent like {@link markCallbackDelivered}.
 */
export async function recordCallbackFailure(db: Executor, input: CallbackAttemptFailure): Promise<boolean> {
  const row = await db
    .updateTable('crm_callback_deliveries')
    .set({
      attempts: input.attempt,
      last_status_code: input.statusCode,
      last_error: input.error.slice(0, 500),
      ...(input.nextAttemptAt === null ? { status: 'failed' as const, failed_at: new Date() } : { next_attempt_at: input.nextAttemptAt }),
    })
    .where('id', '=', input.id)
    .where('status', '=', 'pending')
    .where('attempts', '=', input.attempt - 1)
    .returning('id')
    .executeTakeFirst();
  return row !== undefined;
}

/** Ends a pending delivery `failed` without an attempt (deleted subscription, source gone, refused URL). */
export async function failCallbackDelivery(db: Executor, id: string, error: string): Promise<boolean> {
  const row = await db
    .updateTable('crm_callback_deliveries')
    .set({ status: 'failed', failed_at: new Date(), last_error: error.slice(0, 500) })
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .returning('id')
    .executeTakeFirst();
  return row !== undefined;
}

/** A pending delivery's id and when it is due, for the reconciler. */
export interface PendingCallbackDelivery {
  readonly id: string;
  readonly nextAttemptAt: Date;
}

/**
 * Pending deliveries created at least `minAgeMs` ago, oldest due first, after `afterId` (the
 * reconciler pages through them with it).
 */
export async function listPendingCallbackDeliveries(db: Executor, options: { readonly limit: number; readonly minAgeMs: number; readonly afterId?: string }): Promise<PendingCallbackDelivery[]> {
  let query = db
    .selectFrom('crm_callback_deliveries')
    .select(['id', 'next_attempt_at'])
    .where('status', '=', 'pending')
    .where('created_at', '<=', new Date(Date.now() - options.minAgeMs))
    .orderBy('id')
    .limit(options.limit);
  if (options.afterId !== undefined) query = query.where('id', '>', options.afterId);
  const rows = await query.execute();
  return rows.map((row) => ({ id: row.id, nextAttemptAt: row.next_attempt_at }));
}
