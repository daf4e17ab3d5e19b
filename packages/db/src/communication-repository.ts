import { sql, type Kysely } from 'kysely';
import {
  allowedSourcesOf,
  type CommunicationStatus,
  type JsonObject,
  type MessageChannel,
  type MessageType,
  type UrgencyLevel,
} from '@crm/core';
import { moveCommunication, type MoveError } from './delivery-repository';
import type { CommunicationRow, Database, DeliveryLogEvent, DeliveryLogRow } from './schema';

/** A database or a transaction: every function here works in either. */
export type Executor = Kysely<Database>;

export interface NewCommunication {
  readonly clientId: string;
  readonly planId: string;
  readonly messageType: MessageType;
  readonly urgency: UrgencyLevel;
  /** A channel the request forces; `null` lets the strategy choose. */
  readonly requestedChannel: MessageChannel | null;
  readonly sendAt: Date | null;
  readonly variables: JsonObject;
  readonly metadata: JsonObject;
  readonly idempotencyKey: string | null;
  /** Fingerprint of the request body (see `requestHash` in @crm/core); required with a key. */
  readonly requestHash: string | null;
  /**
   * Ids of stored files (`crm_attachments`) to send with it, in order. Not checked here: ingest
   * checks that they exist and fit the size limit before storing the communication.
   * @defaultValue []
   */
  readonly attachmentIds?: readonly string[];
}

/**
 * What {@link saveCommunication} did. With an idempotency key already in use it stores nothing
 * and returns the first communication: `duplicate` when the bodies match, `conflict` when not.
 */
export type SaveResult =
  | { readonly outcome: 'created'; readonly communication: CommunicationRow }
  | { readonly outcome: 'duplicate'; readonly communication: CommunicationRow }
  | { readonly outcome: 'conflict'; readonly communication: CommunicationRow };

/**
 * Stores a new communication as `pending` with its `created` log row, in one statement. A unique
 * index on the idempotency key makes concurrent identical requests produce one row.
 *
 * @example
 * const { outcome, communication } = await saveCommunication(db, {
 *   clientId: 'client-42', planId: 'plan-7', messageType: 'welcome', urgency: 'normal',
 *   requestedChannel: null, sendAt: null, variables: { clientName: 'Ada' }, metadata: {},
 *   idempotencyKey: null, requestHash: null,
 * });
 */
export async function saveCommunication(db: Executor, input: NewCommunication): Promise<SaveResult> {
  if ((input.idempotencyKey === null) !== (input.requestHash === null)) {
    throw new TypeError('saveCommunication: idempotencyKey and requestHash go together');
  }
  for (let tries = 0; tries < 3; tries++) {
    const created = await db
      .with('ins', (qb) =>
        qb
          .insertInto('crm_communications')
          .values({
            client_id: input.clientId,
            plan_id: input.planId,
            message_type: input.messageType,
            urgency: input.urgency,
            requested_channel: input.requestedChannel,
            send_at: input.sendAt,
            variables: JSON.stringify(input.variables),
            metadata: JSON.stringify(input.metadata),
            idempotency_key: input.idempotencyKey,
            request_hash: input.requestHash,
            attachment_ids: input.attachmentIds ?? [],
          })
          .onConflict((oc) => oc.column('idempotency_key').where('idempotency_key', 'is not', null).doNothing())
          .returningAll(),
      )
      .with('log', (qb) =>
        qb
          .insertInto('crm_delivery_logs')
          .columns(['communication_id', 'event', 'to_status'])
          .expression((eb) =>
            eb.selectFrom('ins').select(['ins.id', sql<DeliveryLogEvent>`'created'`.as('event'), 'ins.status']),
          ),
      )
      .selectFrom('ins')
      .selectAll()
      .executeTakeFirst();
    if (created) return { outcome: 'created', communication: created };

    const existing = await db
      .selectFrom('crm_communications')
      .selectAll()
      .where('idempotency_key', '=', input.idempotencyKey)
      .executeTakeFirst();
    // Gone between the two statements (erased): insert again.
    if (!existing) continue;
    return { outcome: existing.request_hash === input.requestHash ? 'duplicate' : 'conflict', communication: existing };
  }
  throw new Error('saveCommunication: the idempotency key kept appearing and disappearing');
}

/** One communication, or `undefined`. */
export async function findCommunication(db: Executor, id: string): Promise<CommunicationRow | undefined> {
  return db.selectFrom('crm_communications').selectAll().where('id', '=', id).executeTakeFirst();
}

/** A communication's delivery log, oldest first. */
export async function listDeliveryLogs(db: Executor, communicationId: string): Promise<DeliveryLogRow[]> {
  return db
    .selectFrom('crm_delivery_logs')
    .selectAll()
    .where('communication_id', '=', communicationId)
    .orderBy('id')
    .execute();
}

/** A requested status change and what to record with it. */
export interface StatusChange {
  readonly id: string;
  readonly to: CommunicationStatus;
  /** The log row's event. @defaultValue 'status_changed' */
  readonly event?: DeliveryLogEvent;
  /** The channel this change concerns; it becomes the communication's channel and joins `channels_tried`. */
  readonly channel?: MessageChannel;
  readonly attempt?: number;
  readonly provider?: string;
  readonly providerMessageId?: string;
  readonly providerEventId?: string;
  readonly error?: MoveError;
  /** Why a communication ended where it did, e.g. `all_channels_failed`. */
  readonly failureReason?: string;
  readonly strategyReason?: string;
  readonly scheduledFor?: Date;
  readonly latencyMs?: number;
  readonly detail?: JsonObject;
}

export type StatusChangeResult =
  | { readonly applied: true; readonly from: CommunicationStatus; readonly communication: CommunicationRow }
  | { readonly applied: false; readonly reason: 'not_found' }
  | { readonly applied: false; readonly reason: 'not_allowed'; readonly current: CommunicationStatus };


/**
 * Moves a communication to `to` if the state machine allows it from the status it has now,
 * stamps the matching `*_at` column and appends a delivery-log row, all in one statement (so
 * atomically, with no window between the check and the write). A refused move changes nothing
 * and says why: two concurrent moves from the same status cannot both apply.
 *
 * @example
 * const result = await updateCommunicationStatus(db, { id, to: 'sent', providerMessageId: '<…>' });
 * if (!result.applied) log.warn({ id, reason: result.reason }, 'status not moved');
 */
export async function updateCommunicationStatus(db: Executor, change: StatusChange): Promise<StatusChangeResult> {
  const sources = allowedSourcesOf(change.to);
  if (sources.length === 0) {
    const current = await db.selectFrom('crm_communications').select('status').where('id', '=', change.id).executeTakeFirst();
    return current ? { applied: false, reason: 'not_allowed', current: current.status } : { applied: false, reason: 'not_found' };
  }
  const result = await moveCommunication(db, {
    id: change.id,
    guard: { statuses: sources },
    to: change.to,
    event: change.event ?? 'status_changed',
    ...(change.channel !== undefined && { channel: change.channel }),
    ...(change.attempt !== undefined && { attempt: change.attempt }),
    ...(change.provider !== undefined && { provider: change.provider }),
    ...(change.providerMessageId !== undefined && { providerMessageId: change.providerMessageId }),
    ...(change.providerEventId !== undefined && { providerEventId: change.providerEventId }),
    ...(change.error !== undefined && { error: change.error }),
    ...(change.failureReason !== undefined && { failureReason: change.failureReason }),
    ...(change.strategyReason !== undefined && { strategyReason: change.strategyReason }),
    ...(change.scheduledFor !== undefined && { scheduledFor: change.scheduledFor }),
    ...(change.latencyMs !== undefined && { latencyMs: change.latencyMs }),
    ...(change.detail !== undefined && { detail: change.detail }),
  });
  if (result.applied) return result;
  return result.current ? { applied: false, reason: 'not_allowed', current: result.current.status } : { applied: false, reason: 'not_found' };
}
